"""A <lora:...> tag typed into the prompt adds its row while typing, not only at Generate
(issue 16, item 10)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import Settings

TIMEOUT = 20_000


@pytest.fixture
def window(qtbot, demo_data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from lorastudio.qt.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)  # no engine process needed
    data = DataDir(tmp_path / "data").ensure()
    shutil.copytree(demo_data.models, data.models, dirs_exist_ok=True)
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        hash_pending(catalog)
    win = MainWindow(data, Settings())
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    yield win
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.shutdown()


def test_typed_tag_adds_a_row_before_generate(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    prompt = window.generation.prompt
    prompt.setFocus()
    qtbot.keyClicks(prompt, "a lighthouse <lora:Ink Wa")
    qtbot.wait(400)
    assert window.mixer.rows == []  # a half-typed tag is no tag
    qtbot.keyClicks(prompt, "sh:0.8>")
    qtbot.waitUntil(lambda: len(window.mixer.rows) == 1, timeout=2_000)
    assert window.mixer.rows[0].weight.spin.value() == pytest.approx(0.8)
    assert prompt.toPlainText() == "a lighthouse <lora:Ink Wash:0.8>"  # the text stays as typed

    # Editing the tag's weight updates the same row.
    prompt.setPlainText("a lighthouse <lora:Ink Wash:0.5>")
    qtbot.waitUntil(lambda: window.mixer.rows[0].weight.spin.value() == pytest.approx(0.5), timeout=2_000)
    assert len(window.mixer.rows) == 1

    # A slider moved afterwards is not reset by typing more words.
    window.mixer.rows[0].weight.spin.setValue(0.3)
    qtbot.keyClicks(prompt, ", dusk")
    qtbot.wait(400)
    assert window.mixer.rows[0].weight.spin.value() == pytest.approx(0.3)
