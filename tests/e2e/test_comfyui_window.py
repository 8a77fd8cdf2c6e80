"""End to end through the real MainWindow with a ComfyUI server (the protocol-faithful stand-in on
127.0.0.1) as the backend: pick it in the generation panel, Generate, and the image lands in the
history with our infotext while the server's progress events move the progress bar; a LoRA the
server lacks is refused with one sentence naming it."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from fake_comfyui import FakeComfyUI

from lorastudio.app import create_main_window
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.config import LOCAL_NAME, add_backend
from lorastudio.core.backend.comfyui.upload import format_size
from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir, data_dir
from lorastudio.qt.widgets.lora_picker import LoraPickerDialog

pytestmark = pytest.mark.slow
TIMEOUT = 60_000
INK = "demo-ink-wash.safetensors"
NEON = "demo-neon-glow.safetensors"


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeComfyUI]:
    # The server's own copies: the demo pipeline as a single file, one of the demo LoRAs.
    fake = FakeComfyUI(tmp_path / "server-out", checkpoints=(f"{DEMO_PIPELINE}.safetensors",),
                       loras=(f"sd15/{INK}",), step_delay=0.02)
    yield fake
    fake.close()


@pytest.fixture
def data(demo_data: DataDir, tmp_path: Path, server: FakeComfyUI) -> DataDir:
    shutil.copytree(demo_data.models, tmp_path / "models")
    data = data_dir(tmp_path).ensure()
    add_backend(data, "fake-gpu", server.url)
    return data


@pytest.fixture
def window(qtbot, data: DataDir):  # type: ignore[no-untyped-def]
    win = create_main_window(data)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.generation.model.count() > 0, timeout=TIMEOUT)
    yield win
    win.shutdown()


def _choose(win, name: str) -> None:  # type: ignore[no-untyped-def]
    combo = win.generation.backend
    index = combo.findText(name)
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def _set_common(win) -> None:  # type: ignore[no-untyped-def]
    g = win.generation
    g.select_model(win.data.checkpoints / DEMO_PIPELINE)
    g.prompt.setPlainText("a lighthouse")
    g.seed.setValue(1234)
    g.steps.setValue(4)
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    g.sampler.setCurrentText("Euler")


def test_generate_on_a_comfyui_server_from_the_window(qtbot, window, data: DataDir, server: FakeComfyUI) -> None:  # type: ignore[no-untyped-def]
    combo = window.generation.backend
    assert [combo.itemText(i) for i in range(combo.count())] == [LOCAL_NAME, "fake-gpu", "Any free backend"]
    _choose(window, "fake-gpu")
    assert isinstance(window.engine.current_backend, ComfyUIBackend)
    assert window.settings.extra["backend"] == "fake-gpu"  # kept for the next start

    _set_common(window)
    window.mixer.add_lora(data.loras / INK)
    window.mixer.rows[0].weight.spin.setValue(0.7)
    bar_values: list[int] = []
    window.generation.progress.valueChanged.connect(bar_values.append)
    with qtbot.waitSignal(window.engine.finished, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)

    assert len(server.prompts) == 1  # it ran on the server, not here
    graph = server.prompts[0]["prompt"]
    lora_nodes = [n for n in graph.values() if n["class_type"] == "LoraLoader"]
    assert [n["inputs"]["lora_name"] for n in lora_nodes] == [f"sd15/{INK}"]
    assert lora_nodes[0]["inputs"]["strength_model"] == pytest.approx(0.7)

    saved = window.last_result_paths[-1]
    assert saved.parent == data.outputs
    assert saved.exists()
    assert saved.resolve() in [e.path for e in window.history.model.entries()]  # in the history
    text = Image.open(saved).text["parameters"]
    assert text.startswith("a lighthouse")
    for part in ("Steps: 4", "Seed: 1234", "Size: 64x64", "Lora hashes:", "demo-ink-wash"):
        assert part in text, text
    assert any(0 < v < 4 for v in bar_values), bar_values  # the server's progress events moved the bar
    assert window.generation.progress.format().startswith("Done")


def test_the_status_bar_and_pickers_follow_the_chosen_server(qtbot, window, data: DataDir, server: FakeComfyUI,  # type: ignore[no-untyped-def]
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    local_text = window.device_label.text()
    window.mixer.add_lora(data.loras / INK)
    window.mixer.add_lora(data.loras / NEON)
    _choose(window, "fake-gpu")
    qtbot.waitUntil(lambda: window.device_label.text() == "fake-gpu — NVIDIA Fake 24GB, 24 GB", timeout=TIMEOUT)
    assert window.device_label.toolTip().endswith("\nfake-gpu: NVIDIA Fake 24GB, 24 GB")
    ink, neon = window.mixer.rows
    assert ink.remote_mark.isHidden()  # the server has it (in a subfolder)
    assert not neon.remote_mark.isHidden()
    assert neon.remote_mark.toolTip() == "Not on fake-gpu"
    combo = window.generation.model
    index = combo.findData(str(data.checkpoints / DEMO_PIPELINE))
    assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) is None  # the server has the checkpoint

    # The LoRA picker marks the same file.
    shown: list[LoraPickerDialog] = []
    monkeypatch.setattr(LoraPickerDialog, "exec", lambda self: shown.append(self) or 0)
    window.mixer.add_button.click()
    items = {shown[0].list.item(i).data(Qt.ItemDataRole.UserRole): shown[0].list.item(i)
             for i in range(shown[0].list.count())}
    assert items[str(data.loras / NEON)].text().endswith("— not on fake-gpu")
    assert "not on" not in items[str(data.loras / INK)].text()

    # The server's files are asked again (here: after it lost the checkpoint).
    server.checkpoints = ["something-else.safetensors"]
    window.backend_info.refresh()
    qtbot.waitUntil(lambda: combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == "Not on fake-gpu", timeout=TIMEOUT)
    assert not combo.itemIcon(index).isNull()

    _choose(window, LOCAL_NAME)
    assert window.device_label.text() == local_text or window.device_label.text().startswith(("Device:", "Engine:"))
    assert neon.remote_mark.isHidden() or neon not in window.mixer.rows
    assert all(row.remote_mark.isHidden() for row in window.mixer.rows)
    assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) is None


def test_a_lora_the_server_lacks_is_refused_with_its_name(qtbot, window, data: DataDir, server: FakeComfyUI) -> None:  # type: ignore[no-untyped-def]
    _choose(window, "fake-gpu")
    _set_common(window)
    window.mixer.add_lora(data.loras / NEON)
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    assert server.prompts == []  # refused before anything was sent
    text = window.notice.text()
    assert NEON in text, text
    assert "fake-gpu" in text, text
    assert text.count(". ") == 0, text  # one sentence

    # Back to this computer: the picker switches the next job's backend.
    _choose(window, LOCAL_NAME)
    assert window.engine.current_backend is window.backend


def test_a_server_with_the_upload_route_is_offered_the_missing_lora(qtbot, window, data: DataDir,  # type: ignore[no-untyped-def]
                                                                   server: FakeComfyUI) -> None:
    server.upload = True  # comfyui-tooling-nodes is installed there
    _choose(window, "fake-gpu")
    qtbot.waitUntil(lambda: window.device_label.text().startswith("fake-gpu — NVIDIA"), timeout=TIMEOUT)
    _set_common(window)
    window.mixer.add_lora(data.loras / NEON)
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    assert server.prompts == []
    qtbot.waitUntil(lambda: window.upload_offer.box is not None, timeout=TIMEOUT)
    size = format_size((data.loras / NEON).stat().st_size)
    assert window.upload_offer.upload_button.text() == f"Upload 1 file ({size})"
    assert NEON in window.upload_offer.box.text()

    with qtbot.waitSignal(window.engine.finished, timeout=TIMEOUT):
        window.upload_offer.upload_button.click()
    assert server.uploads[f"loras/{NEON}"] == (data.loras / NEON).read_bytes()
    graph = server.prompts[-1]["prompt"]
    assert [n["inputs"]["lora_name"] for n in graph.values() if n["class_type"] == "LoraLoader"] == [NEON]
    assert "Sent 1 file to fake-gpu" in window.notice.text()
    qtbot.waitUntil(lambda: window.mixer.rows[0].remote_mark.isHidden(), timeout=TIMEOUT)  # the mark went too


def test_any_free_backend_runs_queued_jobs_at_once_and_keeps_the_history_in_order(  # type: ignore[no-untyped-def]
        qtbot, window, data: DataDir, server: FakeComfyUI, tmp_path: Path) -> None:
    second = FakeComfyUI(tmp_path / "second-out", checkpoints=(f"{DEMO_PIPELINE}.safetensors",), step_delay=0.02)
    try:
        add_backend(data, "fake-gpu-2", second.url)
        window._refresh_backends()
        _choose(window, "Any free backend")
        qtbot.waitUntil(lambda: window.device_label.text() == "Any free backend — 2 servers", timeout=TIMEOUT)
        _set_common(window)
        finished: list[list[Path]] = []
        window.engine.finished.connect(lambda result, paths: finished.append(list(paths)))
        seeds = (11, 22, 33)
        for seed in seeds:  # the first goes to this computer (starting its engine), the others to the servers
            window.generation.seed.setValue(seed)
            qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(finished) == 3, timeout=3 * TIMEOUT)
        assert len(server.executed) + len(second.executed) == 2  # the servers ran two, at once with this computer
        # The servers finish long before this computer's engine, yet the history keeps the queue's order.
        assert [paths[0].name for paths in finished] == ["00001-11.png", "00002-22.png", "00003-33.png"]
        assert window.history.model.entries()[0].path.name == "00003-33.png"  # newest first, as queued
        qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    finally:
        second.close()
