"""kohya-format files: key names, metadata, and nothing half-written when the disk fills."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from lorastudio.core.errors import InvalidRequest
from lorastudio.core.training import kohya_export
from lorastudio.core.training.kohya_export import TrainingFacts, save_lora, to_kohya, training_metadata


def _facts(**changes: Any) -> TrainingFacts:
    values: dict[str, Any] = dict(
        title="cat", family="sd1", base_model_name="sd15.safetensors", resolution=512, network="lora", rank=4,
        alpha=2.0, learning_rate=1e-4, text_encoder_lr=None, epoch=2, epochs=10, steps=40, max_steps=200,
        batch_size=1, seed=42, num_images=20, repeats=2, dataset_name="cats", tag_frequency={"zq": 20, "cat": 18},
        buckets={(512, 512): 15, (576, 448): 5}, lr_scheduler="constant", mixed_precision="fp16",
        prediction_type="epsilon", trigger_word="zq", started_at=1.7e9, session_id="abc")
    values.update(changes)
    return TrainingFacts(**values)


def test_peft_keys_become_kohya_keys() -> None:
    peft = {"down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.ones(4, 32),
            "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight": torch.ones(32, 4)}
    out = to_kohya(peft, "lora_unet_", 2.0)
    base = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
    assert set(out) == {base + ".lora_down.weight", base + ".lora_up.weight", base + ".alpha"}
    assert out[base + ".alpha"].item() == 2.0
    assert out[base + ".lora_down.weight"].shape == (4, 32)
    te = to_kohya({"encoder.layers.0.self_attn.q_proj.lora_A.weight": torch.ones(4, 32)}, "lora_te_", 2.0,
                  text_encoder=True)
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight" in te


def test_metadata_has_ss_and_modelspec_keys() -> None:
    meta = training_metadata(_facts())
    assert meta["ss_base_model_version"] == "sd_v1"
    assert meta["ss_network_module"] == "networks.lora"
    assert meta["ss_resolution"] == "(512, 512)"
    assert meta["ss_epoch"] == "2"
    assert meta["ss_steps"] == "40"
    assert json.loads(meta["ss_tag_frequency"]) == {"2_cats": {"zq": 20, "cat": 18}}
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert meta["modelspec.trigger_phrase"] == "zq"
    xl = training_metadata(_facts(family="sdxl", network="locon"))
    assert xl["ss_base_model_version"] == "sdxl_base_v1-0"
    assert xl["ss_network_module"] == "lycoris.kohya"
    assert all(isinstance(v, str) for v in meta.values())


def test_saved_file_carries_a_true_addnet_hash(tmp_path: Path) -> None:
    tensors = to_kohya({"mid_block.attentions.0.proj_in.lora_A.weight": torch.randn(4, 8)}, "lora_unet_", 4.0)
    path = save_lora(tensors, training_metadata(_facts()), tmp_path / "cat.safetensors", b"\x89PNG fake")
    raw = path.read_bytes()
    header = int.from_bytes(raw[:8], "little")
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["sshs_model_hash"] == hashlib.sha256(raw[8 + header:]).hexdigest()
    assert (tmp_path / "cat.preview.png").read_bytes() == b"\x89PNG fake"


def test_a_full_disk_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[int] = []

    def fill_up(f: Any, data: memoryview) -> None:
        f.write(data[: len(data) // 2])  # part of it lands on disk, then the disk is full
        written.append(len(data))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(kohya_export, "_write_chunk", fill_up)
    tensors = to_kohya({"a.lora_A.weight": torch.randn(4, 8), "a.lora_B.weight": torch.randn(8, 4)}, "lora_unet_", 4.0)
    with pytest.raises(InvalidRequest) as err:
        save_lora(tensors, training_metadata(_facts()), tmp_path / "cat.safetensors", b"png")
    assert written
    assert str(err.value) == "The disk is full: cat.safetensors was not saved; free some space and resume."
    assert list(tmp_path.iterdir()) == []
