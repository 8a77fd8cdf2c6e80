"""Text mode: a causal language model, a PEFT adapter mix, generation, fine-tuning and merging.

The page owns one ``TextClient`` (a long-lived text thread holding the TextEngine). Slider moves
only change the ``TextMix`` value; the engine applies it at the next generation, rebuilding the
combined adapter without reloading the base model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.cancel import CancelToken
from lorastudio.core.paths import DataDir
from lorastudio.core.text.mix import TextGenerationRequest, TextGenerationResult, TextMix
from lorastudio.core.text.models import (
    AdapterFit,
    TextModelInfo,
    check_adapter_fit,
    find_adapters,
    find_cached_text_models,
    find_text_models,
    model_weight_shapes,
)
from lorastudio.core.text.train import TrainConfig, TrainProgress, TrainResult, unique_dir
from lorastudio.qt.widgets.text_generate import TextGeneratePanel
from lorastudio.qt.widgets.text_mixer import TextMixerPanel
from lorastudio.qt.widgets.text_train import TextTrainPanel
from lorastudio.qt.workers.text_worker import DemoJob, GenerateJob, MergeJob, TextClient, TrainJob


class TextPage(QWidget):
    """Signals (all emitted in the GUI thread): message(str level, str text) — "info" or "error",
    for the window's notice bar; busy_changed(bool); generation_finished(object
    TextGenerationResult); training_finished(object TrainResult); merged(object TextModelInfo);
    models_changed()."""

    message = Signal(str, str)
    busy_changed = Signal(bool)
    generation_finished = Signal(object)
    training_finished = Signal(object)
    merged = Signal(object)
    models_changed = Signal()

    def __init__(self, data_dir: DataDir, parent: QWidget | None = None, *, device: str = "cpu",
                 include_hf_cache: bool = True) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self._include_hf_cache = include_hf_cache
        self._models: list[TextModelInfo] = []
        self._job_cancel: CancelToken | None = None
        self._busy = False
        self._pending = 0  # user jobs queued or running in the text thread
        self.last_result: TextGenerationResult | None = None
        self.last_train: TrainResult | None = None

        self.client = TextClient(device, self)
        worker = self.client.worker
        worker.status.connect(self._on_worker_status)
        worker.chunk.connect(self._on_chunk)
        worker.generation_finished.connect(self._on_generation_finished)
        worker.train_progress.connect(self._on_train_progress)
        worker.train_finished.connect(self._on_train_finished)
        worker.merge_finished.connect(self._on_merge_finished)
        worker.demo_built.connect(self._on_demo_built)
        worker.failed.connect(self._on_failed)
        worker.idle.connect(self._on_idle)

        # -- model bar and empty state
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(24)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_details = QLabel()
        self.model_details.setObjectName("muted")
        self.refresh_button = QPushButton("Rescan")
        self.refresh_button.setToolTip(f"Look again in {data_dir.text_models}, {data_dir.text_adapters} "
                                       "and the Hugging Face cache")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Language model"))
        bar.addWidget(self.model_combo, 1)
        bar.addWidget(self.model_details)
        bar.addWidget(self.refresh_button)

        self.empty_state = QWidget()
        empty_label = QLabel(f"No language model yet. Put a transformers model folder in\n"
                             f"{data_dir.text_models}, or create a tiny demo model (GPT-2, built "
                             "offline in seconds) with two demo adapters.")
        empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty_label.setWordWrap(True)
        self.demo_button = QPushButton("Create demo text model")
        self.demo_button.setObjectName("primary")
        empty_layout = QVBoxLayout(self.empty_state)
        empty_layout.addStretch(1)
        empty_layout.addWidget(empty_label)
        empty_layout.addWidget(self.demo_button, 0, Qt.AlignmentFlag.AlignHCenter)
        empty_layout.addStretch(2)

        # -- mixer | tabs
        self.mixer = TextMixerPanel()
        self.generate_panel = TextGeneratePanel()
        self.train_panel = TextTrainPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.generate_panel, "Generate")
        self.tabs.addTab(self.train_panel, "Fine-tune")
        self.main_area = QSplitter(Qt.Orientation.Horizontal)
        self.main_area.addWidget(self.mixer)
        self.main_area.addWidget(self.tabs)
        self.main_area.setStretchFactor(1, 1)
        self.main_area.setSizes([300, 700])
        self.status = QLabel("")
        self.status.setObjectName("muted")

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.empty_state, 1)
        layout.addWidget(self.main_area, 1)
        layout.addWidget(self.status)

        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.demo_button.clicked.connect(self._on_demo_clicked)
        self.mixer.merge_requested.connect(self._on_merge_requested)
        self.generate_panel.generate_requested.connect(self._on_generate_requested)
        self.generate_panel.stop_requested.connect(self._on_stop_requested)
        self.train_panel.train_requested.connect(self._on_train_requested)
        self.train_panel.cancel_requested.connect(self._on_stop_requested)
        self.refresh()

    # -- public ------------------------------------------------------------------------------
    @property
    def current_model(self) -> TextModelInfo | None:
        index = self.model_combo.currentIndex()
        return self._models[index] if 0 <= index < len(self._models) else None

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def mix(self) -> TextMix:
        return self.mixer.mix

    def refresh(self) -> None:
        """Rescan models and adapters (folder and header reads only: cheap, GUI thread is fine)."""
        current = self.current_model.path if self.current_model else None
        models = find_text_models([self.data_dir.text_models])
        if self._include_hf_cache:
            models += find_cached_text_models()
        self._models = models
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for model in models:
            self.model_combo.addItem(model.name, str(model.path))
        index = next((i for i, m in enumerate(models) if m.path == current), 0)
        self.model_combo.setCurrentIndex(index if models else -1)
        self.model_combo.blockSignals(False)
        has_models = bool(models)
        self.empty_state.setVisible(not has_models)
        self.main_area.setVisible(has_models)
        self.model_combo.setEnabled(has_models)
        self.model_combo.setPlaceholderText("no language model yet")
        self._model_selected(preload=current is None or self.current_model is None
                             or self.current_model.path != current)
        self.models_changed.emit()

    def select_model(self, path: Path) -> None:
        for i, model in enumerate(self._models):
            if model.path.resolve() == Path(path).resolve():
                self.model_combo.setCurrentIndex(i)

    def shutdown(self) -> None:
        """Cancel whatever runs and wait for the text thread to end (call before closing)."""
        self.client.shutdown()

    # -- internals -----------------------------------------------------------------------------
    def _model_selected(self, preload: bool) -> None:
        model = self.current_model
        adapters = find_adapters([self.data_dir.text_adapters])
        fits: dict[str, AdapterFit] = {}
        if model is not None:
            self.model_details.setText(f"{model.architecture} · {model.model_type}")
            try:
                shapes = model_weight_shapes(model)
            except Exception as err:  # a broken file must not take the page down
                self._on_failed(str(err))
                shapes = {}
            fits = {str(a.path): check_adapter_fit(a, model, shapes) for a in adapters}
            if preload:
                self.client.load_model(model.path)
        else:
            self.model_details.setText("")
        self.mixer.set_adapters(adapters, fits)

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.model_combo.setEnabled(not busy and bool(self._models))
        self.refresh_button.setEnabled(not busy)
        self.mixer.merge_button.setEnabled(not busy and bool(self.mixer.mix.active))
        self.demo_button.setEnabled(not busy)
        self.generate_panel.generate_button.setEnabled(not busy)
        self.train_panel.train_button.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _start(self, cancel: CancelToken | None) -> None:
        self._pending += 1
        self._job_cancel = cancel
        self._set_busy(True)

    @Slot(int)
    def _on_model_changed(self, index: int) -> None:
        self._model_selected(preload=True)

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_demo_clicked(self) -> None:
        data = self.data_dir.ensure()
        self._start(None)
        self.status.setText("Building the demo text model…")
        self.client.build_demo(DemoJob(data.text_models, data.text_adapters))

    @Slot(object)
    def _on_generate_requested(self, request: TextGenerationRequest) -> None:
        model = self.current_model
        if model is None:
            self._on_failed("Choose a language model first.")
            return
        job = GenerateJob(model.path, self.mixer.mix, request)
        self._start(job.cancel)
        self.generate_panel.begin(request.prompt)
        self.client.generate(job)

    @Slot()
    def _on_stop_requested(self) -> None:
        if self._job_cancel is not None:
            self._job_cancel.cancel()
            self.status.setText("Stopping…")

    @Slot(object, str, object)
    def _on_train_requested(self, data: Path | None, name: str, config: TrainConfig) -> None:
        model = self.current_model
        if model is None:
            self._on_failed("Choose a language model first.")
            return
        if data is None:
            self._on_failed("Choose the training data first: a .txt file, a folder of .txt files, or JSONL.")
            return
        out_dir = unique_dir(self.data_dir.ensure().text_adapters, name)
        job = TrainJob(model.path, data, out_dir, config)
        self._start(job.cancel)
        self.train_panel.begin()
        self.client.train(job)

    @Slot()
    def _on_merge_requested(self) -> None:
        model = self.current_model
        if model is None or not self.mixer.mix.active:
            return
        default = unique_dir(self.data_dir.ensure().text_models, f"{model.path.name}-merged").name
        name, ok = QInputDialog.getText(self, "Merge mix", "Name of the new model folder:", text=default)
        if ok and name.strip():
            self.merge_into(name.strip())

    def merge_into(self, name: str) -> None:
        """Merge the current mix into ``DataDir.text_models/<name>`` (the merge button asks for the name)."""
        model = self.current_model
        if model is None:
            return
        job = MergeJob(model.path, self.mixer.mix, unique_dir(self.data_dir.ensure().text_models, name))
        self._start(job.cancel)
        self.client.merge(job)

    @Slot(str)
    def _on_worker_status(self, text: str) -> None:
        self.status.setText(text)

    @Slot(str)
    def _on_chunk(self, text: str) -> None:
        self.generate_panel.append_text(text)

    @Slot(object)
    def _on_generation_finished(self, result: TextGenerationResult) -> None:
        self.last_result = result
        self.generate_panel.finish(result)
        self.status.setText("Stopped." if result.cancelled else "Done.")
        self.generation_finished.emit(result)

    @Slot(object)
    def _on_train_progress(self, progress: TrainProgress) -> None:
        self.train_panel.show_progress(progress)
        if progress.step == 1:
            self.status.setText("Training…  (Cancel keeps the last saved checkpoint)")

    @Slot(object)
    def _on_train_finished(self, result: TrainResult) -> None:
        self.last_train = result
        self.train_panel.finish(result)
        if result.adapter_dir is not None:
            self.message.emit("info", f"Adapter saved: {result.adapter_dir.name}")
            self.status.setText(f"Adapter saved in {result.adapter_dir}")
            self._model_selected(preload=False)
        self.training_finished.emit(result)

    @Slot(object)
    def _on_merge_finished(self, info: TextModelInfo) -> None:
        self.message.emit("info", f"Merged model saved: {info.name}")
        self.status.setText(f"Merged model saved in {info.path}")
        self.refresh()
        self.merged.emit(info)

    @Slot(object)
    def _on_demo_built(self, model_dir: Path) -> None:
        self.message.emit("info", "Demo text model and two demo adapters created.")
        self.refresh()
        self.select_model(model_dir)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit("error", text)
        if self.generate_panel.stop_button.isEnabled():
            self.generate_panel.finish(None)
        if self.train_panel.cancel_button.isEnabled():
            self.train_panel.finish(None)

    @Slot(str)
    def _on_idle(self, kind: str) -> None:
        if kind == "load":  # model preloads don't block the page
            return
        self._pending = max(0, self._pending - 1)
        if not self._pending:
            self._job_cancel = None
            self._set_busy(False)
