"""The downloads panel: one row per queued install with progress, speed, ETA and controls."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.hub.queue import (
    CANCELLED,
    DONE,
    FAILED,
    PAUSED,
    QUEUED,
    RUNNING,
    DownloadQueue,
    QueueEntry,
    QueueProgress,
)
from lorastudio.core.paths import DataDir
from lorastudio.qt.workers.download_worker import DownloadRunner


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def human_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


_STATE_LABELS = {QUEUED: "Queued", RUNNING: "Downloading", PAUSED: "Paused", FAILED: "Failed",
                 DONE: "Done", CANCELLED: "Cancelled"}


class DownloadRow(QFrame):
    """One entry. Signals: pause_clicked(str id), resume_clicked(str), cancel_clicked(str), remove_clicked(str)."""

    pause_clicked = Signal(str)
    resume_clicked = Signal(str)
    cancel_clicked = Signal(str)
    remove_clicked = Signal(str)

    def __init__(self, entry: QueueEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry_id = entry.id
        self.setObjectName("downloadRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel()
        self.title.setObjectName("downloadTitle")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.detail = QLabel()
        self.detail.setObjectName("downloadDetail")
        self.detail.setWordWrap(True)
        self.pause_button = QToolButton(text="Pause")
        self.resume_button = QToolButton(text="Resume")
        self.cancel_button = QToolButton(text="Cancel")
        self.remove_button = QToolButton(text="Clear")
        for b in (self.pause_button, self.resume_button, self.cancel_button, self.remove_button):
            b.setAutoRaise(True)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        for b in (self.pause_button, self.resume_button, self.cancel_button, self.remove_button):
            top.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addWidget(self.bar)
        lay.addWidget(self.detail)
        self.pause_button.clicked.connect(self._on_pause)
        self.resume_button.clicked.connect(self._on_resume)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.remove_button.clicked.connect(self._on_remove)
        self.state = ""
        self.set_entry(entry)

    def set_entry(self, entry: QueueEntry) -> None:
        self.state = entry.state
        self.title.setText(f"<b>{entry.repo_id}</b>" + (f" · {', '.join(entry.files)}" if entry.files else ""))
        active = entry.state in (QUEUED, RUNNING)
        self.pause_button.setVisible(active)
        self.resume_button.setVisible(entry.state in (PAUSED, FAILED, CANCELLED))
        self.cancel_button.setVisible(entry.state in (QUEUED, RUNNING, PAUSED, FAILED))
        self.remove_button.setVisible(entry.state in (DONE, CANCELLED, FAILED))
        if entry.state == DONE:
            self.bar.setValue(1000)
        if entry.total:
            self.bar.setValue(int(1000 * min(entry.done / entry.total, 1.0)))
        if entry.state == DONE:
            self.bar.setValue(1000)
        label = _STATE_LABELS.get(entry.state, entry.state)
        if entry.state != RUNNING or entry.message not in ("", "Starting…"):
            self.detail.setText(f"{label}: {entry.message}" if entry.message and entry.message != f"{label}."
                                else label)
        self.setProperty("state", entry.state)
        self.style().unpolish(self)
        self.style().polish(self)

    def set_progress(self, p: QueueProgress) -> None:
        if p.total:
            self.bar.setValue(int(1000 * min(p.done / p.total, 1.0)))
        name = p.filename.split("/")[-1]
        if p.stage == "verify":
            self.detail.setText(f"Verifying {name} (sha256)… {human_bytes(p.done)} of {human_bytes(p.total or 0)}")
            return
        parts = [f"{name}: {human_bytes(p.done)} of {human_bytes(p.total or 0)}"]
        if p.speed > 0:
            parts.append(f"{human_bytes(p.speed)}/s")
        if p.eta is not None:
            parts.append(f"{human_eta(p.eta)} left")
        self.detail.setText(" · ".join(parts))

    @Slot()
    def _on_pause(self) -> None:
        self.pause_clicked.emit(self.entry_id)

    @Slot()
    def _on_resume(self) -> None:
        self.resume_clicked.emit(self.entry_id)

    @Slot()
    def _on_cancel(self) -> None:
        self.cancel_clicked.emit(self.entry_id)

    @Slot()
    def _on_remove(self) -> None:
        self.remove_clicked.emit(self.entry_id)


class DownloadsPanel(QWidget):
    """Queued installs with per-file and overall progress; pause, cancel, resume.

    Signals: installed(str path) when a model lands in the library; finished(str message) when an
    entry ends well (the sentence says what happened, e.g. that it was already in the library);
    failed(str message).
    """

    installed = Signal(str)
    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, data_dir: DataDir, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = DownloadQueue(data_dir)
        self.runner = DownloadRunner(data_dir, self.queue, self)
        self.rows: dict[str, DownloadRow] = {}
        self.header = QLabel("Downloads")
        self.header.setObjectName("sectionTitle")
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setFormat("Overall %p%")
        self.empty = QLabel("No downloads yet. Pick a model and press Install.")
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._list = QWidget()
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(4)
        self._list_layout.addWidget(self.empty)
        self._list_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._list)
        head = QHBoxLayout()
        head.addWidget(self.header)
        head.addWidget(self.overall, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(scroll, 1)
        self.runner.progress.connect(self._on_runner_progress)
        self.runner.changed.connect(self._on_runner_changed)
        self.runner.installed.connect(self._on_runner_installed)
        self.runner.failed.connect(self._on_runner_failed)
        self.runner.idle.connect(self._on_runner_idle)
        for entry in self.queue.entries():
            self._row_for(entry)
        self._update_overall()
        self.runner.kick()  # downloads left queued by the last session continue

    # -- public ---------------------------------------------------------------------------------------
    def enqueue(self, repo_id: str, revision: str = "main", files: tuple[str, ...] = ()) -> str:
        entry = self.queue.add(repo_id, revision, files)
        self._row_for(entry)
        self._update_overall()
        self.runner.kick()
        return entry.id

    def pause(self, entry_id: str) -> None:
        self.queue.pause(entry_id)
        self._refresh(entry_id)

    def resume(self, entry_id: str) -> None:
        self.queue.resume(entry_id)
        self._refresh(entry_id)
        self.runner.kick()

    def cancel(self, entry_id: str) -> None:
        self.queue.cancel(entry_id)
        self._refresh(entry_id)

    def remove(self, entry_id: str) -> None:
        self.queue.remove(entry_id)
        row = self.rows.pop(entry_id, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
        self._update_overall()

    def is_busy(self) -> bool:
        return self.runner.is_running()

    def shutdown(self) -> None:
        self.runner.shutdown()

    # -- internals ------------------------------------------------------------------------------------
    def _row_for(self, entry: QueueEntry) -> DownloadRow:
        row = self.rows.get(entry.id)
        if row is None:
            row = DownloadRow(entry)
            row.pause_clicked.connect(self.pause)
            row.resume_clicked.connect(self.resume)
            row.cancel_clicked.connect(self.cancel)
            row.remove_clicked.connect(self.remove)
            self.rows[entry.id] = row
            self._list_layout.insertWidget(self._list_layout.count() - 1, row)
        else:
            row.set_entry(entry)
        self.empty.setVisible(not self.rows)
        return row

    def _refresh(self, entry_id: str) -> None:
        entry = self.queue.get(entry_id)
        if entry is not None:
            self._row_for(entry)
        self._update_overall()

    def _update_overall(self) -> None:
        entries = [e for e in self.queue.entries() if e.state not in (CANCELLED,)]
        total = sum(e.total for e in entries if e.total)
        done = sum(e.total if e.state == DONE else e.done for e in entries if e.total)
        self.overall.setValue(int(1000 * done / total) if total else 0)
        self.overall.setVisible(bool(entries))
        self.empty.setVisible(not self.rows)

    @Slot(object)
    def _on_runner_progress(self, p: QueueProgress) -> None:
        row = self.rows.get(p.entry_id)
        if row is not None:
            row.set_progress(p)
        self._update_overall()

    @Slot(object)
    def _on_runner_changed(self, entry: QueueEntry) -> None:
        self._row_for(entry)
        self._update_overall()
        if entry.state == FAILED:
            self.failed.emit(entry.message)
        elif entry.state == DONE and entry.message:
            self.finished.emit(entry.message)

    @Slot(str)
    def _on_runner_installed(self, path: str) -> None:
        self.installed.emit(path)

    @Slot(str)
    def _on_runner_failed(self, message: str) -> None:
        self.failed.emit(message)

    @Slot()
    def _on_runner_idle(self) -> None:
        self._update_overall()
