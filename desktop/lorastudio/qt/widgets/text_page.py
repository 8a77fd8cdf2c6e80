"""Text mode: a causal language model, a PEFT adapter mix, generation, fine-tuning and merging.

Every job (generate, fine-tune, merge, build the demo) is a queue job of the engine process
(``core/backend/text_job.py``, which keeps the model loaded between jobs): this page submits
frozen requests through the ``EngineClient`` and follows its own job by id, so torch never loads
in the window's process. Listing models and adapters and checking their fit read JSON and
safetensors headers only, here. Slider moves only change the ``TextMix`` value; the engine applies
it at the next generation, rebuilding the combined adapter without reloading the base model.
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

from lorastudio.core.backend.base import JobResult
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.paths import DataDir
from lorastudio.core.session.queue import Job, JobState
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
from lorastudio.core.text.requests import (
    TextChunk,
    TextDemoBuilt,
    TextDemoRequest,
    TextGenerateRequest,
    TextMergeRequest,
    TextRequest,
    TextStatus,
    TextTrainRequest,
)
from lorastudio.core.text.train import TrainConfig, TrainProgress, TrainResult, unique_dir
from lorastudio.qt.widgets.text_generate import TextGeneratePanel
from lorastudio.qt.widgets.text_mixer import TextMixerPanel
from lorastudio.qt.widgets.text_train import TextTrainPanel
from lorastudio.qt.workers.engine_worker import EngineClient


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

    def __init__(self, data_dir: DataDir, engine: EngineClient, parent: QWidget | None = None, *,
                 include_hf_cache: bool = True) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.engine = engine
        self._include_hf_cache = include_hf_cache
        self._models: list[TextModelInfo] = []
        self._job: Job | None = None  # this page's queued or running job: one at a time
        self._answered = False  # its outcome (a result, or the partial one of a cancel) arrived
        self.last_result: TextGenerationResult | None = None
        self.last_train: TrainResult | None = None
        self.last_stats: dict[str, int] = {}  # the text engine's counters after the last generation
        self._shut_down = False

        engine.job_update.connect(self._on_job_update)
        engine.job_finished.connect(self._on_job_finished)
        engine.job_failed.connect(self._on_job_over)
        engine.job_cancelled.connect(self._on_job_over)
        engine.queue_changed.connect(self._on_queue_changed)

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
        """This page's job is waiting in the queue or running."""
        return self._job is not None

    @property
    def job(self) -> Job | None:
        return self._job

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
        self._show_adapters()
        self.models_changed.emit()

    def select_model(self, path: Path) -> None:
        for i, model in enumerate(self._models):
            if model.path.resolve() == Path(path).resolve():
                self.model_combo.setCurrentIndex(i)

    def shutdown(self) -> None:
        """Stop following the engine (the window shuts the engine down, which ends any job); once."""
        if self._shut_down:
            return
        self._shut_down = True
        self.engine.job_update.disconnect(self._on_job_update)
        self.engine.job_finished.disconnect(self._on_job_finished)
        self.engine.job_failed.disconnect(self._on_job_over)
        self.engine.job_cancelled.disconnect(self._on_job_over)
        self.engine.queue_changed.disconnect(self._on_queue_changed)

    # -- internals -----------------------------------------------------------------------------
    def _show_adapters(self) -> None:
        """The adapters on disk, each with its fit to the chosen model (safetensors headers only)."""
        model = self.current_model
        adapters = find_adapters([self.data_dir.text_adapters])
        fits: dict[str, AdapterFit] = {}
        if model is not None:
            self.model_details.setText(f"{model.architecture} · {model.model_type}")
            try:
                shapes = model_weight_shapes(model)
            except Exception as err:  # a broken file must not take the page down
                self._show_error(str(err))
                shapes = {}
            fits = {str(a.path): check_adapter_fit(a, model, shapes) for a in adapters}
        else:
            self.model_details.setText("")
        self.mixer.set_adapters(adapters, fits)

    def _set_busy(self, busy: bool) -> None:
        self.model_combo.setEnabled(not busy and bool(self._models))
        self.refresh_button.setEnabled(not busy)
        self.mixer.merge_button.setEnabled(not busy and bool(self.mixer.mix.active))
        self.demo_button.setEnabled(not busy)
        self.generate_panel.generate_button.setEnabled(not busy)
        self.train_panel.train_button.setEnabled(not busy)
        self.busy_changed.emit(busy)

    def _submit(self, request: TextRequest) -> bool:
        """Queue ``request`` as this page's job; a setting out of range is said here, at once."""
        try:
            request.validate()
        except LoraStudioError as err:
            self._show_error(str(err))
            return False
        self._answered = False
        self._set_busy(True)
        self._job = self.engine.submit(request)
        self.status.setText("Waiting for the running job to finish…" if self._waiting() else "Starting…")
        self._on_queue_changed()  # a backend that refused at once has already failed the job
        return self._job is not None

    def _waiting(self) -> bool:
        job = self.engine.queue.get(self._job.id) if self._job is not None else None
        return job is not None and job.state is JobState.PENDING

    def _mine(self, job: Job) -> bool:
        return self._job is not None and job.id == self._job.id

    def _end(self) -> None:
        self._job = None
        self._set_busy(False)

    @Slot(int)
    def _on_model_changed(self, index: int) -> None:
        self._show_adapters()

    @Slot()
    def _on_refresh_clicked(self) -> None:
        self.refresh()

    @Slot()
    def _on_demo_clicked(self) -> None:
        data = self.data_dir.ensure()
        self._submit(TextDemoRequest(data.text_models, data.text_adapters))

    @Slot(object)
    def _on_generate_requested(self, request: TextGenerationRequest) -> None:
        model = self.current_model
        if model is None:
            self._show_error("Choose a language model first.")
            return
        if self._submit(TextGenerateRequest(model.path, self.mixer.mix, request)):
            self.generate_panel.begin(request.prompt)
            if self._waiting():
                self.generate_panel.status.setText("Queued…")

    @Slot()
    def _on_stop_requested(self) -> None:
        if self._job is not None:
            self.status.setText("Stopping…")  # a job that waited in the queue ends at once: "Cancelled."
            self.engine.cancel(self._job.id)

    @Slot(object, str, object)
    def _on_train_requested(self, data: Path | None, name: str, config: TrainConfig) -> None:
        model = self.current_model
        if model is None:
            self._show_error("Choose a language model first.")
            return
        if data is None:
            self._show_error("Choose the training data first: a .txt file, a folder of .txt files, or JSONL.")
            return
        out_dir = unique_dir(self.data_dir.ensure().text_adapters, name)
        if self._submit(TextTrainRequest(model.path, data, out_dir, config)):
            self.train_panel.begin()

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
        self._submit(TextMergeRequest(model.path, self.mixer.mix,
                                      unique_dir(self.data_dir.ensure().text_models, name)))

    # -- the job's events (EngineClient, GUI thread) ----------------------------------------------
    @Slot(object, object)
    def _on_job_update(self, job: Job, payload: object) -> None:
        if not self._mine(job):
            return
        if isinstance(payload, TextChunk):
            self.generate_panel.append_text(payload.text)
        elif isinstance(payload, TextStatus):
            self.status.setText(payload.text)
        elif isinstance(payload, TrainProgress):
            self._on_train_progress(payload)
        elif isinstance(payload, TextGenerationResult):  # stopped: the text so far
            self._answered = True
            self._on_generation_finished(payload)
        elif isinstance(payload, TrainResult):  # cancelled: the last checkpoint
            self._answered = True
            self._on_train_finished(payload)

    @Slot(object, object)
    def _on_job_finished(self, job: Job, result: JobResult) -> None:
        if not self._mine(job):
            return
        payload = result.payload
        self._answered = True
        if isinstance(payload, TextGenerationResult):
            self.last_stats = dict(result.stats)
            self._on_generation_finished(payload)
        elif isinstance(payload, TrainResult):
            self._on_train_finished(payload)
        elif isinstance(payload, TextModelInfo):
            self._on_merge_finished(payload)
        elif isinstance(payload, TextDemoBuilt):
            self._on_demo_built(payload.model_dir)
        self._end()  # after the result: whoever watches busy_changed finds it in place

    @Slot(object)
    def _on_job_over(self, job: Job) -> None:
        """Failed or cancelled (running, or still waiting in the queue)."""
        if not self._mine(job):
            return
        answered = self._answered
        self._end()
        if job.state is JobState.FAILED:
            # The window's notice bar already says it (the runner's message): the page shows it too.
            self._show_failure(job.message or "The job failed.")
        elif not answered:  # cancelled before it made anything
            self.status.setText("Cancelled.")
            self._reset_panels()

    @Slot()
    def _on_queue_changed(self) -> None:
        # A job cancelled or removed while it waited never reaches the engine: no event says so.
        if self._job is None:
            return
        job = self.engine.queue.get(self._job.id)
        if job is None or job.state in (JobState.FAILED, JobState.CANCELLED):
            self._on_job_over(job or self._job)
        elif job.state is JobState.RUNNING and self.status.text().startswith("Waiting"):
            self.status.setText("Starting…")
            if self.generate_panel.status.text() == "Queued…":
                self.generate_panel.status.setText("Generating…")

    def _on_generation_finished(self, result: TextGenerationResult) -> None:
        self.last_result = result
        self.generate_panel.finish(result)
        self.status.setText("Stopped." if result.cancelled else "Done.")
        self.generation_finished.emit(result)

    def _on_train_progress(self, progress: TrainProgress) -> None:
        self.train_panel.show_progress(progress)
        if progress.step == 1:
            self.status.setText("Training…  (Cancel keeps the last saved checkpoint)")

    def _on_train_finished(self, result: TrainResult) -> None:
        self.last_train = result
        self.train_panel.finish(result)
        if result.adapter_dir is not None:
            self.message.emit("info", f"Adapter saved: {result.adapter_dir.name}")
            self.status.setText(f"Adapter saved in {result.adapter_dir}")
            self._show_adapters()
        self.training_finished.emit(result)

    def _on_merge_finished(self, info: TextModelInfo) -> None:
        self.message.emit("info", f"Merged model saved: {info.name}")
        self.status.setText(f"Merged model saved in {info.path}")
        self.refresh()
        self.merged.emit(info)

    def _on_demo_built(self, model_dir: Path) -> None:
        self.message.emit("info", "Demo text model and two demo adapters created.")
        self.status.setText("Demo text model and two demo adapters created.")
        self.refresh()
        self.select_model(model_dir)

    def _show_error(self, text: str) -> None:
        """A mistake caught here, before any job: the notice bar and the status line."""
        self.status.setText(text)
        self.message.emit("error", text)

    def _show_failure(self, text: str) -> None:
        self.status.setText(text)
        self._reset_panels()

    def _reset_panels(self) -> None:
        if self.generate_panel.stop_button.isEnabled():
            self.generate_panel.finish(None)
        if self.train_panel.cancel_button.isEnabled():
            self.train_panel.finish(None)
