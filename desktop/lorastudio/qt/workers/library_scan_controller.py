"""The library's background threads: one scan (then hashing) at a time, and thumbnail loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from lorastudio.core.paths import DataDir
from lorastudio.qt.workers.library_worker import LibraryWorker, ThumbnailWorker


class LibraryScanController(QObject):
    """Owns the scan thread (started per scan) and the thumbnail thread (alive until ``shutdown``).

    A scan asked for while one runs starts right after it, once, however often it was asked for.

    Signals:
        started(): a scan thread started (also for the scan queued behind another)
        progress(int done, int total, str phase), scanned(object ScanResult), hashed(int count),
            failed(str message): the ``LibraryWorker``'s, relayed in the GUI thread
        finished(): the scan thread ended; ``is_scanning()`` is already False
        thumbnail_loaded(str preview, QImage image): image is null when the preview cannot be read
    """

    started = Signal()
    progress = Signal(int, int, str)
    scanned = Signal(object)
    hashed = Signal(int)
    failed = Signal(str)
    finished = Signal()
    thumbnail_loaded = Signal(str, QImage)
    _thumbnail_request = Signal(str)

    def __init__(self, data_dir: DataDir, roots: Callable[[], list[Path]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._data = data_dir
        self._roots = roots
        self.scan_thread: QThread | None = None
        self._scan_worker: LibraryWorker | None = None
        self._scan_again = False
        self._thumb_worker = ThumbnailWorker(data_dir.thumbnails)
        self._thumb_thread = QThread(self)
        self._thumb_worker.moveToThread(self._thumb_thread)
        self._thumbnail_request.connect(self._thumb_worker.load)
        self._thumb_worker.loaded.connect(self.thumbnail_loaded)
        self._thumb_thread.start()

    def is_scanning(self) -> bool:
        return self.scan_thread is not None

    @Slot()
    def scan(self) -> None:
        """Scan the roots, then hash new files; during a scan, queue one more."""
        if self.scan_thread is not None:
            self._scan_again = True
            return
        self._data.models.mkdir(parents=True, exist_ok=True)
        worker = LibraryWorker(self._data.catalog_db, self._roots())
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.scanned.connect(self.scanned)
        worker.hashed.connect(self.hashed)
        worker.failed.connect(self.failed)
        worker.done.connect(thread.quit)
        thread.finished.connect(self._on_scan_thread_finished)
        self._scan_worker, self.scan_thread = worker, thread
        self.started.emit()
        thread.start()

    @Slot(str)
    def request_thumbnail(self, preview: str) -> None:
        """Load ``preview`` in the thumbnail thread; ``thumbnail_loaded`` follows."""
        self._thumbnail_request.emit(preview)

    def shutdown(self) -> None:
        """Cancel the scan and wait for both threads to end."""
        self._scan_again = False
        if self._scan_worker is not None:
            self._scan_worker.request_cancel()
        if self.scan_thread is not None:
            self.scan_thread.quit()
            self.scan_thread.wait()
        self._thumb_thread.quit()
        self._thumb_thread.wait()

    @Slot()
    def _on_scan_thread_finished(self) -> None:
        self.scan_thread = None
        self._scan_worker = None
        self.finished.emit()
        if self._scan_again:
            self._scan_again = False
            self.scan()
