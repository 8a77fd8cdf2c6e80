"""Training settings form: base model, output, network, rank/alpha, rate, epochs, batch, resolution,
presets derived from the image count, memory options and the estimated VRAM."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.training.config import (
    MIXED_PRECISION,
    PRESETS,
    TrainConfig,
    apply_preset,
    base_family,
    estimate_vram,
)
from lorastudio.qt.widgets.number_boxes import float_box, int_box

CUSTOM = "custom"


class TrainSettingsPanel(QWidget):
    """Signals: changed() — any setting changed (the page refreshes its step count)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, *, has_gpu: bool = False) -> None:
        super().__init__(parent)
        d = TrainConfig()
        self._image_count = 0
        self._extra = d  # settings the form does not show are kept from the last config set
        self.preset = QComboBox()
        self.preset.addItems([CUSTOM, *PRESETS])
        self.preset.setToolTip("Derive steps, learning rate, rank and alpha from the number of images")
        self.base_model = QComboBox()
        self.base_model.setEditable(True)
        self.base_model.setMinimumContentsLength(30)
        browse_base = QPushButton("…")
        self.output_dir = QLineEdit()
        browse_out = QPushButton("…")
        self.output_name = QLineEdit(d.output_name)
        self.trigger = QLineEdit()
        self.trigger.setPlaceholderText("e.g. zq_cat (written into the file's metadata)")
        self.network = QComboBox()
        self.network.addItem("LoRA (attention)", "lora")
        self.network.addItem("LoCon (attention + convolutions)", "locon")
        self.rank = int_box(1, 1024, d.rank)
        self.alpha = float_box(0.001, 10_000, d.alpha, 1.0, 3)
        self.learning_rate = float_box(1e-7, 1.0, d.learning_rate, 1e-5, 7)
        self.epochs = int_box(1, 10_000, d.epochs)
        self.max_steps = int_box(0, 10**7, d.max_steps)
        self.max_steps.setSpecialValueText("from epochs")
        self.batch_size = int_box(1, 256, d.batch_size)
        self.repeats = int_box(1, 1000, d.repeats)
        self.repeats.setToolTip("How many times each image is seen per epoch")
        self.resolution = int_box(64, 4096, d.resolution)
        self.resolution.setSingleStep(64)
        self.train_text_encoder = QCheckBox("Train the text encoder too")
        self.sample_prompts = QPlainTextEdit()
        self.sample_prompts.setPlaceholderText("Sample prompts, one per line (default: the trigger word)")
        self.sample_prompts.setMaximumHeight(60)
        self.sample_every = int_box(0, 10**7, d.sample_every_steps)
        self.sample_every.setSpecialValueText("each epoch")
        self.gradient_checkpointing = QCheckBox("Gradient checkpointing")
        self.mixed_precision = QComboBox()
        self.mixed_precision.addItems(list(MIXED_PRECISION))
        self.adam8 = QCheckBox("8-bit Adam")
        bnb = importlib.util.find_spec("bitsandbytes") is not None
        self.adam8.setEnabled(bnb and has_gpu)
        if not bnb:
            self.adam8.setToolTip("Needs the bitsandbytes package")
        for w in (self.gradient_checkpointing, self.mixed_precision):
            w.setEnabled(has_gpu)
            if not has_gpu:
                w.setToolTip("Memory options apply on a GPU only")
        self.vram = QLabel()
        self.vram.setObjectName("muted")

        base_row = QHBoxLayout()
        base_row.addWidget(self.base_model, 1)
        base_row.addWidget(browse_base)
        out_row = QHBoxLayout()
        out_row.addWidget(self.output_dir, 1)
        out_row.addWidget(browse_out)
        top = QFormLayout()
        top.addRow("Preset", self.preset)
        top.addRow("Base model", base_row)
        top.addRow("Save to", out_row)
        top.addRow("Name", self.output_name)
        top.addRow("Trigger word", self.trigger)
        top.addRow("Network", self.network)
        grid = QGridLayout()
        for column, pairs in enumerate(((("Rank", self.rank), ("Alpha", self.alpha),
                                         ("Learning rate", self.learning_rate), ("Resolution", self.resolution)),
                                        (("Epochs", self.epochs), ("Max steps", self.max_steps),
                                         ("Batch size", self.batch_size), ("Repeats", self.repeats)))):
            form = QFormLayout()
            for label, widget in pairs:
                form.addRow(label, widget)
            grid.addLayout(form, 0, column)
        memory = QHBoxLayout()
        memory.addWidget(self.gradient_checkpointing)
        memory.addWidget(QLabel("Precision"))
        memory.addWidget(self.mixed_precision)
        memory.addWidget(self.adam8)
        memory.addStretch(1)
        samples = QFormLayout()
        samples.addRow("Sample every N steps", self.sample_every)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addWidget(self.train_text_encoder)
        layout.addWidget(self.sample_prompts)
        layout.addLayout(samples)
        layout.addLayout(memory)
        layout.addWidget(self.vram)

        browse_base.clicked.connect(self._on_browse_base)
        browse_out.clicked.connect(self._on_browse_out)
        self.preset.currentTextChanged.connect(self._on_preset_changed)
        for spin in (self.rank, self.epochs, self.max_steps, self.batch_size, self.repeats, self.resolution,
                     self.sample_every):
            spin.valueChanged.connect(self._on_setting_changed)
        for dspin in (self.alpha, self.learning_rate):
            dspin.valueChanged.connect(self._on_setting_changed)
        for box in (self.network, self.mixed_precision):
            box.currentIndexChanged.connect(self._on_setting_changed)
        self.base_model.currentTextChanged.connect(self._on_setting_changed)
        for check in (self.gradient_checkpointing, self.adam8, self.train_text_encoder):
            check.toggled.connect(self._on_setting_changed)
        self._refresh_vram()

    def set_base_models(self, models: list[tuple[str, Path]]) -> None:
        """Checkpoints from the library: (display name, path)."""
        current = self.base_model.currentText()
        self.base_model.clear()
        for name, path in models:
            self.base_model.addItem(name, str(path))
        if current:
            self.base_model.setEditText(current)

    def set_image_count(self, count: int) -> None:
        self._image_count = count
        self._on_preset_changed(self.preset.currentText())

    def config(self, dataset: str = "") -> TrainConfig:
        index = self.base_model.findText(self.base_model.currentText())
        base = self.base_model.itemData(index) if index >= 0 else self.base_model.currentText().strip()
        prompts = tuple(line.strip() for line in self.sample_prompts.toPlainText().splitlines() if line.strip())
        return replace(
            self._extra, base_model=str(base or ""), dataset=dataset or self._extra.dataset,
            output_dir=self.output_dir.text().strip(), output_name=self.output_name.text().strip(),
            trigger_word=self.trigger.text().strip(), network=str(self.network.currentData()),
            rank=self.rank.value(), alpha=self.alpha.value(), learning_rate=self.learning_rate.value(),
            epochs=self.epochs.value(), max_steps=self.max_steps.value(), batch_size=self.batch_size.value(),
            repeats=self.repeats.value(), resolution=self.resolution.value(),
            train_text_encoder=self.train_text_encoder.isChecked(), sample_prompts=prompts,
            sample_every_steps=self.sample_every.value(),
            gradient_checkpointing=self.gradient_checkpointing.isChecked() and self.gradient_checkpointing.isEnabled(),
            mixed_precision=self.mixed_precision.currentText() if self.mixed_precision.isEnabled() else "no",
            use_8bit_adam=self.adam8.isChecked() and self.adam8.isEnabled())

    def set_config(self, config: TrainConfig) -> None:
        self._extra = config
        self.base_model.setEditText(config.base_model)
        self.output_dir.setText(config.output_dir)
        self.output_name.setText(config.output_name)
        self.trigger.setText(config.trigger_word)
        self.network.setCurrentIndex(max(0, self.network.findData(config.network)))
        self._set_numbers(config)
        self.train_text_encoder.setChecked(config.train_text_encoder)
        self.sample_prompts.setPlainText("\n".join(config.sample_prompts))
        self.sample_every.setValue(config.sample_every_steps)
        self.gradient_checkpointing.setChecked(config.gradient_checkpointing)
        self.mixed_precision.setCurrentText(config.mixed_precision)
        self.adam8.setChecked(config.use_8bit_adam)

    def _set_numbers(self, config: TrainConfig) -> None:
        self.rank.setValue(config.rank)
        self.alpha.setValue(config.alpha)
        self.learning_rate.setValue(config.learning_rate)
        self.epochs.setValue(config.epochs)
        self.max_steps.setValue(config.max_steps)
        self.batch_size.setValue(config.batch_size)
        self.repeats.setValue(config.repeats)
        self.resolution.setValue(config.resolution)

    def _refresh_vram(self) -> None:
        config = self.config()
        family = base_family(Path(config.base_model)) if config.base_model else "sd1"
        gib = estimate_vram(config, family) / 2**30
        self.vram.setText(f"Estimated GPU memory: about {gib:.1f} GB ({family.upper()})")

    @Slot(str)
    def _on_preset_changed(self, preset: str) -> None:
        if preset in PRESETS and self._image_count:
            self._set_numbers(apply_preset(self.config(), preset, self._image_count))
        self._on_setting_changed()

    @Slot()
    def _on_setting_changed(self) -> None:
        self._refresh_vram()
        self.changed.emit()

    @Slot()
    def _on_browse_base(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Base model", "", "Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.base_model.setEditText(path)

    @Slot()
    def _on_browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Save the LoRA files in")
        if path:
            self.output_dir.setText(path)
