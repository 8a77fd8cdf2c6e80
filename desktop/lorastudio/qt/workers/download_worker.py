"""The downloads thread: runs the core DownloadQueue until nothing is queued.

Pause/cancel/resume are called on the queue from the GUI thread (it is thread-safe); progress
comes back through signals to bound methods of ``DownloadRunner`` (GUI thread).
"""

from __future__ import annotations

import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.hub.queue import DONE, DownloadQueue, QueueEntry, QueueProgress
from lorastudio.core.paths import DataDir


class DownloadWorker(QObject):
    """Runs in the downloads thread. Signals: progress(object), changed(object), failed(str), done()."""

    progress = Signal(object)  # QueueProgress
    changed = Signal(object)  # QueueEntry
    failed = Signal(str)
    done = Signal()

    def __init__(self, data: DataDir, queue: DownloadQueue) -> None:
        super().__init__()
        self._data = data
        self._queue = queue

    @Slot()
    def run(self) -> None:
        try:
            from lorastudio.core.hub.tokens import app_connection

            conn = app_connection(self._data)
            self._queue.run_all(conn, on_progress=self._on_progress, on_change=self._on_change)
        except LoraStudioError as err:
            self.failed.emit(str(err))
        except Exception as err:
            traceback.print_exc()
            self.failed.emit(f"Unexpected error: {type(err).__name__}.")
        finally:
            self.done.emit()

    def _on_progress(self, p: QueueProgress) -> None:
        self.progress.emit(p)

    def _on_change(self, entry: QueueEntry) -> None:
        self.changed.emit(entry)


class DownloadRunner(QObject):
    """GUI-thread owner of the downloads thread; starts it when work is queued.

    Signals: progress(object QueueProgress), changed(object QueueEntry), installed(str path), failed(str),
    idle().
    """

    progress = Signal(object)
    changed = Signal(object)
    installed = Signal(str)
    failed = Signal(str)
    idle = Signal()

    def __init__(self, data: DataDir, queue: DownloadQueue, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data = data
        self._queue = queue
        self._thread: QThread | None = None
        self._worker: DownloadWorker | None = None

    def is_running(self) -> bool:
        return self._thread is not None and not self._thread.isFinished()

    def kick(self) -> None:
        """Start the downloads thread if something is queued and it is not already running."""
        if self.is_running() or not self._queue.has_work():
            return
        self._queue.allow()
        self._thread = QThread()
        self._thread.setObjectName("downloads")
        self._worker = DownloadWorker(self._data, self._queue)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._on_worker_progress)
        self._worker.changed.connect(self._on_worker_changed)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.done.connect(self._thread.quit)
        self._thread.finished.connect(self._on_thread_finished)
        self._thread.start()

    @Slot(object)
    def _on_worker_progress(self, p: QueueProgress) -> None:
        self.progress.emit(p)

    @Slot(object)
    def _on_worker_changed(self, entry: QueueEntry) -> None:
        self.changed.emit(entry)
        if entry.state == DONE and entry.paths and "already in your library" not in entry.message:
            for path in entry.paths:
                self.installed.emit(path)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._queue.has_work():  # queued while the thread was winding down
            self.kick()
        else:
            self.idle.emit()

    def shutdown(self) -> None:
        """Pause the running download (resumable after restart) and wait for the thread."""
        self._queue.stop_all()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
