"""Presets ("recipes") bar: a combo of saved mixes with Save / Rename / Delete.

Saving captures the current mix (paths, names, weights, text-encoder weights, toggles) and, when
asked, the prompt and settings. Choosing a preset emits it; ``apply_preset`` puts it back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.errors import PresetError
from lorastudio.core.library.presets import Preset, PresetLora, PresetStore
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.dialogs import ask_yes
from lorastudio.qt.widgets.generation_panel import GenerationPanel, GenerationSettings

SETTING_KEYS = ("steps", "cfg", "sampler", "width", "height", "clip_skip")


def preset_from_state(name: str, mix: LoraMix, settings: GenerationSettings | None) -> Preset:
    """A preset of ``mix``; with ``settings``, also the prompt and settings (never the seed)."""
    loras = tuple(PresetLora(s.path, s.display_name, s.weight, s.te_weight, s.enabled, s.blocks, s.start, s.stop)
                  for s in mix.specs)
    if settings is None:
        return Preset(name, loras)
    values: dict[str, Any] = {k: getattr(settings, k) for k in SETTING_KEYS}
    if settings.model is not None:
        values["model"] = str(settings.model)
    return Preset(name, loras, settings.prompt, settings.negative_prompt, values)


def apply_preset(
    preset: Preset,
    generation: GenerationPanel | None,
    mix_state: MixState,
    resolve: Callable[[str], LoraSpec | None] | None = None,
) -> list[str]:
    """Restore a preset's mix (and prompt/settings when it has them); returns the missing LoRAs.

    A LoRA whose file moved is looked up by name with ``resolve`` (the main window's library lookup).
    """
    specs: list[LoraSpec] = []
    missing: list[str] = []
    for lo in preset.loras:
        path: Path | None = lo.path if lo.path.exists() else None
        if path is None and resolve is not None:
            found = resolve(lo.name or lo.path.stem)
            path = found.path if found else None
        if path is None:
            missing.append(lo.name or lo.path.stem)
            continue
        specs.append(LoraSpec(path=path, weight=lo.weight, te_weight=lo.te_weight, enabled=lo.enabled, name=lo.name,
                              blocks=lo.blocks, start=lo.start, stop=lo.stop))
    mix_state.set_mix(LoraMix(tuple(specs)))
    if generation is not None and (preset.prompt is not None or preset.settings):
        current = generation.settings()
        values = preset.settings or {}
        changes: dict[str, Any] = {}
        for key in SETTING_KEYS:
            kind = type(getattr(current, key))
            try:
                changes[key] = kind(values[key])
            except (KeyError, TypeError, ValueError):
                continue  # absent or damaged: keep the current value
        model = values.get("model")
        generation.apply_settings(
            replace(
                current,
                **changes,
                seed=generation.seed.value(),
                model=Path(model) if isinstance(model, str) else None,
                prompt=preset.prompt if preset.prompt is not None else current.prompt,
                negative_prompt=preset.negative_prompt
                if preset.negative_prompt is not None
                else current.negative_prompt,
            )
        )
    return missing


class SavePresetDialog(QDialog):
    def __init__(self, names: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save preset")
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. Ink night")
        self.name.setMaxLength(120)
        self.include = QCheckBox("Also save the prompt and settings")
        hint = QLabel("The LoRAs, their weights and toggles are always saved.")
        hint.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        form = QFormLayout(self)
        form.addRow("Name", self.name)
        form.addRow("", self.include)
        form.addRow("", hint)
        form.addRow(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)


class PresetsBar(QWidget):
    """Signals: preset_chosen(object Preset), failed(str message), saved(str name)."""

    preset_chosen = Signal(object)
    failed = Signal(str)
    saved = Signal(str)

    def __init__(
        self,
        store: PresetStore,
        mix_state: MixState,
        settings: Callable[[], GenerationSettings] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.mix_state = mix_state
        self._settings = settings
        self.combo = QComboBox()
        self.combo.setAccessibleName("Presets")
        self.combo.setToolTip("Load a saved mix")
        # Tool buttons and a combo sized by a few characters, not by its longest name: the bar
        # must fit the right column at 1024×700 (issue 16, item 12).
        self.combo.setMinimumContentsLength(8)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.save_button = QToolButton()
        self.save_button.setText("Save…")
        self.save_button.setToolTip("Save the current mix as a preset")
        self.rename_button = QToolButton()
        self.rename_button.setText("Rename…")
        self.delete_button = QToolButton()
        self.delete_button.setText("Delete")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo, 1)
        lay.addWidget(self.save_button)
        lay.addWidget(self.rename_button)
        lay.addWidget(self.delete_button)
        self.combo.activated.connect(self._on_combo_activated)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.reload()

    # -- public -----------------------------------------------------------------------------
    def reload(self, select: str = "") -> None:
        names = self.store.names()
        self.combo.clear()
        self.combo.addItems(names)
        self.combo.setPlaceholderText("No presets yet" if not names else "Preset…")
        self.combo.setCurrentIndex(self.combo.findText(select) if select else -1)
        self._update_buttons()

    def names(self) -> list[str]:
        return [self.combo.itemText(i) for i in range(self.combo.count())]

    def current_name(self) -> str:
        return self.combo.currentText() if self.combo.currentIndex() >= 0 else ""

    def save_as(self, name: str, include_settings: bool) -> bool:
        """Save the current mix under ``name``; asks before replacing an existing preset."""
        settings = self._settings() if include_settings and self._settings is not None else None
        preset = preset_from_state(name, self.mix_state.mix, settings)
        try:
            overwrite = False
            if self.store.exists(name.strip()):
                if not self.confirm(f"A preset named '{name.strip()}' already exists. Replace it?"):
                    return False
                overwrite = True
            stored = self.store.save(preset, overwrite=overwrite)
        except PresetError as err:
            self.failed.emit(str(err))
            return False
        self.reload(select=stored.name)
        self.saved.emit(stored.name)
        return True

    def choose(self, name: str) -> None:
        try:
            preset = self.store.load(name)
        except PresetError as err:
            self.failed.emit(str(err))
            return
        self.combo.setCurrentIndex(self.combo.findText(preset.name))
        self.preset_chosen.emit(preset)

    # -- dialogs (tests replace these) ----------------------------------------------------------
    def ask_save(self) -> tuple[str, bool] | None:
        dialog = SavePresetDialog(self.names(), self)
        dialog.name.setText(self.current_name())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.name.text(), dialog.include.isChecked()

    def ask_name(self, title: str, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, "New name:", QLineEdit.EchoMode.Normal, current)
        return text if ok else None

    def confirm(self, question: str) -> bool:
        return ask_yes(self, "Presets", question)

    # -- slots ------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        has = self.combo.currentIndex() >= 0
        self.rename_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    @Slot(int)
    def _on_combo_activated(self, index: int) -> None:
        self._update_buttons()
        if index >= 0:
            self.choose(self.combo.itemText(index))

    @Slot()
    def _on_save_clicked(self) -> None:
        if not self.mix_state.mix.specs:
            self.failed.emit("The mix is empty: add a LoRA before saving a preset.")
            return
        answer = self.ask_save()
        if answer is not None:
            self.save_as(*answer)

    @Slot()
    def _on_rename_clicked(self) -> None:
        old = self.current_name()
        if not old:
            return
        new = self.ask_name("Rename preset", old)
        if new is None or new.strip() == old:
            return
        try:
            self.store.rename(old, new)
        except PresetError as err:
            self.failed.emit(str(err))
            return
        self.reload(select=" ".join(new.split()))

    @Slot()
    def _on_delete_clicked(self) -> None:
        name = self.current_name()
        if not name or not self.confirm(f"Delete the preset '{name}'? The LoRA files are not touched."):
            return
        try:
            self.store.delete(name)
        except PresetError as err:
            self.failed.emit(str(err))
        self.reload()
