"""The library browser: a grid of cards (or a list) over the catalog, filters and a details pane.

Files and folders dropped on the panel (or picked with Install…) are installed into the data dir;
the library rescans when the app comes back to the foreground (at most every 10 s) and, a moment
after a change, when a file appears in or leaves a top-level model folder of a source.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QFileSystemWatcher,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QThread,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QIcon,
    QImage,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.library.catalog import Catalog, CatalogRecord, UserData
from lorastudio.core.library.importer import ImportMode
from lorastudio.core.library.scanner import ScanResult, default_roots
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import load_settings, save_settings
from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.models.library_model import (
    COMPAT_ROLE,
    KIND_LABELS,
    MIME_PATH,
    RECORD_ROLE,
    LibraryModel,
    LibraryQuery,
    SortKey,
)
from lorastudio.qt.widgets.library_details import LibraryDetails
from lorastudio.qt.widgets.library_installer import LibraryInstaller
from lorastudio.qt.workers.library_worker import LibraryWorker, ThumbnailWorker

CARD_W, CARD_H, THUMB_H = 176, 236, 176
FOCUS_RESCAN_INTERVAL_S = 10.0  # a warm rescan of 10k files costs ~0.2 s: often enough, not on every alt-tab
WATCH_DEBOUNCE_MS = 1500  # a copy in progress changes a folder many times: scan once it settles
MAX_WATCHED_FOLDERS = 256  # inotify watches are a per-user budget; deeper changes wait for focus
WIDE_LAYOUT_PX = 1000  # from this width on, the details pane sits beside the cards
OFFERED_INSTALLS_KEY = "offered_existing_installs"  # Settings.extra flag: the first-run offer is made once
_KIND_COLORS = {
    ModelKind.LORA: "#4f7cac",
    ModelKind.LYCORIS: "#6b5fa8",
    ModelKind.CHECKPOINT: "#3f8f6b",
    ModelKind.PIPELINE: "#3f8f6b",
    ModelKind.EMBEDDING: "#a8783f",
    ModelKind.VAE: "#8f3f6b",
}
_FITS_TIP_OFF = "Pick a checkpoint first: then LoRAs trained for another base can be hidden"
_FITS_TIP_ON = "Hide LoRAs trained for another base than the current checkpoint (the count stays shown)"
_COMPAT_BADGE = {"ok": ("✓ fits", "#2e7d32"), "mismatch": ("✗ other base", "#c62828"), "unknown": ("? base", "#6d6d6d")}


class LibraryCardDelegate(QStyledItemDelegate):
    """Paints one card: thumbnail (or a coloured placeholder), title, kind/base and badges."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CARD_W, CARD_H)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        record: CatalogRecord | None = index.data(RECORD_ROLE)
        if record is None:
            return
        info = record.info
        pal = option.palette  # type: ignore[attr-defined]
        rect: QRect = option.rect.adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = QPainterPath()
        card.addRoundedRect(rect, 8, 8)
        painter.fillPath(
            card, pal.color(QPalette.ColorRole.Highlight) if selected else pal.color(QPalette.ColorRole.AlternateBase)
        )
        thumb = QRect(rect.left() + 6, rect.top() + 6, rect.width() - 12, THUMB_H - 12)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if record.missing:
            painter.setOpacity(0.45)
        if isinstance(pix, QPixmap) and not pix.isNull():
            scaled = pix.scaled(
                thumb.size(), Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation
            )
            sx, sy = (scaled.width() - thumb.width()) // 2, (scaled.height() - thumb.height()) // 2
            clip = QPainterPath()
            clip.addRoundedRect(thumb, 6, 6)
            painter.setClipPath(clip)
            painter.drawPixmap(thumb, scaled, QRect(sx, sy, thumb.width(), thumb.height()))
            painter.setClipping(False)
        else:
            color = QColor(_KIND_COLORS.get(info.kind, "#5a5a5a"))
            color.setAlpha(150)
            ph = QPainterPath()
            ph.addRoundedRect(thumb, 6, 6)
            painter.fillPath(ph, color)
            painter.setPen(QColor("#ffffff"))
            label = KIND_LABELS.get(info.kind, "?")
            font = QFont(painter.font())
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 2.0)
            while font.pointSizeF() > 8 and QFontMetrics(font).horizontalAdvance(label) > thumb.width() - 16:
                font.setPointSizeF(font.pointSizeF() - 1)
            painter.setFont(font)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, label)
            painter.setFont(option.font)  # type: ignore[attr-defined]
        painter.setOpacity(1.0)
        # badges over the thumbnail: favourite (left), compatibility / status (right)
        if record.user.favorite:
            self._badge(painter, thumb.left() + 4, thumb.top() + 4, "★", "#f9a825", left=True)
        badge = None
        if record.missing:
            badge = ("missing", "#6d6d6d")
        elif info.status == "error":
            badge = ("unreadable", "#c62828")
        elif info.status == "pickle":
            badge = ("pickle", "#ef6c00")
        else:
            badge = _COMPAT_BADGE.get(index.data(COMPAT_ROLE) or "")
        if badge:
            self._badge(painter, thumb.right() - 4, thumb.top() + 4, badge[0], badge[1], left=False)
        # title and one line of facts
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.setPen(text_color)
        title_rect = QRect(rect.left() + 8, rect.top() + THUMB_H - 2, rect.width() - 16, 20)
        bold = QFont(option.font)  # type: ignore[attr-defined]
        bold.setBold(True)
        painter.setFont(bold)
        title = painter.fontMetrics().elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        painter.setFont(option.font)  # type: ignore[attr-defined]
        facts = f"{KIND_LABELS.get(info.kind, '?')} · {info.base.label}"
        if info.rank:
            facts += f" · r{info.rank}"
        sub = QColor(text_color)
        sub.setAlpha(170)
        painter.setPen(sub)
        facts_rect = QRect(rect.left() + 8, title_rect.bottom() + 2, rect.width() - 16, 18)
        painter.drawText(
            facts_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            painter.fontMetrics().elidedText(facts, Qt.TextElideMode.ElideRight, facts_rect.width()),
        )
        painter.restore()

    @staticmethod
    def _badge(painter: QPainter, x: int, y: int, text: str, color: str, left: bool) -> None:
        fm = painter.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 4
        r = QRect(x if left else x - w, y, w, h)
        path = QPainterPath()
        path.addRoundedRect(r, h / 2, h / 2)
        painter.fillPath(path, QColor(color))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)


class LibraryListNameDelegate(QStyledItemDelegate):
    """Name column of the list: a small square thumbnail, and the same indent when there is none."""

    ICON = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        blank = QPixmap(self.ICON, self.ICON)
        blank.fill(Qt.GlobalColor.transparent)
        self._blank = QIcon(blank)

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            side = min(pix.width(), pix.height())  # a centred square, not the whole picture squashed
            square = pix.copy((pix.width() - side) // 2, (pix.height() - side) // 2, side, side)
            option.icon = QIcon(square)  # type: ignore[attr-defined]
        else:
            option.icon = self._blank  # type: ignore[attr-defined]
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration  # type: ignore[attr-defined]
        option.decorationSize = QSize(self.ICON, self.ICON)  # type: ignore[attr-defined]


class LibraryPanel(QWidget):
    """Browse, search and inspect the model library.

    Signals:
        checkpoint_activated(str path): a checkpoint or pipeline was double-clicked
        lora_activated(str path): a LoRA / LyCORIS / embedding was double-clicked
        selection_changed(str path): the selected entry ("" when none)
        demo_requested(): the user asked for the demo library (empty state)
        scan_finished(): a scan (and hashing) round ended and the view is up to date
        message(str level, str text): a notice for the window's notice bar ("info" / "error"),
            e.g. one summary per install
    """

    checkpoint_activated = Signal(str)
    lora_activated = Signal(str)
    selection_changed = Signal(str)
    demo_requested = Signal()
    scan_finished = Signal()
    message = Signal(str, str)
    _thumbnail_request = Signal(str)

    def __init__(
        self,
        data_dir: DataDir,
        parent: QWidget | None = None,
        auto_scan: bool = True,
        installs_home: Path | None = None,
        watch_folders: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``auto_scan``: scan now and offer existing installs on first run; ``installs_home``: where
        to look for other apps' installs (tests pass a fake home); ``watch_folders`` (default: as
        ``auto_scan``) rescans after changes in the sources' top-level folders."""
        super().__init__(parent)
        self._data = data_dir
        self._catalog = Catalog(data_dir.catalog_db)
        self._current_base = ""
        self._scan_thread: QThread | None = None
        self._scan_worker: LibraryWorker | None = None
        self._rescan_again = False
        self._select_after_scan = ""
        self._closed = False  # after shutdown(): late queued signals and timers do nothing
        self._clock = clock
        self._last_scan_started = clock()
        self.model = LibraryModel(self)
        self.installer = LibraryInstaller(data_dir, self.roots, self, home=installs_home)
        self._build_ui()
        self._start_thumbnails()
        self.model.counts_changed.connect(self._on_model_counts_changed)
        self.model.thumbnail_needed.connect(self._on_model_thumbnail_needed)
        self.installer.message.connect(self.message)
        self.installer.installed.connect(self._on_installer_installed)
        self.installer.busy_changed.connect(self._on_installer_busy_changed)
        self.installer.progress.connect(self._on_installer_progress)
        self.installer.roots_chosen.connect(self._on_installer_roots_chosen)
        self.setAcceptDrops(True)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.applicationStateChanged.connect(self._on_application_state_changed)
        self._watcher: QFileSystemWatcher | None = None
        self.watch_timer = QTimer(self)
        self.watch_timer.setSingleShot(True)
        self.watch_timer.setInterval(WATCH_DEBOUNCE_MS)
        self.watch_timer.timeout.connect(self._on_watch_timer_timeout)
        if auto_scan if watch_folders is None else watch_folders:
            self._watcher = QFileSystemWatcher(self)
            self._watcher.directoryChanged.connect(self._on_watcher_directory_changed)
            self._update_watches()
        self.reload()
        if auto_scan:
            QTimer.singleShot(0, self.rescan)
            if self._is_first_run():
                QTimer.singleShot(0, self._offer_existing_installs)

    # -- UI --------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, trigger words, tags, folder…")
        self.search.setClearButtonEnabled(True)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("All kinds", None)
        for kind in (
            ModelKind.CHECKPOINT,
            ModelKind.LORA,
            ModelKind.EMBEDDING,
            ModelKind.VAE,
            ModelKind.TEXT_MODEL,
            ModelKind.PEFT_ADAPTER,
            ModelKind.UNKNOWN,
        ):
            self.kind_filter.addItem(KIND_LABELS[kind] + ("s" if kind is not ModelKind.UNKNOWN else ""), kind)
        self.base_filter = QComboBox()
        self.base_filter.addItem("All bases", None)
        for base in BaseArch:
            self.base_filter.addItem(base.label, base)
        self.source_filter = QComboBox()
        self.favorites = QCheckBox("Favorites")
        self.compatible_only = QCheckBox("Fits checkpoint")
        self.compatible_only.setEnabled(False)
        self.compatible_only.setToolTip(_FITS_TIP_OFF)
        self.sort = QComboBox()
        for label, key in (
            ("Name", SortKey.NAME),
            ("Date added", SortKey.ADDED),
            ("Size", SortKey.SIZE),
            ("Last used", SortKey.USED),
        ):
            self.sort.addItem(f"Sort: {label}", key)
        self.view_toggle = QToolButton()
        self.view_toggle.setText("List")
        self.view_toggle.setCheckable(True)
        self.view_toggle.setToolTip("Switch between cards and a list")
        self.rescan_button = QToolButton()
        self.rescan_button.setText("Rescan")
        self.rescan_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.rescan_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)  # room for the search
        self.rescan_button.setToolTip(
            "Look for new, changed and removed files now (also done when LoRA Studio comes back to the front)"
        )
        # One button for every way in: a click installs files (copy / move / link into the app's
        # folders); its menu also installs a folder, uses a folder in place, or finds other apps' installs.
        self.install_button = QToolButton()
        self.install_button.setText("Install…")
        self.install_button.setToolTip(
            "Install model files into the library (or drop them here).\n"
            "The arrow: install a folder, use a folder where it is, find existing installs."
        )
        self.install_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        install_menu = QMenu(self.install_button)
        self.install_files_action = install_menu.addAction("Install files…")
        self.install_folder_action = install_menu.addAction("Install a folder of models…")
        install_menu.addSeparator()
        self.add_folder_action = install_menu.addAction("Add a folder (used where it is)…")
        self.find_installs_action = install_menu.addAction("Find existing installs…")
        install_menu.setToolTipsVisible(True)
        self.find_installs_action.setToolTip(
            "Look for AUTOMATIC1111, Forge, ComfyUI, InvokeAI and the Hugging Face cache"
        )
        self.install_button.setMenu(install_menu)

        # Three short rows: the panel shares the window with the image and the mixer.
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        for w in (self.view_toggle, self.rescan_button, self.install_button):
            top.addWidget(w)
        filters = QHBoxLayout()
        for w in (self.kind_filter, self.base_filter, self.source_filter):
            filters.addWidget(w, 1)
        toggles = QHBoxLayout()
        for w in (self.favorites, self.compatible_only):
            toggles.addWidget(w)
        toggles.addStretch(1)
        toggles.addWidget(self.sort)
        bar = QVBoxLayout()
        bar.setSpacing(4)
        for row_layout in (top, filters, toggles):
            bar.addLayout(row_layout)

        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setSpacing(4)
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(200)
        self.grid.setItemDelegate(LibraryCardDelegate(self.grid))
        self.grid.setModel(self.model)
        self.grid.setDragEnabled(True)
        self.grid.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setWordWrap(True)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setDragEnabled(True)
        self.table.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setItemDelegateForColumn(0, LibraryListNameDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        # Fixed starting widths: ResizeToContents would measure all 10k rows on every reset.
        for column, width in enumerate((0, 90, 80, 76, 150, 200)):
            if width:
                self.table.setColumnWidth(column, width)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)

        self.views = QStackedWidget()
        self.views.addWidget(self.grid)
        self.views.addWidget(self.table)

        empty = QWidget()
        el = QVBoxLayout(empty)
        el.addStretch(1)
        self.empty_label = QLabel(
            "Your library is empty.\n\nDrop model files here to install them, use the models of "
            "an AUTOMATIC1111, Forge, ComfyUI or InvokeAI install where they are, or create a small "
            "demo library to try LoRA Studio out."
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_find = QPushButton("Find existing installs…")
        self.empty_add = QPushButton("Add folder…")
        self.empty_demo = QPushButton("Create demo library")
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.empty_find)
        row.addWidget(self.empty_add)
        row.addStretch(1)
        row2 = QHBoxLayout()
        row2.addStretch(1)
        row2.addWidget(self.empty_demo)
        row2.addStretch(1)
        el.addWidget(self.empty_label)
        el.addLayout(row)
        el.addLayout(row2)
        el.addStretch(2)
        self.no_match = QLabel("Nothing matches the search and filters.")
        self.no_match.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.stack = QStackedWidget()
        self.stack.addWidget(empty)  # 0
        self.stack.addWidget(self.views)  # 1
        self.stack.addWidget(self.no_match)  # 2

        self.details = LibraryDetails()
        # Details below the cards in the narrow side panel, beside them when the panel is wide.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.stack)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([520, 340])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter

        self.status = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setVisible(False)
        self.import_progress = QProgressBar()
        self.import_progress.setMaximumWidth(240)
        self.import_progress.setVisible(False)
        self.import_cancel = QToolButton()
        self.import_cancel.setText("Stop")
        self.import_cancel.setToolTip("Stop installing; what is already installed stays")
        self.import_cancel.setVisible(False)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.import_progress)
        bottom.addWidget(self.import_cancel)

        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(splitter, 1)
        lay.addLayout(bottom)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(120)
        self._search_timer.timeout.connect(self._apply_query)
        self.search.textChanged.connect(self._on_search_text_changed)
        for combo in (self.kind_filter, self.base_filter, self.source_filter, self.sort):
            combo.currentIndexChanged.connect(self._apply_query)
        self.favorites.toggled.connect(self._apply_query)
        self.compatible_only.toggled.connect(self._apply_query)
        self.view_toggle.toggled.connect(self._on_view_toggled)
        self.rescan_button.clicked.connect(self.rescan)
        self.add_folder_action.triggered.connect(self._on_add_clicked)
        self.find_installs_action.triggered.connect(self.find_existing_installs)
        self.install_button.clicked.connect(self.installer.pick_files)
        self.install_files_action.triggered.connect(self.installer.pick_files)
        self.install_folder_action.triggered.connect(self.installer.pick_folder)
        self.import_cancel.clicked.connect(self.installer.cancel)
        self.empty_add.clicked.connect(self._on_add_clicked)
        self.empty_find.clicked.connect(self.find_existing_installs)
        self.empty_demo.clicked.connect(self.demo_requested)
        self.grid.selectionModel().currentChanged.connect(self._on_current_changed)
        self.table.selectionModel().currentChanged.connect(self._on_current_changed)
        self.grid.doubleClicked.connect(self._on_activated)
        self.table.doubleClicked.connect(self._on_activated)
        self.details.user_data_edited.connect(self._on_details_user_data_edited)
        self._fill_sources()

    def _fill_sources(self) -> None:
        current = self.source_filter.currentData()
        self.source_filter.blockSignals(True)
        self.source_filter.clear()
        self.source_filter.addItem("All folders", "")
        for root in self.roots():
            label = "App models" if root == self._data.models else root.name or str(root)
            self.source_filter.addItem(label, str(root))
            self.source_filter.setItemData(self.source_filter.count() - 1, str(root), Qt.ItemDataRole.ToolTipRole)
        i = self.source_filter.findData(current)
        self.source_filter.setCurrentIndex(max(i, 0))
        self.source_filter.blockSignals(False)

    # -- public API ------------------------------------------------------------------------------

    def roots(self) -> list[Path]:
        settings = load_settings(self._data.settings_file)
        return default_roots(self._data, settings.external_roots)

    def add_root(self, folder: Path) -> None:
        """Add an external folder (used in place, never copied) and scan it."""
        self.add_roots([folder])

    def add_roots(self, folders: list[Path]) -> None:
        """Add external folders (used in place, never copied), then scan once."""
        settings = load_settings(self._data.settings_file)
        roots = list(settings.external_roots)
        for folder in folders:
            if str(folder) not in roots:
                roots.append(str(folder))
        if tuple(roots) != settings.external_roots:
            save_settings(self._data.settings_file, settings.updated(external_roots=tuple(roots)))
        self._fill_sources()
        self._update_watches()
        self.rescan()

    def install_paths(
        self, paths: list[Path], mode: ImportMode | None = None, convert_pickles: bool | None = None
    ) -> None:
        """Install files/folders into the library in the background; one ``message`` sums it up.

        Without ``mode`` the user is asked (copy, move or link; pickle conversion), unless they
        chose to keep their answer for the session. The new item is selected after the rescan.
        """
        if mode is None:
            self.installer.install([Path(p) for p in paths])
        else:
            convert = self.installer.convert_pickles if convert_pickles is None else convert_pickles
            self.installer.install_with([Path(p) for p in paths], mode, convert)

    @Slot()
    def find_existing_installs(self) -> None:
        """Look for other apps' model folders off the GUI thread and offer them in a dialog."""
        self.status.setText("Looking for existing installs…")
        self.installer.find_installs(quiet=False)

    def record(self, path: str) -> FileInfo | None:
        """What the library knows about ``path`` (name, kind, base, trigger words, preview), or None."""
        rec = self.catalog_record(path)
        return rec.info if rec else None

    def catalog_record(self, path: str) -> CatalogRecord | None:
        return self.model.record_for(path) or self._catalog.get(Path(path))

    def thumbnail(self, path: str) -> QPixmap | None:
        rec = self.model.record_for(path)
        if rec is None or rec.info.preview is None:
            return None
        return self.model._thumbs.get(str(rec.info.preview))

    @Slot()
    def reload(self) -> None:
        """Re-read the catalog into the view, keeping the selection."""
        if self._closed:
            return
        selected = self.selected_path()
        self.model.set_records(self._catalog.records())
        if selected:
            self.select_path(selected)
        self._update_stack()

    @Slot()
    def rescan(self) -> None:
        """Scan all roots in the background, then hash new files; the view refreshes when done."""
        if self._closed:
            return
        self._last_scan_started = self._clock()
        if self._scan_thread is not None:
            self._rescan_again = True
            return
        self._data.models.mkdir(parents=True, exist_ok=True)
        worker = LibraryWorker(self._data.catalog_db, self.roots())
        thread = QThread(self)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_worker_progress)
        worker.scanned.connect(self._on_worker_scanned)
        worker.hashed.connect(self._on_worker_hashed)
        worker.failed.connect(self._on_worker_failed)
        worker.done.connect(thread.quit)
        thread.finished.connect(self._on_scan_thread_finished)
        self._scan_worker, self._scan_thread = worker, thread
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText("Scanning…")
        thread.start()

    def is_scanning(self) -> bool:
        return self._scan_thread is not None

    @Slot(str)
    def set_current_base(self, base_arch_value: str) -> None:
        """The base of the current checkpoint ("sd1", "sdxl", ...) for compat badges and the
        "Fits checkpoint" filter; "" means no checkpoint: no badges, and the filter is off."""
        if base_arch_value == self._current_base:
            return
        selected = self.selected_path()
        self._current_base = base_arch_value
        self.compatible_only.setEnabled(bool(base_arch_value))
        self.compatible_only.setToolTip(_FITS_TIP_ON if base_arch_value else _FITS_TIP_OFF)
        if not base_arch_value and self.compatible_only.isChecked():
            self.compatible_only.blockSignals(True)  # the query below is rebuilt once, not twice
            self.compatible_only.setChecked(False)
            self.compatible_only.blockSignals(False)
            self._apply_query()
        self.model.set_current_base(base_arch_value)
        if selected and self.selected_path() != selected:
            self.select_path(selected)
        self._update_stack()
        self._refresh_details()

    def selected_path(self) -> str:
        view = self._active_view()
        rec = self.model.record_at(view.currentIndex().row()) if view.currentIndex().isValid() else None
        return str(rec.path) if rec else ""

    def select_path(self, path: str) -> None:
        row = self.model.row_of(path)
        if row >= 0:
            view = self._active_view()
            view.setCurrentIndex(self.model.index(row, 0))
            view.scrollTo(view.currentIndex())

    def set_query(self, query: LibraryQuery) -> None:
        """Set search text and filters programmatically (the widgets follow)."""
        self.search.setText(query.text)
        self.kind_filter.setCurrentIndex(max(self.kind_filter.findData(query.kind), 0))
        self.base_filter.setCurrentIndex(max(self.base_filter.findData(query.base), 0))
        self.favorites.setChecked(query.favorites_only)
        self.compatible_only.setChecked(query.compatible_only)
        self.sort.setCurrentIndex(max(self.sort.findData(query.sort), 0))
        self._apply_query()

    def mark_used(self, path: str) -> None:
        self._catalog.mark_used(Path(path))

    def rescan_if_stale(self) -> bool:
        """Rescan unless a scan started less than ``FOCUS_RESCAN_INTERVAL_S`` ago; True if it did."""
        if self._clock() - self._last_scan_started < FOCUS_RESCAN_INTERVAL_S:
            return False
        self.rescan()
        return True

    def watched_folders(self) -> list[str]:
        return self._watcher.directories() if self._watcher is not None else []

    def shutdown(self) -> None:
        """Stop and wait for the worker threads (call on window close)."""
        self._closed = True
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            try:
                app.applicationStateChanged.disconnect(self._on_application_state_changed)
            except (RuntimeError, TypeError):
                pass
        self.watch_timer.stop()
        if self._watcher is not None:
            self._watcher.directoryChanged.disconnect(self._on_watcher_directory_changed)
        self.installer.shutdown()
        self._rescan_again = False
        if self._scan_worker is not None:
            self._scan_worker.request_cancel()
        if self._scan_thread is not None:
            self._scan_thread.quit()
            self._scan_thread.wait()
        self._thumb_thread.quit()
        self._thumb_thread.wait()
        self._catalog.close()

    # -- internals -------------------------------------------------------------------------------

    def _active_view(self) -> QAbstractItemView:
        return self.table if self.view_toggle.isChecked() else self.grid

    def _start_thumbnails(self) -> None:
        self._thumb_worker = ThumbnailWorker(self._data.thumbnails)
        self._thumb_thread = QThread(self)
        self._thumb_worker.moveToThread(self._thumb_thread)
        self._thumbnail_request.connect(self._thumb_worker.load)
        self._thumb_worker.loaded.connect(self._on_thumbnail_loaded)
        self._thumb_thread.start()

    def _update_stack(self) -> None:
        self.details.setVisible(bool(self.model.records()))  # nothing to detail in an empty library
        if not self.model.records():
            self.stack.setCurrentIndex(0)
        elif self.model.rowCount() == 0:
            self.stack.setCurrentIndex(2)
        else:
            self.stack.setCurrentIndex(1)

    def _refresh_details(self) -> None:
        if self._closed:
            return
        path = self.selected_path()
        record = self._catalog.get(Path(path)) if path else None
        thumb = self.thumbnail(path) if path else None
        if record is not None and record.info.preview is not None and thumb is None:
            self.model.data(self.model.index(self.model.row_of(path), 0), Qt.ItemDataRole.DecorationRole)
        self.details.show_record(record, self._current_base, thumb)

    @Slot()
    def _apply_query(self) -> None:
        selected = self.selected_path()
        self.model.set_query(
            LibraryQuery(
                text=self.search.text(),
                kind=self.kind_filter.currentData(),
                base=self.base_filter.currentData(),
                favorites_only=self.favorites.isChecked(),
                root=self.source_filter.currentData() or "",
                compatible_only=self.compatible_only.isChecked(),
                sort=self.sort.currentData() or SortKey.NAME,
            )
        )
        if selected:  # keep the selection when it is still shown
            self.select_path(selected)
        self._update_stack()

    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        self._search_timer.start()

    @Slot(int, int, int)
    def _on_model_counts_changed(self, shown: int, total: int, hidden: int) -> None:
        text = f"{shown:,} of {total:,} shown" if shown != total else f"{total:,} models"
        if hidden:
            text += f" · {hidden:,} hidden because they do not fit the current checkpoint"
        if not self.is_scanning():
            self.status.setText(text)
        self._counts_text = text
        if self.selected_path() == "" and self.details.record() is not None:
            self.details.show_record(None)

    @Slot(str)
    def _on_model_thumbnail_needed(self, preview: str) -> None:
        self._thumbnail_request.emit(preview)

    @Slot(str, QImage)
    def _on_thumbnail_loaded(self, preview: str, image: QImage) -> None:
        if not image.isNull():
            self.model.set_thumbnail(preview, QPixmap.fromImage(image))
            rec = self.details.record()
            if rec is not None and rec.info.preview is not None and str(rec.info.preview) == preview:
                self._refresh_details()

    @Slot(bool)
    def _on_view_toggled(self, as_list: bool) -> None:
        path = (
            self.selected_path()
            if not as_list
            else (
                str(self.model.record_at(self.grid.currentIndex().row()).path)
                if self.grid.currentIndex().isValid()
                else ""
            )
        )
        self.view_toggle.setText("Cards" if as_list else "List")
        self.views.setCurrentIndex(1 if as_list else 0)
        if path:
            self.select_path(path)

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._refresh_details()
        self.selection_changed.emit(self.selected_path())

    @Slot(QModelIndex)
    def _on_activated(self, index: QModelIndex) -> None:
        rec = self.model.record_at(index.row())
        if rec is None or rec.missing:
            return
        if rec.info.kind in (ModelKind.CHECKPOINT, ModelKind.PIPELINE):
            self.checkpoint_activated.emit(str(rec.path))
        elif rec.info.kind in (ModelKind.LORA, ModelKind.LYCORIS, ModelKind.EMBEDDING):
            self.lora_activated.emit(str(rec.path))

    @Slot(str, object)
    def _on_details_user_data_edited(self, path: str, data: UserData) -> None:
        self._catalog.set_user_data(Path(path), data)
        record = self._catalog.get(Path(path))
        if record is not None:
            self.model.update_record(record)
        self._refresh_details()

    @Slot()
    def _on_add_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of models")
        if folder:
            self.add_root(Path(folder))

    @Slot(int, int, str)
    def _on_worker_progress(self, done: int, total: int, phase: str) -> None:
        if phase == "scan":
            self.progress.setRange(0, 0)
            self.status.setText(f"Scanning… {done:,} files looked at")
        else:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.status.setText(f"Computing hashes… {done:,} of {total:,}")

    @Slot(object)
    def _on_worker_scanned(self, result: ScanResult) -> None:
        if result.added or result.updated or result.missing:  # an unchanged library keeps its view as is
            self.reload()
        if result.walk_errors:
            self.status.setText(f"Some folders could not be read: {result.walk_errors[0]}")

    @Slot(int)
    def _on_worker_hashed(self, count: int) -> None:
        if count:
            self.reload()
            self._refresh_details()

    @Slot(str)
    def _on_worker_failed(self, message: str) -> None:
        self.status.setText(message)

    @Slot()
    def _on_scan_thread_finished(self) -> None:
        self._scan_thread = None
        self._scan_worker = None
        self.progress.setVisible(False)
        self.status.setText(getattr(self, "_counts_text", ""))
        self._update_watches()  # new subfolders appear in scans
        if self._select_after_scan:
            self._reveal(self._select_after_scan)
            self._select_after_scan = ""
        self.scan_finished.emit()
        if self._rescan_again:
            self._rescan_again = False
            self.rescan()

    def _reveal(self, path: str) -> None:
        """Select ``path``; clear the search and filters first if they hide it."""
        if self.model.row_of(path) < 0 and self.model.record_for(path) is not None:
            self.set_query(LibraryQuery(sort=self.sort.currentData() or SortKey.NAME))
        self.select_path(path)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        wide = event.size().width() >= WIDE_LAYOUT_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            if wide:
                self.splitter.setSizes([event.size().width() - 440, 440])
            else:
                self.splitter.setSizes([520, 340])

    # -- installing: drops, the installer's results --------------------------------------------

    @staticmethod
    def _dropped_paths(mime: QMimeData) -> list[Path]:
        if mime.hasFormat(MIME_PATH):  # a card dragged out of this library, not files to install
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile() and u.toLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()
            self.status.setText("Drop to install into the library (you choose copy, move or link)")
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self._dropped_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._dropped_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.status.setText(getattr(self, "_counts_text", ""))
        self.install_paths(paths)

    @Slot(object)
    def _on_installer_installed(self, paths: list[str]) -> None:
        self.reload()
        if paths:
            self._select_after_scan = paths[-1]
            self._reveal(paths[-1])
        self.rescan()

    @Slot(bool)
    def _on_installer_busy_changed(self, busy: bool) -> None:
        self.import_progress.setVisible(busy)
        self.import_cancel.setVisible(busy)
        self.import_progress.setRange(0, 0)
        if not busy:
            self.status.setText(getattr(self, "_counts_text", ""))

    @Slot(int, int, int, str)
    def _on_installer_progress(self, index: int, count: int, percent: int, name: str) -> None:
        if percent < 0:
            self.import_progress.setRange(0, 0)
        else:
            self.import_progress.setRange(0, 100)
            self.import_progress.setValue(percent)
        prefix = f"Installing {index + 1} of {count}: " if count > 1 else "Installing "
        self.status.setText(prefix + name)

    @Slot(object)
    def _on_installer_roots_chosen(self, folders: list[Path]) -> None:
        self.add_roots(folders)

    # -- first run, focus and folder watching ------------------------------------------------------

    def _is_first_run(self) -> bool:
        """No external sources yet, nothing but the app's own folder in the catalog, never offered."""
        settings = load_settings(self._data.settings_file)
        if settings.external_roots or settings.extra.get(OFFERED_INSTALLS_KEY):
            return False
        own = self._data.models
        return all(r.root == own for r in self.model.records())

    @Slot()
    def _offer_existing_installs(self) -> None:
        if self._closed:
            return
        settings = load_settings(self._data.settings_file)
        extra = {**settings.extra, OFFERED_INSTALLS_KEY: True}
        save_settings(self._data.settings_file, settings.updated(extra=extra))
        self.installer.find_installs(quiet=True)

    @Slot(Qt.ApplicationState)
    def _on_application_state_changed(self, state: Qt.ApplicationState) -> None:
        if state == Qt.ApplicationState.ApplicationActive:
            self.rescan_if_stale()

    def _update_watches(self) -> None:
        """Watch each source and its top-level subfolders (``loras/``, ``Lora/``, ...) only."""
        if self._watcher is None:
            return
        wanted: list[str] = []
        for root in self.roots():
            if not root.is_dir():
                continue
            wanted.append(str(root))
            try:
                with os.scandir(root) as it:
                    wanted += sorted(e.path for e in it if not e.name.startswith(".") and e.is_dir())
            except OSError:
                continue
        wanted = list(dict.fromkeys(wanted))[:MAX_WATCHED_FOLDERS]
        current = set(self._watcher.directories())
        stale = [d for d in current if d not in wanted]
        if stale:
            self._watcher.removePaths(stale)
        new = [d for d in wanted if d not in current]
        if new:
            self._watcher.addPaths(new)

    @Slot(str)
    def _on_watcher_directory_changed(self, folder: str) -> None:
        self.watch_timer.start()

    @Slot()
    def _on_watch_timer_timeout(self) -> None:
        self.rescan()
