"""The main window: composes the library, the mixer, the generation panel, text mode and the hub.

It owns no logic of its own beyond turning widget values into a frozen GenerationRequest and
routing results and errors to the one notice bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lorastudio import __version__
from lorastudio.core.engine.memory import MemoryOptions
from lorastudio.core.engine.mix import extract_prompt_loras, merge_prompt_loras
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.library.presets import PresetStore
from lorastudio.core.metadata.detect import FileInfo, inspect_path
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import Settings, save_settings
from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.generation_panel import GenerationPanel
from lorastudio.qt.widgets.history_panel import (
    HistoryPanel,
    install_image_drop,
    library_from_catalog,
    restore_image,
)
from lorastudio.qt.widgets.hub_page import HubPage
from lorastudio.qt.widgets.image_view import ImageView
from lorastudio.qt.widgets.library_panel import LibraryPanel
from lorastudio.qt.widgets.lora_picker import LoraPickerDialog
from lorastudio.qt.widgets.mixer_panel import MixerPanel
from lorastudio.qt.widgets.notice_bar import NoticeBar
from lorastudio.qt.widgets.presets_bar import PresetsBar, apply_preset
from lorastudio.qt.widgets.settings_dialog import SettingsDialog
from lorastudio.qt.widgets.text_page import TextPage
from lorastudio.qt.workers.engine_worker import EngineClient

_MODEL_KINDS = (ModelKind.PIPELINE, ModelKind.CHECKPOINT)


class MainWindow(QMainWindow):
    def __init__(self, data: DataDir, settings: Settings) -> None:
        super().__init__()
        self.data = data
        self.settings = settings
        self.setWindowTitle("LoRA Studio")
        self.resize(1440, 900)
        self.last_result_paths: list[Path] = []
        self._shut_down = False
        self._running_size = (512, 512)

        self.mix_state = MixState(self)
        self.engine = EngineClient(data, self)
        self.notice = NoticeBar()
        self.library = LibraryPanel(data)
        self.generation = GenerationPanel()
        self.mixer = MixerPanel(self.mix_state)
        self.presets = PresetsBar(PresetStore(data.catalog_db), self.mix_state, self.generation.settings)
        self.history = HistoryPanel(data)
        self.image_view = ImageView()
        self.hub_page = HubPage(data)
        self.text_page = TextPage(data, device="auto")

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.generation)
        mix_box = QWidget()
        mix_lay = QVBoxLayout(mix_box)
        mix_lay.setContentsMargins(0, 0, 0, 0)
        mix_lay.addWidget(self.presets)
        mix_lay.addWidget(self.mixer, 1)
        right.addWidget(mix_box)
        right.setStretchFactor(0, 0)
        right.setStretchFactor(1, 1)
        center = QWidget()
        center_lay = QVBoxLayout(center)
        center_lay.setContentsMargins(0, 0, 0, 0)
        center_split = QSplitter(Qt.Orientation.Vertical)
        center_split.addWidget(self.image_view)
        center_split.addWidget(self.history)
        center_split.setStretchFactor(0, 3)
        center_split.setStretchFactor(1, 1)
        center_split.setSizes([640, 220])
        center_lay.addWidget(center_split, 1)
        workspace = QSplitter(Qt.Orientation.Horizontal)
        workspace.addWidget(self.library)
        workspace.addWidget(center)
        workspace.addWidget(right)
        workspace.setSizes([430, 560, 450])
        workspace.setChildrenCollapsible(False)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(workspace, "Images")
        self.tabs.addTab(self.text_page, "Text")
        self.tabs.addTab(self.hub_page, "Hugging Face")
        root = QWidget()
        root_lay = QVBoxLayout(root)
        root_lay.setContentsMargins(6, 6, 6, 6)
        root_lay.addWidget(self.notice)
        root_lay.addWidget(self.tabs, 1)
        self.setCentralWidget(root)

        self.device_label = QLabel("Engine: starts on first use")
        self.device_label.setObjectName("muted")
        self.statusBar().addPermanentWidget(self.device_label)
        self.statusBar().showMessage(f"LoRA Studio {__version__} — data in {data.root}")

        self._build_menus()
        self._image_drop = install_image_drop(self)
        self._connect_signals()
        self.refresh_models()
        # Importing torch/diffusers takes seconds: start now, in the engine thread, while the
        # user looks around, so the first Generate doesn't wait for it.
        QTimer.singleShot(300, self.engine.warm_up)
        geometry = QSettings("LoRA Studio", "LoRA Studio").value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    # -- menus -------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        def action(menu_name: str, text: str, slot: object, shortcut: str = "") -> QAction:
            act = QAction(text, self)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            menus[menu_name].addAction(act)
            return act

        bar = self.menuBar()
        menus = {name: bar.addMenu(name) for name in ("&File", "&Mix", "&Help")}
        action("&File", "Add models folder…", self._on_add_folder)
        action("&File", "Create demo library", self._on_demo_requested)
        action("&File", "Open outputs folder", self._on_open_outputs)
        menus["&File"].addSeparator()
        action("&File", "Settings…", self._on_settings, "Ctrl+,")
        menus["&File"].addSeparator()
        action("&File", "Quit", self.close, "Ctrl+Q")
        action("&Mix", "Add LoRA…", self._on_add_lora_requested, "Ctrl+L")
        action("&Mix", "Copy mix as prompt tags", self.mixer.copy_as_prompt)
        action("&Mix", "Clear the mix", self._on_clear_mix)
        action("&Help", "About LoRA Studio", self._on_about)

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
    def _on_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.device_label.text().removeprefix("Device: "), self)
        if not dialog.exec():
            return
        new = dialog.result_settings()
        if new.theme != self.settings.theme:
            from lorastudio.qt.theme import apply_theme

            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, new.theme)
        self.settings = new
        save_settings(self.data.settings_file, new)

    @Slot()
    def _on_clear_mix(self) -> None:
        from lorastudio.core.engine.mix import LoraMix

        self.mix_state.set_mix(LoraMix())

    @Slot()
    def _on_about(self) -> None:
        QMessageBox.about(self, "About LoRA Studio", (
            f"<h3>LoRA Studio {__version__}</h3><p>Install, browse and mix LoRA adapters; generate locally.</p>"
            f"<p>Data folder: {self.data.root}<br>{self.device_label.text()}</p>"))

    # -- wiring ------------------------------------------------------------------------------
    def _connect_signals(self) -> None:
        self.generation.generate_requested.connect(self._on_generate_requested)
        self.generation.cancel_requested.connect(self._on_cancel_requested)
        self.generation.model_changed.connect(self._on_model_changed)
        self.mixer.add_requested.connect(self._on_add_lora_requested)
        self.mixer.trigger_word_clicked.connect(self._on_trigger_word)
        self.library.lora_activated.connect(self._on_library_lora)
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
        self.engine.busy_changed.connect(self._on_engine_busy)
        self.engine.status.connect(self._on_engine_status)
        self.engine.device.connect(self._on_engine_device)
        self.engine.progress.connect(self._on_engine_progress)
        self.engine.preview.connect(self._on_engine_preview)
        self.engine.finished.connect(self._on_engine_finished)
        self.engine.failed.connect(self._on_engine_failed)
        self.engine.cancelled.connect(self._on_engine_cancelled)
        self.engine.demo_built.connect(self._on_demo_built)
        QShortcut(QKeySequence("Ctrl+Return"), self, activated=self._on_generate_requested)
        QShortcut(QKeySequence("Ctrl+Enter"), self, activated=self._on_generate_requested)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self._on_cancel_requested)

    # -- models ------------------------------------------------------------------------------
    def _infos(self) -> list[FileInfo]:
        return [r.info for r in self.library.model.records() if not r.missing]

    def model_infos(self) -> list[FileInfo]:
        return [i for i in self._infos() if i.kind in _MODEL_KINDS and i.status == "ok"]

    def lora_infos(self) -> list[FileInfo]:
        return [i for i in self._infos() if i.kind in (ModelKind.LORA, ModelKind.LYCORIS)]

    def refresh_models(self) -> None:
        models = sorted(self.model_infos(), key=lambda i: (i.title or i.path.name).lower())
        self.generation.set_models([(f"{i.title or i.path.name}  [{i.base.label}]", i.path) for i in models])
        if not models:
            self.generation.model.setPlaceholderText("No model yet: create the demo library or add a folder")
        vaes = sorted((i for i in self._infos() if i.kind is ModelKind.VAE and i.status == "ok"),
                      key=lambda i: i.path.name.lower())
        self.generation.set_vaes([(i.title or i.path.name, i.path) for i in vaes])

    def current_base(self) -> BaseArch | None:
        path = self.generation.current_model()
        if path is None:
            return None
        for info in self.model_infos():
            if info.path == path:
                return info.base
        return inspect_path(path).base

    # -- generation --------------------------------------------------------------------------
    def build_request(self) -> GenerationRequest | None:
        s = self.generation.settings()
        if s.model is None:
            self.notice.error("Pick a model first (or create the demo library from the library panel).")
            return None
        prompt, tags = extract_prompt_loras(s.prompt)
        if tags:
            mix, missing = merge_prompt_loras(self.mix_state.mix, tags, self._resolve_lora_name)
            self.mix_state.set_mix(mix)
            self.generation.prompt.setPlainText(prompt)
            if missing:
                self.notice.error(f"Not in the library: {', '.join(missing)}. Generating without them.")
        return GenerationRequest(
            model=s.model, prompt=prompt, negative_prompt=s.negative_prompt, loras=self.mix_state.mix.specs,
            seed=s.seed, steps=s.steps, cfg=s.cfg, width=s.width, height=s.height, sampler=s.sampler,
            clip_skip=s.clip_skip, batch_count=s.batch_count, vae=s.vae, preview_every=max(1, s.steps // 10),
            memory=MemoryOptions(attention_slicing=self.settings.attention_slicing,
                                 vae_tiling=self.settings.vae_tiling, cpu_offload=self.settings.cpu_offload))

    def _resolve_lora_name(self, name: str) -> LoraSpec | None:
        wanted = name.strip().lower()
        for info in self.lora_infos():
            if wanted in {info.path.stem.lower(), (info.title or "").lower()}:
                return LoraSpec(path=info.path, name=info.title or info.path.stem)
        return None

    @Slot()
    def _on_generate_requested(self) -> None:
        if self.engine.busy:
            return
        request = self.build_request()
        if request is None:
            return
        self.generation.remember_seed(request.seed)
        self._running_size = (request.width, request.height)
        self.generation.set_running(True)
        self.engine.generate(request)

    @Slot()
    def _on_cancel_requested(self) -> None:
        if self.engine.busy:
            self.engine.cancel()
            self.generation.progress.setFormat("Cancelling…")

    # -- engine events -----------------------------------------------------------------------
    @Slot(bool)
    def _on_engine_busy(self, busy: bool) -> None:
        self.generation.set_running(busy)

    @Slot(str)
    def _on_engine_status(self, text: str) -> None:
        self.statusBar().showMessage(text)
        self.generation.progress.setFormat(text if len(text) < 60 else text[:57] + "…")

    @Slot(str)
    def _on_engine_device(self, text: str) -> None:
        self.device_label.setText(f"Device: {text}")

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
    def _on_engine_finished(self, results: object, paths: object) -> None:
        saved = [Path(p) for p in paths]  # type: ignore[attr-defined]
        self.last_result_paths = saved
        self.history.add_results(saved)
        if saved:
            self.image_view.show_image(QImage(str(saved[-1])))
            took = sum(r.timings.get("denoise_and_decode", 0.0) for r in results)  # type: ignore[attr-defined]
            self.generation.show_done(f"Done: {len(saved)} image{'s' if len(saved) > 1 else ''}", took)
            self.statusBar().showMessage(f"Saved {saved[-1]}")

    @Slot(str)
    def _on_engine_failed(self, message: str) -> None:
        self.notice.error(message)
        self.generation.show_done("Failed")

    @Slot()
    def _on_engine_cancelled(self) -> None:
        self.generation.show_done("Cancelled")
        self.notice.info("Generation cancelled.")

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
        loras, models = library_from_catalog(self.data.catalog_db)
        try:
            plan = restore_image(path, self.generation, self.mix_state, loras, models)
        except LoraStudioError as err:
            self.notice.error(str(err))
            return
        if plan.missing:
            self.notice.error(plan.summary())
        else:
            self.notice.info(plan.summary())

    @Slot(str)
    def _on_history_image_chosen(self, path: str) -> None:
        self.image_view.show_image(QImage(path))

    @Slot(str)
    def _on_history_reuse(self, path: str) -> None:
        self.restore_from_image(Path(path))

    @Slot(str)
    def _on_image_dropped(self, path: str) -> None:
        self.restore_from_image(Path(path))

    @Slot(object)
    def _on_preset_chosen(self, preset: object) -> None:
        missing = apply_preset(preset, self.generation, self.mix_state, self._resolve_lora_name)
        if missing:
            self.notice.error(f"Preset loaded without: {', '.join(missing)} (not in the library).")

    # -- library and mixer -------------------------------------------------------------------
    @Slot(str)
    def _on_model_changed(self, path: str) -> None:
        base = self.current_base()
        self.mixer.set_model_base(base)
        known = base not in (None, BaseArch.UNKNOWN, BaseArch.OTHER)
        self.library.set_current_base(base.value if known and base else "")
        family = {BaseArch.SDXL: "sdxl", BaseArch.SD2: "sd2"}.get(base, "sd1") if base else "sd1"
        if path and Path(path).name.startswith("demo-"):
            family = "demo"
        self.generation.set_size_presets(family)

    @Slot()
    def _on_add_lora_requested(self) -> None:
        dialog = LoraPickerDialog(self.lora_infos(), self.current_base(), self)
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
        self.notice.info("Building the demo library (a few seconds)…")
        self.engine.build_demo()

    @Slot(object)
    def _on_demo_built(self, lib: object) -> None:
        self.library.rescan()
        self.notice.info("Demo library ready: a tiny model and three LoRAs. Random weights make noisy pictures.")

    @Slot()
    def _on_library_changed(self) -> None:
        self.refresh_models()

    @Slot(str)
    def _on_hub_installed(self, path: str) -> None:
        self.library.rescan()
        self.notice.info(f"Installed {Path(path).name}; it is in the library now.")

    @Slot(str, str)
    def _on_page_message(self, level: str, text: str) -> None:
        if level == "error":
            self.notice.error(text)
        else:
            self.notice.info(text)

    # -- lifetime ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        QSettings("LoRA Studio", "LoRA Studio").setValue("geometry", self.saveGeometry())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop every thread (engine, library, hub workers); safe to call twice."""
        if self._shut_down:
            return
        self._shut_down = True
        self.engine.shutdown()
        self.history.shutdown()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._image_drop)
        self.presets.store.close()
        self.library.shutdown()
        self.hub_page.shutdown()
        self.text_page.shutdown()
