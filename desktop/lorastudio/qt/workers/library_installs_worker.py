"""Looking for existing installs (A1111, Forge, ComfyUI, InvokeAI, the HF cache) off the GUI thread.

``detect_installs`` only stats a few dozen folders, but a home on a network drive or a large HF
cache can still take seconds, so it never runs in the GUI thread.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from lorastudio.core.library.roots import DetectedRoot, detect_installs


class InstallsWorker(QObject):
    """Runs ``detect_installs(home=home)`` once.

    Signals:
        found(object list[DetectedRoot]): the model folders found (may be empty)
        done(): always last
    """

    found = Signal(object)
    done = Signal()

    def __init__(self, home: Path | None = None) -> None:
        super().__init__()
        self._home = home

    @Slot()
    def run(self) -> None:
        roots: list[DetectedRoot] = []
        try:
            roots = detect_installs(home=self._home)
        except Exception:  # a strange home folder must not stop the app; nothing found is fine
            traceback.print_exc()
        finally:
            self.found.emit(roots)
            self.done.emit()
