"""Library sources: existing installs offered on first run / on demand, rescan on focus and on
folder changes, and the "Fits checkpoint" badges and filter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import checkpoint, kohya_sd15, kohya_sdxl, write
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import load_settings
from lorastudio.qt.models.library_model import COMPAT_ROLE, LibraryQuery
from lorastudio.qt.widgets.library_panel import OFFERED_INSTALLS_KEY, LibraryPanel


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with an A1111 install (a checkpoint folder and a LoRA folder) and an HF cache repo."""
    home = tmp_path / "home"
    webui = home / "stable-diffusion-webui" / "models"
    write(webui / "Lora" / "a1111_style.safetensors", kohya_sd15(rank=2))
    write(webui / "Stable-diffusion" / "a1111_base.safetensors", checkpoint("sd1"))
    cache = tmp_path / "hf-cache"
    repo = cache / "models--someone--xl-lora"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    write(repo / "snapshots" / "abc123" / "pytorch_lora_weights.safetensors", kohya_sdxl(rank=2))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return home


def _wait_idle(qtbot, panel: LibraryPanel) -> None:
    qtbot.waitUntil(
        lambda: not panel.is_scanning() and not panel.installer.is_searching() and not panel.watch_timer.isActive(),
        timeout=20000,
    )


def test_first_run_offers_existing_installs_used_in_place(qtbot, tmp_path: Path, fake_home: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    panel = LibraryPanel(data, installs_home=fake_home)  # auto_scan: the real start-up path
    qtbot.addWidget(panel)
    try:
        qtbot.waitUntil(lambda: panel.installer.installs_dialog is not None, timeout=10000)
        dialog = panel.installer.installs_dialog
        assert dialog is not None
        rows = [dialog.list.item(i).text().splitlines()[0] for i in range(dialog.list.count())]
        assert rows == [
            "AUTOMATIC1111: models/Stable-diffusion",
            "AUTOMATIC1111: models/Lora",
            "HF: someone/xl-lora",
        ]
        dialog.list.item(0).setCheckState(Qt.CheckState.Unchecked)  # keep the checkpoints out
        messages: list[tuple[str, str]] = []
        panel.message.connect(lambda level, text: messages.append((level, text)))
        dialog.accept()
        lora_dir = fake_home / "stable-diffusion-webui" / "models" / "Lora"
        settings = load_settings(data.settings_file)
        assert settings.external_roots[0] == str(lora_dir)
        assert len(settings.external_roots) == 2
        assert settings.extra[OFFERED_INSTALLS_KEY] is True
        assert messages == [("info", "Added 2 folders to the library; they are used where they are.")]
        qtbot.waitUntil(lambda: panel.record(str(lora_dir / "a1111_style.safetensors")) is not None, timeout=20000)
        _wait_idle(qtbot, panel)
        assert list(data.loras.iterdir()) == []  # used in place, nothing copied
        assert panel.record(str(lora_dir.parent / "Stable-diffusion" / "a1111_base.safetensors")) is None
    finally:
        panel.shutdown()
    again = LibraryPanel(data, installs_home=fake_home)  # second start: no offer
    qtbot.addWidget(again)
    try:
        with qtbot.waitSignal(again.scan_finished, timeout=20000):
            pass
        _wait_idle(qtbot, again)
        assert again.installer.installs_dialog is None
    finally:
        again.shutdown()


def test_find_existing_installs_button(qtbot, tmp_path: Path, fake_home: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    panel = LibraryPanel(data, auto_scan=False, installs_home=fake_home)
    qtbot.addWidget(panel)
    try:
        assert panel.installer.installs_dialog is None  # no first-run offer without auto_scan
        qtbot.mouseClick(panel.empty_find, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.installer.installs_dialog is not None, timeout=10000)
        panel.installer.installs_dialog.accept()
        _wait_idle(qtbot, panel)
        assert len(load_settings(data.settings_file).external_roots) == 3
        messages: list[tuple[str, str]] = []
        panel.message.connect(lambda level, text: messages.append((level, text)))
        with qtbot.waitSignal(panel.installer.installs_searched, timeout=10000) as blocker:
            panel.find_installs_action.trigger()  # everything is a source already
        assert blocker.args == [0]
        assert panel.installer.installs_dialog is None
        assert messages[0][1].startswith("No new installs found")
    finally:
        panel.shutdown()


@pytest.fixture
def scanned(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data").ensure()
    write(data.loras / "sd15.safetensors", kohya_sd15())
    write(data.loras / "xl.safetensors", kohya_sdxl())
    write(data.checkpoints / "base.safetensors", checkpoint("sd1"))
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    return data


def test_rescan_on_focus_is_throttled(qtbot, scanned: DataDir) -> None:
    now = [1000.0]
    panel = LibraryPanel(scanned, auto_scan=False, clock=lambda: now[0])
    qtbot.addWidget(panel)
    app = QApplication.instance()
    try:
        app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
        assert not panel.is_scanning()  # just started: no rescan
        now[0] += 11
        app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationInactive)
        assert not panel.is_scanning()  # only coming back to the front counts
        with qtbot.waitSignal(panel.scan_finished, timeout=20000):
            app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
            assert panel.is_scanning()
        now[0] += 5
        app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
        assert not panel.is_scanning()  # 5 s after the last one
        now[0] += 6
        with qtbot.waitSignal(panel.scan_finished, timeout=20000):
            app.applicationStateChanged.emit(Qt.ApplicationState.ApplicationActive)
        _wait_idle(qtbot, panel)
    finally:
        panel.shutdown()


def test_new_file_in_a_watched_folder_is_picked_up(qtbot, scanned: DataDir) -> None:
    panel = LibraryPanel(scanned, auto_scan=False, watch_folders=True)
    qtbot.addWidget(panel)
    try:
        assert str(scanned.loras) in panel.watched_folders()
        panel.watch_timer.setInterval(10)  # the real debounce is 1.5 s
        new = write(scanned.loras / "arrived.safetensors", kohya_sd15(rank=2, text_encoder=False))
        qtbot.waitUntil(lambda: panel.record(str(new)) is not None, timeout=20000)
        _wait_idle(qtbot, panel)
    finally:
        panel.shutdown()


def _badges(panel: LibraryPanel) -> dict[str, str]:
    return {
        panel.model.index(r, 0).data(): panel.model.index(r, 0).data(COMPAT_ROLE) for r in range(panel.model.rowCount())
    }


def test_no_checkpoint_means_no_badges_and_no_filter(qtbot, scanned: DataDir) -> None:
    panel = LibraryPanel(scanned, auto_scan=False)
    qtbot.addWidget(panel)
    try:
        assert set(_badges(panel).values()) == {""}
        assert not panel.compatible_only.isEnabled()
        panel.select_path(str(scanned.loras / "xl.safetensors"))
        panel.set_current_base("sd1")
        assert _badges(panel) == {"base": "", "sd15": "ok", "xl": "mismatch"}  # checkpoints get none
        assert panel.selected_path() == str(scanned.loras / "xl.safetensors")  # badges do not reset the view
        assert "another base" in panel.details.compat.text()
        panel.compatible_only.setChecked(True)
        assert sorted(_badges(panel)) == ["base", "sd15"]
        assert "1 hidden because they do not fit" in panel.status.text()
        panel.set_current_base("")  # the checkpoint was removed
        assert set(_badges(panel).values()) == {""}
        assert not panel.compatible_only.isChecked()
        assert not panel.compatible_only.isEnabled()
        assert sorted(_badges(panel)) == ["base", "sd15", "xl"]  # nothing stays hidden
        assert "hidden" not in panel.status.text()
        assert panel.details.compat.text() == ""
        assert panel.model.query() == LibraryQuery()
    finally:
        panel.shutdown()
