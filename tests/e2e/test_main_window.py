"""End to end: the real MainWindow (same factory as main()), a temp data dir, the real engine on
the demo model. Pick the checkpoint, mix two LoRAs, generate, compare with plain diffusers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir

pytestmark = pytest.mark.slow
TIMEOUT = 120_000


def _plain_diffusers(model: Path, loras: list[tuple[Path, float]]) -> np.ndarray:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(model), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    for i, (path, _) in enumerate(loras):
        pipe.load_lora_weights(str(path), adapter_name=f"ref{i}")
    if loras:
        pipe.set_adapters([f"ref{i}" for i in range(len(loras))], adapter_weights=[w for _, w in loras])
    out = pipe(prompt="a lighthouse", negative_prompt="blurry", num_inference_steps=3, guidance_scale=6.5,
               width=64, height=64, generator=torch.Generator("cpu").manual_seed(1234))
    return np.asarray(out.images[0])


def _as_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return raw[:, : w * 3].reshape(h, w, 3).copy()


def _set_common(win, steps: int = 3) -> None:  # type: ignore[no-untyped-def]
    g = win.generation
    g.prompt.setPlainText("a lighthouse")
    g.negative.setPlainText("blurry")
    g.seed.setValue(1234)
    g.steps.setValue(steps)
    g.cfg.setValue(6.5)
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    g.sampler.setCurrentText("Euler")


def _generate(qtbot, win) -> np.ndarray:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(win.engine.finished, timeout=TIMEOUT):
        qtbot.mouseClick(win.generation.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.engine.busy, timeout=TIMEOUT)
    saved = win.last_result_paths[-1]
    assert saved.exists()
    assert saved.parent == win.data.outputs
    shown = win.image_view.image()
    assert shown is not None
    return _as_array(shown)


def test_mix_two_loras_in_the_window_equals_plain_diffusers(qtbot, window, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    pipeline = data.checkpoints / DEMO_PIPELINE
    ink, neon = data.loras / "demo-ink-wash.safetensors", data.loras / "demo-neon-glow.safetensors"
    window.generation.select_model(pipeline)
    assert window.generation.current_model() == pipeline
    _set_common(window)
    base = _generate(qtbot, window)
    assert np.array_equal(base, _plain_diffusers(pipeline, []))

    window.mixer.add_lora(ink)
    window.mixer.add_lora(neon)
    assert len(window.mixer.rows) == 2
    window.mixer.rows[0].weight.slider.setValue(80)  # 0.80
    window.mixer.rows[1].weight.spin.setValue(0.5)
    assert [s.weight for s in window.mix_state.mix.specs] == [0.8, 0.5]
    mixed = _generate(qtbot, window)
    assert np.array_equal(mixed, _plain_diffusers(pipeline, [(ink, 0.8), (neon, 0.5)]))

    # The saved PNG carries A1111 infotext with the LoRA hashes.
    from PIL import Image

    text = Image.open(window.last_result_paths[-1]).text["parameters"]
    assert "Steps: 3" in text
    assert "Seed: 1234" in text
    assert "Lora hashes:" in text

    # The engine runs in its own process; each result carries its load counters.
    stats = window.engine.last_result.stats
    loads = (stats["pipeline_loads"], stats["lora_loads"])
    assert loads == (1, 2)
    window.mixer.rows[0].weight.slider.setValue(0)
    window.mixer.rows[1].weight.slider.setValue(0)
    zero = _generate(qtbot, window)
    stats = window.engine.last_result.stats
    assert (stats["pipeline_loads"], stats["lora_loads"]) == loads  # nothing reloaded
    assert np.array_equal(zero, base)


def test_cancel_stops_within_a_step_and_the_next_job_runs(qtbot, window, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    window.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    _set_common(window, steps=40)
    steps_seen: list[int] = []

    def on_progress(step: int, total: int, elapsed: float) -> None:
        steps_seen.append(step)
        if step == 2:
            qtbot.keyClick(window, Qt.Key.Key_Escape)

    window.engine.progress.connect(on_progress)
    with qtbot.waitSignal(window.engine.cancelled, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    window.engine.progress.disconnect(on_progress)
    assert max(steps_seen) <= 3
    assert window.generation.generate_button.isEnabled()
    _set_common(window, steps=2)
    assert _generate(qtbot, window).shape == (64, 64, 3)


def test_bad_model_and_bad_lora_show_a_message_and_the_app_keeps_running(
        qtbot, window, data: DataDir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    _set_common(window, steps=2)
    fake = tmp_path / "not-a-lora.safetensors"
    shutil.copy(data.checkpoints / DEMO_PIPELINE / "vae" / "diffusion_pytorch_model.safetensors", fake)
    window.mixer.add_lora(fake)
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    assert "not-a-lora.safetensors" in window.notice.text()
    assert window.notice.level() == "error"

    broken = data.checkpoints / "broken-model"
    broken.mkdir()
    window.generation.model.addItem("broken", str(broken))
    window.generation.select_model(broken)
    window.mixer.rows[0].remove_button.click()
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        qtbot.mouseClick(window.generation.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)
    assert "not a diffusers pipeline" in window.notice.text()

    window.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    # Picking a model starts at its native size (the demo's sidecar says 128×128, 8 steps).
    assert (window.generation.width_box.value(), window.generation.height_box.value()) == (128, 128)
    assert window.generation.steps.value() == 8
    _set_common(window, steps=2)
    assert _generate(qtbot, window).shape == (64, 64, 3)
