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
from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir, data_dir

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
