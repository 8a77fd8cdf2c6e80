"""Qt table model over catalog records: filtering, sorting and compatibility, no widget per item.

The model holds every record (10k rows are a few MB) and a list of the visible ones; searching
and filtering recompute that list from lower-cased text prepared once per record, so typing stays
smooth. Thumbnails are asked for through ``thumbnail_needed`` and arrive with ``set_thumbnail``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QPixmap

from lorastudio.core.library.catalog import CatalogRecord, clean_text
from lorastudio.core.types import BaseArch, ModelKind

MIME_PATH = "application/x-lorastudio-path"
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
COMPAT_ROLE = Qt.ItemDataRole.UserRole + 3

ADAPTER_KINDS = (ModelKind.LORA, ModelKind.LYCORIS, ModelKind.EMBEDDING)
KIND_LABELS = {
    ModelKind.CHECKPOINT: "Checkpoint",
    ModelKind.PIPELINE: "Pipeline",
    ModelKind.LORA: "LoRA",
    ModelKind.LYCORIS: "LyCORIS",
    ModelKind.EMBEDDING: "Embedding",
    ModelKind.VAE: "VAE",
    ModelKind.PEFT_ADAPTER: "Text adapter",
    ModelKind.TEXT_MODEL: "Text model",
    ModelKind.UNKNOWN: "Unknown",
}


class SortKey(StrEnum):
    NAME = "name"
    ADDED = "added"
    SIZE = "size"
    USED = "used"


@dataclass(frozen=True)
class LibraryQuery:
    text: str = ""
    kind: ModelKind | None = None  # LORA also matches LyCORIS
    base: BaseArch | None = None
    favorites_only: bool = False
    root: str = ""  # only records found under this root
    compatible_only: bool = False
    show_missing: bool = True
    sort: SortKey = SortKey.NAME


def compatibility(record: CatalogRecord, current_base: str) -> str:
    """ "" (no badge), "ok", "unknown" or "mismatch" for an adapter against the current checkpoint."""
    if not current_base or record.info.kind not in ADAPTER_KINDS:
        return ""
    base = record.info.base
    if base in (BaseArch.UNKNOWN, BaseArch.OTHER):
        return "unknown"
    return "ok" if base.value == current_base else "mismatch"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def folder_label(record: CatalogRecord) -> str:
    try:
        rel = record.path.parent.relative_to(record.root)
    except ValueError:
        rel = record.path.parent
    return clean_text(str(rel)) if str(rel) != "." else clean_text(record.root.name)


class LibraryModel(QAbstractTableModel):
    """Columns: name, kind, base, size, folder, trigger words.

    Signals:
        thumbnail_needed(str): a preview image path whose thumbnail is not loaded yet
        counts_changed(int shown, int total, int hidden_incompatible)
    """

    thumbnail_needed = Signal(str)
    counts_changed = Signal(int, int, int)

    HEADERS = ("Name", "Kind", "Base", "Size", "Folder", "Trigger words")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._all: list[CatalogRecord] = []
        self._hay: list[str] = []
        self._rows: list[CatalogRecord] = []
        self._query = LibraryQuery()
        self._current_base = ""
        self._thumbs: dict[str, QPixmap] = {}
        self._asked: set[str] = set()
        self._hidden_incompatible = 0

    # -- data in ---------------------------------------------------------------------------------

    def set_records(self, records: list[CatalogRecord]) -> None:
        self._all = list(records)
        self._hay = [self._haystack(r) for r in self._all]
        self._refilter()

    def update_record(self, record: CatalogRecord) -> None:
        """Replace one record in place (e.g. after the user edited it); keeps the view still."""
        for i, r in enumerate(self._all):
            if r.path == record.path:
                self._all[i] = record
                self._hay[i] = self._haystack(record)
        for row, r in enumerate(self._rows):
            if r.path == record.path:
                self._rows[row] = record
                self.dataChanged.emit(self.index(row, 0), self.index(row, self.columnCount() - 1))

    def set_query(self, query: LibraryQuery) -> None:
        if query != self._query:
            self._query = query
            self._refilter()

    def query(self) -> LibraryQuery:
        return self._query

    def set_current_base(self, base: str) -> None:
        """The current checkpoint's base ("" = no checkpoint: no badges, nothing hidden)."""
        if base == self._current_base:
            return
        self._current_base = base
        if self._query.compatible_only or self._hidden_incompatible:
            self._refilter()  # rows come and go
        elif self._rows:  # only the badges change: keep the view (selection, scroll) still
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0), [COMPAT_ROLE])
            self.counts_changed.emit(len(self._rows), len(self._all), 0)

    def current_base(self) -> str:
        return self._current_base

    def set_thumbnail(self, preview: str, pixmap: QPixmap) -> None:
        self._thumbs[preview] = pixmap
        for row, r in enumerate(self._rows):
            if r.info.preview is not None and str(r.info.preview) == preview:
                idx = self.index(row, 0)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    # -- filtering -------------------------------------------------------------------------------

    @staticmethod
    def _haystack(r: CatalogRecord) -> str:
        parts = [r.info.title, r.path.name, folder_label(r), " ".join(r.trigger_words), " ".join(r.user.tags)]
        return clean_text("\n".join(parts)).lower()

    def _accepts(self, r: CatalogRecord, hay: str, words: list[str]) -> bool:
        q = self._query
        if q.kind is not None:
            kinds = (ModelKind.LORA, ModelKind.LYCORIS) if q.kind is ModelKind.LORA else (q.kind,)
            if q.kind is ModelKind.CHECKPOINT:
                kinds = (ModelKind.CHECKPOINT, ModelKind.PIPELINE)
            if r.info.kind not in kinds:
                return False
        if q.base is not None and r.info.base is not q.base:
            return False
        if q.favorites_only and not r.user.favorite:
            return False
        if q.root and str(r.root) != q.root:
            return False
        if not q.show_missing and r.missing:
            return False
        return all(w in hay for w in words)

    def _refilter(self) -> None:
        self.beginResetModel()
        words = self._query.text.lower().split()
        rows = [r for r, h in zip(self._all, self._hay, strict=True) if self._accepts(r, h, words)]
        self._hidden_incompatible = 0
        if self._query.compatible_only and self._current_base:
            kept = [r for r in rows if compatibility(r, self._current_base) != "mismatch"]
            self._hidden_incompatible = len(rows) - len(kept)
            rows = kept
        self._rows = self._sorted(rows)
        self.endResetModel()
        self.counts_changed.emit(len(self._rows), len(self._all), self._hidden_incompatible)

    def _sorted(self, rows: list[CatalogRecord]) -> list[CatalogRecord]:
        key = self._query.sort
        if key is SortKey.ADDED:
            return sorted(rows, key=lambda r: -r.added_at)
        if key is SortKey.SIZE:
            return sorted(rows, key=lambda r: -r.info.size)
        if key is SortKey.USED:
            return sorted(rows, key=lambda r: -(r.last_used or 0.0))
        return sorted(rows, key=lambda r: (r.info.title.lower(), r.path.name))

    # -- Qt model API ----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def record_at(self, row: int) -> CatalogRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, path: str) -> int:
        for row, r in enumerate(self._rows):
            if str(r.path) == path:
                return row
        return -1

    def record_for(self, path: str) -> CatalogRecord | None:
        for r in self._all:
            if str(r.path) == path:
                return r
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(r, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = clean_text(str(r.path))
            if r.missing:
                tip += "\nMissing: the file is no longer there."
            elif r.info.error:
                tip += "\n" + clean_text(r.info.error)
            return tip
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            preview = r.info.preview
            if preview is None:
                return None
            key = str(preview)
            pix = self._thumbs.get(key)
            if pix is None and key not in self._asked:
                self._asked.add(key)
                self.thumbnail_needed.emit(key)
            return pix if pix is not None else None
        if role == RECORD_ROLE:
            return r
        if role == PATH_ROLE:
            return str(r.path)
        if role == COMPAT_ROLE:
            return compatibility(r, self._current_base)
        return None

    def _display(self, r: CatalogRecord, col: int) -> str:
        if col == 0:
            return clean_text(r.info.title or r.path.name)
        if col == 1:
            return KIND_LABELS.get(r.info.kind, r.info.kind.value)
        if col == 2:
            return r.info.base.label
        if col == 3:
            return human_size(r.info.size)
        if col == 4:
            return folder_label(r)
        return clean_text(", ".join(r.trigger_words[:6]))

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return [MIME_PATH, "text/plain"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # type: ignore[override]
        mime = QMimeData()
        paths = list(dict.fromkeys(str(self._rows[i.row()].path) for i in indexes if i.isValid()))
        text = "\n".join(paths)
        mime.setData(MIME_PATH, os.fsencode(text) if text else b"")
        mime.setText(clean_text(text))
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def records(self) -> list[CatalogRecord]:
        """All records the model holds (not only the visible ones)."""
        return list(self._all)
