"""Feeds the queue to a backend, one job at a time, and turns backend events into queue states.

Call ``handle(event)`` on the thread that owns the session (the Qt layer forwards backend events
to the GUI thread first). The runner's own events tell the views what happened.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.backend.base import (
    Backend,
    BackendEvent,
    BackendStatus,
    BackendStopped,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobResult,
    JobStarted,
    JobUpdate,
    runs_locally,
)
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message, MessageKind, error, kind_of, warning
from lorastudio.core.session.observable import Event
from lorastudio.core.session.outputs import write_png
from lorastudio.core.session.queue import Job, JobQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    job: Job
    step: int
    total: int
    elapsed: float


@dataclass(frozen=True)
class Preview:
    job: Job
    width: int
    height: int
    rgb: bytes


@dataclass(frozen=True)
class Finished:
    job: Job
    paths: tuple[Path, ...]
    result: JobResult


class JobRunner:
    """Events: started(Job), progress(Progress), preview(Preview), finished(Finished),
    failed(Job), cancelled(Job), status(BackendStatus), message(Message), busy_changed(bool),
    update((Job, payload)) for a job's own events (training loss, text so far)."""

    def __init__(self, queue: JobQueue, backend: Backend, outputs: Path) -> None:
        self.queue = queue
        self.backend = backend  # where generations go (this computer, a ComfyUI server, a pool)
        # The demo build, training and text jobs run on this computer only (runs_locally).
        self.local_backend = backend
        self.outputs = outputs
        # Called whenever no job runs, just before the next one is picked: the place to switch
        # backends, so a running job never loses the backend it reports through.
        self.before_start: Callable[[], None] | None = None
        self._active = backend  # the backend of the running job (cancel goes there)
        self.started: Event[Job] = Event()
        self.progress: Event[Progress] = Event()
        self.preview: Event[Preview] = Event()
        self.update: Event[tuple[Job, object]] = Event()
        self.finished: Event[Finished] = Event()
        self.failed: Event[Job] = Event()
        self.cancelled: Event[Job] = Event()
        self.status: Event[BackendStatus] = Event()
        self.message: Event[Message] = Event()
        self.busy_changed: Event[bool] = Event()
        self.last_result: JobResult | None = None
        self._started_at = 0.0
        self._busy = False
        self.paused = False  # True: queued jobs wait (set while the app shuts down)

    @property
    def busy(self) -> bool:
        return self.queue.running() is not None

    def pump(self) -> None:
        """Start the next pending job when nothing runs."""
        if self.paused or self.queue.running() is not None:
            self._update_busy()
            return
        if self.before_start is not None:
            self.before_start()
        job = self.queue.next_pending()
        backend = self.local_backend if job is not None and runs_locally(job.request) else self.backend
        if job is None or backend.busy:
            self._update_busy()
            return
        self._active = backend
        self.queue.mark_running(job.id)
        self._started_at = time.monotonic()
        running = self.queue.get(job.id) or job
        self._update_busy()
        self.started.emit(running)
        try:
            backend.submit(job.id, job.request)
        except LoraStudioError as err:  # a refusal with its own sentence
            self._fail(job.id, str(err), kind_of(err))
        except Exception as err:  # a backend that cannot even start: the job fails, the queue goes on
            log.exception("Could not submit job %s", job.id)
            self._fail(job.id, f"The job could not be started ({type(err).__name__}).", MessageKind.ENGINE_START)

    def cancel(self, job_id: str | None = None) -> None:
        """Cancel ``job_id`` (default: the running job)."""
        target = job_id or (self.queue.running().id if self.queue.running() else None)  # type: ignore[union-attr]
        if target is None:
            return
        if self.queue.cancel(target):
            self._active.cancel(target)

    def handle(self, event: BackendEvent) -> None:
        """Apply one backend event (on the session's thread)."""
        if isinstance(event, BackendStatus):
            self.status.emit(event)
            return
        if isinstance(event, BackendStopped):
            self.status.emit(BackendStatus("Engine stopped"))
            self.pump()
            return
        job = self.queue.get(event.job_id)
        if job is None:
            log.debug("Event for an unknown job: %r", event)
            if isinstance(event, JobResult | JobFailed | JobCancelled):
                self.pump()  # a backend left behind by a switch is free again
            return
        if isinstance(event, JobStarted):
            return
        if isinstance(event, JobProgress):
            self.progress.emit(Progress(job, event.step, event.total, time.monotonic() - self._started_at))
        elif isinstance(event, JobPreview):
            self.preview.emit(Preview(job, event.width, event.height, event.rgb))
        elif isinstance(event, JobUpdate):
            self.update.emit((job, event.payload))
        elif isinstance(event, JobResult):
            self._finish(job, event)
        elif isinstance(event, JobFailed):
            self._fail(job.id, event.message, event.kind)
        elif isinstance(event, JobCancelled):
            self.queue.mark_cancelled(job.id)
            self.cancelled.emit(self.queue.get(job.id) or job)
            self.pump()

    def _finish(self, job: Job, result: JobResult) -> None:
        self.last_result = result
        paths: list[Path] = []
        notes: list[str] = []
        try:
            for image in result.images:
                paths.append(write_png(self.outputs, image.seed, image.png))
                notes.extend(n for n in image.warnings if n not in notes)
        except OSError as err:
            self._fail(job.id, f"Could not save the image in {self.outputs}: {err.strerror or err}.",
                       MessageKind.GENERATION)
            return
        self.queue.mark_done(job.id, tuple(paths))
        done = self.queue.get(job.id) or job
        self.finished.emit(Finished(done, tuple(paths), result))
        if notes:
            self.message.emit(warning(" ".join(notes), MessageKind.GENERATION))
        self.pump()

    def _fail(self, job_id: str, text: str, kind: MessageKind) -> None:
        self.queue.mark_failed(job_id, text)
        job = self.queue.get(job_id)
        if job is not None:
            self.failed.emit(job)
        self.message.emit(error(text, kind))
        self.pump()

    def _update_busy(self) -> None:
        busy = self.busy
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

