"""The one place messages reach the user: a bar that floats over the top of the window.

It overlays the content instead of sitting in a layout, so showing or hiding it never shifts the
panels under the user's mouse. Errors stay until dismissed; info and warnings fade after a few
seconds. Messages are typed (core.messages); the level picks the style, never the wording.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from lorastudio.core.messages import Level, Message

_ICONS = {Level.ERROR: "⚠ ", Level.WARNING: "⚠ ", Level.INFO: "ℹ "}
_FADE_MS = {Level.INFO: 6000, Level.WARNING: 10000}
_MARGIN = 8


class NoticeBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.setAutoFillBackground(True)
        self.label = QLabel()
        self.label.setWordWrap(True)
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
        self._message: Message | None = None
        self.hide()
        if parent is not None:
            parent.installEventFilter(self)

    # -- showing -------------------------------------------------------------------------------
    def show_message(self, message: Message) -> None:
        self._message = message
        self.setProperty("level", message.level.value)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(_ICONS[message.level] + message.text)
        self._place()
        self.show()
        self.raise_()
        fade = _FADE_MS.get(message.level)
        if fade is None:
            self._timer.stop()
        else:
            self._timer.start(fade)

    def error(self, text: str) -> None:
        self.show_message(Message(Level.ERROR, text))

    def warning(self, text: str) -> None:
        self.show_message(Message(Level.WARNING, text))

    def info(self, text: str) -> None:
        self.show_message(Message(Level.INFO, text))

    # -- reading (tests, accessibility) --------------------------------------------------------
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def level(self) -> str:
        return str(self.property("level") or "") if self.isVisible() else ""

    def message(self) -> Message | None:
        return self._message if self.isVisible() else None

    # -- overlay geometry ----------------------------------------------------------------------
    def _place(self) -> None:
        host = self.parentWidget()
        if host is None:
            return
        width = max(200, host.width() - 2 * _MARGIN)
        self.setFixedWidth(width)
        height = self.heightForWidth(width) if self.hasHeightForWidth() else self.sizeHint().height()
        self.setGeometry(_MARGIN, _MARGIN, width, max(height, self.minimumSizeHint().height()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False

    @Slot()
    def _on_close(self) -> None:
        self.hide()
