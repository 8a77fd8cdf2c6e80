"""The library's background threads: one catalog job (load, scan, hash) at a time, and thumbnails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from lorastudio.core.paths import DataDir
from lorastudio.qt.models.library_model import LibraryIndex
from lorastudio.qt.workers.library_worker import LibraryWorker, ThumbnailWorker


class LibraryScanController(QObject):
    """Owns the job thread (started per job) and the thumbnail thread (alive until ``shutdown``).

    A job asked for while one runs starts right after it, once, doing everything that was asked
    for meanwhile (a load and a scan asked for together are one job).

    Signals:
        started(): a scan thread started (also for the scan queued behind another)
        progress(int done, int total, str phase), loaded(object LibraryIndex), scanned(object
            ScanResult), hashed(int count), failed(str message): the ``LibraryWorker``'s, relayed
            in the GUI thread
        finished(): the job thread ended; ``is_scanning()`` is already False
        thumbnail_loaded(str preview, QImage image): image is null when the preview cannot be read
    """

    started = Signal()
    progress = Signal(int, int, str)
    loaded = Signal(object)
    scanned = Signal(object)
    hashed = Signal(int)
    failed = Signal(str)
    finished = Signal()
    thumbnail_loaded = Signal(str, QImage)
    _thumbnail_request = Signal(str)

    def __init__(
        self,
        data_dir: DataDir,
        roots: Callable[[], list[Path]],
        base_index: Callable[[], LibraryIndex] | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``base_index``: the index the view holds now; loads are built against it (what changed)."""
        super().__init__(parent)
        self._data = data_dir
        self._roots = roots
        self._base_index = base_index
        self.scan_thread: QThread | None = None
        self._scan_worker: LibraryWorker | None = None
        self._next: tuple[bool, bool] | None = None  # (load, scan) asked for during a job
        self._job_scans = False  # the running job scans (a load alone reads only the catalog)
        self._hash_paused = False
        self._thumb_worker = ThumbnailWorker(data_dir.thumbnails)
        self._thumb_thread = QThread(self)
        self._thumb_worker.moveToThread(self._thumb_thread)
        self._thumbnail_request.connect(self._thumb_worker.load)
        self._thumb_worker.loaded.connect(self.thumbnail_loaded)
        self._thumb_thread.start()

    def is_scanning(self) -> bool:
        """A job thread runs (a load, a scan or hashing)."""
        return self.scan_thread is not None

    def job_scans(self) -> bool:
        """The running job walks the roots (rather than only reading the catalog)."""
        return self.scan_thread is not None and self._job_scans

    @Slot()
    def scan(self, load: bool = False) -> None:
        """Scan the roots, then hash new files (reading the catalog first when ``load``); during a
        job, queue one more."""
        self._start(load, True)

    @Slot()
    def load(self) -> None:
        """Read the catalog into a new index (``loaded``) without scanning."""
        self._start(True, False)

    def _start(self, load: bool, scan: bool) -> None:
        if self.scan_thread is not None:
            prev = self._next or (False, False)
            self._next = (prev[0] or load, prev[1] or scan)
            return
        if scan:
            self._data.models.mkdir(parents=True, exist_ok=True)
        worker = LibraryWorker(
            self._data.catalog_db,
            self._roots() if scan else [],
            scan=scan,
            load=load,
            base=self._base_index() if self._base_index is not None else None,
        )
        if self._hash_paused:
            worker.cancel_token.pause()
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.loaded.connect(self.loaded)
        worker.scanned.connect(self.scanned)
        worker.hashed.connect(self.hashed)
        worker.failed.connect(self.failed)
        worker.done.connect(thread.quit)
        thread.finished.connect(self._on_scan_thread_finished)
        self._scan_worker, self.scan_thread = worker, thread
        self._job_scans = scan
        self.started.emit()
        thread.start()

    def set_hashing_paused(self, paused: bool) -> None:
        """Hold background hashing (e.g. while a generation runs) or let it go on."""
        self._hash_paused = paused
        if self._scan_worker is not None:
            if paused:
                self._scan_worker.cancel_token.pause()
            else:
                self._scan_worker.cancel_token.resume()

    def hashing_paused(self) -> bool:
        return self._hash_paused

    @Slot(str)
    def request_thumbnail(self, preview: str) -> None:
        """Load ``preview`` in the thumbnail thread; ``thumbnail_loaded`` follows."""
        self._thumbnail_request.emit(preview)

    def shutdown(self) -> None:
        """Cancel the job and wait for both threads to end."""
        self._next = None
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
        if self._next is not None:
            load, scan = self._next
            self._next = None
            self._start(load, scan)
