"""The offer that follows a job refused for files the server lacks, when the server can take them
(comfyui-tooling-nodes' upload route): "Upload 2 files (140 MB)", then a progress dialog while they
go (in a worker thread), then the job runs again."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QPushButton, QWidget

from lorastudio.core.backend.comfyui.upload import UploadPlan, format_size, send_plan
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.messages import Message, MessageKind, info
from lorastudio.core.paths import DataDir
from lorastudio.qt.workers.threads import FunctionWorker, create_worker

KB = 1024  # the progress dialog counts KB: a QProgressDialog's range is a 32-bit int


class UploadOffer(QObject):
    """Signals: uploaded(object GenerationRequest) once the files are on the server (run the job
    again), message(object Message) for the outcome."""

    uploaded = Signal(object)
    message = Signal(object)

    def __init__(self, data: DataDir, parent: QWidget) -> None:
        super().__init__(parent)
        self.data = data
        self._parent = parent
        self.box: QMessageBox | None = None
        self.upload_button: QPushButton | None = None
        self.progress: QProgressDialog | None = None
        self._worker: FunctionWorker | None = None  # kept after it ends: PySide6 must not free it mid-signal
        self._plan: UploadPlan | None = None
        self._request: GenerationRequest | None = None

    @property
    def busy(self) -> bool:
        return self.box is not None or (self._worker is not None and self._worker.running)

    def offer(self, plan: UploadPlan, request: GenerationRequest) -> None:
        """Ask whether to send ``plan``'s files (one offer at a time; a second refusal meanwhile is
        answered by the first upload)."""
        if self.busy or not plan.files:
            return
        self._plan, self._request = plan, request
        names = ", ".join(f.path.name for f in plan.files)
        text = f"{plan.server} lacks {names}. It can receive them now and then run the job."
        if plan.refused:
            text += f" {', '.join(plan.refused)} cannot be sent this way: copy it into the server's models folder."
        box = QMessageBox(QMessageBox.Icon.Question, "Upload to the server", text, QMessageBox.StandardButton.Cancel,
                          self._parent)
        self.upload_button = box.addButton(plan.label(), QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(self.upload_button)
        box.finished.connect(self._on_box_finished)
        self.box = box
        box.open()

    @Slot(int)
    def _on_box_finished(self, _result: int) -> None:
        box, self.box = self.box, None
        if box is None:
            return
        accepted = box.clickedButton() is self.upload_button
        box.deleteLater()
        if accepted and self._plan is not None:
            self._start(self._plan)

    def _start(self, plan: UploadPlan) -> None:
        dialog = QProgressDialog(f"Sending {len(plan.files)} file{'s' if len(plan.files) != 1 else ''} "
                                 f"({format_size(plan.total)}) to {plan.server}…", "Cancel", 0,
                                 max(1, plan.total // KB), self._parent)
        dialog.setWindowTitle("Upload to the server")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        worker = create_worker(send_plan, self.data, plan)
        dialog.canceled.connect(worker.cancel)
        worker.progress.connect(self._on_progress)
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.progress, self._worker = dialog, worker
        dialog.show()
        worker.start()

    @Slot(object)
    def _on_progress(self, value: object) -> None:
        if self.progress is not None and isinstance(value, tuple):
            self.progress.setValue(min(self.progress.maximum(), value[0] // KB))

    @Slot(object)
    def _on_returned(self, _written: object) -> None:
        plan, request = self._plan, self._request
        if plan is None or request is None:
            return
        n = len(plan.files)
        self.message.emit(info(f"Sent {n} file{'s' if n != 1 else ''} to {plan.server}; the job runs again.",
                               MessageKind.GENERAL))
        self.uploaded.emit(request)

    @Slot(object)
    def _on_errored(self, message: object) -> None:
        if isinstance(message, Message) and message.kind is MessageKind.CANCELLED:
            self.message.emit(info("The upload was stopped; the files sent before it stay on the server."))
        elif isinstance(message, Message):
            self.message.emit(message)

    @Slot()
    def _on_finished(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None
        self._plan = self._request = None

    def shutdown(self) -> None:
        """Stop a running upload (after the file being sent) and wait for its thread."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker.wait()
