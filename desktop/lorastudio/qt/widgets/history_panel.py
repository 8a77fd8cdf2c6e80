"""The history of results: a thumbnail strip over the outputs folder, with each image's parameters.

A ``QListView`` in icon mode over ``HistoryModel`` (no widget per item); thumbnails come from the
history thread. Clicking shows an image large, "Reuse" restores its prompt, settings and LoRA mix.
This module also holds the restore glue the main window uses for history reuse and PNG drops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.history import History, HistoryEntry, read_entry
from lorastudio.core.engine.restore import LibraryLora, LibraryModel
from lorastudio.core.paths import DataDir
from lorastudio.core.types import ModelKind
from lorastudio.qt.widgets.compare_dialog import CompareDialog, compare_files
from lorastudio.qt.widgets.dialogs import ask_yes
from lorastudio.qt.workers.history_worker import THUMB_SIZE, HistoryLoader

PathRole = Qt.ItemDataRole.UserRole + 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
INDEX_NAME = "history-index.json"
MIN_CELL = 104  # narrowest thumbnail cell: the grid has as many columns as fit, and no gap at the right
CAPTION_HEIGHT = 22  # one line of caption under a thumbnail


def caption(entry: HistoryEntry, now: float | None = None) -> str:
    """What tells results apart under their thumbnails: when (the time today, else the day) and the
    seed, then the prompt's start. A batch of one prompt differs in its seeds; the prompt itself is
    in the tooltip and the side panel."""
    when = entry.mtime_ns / 1e9
    today = time.localtime(now if now is not None else time.time())[:3] == time.localtime(when)[:3]
    stamp = time.strftime("%H:%M" if today else "%d %b", time.localtime(when))
    seed = entry.info.params.get("Seed", "") if entry.parameters else ""
    head = f"{stamp} · {seed}" if seed else stamp
    prompt = entry.info.prompt.strip().split("\n", 1)[0] if entry.parameters else ""
    return f"{head} · {prompt}" if prompt else f"{head} · {entry.path.name}"


# -- restore glue (history reuse and PNG drops) ------------------------------------------------


def library_from_catalog(catalog_db: Path) -> tuple[list[LibraryLora], list[LibraryModel]]:
    """The library's LoRAs and checkpoints with their hashes, as restore wants them."""
    from lorastudio.core.library.catalog import Catalog

    loras: list[LibraryLora] = []
    models: list[LibraryModel] = []
    if not catalog_db.exists():
        return loras, models
    with Catalog(catalog_db) as catalog:
        for rec in catalog.records(include_missing=False):
            name = rec.info.title or rec.path.stem
            if rec.info.kind in (ModelKind.LORA, ModelKind.LYCORIS):
                loras.append((rec.path, name, rec.sha256, rec.addnet))
            elif rec.info.kind in (ModelKind.CHECKPOINT, ModelKind.PIPELINE):
                models.append((rec.path, name, rec.sha256))
    return loras, models


def dropped_image(mime: Any) -> str:
    """The first local image file in drag data, or ""."""
    if mime is None or not mime.hasUrls():
        return ""
    for url in mime.urls():
        local = url.toLocalFile()
        if local.lower().endswith(IMAGE_SUFFIXES):
            return str(local)
    return ""


class ImageDropFilter(QObject):
    """Catches image files dropped anywhere on one window, even over text boxes that would
    otherwise paste the file's URL. Install on the application. Signals: image_dropped(str path)."""

    image_dropped = Signal(str)

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self._window = window
        window.setAcceptDrops(True)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            return False
        if not (isinstance(obj, QWidget) and obj.window() is self._window):
            return False
        path = dropped_image(event.mimeData())  # type: ignore[attr-defined]
        if not path:
            return False
        if kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            event.acceptProposedAction()
            self.image_dropped.emit(path)
        else:
            assert isinstance(event, QDragEnterEvent | QDropEvent)
            event.acceptProposedAction()
        return True


# -- model ---------------------------------------------------------------------------------------


class HistoryModel(QAbstractListModel):
    """Past results, newest first. Display: caption; decoration: thumbnail; tooltip: parameters."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[HistoryEntry] = []
        self._icons: dict[str, QIcon] = {}
        self._rows: dict[str, int] = {}
        self._placeholder: QIcon | None = None  # made on first use: pixmaps need a QGuiApplication

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return caption(entry)
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(str(entry.path))
            if icon is None:
                self._placeholder = self._placeholder or _placeholder_icon()
                icon = self._placeholder
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.describe()
        if role == PathRole:
            return str(entry.path)
        return None

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries)

    def entry(self, row: int) -> HistoryEntry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def row_of(self, path: str) -> int:
        return self._rows.get(path, -1)

    def set_entries(self, entries: list[HistoryEntry]) -> None:
        self.beginResetModel()
        self._entries = list(entries)
        self._reindex()
        live = {str(e.path) for e in entries}
        self._icons = {p: icon for p, icon in self._icons.items() if p in live}
        self.endResetModel()

    def prepend(self, entries: list[HistoryEntry]) -> None:
        fresh = [e for e in entries if str(e.path) not in self._rows]
        if not fresh:
            return
        self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
        self._entries[0:0] = fresh
        self._reindex()
        self.endInsertRows()

    def remove(self, path: str) -> None:
        row = self.row_of(path)
        if row < 0:
            return
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._entries[row]
        self._icons.pop(path, None)
        self._reindex()
        self.endRemoveRows()

    def set_thumbnail(self, path: str, image: QImage) -> None:
        row = self.row_of(path)
        if row < 0:
            return
        self._icons[path] = QIcon(QPixmap.fromImage(image))
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _reindex(self) -> None:
        self._rows = {str(e.path): i for i, e in enumerate(self._entries)}


def _placeholder_icon() -> QIcon:
    pixmap = QPixmap(THUMB_SIZE, THUMB_SIZE)
    pixmap.fill(QColor("#2a2d34"))
    return QIcon(pixmap)


# -- panel ---------------------------------------------------------------------------------------


class HistoryPanel(QWidget):
    """Signals: image_chosen(str path), reuse_requested(str path), failed(str message)."""

    image_chosen = Signal(str)
    reuse_requested = Signal(str)
    failed = Signal(str)

    def __init__(self, data: DataDir, parent: QWidget | None = None, auto_scan: bool = True) -> None:
        super().__init__(parent)
        self.data = data
        self.outputs = data.outputs
        self._history = History(data.outputs, data.cache / INDEX_NAME)
        self.loader = HistoryLoader(data.outputs, data.cache / INDEX_NAME, data.thumbnails / "history", self)
        self.model = HistoryModel(self)

        title = QLabel("History")
        title.setObjectName("sectionTitle")
        self.count = QLabel("")
        self.count.setObjectName("muted")
        self.refresh_button = QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("Re-read the outputs folder")
        self.refresh_button.setAutoRaise(True)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(title)
        head.addWidget(self.count, 1)
        head.addWidget(self.refresh_button)

        self.view = _HistoryGrid()
        self.view.setModel(self.model)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setFlow(QListView.Flow.LeftToRight)
        self.view.setWrapping(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(2)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setAccessibleName("History")
        self.empty = QLabel(
            "No results yet. Generated images appear here, newest first, "
            "with their parameters; they stay here between sessions."
        )
        self.empty.setWordWrap(True)  # a fixed line break made 361 px the history's minimum width
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)

        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("Select an image to see its parameters.")
        self.details.setAccessibleName("Parameters")
        self.reuse_button = QPushButton("Reuse")
        self.reuse_button.setToolTip("Restore this image's prompt, settings and LoRA mix")
        self.folder_button = QPushButton("Folder")
        self.folder_button.setToolTip("Open the folder that holds this image")
        self.delete_button = QPushButton("Delete…")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Ctrl+click two images, then compare them side by side or split")
        self.compare_dialog: CompareDialog | None = None  # the last compare window opened
        # Two rows of two: four push buttons in a row need 338 px, more than the side panel gets
        # at 1024 px, and the last one was cut off.
        buttons = QGridLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.reuse_button, 0, 0)
        buttons.addWidget(self.folder_button, 0, 1)
        buttons.addWidget(self.delete_button, 1, 0)
        buttons.addWidget(self.compare_button, 1, 1)
        side = self.side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.addWidget(self.details, 1)
        side_lay.addLayout(buttons)
        side.setMinimumWidth(180)  # two buttons a row fit; at 1024 px the thumbnails keep a whole column
        side.setMaximumWidth(360)

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.stack, 3)  # the thumbnails get the room; the parameters scroll
        body.addWidget(side, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(4)
        lay.addLayout(head)
        lay.addLayout(body, 1)

        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.reuse_button.clicked.connect(self._on_reuse_clicked)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.compare_button.clicked.connect(self._on_compare_clicked)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.activated.connect(self._on_view_clicked)
        self.view.customContextMenuRequested.connect(self._on_context_menu)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.model.modelReset.connect(self._on_rows_changed)
        self.model.rowsInserted.connect(self._on_rows_changed)
        self.model.rowsRemoved.connect(self._on_rows_changed)
        self.loader.scanned.connect(self._on_loader_scanned)
        self.loader.thumbnail_ready.connect(self._on_loader_thumbnail)
        self.loader.failed.connect(self._on_loader_failed)
        self._on_rows_changed()
        if auto_scan:
            self.refresh()

    # -- public -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the outputs folder in the history thread."""
        self.loader.refresh()

    def add_results(self, paths: Sequence[Path]) -> None:
        """New results of a generation: shown first, without rescanning the folder."""
        entries = [e for e in (read_entry(Path(p).resolve()) for p in paths) if e is not None]
        entries.sort(key=lambda e: (e.mtime_ns, e.path.name), reverse=True)
        self.model.prepend(entries)
        if entries:
            self.view.setCurrentIndex(self.model.index(0))
            self.loader.request_thumbnails(entries)

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedIndexes()})
        return [str(self.model.entry(r).path) for r in rows if self.model.entry(r) is not None]  # type: ignore[union-attr]

    def current_path(self) -> str:
        entry = self.model.entry(self.view.currentIndex().row())
        return str(entry.path) if entry else ""

    def select_path(self, path: str) -> None:
        row = self.model.row_of(path)
        if row >= 0:
            self.view.setCurrentIndex(self.model.index(row))

    def delete_paths(self, paths: Sequence[str]) -> None:
        """Delete image files (no confirmation: callers ask first)."""
        for path in paths:
            try:
                self._history.delete(Path(path))
            except OSError as err:
                self.failed.emit(f"Could not delete {Path(path).name}: {err.strerror or err}")
                continue
            self.model.remove(path)

    def shutdown(self) -> None:
        self.loader.shutdown()

    # -- things tests replace -----------------------------------------------------------------
    def confirm(self, question: str) -> bool:
        return ask_yes(self, "Delete images", question)

    def open_folder(self, folder: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- slots ------------------------------------------------------------------------------
    @Slot(object)
    def _on_loader_scanned(self, entries: object) -> None:
        current = self.current_path()
        self.model.set_entries(list(entries))  # type: ignore[call-overload]
        if current:
            self.select_path(current)
        self.loader.request_thumbnails(self.model.entries())

    @Slot(str, QImage)
    def _on_loader_thumbnail(self, path: str, image: QImage) -> None:
        self.model.set_thumbnail(path, image)

    @Slot(str)
    def _on_loader_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_rows_changed(self) -> None:
        n = self.model.rowCount()
        self.count.setText(f"{n} image{'s' if n != 1 else ''}" if n else "")
        self.stack.setCurrentWidget(self.view if n else self.empty)
        self.side.setVisible(bool(n))  # nothing to describe or act on yet
        self._on_selection_changed()

    @Slot()
    def _on_selection_changed(self) -> None:
        has = bool(self.view.selectionModel().selectedIndexes()) or bool(self.current_path())
        for button in (self.reuse_button, self.delete_button):
            button.setEnabled(has)
        self.compare_button.setEnabled(len(self.selected_paths()) == 2)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        entry = self.model.entry(current.row())
        self.details.setPlainText(entry.describe() if entry else "")
        self._on_selection_changed()

    @Slot(QModelIndex)
    def _on_view_clicked(self, index: QModelIndex) -> None:
        entry = self.model.entry(index.row())
        if entry is not None:
            self.image_chosen.emit(str(entry.path))

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_reuse_clicked(self) -> None:
        path = self.current_path()
        if path:
            self.reuse_requested.emit(path)

    @Slot()
    def _on_folder_clicked(self) -> None:
        path = self.current_path()
        self.open_folder(Path(path).parent if path else self.outputs)

    @Slot()
    def _on_delete_clicked(self) -> None:
        paths = self.selected_paths() or ([self.current_path()] if self.current_path() else [])
        if not paths:
            return
        what = Path(paths[0]).name if len(paths) == 1 else f"these {len(paths)} images"
        if self.confirm(f"Delete {what} from disk? This cannot be undone."):
            self.delete_paths(paths)

    @Slot(QPoint)
    def _on_context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction("Reuse parameters", self._on_reuse_clicked)
        menu.addAction("Copy parameters", self._on_copy_parameters)
        menu.addAction("Open folder", self._on_folder_clicked)
        compare = menu.addAction("Compare", self._on_compare_clicked)
        compare.setEnabled(len(self.selected_paths()) == 2)
        menu.addSeparator()
        menu.addAction("Delete…", self._on_delete_clicked)
        menu.popup(self.view.viewport().mapToGlobal(pos))

    @Slot()
    def _on_compare_clicked(self) -> None:
        paths = self.selected_paths()
        if len(paths) != 2:
            return
        entries = [self.model.entry(self.model.row_of(p)) for p in paths]
        labels = [caption(e) if e is not None else Path(p).name for e, p in zip(entries, paths, strict=True)]
        try:
            self.compare_dialog = compare_files(Path(paths[0]), Path(paths[1]), labels[0], labels[1], self)
        except OSError as err:
            self.failed.emit(str(err))

    @Slot()
    def _on_copy_parameters(self) -> None:
        entry = self.model.entry(self.view.currentIndex().row())
        if entry is not None:
            QGuiApplication.clipboard().setText(entry.parameters)


class _HistoryGrid(QListView):
    """The thumbnail grid: on every resize the cells widen so that whole columns fill the width
    (a fixed cell size left a strip as wide as a thumbnail empty at the right)."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        self.fit_grid()
        super().resizeEvent(event)

    def fit_grid(self) -> None:
        # The viewport's width less a scroll bar's: the grid must fit with the bar shown too.
        width = max(MIN_CELL, self.viewport().width() - 2 * self.spacing() - 1)
        columns = max(1, width // MIN_CELL)
        cell = width // columns
        # A short panel still shows a whole cell: the thumbnail also fits the height with its
        # caption under it (a wide single column made it taller than the panel, caption hidden).
        tall = self.viewport().height() - CAPTION_HEIGHT - 2 * self.spacing()
        icon = max(48, min(cell - 12, tall))
        if self.gridSize() != QSize(cell, icon + CAPTION_HEIGHT):
            self.setIconSize(QSize(icon, icon))
            self.setGridSize(QSize(cell, icon + CAPTION_HEIGHT))

    def columns(self) -> int:
        """How many thumbnails a row holds now."""
        return max(1, (self.viewport().width() - 2 * self.spacing()) // max(1, self.gridSize().width()))


def install_image_drop(window: QWidget) -> ImageDropFilter:
    """Install an ``ImageDropFilter`` for ``window`` on the application; connect its signal."""
    drop = ImageDropFilter(window)
    app = QApplication.instance()
    if app is not None:
        app.installEventFilter(drop)
    return drop
