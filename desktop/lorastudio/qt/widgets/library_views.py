"""The library's central area: the card grid or the list, or a page saying why nothing is shown."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.types import ModelKind
from lorastudio.qt.models.library_model import LibraryModel
from lorastudio.qt.widgets.library_cards import LibraryCardDelegate, LibraryListNameDelegate

NAME_CHARS = 30  # the list's Name column shows about this many characters before eliding


def card_grid(model: LibraryModel) -> QListView:
    """The cards view: fixed-size cards, laid out in batches so 10k entries stay responsive."""
    grid = QListView()
    grid.setViewMode(QListView.ViewMode.IconMode)
    grid.setResizeMode(QListView.ResizeMode.Adjust)
    grid.setMovement(QListView.Movement.Static)
    grid.setUniformItemSizes(True)
    grid.setSpacing(4)
    grid.setLayoutMode(QListView.LayoutMode.Batched)
    grid.setBatchSize(200)
    grid.setItemDelegate(LibraryCardDelegate(grid))
    grid.setModel(model)
    grid.setDragEnabled(True)
    grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
    grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    grid.setWordWrap(True)
    return grid


def list_table(model: LibraryModel) -> QTableView:
    """The list view: one row per entry, a small thumbnail in the name column."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setTabKeyNavigation(False)  # Tab leaves the list; arrows move between rows
    table.setDragEnabled(True)
    table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(24)
    table.setItemDelegateForColumn(0, LibraryListNameDelegate(table))
    header = table.horizontalHeader()
    header.setMinimumSectionSize(48)
    # The name is what people read: it gets a fixed, readable width (about 30 characters plus the
    # thumbnail) at every panel width, the other columns follow and the last one takes what is
    # left; a narrow panel scrolls sideways. (Stretching the name gave it what the other fixed
    # columns left over: ~40 px in the side panel.) Fixed widths, not ResizeToContents, which
    # would measure all 10k rows on every change.
    chars = table.fontMetrics().averageCharWidth()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(True)
    widths = (NAME_CHARS * chars + LibraryListNameDelegate.ICON + 16, 9 * chars, 8 * chars, 8 * chars, 16 * chars, 0)
    for column, width in enumerate(widths):
        if width:
            table.setColumnWidth(column, width)
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    return table


class LibraryEmptyState(QWidget):
    """A short explanation and three buttons; the owner connects ``find_button`` (find existing
    installs), ``add_button`` (add a folder) and ``demo_button`` (create the demo library)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(
            "Your library is empty.\n\nDrop model files here to install them, use the models of "
            "an AUTOMATIC1111, Forge, ComfyUI or InvokeAI install where they are, or create a small "
            "demo library to try LoRA Studio out."
        )
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.find_button = QPushButton("Find existing installs…")
        self.add_button = QPushButton("Add folder…")
        self.demo_button = QPushButton("Create demo library")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.find_button)
        row.addWidget(self.add_button)
        row.addStretch(1)
        row2 = QHBoxLayout()
        row2.addStretch(1)
        row2.addWidget(self.demo_button)
        row2.addStretch(1)
        el = QVBoxLayout(self)
        el.addStretch(1)
        el.addWidget(self.label)
        el.addLayout(row)
        el.addLayout(row2)
        el.addStretch(2)


class LibraryViews(QStackedWidget):
    """Three pages over one model: ``EMPTY`` (nothing in the library), ``ENTRIES`` (``views``: the
    ``grid`` of cards or the ``table``) and ``NO_MATCH`` (the search and filters hide everything).

    The owner connects the views' selection and activation, and the empty page's buttons.
    """

    EMPTY, ENTRIES, NO_MATCH = 0, 1, 2
    PREVIEW_KINDS = (ModelKind.LORA, ModelKind.LYCORIS)
    # "Make preview" (list of one path) / "Make missing previews" (the shown LoRAs without one):
    # (paths, overwrite) — the window turns each into a queued generation.
    previews_requested = Signal(list, bool)

    def __init__(self, model: LibraryModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._as_list = False
        self.grid = card_grid(model)
        self.table = list_table(model)
        self.views = QStackedWidget()
        self.views.addWidget(self.grid)
        self.views.addWidget(self.table)
        self.empty = LibraryEmptyState()
        self.no_match = QLabel("Nothing matches the search and filters.")
        self.no_match.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self.empty)  # EMPTY
        self.addWidget(self.views)  # ENTRIES
        self.addWidget(self.no_match)  # NO_MATCH
        for view in (self.grid, self.table):
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(self._on_context_menu)

    def preview_menu(self, view: QAbstractItemView, pos: QPoint) -> QMenu | None:
        """The context menu at ``pos`` (None when it would be empty); tests trigger its actions."""
        index = view.indexAt(pos)
        rec = self._model.record_at(index.row()) if index.isValid() else None
        missing = [str(r.path) for r in (self._model.record_at(i) for i in range(self._model.rowCount()))
                   if r is not None and r.info.kind in self.PREVIEW_KINDS and r.info.preview is None]
        menu = QMenu(view)
        if rec is not None and rec.info.kind in self.PREVIEW_KINDS:
            view.setCurrentIndex(index)
            path = str(rec.path)
            menu.addAction("Make preview", lambda: self.previews_requested.emit([path], True))
        if missing:
            menu.addAction(f"Make missing previews ({len(missing)} shown)",
                           lambda: self.previews_requested.emit(missing, False))
        return menu if menu.actions() else None

    @Slot(QPoint)
    def _on_context_menu(self, pos: QPoint) -> None:
        view = self.active_view()
        menu = self.preview_menu(view, pos)
        if menu is not None:
            menu.exec(view.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def active_view(self) -> QAbstractItemView:
        return self.table if self._as_list else self.grid

    def selected_path(self) -> str:
        return self._path_at(self.active_view())

    def select_path(self, path: str) -> None:
        row = self._model.row_of(path)
        if row >= 0:
            view = self.active_view()
            view.setCurrentIndex(self._model.index(row, 0))
            view.scrollTo(view.currentIndex())

    @Slot(bool)
    def show_list(self, as_list: bool) -> None:
        """Show the list (or the cards), keeping the entry selected in the view being left."""
        path = self._path_at(self.active_view())
        self._as_list = as_list
        self.views.setCurrentIndex(1 if as_list else 0)
        if path:
            self.select_path(path)

    def show_page(self) -> None:
        """The page that fits the model: empty library, entries, or nothing matching."""
        if not self._model.total():
            self.setCurrentIndex(self.EMPTY)
        elif self._model.rowCount() == 0:
            self.setCurrentIndex(self.NO_MATCH)
        else:
            self.setCurrentIndex(self.ENTRIES)

    def _path_at(self, view: QAbstractItemView) -> str:
        rec = self._model.record_at(view.currentIndex().row()) if view.currentIndex().isValid() else None
        return str(rec.path) if rec else ""
