"""Status texts follow the current state, never a past one (issue 16, item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lorastudio.app import create_main_window
from lorastudio.core.paths import data_dir
from lorastudio.qt.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    # No engine process: the test plays the engine's signals itself.
    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)
    win = create_main_window(data_dir(tmp_path))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


def test_engine_warm_up_status_agrees_with_the_engine_label(window: MainWindow) -> None:
    engine = window.engine
    engine.status.emit("Starting the engine (loading torch and diffusers)…")
    assert window.device_label.text() != "Engine: starts on first use"
    assert "Starting" not in window.generation.progress.text()  # the idle bar is not the engine's
    engine.device.emit("CPU")
    engine.status.emit("Engine ready")
    assert window.device_label.text() == "Device: CPU"


def test_no_generating_text_after_a_cancel_or_a_refusal(window: MainWindow) -> None:
    engine = window.engine
    engine.busy_changed.emit(True)
    engine.progress.emit(1, 4, 0.5)
    assert window.statusBar().currentMessage() == "Generating…"
    engine.cancelled.emit()
    engine.busy_changed.emit(False)
    assert "Generating" not in window.statusBar().currentMessage()
    assert window.generation.progress.text() == "Cancelled"

    # A refusal: the job ends before any finished/cancelled signal.
    engine.busy_changed.emit(True)
    engine.status.emit("Loading tiny.safetensors…")
    engine.progress.emit(1, 4, 0.5)
    engine.busy_changed.emit(False)
    assert window.statusBar().currentMessage() == ""


def test_demo_notice_goes_when_the_build_ends(window: MainWindow) -> None:
    monkey_calls: list[Path] = []
    window.engine.build_demo = monkey_calls.append  # type: ignore[method-assign]
    window._on_demo_requested()
    assert "Building the demo library" in window.notice.text()
    window.engine.busy_changed.emit(True)
    window.engine.status.emit("Building the demo library…")
    window.engine.busy_changed.emit(False)  # ended without demo_built (it failed)
    assert "Building the demo library" not in window.notice.text()
    assert "Building" not in window.statusBar().currentMessage()


def test_find_installs_status_clears_when_the_search_ends(window: MainWindow) -> None:
    library = window.library
    library.status.setText("Looking for existing installs…")
    library.installer.installs_searched.emit(0)
    assert "Looking for existing installs" not in library.status.text()
