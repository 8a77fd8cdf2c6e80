"""Enter, reuse or forget the Hugging Face access token (stored in the OS keyring)."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.hub import tokens
from lorastudio.core.paths import DataDir


class HubTokenDialog(QDialog):
    def __init__(self, data_dir: DataDir, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hugging Face access token")
        self._data = data_dir
        self.notice = ""
        current = tokens.load_token(data_dir)
        self._existing = tokens.existing_login()
        self.status = QLabel(f"Current token: {tokens.token_hint(current)}")
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("hf_… (needed for gated and private repos)")
        self.reuse = QPushButton(f"Use my existing Hugging Face login ({tokens.token_hint(self._existing)})")
        self.reuse.setVisible(bool(self._existing) and self._existing != current)
        self.reuse.clicked.connect(self._on_reuse)
        self.forget = QPushButton("Forget token")
        self.forget.setEnabled(bool(current))
        self.forget.clicked.connect(self._on_forget)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.reuse)
        row.addWidget(self.forget)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("The token is kept in your system keyring and sent only to the configured Hub."))
        lay.addWidget(self.status)
        lay.addWidget(self.edit)
        lay.addLayout(row)
        lay.addWidget(buttons)

    def _store(self, token: str) -> None:
        self.notice = tokens.save_token(self._data, token).notice
        self.accept()

    @Slot()
    def _on_save(self) -> None:
        if self.edit.text().strip():
            self._store(self.edit.text())
        else:
            self.reject()

    @Slot()
    def _on_reuse(self) -> None:
        if self._existing:
            self._store(self._existing)

    @Slot()
    def _on_forget(self) -> None:
        tokens.delete_token(self._data)
        self.accept()
