"""Settings ▸ Engine runtime: each state reads right; Verify lists problems; Remove asks first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from runtime_fakes import FakeRuntime

from lorastudio.core.paths import data_dir
from lorastudio.core.runtime import VerifyReport
from lorastudio.core.settings import Settings, SettingsStore
from lorastudio.qt.widgets.runtime_section import RuntimeSection
from lorastudio.qt.widgets.settings_dialog import SettingsDialog


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.json")


def _section(qtbot, runtime: FakeRuntime, store: SettingsStore) -> RuntimeSection:  # type: ignore[no-untyped-def]
    section = RuntimeSection(runtime, store)  # type: ignore[arg-type]
    qtbot.addWidget(section)
    section.show()
    return section


def _wait_idle(qtbot, section: RuntimeSection) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not section._busy, timeout=10_000)
    assert section._worker is not None
    section._worker.wait()


def test_this_environment_has_nothing_to_manage(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    section = _section(qtbot, FakeRuntime(tmp_path, kind="this-environment"), store)
    assert "has PyTorch (torch 2.13.0)" in section.summary.text()
    assert "no separate runtime" in section.summary.text()
    assert not any(b.isVisible() for b in (section.verify_button, section.install_button, section.remove_button))


def test_installed_shows_build_version_and_place(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(tmp_path / "runtime", kind="installed", target_key="cu130")
    section = _section(qtbot, runtime, store)
    text = section.summary.text()
    assert text.startswith("Installed: the NVIDIA GPU (CUDA 13.0) build")
    assert "torch 2.13.0" in text
    assert str(tmp_path / "runtime" / "venv") in text
    assert section.verify_button.isEnabled()
    assert section.remove_button.isEnabled()
    assert section.install_button.text() == "Reinstall / switch build…"


def test_missing_says_what_works_without_it(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    section = _section(qtbot, FakeRuntime(tmp_path), store)
    assert section.summary.text().startswith("Not installed")
    assert "downloads work without it" in section.summary.text()
    assert section.install_button.text() == "Install…"
    assert section.install_button.isEnabled()
    assert not section.verify_button.isEnabled()
    assert not section.remove_button.isEnabled()


def test_broken_shows_its_sentence_and_verify_lists_problems(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(tmp_path, kind="broken", target_key="cpu")
    runtime.report = VerifyReport(ok=False, device="", problems=(
        "torch is missing from the engine runtime.", "peft does not import (No module named 'peft')."))
    section = _section(qtbot, runtime, store)
    assert section.summary.text() == "Needs a repair: torch is missing from the engine runtime."
    qtbot.mouseClick(section.verify_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, section)
    lines = section.result.text().splitlines()
    assert lines[0].startswith("Problems found")
    assert lines[1:] == ["• torch is missing from the engine runtime.",
                         "• peft does not import (No module named 'peft')."]


def test_verify_ok_names_the_device(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(tmp_path, kind="installed", target_key="cpu")
    runtime.report = VerifyReport(ok=True, problems=(), device="cpu (float32)")
    section = _section(qtbot, runtime, store)
    qtbot.mouseClick(section.verify_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, section)
    assert section.result.text() == "Verified: PyTorch and the engine import, and it runs on cpu (float32)."


def test_closing_settings_during_verify_stops_the_check(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    """Settings closed while Verify runs: the check is cancelled and the window goes on at once
    (it used to wait for Verify's 10-30 s)."""
    import time

    runtime = FakeRuntime(tmp_path, kind="installed", target_key="cpu")
    runtime.verify_waits = True
    section = _section(qtbot, runtime, store)
    qtbot.mouseClick(section.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: section._busy, timeout=5_000)
    started = time.monotonic()
    section.shutdown()
    assert time.monotonic() - started < 5
    assert section._worker is not None
    assert not section._worker.running


def test_remove_asks_first(qtbot, tmp_path, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(tmp_path, kind="installed", target_key="cpu")
    section = _section(qtbot, runtime, store)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    assert runtime.removed == 0
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(section.runtime_changed, timeout=10_000):
        qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    _wait_idle(qtbot, section)
    assert runtime.removed == 1
    assert section.summary.text().startswith("Not installed")
    assert section.result.text().startswith("Removed.")


def test_settings_dialog_holds_the_section(qtbot, tmp_path, store) -> None:  # type: ignore[no-untyped-def]
    runtime = FakeRuntime(tmp_path, kind="installed", target_key="cpu")
    dialog = SettingsDialog(Settings(), "CPU, float32", data=data_dir(tmp_path / "data").ensure(),
                            runtime=runtime, store=store)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    assert dialog.runtime_section is not None
    assert dialog.runtime_section.summary.text().startswith("Installed")
