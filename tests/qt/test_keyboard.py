"""The window without a mouse (issue 16: "everything reachable without the mouse"): Ctrl+Enter
generates from the prompt, Esc cancels a running job, Tab walks the generation panel and the mixer
in reading order and never gets stuck, and every menu action shows its shortcut and a mnemonic."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.paths import DataDir
from lorastudio.qt.main_window import MainWindow


@pytest.fixture
def window(qtbot: Any, demo_data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    from lorastudio.app import create_main_window

    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)  # no engine process
    data = DataDir(tmp_path / "data").ensure()
    shutil.copytree(demo_data.models, data.models, dirs_exist_ok=True)
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        hash_pending(catalog)
    win = create_main_window(data)
    qtbot.addWidget(win)
    win.resize(1440, 900)
    win.show()
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=20_000)
    win.refresh_models()
    pipeline = next(p for p in data.checkpoints.iterdir() if p.is_dir())
    win.generation.select_model(pipeline)
    for path in sorted(data.loras.glob("demo-*.safetensors"))[:2]:
        win.add_lora(path)
    qtbot.wait(50)
    win.activateWindow()  # keys go to the focused widget of the active window
    qtbot.waitActive(win)
    yield win
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=20_000)
    win.shutdown()


def _focus(qtbot: Any, widget: QWidget) -> None:
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=2_000)


def _press(qtbot: Any, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    focused = QApplication.focusWidget()
    assert focused is not None
    qtbot.keyClick(focused, key, modifier)


def test_ctrl_enter_in_the_prompt_generates(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    queued: list[Any] = []
    monkeypatch.setattr(window.engine, "generate", queued.append)
    _focus(qtbot, window.generation.prompt)
    qtbot.keyClicks(window.generation.prompt, "a lighthouse")
    _press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    _press(qtbot, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier)
    assert [r.prompt for r in queued] == ["a lighthouse", "a lighthouse"]
    assert window.generation.prompt.toPlainText() == "a lighthouse"  # no newline typed into it


def test_ctrl_enter_on_the_text_tab_generates_text_not_an_image(
        qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    images: list[Any] = []
    texts: list[bool] = []
    monkeypatch.setattr(window.engine, "generate", images.append)
    button = window.text_page.generate_panel.generate_button
    button.clicked.connect(lambda: texts.append(True))
    window.tabs.setCurrentWidget(window.text_page)
    button.setEnabled(True)
    window.generate_action.trigger()
    assert texts == [True]
    assert images == []


def test_esc_cancels_only_while_a_job_runs(qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:
    cancels: list[object] = []
    monkeypatch.setattr(type(window.engine), "busy", property(lambda self: True))
    monkeypatch.setattr(window.engine, "cancel", lambda job_id=None: cancels.append(job_id))
    _focus(qtbot, window.generation.steps)
    _press(qtbot, Qt.Key.Key_Escape)
    assert cancels == []  # idle: Esc is not taken from the widgets
    window._on_engine_busy(True)
    _press(qtbot, Qt.Key.Key_Escape)
    assert cancels == [None]
    assert window.generation.progress.format() == "Cancelling…"
    window._on_engine_busy(False)


def _tab_walk(qtbot: Any, start: QWidget, steps: int) -> list[QWidget]:
    _focus(qtbot, start)
    seen = [start]
    for _ in range(steps):
        _press(qtbot, Qt.Key.Key_Tab)
        focused = QApplication.focusWidget()
        assert focused is not None
        seen.append(focused)
    return seen


def test_tab_walks_the_generation_panel_and_the_mixer_in_reading_order(qtbot: Any, window: MainWindow) -> None:
    g, mixer = window.generation, window.mixer
    walk = _tab_walk(qtbot, g.prompt, 40)
    expected = [g.prompt, g.negative, g.model, g.sampler, g.steps, g.cfg, g.seed, g.seed_random, g.seed_reuse,
                g.width_box, g.height_box, g.size_preset, g.more_button, g.generate_button]
    assert walk[:len(expected)] == expected  # the prompt lets Tab go: no tab character typed
    assert g.prompt.toPlainText() == ""
    row_controls = []
    for row in mixer.rows:
        row_controls += [row.enabled, row.blocks_button, row.details_button, row.remove_button,
                         row.weight.slider, row.weight.spin]
    positions = [walk.index(w) for w in row_controls]
    assert positions == sorted(positions), "the mixer rows are visited top to bottom, left to right"
    assert mixer.add_button in walk
    assert walk.index(mixer.add_button) < positions[0]


def test_tab_never_gets_stuck_and_comes_round(qtbot: Any, window: MainWindow) -> None:
    """A full round of Tab from the prompt: every widget it stops at hands focus on, the library,
    its details and the history are on the way, and it comes back to the prompt."""
    rec = next(r for r in window.library.model.records() if r.path.name.startswith("demo-ink"))
    window.library.select_path(str(rec.path))  # the details pane with its notes and metadata table
    qtbot.wait(50)
    walk = _tab_walk(qtbot, window.generation.prompt, 150)
    stuck = [w for a, w in pairwise(walk) if a is w]
    assert stuck == [], f"Tab stayed on {type(stuck[0]).__name__}" if stuck else ""
    back = walk.index(window.generation.prompt, 1)
    visited = walk[:back]
    for panel in (window.library, window.library.details, window.history, window.mixer):
        assert any(panel.isAncestorOf(w) for w in visited), f"Tab never reaches the {type(panel).__name__}"
    assert window.library.toolbar.search in visited


def test_every_menu_action_has_a_mnemonic_and_the_main_ones_a_shortcut(window: MainWindow) -> None:
    actions = {}
    for menu_action in window.menuBar().actions():
        assert "&" in menu_action.text(), menu_action.text()
        for act in menu_action.menu().actions():
            if not act.isSeparator():
                assert "&" in act.text(), f"{act.text()} has no Alt+letter"
                actions[act.text().replace("&", "")] = act.shortcut().toString()
    assert actions["Generate"] == "Ctrl+Return"
    assert actions["Cancel"] == "Esc"
    assert actions["Add LoRA…"] == "Ctrl+L"
    assert actions["Search the library"] == "Ctrl+F"
    assert actions["Go to the prompt"] == "Ctrl+P"
    assert [actions[f"{i + 1} {window.tabs.tabText(i)}"] for i in range(window.tabs.count())] == [
        f"Ctrl+{i + 1}" for i in range(window.tabs.count())]


def test_shortcuts_move_focus_and_switch_tabs(qtbot: Any, window: MainWindow) -> None:
    _focus(qtbot, window.generation.steps)
    _press(qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is window.library.toolbar.search
    _press(qtbot, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 2
    _press(qtbot, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == 0
    assert QApplication.focusWidget() is window.generation.prompt
