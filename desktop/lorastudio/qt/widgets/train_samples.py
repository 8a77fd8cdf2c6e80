"""The sample strip: the fixed-seed sample images taken while training, newest on the right."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

SAMPLE_ICON = 112


class SampleStrip(QListWidget):
    """One row of thumbnails labelled with their step; the tooltip names the prompt."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(SAMPLE_ICON, SAMPLE_ICON))
        self.setFixedHeight(SAMPLE_ICON + 48)

    def add_sample(self, png: bytes, step: int, prompt: str) -> None:
        image = QImage.fromData(png, "PNG")
        pixmap = QPixmap.fromImage(image).scaled(
            SAMPLE_ICON, SAMPLE_ICON) if image.width() < SAMPLE_ICON else QPixmap.fromImage(image)
        item = QListWidgetItem(QIcon(pixmap), f"step {step}")
        item.setToolTip(prompt)
        self.addItem(item)
        self.scrollToItem(item)
