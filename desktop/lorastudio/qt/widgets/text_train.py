"""The fine-tune panel: data, LoRA settings, Train/Cancel, progress, live loss curve, perplexity."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.text.train import TrainConfig, TrainProgress, TrainResult
from lorastudio.qt.widgets.number_boxes import float_box, int_box
from lorastudio.qt.widgets.text_loss_curve import LossCurveWidget


class TextTrainPanel(QWidget):
    """Signals: train_requested(object Path | None data, str name, object TrainConfig),
    cancel_requested()."""

    train_requested = Signal(object, str, object)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        defaults = TrainConfig()
        self.data = QLineEdit()
        self.data.setPlaceholderText(".txt file, folder of .txt files, or JSONL with a \"text\" field")
        browse_file = QPushButton("File…")
        browse_folder = QPushButton("Folder…")
        self.name = QLineEdit()
        self.name.setPlaceholderText("adapter name (default: from the data)")
        self.rank = int_box(1, 256, defaults.rank)
        self.alpha = float_box(0.5, 1024, defaults.alpha, 1.0, 1)
        self.lr = float_box(1e-6, 1.0, defaults.lr, 1e-4, 5)
        self.epochs = int_box(1, 1000, defaults.epochs)
        self.batch_size = int_box(1, 512, defaults.batch_size)
        self.max_length = int_box(8, 8192, defaults.max_length)
        self.targets = QLineEdit()
        self.targets.setPlaceholderText("default for the architecture")
        self.targets.setToolTip("Comma-separated module names to adapt, e.g. c_attn or q_proj,v_proj")

        data_row = QHBoxLayout()
        data_row.addWidget(self.data, 1)
        data_row.addWidget(browse_file)
        data_row.addWidget(browse_folder)
        top = QFormLayout()
        top.addRow("Training data", data_row)
        top.addRow("Adapter name", self.name)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        for column, pairs in enumerate(((("Rank (r)", self.rank), ("Alpha", self.alpha),
                                         ("Learning rate", self.lr)),
                                        (("Epochs", self.epochs), ("Batch size", self.batch_size),
                                         ("Max length", self.max_length)))):
            form = QFormLayout()
            for label, widget in pairs:
                form.addRow(label, widget)
            grid.addLayout(form, 0, column)
        targets = QFormLayout()
        targets.addRow("Target modules", self.targets)

        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        self.curve = LossCurveWidget()
        self.perplexity = QLabel("Perplexity on held-out text: before — · after —")
        self.perplexity.setObjectName("muted")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(grid)
        layout.addLayout(targets)
        layout.addLayout(buttons)
        layout.addWidget(self.curve, 1)
        layout.addWidget(self.perplexity)

        browse_file.clicked.connect(self._on_browse_file)
        browse_folder.clicked.connect(self._on_browse_folder)
        self.train_button.clicked.connect(self._on_train_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)

    def config(self) -> TrainConfig:
        targets = tuple(t.strip() for t in self.targets.text().split(",") if t.strip())
        return TrainConfig(rank=self.rank.value(), alpha=self.alpha.value(), lr=self.lr.value(),
                           epochs=self.epochs.value(), batch_size=self.batch_size.value(),
                           max_length=self.max_length.value(), target_modules=targets)

    def set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def begin(self) -> None:
        self.curve.clear()
        self.progress.setRange(0, 0)  # busy until the first step reports the total
        self.progress.setFormat("preparing…")
        self.perplexity.setText("Perplexity on held-out text: before — · after —")
        self.set_running(True)

    def show_progress(self, progress: TrainProgress) -> None:
        self.progress.setRange(0, progress.total_steps)
        self.progress.setValue(progress.step)
        self.progress.setFormat(f"step {progress.step}/{progress.total_steps} · epoch "
                                f"{progress.epoch}/{progress.epochs} · loss {progress.loss:.3f}")
        self.curve.add_point(progress.loss)

    def finish(self, result: TrainResult | None) -> None:
        self.set_running(False)
        if result is None:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("failed")
            return
        after = "—" if result.perplexity_after is None else f"{result.perplexity_after:.2f}"
        self.perplexity.setText(f"Perplexity on held-out text: before {result.perplexity_before:.2f} · "
                                f"after {after}")
        self.progress.setRange(0, max(1, self.progress.maximum()))
        if result.cancelled:
            kept = (f"kept the checkpoint of step {result.checkpoint_step}" if result.adapter_dir
                    else "no checkpoint yet")
            self.progress.setFormat(f"cancelled at step {result.steps} · {kept}")
        else:
            self.progress.setValue(self.progress.maximum())
            self.progress.setFormat(f"done · {result.steps} steps")

    @Slot()
    def _on_browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training data", "", "Text (*.txt *.jsonl *.json)")
        if path:
            self.data.setText(path)

    @Slot()
    def _on_browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of .txt files")
        if path:
            self.data.setText(path)

    @Slot()
    def _on_train_clicked(self) -> None:
        text = self.data.text().strip()
        name = self.name.text().strip() or (f"{Path(text).stem}-lora" if text else "")
        # an empty path goes out as None: the page tells the user, in its one message place
        self.train_requested.emit(Path(text) if text else None, name, self.config())

    @Slot()
    def _on_cancel_clicked(self) -> None:
        self.cancel_requested.emit()
