"""End to end: install a LoRA from the (fake, 127.0.0.1) Hugging Face Hub through the real main
window, then find it in the library, add it to the mix and generate with it on the demo model."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from fake_hub import FakeRepo, png_bytes, start_fake_hub

from lorastudio.app import create_main_window
from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.types import ModelKind

pytestmark = pytest.mark.slow
TIMEOUT = 60_000
REPO = "inkfolk/ink-wash-sd15-lora"
FILE = "ink_wash_v1.safetensors"
CARD = """---
license: creativeml-openrail-m
base_model: stable-diffusion-v1-5/stable-diffusion-v1-5
tags: [lora, text-to-image]
---
# Ink Wash

Soft sumi-e brush strokes. Trigger word: `inkwash style`.
"""


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_data: DataDir):  # type: ignore[no-untyped-def]
    """The fake hub serving one repo with a real SD1 LoRA (fits the demo pipeline), its card and a preview."""
    import huggingface_hub.constants as hub_constants

    from lorastudio.core.hub import tokens

    lora = (demo_data.loras / "demo-ink-wash.safetensors").read_bytes()
    sd1 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    server = start_fake_hub([FakeRepo(
        REPO, {FILE: lora, "README.md": CARD.encode(), "preview.png": png_bytes(64, 64)},
        lfs={FILE, "preview.png"}, commit="7" * 40, library="diffusers",
        tags=["diffusers", "lora", "text-to-image", "license:creativeml-openrail-m", f"base_model:{sd1}",
              f"base_model:adapter:{sd1}"],
        downloads=4321, likes=87, card_data={"license": "creativeml-openrail-m", "base_model": sd1})])
    # The hub code reads these at call time (core.hub.connection), so the app talks to 127.0.0.1.
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)
    monkeypatch.setattr(tokens, "_keyring_usable", lambda: False)
    yield server
    server.stop()


@pytest.fixture
def data(demo_data: DataDir, tmp_path: Path) -> DataDir:
    """A fresh library holding the demo pipeline only: no LoRAs yet."""
    target = data_dir(tmp_path / "data").ensure()
    shutil.copytree(demo_data.checkpoints / DEMO_PIPELINE, target.checkpoints / DEMO_PIPELINE)
    sidecar = demo_data.checkpoints / f"{DEMO_PIPELINE}.json"
    if sidecar.exists():
        shutil.copy(sidecar, target.checkpoints / sidecar.name)
    return target


@pytest.fixture
def window(qtbot, data: DataDir, hub):  # type: ignore[no-untyped-def]
    win = create_main_window(data)
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    qtbot.waitUntil(lambda: win.generation.model.count() > 0, timeout=TIMEOUT)
    yield win
    win.shutdown()


def _search_and_open(qtbot, win, text: str) -> None:  # type: ignore[no-untyped-def]
    """Type in the search box, press Enter, click the one result."""
    page = win.hub_page
    with qtbot.waitSignal(page._client.answered, timeout=TIMEOUT):
        qtbot.keyClicks(page.search_edit, text)
        qtbot.keyClick(page.search_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=10_000)
    assert page.results.summary(0).repo_id == REPO
    with qtbot.waitSignal(page._client.answered, timeout=TIMEOUT):
        page.table.selectRow(0)
    qtbot.waitUntil(lambda: page.model_view.page is not None, timeout=10_000)


def test_install_from_the_hub_then_mix_and_generate(qtbot, window, data: DataDir, hub) -> None:  # type: ignore[no-untyped-def]
    assert not list(data.loras.glob("*.safetensors"))
    window.tabs.setCurrentWidget(window.hub_page)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "Hugging Face"
    page = window.hub_page
    _search_and_open(qtbot, window, "ink-wash")

    view = page.model_view
    assert "Ink Wash" in view.card.toPlainText()
    assert view.selected_files() == (FILE,)
    assert "into LoRAs" in view.install_note.text()
    assert not view.preview.pixmap().isNull()

    with qtbot.waitSignal(page.installed, timeout=TIMEOUT) as blocker:
        qtbot.mouseClick(view.install_button, Qt.MouseButton.LeftButton)
    installed = data.loras / FILE
    assert blocker.args == [str(installed)]
    qtbot.waitUntil(lambda: not page.downloads.is_busy(), timeout=10_000)

    # On disk: the weights (byte for byte), the source sidecar and the repo's preview image.
    assert installed.read_bytes() == hub.repos[REPO].files[FILE]
    source = json.loads(installed.with_name(FILE + ".hf.json").read_text("utf-8"))
    assert (source["repo_id"], source["commit"], source["filename"]) == (REPO, "7" * 40, FILE)
    previews = list(data.loras.glob(f"{installed.stem}.preview.*"))
    assert len(previews) == 1
    assert not list(data.loras.glob("*.incomplete"))
    assert not list(data.downloads.glob("**/*.safetensors"))
    assert "Installed" in window.notice.text()
    assert FILE in window.notice.text()

    # In the library panel (the window rescans on `installed`), with its hub source and thumbnail.
    def listed() -> bool:
        return window.library.model.record_for(str(installed)) is not None

    if not listed():
        with qtbot.waitSignal(window.library.scan_finished, timeout=TIMEOUT):
            pass
    qtbot.waitUntil(lambda: listed() and not window.library.is_scanning(), timeout=TIMEOUT)
    info = window.library.record(str(installed))
    assert info is not None
    assert info.kind is ModelKind.LORA
    assert info.hub.get("repo_id") == REPO
    assert info.preview is not None
    assert info.preview.name == previews[0].name

    # Into the mix, and a generation on the demo pipeline with it finishes.
    window.tabs.setCurrentIndex(0)
    window.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    window.add_lora(installed)
    assert [s.path for s in window.mix_state.mix.specs] == [installed]
    g = window.generation
    g.prompt.setPlainText("a lighthouse, inkwash style")
    g.seed.setValue(7)
    g.steps.setValue(2)
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    with qtbot.waitSignal(window.engine.finished, timeout=TIMEOUT):
        qtbot.mouseClick(g.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    saved = window.last_result_paths[-1]
    assert saved.is_file()
    assert saved.parent == data.outputs
    from PIL import Image

    assert "Lora hashes:" in Image.open(saved).text["parameters"]

    # Installing it again downloads nothing and says it is already there.
    window.tabs.setCurrentWidget(page)
    gets = len(hub.requests("GET", FILE))
    qtbot.mouseClick(view.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "already in your library" in window.notice.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not page.downloads.is_busy(), timeout=10_000)
    assert len(hub.requests("GET", FILE)) == gets
    assert sorted(p.name for p in data.loras.glob("*.safetensors")) == [FILE]
