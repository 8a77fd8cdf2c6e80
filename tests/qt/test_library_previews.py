"""What the user sees of an entry: its preview image painted on the card and in the list row (not a
placeholder word), and a list Name column wide enough to read the name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import kohya_sd15, write
from PySide6.QtGui import QColor, QImage

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.qt.widgets.library_cards import THUMB_H
from lorastudio.qt.widgets.library_panel import LibraryPanel

LONG_NAME = "watercolor_portrait_style_v2"


@pytest.fixture
def panel(qtbot, tmp_path: Path):
    data = DataDir(tmp_path / "data").ensure()
    write(data.loras / f"{LONG_NAME}.safetensors", kohya_sd15())
    red = QImage(64, 64, QImage.Format.Format_RGB32)
    red.fill(QColor(220, 20, 20))
    assert red.save(str(data.loras / f"{LONG_NAME}.preview.png"))
    write(data.loras / "plain.safetensors", kohya_sd15())
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    widget = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(widget)
    widget.resize(420, 700)  # the narrow side panel of the window
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def _is_red(color: QColor) -> bool:
    return color.red() > 180 and color.green() < 80 and color.blue() < 80


def test_card_paints_the_preview_image(qtbot, panel: LibraryPanel) -> None:
    path = str(panel._data.loras / f"{LONG_NAME}.safetensors")
    panel.grid.viewport().grab()  # the first paint asks for the thumbnail
    qtbot.waitUntil(lambda: panel.thumbnail(path) is not None, timeout=10000)
    assert any(panel._data.thumbnails.iterdir())  # cached for the next start
    image = panel.grid.viewport().grab().toImage()
    card = panel.grid.visualRect(panel.model.index(panel.model.row_of(path), 0))
    centre = card.center().x(), card.top() + THUMB_H // 2
    assert _is_red(image.pixelColor(*centre))
    # The card without a preview keeps its coloured placeholder: not red.
    other = panel.grid.visualRect(
        panel.model.index(panel.model.row_of(str(panel._data.loras / "plain.safetensors")), 0)
    )
    assert not _is_red(image.pixelColor(other.center().x(), other.top() + THUMB_H // 2))


def test_list_row_paints_the_preview_and_the_name_is_readable(qtbot, panel: LibraryPanel) -> None:
    path = str(panel._data.loras / f"{LONG_NAME}.safetensors")
    panel.view_toggle.setChecked(True)
    table = panel.table
    qtbot.waitUntil(table.isVisible, timeout=3000)
    table.viewport().grab()
    qtbot.waitUntil(lambda: panel.thumbnail(path) is not None, timeout=10000)
    index = panel.model.index(panel.model.row_of(path), 0)
    cell = table.visualRect(index)
    # The whole name fits in its column, at the narrow panel width (it used to be ~40 px: "…").
    needed = table.fontMetrics().horizontalAdvance(LONG_NAME) + 20 + 12
    assert table.columnWidth(0) >= needed
    assert cell.left() == 0
    assert cell.width() >= needed
    image = table.viewport().grab().toImage()
    icon_x = next(x for x in range(cell.left(), cell.left() + 40) if _is_red(image.pixelColor(x, cell.center().y())))
    assert icon_x < cell.left() + 16  # the thumbnail sits at the start of the row
    assert not any(
        _is_red(image.pixelColor(x, cell.center().y())) for x in range(cell.left() + 40, cell.left() + 60)
    )  # and then the name, not more picture
