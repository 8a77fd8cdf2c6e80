"""Train an image LoRA: pick a folder, fix the captions, choose a preset, watch it learn.

Left: the dataset (folder, caption grid, find/replace, trigger word, skipped files). Right: the
settings with the VRAM estimate, Start/Cancel/Resume/Compare epochs, the loss curve, the sample
strip and the elapsed/remaining time. The scan (PIL only) runs in a worker from
``qt/workers/threads``; the training is a queue job run by the engine process (torch never loads
in the window's process): the page submits a ``TrainRequest`` and shows the updates of its job.
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

from lorastudio.core.backend.base import JobResult
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message
from lorastudio.core.session.queue import Job, JobState
from lorastudio.core.training.config import TrainConfig, base_bucket_step, read_config, write_config
from lorastudio.core.training.dataset import (
    Dataset,
    find_replace,
    prepend_trigger,
    scan_dataset,
    steps_per_epoch,
    write_caption,
)
from lorastudio.core.training.request import TrainRequest
from lorastudio.core.training.trainer import (
    EpochSaved,
    TrainProgress,
    TrainResult,
    TrainSample,
    first_sample_prompt,
    has_checkpoint,
    saved_epochs,
)
from lorastudio.qt.widgets.text_loss_curve import LossCurveWidget
from lorastudio.qt.widgets.train_captions import CaptionGrid, make_thumbnails
from lorastudio.qt.widgets.train_samples import SampleStrip
from lorastudio.qt.widgets.train_settings import TrainSettingsPanel
from lorastudio.qt.workers.engine_worker import EngineClient
from lorastudio.qt.workers.threads import FunctionWorker, create_worker


def scan_with_thumbnails(folder: Path, resolution: int, base_model: str) -> tuple[Dataset, dict[Path, Any]]:
    """Worker job: read the folder and make the crop thumbnails (QImage is fine off the GUI thread)."""
    dataset = scan_dataset(folder, resolution, base_bucket_step(Path(base_model)) if base_model else 64)
    return dataset, make_thumbnails(dataset)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60:02d}:{seconds % 60:02d}" if seconds < 3600 else \
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TrainPage(QWidget):
    """Signals (GUI thread): message(str level, str text) — "info" or "error" for the notice bar;
    busy_changed(bool); epoch_saved(object Path) — a new LoRA file for the library;
    training_finished(object TrainResult) — also after a cancel; compare_requested(object
    TrainConfig, object list[Path], str prompt) — the epoch files to compare in a grid."""

    message = Signal(str, str)
    busy_changed = Signal(bool)
    epoch_saved = Signal(object)
    training_finished = Signal(object)
    compare_requested = Signal(object, object, str)

    def __init__(self, engine: EngineClient, parent: QWidget | None = None, *, has_gpu: bool = False,
                 default_output: Path | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.dataset: Dataset | None = None
        self._scan: FunctionWorker | None = None
        self._job_id: str | None = None  # the training job of this page, queued or running
        self._stopped: TrainResult | None = None  # what a cancelled run kept (sent before it ends)

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
        self.compare_button = QPushButton("Compare epochs")
        self.compare_button.setToolTip("A grid of the saved epoch files × LoRA weight, on the base model, with the "
                                       "first sample prompt and the training seed")
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
        for w in (self.start_button, self.resume_button, self.cancel_button, self.compare_button):
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
        self.compare_button.clicked.connect(self._on_compare)
        engine.job_update.connect(self._on_job_update)
        engine.job_finished.connect(self._on_job_finished)
        engine.job_failed.connect(self._on_job_failed)
        engine.job_cancelled.connect(self._on_job_cancelled)
        engine.queue_changed.connect(self._on_queue_changed)
        load_button.clicked.connect(self._on_load_config)
        save_button.clicked.connect(self._on_save_config)
        self._refresh_buttons()

    # -- public -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """A training job of this page is queued or running."""
        return self._job_id is not None

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

    def start(self, resume: bool = False) -> Job | None:
        """Queue a training job for the current settings and captions (None when refused)."""
        if self._job_id is not None:
            return None
        try:
            config = self.config().validate()
        except LoraStudioError as err:
            self.message.emit("error", str(err))
            return None
        self.curve.clear()
        self.samples.clear()
        self.time_label.setText("")
        self._stopped = None
        job = self.engine.submit(TrainRequest(config, tuple(self.grid.captions().items()), resume))
        self._job_id = job.id
        self._show_waiting()
        self._refresh_buttons()
        self.busy_changed.emit(True)
        return job

    def cancel(self) -> None:
        if self._job_id is not None:
            self.engine.cancel(self._job_id)
            if self._job_id is not None:  # still running: it stops after the current step
                self.progress.setFormat("cancelling after this step…")

    def shutdown(self) -> None:
        """Stop the scan worker before the window closes (a running QThread must not be destroyed).
        A training job belongs to the engine process, which the window stops; its saved epochs stay
        and Resume continues from the last one."""
        if self._scan is not None:
            self._scan.cancel()
            self._scan.wait()

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

    # -- the training job (EngineClient signals, filtered on this page's job) ------------------
    def _mine(self, job: object) -> bool:
        return self._job_id is not None and isinstance(job, Job) and job.id == self._job_id

    def _show_waiting(self) -> None:
        job = self.engine.queue.get(self._job_id) if self._job_id else None
        self.progress.setRange(0, 0)
        self.progress.setFormat("loading the model…" if job is not None and job.state is JobState.RUNNING
                                else "waiting in the queue…")

    @Slot()
    def _on_queue_changed(self) -> None:
        if self._job_id is None:
            return
        job = self.engine.queue.get(self._job_id)
        if job is None:  # removed from the queue before it ran
            self._end("removed from the queue")
        elif job.state is JobState.CANCELLED and not job.cancel_requested:
            self._on_job_cancelled(job)  # cancelled while it waited: no engine event follows
        elif job.state is JobState.RUNNING and self.progress.maximum() == 0:
            self._show_waiting()

    @Slot(object, object)
    def _on_job_update(self, job: object, payload: object) -> None:
        if self._mine(job):
            self._on_train_progress(payload)

    @Slot(object, object)
    def _on_job_finished(self, job: object, result: object) -> None:
        if not self._mine(job):
            return
        outcome = result.payload if isinstance(result, JobResult) else None
        if isinstance(outcome, TrainResult):
            self._on_train_returned(outcome)
        self._end()

    @Slot(object)
    def _on_job_failed(self, job: object) -> None:
        # The sentence reaches the notice bar through the engine's message; the page keeps it too.
        if self._mine(job):
            self.time_label.setText(job.message if isinstance(job, Job) else "")
            self._end("failed")

    @Slot(object)
    def _on_job_cancelled(self, job: object) -> None:
        if not self._mine(job):
            return
        if self._stopped is not None:
            self._on_train_returned(self._stopped)
        else:
            self.progress.setRange(0, 1)
            self.progress.setFormat("cancelled")
        self._end()

    def _end(self, why: str = "stopped") -> None:
        self._job_id = None
        self._stopped = None
        if self.progress.maximum() == 0:  # ended before the first step
            self.progress.setRange(0, 1)
            self.progress.setFormat(why)
        self._refresh_buttons()
        self.busy_changed.emit(False)

    def _on_train_progress(self, event: object) -> None:
        if isinstance(event, TrainResult):  # a cancelled run's outcome, just before the job ends
            self._stopped = event
        elif isinstance(event, TrainProgress):
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
    def _on_compare(self) -> None:
        config = self.config()
        files = saved_epochs(config)
        if not files:
            self.message.emit("error", "No epoch of this training is saved yet.")
            return
        caption = self.dataset.images[0].caption if self.dataset is not None and self.dataset.images else ""
        self.compare_requested.emit(config, files, first_sample_prompt(config, caption))

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
        running = self._job_id is not None
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        config = self.settings.config()
        named = bool(config.output_dir and config.output_name)
        self.resume_button.setEnabled(not running and named and has_checkpoint(config))
        self.compare_button.setEnabled(not running and named and bool(saved_epochs(config)))
        self.save_captions_button.setEnabled(bool(self.grid.edited()))
