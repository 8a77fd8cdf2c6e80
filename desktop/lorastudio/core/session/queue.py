"""The job queue: pending jobs in order, the running one, and the finished ones.

The user reorders, cancels, removes and "runs next"; the runner (session/runner.py) takes the
first pending job when the backend is free. Unfinished generation jobs are saved to the data dir
after every change, so they survive a restart (a job that was running comes back as pending).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from lorastudio.core.backend.base import BuildDemo, JobRequest
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.session.observable import Event
from lorastudio.core.session.serialize import request_from_dict, request_to_dict

log = logging.getLogger(__name__)

MAX_QUEUE_FILE = 5_000_000
MAX_JOBS = 1000
KEEP_FINISHED = 50  # finished jobs shown in the panel; older ones drop off


class JobState(Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class Job:
    id: str
    request: JobRequest
    state: JobState = JobState.PENDING
    created: float = 0.0
    message: str = ""  # why it failed, or a short note
    outputs: tuple[Path, ...] = ()
    cancel_requested: bool = False

    @property
    def label(self) -> str:
        if isinstance(self.request, BuildDemo):
            return "Build the demo library"
        if not isinstance(self.request, GenerationRequest):  # training, text: they name themselves
            return str(getattr(self.request, "job_label", type(self.request).__name__))
        r = self.request
        prompt = r.prompt if len(r.prompt) <= 48 else r.prompt[:47] + "…"
        loras = f", {len(r.active_loras)} LoRA{'s' if len(r.active_loras) != 1 else ''}" if r.active_loras else ""
        return f"{prompt or '(no prompt)'} — {r.width}×{r.height}, {r.steps} steps, seed {r.seed}{loras}"


class JobQueue:
    """Ordered jobs. ``changed`` fires after every change (the panel redraws, the file is saved)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.changed: Event[None] = Event()
        self._jobs: list[Job] = []
        self._prefix = f"{int(time.time()):x}"
        self._ids = itertools.count(1)
        if path is not None:
            self._jobs = _load(path)

    # -- reading -------------------------------------------------------------------------------
    def jobs(self) -> list[Job]:
        """Running first, then pending in run order, then finished (newest first)."""
        running = [j for j in self._jobs if j.state is JobState.RUNNING]
        pending = [j for j in self._jobs if j.state is JobState.PENDING]
        done = [j for j in self._jobs if j.state.finished]
        return running + pending + done[::-1]

    def pending(self) -> list[Job]:
        return [j for j in self._jobs if j.state is JobState.PENDING]

    def running(self) -> Job | None:
        return next((j for j in self._jobs if j.state is JobState.RUNNING), None)

    def get(self, job_id: str) -> Job | None:
        return next((j for j in self._jobs if j.id == job_id), None)

    def next_pending(self) -> Job | None:
        return next((j for j in self._jobs if j.state is JobState.PENDING), None)

    def __len__(self) -> int:
        return len(self._jobs)

    # -- user actions --------------------------------------------------------------------------
    def add(self, request: JobRequest) -> Job:
        job = Job(f"{self._prefix}-{next(self._ids)}", request, created=time.time())
        self._jobs.append(job)
        self._changed()
        return job

    def move(self, job_id: str, to: int) -> None:
        """Put a pending job at position ``to`` among the pending jobs (0: runs next)."""
        job = self.get(job_id)
        if job is None or job.state is not JobState.PENDING:
            return
        pending = self.pending()
        pending.remove(job)
        pending.insert(max(0, min(len(pending), to)), job)
        others = [j for j in self._jobs if j.state is not JobState.PENDING]
        self._jobs = others + pending
        self._changed()

    def move_by(self, job_id: str, delta: int) -> None:
        job = self.get(job_id)
        if job is not None and job.state is JobState.PENDING:
            self.move(job_id, self.pending().index(job) + delta)

    def run_next(self, job_id: str) -> None:
        self.move(job_id, 0)

    def cancel(self, job_id: str) -> bool:
        """Cancel a pending job now; a running one is only marked (the runner stops the backend).
        Returns True when the job was running."""
        job = self.get(job_id)
        if job is None or job.state.finished:
            return False
        if job.state is JobState.RUNNING:
            self._replace(replace(job, cancel_requested=True))
            return True
        self._replace(replace(job, state=JobState.CANCELLED, message="Cancelled before it started."))
        return False

    def remove(self, job_id: str) -> None:
        """Remove a job that is not running (running jobs are cancelled instead)."""
        job = self.get(job_id)
        if job is not None and job.state is not JobState.RUNNING:
            self._jobs.remove(job)
            self._changed()

    def clear_finished(self) -> None:
        self._jobs = [j for j in self._jobs if not j.state.finished]
        self._changed()

    # -- runner --------------------------------------------------------------------------------
    def mark_running(self, job_id: str) -> None:
        self._set_state(job_id, JobState.RUNNING)

    def mark_done(self, job_id: str, outputs: tuple[Path, ...] = (), message: str = "") -> None:
        self._set_state(job_id, JobState.DONE, outputs=outputs, message=message)

    def mark_failed(self, job_id: str, message: str) -> None:
        self._set_state(job_id, JobState.FAILED, message=message)

    def mark_cancelled(self, job_id: str) -> None:
        self._set_state(job_id, JobState.CANCELLED, message="Cancelled.")

    def _set_state(self, job_id: str, state: JobState, **changes: Any) -> None:
        job = self.get(job_id)
        if job is not None:
            self._replace(replace(job, state=state, **changes))

    def _replace(self, job: Job) -> None:
        for i, old in enumerate(self._jobs):
            if old.id == job.id:
                self._jobs[i] = job
        finished = [j for j in self._jobs if j.state.finished]
        if len(finished) > KEEP_FINISHED:
            drop = {j.id for j in finished[: len(finished) - KEEP_FINISHED]}
            self._jobs = [j for j in self._jobs if j.id not in drop]
        self._changed()

    def _changed(self) -> None:
        if self.path is not None:
            _save(self.path, self._jobs)
        self.changed.emit(None)


def _save(path: Path, jobs: list[Job]) -> None:
    # Only unfinished generation jobs are worth keeping; the demo build is quick to ask again and
    # training resumes from its own saved epoch.
    keep = [{"id": j.id, "created": j.created, "request": request_to_dict(j.request)}
            for j in jobs if not j.state.finished and isinstance(j.request, GenerationRequest)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "jobs": keep}, indent=1), "utf-8")
        os.replace(tmp, path)
    except OSError as err:  # a full disk must not stop generating
        log.warning("Could not save the job queue to %s: %s", path, err)


def _load(path: Path) -> list[Job]:
    try:
        if not path.is_file() or path.stat().st_size > MAX_QUEUE_FILE:
            return []
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as err:
        log.warning("Ignoring the unreadable job queue %s: %s", path, err)
        return []
    entries = raw.get("jobs") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return []
    jobs: list[Job] = []
    for entry in entries[:MAX_JOBS]:
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise ValueError("no id")
            created = entry.get("created", 0.0)
            jobs.append(Job(entry["id"], request_from_dict(entry.get("request")),
                            created=float(created) if isinstance(created, int | float) else 0.0))
        except (ValueError, TypeError) as err:
            log.warning("Skipping a damaged queued job: %s", err)
    return jobs
