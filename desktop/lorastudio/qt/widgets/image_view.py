"""Shows the current result (or live preview), scaled to fit, never blurred up past 4x."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ImageView(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(QSize(256, 256))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setObjectName("imageView")
        self.setStyleSheet("QLabel#imageView { background: palette(base); border-radius: 6px; }")
        self._image: QImage | None = None
        self.show_placeholder("Your images appear here.\nPick a model, write a prompt, press Generate (Ctrl+Enter).")

    def show_placeholder(self, text: str) -> None:
        self._image = None
        self.setPixmap(QPixmap())
        self.setText(text)

    def show_image(self, image: QImage) -> None:
        self._image = image
        self.setText("")
        self._rescale()

    def image(self) -> QImage | None:
        return self._image

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            return
        box = self.contentsRect().size()
        w, h = self._image.width(), self._image.height()
        scale = min(box.width() / w, box.height() / h, 8.0)
        size = QSize(max(1, int(w * scale)), max(1, int(h * scale)))
        # Nearest-neighbour for small images (previews, tiny models): crisp pixels, not mush.
        mode = Qt.TransformationMode.FastTransformation if scale > 2 else Qt.TransformationMode.SmoothTransformation
        self.setPixmap(QPixmap.fromImage(self._image).scaled(size, Qt.AspectRatioMode.KeepAspectRatio, mode))
