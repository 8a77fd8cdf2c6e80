"""Qt table model over catalog records: filtering, sorting and compatibility, no widget per item.

Everything expensive about 50k records is prepared off the GUI thread by ``build_index`` (run in
the library worker): the lower-cased search text of each record, the four sort orders, and which
records changed since the index the model holds. The model then only picks rows:

- a rescan becomes row inserts, removals and ``dataChanged`` by stable key (the path), never a
  reset, so the selection and the scroll position stay where they are;
- a change of search text or filter that moves rows all over the list becomes one layout change
  with the persistent indexes (selection, current item) carried over;
- filtering more than ``SLICE_ROWS`` rows runs in slices of a few milliseconds between events.

Thumbnails are asked for through ``thumbnail_needed`` and arrive with ``set_thumbnail``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QPixmap

from lorastudio.core.library.catalog import CatalogRecord, UserData, clean_text
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.types import BaseArch, LoraFormat, ModelKind

MIME_PATH = "application/x-lorastudio-path"
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
COMPAT_ROLE = Qt.ItemDataRole.UserRole + 3

SLICE_ROWS = 20_000  # above this many records, filtering runs in slices between events
SLICE_SECONDS = 0.006  # one slice: well inside a 60 Hz frame, with room for the repaint
MAX_RUNS = 48  # more separate row ranges than this: one layout change is cheaper for the views
MANY_CHANGED = 64  # more changed rows than this: one dataChanged over their span

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


def haystack(r: CatalogRecord) -> str:
    """The lower-cased text a search looks in: title, file name, folder, trigger words, tags."""
    parts = [r.info.title, r.path.name, folder_label(r), " ".join(r.trigger_words), " ".join(r.user.tags)]
    return clean_text("\n".join(parts)).lower()


# -- the index: built in a worker thread, handed to the model whole --------------------------------


@dataclass(frozen=True)
class LibraryIndex:
    """Records keyed by path (``str``), their search text and every sort order; never mutated once
    handed to the model (edits make a new one). ``changed``: keys whose record differs from the one
    in ``base``, the index this one was built against."""

    records: dict[str, CatalogRecord] = field(default_factory=dict)
    hay: dict[str, str] = field(default_factory=dict)
    orders: dict[SortKey, list[str]] = field(default_factory=dict)
    changed: frozenset[str] = frozenset()
    base: LibraryIndex | None = field(default=None, repr=False, compare=False)


def _sort_orders(records: dict[str, CatalogRecord]) -> dict[SortKey, list[str]]:
    # Every order ends on the path: equal titles (sizes, dates) keep one stable order between loads.
    name = sorted(records, key=lambda k: (records[k].info.title.lower(), records[k].path.name, k))
    return {
        SortKey.NAME: name,
        SortKey.ADDED: sorted(name, key=lambda k: -records[k].added_at),
        SortKey.SIZE: sorted(name, key=lambda k: -records[k].info.size),
        SortKey.USED: sorted(name, key=lambda k: -(records[k].last_used or 0.0)),
    }


def build_index(records: Iterable[CatalogRecord], base: LibraryIndex | None = None) -> LibraryIndex:
    """Everything the model needs, prepared where it costs the window nothing (a worker thread).

    Language models and their adapters are left out: they belong to the Text page, not the images."""
    by_key = {str(r.path): r for r in records if not r.info.kind.is_text}
    old = base.records if base is not None else {}
    changed = frozenset(k for k, r in by_key.items() if k in old and old[k] != r)
    return LibraryIndex(
        records=by_key,
        hay={k: haystack(r) for k, r in by_key.items()},
        orders=_sort_orders(by_key),
        changed=changed,
        base=base,
    )


# -- the first screen of the last session, for painting before the catalog is read ----------------


def snapshot_rows(records: Iterable[CatalogRecord]) -> list[dict[str, Any]]:
    """What a card and a list row show, as JSON-ready dicts (the previous session's first screen)."""
    out = []
    for r in records:
        i = r.info
        out.append(
            {
                "path": os.fsencode(i.path).hex(),
                "root": os.fsencode(r.root).hex(),
                "kind": i.kind.value,
                "base": i.base.value,
                "format": i.lora_format.value,
                "status": i.status,
                "error": clean_text(i.error),
                "size": i.size,
                "mtime": i.mtime,
                "rank": i.rank,
                "title": clean_text(i.title),
                "words": [clean_text(w) for w in i.trigger_words],
                "preview": os.fsencode(i.preview).hex() if i.preview else None,
                "network": i.network,
                "is_dir": i.is_dir,
                "missing": r.missing,
                "added_at": r.added_at,
                "favorite": r.user.favorite,
                "tags": [clean_text(t) for t in r.user.tags],
            }
        )
    return out


def _enum(cls: Any, value: Any, default: Any) -> Any:
    try:
        return cls(value)
    except ValueError:
        return default


def records_from_snapshot(rows: Any) -> list[CatalogRecord]:
    """Records back from ``snapshot_rows`` output; entries that do not parse are left out (the file
    is only a cache: the catalog, read right after, is the truth)."""
    out: list[CatalogRecord] = []
    if not isinstance(rows, list):
        return out
    for row in rows:
        try:
            preview = row.get("preview")
            info = FileInfo(
                path=Path(os.fsdecode(bytes.fromhex(row["path"]))),
                kind=_enum(ModelKind, row["kind"], ModelKind.UNKNOWN),
                base=_enum(BaseArch, row["base"], BaseArch.UNKNOWN),
                lora_format=_enum(LoraFormat, row.get("format", ""), LoraFormat.NONE),
                status=str(row.get("status", "ok")),
                error=str(row.get("error", "")),
                size=int(row.get("size", 0)),
                mtime=float(row.get("mtime", 0.0)),
                rank=row["rank"] if isinstance(row.get("rank"), int) else None,
                title=str(row.get("title", "")),
                trigger_words=tuple(str(w) for w in row.get("words", ())),
                preview=Path(os.fsdecode(bytes.fromhex(preview))) if preview else None,
                network=str(row.get("network", "")),
                is_dir=bool(row.get("is_dir", False)),
            )
            out.append(
                CatalogRecord(
                    info=info,
                    root=Path(os.fsdecode(bytes.fromhex(row["root"]))),
                    missing=bool(row.get("missing", False)),
                    added_at=float(row.get("added_at", 0.0)),
                    user=UserData(
                        favorite=bool(row.get("favorite", False)), tags=tuple(str(t) for t in row.get("tags", ()))
                    ),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return out


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
        self._index = LibraryIndex()
        self._keys: list[str] = []  # the visible rows, in order
        self._row_of: dict[str, int] | None = None  # built on first use after each change
        self._by_preview: dict[str, list[str]] | None = None
        self._local_edits: set[str] = set()  # keys edited here since the last index came in
        self._leaving: dict[str, CatalogRecord] = {}  # the previous index's records, until applied
        self._query = LibraryQuery()
        self._current_base = ""
        self._thumbs: dict[str, QPixmap] = {}
        self._asked: set[str] = set()
        self._hidden_incompatible = 0
        self._job: _FilterJob | None = None
        self._slice_timer = QTimer(self)
        self._slice_timer.setSingleShot(True)
        self._slice_timer.setInterval(0)
        self._slice_timer.timeout.connect(self._on_slice_timer_timeout)

    # -- data in ---------------------------------------------------------------------------------

    def set_records(self, records: Iterable[CatalogRecord]) -> None:
        """Show ``records`` (building their index here: a worker should call ``build_index``)."""
        self.set_index(build_index(records, self._index))

    def index_snapshot(self) -> LibraryIndex:
        """The index the model holds now, to build the next one against (in a worker)."""
        return self._index

    def set_index(self, index: LibraryIndex) -> None:
        """Show ``index``: rows inserted, removed and changed, not reset."""
        changed = set(index.changed)
        if index.base is not self._index:
            # Built against another index: whatever is in both may have changed.
            changed = {k for k in index.records if k in self._index.records}
        if self._local_edits:
            # Edited here after the worker read the catalog: the model's record is the newer one.
            records = dict(index.records)
            hay = dict(index.hay)
            for key in self._local_edits:
                mine = self._index.records.get(key)
                if mine is not None and key in records:
                    records[key] = mine
                    hay[key] = self._index.hay.get(key) or haystack(mine)
            index = LibraryIndex(records, hay, index.orders, index.changed, index.base)
            self._local_edits.clear()
        # The rows on screen stay readable until the view has let them go (also across two indexes
        # arriving during one sliced filter).
        self._leaving = {**self._leaving, **self._index.records} if self._job is not None else self._index.records
        self._index = index
        self._by_preview = None
        self._refilter(changed)

    def update_record(self, record: CatalogRecord) -> None:
        """Replace one record in place (e.g. after the user edited it); keeps the view still."""
        key = str(record.path)
        if key not in self._index.records:
            return
        old = self._index
        records = dict(old.records)
        records[key] = record
        hay = dict(old.hay)
        hay[key] = haystack(record)
        self._index = LibraryIndex(records, hay, old.orders, frozenset({key}), old)
        self._local_edits.add(key)
        self._by_preview = None
        self._refilter({key})

    def set_query(self, query: LibraryQuery) -> None:
        if query != self._query:
            self._query = query
            self._refilter(set())

    def query(self) -> LibraryQuery:
        return self._query

    def set_current_base(self, base: str) -> None:
        """The current checkpoint's base ("" = no checkpoint: no badges, nothing hidden)."""
        if base == self._current_base:
            return
        self._current_base = base
        if self._query.compatible_only or self._hidden_incompatible:
            self._refilter(set())  # rows come and go
        elif self._keys:  # only the badges change: keep the view (selection, scroll) still
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._keys) - 1, 0), [COMPAT_ROLE])
            self.counts_changed.emit(len(self._keys), len(self._index.records), 0)

    def current_base(self) -> str:
        return self._current_base

    def set_thumbnail(self, preview: str, pixmap: QPixmap) -> None:
        self._thumbs[preview] = pixmap
        if self._by_preview is None:
            self._by_preview = {}
            for key, r in self._index.records.items():
                if r.info.preview is not None:
                    self._by_preview.setdefault(str(r.info.preview), []).append(key)
        rows = self._rows_index()
        for key in self._by_preview.get(preview, ()):
            row = rows.get(key, -1)
            if row >= 0:
                idx = self.index(row, 0)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])

    def forget_thumbnail(self, preview: str) -> None:
        """``preview`` was rewritten (e.g. "Make preview"): the next paint loads it again."""
        self._thumbs.pop(preview, None)
        self._asked.discard(preview)

    def thumbnail(self, preview: str) -> QPixmap | None:
        """The loaded thumbnail of ``preview``, if any."""
        return self._thumbs.get(preview)

    def is_filtering(self) -> bool:
        """True while a sliced filter over a big library is still running."""
        return self._job is not None

    # -- filtering -------------------------------------------------------------------------------

    def _refilter(self, changed: set[str]) -> None:
        job = _FilterJob(self._index, self._query, self._current_base, changed, self._keys)
        if self._job is not None:  # a newer query or index: the running slices are moot
            job.changed |= self._job.changed
        self._job = job
        if len(self._index.records) <= SLICE_ROWS and len(self._keys) <= SLICE_ROWS:
            job.run(None)
            self._finish_job()
        else:
            self._on_slice_timer_timeout()

    @Slot()
    def _on_slice_timer_timeout(self) -> None:
        job = self._job
        if job is None:
            return
        if job.run(time.perf_counter() + SLICE_SECONDS):
            self._finish_job()
        else:
            self._slice_timer.start()

    def _finish_job(self) -> None:
        job = self._job
        assert job is not None
        assert job.plan is not None
        self._job = None
        self._slice_timer.stop()
        self._hidden_incompatible = job.hidden
        self._apply(job.plan)
        self._leaving = {}
        self.counts_changed.emit(len(self._keys), len(self._index.records), self._hidden_incompatible)

    def _rows_index(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {k: i for i, k in enumerate(self._keys)}
        return self._row_of

    def _apply(self, plan: _Plan) -> None:
        """Move the view to ``plan.new`` with the signals the plan chose: none, a few row ranges
        removed and inserted, or one layout change."""
        if plan.same:
            self._emit_changed(plan.changed)
            return
        if plan.relayout:
            self.layoutAboutToBeChanged.emit()
            old = self._keys
            before = self.persistentIndexList()
            self._keys, self._row_of = plan.new, plan.rows
            after = []
            for p in before:
                row = plan.rows.get(old[p.row()], -1) if 0 <= p.row() < len(old) else -1
                after.append(self.index(row, p.column()) if row >= 0 else QModelIndex())
            self.changePersistentIndexList(before, after)
            self.layoutChanged.emit()
            self._emit_changed(plan.changed)
            return
        keys = list(self._keys)
        for first, last in reversed(plan.removed):  # from the bottom: earlier row numbers stay valid
            self.beginRemoveRows(QModelIndex(), first, last)
            del keys[first : last + 1]
            self._keys, self._row_of = keys, None
            self.endRemoveRows()
        for first, last in plan.inserted:  # from the top: each range lands where ``new`` has it
            self.beginInsertRows(QModelIndex(), first, last)
            keys[first:first] = plan.new[first : last + 1]
            self._keys, self._row_of = keys, None
            self.endInsertRows()
        self._keys, self._row_of = plan.new, plan.rows
        self._emit_changed(plan.changed)

    def _emit_changed(self, changed: set[str]) -> None:
        if not changed or not self._keys:
            return
        rows = self._rows_index()
        hit = sorted(rows[k] for k in changed if k in rows)
        if not hit:
            return
        last_col = self.columnCount() - 1
        if len(hit) > MANY_CHANGED:
            self.dataChanged.emit(self.index(hit[0], 0), self.index(hit[-1], last_col))
            return
        for first, last in _runs(hit):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_col))

    # -- Qt model API ----------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._keys)

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

    def _record(self, row: int) -> CatalogRecord:
        key = self._keys[row]
        found = self._index.records.get(key)
        return found if found is not None else self._leaving[key]

    def record_at(self, row: int) -> CatalogRecord | None:
        return self._record(row) if 0 <= row < len(self._keys) else None

    def row_of(self, path: str) -> int:
        return self._rows_index().get(path, -1)

    def record_for(self, path: str) -> CatalogRecord | None:
        return self._index.records.get(path)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._keys):
            return None
        r = self._record(index.row())
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
            return pix
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
        paths = list(dict.fromkeys(self._keys[i.row()] for i in indexes if i.isValid()))
        text = "\n".join(paths)
        mime.setData(MIME_PATH, os.fsencode(text) if text else b"")
        mime.setText(clean_text(text))
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def total(self) -> int:
        """How many records the model holds (not only the visible ones)."""
        return len(self._index.records)

    def records(self) -> list[CatalogRecord]:
        """All records the model holds (not only the visible ones)."""
        return list(self._index.records.values())

    def visible_records(self, limit: int) -> list[CatalogRecord]:
        """The first ``limit`` rows as shown (for the next start's first screen)."""
        return [self._record(row) for row in range(min(limit, len(self._keys)))]


def _moved(old: list[str], new: list[str], candidates: set[str]) -> set[str]:
    """Which of ``candidates`` (keys in both lists) changed place: those that follow another
    unchanged key in ``new`` than in ``old``; all of them when that alone does not explain it."""

    def after(keys: list[str]) -> dict[str, str | None]:
        last: str | None = None
        out: dict[str, str | None] = {}
        for k in keys:
            if k in candidates:
                out[k] = last
            else:
                last = k
        return out

    before_old, before_new = after(old), after(new)
    moved = {k for k in candidates if before_old.get(k) != before_new.get(k)}
    if [k for k in old if k not in moved] != [k for k in new if k not in moved]:
        return set(candidates)
    return moved


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) ranges of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


@dataclass
class _Plan:
    """How the view goes from the rows it shows to ``new``."""

    new: list[str]
    rows: dict[str, int]  # the row of every key in ``new`` (empty when ``same``)
    changed: set[str]  # keys whose record changed (a ``dataChanged`` where still shown)
    same: bool = False  # the same rows: only ``changed``
    relayout: bool = False  # one layout change (rows all over, or a new order)
    removed: list[tuple[int, int]] = field(default_factory=list)  # ranges of the old rows
    inserted: list[tuple[int, int]] = field(default_factory=list)  # ranges of the new rows


def _add_runs(runs: list[tuple[int, int]], rows: Iterable[int]) -> None:
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))


class _FilterJob:
    """One query over an index, and the plan to show its result, in resumable steps of ``STEP``
    rows: ``run(deadline)`` works until the deadline and returns True once ``plan`` is ready."""

    STEP = 2048

    def __init__(
        self, index: LibraryIndex, query: LibraryQuery, current_base: str, changed: set[str], old: list[str]
    ) -> None:
        self.index = index
        self.changed = set(changed)
        self.old = old
        self.order = index.orders.get(query.sort) or list(index.records)
        self.words = query.text.lower().split()
        self.query = query
        self.current_base = current_base if query.compatible_only else ""
        kinds: tuple[ModelKind, ...] | None = None
        if query.kind is ModelKind.LORA:
            kinds = (ModelKind.LORA, ModelKind.LYCORIS)
        elif query.kind is ModelKind.CHECKPOINT:
            kinds = (ModelKind.CHECKPOINT, ModelKind.PIPELINE)
        elif query.kind is not None:
            kinds = (query.kind,)
        self.kinds = kinds
        self.hidden = 0
        self.plan: _Plan | None = None
        self._steps = self._work()

    def run(self, deadline: float | None) -> bool:
        for _ in self._steps:
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return self.plan is not None  # set as the very last step

    def _work(self) -> Iterator[None]:
        step = self.STEP
        accepted: list[str] = []
        for pos in range(0, len(self.order), step):
            accepted += self._accept(self.order[pos : pos + step])
            yield
        old = self.old
        if accepted == old:  # the rows the view has, row numbers and all
            self.plan = _Plan(old, {}, self.changed, same=True)
            return
        rows: dict[str, int] = {}
        for pos in range(0, len(accepted), step):
            rows.update(zip(accepted[pos : pos + step], range(pos, pos + step), strict=False))
            yield
        old_set: set[str] = set()
        for pos in range(0, len(old), step):
            old_set.update(old[pos : pos + step])
            yield
        kept_old: list[str] = []
        kept_new: list[str] = []
        for pos in range(0, len(old), step):
            kept_old += [k for k in old[pos : pos + step] if k in rows]
            yield
        for pos in range(0, len(accepted), step):
            kept_new += [k for k in accepted[pos : pos + step] if k in old_set]
            yield
        moved: set[str] = set()
        if kept_old != kept_new and self.changed:
            # A changed record that moved (a new title, size or date) is taken out and put back in;
            # one that kept its place stays (and keeps its selection).
            moved = _moved(kept_old, kept_new, self.changed & old_set & rows.keys())
            kept_old = [k for k in kept_old if k not in moved]
            kept_new = [k for k in kept_new if k not in moved]
        plan = _Plan(accepted, rows, self.changed)
        if kept_old != kept_new:
            plan.relayout = True  # a new order
            self.plan = plan
            return
        for pos in range(0, len(old), step):
            _add_runs(
                plan.removed, (i for i, k in enumerate(old[pos : pos + step], pos) if k not in rows or k in moved)
            )
            if len(plan.removed) > MAX_RUNS:
                break
            yield
        for pos in range(0, len(accepted), step):
            if len(plan.removed) + len(plan.inserted) > MAX_RUNS:
                break
            chunk = accepted[pos : pos + step]
            _add_runs(plan.inserted, (i for i, k in enumerate(chunk, pos) if k not in old_set or k in moved))
            yield
        plan.relayout = len(plan.removed) + len(plan.inserted) > MAX_RUNS
        self.plan = plan

    def _accept(self, chunk: list[str]) -> list[str]:
        records, hay, words = self.index.records, self.index.hay, self.words
        q, kinds, base = self.query, self.kinds, self.current_base
        plain = kinds is None and q.base is None and not q.favorites_only and not q.root and q.show_missing and not base
        if plain:  # the common case, typing in the search box: one comprehension
            if not words:
                return chunk
            return [k for k in chunk if all(w in (hay.get(k) or self._hay(k)) for w in words)]
        out = []
        for k in chunk:
            r = records[k]
            if kinds is not None and r.info.kind not in kinds:
                continue
            if q.base is not None and r.info.base is not q.base:
                continue
            if q.favorites_only and not r.user.favorite:
                continue
            if q.root and str(r.root) != q.root:
                continue
            if not q.show_missing and r.missing:
                continue
            if words and not all(w in (hay.get(k) or self._hay(k)) for w in words):
                continue
            if base and compatibility(r, base) == "mismatch":
                self.hidden += 1
                continue
            out.append(k)
        return out

    def _hay(self, key: str) -> str:
        text = haystack(self.index.records[key])
        self.index.hay[key] = text  # the index's own cache: built once, where it was missing
        return text
