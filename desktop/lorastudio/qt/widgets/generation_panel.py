"""The generation panel: model, prompt, settings, Generate/Cancel and progress.

It holds no values of its own: every widget edits the session's ``ParamsModel`` (core), and every
change of the model (restore, presets, prompt tags) shows in the widgets. The main window turns
the parameters into a GenerationRequest through the session.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.schedulers import DEFAULT_SAMPLER, SAMPLERS
from lorastudio.core.session.library_index import SIZE_PRESETS as _CORE_SIZE_PRESETS
from lorastudio.core.session.params import GenerationParams, ParamsModel
from lorastudio.core.types import ModelKind
from lorastudio.qt.widgets.elided_label import ElidedLabel

MAX_SEED = 2**32 - 1
SIZE_PRESETS: dict[str, list[tuple[int, int]]] = {k: list(v) for k, v in _CORE_SIZE_PRESETS.items()}

# One type for the generation values: the core one (presets and restore use this name).
GenerationSettings = GenerationParams


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class GenerationPanel(QWidget):
    """Signals: generate_requested(), grid_requested(), cancel_requested(), model_changed(str path),
    backend_chosen(str choice)."""

    generate_requested = Signal()
    grid_requested = Signal()
    cancel_requested = Signal()
    model_changed = Signal(str)
    backend_chosen = Signal(str)

    def __init__(self, params: ParamsModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Says which files the chosen backend lacks ("not on studio-pc"); None for this computer.
        self._remote_note: Callable[[Path, ModelKind], str] | None = None
        self.params = params if params is not None else ParamsModel()
        self._pushing = False  # True while the model's values are pushed into the widgets
        self._shown_model: Path | None = None

        self.model = QComboBox()
        self.model.setAccessibleName("Model")
        self.model.setPlaceholderText("No model in the library")
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Prompt — e.g. a lighthouse at dusk, inkwash style <lora:Ink Wash:0.8>")
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setMinimumHeight(64)
        self.prompt.setMaximumHeight(96)
        self.negative = QPlainTextEdit()
        self.negative.setPlaceholderText("Negative prompt")
        self.negative.setAccessibleName("Negative prompt")
        self.negative.setMinimumHeight(36)
        self.negative.setMaximumHeight(52)
        for box in (self.prompt, self.negative):  # Tab moves on (a prompt never needs a tab character)
            box.setTabChangesFocus(True)

        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.seed.setValue(-1)
        self.seed.setToolTip("-1: a new random seed for each generation")
        self.seed_random = QToolButton()
        self.seed_random.setText("Random")
        self.seed_random.setToolTip("A new random seed, shown so you can keep it")
        self.seed_reuse = QToolButton()
        self.seed_reuse.setText("Last")
        self.seed_reuse.setToolTip("Reuse the seed of the last generation")
        self.steps = QSpinBox()
        self.steps.setRange(1, 150)
        self.steps.setValue(20)
        self.cfg = QDoubleSpinBox()
        self.cfg.setRange(0.0, 30.0)
        self.cfg.setSingleStep(0.5)
        self.cfg.setValue(7.0)
        self.sampler = QComboBox()
        self.sampler.addItems(list(SAMPLERS))
        self.sampler.setCurrentText(DEFAULT_SAMPLER)
        self.width_box = QSpinBox()
        self.height_box = QSpinBox()
        for box in (self.width_box, self.height_box):
            box.setRange(64, 2048)
            box.setSingleStep(64)
            box.setValue(512)
        self.size_preset = QComboBox()
        self.size_preset.setToolTip("Common sizes for this model's architecture")
        self.clip_skip = QSpinBox()
        self.clip_skip.setRange(1, 12)
        self.batch = QSpinBox()
        self.batch.setRange(1, 64)
        self.vae = QComboBox()
        self.vae.setToolTip("Decode with another VAE (a .safetensors file or a diffusers VAE folder)")
        self.set_vaes([])
        self.backend = QComboBox()
        self.backend.setAccessibleName("Backend")
        self.backend.setToolTip("Where images are generated: this computer, a ComfyUI server (Settings ▸ "
                                "Generation backends), or any free one")

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Ctrl+Enter")
        self.grid_button = QPushButton("Grid…")
        self.grid_button.setToolTip("Vary a LoRA's weight, the seed, steps… across an X/Y/Z grid of images")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Esc")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Idle")
        self.eta = ElidedLabel("")
        self.eta.setObjectName("muted")

        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.seed_random)
        seed_row.addWidget(self.seed_reuse)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        size_row.addWidget(self.size_preset, 1)

        # Compact: the settings changed on most runs share rows; the rarely changed ones fold away
        # under "More settings" so the mixer below keeps room for its rows (issue 16, items 5/12).
        steps_row = QHBoxLayout()
        steps_row.addWidget(self.steps, 1)
        steps_row.addWidget(QLabel("CFG"))
        steps_row.addWidget(self.cfg, 1)
        self.sampler.setMinimumContentsLength(6)
        self.sampler.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model.setMinimumContentsLength(12)
        self.model.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size_preset.setMinimumContentsLength(6)
        self.size_preset.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        for combo in (self.vae, self.backend):
            combo.setMinimumContentsLength(10)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model", self.model)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", steps_row)
        form.addRow("Seed", seed_row)
        form.addRow("Size", size_row)

        self.more_button = QToolButton()
        self.more_button.setText("More settings")
        self.more_button.setCheckable(True)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setToolTip("Batch count, clip skip, VAE and backend")
        self.more = QWidget()
        more_form = QFormLayout(self.more)
        more_form.setContentsMargins(0, 0, 0, 0)
        more_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        more_form.addRow("Batch count", self.batch)
        more_form.addRow("Clip skip", self.clip_skip)
        more_form.addRow("VAE", self.vae)
        more_form.addRow("Backend", self.backend)
        self.more.setVisible(False)
        self.more_button.toggled.connect(self._on_more_toggled)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.grid_button, 1)
        buttons.addWidget(self.cancel_button, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.progress, 1)
        status_row.addWidget(self.eta)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.prompt)
        lay.addWidget(self.negative)
        lay.addLayout(form)
        lay.addWidget(self.more_button)
        lay.addWidget(self.more)
        lay.addLayout(buttons)
        lay.addLayout(status_row)

        self.generate_button.clicked.connect(self._on_generate_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.grid_button.clicked.connect(self.grid_requested)
        self.seed_random.clicked.connect(self._on_seed_random)
        self.seed_reuse.clicked.connect(self._on_seed_reuse)
        self.size_preset.activated.connect(self._on_size_preset)
        self.model.currentIndexChanged.connect(self._on_model_index)
        self.prompt.textChanged.connect(self._on_prompt_edited)
        self.negative.textChanged.connect(self._on_negative_edited)
        self.seed.valueChanged.connect(self._on_seed_edited)
        self.steps.valueChanged.connect(self._on_steps_edited)
        self.cfg.valueChanged.connect(self._on_cfg_edited)
        self.sampler.currentTextChanged.connect(self._on_sampler_edited)
        self.width_box.valueChanged.connect(self._on_width_edited)
        self.height_box.valueChanged.connect(self._on_height_edited)
        self.clip_skip.valueChanged.connect(self._on_clip_skip_edited)
        self.batch.valueChanged.connect(self._on_batch_edited)
        self.vae.currentIndexChanged.connect(self._on_vae_index)
        self.backend.activated.connect(self._on_backend_activated)
        self.set_size_presets("sd1")
        self._show_params(self.params.value)
        self.params.changed.connect(self._on_params_changed)

    # -- models --------------------------------------------------------------------------
    def set_models(self, models: list[tuple[str, Path]]) -> None:
        """(label, path) pairs; keeps the current choice when it is still there."""
        current = self.current_model()
        self.model.blockSignals(True)
        self.model.clear()
        for label, path in models:
            self.model.addItem(label, str(path))
        wanted = self.params.value.model or current
        index = self.model.findData(str(wanted)) if wanted else -1
        self.model.setCurrentIndex(index if index >= 0 else (0 if models else -1))
        self.model.blockSignals(False)
        self._mark_unavailable()
        self.params.update(model=self.current_model())

    def set_vaes(self, vaes: list[tuple[str, Path]]) -> None:
        current = self.vae.currentData()
        self.vae.blockSignals(True)
        self.vae.clear()
        self.vae.addItem("The model's own", None)
        for label, path in vaes:
            self.vae.addItem(label, str(path))
        self.vae.setCurrentIndex(max(0, self.vae.findData(current)) if current else 0)
        self.vae.blockSignals(False)
        self._mark_unavailable()
        if hasattr(self, "params"):
            data = self.vae.currentData()
            self.params.update(vae=Path(data) if data else None)

    def set_backends(self, choices: tuple[str, ...], current: str) -> str:
        """Fill the backend picker (no signal); returns the choice shown (the first when ``current``
        is gone)."""
        self.backend.blockSignals(True)
        self.backend.clear()
        self.backend.addItems(list(choices))
        index = self.backend.findText(current)
        self.backend.setCurrentIndex(index if index >= 0 else 0)
        self.backend.blockSignals(False)
        self.backend.setEnabled(len(choices) > 1)
        return self.backend.currentText()

    def mark_unavailable(self, note: Callable[[Path, ModelKind], str] | None) -> None:
        """Mark the models and VAEs the chosen backend lacks with a warning icon and ``note``'s text
        ("not on studio-pc") as tooltip; None: nothing is marked (this computer has every file)."""
        self._remote_note = note
        self._mark_unavailable()

    def _mark_unavailable(self) -> None:
        warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for combo, kind in ((self.model, ModelKind.CHECKPOINT), (getattr(self, "vae", None), ModelKind.VAE)):
            if combo is None:
                continue
            for i in range(combo.count()):
                data = combo.itemData(i)
                text = self._remote_note(Path(data), kind) if data and self._remote_note else ""
                combo.setItemIcon(i, warn if text else QIcon())
                combo.setItemData(i, text[:1].upper() + text[1:] if text else None, Qt.ItemDataRole.ToolTipRole)

    def current_model(self) -> Path | None:
        data = self.model.currentData()
        return Path(data) if data else None

    def select_model(self, path: Path) -> None:
        index = self.model.findData(str(path))
        if index >= 0:
            self.model.setCurrentIndex(index)

    def set_size_presets(self, family: str) -> None:
        self.size_preset.clear()
        self.size_preset.addItem("Presets…")
        for w, h in SIZE_PRESETS.get(family, SIZE_PRESETS["sd1"]):
            self.size_preset.addItem(f"{w}×{h}", (w, h))

    # -- values --------------------------------------------------------------------------
    def settings(self) -> GenerationParams:
        """The current values, the prompt trimmed and a random seed (-1) drawn."""
        p = self.params.value
        return replace(p, prompt=p.prompt.strip(), negative_prompt=p.negative_prompt.strip(),
                       seed=p.resolved_seed())

    def apply_settings(self, s: GenerationParams) -> None:
        """Restore values (history reuse, PNG drop, presets); a None model keeps the current one."""
        sampler = s.sampler if s.sampler in SAMPLERS else self.params.value.sampler
        model = s.model if s.model is not None else self.params.value.model
        self.params.set(replace(s, model=model, sampler=sampler))

    def insert_prompt_text(self, text: str) -> None:
        current = self.params.value.prompt.rstrip()
        if text.lower() in current.lower():
            return
        self.params.update(prompt=f"{current}, {text}" if current else text)

    def remember_seed(self, seed: int) -> None:
        self.params.last_seed = seed

    def _show_params(self, p: GenerationParams) -> None:
        """Push the model's values into the widgets (without echoing back)."""
        self._pushing = True
        try:
            if p.model is not None:
                index = self.model.findData(str(p.model))
                if index >= 0 and index != self.model.currentIndex():
                    self.model.setCurrentIndex(index)
            if self.prompt.toPlainText() != p.prompt:
                self.prompt.setPlainText(p.prompt)
            if self.negative.toPlainText() != p.negative_prompt:
                self.negative.setPlainText(p.negative_prompt)
            self.seed.setValue(p.seed)
            self.steps.setValue(p.steps)
            self.cfg.setValue(p.cfg)
            self.width_box.setValue(p.width)
            self.height_box.setValue(p.height)
            if p.sampler in SAMPLERS:
                self.sampler.setCurrentText(p.sampler)
            self.clip_skip.setValue(p.clip_skip)
            self.batch.setValue(p.batch_count)
            self.vae.setCurrentIndex(max(0, self.vae.findData(str(p.vae))) if p.vae else 0)
        finally:
            self._pushing = False
        if p.model != self._shown_model:
            self._shown_model = p.model
            self.model_changed.emit(str(p.model) if p.model else "")

    def _edit(self, **changes: object) -> None:
        if not self._pushing:
            self.params.update(**changes)

    # -- run state -----------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        # Generate stays enabled: while a job runs, a click queues the next one.
        self.generate_button.setToolTip("Ctrl+Enter — adds to the queue" if running else "Ctrl+Enter")
        self.cancel_button.setEnabled(running)
        if running:
            self._set_bar_state("running")
            self.progress.setRange(0, 0)  # busy until the first step arrives
            self.progress.setFormat("Starting…")
            self.eta.setText("")
        elif self.progress.maximum() == 0:
            self._set_bar_state("idle")
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("Idle")

    def show_progress(self, step: int, total: int, elapsed: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step}/{total}")
        remaining = elapsed / step * (total - step) if step else 0.0
        self.eta.setText(f"{format_duration(elapsed)} elapsed · about {format_duration(remaining)} left")

    def show_done(self, text: str, seconds: float | None = None, state: str = "done") -> None:
        """The run's end. ``state`` ("done", "failed", "cancelled") picks the bar's colour in the
        theme, so a failure never looks like a finished image (issue 16, item 11)."""
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat(text)
        self._set_bar_state(state)
        self.eta.setText(f"Took {format_duration(seconds)}" if seconds is not None and state == "done" else "")

    def _set_bar_state(self, state: str) -> None:
        if self.progress.property("state") != state:
            self.progress.setProperty("state", state)
            # A dynamic property only restyles after a re-polish.
            self.progress.style().unpolish(self.progress)
            self.progress.style().polish(self.progress)
            self.progress.update()

    # -- slots ---------------------------------------------------------------------------
    @Slot(bool)
    def _on_more_toggled(self, shown: bool) -> None:
        self.more.setVisible(shown)
        self.more_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    @Slot()
    def _on_generate_clicked(self) -> None:
        self.generate_requested.emit()

    @Slot()
    def _on_cancel_clicked(self) -> None:
        self.cancel_requested.emit()

    @Slot()
    def _on_seed_random(self) -> None:
        self.params.update(seed=random.randrange(2**31))

    @Slot()
    def _on_seed_reuse(self) -> None:
        if self.params.last_seed is not None:
            self.params.update(seed=self.params.last_seed)

    @Slot(int)
    def _on_size_preset(self, index: int) -> None:
        data = self.size_preset.itemData(index)
        if data:
            self.params.update(width=data[0], height=data[1])
        self.size_preset.setCurrentIndex(0)

    def _on_params_changed(self, p: GenerationParams) -> None:
        self._show_params(p)

    @Slot(int)
    def _on_model_index(self, index: int) -> None:
        self._edit(model=self.current_model())

    @Slot()
    def _on_prompt_edited(self) -> None:
        self._edit(prompt=self.prompt.toPlainText())

    @Slot()
    def _on_negative_edited(self) -> None:
        self._edit(negative_prompt=self.negative.toPlainText())

    @Slot(int)
    def _on_seed_edited(self, value: int) -> None:
        self._edit(seed=value)

    @Slot(int)
    def _on_steps_edited(self, value: int) -> None:
        self._edit(steps=value)

    @Slot(float)
    def _on_cfg_edited(self, value: float) -> None:
        self._edit(cfg=value)

    @Slot(str)
    def _on_sampler_edited(self, value: str) -> None:
        self._edit(sampler=value)

    @Slot(int)
    def _on_width_edited(self, value: int) -> None:
        self._edit(width=value)

    @Slot(int)
    def _on_height_edited(self, value: int) -> None:
        self._edit(height=value)

    @Slot(int)
    def _on_clip_skip_edited(self, value: int) -> None:
        self._edit(clip_skip=value)

    @Slot(int)
    def _on_batch_edited(self, value: int) -> None:
        self._edit(batch_count=value)

    @Slot(int)
    def _on_backend_activated(self, index: int) -> None:
        self.backend_chosen.emit(self.backend.itemText(index))

    @Slot(int)
    def _on_vae_index(self, index: int) -> None:
        data = self.vae.currentData()
        self._edit(vae=Path(data) if data else None)


