"""Fine-tuning: loss goes down, the adapter reloads with plain PEFT, cancel keeps a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError, TrainingDataError
from lorastudio.core.text.train import TrainConfig, TrainProgress, read_training_texts, train_adapter

TEXT = "the quick brown fox jumps over the lazy dog. " * 12


def test_training_lowers_loss_and_reloads_with_peft(tmp_path: Path, tiny_lm: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = tmp_path / "fox.txt"
    data.write_text(TEXT, "utf-8")
    seen: list[TrainProgress] = []
    result = train_adapter(tiny_lm, data, tmp_path / "fox-lora",
                           TrainConfig(lr=2e-2, epochs=4, batch_size=2, max_length=32),
                           on_progress=seen.append)
    assert result.target_modules == ("c_attn",)  # PEFT's default for GPT-2
    assert [p.step for p in seen] == list(range(1, result.steps + 1))
    assert result.steps == seen[-1].total_steps
    assert sum(result.losses[-3:]) / 3 < sum(result.losses[:3]) / 3
    assert result.perplexity_after is not None
    assert result.perplexity_after < result.perplexity_before

    adapter = result.adapter_dir
    assert adapter is not None
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 32, 0.05)
    assert config["base_model_name_or_path"] == "tiny-gpt2"
    sidecar = json.loads((adapter / "training.json").read_text())
    assert sidecar["completed"]
    assert sidecar["perplexity_after"] == result.perplexity_after

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    ids = tokenizer(TEXT, return_tensors="pt").input_ids[:, :64]
    base = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    with torch.inference_mode():
        base_loss = base(input_ids=ids, labels=ids).loss.item()
        reloaded = PeftModel.from_pretrained(base, str(adapter)).eval()
        assert reloaded(input_ids=ids, labels=ids).loss.item() < base_loss


def test_cancel_keeps_last_checkpoint(tmp_path: Path, tiny_lm: Path) -> None:
    data = tmp_path / "fox.txt"
    data.write_text(TEXT, "utf-8")
    token = CancelToken()

    def on_progress(progress: TrainProgress) -> None:
        if progress.step == 3:
            token.cancel()

    result = train_adapter(tiny_lm, data, tmp_path / "partial",
                           TrainConfig(lr=1e-2, epochs=3, batch_size=2, max_length=16, save_every_steps=2),
                           on_progress=on_progress, cancel=token)
    assert result.cancelled
    assert result.steps == 3
    assert result.perplexity_after is None
    assert result.adapter_dir == tmp_path / "partial"
    assert result.checkpoint_step == 2
    sidecar = json.loads((tmp_path / "partial" / "training.json").read_text())
    assert (sidecar["steps"], sidecar["completed"]) == (2, False)


def test_data_formats(tmp_path: Path) -> None:
    folder = tmp_path / "texts"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("first")
    (folder / "sub" / "b.txt").write_text("second")
    (folder / "notes.md").write_text("ignored")
    assert read_training_texts(folder) == ["first", "second"]
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text('{"text": "one"}\n\n{"text": "two", "id": 2}\n')
    assert read_training_texts(jsonl) == ["one", "two"]
    jsonl.write_text('{"text": "one"}\n{"body": "two"}\n')
    with pytest.raises(TrainingDataError, match=r'Line 2 of data\.jsonl has no "text" field'):
        read_training_texts(jsonl)
    with pytest.raises(TrainingDataError, match="does not exist"):
        read_training_texts(tmp_path / "missing.txt")


def test_refuses_existing_output_and_short_text(tmp_path: Path, tiny_lm: Path) -> None:
    data = tmp_path / "short.txt"
    data.write_text("hi", "utf-8")
    with pytest.raises(TrainingDataError, match="too short"):
        train_adapter(tiny_lm, data, tmp_path / "out")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("x")
    with pytest.raises(LoraStudioError, match="already exists"):
        train_adapter(tiny_lm, data, tmp_path / "taken")
