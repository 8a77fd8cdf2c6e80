"""End to end: the window's Grid mode on the demo model. A 3×2 grid (LoRA weight × seed) queues six
jobs; each cell is the image a single generation with its settings makes; the grid PNG holds six
labelled cells, and dropping it on the window puts the axes back into the Grid dialog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.grid.axes import AxisKind
from lorastudio.core.grid.files import read_grid_setup
from lorastudio.core.paths import DataDir

pytestmark = pytest.mark.slow
TIMEOUT = 120_000


def _pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _qimage_pixels(image) -> np.ndarray:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return raw[:, : w * 3].reshape(h, w, 3).copy()


def test_grid_mode_makes_cells_equal_to_single_generations(qtbot, window, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    ink = data.loras / "demo-ink-wash.safetensors"
    g = window.generation
    g.select_model(data.checkpoints / DEMO_PIPELINE)
    g.prompt.setPlainText("a lighthouse")
    g.seed.setValue(5)
    g.steps.setValue(2)
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    window.mixer.add_lora(ink)

    qtbot.mouseClick(g.grid_button, Qt.MouseButton.LeftButton)
    dialog = window.grid_mode.dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert "demo-ink-wash" in dialog.hint.text()
    dialog.fields["x"].setText("lora:demo-ink-wash:0,0.5,1")
    dialog.fields["y"].setText("seed:11,12")
    assert dialog.count_label.text() == "6 cells"
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)

    view = window.grid_mode.view
    assert window.center_tabs.currentWidget() is view
    assert len(window.session.queue.jobs()) == 6
    qtbot.waitUntil(lambda: window.grid_mode.run is not None and window.grid_mode.run.files is not None,
                    timeout=TIMEOUT)
    run = window.grid_mode.run
    assert view.filled_count() == 6
    assert "Grid saved" in window.notice.text()
    grid_png = run.files.grids[0]
    assert grid_png.parent == data.outputs / "grids"
    assert str(grid_png) in window.notice.text()
    # Six labelled cells: the layout puts each cell in its own rectangle under its labels.
    layout = run.files.layouts[0]
    assert (layout.columns, layout.rows) == (3, 2)
    from PIL import Image

    with Image.open(grid_png) as picture:
        assert picture.width >= 3 * 64 + layout.left
        assert picture.height >= 2 * 64 + layout.top
    assert window.engine.last_result.stats["pipeline_loads"] == 1
    assert window.engine.last_result.stats["lora_loads"] == 1

    # The view's cells are the per-cell PNGs the queue saved.
    for (x, y, z), path in run.cell_paths.items():
        shown = view.cell_image(x, y, z)
        assert shown is not None
        assert (shown.width(), shown.height()) == (64, 64)
        with Image.open(path) as saved:
            assert f"Seed: {11 + y}" in saved.text["parameters"]
        assert np.array_equal(_pixels(path), _qimage_pixels(shown))

    # Spot check: a single generation with cell (2, 1)'s settings (weight 1, seed 12) is the cell.
    view.show_cell(2, 1, 0)
    qtbot.mouseClick(view.use_button, Qt.MouseButton.LeftButton)
    assert g.seed.value() == 12
    assert [s.weight for s in window.session.mix.value.specs] == [1.0]
    with qtbot.waitSignal(window.engine.finished, timeout=TIMEOUT):
        qtbot.mouseClick(g.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    assert np.array_equal(_pixels(window.last_result_paths[-1]), _pixels(run.cell_paths[(2, 1, 0)]))
    assert window.engine.last_result.stats["pipeline_loads"] == 1  # nothing reloaded

    # Dropping the grid PNG restores the prompt and opens the Grid dialog with its axes.
    spec = read_grid_setup(grid_png)
    assert spec is not None
    assert spec.x.kind is AxisKind.LORA_WEIGHT
    window.grid_mode.dialog.close()
    g.prompt.setPlainText("something else")
    window._image_drop.image_dropped.emit(str(grid_png))
    dropped = window.grid_mode.dialog
    assert dropped is not None
    assert dropped.isVisible()
    assert dropped.fields["x"].text() == "lora:demo-ink-wash:0,0.5,1"
    assert dropped.fields["y"].text() == "seed:11,12"
    assert dropped.count_label.text() == "6 cells"
    assert g.prompt.toPlainText() == "a lighthouse"


def test_cancel_in_the_middle_keeps_the_cells_made_and_the_app_ready(qtbot, window, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    g = window.generation
    g.select_model(data.checkpoints / DEMO_PIPELINE)
    g.prompt.setPlainText("a lighthouse")
    g.steps.setValue(8)
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    qtbot.mouseClick(g.grid_button, Qt.MouseButton.LeftButton)
    dialog = window.grid_mode.dialog
    dialog.fields["x"].setText("seed:1,2,3,4,5")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    view = window.grid_mode.view
    qtbot.waitUntil(lambda: view.filled_count() >= 1, timeout=TIMEOUT)
    g.cancel_requested.emit()  # the panel's Cancel: stops the grid, not only the running cell
    qtbot.waitUntil(lambda: window.grid_mode.run is not None and window.grid_mode.run.files is not None,
                    timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    made = view.filled_count()
    assert 1 <= made < 5
    assert len(window.grid_mode.run.results) == made
    assert window.grid_mode.run.files.grids[0].is_file()
    assert f"{made} of 5 cells" in window.notice.text()
    assert not window.grid_mode.active

    with qtbot.waitSignal(window.engine.finished, timeout=TIMEOUT):  # the app is ready for the next job
        qtbot.mouseClick(g.generate_button, Qt.MouseButton.LeftButton)
