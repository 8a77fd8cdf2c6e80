"""End to end through the real MainWindow (its public flow only): a LoHa + LoKr + LDM-named LoRA
mix on a tiny SD 1.5-structured model equals the weights patched by hand from each format's
definition (tests/helpers/adapter_files.py)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from lorastudio.app import create_main_window
from lorastudio.core.paths import DataDir, data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
import adapter_files as af

pytestmark = pytest.mark.slow
TIMEOUT = 180_000


def _as_array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())
    return raw[:, : w * 3].reshape(h, w, 3).copy()


@pytest.fixture
def data(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = data_dir(tmp_path / "home").ensure()
    built = af.build_sd15_like(tmp_path_factory.mktemp("e2e-sd15") / "tiny-sd15")
    shutil.copytree(built, data.checkpoints / built.name)
    shutil.copy(built.with_name(built.name + ".json"), data.checkpoints / (built.name + ".json"))
    return data


def test_loha_lokr_and_ldm_lora_mix_in_the_window_equals_hand_patched_weights(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    model = data.checkpoints / "tiny-sd15"
    plain = af.load_plain(model)
    loha = af.write_loha(plain, data.loras / "e2e-loha.safetensors", seed=71)
    lokr = af.write_lokr(plain, data.loras / "e2e-lokr.safetensors", seed=72)
    ldm = af.write_kohya(plain, data.loras / "e2e-ldm.safetensors", ldm=True, resnets=True, seed=73)

    win = create_main_window(data)
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.generation.model.count() > 0, timeout=TIMEOUT)
        win.generation.select_model(model)
        g = win.generation
        g.prompt.setPlainText(af.PROMPT)
        g.negative.setPlainText(af.NEGATIVE)
        g.seed.setValue(af.SEED)
        g.steps.setValue(af.STEPS)
        g.cfg.setValue(af.CFG)
        g.width_box.setValue(af.SIZE)
        g.height_box.setValue(af.SIZE)
        g.sampler.setCurrentText("Euler")
        for adapter in (loha, lokr, ldm):
            win.mixer.add_lora(adapter.path)
        weights = (0.7, -0.6, 0.5)
        for row, w in zip(win.mixer.rows, weights, strict=True):
            row.weight.spin.setValue(w)
        assert [s.weight for s in win.mix_state.mix.specs] == list(weights)
        with qtbot.waitSignal(win.engine.finished, timeout=TIMEOUT):
            qtbot.mouseClick(g.generate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not win.engine.busy, timeout=TIMEOUT)
        shown = win.image_view.image()
        assert shown is not None
        ours = _as_array(shown)
    finally:
        win.shutdown()
    expected = af.expected_image(model, [(loha, 0.7), (lokr, -0.6), (ldm, 0.5)])
    base = af.render(plain)
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 2
    assert np.abs(expected.astype(int) - base.astype(int)).mean() > 1.0
