"""Library work off the GUI thread: reading the catalog, scanning + hashing, and thumbnail loading.

Both workers are QObjects moved to a QThread by their owner (``LibraryScanController``). They open
their own catalog connection (SQLite connections are per thread) and never touch widgets.
"""

from __future__ import annotations

import hashlib
import traceback
from pathlib import Path

from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QImage, QImageReader

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scan_pool import scan_parallel
from lorastudio.core.library.scanner import hash_pending
from lorastudio.core.metadata.hashes import PausableToken
from lorastudio.qt.models.library_model import LibraryIndex, build_index

THUMB_SIZE = 256


class LibraryWorker(QObject):
    """Reads the catalog into a ``LibraryIndex``, scans the roots, then hashes files that have none.

    Each step is optional: ``load`` (read the catalog first: the window starts with a snapshot),
    ``scan`` (walk the roots; new and changed files are read in a process pool), ``hash_files``.
    The catalog is read again after a step that changed it, and the new index emitted before the
    step's own signal, so a ``scanned`` receiver already sees the new rows.

    Signals:
        progress(int done, int total, str phase): phase "load", "walk", "read" or "hash"; total 0 = unknown
        loaded(object): a ``LibraryIndex`` built against the ``base`` given (or the one before)
        scanned(object): the ``ScanResult`` (the catalog is up to date; hashes may follow)
        hashed(int): how many files were hashed
        failed(str): a message for the user
        done(): always last
    """

    progress = Signal(int, int, str)
    loaded = Signal(object)
    scanned = Signal(object)
    hashed = Signal(int)
    failed = Signal(str)
    done = Signal()

    def __init__(
        self,
        db_path: Path,
        roots: list[Path],
        hash_files: bool = True,
        scan: bool = True,
        load: bool = False,
        base: LibraryIndex | None = None,
    ) -> None:
        super().__init__()
        self._db_path = db_path
        self._roots = roots
        self._hash = hash_files
        self._scan = scan
        self._load = load
        self._base = base
        self.cancel_token = PausableToken()  # pausing it holds hashing (a generation runs)

    def request_cancel(self) -> None:
        self.cancel_token.cancel()

    @Slot()
    def run(self) -> None:
        try:
            with Catalog(self._db_path) as catalog:
                index = self._base
                if self._load:
                    self.progress.emit(0, 0, "load")
                    index = self._emit_index(catalog, index)
                if self._scan and not self.cancel_token.cancelled:
                    result = scan_parallel(
                        catalog,
                        [r for r in self._roots if r.is_dir()],
                        cancel=self.cancel_token,
                        progress=self._on_scan_progress,
                    )
                    if result.added or result.updated or result.missing or index is None:
                        index = self._emit_index(catalog, index)
                    self.scanned.emit(result)
                    if self._hash and not self.cancel_token.cancelled:
                        count = hash_pending(catalog, cancel=self.cancel_token, progress=self._on_hash_progress)
                        if count:
                            index = self._emit_index(catalog, index)
                        self.hashed.emit(count)
        except LoraStudioError as err:
            self.failed.emit(str(err))
        except Exception as err:  # a bug or a disk error: report it, never crash the window
            traceback.print_exc()
            self.failed.emit(f"The library scan failed: {err}")
        finally:
            self.done.emit()

    def _emit_index(self, catalog: Catalog, base: LibraryIndex | None) -> LibraryIndex:
        index = build_index(catalog.records(), base)
        self.loaded.emit(index)
        return index

    def _on_scan_progress(self, done: int, total: int, phase: str) -> None:
        self.progress.emit(done, total, phase)

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
