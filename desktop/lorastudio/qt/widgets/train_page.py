"""Train an image LoRA: pick a folder, fix the captions, choose a preset, watch it learn.

Left: the dataset (folder, caption grid, find/replace, trigger word, skipped files). Right: the
settings with the VRAM estimate, Start/Cancel/Resume, the loss curve, the sample strip and the
elapsed/remaining time. The scan and the training run in workers from ``qt/workers/threads``;
the page only shows what they report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message
from lorastudio.core.training.config import TrainConfig, base_bucket_step, read_config, write_config
from lorastudio.core.training.dataset import (
    Dataset,
    find_replace,
    prepend_trigger,
    scan_dataset,
    steps_per_epoch,
    write_caption,
)
from lorastudio.core.training.trainer import EpochSaved, TrainProgress, TrainResult, TrainSample, has_checkpoint
from lorastudio.qt.widgets.text_loss_curve import LossCurveWidget
from lorastudio.qt.widgets.train_captions import CaptionGrid, make_thumbnails
from lorastudio.qt.widgets.train_samples import SampleStrip
from lorastudio.qt.widgets.train_settings import TrainSettingsPanel
from lorastudio.qt.workers.threads import FunctionWorker, create_worker


def scan_with_thumbnails(folder: Path, resolution: int, base_model: str) -> tuple[Dataset, dict[Path, Any]]:
    """Worker job: read the folder and make the crop thumbnails (QImage is fine off the GUI thread)."""
    dataset = scan_dataset(folder, resolution, base_bucket_step(Path(base_model)) if base_model else 64)
    return dataset, make_thumbnails(dataset)


def run_training(config: TrainConfig, captions: dict[Path, str], resume: bool, cancel: CancelToken,
                 report: Any) -> TrainResult:
    """Worker job: every progress, sample and saved file goes out through ``report``."""
    from lorastudio.core.training.trainer import train

    return train(config, on_progress=report, on_sample=report, on_saved=report, cancel=cancel, resume=resume,
                 captions=captions)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TrainPage(QWidget):
    """Signals (GUI thread): message(str level, str text) — "info" or "error" for the notice bar;
    busy_changed(bool); epoch_saved(object Path) — a new LoRA file for the library;
    training_finished(object TrainResult)."""

    message = Signal(str, str)
    busy_changed = Signal(bool)
    epoch_saved = Signal(object)
    training_finished = Signal(object)

    def __init__(self, parent: QWidget | None = None, *, has_gpu: bool = False,
                 default_output: Path | None = None) -> None:
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self._scan: FunctionWorker | None = None
        self._train: FunctionWorker | None = None

        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder of png/jpg/webp pictures (name.txt next to each is its caption)")
        browse = QPushButton("Folder…")
        self.grid = CaptionGrid()
        self.find = QLineEdit()
        self.find.setPlaceholderText("find")
        self.replace = QLineEdit()
        self.replace.setPlaceholderText("replace with")
        replace_button = QPushButton("Replace all")
        self.trigger_button = QPushButton("Prepend trigger word")
        self.save_captions_button = QPushButton("Save captions")
        self.save_captions_button.setEnabled(False)
        self.skipped = QLabel()
        self.skipped.setObjectName("muted")
        self.skipped.setWordWrap(True)
        self.summary = QLabel("No folder yet")
        self.summary.setObjectName("muted")

        self.settings = TrainSettingsPanel(has_gpu=has_gpu)
        if default_output is not None:
            self.settings.output_dir.setText(str(default_output))
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primary")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue from the last saved epoch")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        load_button = QPushButton("Load config…")
        save_button = QPushButton("Save config…")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.time_label = QLabel("")
        self.time_label.setObjectName("muted")
        self.curve = LossCurveWidget()
        self.samples = SampleStrip()

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        edit_row = QHBoxLayout()
        for w in (self.find, self.replace, replace_button):
            edit_row.addWidget(w)
        caption_row = QHBoxLayout()
        caption_row.addWidget(self.trigger_button)
        caption_row.addStretch(1)
        caption_row.addWidget(self.save_captions_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(folder_row)
        left_layout.addWidget(self.summary)
        left_layout.addWidget(self.grid, 1)
        left_layout.addLayout(edit_row)
        left_layout.addLayout(caption_row)
        left_layout.addWidget(self.skipped)

        buttons = QHBoxLayout()
        for w in (self.start_button, self.resume_button, self.cancel_button):
            buttons.addWidget(w)
        buttons.addStretch(1)
        buttons.addWidget(load_button)
        buttons.addWidget(save_button)
        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.time_label)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.settings)
        right_layout.addLayout(buttons)
        right_layout.addLayout(status)
        right_layout.addWidget(self.curve, 1)
        right_layout.addWidget(self.samples)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        browse.clicked.connect(self._on_browse)
        self.folder.returnPressed.connect(self._on_folder_entered)
        replace_button.clicked.connect(self._on_replace)
        self.trigger_button.clicked.connect(self._on_prepend_trigger)
        self.save_captions_button.clicked.connect(self._on_save_captions)
        self.grid.captions_edited.connect(self._on_captions_edited)
        self.settings.changed.connect(self._on_settings_changed)
        self.start_button.clicked.connect(self._on_start)
        self.resume_button.clicked.connect(self._on_resume)
        self.cancel_button.clicked.connect(self._on_cancel)
        load_button.clicked.connect(self._on_load_config)
        save_button.clicked.connect(self._on_save_config)
        self._refresh_buttons()

    # -- public -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._train is not None

    def load_folder(self, folder: Path) -> None:
        """Scan ``folder`` in a worker; the grid fills when it is done."""
        self.folder.setText(str(folder))
        if self._scan is not None:
            return
        self.summary.setText("Reading the pictures…")
        worker = create_worker(scan_with_thumbnails, Path(folder), self.settings.resolution.value(),
                               self.settings.config().base_model)
        worker.returned.connect(self._on_scan_returned)
        worker.errored.connect(self._on_worker_errored)
        worker.finished.connect(self._on_scan_finished)
        self._scan = worker.start()

    def config(self) -> TrainConfig:
        return self.settings.config(self.folder.text().strip())

    def start(self, resume: bool = False) -> None:
        if self._train is not None:
            return
        try:
            config = self.config().validate()
        except LoraStudioError as err:
            self.message.emit("error", str(err))
            return
        self.curve.clear()
        self.samples.clear()
        self.progress.setRange(0, 0)
        self.progress.setFormat("loading the model…")
        self.time_label.setText("")
        worker = create_worker(run_training, config, self.grid.captions(), resume)
        worker.progress.connect(self._on_train_progress)
        worker.returned.connect(self._on_train_returned)
        worker.errored.connect(self._on_worker_errored)
        worker.finished.connect(self._on_train_finished)
        self._train = worker.start()
        self._refresh_buttons()
        self.busy_changed.emit(True)

    def cancel(self) -> None:
        if self._train is not None:
            self._train.cancel()
            self.progress.setFormat("cancelling after this step…")

    def shutdown(self) -> None:
        """Stop the workers before the window closes (a running QThread must not be destroyed)."""
        for worker in (self._train, self._scan):
            if worker is not None:
                worker.cancel()
                worker.wait()

    # -- slots --------------------------------------------------------------------------------
    @Slot(object)
    def _on_scan_returned(self, value: tuple[Dataset, dict[Path, Any]]) -> None:
        dataset, thumbnails = value
        self.dataset = dataset
        self.grid.set_dataset(dataset, thumbnails)
        self.settings.set_image_count(len(dataset.images))
        buckets = ", ".join(f"{w}×{h}: {n}" for (w, h), n in sorted(dataset.buckets().items()))
        self.summary.setText(f"{len(dataset.images)} images · buckets {buckets}")
        self.skipped.setText("\n".join(f"Skipped: {s.reason}" for s in dataset.skipped))
        self._on_settings_changed()

    @Slot()
    def _on_scan_finished(self) -> None:
        self._scan = None

    @Slot(object)
    def _on_worker_errored(self, message: Message) -> None:
        if self._scan is not None and self.dataset is None:
            self.summary.setText(message.text)
        self.message.emit("error", message.text)

    @Slot(object)
    def _on_train_progress(self, event: object) -> None:
        if isinstance(event, TrainProgress):
            self.curve.add_point(event.loss)
            self.progress.setRange(0, event.total_steps)
            self.progress.setValue(event.step)
            self.progress.setFormat(f"step {event.step}/{event.total_steps} · epoch {event.epoch}/{event.epochs}"
                                    f" · loss {event.loss:.4f}")
            left = f" · ~{_clock(event.remaining)} left" if event.remaining is not None else ""
            self.time_label.setText(f"{_clock(event.elapsed)} elapsed{left}")
        elif isinstance(event, TrainSample):
            self.samples.add_sample(event.png, event.step, event.prompt)
        elif isinstance(event, EpochSaved):
            self.epoch_saved.emit(event.path)

    @Slot(object)
    def _on_train_returned(self, result: TrainResult) -> None:
        if result.cancelled:
            kept = (f"epoch {result.last_saved_epoch} is saved; Resume continues from there"
                    if result.last_saved_epoch else "no epoch was saved yet")
            self.progress.setFormat(f"cancelled at step {result.steps} · {kept}")
        else:
            self.progress.setRange(0, max(1, result.total_steps))
            self.progress.setValue(result.total_steps)
            self.progress.setFormat(f"done · {result.steps} steps · {len(result.files)} files")
            self.message.emit("info", f"Training finished: {result.files[-1].name} is in the library."
                              if result.files else "Training finished.")
        for note in result.notes:
            self.message.emit("info", note)
        self.training_finished.emit(result)

    @Slot()
    def _on_train_finished(self) -> None:
        self._train = None
        if self.progress.maximum() == 0:  # failed before the first step
            self.progress.setRange(0, 1)
            self.progress.setFormat("stopped")
        self._refresh_buttons()
        self.busy_changed.emit(False)

    @Slot()
    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training pictures")
        if folder:
            self.load_folder(Path(folder))

    @Slot()
    def _on_folder_entered(self) -> None:
        if self.folder.text().strip():
            self.load_folder(Path(self.folder.text().strip()))

    @Slot()
    def _on_replace(self) -> None:
        self.grid.apply(find_replace(self.grid.caption_pairs(), self.find.text(), self.replace.text()))

    @Slot()
    def _on_prepend_trigger(self) -> None:
        trigger = self.settings.trigger.text().strip()
        if not trigger:
            self.message.emit("error", "Type a trigger word in the settings first.")
            return
        self.grid.apply(prepend_trigger(self.grid.caption_pairs(), trigger))

    @Slot()
    def _on_save_captions(self) -> None:
        edited = self.grid.edited()
        try:
            for path, caption in edited.items():
                write_caption(path, caption)
        except LoraStudioError as err:
            self.message.emit("error", str(err))
            return
        self.grid.mark_saved(edited)
        self.message.emit("info", f"Saved {len(edited)} captions as .txt files next to the pictures.")
        self._refresh_buttons()

    @Slot()
    def _on_captions_edited(self) -> None:
        self._refresh_buttons()

    @Slot()
    def _on_settings_changed(self) -> None:
        if self.dataset is not None:
            config = self.settings.config()
            per_epoch = steps_per_epoch(self.dataset, config.batch_size, config.repeats)
            self.summary.setText(f"{len(self.dataset.images)} images · {per_epoch} steps per epoch · "
                                 f"{config.total_steps(per_epoch)} steps in all")
        self._refresh_buttons()

    @Slot()
    def _on_start(self) -> None:
        self.start(resume=False)

    @Slot()
    def _on_resume(self) -> None:
        self.start(resume=True)

    @Slot()
    def _on_cancel(self) -> None:
        self.cancel()

    @Slot()
    def _on_load_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Training config", "", "TOML (*.toml)")
        if not path:
            return
        try:
            config = read_config(Path(path))
        except LoraStudioError as err:
            self.message.emit("error", str(err))
            return
        self.settings.set_config(config)
        if config.dataset:
            self.load_folder(Path(config.dataset))

    @Slot()
    def _on_save_config(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save training config", "train.toml", "TOML (*.toml)")
        if path:
            try:
                write_config(self.config(), Path(path))
            except OSError as err:
                self.message.emit("error", f"The config could not be saved: {err.strerror or err}.")

    def _refresh_buttons(self) -> None:
        running = self._train is not None
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        config = self.settings.config()
        can_resume = bool(config.output_dir and config.output_name) and has_checkpoint(config)
        self.resume_button.setEnabled(not running and can_resume)
        self.save_captions_button.setEnabled(bool(self.grid.edited()))
