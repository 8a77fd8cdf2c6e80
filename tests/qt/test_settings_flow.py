"""The reproduced bug: add a library folder, then OK in File ▸ Settings — the folder must stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.paths import DataDir
from lorastudio.core.settings import load_settings
from lorastudio.qt.widgets.library_sources import add_external_roots
from lorastudio.qt.widgets.settings_dialog import SettingsDialog

TIMEOUT = 60_000


@pytest.fixture
def window(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    from lorastudio.app import create_main_window

    win = create_main_window(DataDir(tmp_path / "data"))
    win._on_warm_up_timer = lambda: None  # no engine process needed here
    qtbot.addWidget(win)
    yield win
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.shutdown()


def test_folder_added_then_settings_ok_keeps_the_folder(window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "my-loras"
    folder.mkdir()
    add_external_roots(window.data, [folder])  # what "Add models folder…" does
    monkeypatch.setattr(SettingsDialog, "exec", lambda self: (self.theme.setCurrentIndex(1), True)[1])
    window._on_settings()  # File ▸ Settings, change the theme, OK
    saved = load_settings(window.data.settings_file)
    assert saved.external_roots == (str(folder),)
    assert saved.theme == "light"
    assert window.settings.theme == "light"
