"""Merging a mix gives a standalone model whose logits equal the adapted model's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.text.engine import TextEngine
from lorastudio.core.text.merge import merge_mix
from lorastudio.core.text.mix import TextMix


def test_merged_logits_equal_adapted(tmp_path: Path, tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    mix = TextMix.of({str(tiny_adapters[0]): 0.6, str(tiny_adapters[1]): -0.4})
    info = merge_mix(tiny_lm, mix, tmp_path / "merged")
    assert info.architecture == "GPT2LMHeadModel"
    assert not list((tmp_path / "merged").glob("adapter_*"))
    assert json.loads((tmp_path / "merged" / "merged.json").read_text())["adapters"] == [
        {"name": "cats", "weight": 0.6}, {"name": "dogs", "weight": -0.4}]

    engine = TextEngine()
    engine.load_model(tiny_lm)
    engine.set_mix(mix)
    text = "the dog and the cat "
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()  # plain transformers
    ids = AutoTokenizer.from_pretrained(tmp_path / "merged")(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        merged_logits = merged(input_ids=ids).logits
    torch.testing.assert_close(merged_logits, engine.logits(text), atol=1e-5, rtol=1e-5)
    engine.set_mix(TextMix())
    assert not torch.allclose(merged_logits, engine.logits(text), atol=1e-5)


def test_merge_needs_a_weight(tmp_path: Path, tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    with pytest.raises(LoraStudioError, match="weight other than 0"):
        merge_mix(tiny_lm, TextMix.of({str(tiny_adapters[0]): 0.0}), tmp_path / "merged")
