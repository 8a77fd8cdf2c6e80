"""The caption grid of the training page: a thumbnail (with the trained crop drawn on it), the file,
its bucket, and an editable caption per image; find/replace and "prepend trigger word" across all."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from lorastudio.core.training.dataset import Dataset, TrainImage

THUMB = 96
_CAPTION = 2


def crop_thumbnail(image: TrainImage, size: int = THUMB) -> QImage:
    """A ``size``-px thumbnail with the crop the trainer uses outlined (runs in a worker thread)."""
    from PIL import Image

    with Image.open(image.path) as im:
        im = im.convert("RGB")
        w = im.width
        im.thumbnail((size, size))
        scale = im.width / w
        data = im.tobytes()
        thumb = QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
    c = image.crop
    painter = QPainter(thumb)
    painter.setPen(QPen(QColor(255, 200, 0), 2))
    painter.drawRect(round(c.left * scale), round(c.top * scale), max(1, round(c.width * scale) - 1),
                     max(1, round(c.height * scale) - 1))
    painter.end()
    return thumb


def make_thumbnails(dataset: Dataset) -> dict[Path, QImage]:
    out: dict[Path, QImage] = {}
    for image in dataset.images:
        try:
            out[image.path] = crop_thumbnail(image)
        except OSError:
            continue  # read once by the scan; a file changed since just shows no thumbnail
    return out


class CaptionGrid(QTableWidget):
    """Signals: captions_edited() — a caption differs from its saved sidecar."""

    captions_edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 3, parent)
        self.setHorizontalHeaderLabels(["Image", "File · bucket", "Caption"])
        self.setIconSize(QSize(THUMB, THUMB))
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMB + 8)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(_CAPTION, QHeaderView.ResizeMode.Stretch)
        self.setColumnWidth(0, THUMB + 12)
        self.setWordWrap(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                             | QAbstractItemView.EditTrigger.EditKeyPressed
                             | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self._paths: list[Path] = []
        self._saved: dict[Path, str] = {}
        self._filling = False
        self.itemChanged.connect(self._on_item_changed)

    def set_dataset(self, dataset: Dataset, thumbnails: dict[Path, QImage]) -> None:
        self._filling = True
        try:
            self.setRowCount(0)
            self._paths = [image.path for image in dataset.images]
            self._saved = {image.path: image.caption for image in dataset.images}
            self.setRowCount(len(dataset.images))
            for row, image in enumerate(dataset.images):
                thumb = QTableWidgetItem()
                if image.path in thumbnails:
                    thumb.setIcon(QIcon(QPixmap.fromImage(thumbnails[image.path])))
                thumb.setFlags(Qt.ItemFlag.ItemIsEnabled)
                w, h = image.crop.bucket
                info = QTableWidgetItem(f"{image.path.relative_to(dataset.folder)}\n{image.size[0]}×{image.size[1]}"
                                        f" → {w}×{h}")
                info.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                info.setToolTip("The outlined part of the picture is trained on, resized to the bucket size.")
                self.setItem(row, 0, thumb)
                self.setItem(row, 1, info)
                self.setItem(row, _CAPTION, QTableWidgetItem(image.caption))
        finally:
            self._filling = False

    def captions(self) -> dict[Path, str]:
        return {path: self.item(row, _CAPTION).text().strip() for row, path in enumerate(self._paths)}

    def caption_pairs(self) -> list[tuple[Path, str]]:
        return list(self.captions().items())

    def edited(self) -> dict[Path, str]:
        """Captions that differ from their sidecar on disk."""
        return {p: c for p, c in self.captions().items() if c != self._saved.get(p)}

    def apply(self, changes: dict[Path, str]) -> None:
        """Set several captions (find/replace, trigger word) in one go."""
        for row, path in enumerate(self._paths):
            if path in changes:
                self.item(row, _CAPTION).setText(changes[path])

    def mark_saved(self, saved: dict[Path, str]) -> None:
        self._saved.update(saved)

    @Slot(QTableWidgetItem)
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == _CAPTION:
            self.captions_edited.emit()
