"""GridView: cells fill in under their labels, Z tabs, a click shows the cell large, settings go back."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QLabel

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.grid.axes import parse_spec
from lorastudio.core.grid.cells import cells
from lorastudio.qt.widgets.grid_view import GridView


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    ink = tmp_path / "demo-ink-wash.safetensors"
    ink.write_bytes(b"x")
    base = GenerationRequest(model=tmp_path, prompt="a cat", loras=(LoraSpec(ink, 1.0),), steps=2,
                             width=64, height=64)
    spec = parse_spec("lora:demo-ink-wash:0,0.5,1", "seed:1,2", "cfg:5,7")
    return spec, cells(spec, base)


def _solid(colour: str) -> Image.Image:
    return Image.new("RGB", (64, 64), colour)


def test_cells_fill_in_as_they_finish_under_their_labels(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    spec, grid_cells = setup
    view = GridView(cell_size=48)
    qtbot.addWidget(view)
    view.set_spec(spec, grid_cells)
    view.show()
    assert view._tabs.count() == 2  # one tab per Z value
    assert [view._tabs.tabText(i) for i in range(2)] == ["CFG: 5", "CFG: 7"]
    page = view._tabs.widget(0)
    labels = {label.objectName(): label.text() for label in page.findChildren(QLabel) if label.objectName()}
    assert labels["columnLabel0"] == "demo-ink-wash: 0"
    assert labels["columnLabel2"] == "demo-ink-wash: 1"
    assert labels["rowLabel1"] == "Seed: 2"
    button = view.cell_button(1, 0, 0)
    assert button is not None
    assert not button.isEnabled()  # not made yet
    view.add_cell(1, 0, 0, _solid("red"), "a cat\nSteps: 2, Seed: 1")
    assert button.isEnabled()
    assert view.filled_count() == 1
    assert view.progress_label.text() == "1 of 12 cells made"
    assert view.cell_image(1, 0, 0).pixelColor(10, 10) == QColor("red")
    qimage = QImage(64, 64, QImage.Format.Format_RGB32)
    qimage.fill(QColor("blue"))
    view.add_cell(2, 1, 1, qimage, "")  # a QImage works as well as a PIL image
    assert view.cell_image(2, 1, 1).pixelColor(0, 0) == QColor("blue")
    view.add_cell(9, 9, 9, _solid("red"))  # outside the grid (a late result): ignored
    assert view.filled_count() == 2


def test_click_shows_the_cell_large_and_use_settings_emits_its_request(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    spec, grid_cells = setup
    view = GridView(cell_size=48)
    qtbot.addWidget(view)
    view.set_spec(spec, grid_cells)
    view.show()
    view.add_cell(2, 1, 0, _solid("green"), "a cat\nSteps: 2, Seed: 2")
    with qtbot.waitSignal(view.cell_opened) as opened:
        qtbot.mouseClick(view.cell_button(2, 1, 0), Qt.MouseButton.LeftButton)
    assert opened.args == [(2, 1, 0)]
    assert view.showing_cell() == (2, 1, 0)
    assert view.detail_image.image().pixelColor(5, 5) == QColor("green")
    assert "Seed: 2" in view.detail_text.toPlainText()
    assert view.detail_title.text() == "demo-ink-wash: 1 · Seed: 2 · CFG: 5"
    with qtbot.waitSignal(view.use_settings_requested) as used:
        qtbot.mouseClick(view.use_button, Qt.MouseButton.LeftButton)
    request = used.args[0]
    assert isinstance(request, GenerationRequest)
    assert request.loras[0].weight == 1.0
    assert request.seed == 2
    assert request.cfg == 5.0
    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert view.showing_cell() is None


def test_ctrl_click_two_cells_asks_to_compare_them(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    spec, grid_cells = setup
    view = GridView(cell_size=48)
    qtbot.addWidget(view)
    view.set_spec(spec, grid_cells)
    view.show()
    view.add_cell(0, 0, 0, _solid("red"))
    view.add_cell(2, 0, 0, _solid("blue"))
    qtbot.mouseClick(view.cell_button(0, 0, 0), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier)
    assert view.cell_button(0, 0, 0).isChecked()
    assert view.showing_cell() is None  # marking does not open
    with qtbot.waitSignal(view.compare_requested) as compared:
        qtbot.mouseClick(view.cell_button(2, 0, 0), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                         QPoint(5, 5))
    assert compared.args == [(0, 0, 0), (2, 0, 0)]
    assert not view.cell_button(0, 0, 0).isChecked()


def test_a_grid_without_z_has_no_tab_bar_and_a_new_spec_replaces_the_old(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    spec, grid_cells = setup
    view = GridView(cell_size=48)
    qtbot.addWidget(view)
    view.set_spec(spec, grid_cells)
    view.add_cell(0, 0, 0, _solid("red"))
    view.set_spec(parse_spec("seed:1,2,3"))
    view.show()
    assert view._tabs.count() == 1
    assert not view._tabs.tabBar().isVisible()
    assert view.filled_count() == 0
    view.add_cell(0, 0, 0, _solid("red"), "x")
    view.show_cell(0, 0, 0)
    assert not view.use_button.isEnabled()  # no request known for this cell
