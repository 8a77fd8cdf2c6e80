"""Language models and their adapters are text-mode entries, never "unknown" image files (issue 16, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from lorastudio.cli import main
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.metadata.detect import inspect_file, inspect_path
from lorastudio.core.paths import DataDir
from lorastudio.core.types import BaseArch, ModelKind

GPT2_KEYS = [f"transformer.h.{i}.{part}" for i in range(2) for part in (
    "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "ln_1.weight", "mlp.c_fc.weight")]
GPT2_KEYS += ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight"]


def _tensors(keys: list[str]) -> dict[str, np.ndarray]:
    return {k: np.zeros((2, 2), dtype=np.float32) for k in keys}


def write_gpt2_folder(folder: Path, architecture: str = "GPT2LMHeadModel") -> Path:
    """What ``save_pretrained`` writes for a GPT-2 (``text demo`` or a ``text merge`` result)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": "gpt2"}))
    save_file(_tensors(GPT2_KEYS), str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


def write_text_adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 8, "lora_alpha": 16, "target_modules": ["c_attn"],
         "base_model_name_or_path": "tiny-gpt2-demo"}))
    keys = [f"base_model.model.transformer.h.{i}.attn.c_attn.lora_{ab}.weight" for i in range(2) for ab in "AB"]
    save_file(_tensors(keys), str(folder / "adapter_model.safetensors"))
    return folder


@pytest.mark.parametrize("architecture", ["GPT2LMHeadModel", "LlamaForCausalLM"])
def test_causal_lm_folder_is_one_text_model(tmp_path: Path, architecture: str) -> None:
    folder = write_gpt2_folder(tmp_path / "tiny-gpt2-demo", architecture)
    info = inspect_path(folder)
    assert (info.kind, info.base, info.status) == (ModelKind.TEXT_MODEL, BaseArch.OTHER, "ok")
    assert info.variant == architecture


def test_loose_text_weights_and_adapter_files_are_text_mode(tmp_path: Path) -> None:
    weights = write_gpt2_folder(tmp_path / "m") / "model.safetensors"
    adapter = write_text_adapter(tmp_path / "a") / "adapter_model.safetensors"
    assert inspect_file(weights).kind is ModelKind.TEXT_MODEL
    loose = inspect_file(adapter)
    assert (loose.kind, loose.base, loose.rank) == (ModelKind.PEFT_ADAPTER, BaseArch.OTHER, 2)
    assert loose.kind.is_text
    assert not ModelKind.LORA.is_text


def test_scan_lists_text_entries_without_unknowns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = DataDir(tmp_path / "data").ensure()
    write_gpt2_folder(data.text_models / "tiny-gpt2-demo")
    write_gpt2_folder(data.text_models / "tiny-gpt2-demo-merged")
    write_text_adapter(data.text_adapters / "tiny-cats")
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        kinds = sorted(r.info.kind.value for r in catalog.records())
    assert kinds == ["peft_adapter", "text_model", "text_model"]

    assert main(["--data-dir", str(data.root), "scan"]) == 0
    out = capsys.readouterr().out
    assert "unknown" not in out
    assert "text_model        text     ok" in out
    assert "base model: tiny-gpt2-demo" in out
