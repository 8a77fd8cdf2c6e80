"""A new generation starts at the model's native size and suggested steps (issue 16, item 7)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from lorastudio.cli import main
from lorastudio.core.engine.demo import DEMO_SIZE, DEMO_STEPS
from lorastudio.core.metadata.infotext import read_png_text
from lorastudio.core.metadata.model_defaults import ModelDefaults, model_defaults
from lorastudio.core.types import BaseArch


def _configs_only(pipeline: Path, dest: Path) -> Path:
    """The demo pipeline's configs without its weights (what model_defaults reads)."""
    for rel in ("model_index.json", "unet/config.json", "vae/config.json"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(pipeline / rel, dest / rel)
    return dest


def test_demo_model_says_128px_and_few_steps(demo_pipeline: Path, tmp_path: Path) -> None:
    assert model_defaults(demo_pipeline) == ModelDefaults(DEMO_SIZE, DEMO_SIZE, DEMO_STEPS)
    assert DEMO_SIZE == 128
    assert DEMO_STEPS <= 10
    # A demo built before the sidecar carried default settings: the size still comes from the configs.
    old = _configs_only(demo_pipeline, tmp_path / "demo-tiny-sd15")
    assert model_defaults(old) == ModelDefaults(128, 128, None)


def test_sd15_shaped_folder_and_sdxl_file(tmp_path: Path) -> None:
    folder = tmp_path / "sd15"
    (folder / "unet").mkdir(parents=True)
    (folder / "vae").mkdir()
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 64}))
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [128, 256, 512, 512]}))
    assert model_defaults(folder).size == (512, 512)

    xl = tmp_path / "xl.safetensors"
    save_file({"w": np.zeros((1,), np.float32)}, str(xl), metadata={"modelspec.resolution": "1152x896"})
    assert model_defaults(xl).size == (1152, 896)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.zeros((1,), np.float32)}, str(plain))
    assert model_defaults(plain).size is None
    assert model_defaults(plain, BaseArch.SDXL).size == (1024, 1024)


def test_hostile_values_are_ignored(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    (folder / "unet").mkdir(parents=True)
    (folder / "vae").mkdir()
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 10**9}))
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [1, 1]}))
    (tmp_path / "odd.json").write_text(json.dumps({"default_settings": {"steps": "²", "width": -5, "height": 64}}))
    assert model_defaults(folder) == ModelDefaults()
    assert model_defaults(tmp_path / "missing") == ModelDefaults()


def test_cli_generate_uses_the_model_defaults(demo_pipeline: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.png"
    assert main(["--data-dir", str(tmp_path / "d"), "generate", "--model", str(demo_pipeline), "--prompt",
                 "a lighthouse", "--seed", "3", "--device", "cpu", "--out", str(out)]) == 0
    assert Image.open(out).size == (DEMO_SIZE, DEMO_SIZE)
    assert f"Steps: {DEMO_STEPS}," in read_png_text(out).text["parameters"]


def test_changes_name_generation_params_fields() -> None:
    from lorastudio.core.session.params import GenerationParams, ParamsModel

    params = ParamsModel(GenerationParams())
    params.update(**ModelDefaults(128, 128, 8).changes())
    assert (params.value.width, params.value.height, params.value.steps) == (128, 128, 8)
    params.update(**ModelDefaults(1024, 1024, None).changes())  # unknown steps: the user's stay
    assert (params.value.width, params.value.steps) == (1024, 8)
