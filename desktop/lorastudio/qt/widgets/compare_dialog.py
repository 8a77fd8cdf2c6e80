"""A non-modal window comparing two images (grid cells or history results) in a ``CompareView``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

from lorastudio.qt.widgets.compare_view import CompareView


class CompareDialog(QDialog):
    """Two images with locked zoom and pan; closing it frees it (each compare is its own window)."""

    def __init__(self, a: QImage | Any, b: QImage | Any, label_a: str, label_b: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setModal(False)
        self.setWindowTitle(f"Compare: {label_a} ↔ {label_b}")
        self.view = CompareView(self)
        self.view.set_images(a, b, label_a, label_b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.view)
        self.resize(1000, 600)


def compare_files(a: Path, b: Path, label_a: str, label_b: str, parent: QWidget | None = None) -> CompareDialog:
    """Open a compare window over two image files; raises OSError with the file's name when one
    cannot be read (callers turn it into a message)."""
    images = []
    for path in (a, b):
        image = QImage(str(path))
        if image.isNull():
            raise OSError(f"Could not read {path.name} as an image.")
        images.append(image)
    dialog = CompareDialog(images[0], images[1], label_a, label_b, parent)
    dialog.show()
    return dialog
