"""The one place messages reach the user: an inline bar over the window (errors stay until
dismissed; info fades after a few seconds), mirrored in the status bar."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(self.label.textInteractionFlags())
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        close.clicked.connect(self._on_close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_close)
        self.hide()

    def error(self, text: str) -> None:
        self._show("error", text)
        self._timer.stop()

    def info(self, text: str) -> None:
        self._show("info", text)
        self._timer.start(6000)

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def level(self) -> str:
        return str(self.property("level") or "")

    def _show(self, level: str, text: str) -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(("⚠ " if level == "error" else "ℹ ") + text)
        self.show()

    @Slot()
    def _on_close(self) -> None:
        self.hide()
