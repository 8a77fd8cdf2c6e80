"""The main window: composes the library, the mixer, the generation panel, the queue, text mode
and the hub around one Qt-free ``SessionModel`` (core/session).

It owns no logic: the session builds requests, resolves prompt tags and restores images; the
queue and the engine process (core/backend) run jobs; every message reaches the user through the
one notice overlay.
"""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio import __version__
from lorastudio.core import messages
from lorastudio.core.backend.base import Backend, ModelList
from lorastudio.core.backend.comfyui.availability import ChoiceInfo
from lorastudio.core.backend.comfyui.choice import backend_choices, backend_for
from lorastudio.core.backend.comfyui.config import LOCAL_NAME
from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.grid.axes import files_by_weight
from lorastudio.core.grid.files import read_grid_setup
from lorastudio.core.library.block_presets import BlockPresetStore
from lorastudio.core.library.presets import PresetStore
from lorastudio.core.messages import Message
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.metadata.model_defaults import model_defaults
from lorastudio.core.paths import DataDir
from lorastudio.core.runtime import EngineRuntime, engine_python
from lorastudio.core.session.library_index import LibraryIndex
from lorastudio.core.session.model import SessionModel
from lorastudio.core.session.preview_jobs import PreviewJobs, preview_request
from lorastudio.core.session.queue import Job
from lorastudio.core.settings import Settings, SettingsStore, settings_store
from lorastudio.core.training.config import TrainConfig
from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.state.backend_info import BackendInfoState
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.elided_label import ElidedLabel
from lorastudio.qt.widgets.generation_panel import GenerationPanel
from lorastudio.qt.widgets.grid_mode import GridMode
from lorastudio.qt.widgets.history_panel import (
    HistoryPanel,
    install_image_drop,
    library_from_catalog,
)
from lorastudio.qt.widgets.hub_page import HubPage
from lorastudio.qt.widgets.image_view import ImageView
from lorastudio.qt.widgets.library_panel import LibraryPanel
from lorastudio.qt.widgets.lora_picker import LoraPickerDialog
from lorastudio.qt.widgets.mixer_panel import MixerPanel
from lorastudio.qt.widgets.notice_bar import NoticeBar
from lorastudio.qt.widgets.presets_bar import PresetsBar, apply_preset
from lorastudio.qt.widgets.queue_panel import QueuePanel
from lorastudio.qt.widgets.runtime_dialog import RuntimeDialog
from lorastudio.qt.widgets.settings_dialog import SettingsDialog
from lorastudio.qt.widgets.text_page import TextPage
from lorastudio.qt.widgets.train_page import TrainPage
from lorastudio.qt.widgets.upload_offer import UploadOffer
from lorastudio.qt.window_layout import WindowLayout
from lorastudio.qt.workers.engine_worker import EngineClient


class ErrorRelay(QObject):
    """Carries uncaught exceptions from any thread to the GUI thread. Signals: error(object)."""

    error = Signal(object)


class MainWindow(QMainWindow):
    def __init__(self, data: DataDir, settings: Settings | SettingsStore | None = None) -> None:
        super().__init__()
        self.data = data
        store = settings if isinstance(settings, SettingsStore) else settings_store(data.settings_file)
        if isinstance(settings, Settings):  # an explicit Settings value: make it the current one
            store.update(**{f.name: getattr(settings, f.name) for f in fields(Settings)})
        self.session = SessionModel(data, store)
        self.setWindowTitle("LoRA Studio")
        self.resize(1440, 900)
        self.last_result_paths: list[Path] = []
        self._shut_down = False
        self._running_size = (512, 512)

        self.mix_state = MixState(self)
        # The engine runs from the engine runtime (#18): asked at each start, so a runtime set up
        # while the window is open is used by the next job without a restart.
        self.runtime = EngineRuntime(data.runtime)
        self.backend = LocalProcessBackend(ProcessOptions(log_folder=data.logs), models=self._backend_models,
                                           interpreter=self._engine_python)
        self.engine = EngineClient(self.backend, self.session.queue, data.outputs, self)
        self.backend_info = BackendInfoState(data, self)  # the chosen server's device and files
        self.upload_offer = UploadOffer(data, self)  # sends the files a server lacks, when it can take them
        self._refused: GenerationRequest | None = None  # a job refused on a server, until its files are known
        self.errors = ErrorRelay(self)
        self.library = LibraryPanel(data)
        self.generation = GenerationPanel(self.session.params)
        self.queue_panel = QueuePanel(self.session.queue)
        self.mixer = MixerPanel(self.mix_state, BlockPresetStore(data.catalog_db))
        self.presets = PresetsBar(PresetStore(data.catalog_db), self.mix_state, self.generation.settings)
        self.history = HistoryPanel(data)
        self.image_view = ImageView()
        self.grid_mode = GridMode(self.session, self.engine, data.outputs / "grids", self)
        self._previews = PreviewJobs(data.cache)  # "Make preview" jobs: job id → LoRA
        self.hub_page = HubPage(data)
        self.text_page = TextPage(data, self.engine)
        self.train_page = TrainPage(self.engine, default_output=data.loras)
        self._restoring = False  # a restore sets the model too, and must keep the image's own size

        # The right column: prompt and settings, then the mix (it gets the spare height), then
        # the queue, which starts small: an empty queue has nothing to show (issue 16, item 5).
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.generation)
        mix_box = QWidget()
        mix_lay = QVBoxLayout(mix_box)
        mix_lay.setContentsMargins(0, 0, 0, 0)
        mix_lay.addWidget(self.presets)
        mix_lay.addWidget(self.mixer, 1)
        right.addWidget(mix_box)
        right.addWidget(self.queue_panel)
        right.setStretchFactor(0, 0)
        right.setStretchFactor(1, 1)
        right.setStretchFactor(2, 0)
        right.setSizes([1, 10_000, 1])  # each gets its minimum, the mix the rest
        self.right_split = right
        center = QWidget()
        center_lay = QVBoxLayout(center)
        center_lay.setContentsMargins(0, 0, 0, 0)
        center_split = QSplitter(Qt.Orientation.Vertical)
        # The image, and the grid view beside it (its tab appears with the first grid).
        self.center_tabs = QTabWidget()
        self.center_tabs.setDocumentMode(True)
        self.center_tabs.addTab(self.image_view, "Image")
        self.center_tabs.addTab(self.grid_mode.view, "Grid")
        self.center_tabs.tabBar().setVisible(False)
        # Tab would stop here for good: focus goes to the tab bar, which is hidden until a grid.
        self.center_tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        center_split.addWidget(self.center_tabs)
        center_split.addWidget(self.history)
        center_split.setStretchFactor(0, 3)
        center_split.setStretchFactor(1, 1)
        center_split.setSizes([640, 220])
        center_lay.addWidget(center_split, 1)
        self.center_split = center_split
        workspace = QSplitter(Qt.Orientation.Horizontal)
        workspace.addWidget(self.library)
        workspace.addWidget(center)
        workspace.addWidget(right)
        workspace.setSizes([430, 560, 450])
        workspace.setChildrenCollapsible(False)
        self.workspace = workspace

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(workspace, "Images")
        # The training form is taller than 700 px: it scrolls, so the window's minimum stays small.
        train_scroll = QScrollArea()
        train_scroll.setWidgetResizable(True)
        train_scroll.setFrameShape(QFrame.Shape.NoFrame)
        train_scroll.setWidget(self.train_page)
        self.tabs.addTab(train_scroll, "Train")
        self.tabs.addTab(self.text_page, "Text")
        self.tabs.addTab(self.hub_page, "Hugging Face")
        root = QWidget()
        root_lay = QVBoxLayout(root)
        root_lay.setContentsMargins(6, 6, 6, 6)
        root_lay.addWidget(self.tabs, 1)
        self.setCentralWidget(root)
        self.notice = NoticeBar(root)  # an overlay: not in the layout, so nothing shifts

        self._engine_device = ""  # set once the engine says which device it runs on
        self._demo_building = False
        self._engine_busy = False
        self._run_statuses: set[str] = set()  # texts that only mean something while a job runs
        self._local_device_text = "Engine: starts on first use"  # shown while this computer is chosen
        self.device_label = ElidedLabel(self._local_device_text)  # a long GPU name elides
        self.device_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.device_label)
        # Without an engine runtime the window still browses, downloads and manages the library;
        # this button, beside the line that says so, sets the runtime up.
        self._runtime_dialog: RuntimeDialog | None = None
        self.runtime_button = QToolButton()
        self.runtime_button.setText("Set up the engine…")
        self.runtime_button.setAutoRaise(True)
        self.runtime_button.clicked.connect(self._on_runtime_requested)
        self.statusBar().addPermanentWidget(self.runtime_button)
        self.statusBar().showMessage(f"LoRA Studio {__version__} — data in {data.root}")

        self._build_menus()
        self._image_drop = install_image_drop(self)
        self._connect_signals()
        self._bind_session()
        self.refresh_models()
        self._refresh_backends()
        self._update_runtime_status()
        # Importing torch/diffusers takes seconds: start the engine process now, while the user
        # looks around, so the first Generate doesn't wait for it.
        QTimer.singleShot(300, self._on_warm_up_timer)
        waiting = len(self.session.queue.pending())
        if waiting:
            self.notice.info(f"{waiting} unfinished job{'s' if waiting != 1 else ''} from the last session "
                             "are in the queue again.")
            QTimer.singleShot(0, self._on_pending_timer)
        self._layout = WindowLayout(data.root)
        self._layout.restore(self, self._remembered_splitters())

    # -- menus -------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        # Every action is in a menu with its shortcut shown and a mnemonic (Alt+letter), so
        # the keyboard reaches all of them and the menus teach the shortcuts.
        def action(menu_name: str, text: str, slot: object, *shortcuts: str) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
            act.triggered.connect(slot)
            menus[menu_name].addAction(act)
            return act

        bar = self.menuBar()
        menus = {name: bar.addMenu(name) for name in ("&File", "&Generate", "&Mix", "&View", "&Help")}
        action("&File", "&Add models folder…", self._on_add_folder)
        action("&File", "Create &demo library", self._on_demo_requested)
        action("&File", "Open &outputs folder", self._on_open_outputs)
        action("&File", "Open &log folder", self._on_open_logs)
        menus["&File"].addSeparator()
        action("&File", "&Settings…", self._on_settings, "Ctrl+,")
        action("&File", "&Engine runtime…", self._on_runtime_requested)
        menus["&File"].addSeparator()
        action("&File", "&Quit", self.close, "Ctrl+Q")
        # Ctrl+Return is the main key, Ctrl+Enter the keypad's; Esc works only while something runs.
        self.generate_action = action("&Generate", "&Generate", self._on_generate_requested,
                                      "Ctrl+Return", "Ctrl+Enter")
        self.cancel_action = action("&Generate", "&Cancel", self._on_cancel_requested, "Esc")
        self.cancel_action.setEnabled(False)
        action("&Generate", "G&rid…", self._on_grid_requested, "Ctrl+G")
        action("&Mix", "&Add LoRA…", self._on_add_lora_requested, "Ctrl+L")
        action("&Mix", "&Copy mix as prompt tags", self.mixer.copy_as_prompt)
        action("&Mix", "C&lear the mix", self._on_clear_mix)
        for index in range(self.tabs.count()):
            text = self.tabs.tabText(index)
            action("&View", f"&{index + 1} {text}", partial(self.tabs.setCurrentIndex, index), f"Ctrl+{index + 1}")
        menus["&View"].addSeparator()
        action("&View", "Go to the &prompt", self._on_focus_prompt, "Ctrl+P")
        action("&View", "&Search the library", self._on_focus_library_search, "Ctrl+F")
        action("&Help", "&About LoRA Studio", self._on_about)

    @Slot()
    def _on_focus_prompt(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.generation.prompt.setFocus(Qt.FocusReason.ShortcutFocusReason)

    @Slot()
    def _on_focus_library_search(self) -> None:
        self.tabs.setCurrentIndex(0)
        self.library.toolbar.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.library.toolbar.search.selectAll()

    @Slot()
    def _on_add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a models folder (used in place, never copied)")
        if folder:
            self.library.add_root(Path(folder))

    @Slot()
    def _on_open_outputs(self) -> None:
        self.data.outputs.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data.outputs)))

    @Slot()
    def _on_open_logs(self) -> None:
        self.data.logs.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.data.logs)))

    @property
    def settings(self) -> Settings:
        """The current settings (read-only: change them through ``self.session.settings``)."""
        return self.session.settings.value

    @Slot()
    def _on_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self._local_device_text.removeprefix("Device: "), self, self.data,
                                runtime=self.runtime, store=self.session.settings,
                                stop_engine=self._stop_idle_engine)
        dialog.runtime_section.runtime_changed.connect(self._on_runtime_changed)  # type: ignore[union-attr]
        if dialog.exec():
            # Only the fields the dialog edits: a folder the library added meanwhile stays.
            self.session.settings.update(**dialog.changes())
        self._refresh_backends()  # servers are saved as they are added or removed, OK or not

    # -- backends ----------------------------------------------------------------------------
    def _refresh_backends(self) -> None:
        """Fill the backend picker from the configured servers and send the next jobs to the
        chosen one (the setting survives restarts; a removed server falls back to this computer)."""
        wanted = str(self.settings.extra.get("backend") or LOCAL_NAME)
        shown = self.generation.set_backends(backend_choices(self.data), wanted)
        self.choose_backend(shown)

    def choose_backend(self, choice: str) -> None:
        if self.settings.extra.get("backend", LOCAL_NAME) != choice:
            self.session.settings.update_extra(backend=choice)
        make = None if choice == LOCAL_NAME else partial(self._make_backend, choice)
        self.engine.choose_backend(make)
        self.backend_info.refresh(choice)

    def _engine_python(self) -> Path | None:
        return engine_python(self.runtime)

    def _make_backend(self, choice: str) -> Backend:
        return backend_for(choice, self.data, self.backend)

    @Slot(object)
    def _on_backend_info(self, info: ChoiceInfo) -> None:
        """The chosen server's device in the status bar, and its missing files marked in the pickers."""
        self.device_label.setText(info.label() or self._local_device_text)
        if info.remote:  # the whole line (it may be elided) and each server's
            self.device_label.setToolTip(f"{info.label()}\n{info.details()}")
        self.generation.mark_unavailable(info.note if info.remote else None)
        self.mixer.set_remote_notes(partial(info.note, kind=ModelKind.LORA) if info.remote else None)

    @Slot(object)
    def _on_job_failed(self, job: Job) -> None:
        servers = self.backend_info.info.servers
        if not servers or not isinstance(job.request, GenerationRequest):
            return
        if len(servers) == 1 and servers[0].upload:
            self._refused = job.request  # offered an upload once the server's files are read again
        self.backend_info.refresh()  # a refusal re-read the server's files: show what it has now

    @Slot(object)
    def _on_backend_refreshed(self, info: ChoiceInfo) -> None:
        request, self._refused = self._refused, None
        plan = info.upload_plan(request) if request is not None else None
        if plan is not None and request is not None:
            self.upload_offer.offer(plan, request)

    @Slot(object)
    def _on_upload_done(self, request: object) -> None:
        self.backend_info.refresh()  # the sent files are the server's now: their marks go
        if isinstance(request, GenerationRequest):
            job = self.engine.generate(request)
            self.session.queue.run_next(job.id)

    def _show_local_device(self, text: str) -> None:
        self._local_device_text = text
        if not self.backend_info.info.remote:
            self.device_label.setText(text)

    @Slot(str)
    def _on_backend_chosen(self, choice: str) -> None:
        self.choose_backend(choice)

    def _on_settings_changed(self, settings: Settings, changed: frozenset[str]) -> None:
        if "theme" in changed:
            from lorastudio.qt.theme import apply_theme

            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, settings.theme)

    @Slot()
    def _on_clear_mix(self) -> None:
        self.session.mix.set(LoraMix())

    @Slot()
    def _on_about(self) -> None:
        QMessageBox.about(self, "About LoRA Studio", (
            f"<h3>LoRA Studio {__version__}</h3><p>Install, browse and mix LoRA adapters; generate locally.</p>"
            f"<p>Data folder: {self.data.root}<br>{self.device_label.text()}</p>"))

    # -- wiring ------------------------------------------------------------------------------
    def _connect_signals(self) -> None:
        # A complete <lora:...> tag becomes a row soon after it is typed (issue 16, item 10);
        # the delay keeps half-typed weights ("0." on the way to "0.8") from churning rows.
        self._tag_timer = QTimer(self)
        self._tag_timer.setSingleShot(True)
        self._tag_timer.setInterval(300)
        self._tag_timer.timeout.connect(self._on_prompt_tags_settled)
        self.generation.prompt.textChanged.connect(self._tag_timer.start)
        self.generation.generate_requested.connect(self._on_generate_requested)
        self.generation.cancel_requested.connect(self._on_cancel_requested)
        self.generation.grid_requested.connect(self._on_grid_requested)
        self.grid_mode.message.connect(self._on_message)
        self.grid_mode.status.connect(self.statusBar().showMessage)
        self.grid_mode.started.connect(self._on_grid_started)
        self.generation.model_changed.connect(self._on_model_changed)
        self.generation.backend_chosen.connect(self._on_backend_chosen)
        self.mixer.add_requested.connect(self._on_add_lora_requested)
        self.mixer.trigger_word_clicked.connect(self._on_trigger_word)
        self.library.lora_activated.connect(self._on_library_lora)
        self.library.stack.previews_requested.connect(self.make_previews)
        self.library.checkpoint_activated.connect(self._on_library_checkpoint)
        self.library.demo_requested.connect(self._on_demo_requested)
        self.library.scan_finished.connect(self._on_library_changed)
        self.library.message.connect(self._on_page_message)
        self._image_drop.image_dropped.connect(self._on_image_dropped)
        self.history.image_chosen.connect(self._on_history_image_chosen)
        self.history.reuse_requested.connect(self._on_history_reuse)
        self.history.failed.connect(self.notice.error)
        self.presets.preset_chosen.connect(self._on_preset_chosen)
        self.presets.failed.connect(self.notice.error)
        self.hub_page.installed.connect(self._on_hub_installed)
        self.hub_page.message.connect(self._on_page_message)
        self.text_page.message.connect(self._on_page_message)
        self.train_page.message.connect(self._on_page_message)
        self.train_page.epoch_saved.connect(self._on_train_epoch_saved)
        self.train_page.compare_requested.connect(self._on_train_compare)
        self.queue_panel.cancel_requested.connect(self._on_queue_cancel)
        self.queue_panel.open_requested.connect(self._on_history_image_chosen)
        self.errors.error.connect(self._on_uncaught_error)
        self.engine.message.connect(self._on_message)
        self.engine.queue_changed.connect(self.queue_panel.refresh)
        self.engine.started.connect(self._on_engine_started)
        self.engine.busy_changed.connect(self._on_engine_busy)
        self.engine.status.connect(self._on_engine_status)
        self.engine.device.connect(self._on_engine_device)
        self.engine.job_failed.connect(self._on_job_failed)
        self.backend_info.changed.connect(self._on_backend_info)
        self.backend_info.refreshed.connect(self._on_backend_refreshed)
        self.upload_offer.uploaded.connect(self._on_upload_done)
        self.upload_offer.message.connect(self._on_message)
        self.engine.progress.connect(self._on_engine_progress)
        self.engine.preview.connect(self._on_engine_preview)
        self.engine.finished.connect(self._on_engine_finished)
        self.engine.failed.connect(self._on_engine_failed)
        self.engine.cancelled.connect(self._on_engine_cancelled)
        self.engine.demo_built.connect(self._on_demo_built)

    def _bind_session(self) -> None:
        """Two-way binding of the mixer's view-model and the session's mix (both emit only on a
        real change, so they cannot echo), and the settings store's changes."""
        self.mix_state.set_mix(self.session.mix.value)
        self.mix_state.mix_changed.connect(self._on_mix_state_changed)
        self.session.mix.changed.connect(self._on_session_mix_changed)
        self.session.message.connect(self._on_message)
        self.session.settings.connect(self._on_settings_changed)

    @Slot(object)
    def _on_mix_state_changed(self, mix: object) -> None:
        self.session.mix.set(mix)  # type: ignore[arg-type]

    def _on_session_mix_changed(self, mix: LoraMix) -> None:
        self.mix_state.set_mix(mix)

    # -- models ------------------------------------------------------------------------------
    def model_infos(self) -> list[FileInfo]:
        return [e.info for e in self.session.library.models()]

    def lora_infos(self) -> list[FileInfo]:
        return self.session.library.lora_infos()

    def _backend_models(self) -> ModelList:
        lib = self.session.library
        return ModelList(tuple(e.path for e in lib.models()), tuple(e.path for e in lib.loras()))

    def refresh_models(self) -> None:
        self.session.set_library(LibraryIndex(self.library.model.records()))
        choices = self.session.library.model_choices()
        self.generation.set_models(choices)
        if not choices:
            # Short: a combo is at least as wide as its placeholder, and a long one widened
            # the window past 1024 px. The library's empty state says how to get a model.
            self.generation.model.setPlaceholderText("No model yet")
        self.generation.set_vaes(self.session.library.vae_choices())
        self.train_page.settings.set_base_models([(label, Path(path)) for label, path in choices])

    def current_base(self) -> BaseArch | None:
        return self.session.library.base_of(self.session.params.value.model)

    # -- generation --------------------------------------------------------------------------
    def build_request(self) -> GenerationRequest | None:
        """The request for the current parameters and mix, or None (with a notice) without a model."""
        try:
            return self.session.build_request()
        except LoraStudioError as err:
            self.notice.show_message(messages.from_exception(err))
            return None

    def _resolve_lora_name(self, name: str) -> LoraSpec | None:
        return self.session.library.resolve_lora(name)

    @Slot()
    def _on_generate_requested(self) -> None:
        """Queue a job; it runs at once when nothing else does (clicking while busy queues)."""
        if self.tabs.currentWidget() is self.text_page:  # Ctrl+Enter on the Text tab generates text
            button = self.text_page.generate_panel.generate_button
            if button.isEnabled():
                button.click()
            return
        request = self.build_request()
        if request is None or not self.engine_ready():
            return
        self.generation.remember_seed(request.seed)
        self.engine.generate(request)

    @Slot(list, bool)
    def make_previews(self, paths: list[str], overwrite: bool) -> None:
        """Queue one preview generation per LoRA (current checkpoint and settings, fixed seed)."""
        base = self.build_request()  # no checkpoint: one sentence in the notice bar
        if base is None or not self.engine_ready():
            return
        for path in paths:
            rec = self.library.catalog_record(path)
            if rec is None:
                continue
            try:
                request = preview_request(base, rec.path, rec.preferred_weight, rec.trigger_words)
            except LoraStudioError as err:
                self.notice.show_message(messages.from_exception(err))
                return
            self._previews.add(self.engine.generate(request).id, rec.path, rec.sha256, overwrite)
        self.statusBar().showMessage(self._previews.progress())

    @Slot()
    def _on_prompt_tags_settled(self) -> None:
        self.session.sync_prompt_loras()

    @Slot()
    def _on_grid_requested(self) -> None:
        if self.engine_ready():
            self.grid_mode.open_dialog()

    @Slot()
    def _on_grid_started(self) -> None:
        self.center_tabs.tabBar().setVisible(True)
        self.center_tabs.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.center_tabs.setCurrentWidget(self.grid_mode.view)

    @Slot()
    def _on_cancel_requested(self) -> None:
        if self.grid_mode.active:  # Cancel while a grid runs stops the grid, keeping the cells made
            self.grid_mode.cancel()
            self.statusBar().showMessage("Cancelling the grid…")
        elif self.engine.busy:
            self.engine.cancel()
            self.generation.progress.setFormat("Cancelling…")
            self.statusBar().showMessage("Cancelling…")

    @Slot(str)
    def _on_queue_cancel(self, job_id: str) -> None:
        self.engine.cancel(job_id)

    # -- engine events -----------------------------------------------------------------------
    @Slot(object)
    def _on_engine_started(self, job: object) -> None:
        request = getattr(job, "request", None)
        if isinstance(request, GenerationRequest):
            self._running_size = (request.width, request.height)

    @Slot(bool)
    def _on_engine_busy(self, busy: bool) -> None:
        self._engine_busy = busy
        self.cancel_action.setEnabled(busy)
        self.generation.set_running(busy)
        self.library.set_generation_running(busy)  # background hashing waits for the generation
        if not busy:
            # A refusal or a failed demo build ends without a "finished": no run-time text stays.
            if self.statusBar().currentMessage() in self._run_statuses | {"Generating…", "Cancelling…"}:
                self.statusBar().clearMessage()
            self._run_statuses.clear()
            if self._demo_building:
                self._demo_building = False
                if "Building the demo library" in self.notice.text():
                    self.notice.hide()

    @Slot(str)
    def _on_engine_status(self, text: str) -> None:
        # Every status comes from the current state (issue 16, item 8): a status between jobs
        # (the engine warming up) belongs to the engine label, not to the idle progress bar.
        self.statusBar().showMessage(text)
        if self._engine_busy:
            self._run_statuses.add(text)
            self.generation.progress.setFormat(text if len(text) < 60 else text[:57] + "…")
        elif not self._engine_device:
            self._show_local_device("Engine: could not start" if "could not start" in text else "Engine: starting…")

    @Slot(str)
    def _on_engine_device(self, text: str) -> None:
        self._engine_device = text
        self._show_local_device(f"Device: {text}")
        if not self._engine_busy:
            self.statusBar().clearMessage()  # the warm-up status is over

    @Slot(int, int, float)
    def _on_engine_progress(self, step: int, total: int, elapsed: float) -> None:
        self.generation.show_progress(step, total, elapsed)
        if step == 1:
            self.statusBar().showMessage("Generating…")

    @Slot(QImage)
    def _on_engine_preview(self, image: QImage) -> None:
        # Latent previews are 1/8 of the image: show them at the final size so nothing jumps.
        w, h = self._running_size
        self.image_view.show_image(image.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation))

    @Slot(object, object)
    def _on_engine_finished(self, result: object, paths: object) -> None:
        saved = [Path(p) for p in paths]  # type: ignore[attr-defined]
        self.last_result_paths = saved
        self.history.add_results(saved)
        self.grid_mode.on_finished(result, saved)
        job_id = getattr(result, "job_id", "")
        if job_id in self._previews:
            images = getattr(result, "images", ())
            written = self._previews.finish(job_id, images[0].png) if images else None
            if written is None:
                self._previews.drop(job_id)
            else:
                self.library.model.forget_thumbnail(str(written))  # a remade preview replaces the old one
                if written.is_relative_to(self.data.cache):  # the library does not read the cache (yet)
                    self.notice.info(f"The LoRA's folder is read-only: its preview was saved as {written}.")
                self.library.rescan()  # the card shows the new preview
            self.statusBar().showMessage(self._previews.progress())
        if saved:
            self.image_view.show_image(QImage(str(saved[-1])))
            self.generation.show_done(f"Done: {len(saved)} image{'s' if len(saved) > 1 else ''}",
                                      getattr(result, "seconds", None))
            self.statusBar().showMessage(f"Saved {saved[-1]}")

    @Slot(str)
    def _on_engine_failed(self, message: str) -> None:
        # The notice itself comes through _on_message (one typed message per failure).
        self.generation.show_done("Failed", state="failed")
        self.statusBar().showMessage("Generation failed.")
        self.grid_mode.check_over()
        self._previews.drop_all_but({j.id for j in self.session.queue.jobs() if not j.state.finished})

    @Slot()
    def _on_engine_cancelled(self) -> None:
        self.generation.show_done("Cancelled", state="cancelled")
        self.statusBar().showMessage("Generation cancelled.")
        self.notice.info("Generation cancelled.")
        self.grid_mode.check_over()
        self._previews.drop_all_but({j.id for j in self.session.queue.jobs() if not j.state.finished})

    @Slot(object)
    def _on_message(self, message: object) -> None:
        if isinstance(message, Message):
            self.notice.show_message(message)
            if message.kind == messages.MessageKind.ENGINE_START and self._engine_python() is None:
                # A job that only runs here (text, training) met no engine runtime: offer to set it up.
                self.open_runtime_dialog("Jobs on this computer need the engine runtime.")

    def report_exception(self, err: BaseException) -> None:
        """For the excepthook (any thread): the user gets one sentence, the log the traceback."""
        self.errors.error.emit(err)

    @Slot(object)
    def _on_uncaught_error(self, err: object) -> None:
        if isinstance(err, BaseException):
            self.notice.show_message(messages.from_exception(err))

    def open_files(self, paths: list[Path]) -> None:
        """Files given on the command line ("Open with"): PNGs restore, models are installed
        (the library asks copy/move/link) unless they already are in the library."""
        models = []
        for path in paths:
            if path.suffix.lower() == ".png":
                self.restore_from_image(path)
            elif self.library.record(str(path.resolve())) is not None:
                self.library.select_path(str(path.resolve()))
            else:
                models.append(path)
        if models:
            self.library.install_paths(models)

    # -- history, presets, dropped images ----------------------------------------------------
    def restore_from_image(self, path: Path) -> None:
        """Prompt, settings and LoRA mix from a PNG's infotext (ours, A1111's, Fooocus's...)."""
        try:
            self._restoring = True
            plan = self.session.restore_image(path, library_from_catalog(self.data.catalog_db))
        except LoraStudioError as err:
            self.notice.show_message(messages.from_exception(err))
            return
        finally:
            self._restoring = False
        if plan.missing:
            self.notice.show_message(messages.error(plan.summary(), messages.MessageKind.LORA_MISSING))
        else:
            self.notice.show_message(messages.info(plan.summary(), messages.MessageKind.RESTORE))

    @Slot(str)
    def _on_history_image_chosen(self, path: str) -> None:
        self.image_view.show_image(QImage(path))

    @Slot(str)
    def _on_history_reuse(self, path: str) -> None:
        self.restore_from_image(Path(path))

    @Slot(str)
    def _on_image_dropped(self, path: str) -> None:
        self.restore_from_image(Path(path))
        spec = read_grid_setup(Path(path))
        if spec is not None:  # a grid PNG: its axes go back into the Grid dialog
            self.grid_mode.open_dialog(spec)

    @Slot(object)
    def _on_preset_chosen(self, preset: object) -> None:
        self._restoring = True
        try:
            missing = apply_preset(preset, self.generation, self.mix_state, self._resolve_lora_name)
        finally:
            self._restoring = False
        if missing:
            self.notice.error(f"Preset loaded without: {', '.join(missing)} (not in the library).")

    # -- library and mixer -------------------------------------------------------------------
    @Slot(str)
    def _on_model_changed(self, path: str) -> None:
        base = self.current_base()
        self.mixer.set_model_base(base)
        known = base not in (None, BaseArch.UNKNOWN, BaseArch.OTHER)
        self.library.set_current_base(base.value if known and base else "")
        self.generation.set_size_presets(self.session.library.size_family(Path(path) if path else None))
        if path and not self._restoring:
            # A model picked by the user starts at its native size (and its suggested steps, if known).
            self.session.params.update(**model_defaults(Path(path), base or BaseArch.UNKNOWN).changes())

    @Slot()
    def _on_add_lora_requested(self) -> None:
        info = self.backend_info.info
        note = partial(info.note, kind=ModelKind.LORA) if info.remote else None
        dialog = LoraPickerDialog(self.lora_infos(), self.current_base(), self, remote_note=note)
        if dialog.exec():
            for path in dialog.chosen():
                self.add_lora(path)

    def add_lora(self, path: Path) -> None:
        """Add to the mix; with the setting on, the LoRA's trigger words go into the prompt."""
        self.mixer.add_lora(path)
        if self.settings.auto_trigger_words:
            info = self.mixer.info_for(path)
            for word in (info.trigger_words if info else ())[:3]:
                self.generation.insert_prompt_text(word)

    @Slot(str)
    def _on_library_lora(self, path: str) -> None:
        self.add_lora(Path(path))

    @Slot(str)
    def _on_library_checkpoint(self, path: str) -> None:
        self.generation.select_model(Path(path))

    @Slot(str)
    def _on_trigger_word(self, word: str) -> None:
        self.generation.insert_prompt_text(word)

    @Slot()
    def _on_demo_requested(self) -> None:
        if not self.engine_ready(local=True):  # the demo model is built by the engine process
            return
        self._demo_building = True
        self.notice.info("Building the demo library (a few seconds)…")
        self.engine.build_demo(self.data.root)

    @Slot()
    def _on_demo_built(self) -> None:
        self._demo_building = False
        self.library.rescan()
        self.notice.info("Demo library ready: a tiny model and three LoRAs. Random weights make noisy pictures.")

    @Slot()
    def _on_library_changed(self) -> None:
        self.refresh_models()

    @Slot(object)
    def _on_train_epoch_saved(self, path: object) -> None:
        self.library.rescan()

    @Slot(object, object, str)
    def _on_train_compare(self, config: object, files: object, prompt: str) -> None:
        """Compare epochs: the Grid dialog set to epoch file × weight, on the training's base model,
        size and seed, with its first sample prompt and only its LoRA in the mix."""
        if not isinstance(config, TrainConfig) or not isinstance(files, list) or not files:
            return
        try:
            spec = files_by_weight(files)
        except LoraStudioError as err:
            self.notice.show_message(messages.from_exception(err))
            return
        self.session.params.update(model=Path(config.base_model))  # first: a new model resets the size
        self.session.params.update(prompt=prompt, seed=config.seed, steps=config.sample_steps,
                                   width=config.resolution, height=config.resolution)
        self.session.mix.set(LoraMix((LoraSpec(files[-1], 1.0),)))
        self.tabs.setCurrentIndex(0)
        self.grid_mode.open_dialog(spec)

    @Slot(str)
    def _on_hub_installed(self, path: str) -> None:
        self.library.rescan()
        self.notice.info(f"Installed {Path(path).name}; it is in the library now.")

    @Slot(str, str)
    def _on_page_message(self, level: str, text: str) -> None:
        # Pages still speak in level strings; map them onto the typed message once, here.
        if level == "error":
            self.notice.error(text)
        elif level == "warning":
            self.notice.warning(text)
        else:
            self.notice.info(text)

    @Slot()
    def _on_warm_up_timer(self) -> None:
        if not self._shut_down and self._engine_python() is not None:
            self.engine.warm_up()

    @Slot()
    def _on_pending_timer(self) -> None:
        # Jobs for this computer wait in the queue until an engine runtime exists (then they run).
        if not self._shut_down and (self._remote_chosen() or self._engine_python() is not None):
            self.engine.run_pending()

    # -- engine runtime ----------------------------------------------------------------------
    _NO_RUNTIME = "No engine runtime: browsing and downloads work"

    def _remote_chosen(self) -> bool:
        return str(self.settings.extra.get("backend") or LOCAL_NAME) != LOCAL_NAME

    def engine_ready(self, *, local: bool = False) -> bool:
        """Whether a job can run; without an engine runtime a job for this computer (``local``:
        one that always runs here) opens the first-run dialog instead of failing."""
        if (self._remote_chosen() and not local) or self._engine_python() is not None:
            return True
        self.open_runtime_dialog("Generating on this computer needs the engine runtime.")
        return False

    def open_runtime_dialog(self, why: str = "") -> RuntimeDialog:
        """The first-run dialog, not modal: the window stays usable while it installs."""
        if self._runtime_dialog is None:
            self._runtime_dialog = RuntimeDialog(self.runtime, self.session.settings, self, why=why, background=True)
            self._runtime_dialog.installed.connect(self._on_runtime_installed)
            self._runtime_dialog.failed.connect(self._on_runtime_install_failed)
            self._runtime_dialog.finished.connect(self._on_runtime_dialog_closed)
        self._runtime_dialog.show()
        self._runtime_dialog.raise_()
        self._runtime_dialog.activateWindow()
        return self._runtime_dialog

    @Slot()
    def _on_runtime_requested(self) -> None:
        state = self.runtime.state()
        if state.kind == "this-environment":  # a source checkout: nothing to set up
            self.notice.info(state.detail)
        else:
            self.open_runtime_dialog()

    def _update_runtime_status(self) -> None:
        missing = self._engine_python() is None
        self.runtime_button.setVisible(missing)
        if missing:
            self._show_local_device(self._NO_RUNTIME)
        elif self._local_device_text == self._NO_RUNTIME:
            self._show_local_device("Engine: starts on first use")

    def _stop_idle_engine(self) -> None:
        """The engine runtime changes: the next job starts an engine from the new one (a running
        job finishes on the old one first)."""
        if self.backend.restart_when_idle():
            self._engine_device = ""
            self._show_local_device("Engine: starts on first use")

    @Slot(object)
    def _on_runtime_installed(self, _state: object) -> None:
        self._stop_idle_engine()
        self._on_runtime_changed()
        self.notice.info("The engine runtime is ready: generating works now.")
        self._on_warm_up_timer()
        self._on_pending_timer()

    @Slot()
    def _on_runtime_changed(self) -> None:
        self._update_runtime_status()

    @Slot(str)
    def _on_runtime_install_failed(self, text: str) -> None:
        if self._runtime_dialog is not None and not self._runtime_dialog.isVisible():
            self.notice.error(text)  # it was installing in the background

    @Slot(int)
    def _on_runtime_dialog_closed(self, _result: int) -> None:
        self._update_runtime_status()
        if self._runtime_dialog is not None and self._runtime_dialog.installing:
            self.notice.info("The engine runtime goes on installing in the background; "
                             "Set up the engine… shows its progress.")
        elif self._engine_python() is None:
            self.notice.info("No engine runtime yet: the library, the Hugging Face page and downloads work; "
                             "generating on this computer needs it (File ▸ Engine runtime…).")

    # -- lifetime ----------------------------------------------------------------------------
    def _remembered_splitters(self) -> dict[str, QSplitter]:
        """The panels whose sizes survive a restart, by a stable name."""
        splitters = {"workspace": self.workspace, "center": self.center_split, "right": self.right_split,
                     "library": self.library.splitter, "text": self.text_page.main_area}
        for page, name in ((self.hub_page, "hub"), (self.train_page, "train")):
            for i, splitter in enumerate(page.findChildren(QSplitter)):
                splitters[f"{name}{i}"] = splitter
        return splitters

    def closeEvent(self, event: QCloseEvent) -> None:
        self._layout.save(self, self._remembered_splitters())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the engine process and every thread (library, hub workers); safe to call twice.
        Unfinished jobs stay in the saved queue and run again at the next start."""
        if self._shut_down:
            return
        self._shut_down = True
        self.session.settings.disconnect(self._on_settings_changed)
        self.session.mix.changed.disconnect(self._on_session_mix_changed)
        if self._runtime_dialog is not None:
            self._runtime_dialog.shutdown()  # stops an install (the next one resumes it)
        self.engine.shutdown()
        self.backend_info.shutdown()
        self.upload_offer.shutdown()
        self.history.shutdown()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._image_drop)
        self.presets.store.close()
        self.library.shutdown()
        self.hub_page.shutdown()
        self.text_page.shutdown()
        self.train_page.shutdown()
