"""The bridge from the job runner and its backend to Qt signals.

The backend (core/backend: the engine in its own process) reports from a reader thread; this
object re-emits each event through a Qt signal, so it lands on the GUI thread, where the core
``JobRunner`` updates the queue and says what happened. Widgets connect to the signals here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from lorastudio.core.backend.base import Backend, BackendEvent, BackendStatus, BuildDemo, JobResult
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message, from_exception
from lorastudio.core.session.queue import Job, JobQueue
from lorastudio.core.session.runner import Finished, JobRunner, Preview, Progress


class EngineClient(QObject):
    """GUI-thread handle on the queue and the backend.

    Signals: busy_changed(bool: an image job runs), status(str), device(str), progress(int step, int total,
    float elapsed), preview(QImage), started(object Job), finished(object JobResult, object paths),
    failed(str), cancelled(), demo_built(), message(object Message), queue_changed().
    """

    busy_changed = Signal(bool)
    status = Signal(str)
    device = Signal(str)
    progress = Signal(int, int, float)
    preview = Signal(QImage)
    started = Signal(object)
    finished = Signal(object, object)
    failed = Signal(str)
    cancelled = Signal()
    demo_built = Signal()
    message = Signal(object)
    queue_changed = Signal()
    # Every job, with the job itself (training and text pages filter on their job's id); the
    # signals above are the image jobs' only.
    job_update = Signal(object, object)  # (Job, payload)
    job_finished = Signal(object, object)  # (Job, JobResult)
    job_failed = Signal(object)  # Job (its message says why)
    job_cancelled = Signal(object)  # Job

    _backend_event = Signal(object)

    def __init__(self, backend: Backend, queue: JobQueue, outputs: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend  # this computer: the default, and where the demo library is built
        self.queue = queue
        self.runner = JobRunner(queue, backend, outputs)
        self.runner.before_start = self._switch_backend
        self._wanted: Callable[[], Backend] | None = None
        self._closed = False
        self._busy = False
        # With several jobs running (a pool), the progress bar and the live preview follow the
        # earliest one; ``started`` is said for each job as it becomes that one.
        self._shown: str | None = None
        # Called in the backend's reader thread: a signal is the thread-safe hop to the GUI thread.
        self._backend_event.connect(self._on_backend_event)
        backend.set_listener(self._backend_event.emit)
        self.runner.started.connect(self._on_runner_started)
        self.runner.progress.connect(self._on_runner_progress)
        self.runner.preview.connect(self._on_runner_preview)
        self.runner.update.connect(self._on_runner_update)
        self.runner.finished.connect(self._on_runner_finished)
        self.runner.failed.connect(self._on_runner_failed)
        self.runner.cancelled.connect(self._on_runner_cancelled)
        self.runner.status.connect(self._on_runner_status)
        self.runner.message.connect(self._on_runner_message)
        self.runner.busy_changed.connect(self._on_runner_busy)
        queue.changed.connect(self._on_queue_changed)

    # -- actions -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """An image job (generation, demo build) runs: what the generation panel's Cancel stops.
        A training or text job has its own page and its own Stop."""
        return any(_image_job(job) for job in self.runner.running())

    @property
    def last_result(self) -> JobResult | None:
        return self.runner.last_result

    def generate(self, request: GenerationRequest) -> Job:
        """Queue a generation; it starts now when nothing else runs."""
        job = self.queue.add(request)
        self.runner.pump()
        return job

    def submit(self, request: object) -> Job:
        """Queue any job (training, text: their requests run in the local engine process)."""
        job = self.queue.add(request)  # type: ignore[arg-type]
        self.runner.pump()
        return job

    def build_demo(self, root: Path) -> Job:
        job = self.queue.add(BuildDemo(root))
        self.runner.pump()
        return job

    def run_pending(self) -> None:
        """Start the queue (jobs restored from the last session wait for this)."""
        self.runner.paused = False
        self.runner.pump()

    def cancel(self, job_id: str | None = None) -> None:
        self.runner.cancel(job_id)

    @property
    def current_backend(self) -> Backend:
        return self.runner.backend

    def choose_backend(self, make: Callable[[], Backend] | None) -> None:
        """Run the next jobs on the backend ``make()`` builds (None: this computer). The switch
        happens when no job runs: a running job finishes where it started."""
        self._wanted = make or self._local
        if self.queue.running() is None:
            self._switch_backend()

    def _local(self) -> Backend:
        return self.backend

    def _switch_backend(self) -> None:
        make, self._wanted = self._wanted, None
        if make is None or self._closed:
            return
        old = self.runner.backend
        if old is not self.backend:
            old.set_listener(None)
        # A pool takes over its members' listeners: give this computer's back before building one.
        self.backend.set_listener(self._backend_event.emit)
        try:
            new = make()
        except LoraStudioError as err:
            self.message.emit(from_exception(err))
            new = self.backend
        new.set_listener(self._backend_event.emit)
        self.runner.backend = new
        # A pool that includes this computer owns its listener, so the demo goes through the pool.
        self.runner.local_backend = new if self.backend in getattr(new, "members", ()) else self.backend

    def warm_up(self) -> None:
        """Prepare the chosen backend now (the engine process: so the first Generate doesn't wait for
        torch); with a ComfyUI server chosen, this computer stays idle."""
        self.runner.backend.warm_up()

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.runner.paused = True
        current = self.runner.backend
        for backend in (current, self.backend) if current is not self.backend else (self.backend,):
            backend.set_listener(None)
            backend.shutdown()
        self.queue.changed.disconnect(self._on_queue_changed)

    # -- backend -> runner (GUI thread) ----------------------------------------------------------
    @Slot(object)
    def _on_backend_event(self, event: BackendEvent) -> None:
        if not self._closed:
            self.runner.handle(event)

    # -- runner -> signals ---------------------------------------------------------------------
    def _follows(self, job: Job) -> bool:
        """Whether ``job`` is the one the generation panel shows (saying ``started`` when it just
        became that one)."""
        current = next((j for j in self.runner.running() if _image_job(j)), None)
        if not _image_job(job) or (current is not None and current.id != job.id):
            return False
        if self._shown != job.id:
            self._shown = job.id
            self.started.emit(job)
        return True

    def _on_runner_started(self, job: Job) -> None:
        self._update_busy()
        self._follows(job)

    def _on_runner_progress(self, p: Progress) -> None:
        if self._follows(p.job):
            self.progress.emit(p.step, p.total, p.elapsed)

    def _on_runner_preview(self, p: Preview) -> None:
        if not self._follows(p.job):
            return
        image = QImage(p.rgb, p.width, p.height, 3 * p.width, QImage.Format.Format_RGB888).copy()
        self.preview.emit(image)

    def _on_runner_update(self, update: tuple[Job, object]) -> None:
        self.job_update.emit(*update)

    def _on_runner_finished(self, f: Finished) -> None:
        if isinstance(f.job.request, BuildDemo):
            self.demo_built.emit()
        elif _image_job(f.job):
            self.finished.emit(f.result, list(f.paths))
        self.job_finished.emit(f.job, f.result)

    def _on_runner_failed(self, job: Job) -> None:
        if _image_job(job):
            self.failed.emit(job.message)
        self.job_failed.emit(job)

    def _on_runner_cancelled(self, job: Job) -> None:
        if _image_job(job):
            self.cancelled.emit()
        self.job_cancelled.emit(job)

    def _on_runner_status(self, status: BackendStatus) -> None:
        if status.device:
            self.device.emit(status.device)
        self.status.emit(status.text)

    def _on_runner_message(self, message: Message) -> None:
        self.message.emit(message)

    def _on_runner_busy(self, _: bool) -> None:
        self._update_busy()

    def _update_busy(self) -> None:
        busy = self.busy
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    def _on_queue_changed(self, _: None) -> None:
        self.queue_changed.emit()


def _image_job(job: Job) -> bool:
    """Generations and the demo build: what the generation panel shows."""
    return isinstance(job.request, GenerationRequest | BuildDemo)
