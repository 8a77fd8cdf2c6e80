"""The generation panel: model, prompt, settings, Generate/Cancel and progress.

It shows and edits plain values; the main window turns them into a GenerationRequest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal, Slot
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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.schedulers import DEFAULT_SAMPLER, SAMPLERS

MAX_SEED = 2**32 - 1
SIZE_PRESETS: dict[str, list[tuple[int, int]]] = {
    "sd1": [(512, 512), (512, 768), (768, 512), (640, 640)],
    "sd2": [(768, 768), (512, 512), (768, 1024)],
    "sdxl": [(1024, 1024), (832, 1216), (1216, 832), (896, 1152), (1152, 896)],
    "demo": [(128, 128), (64, 64), (256, 256)],
}


@dataclass(frozen=True)
class GenerationSettings:
    model: Path | None
    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    cfg: float
    width: int
    height: int
    sampler: str
    clip_skip: int
    batch_count: int
    vae: Path | None = None


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


class GenerationPanel(QWidget):
    """Signals: generate_requested(), cancel_requested(), model_changed(str path)."""

    generate_requested = Signal()
    cancel_requested = Signal()
    model_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last_seed: int | None = None

        self.model = QComboBox()
        self.model.setAccessibleName("Model")
        self.model.setMinimumWidth(200)
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

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Ctrl+Enter")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Esc")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Idle")
        self.eta = QLabel("")
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

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Model", self.model)
        form.addRow("Sampler", self.sampler)
        form.addRow("Steps", self.steps)
        form.addRow("CFG scale", self.cfg)
        form.addRow("Seed", seed_row)
        form.addRow("Size", size_row)
        form.addRow("Batch count", self.batch)
        form.addRow("Clip skip", self.clip_skip)
        form.addRow("VAE", self.vae)

        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 2)
        buttons.addWidget(self.cancel_button, 1)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.prompt)
        lay.addWidget(self.negative)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.eta)

        self.generate_button.clicked.connect(self._on_generate_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.seed_random.clicked.connect(self._on_seed_random)
        self.seed_reuse.clicked.connect(self._on_seed_reuse)
        self.size_preset.activated.connect(self._on_size_preset)
        self.model.currentIndexChanged.connect(self._on_model_index)
        self.set_size_presets("sd1")

    # -- models --------------------------------------------------------------------------
    def set_models(self, models: list[tuple[str, Path]]) -> None:
        """(label, path) pairs; keeps the current choice when it is still there."""
        current = self.current_model()
        self.model.blockSignals(True)
        self.model.clear()
        for label, path in models:
            self.model.addItem(label, str(path))
        index = self.model.findData(str(current)) if current else -1
        self.model.setCurrentIndex(index if index >= 0 else (0 if models else -1))
        self.model.blockSignals(False)
        if self.current_model() != current:
            self._on_model_index(self.model.currentIndex())

    def set_vaes(self, vaes: list[tuple[str, Path]]) -> None:
        current = self.vae.currentData()
        self.vae.clear()
        self.vae.addItem("The model's own", None)
        for label, path in vaes:
            self.vae.addItem(label, str(path))
        self.vae.setCurrentIndex(max(0, self.vae.findData(current)) if current else 0)

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
    def settings(self) -> GenerationSettings:
        seed = self.seed.value()
        if seed < 0:
            seed = random.randrange(2**31)
        return GenerationSettings(
            model=self.current_model(), prompt=self.prompt.toPlainText().strip(),
            negative_prompt=self.negative.toPlainText().strip(), seed=seed, steps=self.steps.value(),
            cfg=self.cfg.value(), width=self.width_box.value(), height=self.height_box.value(),
            sampler=self.sampler.currentText(), clip_skip=self.clip_skip.value(),
            batch_count=self.batch.value(), vae=Path(self.vae.currentData()) if self.vae.currentData() else None)

    def apply_settings(self, s: GenerationSettings) -> None:
        """Restore values (history reuse, PNG drop)."""
        if s.model is not None:
            self.select_model(s.model)
        self.prompt.setPlainText(s.prompt)
        self.negative.setPlainText(s.negative_prompt)
        self.seed.setValue(s.seed)
        self.steps.setValue(s.steps)
        self.cfg.setValue(s.cfg)
        self.width_box.setValue(s.width)
        self.height_box.setValue(s.height)
        if s.sampler in SAMPLERS:
            self.sampler.setCurrentText(s.sampler)
        self.clip_skip.setValue(s.clip_skip)
        self.batch.setValue(s.batch_count)
        self.vae.setCurrentIndex(max(0, self.vae.findData(str(s.vae))) if s.vae else 0)

    def insert_prompt_text(self, text: str) -> None:
        current = self.prompt.toPlainText().rstrip()
        if text.lower() in current.lower():
            return
        self.prompt.setPlainText(f"{current}, {text}" if current else text)

    def remember_seed(self, seed: int) -> None:
        self._last_seed = seed

    # -- run state -----------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first step arrives
            self.progress.setFormat("Starting…")
            self.eta.setText("")
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("Idle")

    def show_progress(self, step: int, total: int, elapsed: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress.setFormat(f"Step {step}/{total}")
        remaining = elapsed / step * (total - step) if step else 0.0
        self.eta.setText(f"{format_duration(elapsed)} elapsed · about {format_duration(remaining)} left")

    def show_done(self, text: str, seconds: float | None = None) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat(text)
        self.eta.setText(f"Took {format_duration(seconds)}" if seconds is not None else "")

    # -- slots ---------------------------------------------------------------------------
    @Slot()
    def _on_generate_clicked(self) -> None:
        self.generate_requested.emit()

    @Slot()
    def _on_cancel_clicked(self) -> None:
        self.cancel_requested.emit()

    @Slot()
    def _on_seed_random(self) -> None:
        self.seed.setValue(random.randrange(2**31))

    @Slot()
    def _on_seed_reuse(self) -> None:
        if self._last_seed is not None:
            self.seed.setValue(self._last_seed)

    @Slot(int)
    def _on_size_preset(self, index: int) -> None:
        data = self.size_preset.itemData(index)
        if data:
            self.width_box.setValue(data[0])
            self.height_box.setValue(data[1])
        self.size_preset.setCurrentIndex(0)

    @Slot(int)
    def _on_model_index(self, index: int) -> None:
        path = self.current_model()
        self.model_changed.emit(str(path) if path else "")


