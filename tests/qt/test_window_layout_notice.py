"""A notice never moves the window's content (issue 16, item 9): it used to sit in the layout and
push every panel down ~38 px as it appeared, so a click meant for a button landed on another."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QWidget

from lorastudio.core.paths import DataDir
from lorastudio.qt.main_window import MainWindow


def _where(window: MainWindow, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def test_a_notice_covers_the_top_without_moving_anything(qtbot: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lorastudio.app import create_main_window

    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)  # no engine process
    window = create_main_window(DataDir(tmp_path / "data").ensure())
    qtbot.addWidget(window)
    window.resize(1024, 700)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    watched = {"tabs": window.tabs, "Generate": window.generation.generate_button,
               "library search": window.library.toolbar.search, "mixer": window.mixer}
    before = {name: _where(window, w) for name, w in watched.items()}
    size = window.size()
    window.notice.error("The engine stopped while generating (out of memory?); the next job starts it again. " * 3)
    qtbot.waitUntil(window.notice.isVisible, timeout=2_000)
    qtbot.wait(50)
    assert window.notice.height() > 20  # really there, over the top of the content
    assert _where(window, window.notice).intersects(before["tabs"])
    assert {name: _where(window, w) for name, w in watched.items()} == before
    assert window.size() == size
    window.notice.hide()
    qtbot.wait(50)
    assert {name: _where(window, w) for name, w in watched.items()} == before
    window.shutdown()
