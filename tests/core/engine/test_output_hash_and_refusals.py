"""Infotext ``Model hash`` for diffusers folders, and what a non-LoRA file is told (issue 16, item 15)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lorastudio.core.engine.loras import read_lora_state_dict, require_lora_suffix
from lorastudio.core.engine.output import build_infotext, model_hash
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import LoraLoadError


def _weights(path: Path, value: float) -> None:
    save_file({"w": np.full((2, 2), value, dtype=np.float32)}, str(path))


def _sha10(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def _pipeline_folder(root: Path, unet_value: float) -> Path:
    folder = root / "my-model"
    (folder / "unet").mkdir(parents=True)
    (folder / "vae").mkdir()
    (folder / "model_index.json").write_text("{}")
    _weights(folder / "unet" / "diffusion_pytorch_model.safetensors", unet_value)
    _weights(folder / "vae" / "diffusion_pytorch_model.safetensors", 9.0)
    return folder


def test_diffusers_folder_infotext_has_the_unet_autov2(tmp_path: Path) -> None:
    folder = _pipeline_folder(tmp_path, 1.0)
    request = GenerationRequest(model=folder, prompt="a lighthouse", seed=1, steps=2, width=64, height=64)
    params = build_infotext(request, 1).params
    assert params["Model hash"] == _sha10(folder / "unet" / "diffusion_pytorch_model.safetensors")
    assert params["Model"] == "my-model"
    assert model_hash(folder) == params["Model hash"]  # stable: the same weights, the same hash


def test_sharded_unet_hash_changes_with_any_shard(tmp_path: Path) -> None:
    folder = _pipeline_folder(tmp_path, 1.0)
    unet = folder / "unet"
    (unet / "diffusion_pytorch_model.safetensors").rename(unet / "diffusion_pytorch_model-00001-of-00002.safetensors")
    _weights(unet / "diffusion_pytorch_model-00002-of-00002.safetensors", 2.0)
    first = model_hash(folder)
    assert first is not None
    assert len(first) == 10
    _weights(unet / "diffusion_pytorch_model-00002-of-00002.safetensors", 3.0)
    assert model_hash(folder) != first
    assert model_hash(tmp_path / "empty-folder-without-weights") is None


@pytest.mark.parametrize(("name", "said"), [
    ("notes.txt", "notes.txt is not a LoRA file"),
    ("style.ckpt", "style.ckpt is a pickle file, which is never loaded"),
])
def test_a_file_that_is_no_lora_is_told_what_it_is(tmp_path: Path, name: str, said: str) -> None:
    path = tmp_path / name
    path.write_text("hello")
    with pytest.raises(LoraLoadError, match=said):
        require_lora_suffix(path)
    with pytest.raises(LoraLoadError, match=said):
        read_lora_state_dict(path)
