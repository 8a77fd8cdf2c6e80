"""The small dialog asked before installing: copy, move or link, and whether to convert pickles."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.library.importer import ImportMode

_MODE_TEXT = {
    ImportMode.COPY: ("Copy into the library", "The originals stay where they are."),
    ImportMode.MOVE: ("Move into the library", "The originals are moved; nothing is left behind."),
    ImportMode.LINK: (
        "Link (no extra disk space)",
        "A hard link where the drive allows it, else a symbolic link; the original must stay.",
    ),
}


class ImportDialog(QDialog):
    """Asks how to install ``count`` dropped or picked items; the last choice is preselected."""

    def __init__(
        self,
        names: list[str],
        mode: ImportMode = ImportMode.COPY,
        may_hold_pickles: bool = False,
        convert_pickles: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Install into the library")
        lay = QVBoxLayout(self)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        head = QLabel(f"Install <b>{html.escape(shown)}</b>?")
        head.setWordWrap(True)
        lay.addWidget(head)
        hint = QLabel("Each file goes to the folder for its kind (LoRAs, checkpoints, VAEs, embeddings).")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        self._group = QButtonGroup(self)
        self.mode_buttons: dict[ImportMode, QRadioButton] = {}
        for m, (label, tip) in _MODE_TEXT.items():
            button = QRadioButton(label)
            button.setToolTip(tip)
            self._group.addButton(button)
            self.mode_buttons[m] = button
            lay.addWidget(button)
            sub = QLabel(tip)
            sub.setObjectName("muted")
            sub.setWordWrap(True)
            sub.setContentsMargins(22, 0, 0, 4)
            lay.addWidget(sub)
        self.mode_buttons[mode].setChecked(True)
        self.convert = QCheckBox("Convert pickle files (.ckpt .pt .bin .pth) to safetensors")
        self.convert.setToolTip(
            "Only plain tensors are loaded (torch weights_only); a file that needs more is refused, "
            "never run. The original file is left as it is."
        )
        self.convert.setChecked(convert_pickles)
        self.convert.setVisible(may_hold_pickles)
        lay.addWidget(self.convert)
        self.remember = QCheckBox("Use this choice without asking until LoRA Studio closes")
        lay.addWidget(self.remember)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Install")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def mode(self) -> ImportMode:
        for m, button in self.mode_buttons.items():
            if button.isChecked():
                return m
        return ImportMode.COPY

    def convert_pickles(self) -> bool:
        return self.convert.isChecked()
