"""The current LoRA mix as a view-model: holds a core ``LoraMix``, emits only on real change."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from lorastudio.core.engine.mix import LoraMix


class MixState(QObject):
    """Signals: mix_changed(object LoraMix)."""

    mix_changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mix = LoraMix()

    @property
    def mix(self) -> LoraMix:
        return self._mix

    def set_mix(self, mix: LoraMix) -> None:
        if mix != self._mix:
            self._mix = mix
            self.mix_changed.emit(mix)
