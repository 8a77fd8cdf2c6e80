"""A searchable picker of the library's LoRAs; incompatible ones, and ones the chosen backend
lacks, are flagged, not hidden."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.types import BaseArch
from lorastudio.qt.theme import warning_color


class LoraPickerDialog(QDialog):
    def __init__(self, loras: list[FileInfo], model_base: BaseArch | None, parent: QWidget | None = None,
                 remote_note: Callable[[Path], str] | None = None) -> None:
        """``remote_note(path)``: "not on studio-pc" for a LoRA the chosen backend lacks, else ""."""
        super().__init__(parent)
        self.setWindowTitle("Add LoRA")
        self.resize(460, 480)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or trigger word…")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.hint = QLabel("")
        self.hint.setObjectName("muted")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add")
        lay = QVBoxLayout(self)
        lay.addWidget(self.search)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.hint)
        lay.addWidget(buttons)
        warn = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        for info in sorted(loras, key=lambda i: (i.title or i.path.stem).lower()):
            name = info.title or info.path.stem
            incompatible = model_base not in (None, BaseArch.UNKNOWN) and info.base not in (
                BaseArch.UNKNOWN, model_base)
            label = f"{name}    [{info.base.label}]"
            if incompatible:
                label += "  — not for this model"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, str(info.path))
            item.setData(Qt.ItemDataRole.UserRole + 1, " ".join((name, *info.trigger_words)).lower())
            item.setToolTip(str(info.path))
            note = remote_note(info.path) if remote_note else ""
            if note:
                item.setText(f"{label}  — {note}")
                item.setIcon(warn)
                item.setToolTip(f"{note[:1].upper()}{note[1:]}: {info.path}")
            if incompatible:
                item.setForeground(warning_color(self.palette()))
            self.list.addItem(item)
        if not loras:
            self.hint.setText("No LoRAs in the library yet: install some, or create the demo library.")
        self.search.textChanged.connect(self._on_search)
        self.list.itemDoubleClicked.connect(self._on_double_clicked)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.list.setCurrentRow(0)

    def chosen(self) -> list[Path]:
        return [Path(i.data(Qt.ItemDataRole.UserRole)) for i in self.list.selectedItems()]

    @Slot(str)
    def _on_search(self, text: str) -> None:
        words = text.lower().split()
        for i in range(self.list.count()):
            item = self.list.item(i)
            hay = item.data(Qt.ItemDataRole.UserRole + 1)
            item.setHidden(not all(w in hay for w in words))

    @Slot(QListWidgetItem)
    def _on_double_clicked(self, item: QListWidgetItem) -> None:
        self.list.setCurrentItem(item)
        self.accept()
