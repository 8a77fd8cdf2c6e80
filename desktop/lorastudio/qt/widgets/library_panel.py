"""The library browser: a grid of cards (or a list) over the catalog, filters and a details pane.

Files and folders dropped on the panel (or picked with Install…) are installed into the data dir;
the library rescans when the app comes back to the foreground (at most every 10 s) and, a moment
after a change, when a file appears in or leaves a top-level model folder of a source.

The panel composes its parts and keeps them in step: ``library_toolbar`` (search and filters),
``library_views`` (cards, list, empty page; ``library_cards`` paints the entries),
``library_details``, ``library_status`` (bottom row), ``library_installer``, ``library_sources``,
``library_folder_watch`` and the scan / thumbnail threads (``workers.library_scan_controller``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, QModelIndex, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QFileDialog, QSplitter, QVBoxLayout, QWidget

from lorastudio.core.library.catalog import Catalog, CatalogRecord, UserData
from lorastudio.core.library.importer import ImportMode
from lorastudio.core.library.scanner import ScanResult
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.paths import DataDir
from lorastudio.core.types import ModelKind
from lorastudio.qt.models.library_model import (
    MIME_PATH,
    LibraryIndex,
    LibraryModel,
    LibraryQuery,
    SortKey,
    records_from_snapshot,
    snapshot_rows,
)
from lorastudio.qt.widgets.library_details import LibraryDetails
from lorastudio.qt.widgets.library_folder_watch import LibraryFolderWatch
from lorastudio.qt.widgets.library_installer import LibraryInstaller
from lorastudio.qt.widgets.library_sources import (
    OFFERED_INSTALLS_KEY,
    add_external_roots,
    installs_offer_due,
    library_roots,
    mark_installs_offered,
)
from lorastudio.qt.widgets.library_status import LibraryStatusBar
from lorastudio.qt.widgets.library_toolbar import LibraryToolbar
from lorastudio.qt.widgets.library_views import LibraryViews
from lorastudio.qt.workers.library_scan_controller import LibraryScanController

FOCUS_RESCAN_INTERVAL_S = 10.0  # a warm rescan of 10k files costs ~0.2 s: often enough, not on every alt-tab
WIDE_LAYOUT_PX = 1000  # from this width on, the details pane sits beside the cards
# Up to this many records the catalog is read on the GUI thread (a few tens of ms, and callers see
# the rows at once); a bigger library paints the last session's first screen and fills from a worker.
SYNC_LOAD_MAX = 600
FIRST_SCREEN_ROWS = 150  # more cards than a 2560x1440 window shows at once
SNAPSHOT_FILE = "library-first-screen.json"
__all__ = ["FOCUS_RESCAN_INTERVAL_S", "OFFERED_INSTALLS_KEY", "WIDE_LAYOUT_PX", "LibraryPanel"]


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
        self._select_after_scan = ""
        self._closed = False  # after shutdown(): late queued signals and timers do nothing
        self._loaded_once = False
        self._clock = clock
        self._last_scan_started = clock()
        self.model = LibraryModel(self)
        self.installer = LibraryInstaller(data_dir, self.roots, self, home=installs_home)
        self._build_ui()
        self._scans = LibraryScanController(data_dir, self.roots, self.model.index_snapshot, self)
        self._scans.started.connect(self._on_scan_started)
        self._scans.loaded.connect(self._on_scans_loaded)
        self._scans.progress.connect(self.status_bar.show_scan_progress)
        self._scans.scanned.connect(self._on_scans_scanned)
        self._scans.hashed.connect(self._on_scans_hashed)
        self._scans.failed.connect(self.status_bar.show_text)
        self._scans.finished.connect(self._on_scans_finished)
        self._scans.thumbnail_loaded.connect(self._on_thumbnail_loaded)
        self.model.counts_changed.connect(self._on_model_counts_changed)
        self.model.thumbnail_needed.connect(self._scans.request_thumbnail)
        self.installer.message.connect(self.message)
        self.installer.installed.connect(self._on_installer_installed)
        self.installer.busy_changed.connect(self.status_bar.set_installing)
        self.installer.progress.connect(self.status_bar.show_install_progress)
        self.installer.roots_chosen.connect(self.add_roots)
        self.installer.installs_searched.connect(self._on_installs_searched)
        self.setAcceptDrops(True)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.applicationStateChanged.connect(self._on_application_state_changed)
        self._folders = LibraryFolderWatch(self.roots, auto_scan if watch_folders is None else watch_folders, self)
        self._folders.changed.connect(self.rescan)
        self.watch_timer = self._folders.timer
        if self._load_first_screen():  # a big library: the rest comes from the worker
            if auto_scan:
                self._last_scan_started = self._clock()
                self._scans.scan(load=True)  # one job: read the catalog, then scan
            else:
                self._scans.load()
        elif auto_scan:
            QTimer.singleShot(0, self.rescan)
        if auto_scan and installs_offer_due(self._data, self.model.records()):
            QTimer.singleShot(0, self._offer_existing_installs)

    def _build_ui(self) -> None:
        # The parts' widgets stay reachable as the panel's own attributes (the window and tests use them).
        self.toolbar = bar = LibraryToolbar()
        self.search, self.kind_filter, self.base_filter = bar.search, bar.kind_filter, bar.base_filter
        self.source_filter, self.sort, self.favorites = bar.source_filter, bar.sort, bar.favorites
        self.compatible_only, self.view_toggle = bar.compatible_only, bar.view_toggle
        self.rescan_button, self.install_button = bar.rescan_button, bar.install_button
        self.install_files_action, self.install_folder_action = bar.install_files_action, bar.install_folder_action
        self.add_folder_action, self.find_installs_action = bar.add_folder_action, bar.find_installs_action
        self.stack = LibraryViews(self.model)
        self.grid, self.table, self.views, self.no_match = (
            self.stack.grid,
            self.stack.table,
            self.stack.views,
            self.stack.no_match,
        )
        empty = self.stack.empty
        self.empty_label, self.empty_find = empty.label, empty.find_button
        self.empty_add, self.empty_demo = empty.add_button, empty.demo_button
        self.details = LibraryDetails()
        # Details below the cards in the narrow side panel, beside them when the panel is wide.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([520, 340])
        self.splitter.setChildrenCollapsible(False)

        self.status_bar = LibraryStatusBar()
        self.status, self.progress = self.status_bar.status, self.status_bar.progress
        self.import_progress, self.import_cancel = self.status_bar.import_progress, self.status_bar.import_cancel

        lay = QVBoxLayout(self)
        # No side margins: the splitter handle already separates the panels, and 18 px here
        # pushed the window's minimum width past 1024 (issue 16: 1024×700 shows everything).
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.toolbar)
        lay.addWidget(self.splitter, 1)
        lay.addWidget(self.status_bar)

        bar.query_changed.connect(self._apply_query)
        self.view_toggle.toggled.connect(self.stack.show_list)
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
        self.toolbar.set_sources(self.roots(), self._data.models)

    # -- public API ------------------------------------------------------------------------------

    def roots(self) -> list[Path]:
        return library_roots(self._data)

    def add_root(self, folder: Path) -> None:
        """Add an external folder (used in place, never copied) and scan it."""
        self.add_roots([folder])

    @Slot(object)
    def add_roots(self, folders: list[Path]) -> None:
        """Add external folders (used in place, never copied), then scan once."""
        add_external_roots(self._data, folders)
        self._fill_sources()
        self._folders.update()
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

    @Slot(int)
    def _on_installs_searched(self, new: int) -> None:
        # The search is over: "Looking for existing installs…" must not stay (issue 16, item 8).
        self.status_bar.show_counts()

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
        return self.model.thumbnail(str(rec.info.preview))

    @Slot()
    def reload(self) -> None:
        """Re-read the catalog into the view (rows change in place; the selection stays); a big
        library is read by the worker and shown when it arrives."""
        if self._closed:
            return
        if self._catalog.count() > SYNC_LOAD_MAX:
            self._scans.load()
            return
        selected = self.selected_path()
        self.model.set_records(self._catalog.records())
        if selected and self.selected_path() != selected:
            self.select_path(selected)
        self._update_stack()

    @Slot(bool)
    def set_generation_running(self, running: bool) -> None:
        """Hold background hashing while a generation runs (it competes for the disk and the CPU)."""
        self._scans.set_hashing_paused(running)

    @Slot()
    def rescan(self) -> None:
        """Scan all roots in the background, then hash new files; the view refreshes when done."""
        if self._closed:
            return
        self._last_scan_started = self._clock()
        self._scans.scan()

    def is_scanning(self) -> bool:
        return self._scans.is_scanning()

    @Slot(str)
    def set_current_base(self, base_arch_value: str) -> None:
        """The base of the current checkpoint ("sd1", "sdxl", ...) for compat badges and the
        "Fits checkpoint" filter; "" means no checkpoint: no badges, and the filter is off."""
        if base_arch_value == self._current_base:
            return
        selected = self.selected_path()
        self._current_base = base_arch_value
        if self.toolbar.set_checkpoint_known(bool(base_arch_value)):  # it unchecked "Fits checkpoint"
            self._apply_query()
        self.model.set_current_base(base_arch_value)
        if selected and self.selected_path() != selected:
            self.select_path(selected)
        self._update_stack()
        self._refresh_details()

    def selected_path(self) -> str:
        return self.stack.selected_path()

    def select_path(self, path: str) -> None:
        self.stack.select_path(path)

    def set_query(self, query: LibraryQuery) -> None:
        """Set search text and filters programmatically (the widgets follow)."""
        self.toolbar.set_query(query)
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
        return self._folders.directories()

    def shutdown(self) -> None:
        """Stop and wait for the worker threads (call on window close)."""
        self._closed = True
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            try:
                app.applicationStateChanged.disconnect(self._on_application_state_changed)
            except (RuntimeError, TypeError):
                pass
        self._folders.stop()
        self.installer.shutdown()
        self._scans.shutdown()
        self._remember_first_screen()
        self._catalog.close()

    # -- internals -------------------------------------------------------------------------------

    @property
    def _scan_thread(self) -> QThread | None:
        """The running scan's thread (tests wait for it to be gone)."""
        return self._scans.scan_thread

    def _snapshot_path(self) -> Path:
        return self._data.cache / SNAPSHOT_FILE

    def _load_first_screen(self) -> bool:
        """Fill the model now: the whole catalog when it is small (returns False), else the last
        session's first screen of cards (returns True: the worker brings the rest)."""
        if self._catalog.count() <= SYNC_LOAD_MAX:
            self.model.set_records(self._catalog.records())
            self._update_stack()
            return False
        try:
            rows = json.loads(self._snapshot_path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rows = []
        self.model.set_records(records_from_snapshot(rows))
        self._update_stack()
        self.status_bar.show_text("Loading the library…")
        return True

    def _remember_first_screen(self) -> None:
        """Keep the first screen (default query and sort) for the next start; a cache, so a
        failure to write it only costs that start a moment of empty grid."""
        index = self.model.index_snapshot()
        keys = index.orders.get(SortKey.NAME, [])[:FIRST_SCREEN_ROWS]
        path = self._snapshot_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(snapshot_rows(index.records[k] for k in keys)), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass

    def _update_stack(self) -> None:
        self.details.setVisible(self.model.total() > 0)  # nothing to detail in an empty library
        self.stack.show_page()

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
        self.model.set_query(self.toolbar.query())
        if selected:  # keep the selection when it is still shown
            self.select_path(selected)
        self._update_stack()

    @Slot(int, int, int)
    def _on_model_counts_changed(self, shown: int, total: int, hidden: int) -> None:
        self.status_bar.set_counts(shown, total, hidden, show=not self.is_scanning())
        self._update_stack()  # a big library's rows arrive after a sliced filter, not at once
        if self.selected_path() == "" and self.details.record() is not None:
            self.details.show_record(None)

    @Slot(str, QImage)
    def _on_thumbnail_loaded(self, preview: str, image: QImage) -> None:
        if not image.isNull():
            self.model.set_thumbnail(preview, QPixmap.fromImage(image))
            rec = self.details.record()
            if rec is not None and rec.info.preview is not None and str(rec.info.preview) == preview:
                self._refresh_details()

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

    @Slot()
    def _on_scan_started(self) -> None:
        if not self._scans.job_scans():
            return  # a catalog read: the counts stay until it arrives
        self._last_scan_started = self._clock()  # also for the scan queued behind another
        self.status_bar.scan_started()

    @Slot(object)
    def _on_scans_loaded(self, index: LibraryIndex) -> None:
        """A fresh index from the worker: rows change in place, the selection stays."""
        if self._closed:
            return
        first = not self._loaded_once
        self._loaded_once = True
        selected = self.selected_path()
        self.model.set_index(index)
        if selected and self.selected_path() != selected:
            self.select_path(selected)
        self._update_stack()
        if first:
            self._remember_first_screen()

    @Slot(object)
    def _on_scans_scanned(self, result: ScanResult) -> None:
        self.status_bar.set_skipped(result.skipped_summary())
        if result.walk_errors:
            self.status.setText(f"Some folders could not be read: {result.walk_errors[0]}")

    @Slot(int)
    def _on_scans_hashed(self, count: int) -> None:
        if count:
            self._refresh_details()

    @Slot()
    def _on_scans_finished(self) -> None:
        self.status_bar.scan_ended()
        self._folders.update()  # new subfolders appear in scans
        if self._select_after_scan:
            self._reveal(self._select_after_scan)
            self._select_after_scan = ""
        self.scan_finished.emit()

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
        self.status_bar.show_counts()
        self.install_paths(paths)

    @Slot(object)
    def _on_installer_installed(self, paths: list[str]) -> None:
        self.reload()
        if paths:
            self._select_after_scan = paths[-1]
            self._reveal(paths[-1])
        self.rescan()

    # -- first-run offer and focus ------------------------------------------------------------------------

    @Slot()
    def _offer_existing_installs(self) -> None:
        if self._closed:
            return
        mark_installs_offered(self._data)
        self.installer.find_installs(quiet=True)

    @Slot(Qt.ApplicationState)
    def _on_application_state_changed(self, state: Qt.ApplicationState) -> None:
        if state == Qt.ApplicationState.ApplicationActive:
            self.rescan_if_stale()
