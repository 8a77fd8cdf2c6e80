"""The Hub page: search as you type, filters, results, the model page and the downloads panel."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.hub import kinds
from lorastudio.core.hub.search import ModelSummary
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import load_settings
from lorastudio.qt.models.hub_results_model import HubResultsModel
from lorastudio.qt.widgets.downloads_panel import DownloadsPanel
from lorastudio.qt.widgets.hub_model_view import HubModelView
from lorastudio.qt.workers.hub_worker import HubClient, PageBundle

DEBOUNCE_MS = 350


class HubPage(QWidget):
    """Signals: installed(str path) when a model lands in the library; message(str level, str text)
    for the window's notice bar (level "info" or "error")."""

    installed = Signal(str)
    message = Signal(str, str)

    def __init__(self, data_dir: DataDir, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data = data_dir
        self._client = HubClient(data_dir, self)
        self._search_id = 0
        self._page_id = 0

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search the Hugging Face Hub (e.g. pixel art lora)…")
        self.search_edit.setClearButtonEnabled(True)
        self.kind_combo = QComboBox()
        for label, value in (("All kinds", ""), ("LoRA adapters", kinds.LORA),
                             ("Checkpoints", kinds.CHECKPOINT), ("Diffusers pipelines", kinds.PIPELINE)):
            self.kind_combo.addItem(label, value)
        self.base_combo = QComboBox()
        self.base_combo.addItem("Any base model", "")
        for label, repo in kinds.BASE_MODELS.items():
            self.base_combo.addItem(label, repo)
        self.sort_combo = QComboBox()
        for label, value in (("Most downloaded", "downloads"), ("Most liked", "likes"),
                             ("Recently updated", "last_modified")):
            self.sort_combo.addItem(label, value)
        self.token_button = QPushButton("Token…")
        self.token_button.setToolTip("Access token for gated and private repos")
        self.status = QLabel("Type to search the Hub.")
        self.status.setObjectName("muted")

        self.results = HubResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.results)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)  # Tab leaves the results; arrows move between rows
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Name and base model fit their text up to a cap (see _fit_columns); the license, often a
        # long slug, takes what is left and elides (the full text is in the tooltip).
        for column, width in ((0, 180), (3, 150)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(column, width)
        header.setSectionResizeMode(6, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)

        self.model_view = HubModelView()
        self.downloads = DownloadsPanel(data_dir)

        search_row = QHBoxLayout()
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.token_button)
        filters = QHBoxLayout()
        filters.addWidget(self.kind_combo)
        filters.addWidget(self.base_combo)
        filters.addWidget(self.sort_combo)
        filters.addStretch(1)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addLayout(search_row)
        left_lay.addLayout(filters)
        left_lay.addWidget(self.table, 1)
        left_lay.addWidget(self.status)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.model_view)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)
        top.setSizes([760, 560])  # the results table has eight columns
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(self.downloads)
        outer.setStretchFactor(0, 3)
        outer.setStretchFactor(1, 1)
        outer.setSizes([560, 220])
        lay = QVBoxLayout(self)
        lay.addWidget(outer)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)
        self.search_edit.textChanged.connect(self._on_search_text_changed)
        self.search_edit.returnPressed.connect(self._on_debounce_timeout)
        self.kind_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.base_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.sort_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.token_button.clicked.connect(self._on_token_clicked)
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self._client.answered.connect(self._on_client_answered)
        self._client.failed.connect(self._on_client_failed)
        self.model_view.install_requested.connect(self._on_install_requested)
        self.downloads.installed.connect(self._on_downloads_installed)
        self.downloads.finished.connect(self._on_downloads_finished)
        self.downloads.failed.connect(self._on_downloads_failed)

    # -- public ---------------------------------------------------------------------------------------
    def search_now(self) -> None:
        """Run the search with the current text and filters (skipping the debounce)."""
        self._debounce.stop()
        self._search_id = self._client.send(
            "search", text=self.search_edit.text(), kind=self.kind_combo.currentData() or None,
            base_model=self.base_combo.currentData() or None, sort=self.sort_combo.currentData(), limit=50)
        self.status.setText("Searching…")

    def open_model(self, repo_id: str) -> None:
        allow = load_settings(self._data.settings_file).allow_card_images
        self.model_view.loading(repo_id)
        self._page_id = self._client.send("page", repo_id=repo_id, allow_images=allow)

    def shutdown(self) -> None:
        """Stop the hub and downloads threads (a running download pauses and resumes next start)."""
        self._debounce.stop()
        self._client.shutdown()
        self.downloads.shutdown()

    def _fit_columns(self) -> None:
        for column, cap in ((0, 260), (3, 220)):
            self.table.resizeColumnToContents(column)
            self.table.setColumnWidth(column, min(self.table.columnWidth(column), cap))

    # -- slots ----------------------------------------------------------------------------------------
    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        self._debounce.start()

    @Slot()
    def _on_debounce_timeout(self) -> None:
        self.search_now()

    @Slot(int)
    def _on_filter_changed(self, index: int) -> None:
        self.search_now()

    @Slot(QItemSelection, QItemSelection)
    def _on_selection_changed(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.open_model(self.results.summary(rows[0].row()).repo_id)

    @Slot(int, object)
    def _on_client_answered(self, request_id: int, result: object) -> None:
        if request_id == self._search_id and isinstance(result, list):
            rows: list[ModelSummary] = result
            self.results.set_results(rows)
            self._fit_columns()
            self.status.setText(f"{len(rows)} model(s)" if rows else "No models match. Try other words or filters.")
        elif request_id == self._page_id and isinstance(result, PageBundle):
            self.model_view.show_page(result.page, result.card, result.preview)

    @Slot(int, str)
    def _on_client_failed(self, request_id: int, message: str) -> None:
        if request_id == self._search_id:
            self.results.set_results([])
            self.status.setText(message)
        elif request_id == self._page_id:
            self.model_view.clear(message)
        else:
            return
        self.message.emit("error", message)

    @Slot(str, str, object)
    def _on_install_requested(self, repo_id: str, revision: str, files: object) -> None:
        names = tuple(files) if isinstance(files, tuple | list) else ()
        self.downloads.enqueue(repo_id, revision, names)
        self.message.emit("info", f"Queued {repo_id} for download.")

    @Slot(str)
    def _on_downloads_installed(self, path: str) -> None:
        self.installed.emit(path)

    @Slot(str)
    def _on_downloads_finished(self, message: str) -> None:
        # Says "already in your library" when nothing had to be downloaded; for a fresh install the
        # window's own "Installed …" notice (on `installed`, emitted right after) replaces it.
        self.message.emit("info", message)

    @Slot(str)
    def _on_downloads_failed(self, message: str) -> None:
        self.message.emit("error", message)

    @Slot()
    def _on_token_clicked(self) -> None:
        from lorastudio.qt.widgets.hub_token_dialog import HubTokenDialog

        dialog = HubTokenDialog(self._data, self)
        if dialog.exec() and dialog.notice:
            self.message.emit("info", dialog.notice)
