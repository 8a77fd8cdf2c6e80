"""Background work for the Qt layer: the one place widgets get threads from.

``create_worker(fn, *args)`` (like napari's ``create_worker``) runs a plain function in a QThread
of its own and reports through signals on the GUI thread: ``returned(value)``, ``errored(Message)``
(a typed one-sentence message; the traceback goes to the log), ``progress(object)`` and
``finished()``, always last. A function that takes a ``cancel`` parameter gets a CancelToken
(``worker.cancel()`` sets it); one that takes ``report`` gets a callable that emits ``progress``.

``start_in_thread`` is the older form for QObject workers with a ``run()`` slot and a ``done``
signal. Python keeps the worker and the thread (no deleteLater while Python holds them: PySide6
crashes on that race).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from lorastudio.core import messages
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError

log = logging.getLogger(__name__)


class _Job(QObject):
    """Lives in the worker thread; calls the function once."""

    def __init__(self, worker: FunctionWorker) -> None:
        super().__init__()
        self._worker = worker

    @Slot()
    def run(self) -> None:
        w = self._worker
        try:
            value = w.fn(*w.args, **w.kwargs)
        except Exception as err:  # every error becomes one message; the log keeps the traceback
            if not isinstance(err, LoraStudioError):
                log.exception("Background job %s failed", getattr(w.fn, "__qualname__", w.fn))
            w.errored.emit(messages.from_exception(err))
        else:
            w.returned.emit(value)
        finally:
            w.done.emit()


class FunctionWorker(QObject):
    """Signals: returned(object), errored(object Message), progress(object), finished()."""

    returned = Signal(object)
    errored = Signal(object)
    progress = Signal(object)
    finished = Signal()
    done = Signal()  # internal: the function has returned (the thread then stops)

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self.args = args
        self.kwargs = dict(kwargs)
        self.cancel_token = CancelToken()
        params = inspect.signature(fn).parameters
        if "cancel" in params:
            self.kwargs["cancel"] = self.cancel_token
        if "report" in params:
            self.kwargs["report"] = self.progress.emit
        self._thread: QThread | None = None
        self._job: _Job | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def start(self) -> FunctionWorker:
        thread = QThread()
        thread.setObjectName(getattr(self.fn, "__name__", "worker"))
        job = _Job(self)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        # Direct: quit from the worker thread itself (QThread.quit is thread-safe). Queued, it would
        # wait for the GUI thread, and a GUI thread blocked in wait() (shutdown) would wait 30 s.
        self.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._job = thread, job
        thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def wait(self, ms: int = 30_000) -> bool:
        """Block until the thread has stopped (shutdown, tests)."""
        return self._thread.wait(ms) if self._thread is not None else True

    @Slot()
    def _on_thread_finished(self) -> None:
        self.finished.emit()


def create_worker(fn: Callable[..., Any], *args: Any, _start: bool = False, **kwargs: Any) -> FunctionWorker:
    """A worker for ``fn(*args, **kwargs)``: connect its signals, then ``start()`` (or pass
    ``_start=True`` when nothing needs to listen). Keep it referenced until ``finished``."""
    worker = FunctionWorker(fn, args, kwargs)
    if _start:
        worker.start()
    return worker


def start_in_thread(worker: Any, parent: QObject, on_finished: Callable[[], None]) -> QThread:
    """Move ``worker`` to a new thread and run it; ``on_finished`` (a bound slot of ``parent``'s
    thread) runs once the thread has stopped. Connect the worker's other signals first."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.done.connect(thread.quit)
    thread.finished.connect(on_finished)
    thread.start()
    return thread
