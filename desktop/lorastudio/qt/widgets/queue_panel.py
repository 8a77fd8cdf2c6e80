"""The job queue: what runs, what waits (in order) and what finished, with the actions on them.

A view over the core ``JobQueue``: it holds no state of its own; connect the queue's change
signal (EngineClient.queue_changed) to ``refresh``. Cancel is a signal, because a running job is
stopped through the runner and its backend.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.session.queue import Job, JobQueue, JobState
from lorastudio.qt.widgets.elided_label import ElidedLabel

JobIdRole = Qt.ItemDataRole.UserRole + 1
_STATE_TEXT = {
    JobState.RUNNING: "▶ Running",
    JobState.PENDING: "Waiting",
    JobState.DONE: "✓ Done",
    JobState.FAILED: "✕ Failed",
    JobState.CANCELLED: "Cancelled",
}


def describe(job: Job, position: int | None = None) -> str:
    state = _STATE_TEXT[job.state]
    if job.state is JobState.PENDING and position is not None:
        state = f"#{position}"
    if job.state is JobState.RUNNING and job.cancel_requested:
        state = "Cancelling…"
    return f"{state} · {job.label}"


class QueuePanel(QWidget):
    """Signals: cancel_requested(str job_id), open_requested(str image path)."""

    cancel_requested = Signal(str)
    open_requested = Signal(str)

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.list = QListWidget()
        self.list.setAccessibleName("Job queue")
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        # Finished jobs must not take the mixer's rows (issue 16, item 5): two lines at least, the
        # rest scrolls; a long label elides instead of adding a horizontal scroll bar.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setMinimumHeight(2 * self.list.fontMetrics().height() + 2 * self.list.frameWidth() + 6)
        self.summary = ElidedLabel("")
        self.summary.setObjectName("muted")
        # Tool buttons: the row must fit the right column at 1024×700 (issue 16, item 12).
        self.run_next_button = QToolButton()
        self.up_button = QToolButton()
        self.down_button = QToolButton()
        self.cancel_button = QToolButton()
        self.remove_button = QToolButton()
        self.clear_button = QToolButton()
        for button, text in ((self.run_next_button, "Run next"), (self.up_button, "Up"), (self.down_button, "Down"),
                             (self.cancel_button, "Cancel"), (self.remove_button, "Remove"),
                             (self.clear_button, "Clear finished")):
            button.setText(text)
        self.up_button.setArrowType(Qt.ArrowType.UpArrow)
        self.down_button.setArrowType(Qt.ArrowType.DownArrow)
        for button, tip in ((self.run_next_button, "Run this job as soon as the current one ends"),
                            (self.up_button, "Earlier in the queue"), (self.down_button, "Later in the queue"),
                            (self.cancel_button, "Stop this job (a running one stops after its current step)"),
                            (self.remove_button, "Remove this job from the list"),
                            (self.clear_button, "Remove every finished job from the list")):
            button.setToolTip(tip)
        self._buttons = (self.run_next_button, self.up_button, self.down_button, self.cancel_button,
                         self.remove_button, self.clear_button)
        buttons = QHBoxLayout()
        for button in (self.run_next_button, self.up_button, self.down_button, self.cancel_button,
                       self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.clear_button)
        title = QHBoxLayout()
        heading = QLabel("Queue")
        heading.setObjectName("sectionTitle")
        title.addWidget(heading)
        title.addWidget(self.summary, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(title)
        lay.addWidget(self.list, 1)
        lay.addLayout(buttons)

        self.run_next_button.clicked.connect(self._on_run_next_clicked)
        self.up_button.clicked.connect(self._on_up_clicked)
        self.down_button.clicked.connect(self._on_down_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.refresh()

    # -- reading -------------------------------------------------------------------------------
    def job_ids(self) -> list[str]:
        return [self.list.item(i).data(JobIdRole) for i in range(self.list.count())]

    def row_texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def current_job(self) -> Job | None:
        item = self.list.currentItem()
        return self.queue.get(item.data(JobIdRole)) if item is not None else None

    def select_job(self, job_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(JobIdRole) == job_id:
                self.list.setCurrentRow(i)
                return

    # -- drawing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        current = self.current_job()
        self.list.blockSignals(True)
        self.list.clear()
        position = 0
        for job in self.queue.jobs():
            if job.state is JobState.PENDING:
                position += 1
            item = QListWidgetItem(describe(job, position))
            item.setData(JobIdRole, job.id)
            if job.message:
                item.setToolTip(job.message)
            self.list.addItem(item)
        self.list.blockSignals(False)
        if current is not None:
            self.select_job(current.id)
        waiting = len(self.queue.pending())
        running = sum(j.state is JobState.RUNNING for j in self.queue.jobs())  # several on "Any free backend"
        finished = sum(j.state.finished for j in self.queue.jobs())
        parts = ([f"{running} running"] if running else []) + ([f"{waiting} waiting"] if waiting else [])
        parts += [f"{finished} finished"] if finished else []  # not "empty" above a list of done jobs
        self.summary.setText(", ".join(parts) or "empty")
        # An empty queue is one line: the mixer above keeps the height (issue 16, item 5).
        has_jobs = self.list.count() > 0
        self.list.setVisible(has_jobs)
        for button in self._buttons:
            button.setVisible(has_jobs)
        self._update_buttons()

    def _update_buttons(self) -> None:
        job = self.current_job()
        pending = job is not None and job.state is JobState.PENDING
        self.run_next_button.setEnabled(pending)
        self.up_button.setEnabled(pending)
        self.down_button.setEnabled(pending)
        self.cancel_button.setEnabled(job is not None and not job.state.finished and not job.cancel_requested)
        self.remove_button.setEnabled(job is not None and job.state is not JobState.RUNNING)
        self.clear_button.setEnabled(any(j.state.finished for j in self.queue.jobs()))

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_run_next_clicked(self) -> None:
        job = self.current_job()
        if job is not None:
            self.queue.run_next(job.id)

    @Slot()
    def _on_up_clicked(self) -> None:
        job = self.current_job()
        if job is not None:
            self.queue.move_by(job.id, -1)

    @Slot()
    def _on_down_clicked(self) -> None:
        job = self.current_job()
        if job is not None:
            self.queue.move_by(job.id, 1)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        job = self.current_job()
        if job is not None:
            self.cancel_requested.emit(job.id)

    @Slot()
    def _on_remove_clicked(self) -> None:
        job = self.current_job()
        if job is not None:
            self.queue.remove(job.id)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.queue.clear_finished()

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current_changed(self, current: QListWidgetItem | None, previous: QListWidgetItem | None) -> None:
        self._update_buttons()

    @Slot(QListWidgetItem)
    def _on_item_double_clicked(self, item: QListWidgetItem) -> None:
        job = self.queue.get(item.data(JobIdRole))
        if job is not None and job.outputs:
            self.open_requested.emit(str(job.outputs[-1]))
