"""Feeds the queue to a backend and turns backend events into queue states.

Jobs start in queue order whenever their backend is free: one at a time on this computer or on one
server; on "Any free backend" (a pool) the next job starts as soon as a member is idle, so several
run at once. Results are still saved and reported in queue order: a job that finishes before an
earlier one waits for it (a failure or a cancel releases the wait).

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
from lorastudio.core.session.queue import Job, JobQueue, JobState

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
        # The running jobs in the order they started, each with its backend (cancel goes there)
        # and start time; results that came before an earlier job's wait in _held.
        self._active: dict[str, tuple[Backend, float]] = {}
        self._held: dict[str, JobResult] = {}
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
        self._busy = False
        self.paused = False  # True: queued jobs wait (set while the app shuts down)

    @property
    def busy(self) -> bool:
        return any(j.state is JobState.RUNNING for j in self.queue.jobs())

    def running(self) -> list[Job]:
        """The running jobs in the order they started (the first is the one a progress bar follows)."""
        jobs = (self.queue.get(job_id) for job_id in self._active)
        return [job for job in jobs if job is not None and job.state is JobState.RUNNING]

    def pump(self) -> None:
        """Start pending jobs, in order, while their backend takes them."""
        while not self.paused and self._start_next():
            pass
        self._update_busy()

    def _start_next(self) -> bool:
        if not self.busy and self.before_start is not None:
            self.before_start()
        job = self.queue.next_pending()
        if job is None:
            return False
        backend = self.local_backend if runs_locally(job.request) else self.backend
        # Never two backends at once (a switch waits for the running job); the same backend takes
        # another job only when it says it is free (a pool with an idle member).
        if backend.busy or any(b is not backend for b, _ in self._active.values()):
            return False
        self._active[job.id] = (backend, time.monotonic())
        self.queue.mark_running(job.id)
        running = self.queue.get(job.id) or job
        self._update_busy()
        self.started.emit(running)
        try:
            backend.submit(job.id, job.request)
        except LoraStudioError as err:  # a refusal with its own sentence
            self._fail(job.id, str(err), kind_of(err), pump=False)
        except Exception as err:  # a backend that cannot even start: the job fails, the queue goes on
            log.exception("Could not submit job %s", job.id)
            self._fail(job.id, f"The job could not be started ({type(err).__name__}).", MessageKind.ENGINE_START,
                       pump=False)
        return True

    def cancel(self, job_id: str | None = None) -> None:
        """Cancel ``job_id`` (default: every running job)."""
        targets = [job_id] if job_id else list(self._active)
        dropped = False
        for target in targets:
            if not self.queue.cancel(target):
                continue  # pending (now cancelled) or finished
            if target in self._held:  # done already, waiting for an earlier job: drop its result
                self._end(target)
                self.queue.mark_cancelled(target)
                job = self.queue.get(target)
                if job is not None:
                    self.cancelled.emit(job)
                dropped = True
            elif target in self._active:
                self._active[target][0].cancel(target)
        if dropped:
            self.pump()

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
            started = self._active.get(job.id, (None, time.monotonic()))[1]
            self.progress.emit(Progress(job, event.step, event.total, time.monotonic() - started))
        elif isinstance(event, JobPreview):
            self.preview.emit(Preview(job, event.width, event.height, event.rgb))
        elif isinstance(event, JobUpdate):
            self.update.emit((job, event.payload))
        elif isinstance(event, JobResult):
            if job.state is JobState.RUNNING and job.id in self._active:
                self._held[job.id] = event
            else:
                self._end(job.id)
            self._release()
            self.pump()
        elif isinstance(event, JobFailed):
            self._fail(job.id, event.message, event.kind)
        elif isinstance(event, JobCancelled):
            self._end(job.id)
            self.queue.mark_cancelled(job.id)
            self.cancelled.emit(self.queue.get(job.id) or job)
            self._release()
            self.pump()

    def _end(self, job_id: str) -> None:
        self._active.pop(job_id, None)
        self._held.pop(job_id, None)

    def _release(self) -> None:
        """Finish the held results whose earlier jobs have all ended, in start order."""
        for job_id in list(self._active):
            result = self._held.get(job_id)
            if result is None:
                return  # still running: the ones after it wait
            self._end(job_id)
            job = self.queue.get(job_id)
            if job is not None:
                self._finish(job, result)  # the caller pumps

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
                       MessageKind.GENERATION, pump=False)
            return
        self.queue.mark_done(job.id, tuple(paths))
        done = self.queue.get(job.id) or job
        self.finished.emit(Finished(done, tuple(paths), result))
        if notes:
            self.message.emit(warning(" ".join(notes), MessageKind.GENERATION))

    def _fail(self, job_id: str, text: str, kind: MessageKind, pump: bool = True) -> None:
        self._end(job_id)
        self.queue.mark_failed(job_id, text)
        job = self.queue.get(job_id)
        if job is not None:
            self.failed.emit(job)
        self.message.emit(error(text, kind))
        self._release()
        if pump:
            self.pump()

    def _update_busy(self) -> None:
        busy = self.busy
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

