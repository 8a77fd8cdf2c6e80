"""Compare windows: two history results (Ctrl+click, then Compare) or two Ctrl+clicked grid cells
open a non-modal window whose CompareView holds both images."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.grid.axes import parse_spec
from lorastudio.core.grid.cells import cells
from lorastudio.core.paths import DataDir
from lorastudio.core.session.model import SessionModel
from lorastudio.qt.widgets.compare_dialog import CompareDialog
from lorastudio.qt.widgets.grid_mode import GridMode
from lorastudio.qt.widgets.history_panel import HistoryPanel

TIMEOUT = 10_000


def _png(folder: Path, prompt: str, seed: int, mtime: int, size: tuple[int, int] = (64, 48)) -> Path:
    request = GenerationRequest(model=folder / "demo-tiny-sd15", prompt=prompt, seed=seed, steps=2,
                                width=size[0], height=size[1])
    path = save_png(Image.new("RGB", size, (40 * seed % 255, 90, 160)), request, seed, folder)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return path


def _panel(qtbot, data: DataDir) -> HistoryPanel:  # type: ignore[no-untyped-def]
    panel = HistoryPanel(data, auto_scan=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loader.scanned, timeout=TIMEOUT):
        panel.refresh()
    return panel


def test_history_compares_two_selected_images(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = DataDir(tmp_path / "data").ensure()
    small = _png(data.outputs, "a small lighthouse", 1, 1_000, size=(64, 48))
    large = _png(data.outputs, "a large lighthouse", 2, 2_000, size=(80, 64))
    panel: HistoryPanel = _panel(qtbot, data)
    try:
        panel.show()
        model = panel.model
        assert not panel.compare_button.isEnabled()
        panel.view.setCurrentIndex(model.index(0))
        assert not panel.compare_button.isEnabled()  # one image: nothing to compare with
        # Ctrl+click the second thumbnail: two selected.
        rect = panel.view.visualRect(model.index(1))
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                         Qt.KeyboardModifier.ControlModifier, rect.center())
        assert len(panel.selected_paths()) == 2
        assert panel.compare_button.isEnabled()

        panel.compare_button.click()
        dialog = panel.compare_dialog
        assert isinstance(dialog, CompareDialog)
        assert dialog.isVisible()
        assert not dialog.isModal()
        a, b = dialog.view.images()
        assert a is not None
        assert b is not None
        # Rows are newest first; selected_paths keeps row order: the large image, then the small.
        assert {(a.width(), a.height()), (b.width(), b.height())} == {(80, 64), (64, 48)}
        assert sorted(panel.selected_paths()) == sorted([str(large.resolve()), str(small.resolve())])
        assert " · 2 · a large lighthouse" in dialog.windowTitle()
        assert " · 1 · a small lighthouse" in dialog.windowTitle()

        # A third selected image: Compare is off again.
        _png(data.outputs, "a third", 3, 3_000)
        with qtbot.waitSignal(panel.loader.scanned, timeout=TIMEOUT):
            panel.refresh()
        panel.view.selectAll()
        assert not panel.compare_button.isEnabled()
        panel.view.selectionModel().select(model.index(0), QItemSelectionModel.SelectionFlag.Deselect)
        assert panel.compare_button.isEnabled()
        dialog.close()
    finally:
        panel.shutdown()


def test_two_ctrl_clicked_grid_cells_open_a_compare_window(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = DataDir(tmp_path / "data").ensure()
    parent = QWidget()
    qtbot.addWidget(parent)
    mode = GridMode(SessionModel(data), None, data.outputs / "grids", parent)  # type: ignore[arg-type]
    base = GenerationRequest(model=tmp_path, prompt="a cat", steps=2, width=64, height=64)
    spec = parse_spec("seed:1,2", "", "")
    mode.view.set_spec(spec, cells(spec, base))
    mode.view.add_cell(0, 0, 0, Image.new("RGB", (64, 64), "red"))
    mode.view.add_cell(1, 0, 0, Image.new("RGB", (48, 32), "blue"))
    mode.view.show()
    for x in (0, 1):
        button = mode.view.cell_button(x, 0, 0)
        assert button is not None
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier)
    dialog = mode.compare
    assert isinstance(dialog, CompareDialog)
    assert dialog.isVisible()
    assert not dialog.isModal()
    a, b = dialog.view.images()
    assert a is not None
    assert b is not None
    assert (a.width(), a.height(), a.pixelColor(5, 5)) == (64, 64, QColor("red"))
    assert (b.width(), b.height(), b.pixelColor(5, 5)) == (48, 32, QColor("blue"))
    assert dialog.windowTitle() == "Compare: Seed: 1 ↔ Seed: 2"
    dialog.close()
