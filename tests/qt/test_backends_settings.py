"""Settings ▸ Generation backends: add a ComfyUI server, test it, remove it (tokens stay out of
settings.json and backends.json)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_comfyui import FakeComfyUI

from lorastudio.core.backend.comfyui.config import LOCAL_NAME, load_backends, load_token
from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.settings import Settings
from lorastudio.qt.widgets.settings_dialog import SettingsDialog


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return data_dir(tmp_path / "data").ensure()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeComfyUI]:
    fake = FakeComfyUI(tmp_path / "server-out", checkpoints=("a.safetensors", "b.safetensors"),
                       loras=("style.safetensors",), token="s3cret")
    yield fake
    fake.close()


def _dialog(qtbot, data: DataDir) -> SettingsDialog:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(Settings(), "CPU, float32", data=data)
    qtbot.addWidget(dialog)
    return dialog


def _test_connection(qtbot, dialog: SettingsDialog) -> str:  # type: ignore[no-untyped-def]
    section = dialog.backends
    assert section is not None
    worker_done = lambda: section.test_button.isEnabled() and not section.result.text().startswith("Asking")  # noqa: E731
    qtbot.mouseClick(section.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(worker_done, timeout=20_000)
    if section._worker is not None:
        section._worker.wait()
    return section.result.text()


def test_add_a_server_and_test_the_connection(qtbot, data: DataDir, server: FakeComfyUI) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(qtbot, data)
    section = dialog.backends
    assert section is not None
    assert section.servers.item(0).text().startswith(LOCAL_NAME)  # this computer is always first
    assert not section.remove_button.isEnabled()

    section.name.setText("studio-pc")
    section.url.setText(server.url)
    section.token.setText("s3cret")
    qtbot.mouseClick(section.add_button, Qt.MouseButton.LeftButton)
    assert [e.name for e in load_backends(data)] == ["studio-pc"]
    assert section.servers.count() == 2
    assert section.servers.currentItem().text() == f"studio-pc — {server.url}"
    assert load_token(data, "studio-pc") == "s3cret"
    assert "s3cret" not in (data.root / "backends.json").read_text()
    assert section.token.text() == ""  # never shown again

    # The stored token is used: the stand-in refuses requests without it.
    line = _test_connection(qtbot, dialog)
    assert line.startswith("ComfyUI 0.8.0 on cuda:0 NVIDIA Fake 24GB"), line
    assert "24.0 GB VRAM" in line, line
    assert line.endswith("2 checkpoints, 1 LoRAs."), line

    dialog.accept()
    settings_text = data.settings_file.read_text() if data.settings_file.exists() else ""
    assert "s3cret" not in settings_text


def test_a_dead_address_says_so_in_one_sentence(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog = _dialog(qtbot, data)
    assert dialog.backends is not None
    dialog.backends.url.setText(f"http://127.0.0.1:{port}")
    line = _test_connection(qtbot, dialog)
    assert line.endswith("."), line
    assert line.count(". ") == 0, line  # one sentence, no library text
    assert "\n" not in line
    assert f"127.0.0.1:{port}" in line


def test_remove_a_server(qtbot, data: DataDir, server: FakeComfyUI) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(qtbot, data)
    section = dialog.backends
    assert section is not None
    section.name.setText("gpu")
    section.url.setText(server.url)
    qtbot.mouseClick(section.add_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(section.backends_changed):
        qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    assert load_backends(data) == ()
    assert section.servers.count() == 1


def test_a_bad_name_is_refused_with_a_sentence(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    dialog = _dialog(qtbot, data)
    section = dialog.backends
    assert section is not None
    section.name.setText(LOCAL_NAME)
    section.url.setText("http://127.0.0.1:8188")
    qtbot.mouseClick(section.add_button, Qt.MouseButton.LeftButton)
    assert "cannot be used as a backend name" in section.result.text()
    assert load_backends(data) == ()
