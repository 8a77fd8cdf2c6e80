"""Settings ▸ Engine runtime: where PyTorch for the engine lives, and repair / switch / remove.

Verify runs the runtime's own Python (imports and a device check) in a worker; Reinstall / Switch
opens the first-run dialog; Remove asks first. When the app itself runs in an environment that
has PyTorch (a source checkout), that environment is the engine and there is nothing to manage.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.messages import Message
from lorastudio.core.runtime import TARGETS, EngineRuntime, RuntimeState, VerifyReport
from lorastudio.core.settings import SettingsStore
from lorastudio.qt.widgets.runtime_dialog import RuntimeDialog
from lorastudio.qt.workers import runtime_worker
from lorastudio.qt.workers.threads import FunctionWorker, create_worker


def describe_state(state: RuntimeState) -> str:
    """One or two sentences for the state of the engine runtime."""
    if state.kind == "this-environment":
        version = f" (torch {state.torch_version})" if state.torch_version else ""
        return (f"LoRA Studio runs in a Python environment that has PyTorch{version}: that environment "
                "runs the engine, so there is no separate runtime to manage.")
    if state.kind == "installed":
        label = next((t.label for t in TARGETS if t.key == state.target_key), state.target_key or "unknown")
        where = f" in {state.python.parent.parent}" if state.python is not None else ""
        return f"Installed: the {label} build, torch {state.torch_version}{where}."
    if state.kind == "broken":
        return f"Needs a repair: {state.detail}"
    return "Not installed: generating images needs it; the library, the hub and downloads work without it."


class RuntimeSection(QGroupBox):
    """Signals: runtime_changed() after an install, a repair or a removal."""

    runtime_changed = Signal()

    def __init__(self, runtime: EngineRuntime, store: SettingsStore, parent: QWidget | None = None, *,
                 stop_engine: Callable[[], None] | None = None) -> None:
        """``stop_engine`` stops an idle engine process before the runtime it runs from changes
        (Windows cannot replace or delete files in use; elsewhere it would keep the old one)."""
        super().__init__("Engine runtime", parent)
        self.runtime = runtime
        self.store = store
        self._stop_engine = stop_engine
        self._worker: FunctionWorker | None = None  # kept after it ends: PySide6 must not free it mid-signal
        self._busy = False
        self.state: RuntimeState | None = None

        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result = QLabel("")
        self.result.setObjectName("muted")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setToolTip("Start the runtime's Python: import torch and the engine, check the device")
        self.install_button = QPushButton("Reinstall / switch build…")
        self.remove_button = QPushButton("Remove")
        buttons = QHBoxLayout()
        for b in (self.verify_button, self.install_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addLayout(buttons)
        lay.addWidget(self.result)

        self.verify_button.clicked.connect(self._on_verify)
        self.install_button.clicked.connect(self._on_install)
        self.remove_button.clicked.connect(self._on_remove)
        self.refresh()

    def refresh(self) -> None:
        """Read the runtime's state again and show it."""
        state = self.runtime.state()
        self.state = state
        self.summary.setText(describe_state(state))
        self.install_button.setText("Install…" if state.kind == "missing" else "Reinstall / switch build…")
        self._update_buttons()

    def _update_buttons(self) -> None:
        kind = self.state.kind if self.state is not None else "missing"
        managed = kind != "this-environment"
        for b in (self.verify_button, self.install_button, self.remove_button):
            b.setVisible(managed)
        idle = not self._busy
        self.verify_button.setEnabled(idle and kind in ("installed", "broken"))
        self.install_button.setEnabled(idle)
        self.remove_button.setEnabled(idle and kind in ("installed", "broken"))

    def _start(self, worker: FunctionWorker, text: str) -> None:
        self._busy = True
        self.result.setText(text)
        worker.errored.connect(self._on_failed)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._update_buttons()
        worker.start()

    # -- actions -------------------------------------------------------------------------------
    @Slot()
    def _on_verify(self) -> None:
        worker = create_worker(runtime_worker.verify_runtime, self.runtime)
        worker.returned.connect(self._on_verified)
        self._start(worker, "Verifying (starts the runtime's Python and imports torch)…")

    @Slot(object)
    def _on_verified(self, report: VerifyReport) -> None:
        if report.ok:
            self.result.setText(f"Verified: PyTorch and the engine import, and it runs on {report.device}.")
        else:
            self.result.setText("Problems found (Reinstall repairs them):\n"
                                + "\n".join(f"• {p}" for p in report.problems))

    @Slot()
    def _on_install(self) -> None:
        if self._stop_engine is not None:
            self._stop_engine()
        dialog = RuntimeDialog(self.runtime, self.store, self)
        dialog.installed.connect(self._on_installed)
        dialog.exec()
        self.refresh()

    @Slot(object)
    def _on_installed(self, _state: RuntimeState) -> None:
        self.result.setText("")
        self.runtime_changed.emit()

    @Slot()
    def _on_remove(self) -> None:
        answer = QMessageBox.question(
            self, "Remove the engine runtime",
            f"Remove the engine runtime from {self.runtime.root}? Generation stops working until it is "
            "installed again; your models, images and settings stay.")
        if answer != QMessageBox.StandardButton.Yes:
            return
        if self._stop_engine is not None:
            self._stop_engine()
        worker = create_worker(runtime_worker.remove_runtime, self.runtime)
        worker.returned.connect(self._on_removed)
        self._start(worker, "Removing…")

    @Slot(object)
    def _on_removed(self, _state: RuntimeState) -> None:
        self.result.setText("Removed. Install it again from here or when you next generate.")
        self.runtime_changed.emit()

    @Slot(object)
    def _on_failed(self, message: Message) -> None:
        self.result.setText(message.text)

    @Slot()
    def _on_worker_finished(self) -> None:
        self._busy = False
        self.refresh()

    def shutdown(self) -> None:
        if self._worker is not None:
            self._worker.cancel()  # a Verify stops its check at once; remove/install finish first
            self._worker.wait()
