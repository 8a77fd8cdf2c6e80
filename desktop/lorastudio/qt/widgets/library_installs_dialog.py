"""Offers the model folders of existing installs as library sources, with a checkbox each."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.library.catalog import clean_text
from lorastudio.core.library.roots import DetectedRoot


class InstallsDialog(QDialog):
    """One checkable row per found folder ("ComfyUI: models/loras" and its full path)."""

    def __init__(self, roots: list[DetectedRoot], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Existing installs found")
        self.resize(620, 380)
        lay = QVBoxLayout(self)
        head = QLabel(
            "LoRA Studio found model folders of other apps. Checked folders are added to the library "
            "and used where they are: nothing is copied or changed."
        )
        head.setWordWrap(True)
        lay.addWidget(head)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        for root in roots:
            item = QListWidgetItem(f"{clean_text(root.label)}\n{clean_text(str(root.path))}")
            item.setData(Qt.ItemDataRole.UserRole, str(root.path))
            item.setToolTip(clean_text(str(root.path)))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        lay.addWidget(self.list, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add checked folders")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setText("Not now")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def chosen(self) -> list[Path]:
        out = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(Path(item.data(Qt.ItemDataRole.UserRole)))
        return out
