"""Theme colours a user must be able to read (issue 16, item 13)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

from lorastudio.qt.theme import apply_theme, contrast_ratio, mark_warning, warning_color

WCAG_AA_TEXT = 4.5


@pytest.fixture
def restore_theme(qapp: QApplication) -> Iterator[QApplication]:
    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    yield qapp
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio(QColor("#000000"), QColor("#ffffff")) == pytest.approx(21.0)
    assert contrast_ratio(QColor("#777777"), QColor("#ffffff")) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_warning_text_reads_on_every_background(qtbot, restore_theme: QApplication, theme: str) -> None:
    apply_theme(restore_theme, theme)
    label = QLabel("Trained for SDXL: does not fit this model")
    mark_warning(label)
    qtbot.addWidget(label)
    label.show()
    shown = label.palette().color(QPalette.ColorRole.WindowText)  # what the style sheet made of it
    assert shown == warning_color()
    app_palette = restore_theme.palette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase):
        background = app_palette.color(role)
        ratio = contrast_ratio(shown, background)
        assert ratio >= WCAG_AA_TEXT, f"{theme}: {shown.name()} on {background.name()} is {ratio:.2f}:1"
