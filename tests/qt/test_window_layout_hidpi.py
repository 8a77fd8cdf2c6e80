"""Crisp at 200 % scaling (issue 16, HiDPI): a card's preview is scaled for the screen's pixels,
not for its logical size and then stretched (which blurred every card on a HiDPI screen)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import kohya_sd15, write
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QStyleOptionViewItem

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.qt.widgets.library_cards import CARD_H, CARD_W, THUMB_H, LibraryCardDelegate
from lorastudio.qt.widgets.library_panel import LibraryPanel


def _checkerboard(side: int, cell: int) -> QPixmap:
    image = QImage(side, side, QImage.Format.Format_RGB32)
    for y in range(side):
        for x in range(side):
            image.setPixelColor(x, y, QColor(0, 0, 0) if (x // cell + y // cell) % 2 else QColor(255, 255, 255))
    return QPixmap.fromImage(image)


def _sharp_edges(image: QImage, area: QRect) -> float:
    """The share of side-by-side pixel pairs that differ a lot: high for a crisp pattern, near
    zero once it has been shrunk and stretched back."""
    edges = total = 0
    for y in range(area.top(), area.bottom(), 3):
        for x in range(area.left(), area.right() - 1):
            a, b = image.pixelColor(x, y).lightness(), image.pixelColor(x + 1, y).lightness()
            edges += abs(a - b) > 96
            total += 1
    return edges / total


@pytest.fixture
def panel(qtbot: Any, tmp_path: Path) -> Any:
    data = DataDir(tmp_path / "data").ensure()
    write(data.loras / "fine.safetensors", kohya_sd15())
    assert QImage(8, 8, QImage.Format.Format_RGB32).save(str(data.loras / "fine.preview.png"))
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    widget = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def test_a_card_preview_is_sharp_at_twice_the_pixels(panel: Any) -> None:
    model = panel.model
    row = model.row_of(str(panel._data.loras / "fine.safetensors"))
    record = model.record_at(row)
    model.set_thumbnail(str(record.info.preview), _checkerboard(512, 2))
    delegate = LibraryCardDelegate(panel.grid)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, CARD_W, CARD_H)
    option.palette = panel.grid.palette()
    option.widget = panel.grid
    canvas = QPixmap(CARD_W * 2, CARD_H * 2)  # a 200 % screen: two device pixels per logical one
    canvas.setDevicePixelRatio(2.0)
    canvas.fill(Qt.GlobalColor.gray)
    painter = QPainter(canvas)
    delegate.paint(painter, option, model.index(row, 0))
    painter.end()
    image = canvas.toImage()
    thumb = QRect(2 * 20, 2 * 20, 2 * (CARD_W - 40), 2 * (THUMB_H - 40))  # well inside the picture
    assert _sharp_edges(image, thumb) > 0.25
