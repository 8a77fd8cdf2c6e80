"""Library work off the GUI thread: scanning + hashing, and thumbnail loading.

Both are QObjects moved to a QThread by their owner (the library panel). They open their own
catalog connection (SQLite connections are per thread) and never touch widgets.
"""

from __future__ import annotations

import hashlib
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import ScanResult, hash_pending, scan

THUMB_SIZE = 256


class LibraryWorker(QObject):
    """Scans the roots, then hashes files that have no hashes yet.

    Signals:
        progress(int done, int total, str phase): phase is "scan" or "hash"; total 0 = unknown
        scanned(object): the ``ScanResult`` (the catalog is up to date; hashes may follow)
        hashed(int): how many files were hashed
        failed(str): a message for the user
        done(): always last
    """

    progress = Signal(int, int, str)
    scanned = Signal(object)
    hashed = Signal(int)
    failed = Signal(str)
    done = Signal()

    def __init__(self, db_path: Path, roots: list[Path], hash_files: bool = True) -> None:
        super().__init__()
        self._db_path = db_path
        self._roots = roots
        self._hash = hash_files
        self.cancel_token = CancelToken()

    def request_cancel(self) -> None:
        self.cancel_token.cancel()

    @Slot()
    def run(self) -> None:
        try:
            with Catalog(self._db_path) as catalog:
                result: ScanResult = scan(
                    catalog,
                    [r for r in self._roots if r.is_dir()],
                    cancel=self.cancel_token,
                    progress=self._on_scan_progress,
                )
                self.scanned.emit(result)
                if self._hash and not self.cancel_token.cancelled:
                    self.hashed.emit(hash_pending(catalog, cancel=self.cancel_token, progress=self._on_hash_progress))
        except LoraStudioError as err:
            self.failed.emit(str(err))
        except Exception as err:  # a bug or a disk error: report it, never crash the window
            traceback.print_exc()
            self.failed.emit(f"The library scan failed: {err}")
        finally:
            self.done.emit()

    def _on_scan_progress(self, done: int, current: str) -> None:
        self.progress.emit(done, 0, "scan")

    def _on_hash_progress(self, done: int, total: int, current: str) -> None:
        self.progress.emit(done, total, "hash")


def thumbnail_cache_path(cache_dir: Path, preview: Path) -> Path:
    """Cache file for a preview: named by its path, size and mtime, so edits make a new one."""
    try:
        st = preview.stat()
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = ""
    digest = hashlib.sha1(f"{preview}|{stamp}".encode("utf-8", "surrogateescape")).hexdigest()
    return cache_dir / f"{digest}.png"


class ThumbnailWorker(QObject):
    """Loads preview images scaled to ``THUMB_SIZE`` and caches them as PNG in the data dir.

    Requests arrive through the queued ``load`` slot, one at a time, in the worker's thread.

    Signals:
        loaded(str preview, QImage image): image is null when the preview cannot be read
    """

    loaded = Signal(str, QImage)

    def __init__(self, cache_dir: Path) -> None:
        super().__init__()
        self._cache_dir = cache_dir

    @Slot(str)
    def load(self, preview: str) -> None:
        self.loaded.emit(preview, self.thumbnail(Path(preview)))

    def thumbnail(self, preview: Path) -> QImage:
        cached = thumbnail_cache_path(self._cache_dir, preview)
        if cached.is_file():
            image = QImage(str(cached))
            if not image.isNull():
                return image
        reader = QImageReader(str(preview))
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid() and (size.width() > THUMB_SIZE or size.height() > THUMB_SIZE):
            reader.setScaledSize(size.scaled(QSize(THUMB_SIZE, THUMB_SIZE), Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            return QImage()
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            image.save(str(cached), "PNG")
        except OSError:
            pass  # a read-only cache only costs speed
        return image
