"""The chosen backend as the window shows it: its device line and which local files it lacks.

Holds a core ``ChoiceInfo``; ``refresh(choice)`` asks the servers again in a worker thread (one ask
at a time: a refresh asked meanwhile runs after it, for the latest choice only).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from lorastudio.core.backend.comfyui.availability import ChoiceInfo, asking, describe_choice
from lorastudio.core.backend.comfyui.config import LOCAL_NAME
from lorastudio.core.paths import DataDir
from lorastudio.qt.workers.threads import FunctionWorker, create_worker


class BackendInfoState(QObject):
    """Signals: changed(object ChoiceInfo) when the info differs from the last one shown;
    refreshed(object ChoiceInfo) after every answer for the current choice, changed or not."""

    changed = Signal(object)
    refreshed = Signal(object)

    def __init__(self, data: DataDir, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self._info = ChoiceInfo(LOCAL_NAME)
        self._worker: FunctionWorker | None = None  # kept after it ends: PySide6 must not free it mid-signal
        self._asking = False
        self._next: str | None = None  # a refresh asked while one runs
        self._choice = LOCAL_NAME
        self._closed = False

    @property
    def info(self) -> ChoiceInfo:
        return self._info

    def refresh(self, choice: str | None = None) -> None:
        """Ask again for ``choice`` (default: the current one); this computer needs no asking."""
        if self._closed:
            return
        self._choice = choice if choice is not None else self._choice
        if self._choice == LOCAL_NAME:
            self._next = None
            self._set(ChoiceInfo(LOCAL_NAME))
            return
        if self._info.choice != self._choice:
            self._set(asking(self._choice, self.data))  # the label follows the picker at once
        if self._asking:
            self._next = self._choice
            return
        self._asking = True
        worker = create_worker(describe_choice, self._choice, self.data)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def _set(self, info: ChoiceInfo) -> None:
        if info != self._info:
            self._info = info
            self.changed.emit(info)

    @Slot(object)
    def _on_returned(self, info: object) -> None:
        # An answer for a choice the user has left meanwhile is dropped.
        if isinstance(info, ChoiceInfo) and info.choice == self._choice and not self._closed:
            self._set(info)
            self.refreshed.emit(info)

    @Slot()
    def _on_finished(self) -> None:
        self._asking = False
        following, self._next = self._next, None
        if following is not None and not self._closed:
            self.refresh(following)

    def shutdown(self) -> None:
        """Wait for a running ask (it gives up after its own timeout) so no thread outlives us."""
        self._closed = True
        if self._worker is not None:
            self._worker.wait()
