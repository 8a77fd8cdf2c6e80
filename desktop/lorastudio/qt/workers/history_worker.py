"""The history thread: scans the outputs folder and loads thumbnails off the GUI thread.

``HistoryLoader`` lives in the GUI thread and owns the thread; ``HistoryWorker`` runs in it.
Thumbnails are cached on disk (small JPEGs under the data dir's thumbnail cache, keyed by path,
size and mtime), so reopening a large history decodes each full-size PNG once.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, QThread, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from lorastudio.core.engine.history import History, HistoryEntry

THUMB_SIZE = 160


def thumbnail_key(entry: HistoryEntry) -> str:
    return hashlib.sha1(f"{entry.path}|{entry.size}|{entry.mtime_ns}".encode()).hexdigest()


def load_thumbnail(entry: HistoryEntry, cache_dir: Path | None, size: int = THUMB_SIZE) -> QImage:
    """A thumbnail at most ``size`` pixels on its long side; null QImage for an unreadable file."""
    cached = cache_dir / f"{thumbnail_key(entry)}.jpg" if cache_dir else None
    if cached is not None and cached.exists():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    reader = QImageReader(str(entry.path))
    full = reader.size()
    if full.isValid() and max(full.width(), full.height()) > size:
        reader.setScaledSize(full.scaled(QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return image
    # Small images (tiny demo models) are upscaled with crisp pixels so the strip is not empty dots.
    if max(image.width(), image.height()) < size // 2:
        image = image.scaled(
            QSize(size, size), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
        )
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            image.save(str(cached), "JPEG", 88)
        except OSError:
            pass  # a cache: a full decode next time
    return image


class HistoryWorker(QObject):
    """Runs in the history thread; never touches widgets.

    Signals: scanned(object list[HistoryEntry]), thumbnail(str path, QImage), failed(str).
    """

    scanned = Signal(object)
    thumbnail = Signal(str, QImage)
    failed = Signal(str)

    def __init__(self, outputs: Path, index_file: Path | None, thumbs_dir: Path | None) -> None:
        super().__init__()
        self._history = History(outputs, index_file)
        self._thumbs_dir = thumbs_dir
        # The newest thumbnail job; written by the GUI thread (an int store is atomic under the GIL),
        # read here between images so a superseded batch stops early.
        self.latest_job = 0

    @Slot()
    def scan(self) -> None:
        try:
            self.scanned.emit(self._history.scan())
        except Exception as err:  # a full disk or a permission error must not kill the thread
            self.failed.emit(f"Could not read the history: {err}")

    @Slot(int, object)
    def load_thumbnails(self, job: int, entries: list[HistoryEntry]) -> None:
        for entry in entries:
            if job != self.latest_job:
                return
            image = load_thumbnail(entry, self._thumbs_dir)
            if not image.isNull():
                self.thumbnail.emit(str(entry.path), image)


class HistoryLoader(QObject):
    """GUI-thread handle on the history thread.

    Signals: scanned(object list[HistoryEntry]), thumbnail_ready(str path, QImage), failed(str).
    """

    scanned = Signal(object)
    thumbnail_ready = Signal(str, QImage)
    failed = Signal(str)
    _scan = Signal()
    _thumbnails = Signal(int, object)

    def __init__(
        self,
        outputs: Path,
        index_file: Path | None = None,
        thumbs_dir: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._jobs = itertools.count(1)
        self._thread = QThread()
        self._thread.setObjectName("history")
        self._worker = HistoryWorker(outputs, index_file, thumbs_dir)
        self._worker.moveToThread(self._thread)
        self._scan.connect(self._worker.scan)
        self._thumbnails.connect(self._worker.load_thumbnails)
        self._worker.scanned.connect(self._on_worker_scanned)
        self._worker.thumbnail.connect(self._on_worker_thumbnail)
        self._worker.failed.connect(self._on_worker_failed)
        self._thread.start()

    @property
    def thread(self) -> QThread:
        return self._thread

    def refresh(self) -> None:
        self._scan.emit()

    def request_thumbnails(self, entries: list[HistoryEntry]) -> None:
        """Load these thumbnails in order; a newer request supersedes an unfinished one."""
        job = next(self._jobs)
        self._worker.latest_job = job
        self._thumbnails.emit(job, list(entries))

    def shutdown(self) -> None:
        """Stop the thread (safe to call twice)."""
        self._worker.latest_job = -1
        self._thread.quit()
        self._thread.wait()

    @Slot(object)
    def _on_worker_scanned(self, entries: object) -> None:
        self.scanned.emit(entries)

    @Slot(str, QImage)
    def _on_worker_thumbnail(self, path: str, image: QImage) -> None:
        self.thumbnail_ready.emit(path, image)

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.failed.emit(message)
