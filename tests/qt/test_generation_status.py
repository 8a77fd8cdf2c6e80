"""The generation panel's end-of-run states and status texts (issue 16, items 8 and 11)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from lorastudio.qt.theme import ACCENT, CANCELLED, FAILED, apply_theme
from lorastudio.qt.widgets.generation_panel import GenerationPanel


@pytest.fixture
def restore_theme(qapp: QApplication) -> Iterator[QApplication]:
    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def _bar_colours(panel: GenerationPanel) -> set[str]:
    image: QImage = panel.progress.grab().toImage()
    y = image.height() // 2
    # Sample the left quarter of the bar: the chunk, away from the centred text.
    return {QColor(image.pixel(x, y)).name() for x in range(4, image.width() // 4)}


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_failed_and_cancelled_do_not_look_like_done(qtbot, restore_theme: QApplication, theme: str) -> None:
    apply_theme(restore_theme, theme)
    panel = GenerationPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    looks = {}
    for text, state in (("Done: 1 image", "done"), ("Failed", "failed"), ("Cancelled", "cancelled")):
        panel.set_running(True)
        panel.show_done(text, 1.0, state=state)
        assert panel.progress.text() == text
        looks[state] = _bar_colours(panel)
    assert ACCENT.lower() in looks["done"]
    assert FAILED.lower() in looks["failed"]
    assert ACCENT.lower() not in looks["failed"]
    assert CANCELLED.lower() in looks["cancelled"]
    assert ACCENT.lower() not in looks["cancelled"]
    # A new run starts from the normal look again.
    panel.set_running(True)
    panel.show_progress(1, 2, 0.5)
    assert FAILED.lower() not in _bar_colours(panel)
