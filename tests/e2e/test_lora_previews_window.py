"""End to end: "Make preview" on a LoRA in the real window writes ``name.preview.png`` next to the
file with the demo model, and the library card paints it."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir
from lorastudio.qt.widgets.library_cards import THUMB_H

pytestmark = pytest.mark.slow
TIMEOUT = 120_000


def test_make_preview_writes_the_sidecar_and_the_card_paints_it(qtbot, window, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    lora = sorted(data.loras.rglob("*.safetensors"))[0]
    preview = lora.with_name(f"{lora.stem}.preview.png")
    preview.unlink(missing_ok=True)
    panel = window.library
    panel.rescan()
    qtbot.waitUntil(lambda: (r := panel.catalog_record(str(lora))) is not None and r.info.preview is None,
                    timeout=TIMEOUT)
    panel.search.setText(lora.stem)  # the LoRA's card is the first one shown
    qtbot.waitUntil(lambda: panel.model.row_of(str(lora)) >= 0, timeout=TIMEOUT)
    window.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    g = window.generation
    g.steps.setValue(2)
    g.width_box.setValue(64)
    g.height_box.setValue(64)

    card = panel.grid.visualRect(panel.model.index(panel.model.row_of(str(lora)), 0))
    menu = panel.stack.preview_menu(panel.grid, card.center())
    assert menu is not None
    make = next(a for a in menu.actions() if a.text() == "Make preview")
    make.trigger()
    assert window.statusBar().currentMessage() == "Preview 1 of 1"  # overall progress of the batch

    qtbot.waitUntil(preview.exists, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    def painted_thumbnail() -> bool:
        panel.grid.viewport().grab()  # a paint asks for the (new) thumbnail
        return panel.thumbnail(str(lora)) is not None

    qtbot.waitUntil(painted_thumbnail, timeout=TIMEOUT)
    written = QImage(str(preview))
    assert (written.width(), written.height()) == (64, 64)
    image = panel.grid.viewport().grab().toImage()
    card = panel.grid.visualRect(panel.model.index(panel.model.row_of(str(lora)), 0))
    # The card paints the new preview: the mean colour of its square thumbnail is the image's mean
    # colour (the old demo preview and the placeholder colours are far from it).
    painted = _mean(image, card.left() + 8, card.top() + 8, THUMB_H - 16)
    expected = _mean(written, 0, 0, 64)
    assert all(abs(a - b) <= 12 for a, b in zip(painted, expected, strict=True)), (painted, expected)


def _mean(image: QImage, x0: int, y0: int, size: int) -> tuple[float, float, float]:
    pixels = [image.pixelColor(x, y) for x in range(x0, x0 + size) for y in range(y0, y0 + size)]
    n = len(pixels)
    return (sum(p.red() for p in pixels) / n, sum(p.green() for p in pixels) / n, sum(p.blue() for p in pixels) / n)
