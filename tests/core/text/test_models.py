"""Recognising language-model and adapter folders, and refusing adapters that do not fit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lorastudio.core.errors import IncompatibleLoraError, LoraLoadError, ModelLoadError
from lorastudio.core.text.engine import TextEngine
from lorastudio.core.text.models import (
    check_adapter_fit,
    find_adapters,
    find_cached_text_models,
    find_text_models,
    inspect_adapter,
    inspect_text_model,
    require_adapter,
)


def test_model_folder_is_recognised(tiny_lm: Path) -> None:
    info = inspect_text_model(tiny_lm)
    assert info is not None
    assert (info.name, info.architecture, info.model_type) == ("tiny-gpt2", "GPT2LMHeadModel", "gpt2")
    assert find_text_models([tiny_lm.parent]) == [info]


def test_adapter_folder_is_recognised(tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    cats = inspect_adapter(tiny_adapters[0])
    assert cats is not None
    assert (cats.rank, cats.alpha, cats.target_modules, cats.task_type) == (4, 8.0, ("c_attn",), "CAUSAL_LM")
    # the absolute path PEFT writes is scrubbed to the base's name
    assert cats.base_model == "tiny-gpt2"
    assert cats.training["steps"] == 6
    assert [a.name for a in find_adapters([tiny_adapters[0].parent])] == ["cats", "dogs"]
    # a model folder is not an adapter and vice versa
    assert inspect_adapter(tiny_lm) is None
    assert inspect_text_model(tiny_adapters[0]) is None


def test_hf_cache_snapshot_is_recognised(tmp_path: Path, tiny_lm: Path) -> None:
    snapshot = tmp_path / "hub" / "models--someone--tiny-gpt2" / "snapshots" / "0123abc"
    shutil.copytree(tiny_lm, snapshot)
    (tmp_path / "hub" / "models--someone--not-a-model" / "snapshots" / "1").mkdir(parents=True)
    models = find_cached_text_models(tmp_path / "hub")
    assert [(m.name, m.repo_id) for m in models] == [("someone/tiny-gpt2", "someone/tiny-gpt2")]


def test_adapter_fits_its_model(tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    model, cats = inspect_text_model(tiny_lm), inspect_adapter(tiny_adapters[0])
    assert model is not None
    assert cats is not None
    fit = check_adapter_fit(cats, model)
    assert fit.fits
    assert fit.name_matches
    assert not fit.warning


def test_renamed_base_fits_with_a_warning(tmp_path: Path, tiny_lm: Path,
                                          tiny_adapters: tuple[Path, Path]) -> None:
    renamed = tmp_path / "my-finetune"
    shutil.copytree(tiny_lm, renamed)
    model, cats = inspect_text_model(renamed), inspect_adapter(tiny_adapters[0])
    assert model is not None
    assert cats is not None
    fit = check_adapter_fit(cats, model)
    assert fit.fits
    assert not fit.name_matches
    assert fit.warning == "trained on another base name"


def test_mismatched_adapter_is_flagged_and_refused(other_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    model, cats = inspect_text_model(other_lm), inspect_adapter(tiny_adapters[0])
    assert model is not None
    assert cats is not None
    fit = check_adapter_fit(cats, model)
    assert not fit.fits
    engine = TextEngine()
    engine.load_model(other_lm)
    with pytest.raises(IncompatibleLoraError, match=r"^cats does not fit other-gpt2: layer .*c_attn is"):
        engine.load_adapter(tiny_adapters[0])
    assert engine.adapter_loads == 0


def test_adapter_for_missing_layers_is_refused(tmp_path: Path, tiny_lm: Path,
                                                tiny_adapters: tuple[Path, Path]) -> None:
    fake = tmp_path / "llama-lora"
    shutil.copytree(tiny_adapters[0], fake)
    from safetensors.torch import load_file, save_file

    tensors = load_file(fake / "adapter_model.safetensors")
    save_file({k.replace("attn.c_attn", "self_attn.q_proj"): v for k, v in tensors.items()},
              fake / "adapter_model.safetensors")
    engine = TextEngine()
    engine.load_model(tiny_lm)
    with pytest.raises(IncompatibleLoraError, match="was made for another model: tiny-gpt2 has no layer"):
        engine.load_adapter(fake)


def test_bad_folders_give_sentences(tmp_path: Path, tiny_lm: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    engine = TextEngine()
    with pytest.raises(ModelLoadError, match="is not a language model folder"):
        engine.load_model(tmp_path)
    with pytest.raises(LoraLoadError, match="is not a LoRA adapter folder"):
        require_adapter(tmp_path)
