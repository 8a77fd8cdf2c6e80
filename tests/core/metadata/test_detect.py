"""Kind, LoRA format and base architecture of generated, header-realistic files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import model_files as mf
import pytest

from lorastudio.core.metadata.detect import inspect_file, inspect_folder, inspect_path
from lorastudio.core.types import BaseArch, LoraFormat, ModelKind


@pytest.mark.parametrize(
    ("tensors", "meta", "kind", "fmt", "base"),
    [
        (mf.kohya_sd15(), mf.ss_metadata("sd_v1"), ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SD1),
        (mf.kohya_sd15(), None, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SD1),  # from attn2 width
        (mf.kohya_sd15(text_encoder=False, cross_width=1024), None, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SD2),
        (mf.kohya_sd15(), {"ss_v2": "True"}, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SD2),
        (mf.kohya_sdxl(), None, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SDXL),
        (mf.kohya_sdxl(text_encoder=False), None, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SDXL),
        (mf.kohya_sd15(), {"ss_base_model_version": "sdxl_base_v1-0"}, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.SDXL),
        # modelspec wins over ss_base_model_version
        (
            mf.kohya_sd15(),
            {"modelspec.architecture": "stable-diffusion-xl-v1-base/lora", "ss_base_model_version": "sd_v1"},
            ModelKind.LORA,
            LoraFormat.KOHYA,
            BaseArch.SDXL,
        ),
        (
            mf.kohya_sd15(),
            {"modelspec.architecture": "stable-diffusion-v1/lora"},
            ModelKind.LORA,
            LoraFormat.KOHYA,
            BaseArch.SD1,
        ),
        (mf.flux_kohya_lora(), None, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.FLUX),
        (mf.flux_kohya_lora(), {"ss_base_model_version": "flux1"}, ModelKind.LORA, LoraFormat.KOHYA, BaseArch.FLUX),
        (mf.diffusers_lora(768), None, ModelKind.LORA, LoraFormat.DIFFUSERS, BaseArch.SD1),
        (mf.diffusers_lora(2048), None, ModelKind.LORA, LoraFormat.DIFFUSERS, BaseArch.SDXL),
        (mf.peft_lora(2048), None, ModelKind.LORA, LoraFormat.PEFT, BaseArch.SDXL),
        (mf.peft_lora(768), None, ModelKind.LORA, LoraFormat.PEFT, BaseArch.SD1),
        (mf.loha(768), None, ModelKind.LYCORIS, LoraFormat.KOHYA, BaseArch.SD1),
        (mf.lokr(), None, ModelKind.LYCORIS, LoraFormat.KOHYA, BaseArch.SDXL),
        (mf.vae(), None, ModelKind.VAE, LoraFormat.NONE, BaseArch.UNKNOWN),
        ({"emb_params": mf._t(2, 768)}, None, ModelKind.EMBEDDING, LoraFormat.NONE, BaseArch.SD1),
        ({"string_to_param.*": mf._t(1, 1024)}, None, ModelKind.EMBEDDING, LoraFormat.NONE, BaseArch.SD2),
        (
            {"clip_l": mf._t(2, 768), "clip_g": mf._t(2, 1280)},
            None,
            ModelKind.EMBEDDING,
            LoraFormat.NONE,
            BaseArch.SDXL,
        ),
        ({"some.random.weight": mf._t(2, 2)}, None, ModelKind.UNKNOWN, LoraFormat.NONE, BaseArch.UNKNOWN),
    ],
)
def test_lora_and_small_file_detection(tmp_path: Path, tensors, meta, kind, fmt, base) -> None:
    info = inspect_file(mf.write(tmp_path / "m.safetensors", tensors, meta))
    assert (info.status, info.kind, info.lora_format, info.base) == ("ok", kind, fmt, base)


@pytest.mark.parametrize(
    ("family", "base"),
    [
        ("sd1", BaseArch.SD1),
        ("sd1-inpaint", BaseArch.SD1),
        ("sd2", BaseArch.SD2),
        ("sdxl", BaseArch.SDXL),
        ("sdxl-refiner", BaseArch.SDXL),
        ("sd3", BaseArch.SD3),
        ("flux-dev", BaseArch.FLUX),
        ("flux-schnell", BaseArch.FLUX),
    ],
)
def test_checkpoint_families(tmp_path: Path, family: str, base: BaseArch) -> None:
    info = inspect_file(mf.write(tmp_path / f"{family}.safetensors", mf.checkpoint(family)))
    assert (info.kind, info.base, info.variant) == (ModelKind.CHECKPOINT, base, family)


def test_kohya_details_rank_alpha_modules_and_network(tmp_path: Path) -> None:
    info = inspect_file(mf.write(tmp_path / "a.safetensors", mf.kohya_sd15(rank=8, alpha=3.0)))
    assert (info.rank, info.alpha, info.network) == (8, 3.0, "lora")
    assert info.trains_unet
    assert info.trains_text_encoder
    unet_only = inspect_file(mf.write(tmp_path / "b.safetensors", mf.kohya_sd15(text_encoder=False)))
    assert unet_only.trains_unet
    assert not unet_only.trains_text_encoder
    assert inspect_file(mf.write(tmp_path / "c.safetensors", mf.loha())).network == "loha"
    assert inspect_file(mf.write(tmp_path / "d.safetensors", mf.lokr())).network == "lokr"


def test_trigger_words_title_and_description_from_metadata(tmp_path: Path) -> None:
    meta = mf.ss_metadata(size=100_000)
    info = inspect_file(mf.write(tmp_path / "a.safetensors", mf.kohya_sd15(), meta))
    assert info.trigger_words[:3] == ("mychar", "1girl", "solo")
    assert info.title == "a"  # the file name; ss_output_name is the training run's name
    assert len(info.metadata["ss_tag_frequency"]) < 9_000  # capped for display and storage
    spec = {
        "modelspec.trigger_phrase": "zzz style, shiny",
        "modelspec.title": "Shiny",
        "modelspec.description": "Makes things shiny.",
        **mf.ss_metadata(),
    }
    info = inspect_file(mf.write(tmp_path / "b.safetensors", mf.kohya_sd15(), spec))
    assert info.trigger_words == ("zzz style", "shiny")
    assert (info.title, info.description) == ("Shiny", "Makes things shiny.")


def test_sidecars(tmp_path: Path) -> None:
    path = mf.write(tmp_path / "style.safetensors", mf.kohya_sd15(text_encoder=False, cross_width=4))
    (tmp_path / "style.preview.png").write_bytes(b"png")
    (tmp_path / "style.civitai.info").write_text(
        json.dumps({"trainedWords": ["civ word, second"], "baseModel": "SD 1.5", "model": {"name": "Civ Style"}})
    )
    (tmp_path / "style.json").write_text(
        json.dumps({"activation text": "a1111 word", "preferred weight": 0.7, "description": "From A1111."})
    )
    (tmp_path / "style.safetensors.hf.json").write_text(json.dumps({"repo_id": "acme/style", "commit": "abc"}))
    info = inspect_file(path)
    assert info.preview == tmp_path / "style.preview.png"
    assert info.trigger_words == ("civ word", "second", "a1111 word")
    assert info.preferred_weight == 0.7
    assert info.description == "From A1111."
    assert info.title == "Civ Style"
    assert info.base == BaseArch.SD1  # header says nothing (no metadata, tiny widths): the sidecar does
    assert info.hub["repo_id"] == "acme/style"


@pytest.mark.parametrize("name", ["m.png", "m.jpg", "m.webp", "m.thumb.jpg", "m.preview.webp"])
def test_preview_names(tmp_path: Path, name: str) -> None:
    path = mf.write(tmp_path / "m.safetensors", mf.vae())
    (tmp_path / name).write_bytes(b"img")
    assert inspect_file(path).preview == tmp_path / name


def test_broken_sidecars_are_ignored(tmp_path: Path) -> None:
    path = mf.write(tmp_path / "m.safetensors", mf.vae())
    (tmp_path / "m.civitai.info").write_text("")  # Civitai Helper: "not on Civitai"
    (tmp_path / "m.json").write_bytes(b"\xff{ nope")
    assert inspect_file(path).status == "ok"


class _Marker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # unpickling this creates the marker file
        return (open, (str(self.marker), "w"))


def plant_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"state_dict": _Marker(marker)}))
    return path


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin", ".pth"])
def test_pickles_are_listed_never_opened(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "PWNED"
    path = plant_pickle(tmp_path / "Lora" / f"evil{suffix}", marker)
    info = inspect_file(path)
    assert info.status == "pickle"
    assert "not loaded" in info.error
    assert info.kind == ModelKind.LORA  # from the folder name only
    assert not marker.exists()


def _pipeline(folder: Path, cls: str, width: int | None) -> Path:
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": cls, "unet": ["diffusers", "U"]}))
    if width:
        (folder / "unet").mkdir()
        (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": width}))
    return folder


@pytest.mark.parametrize(
    ("cls", "width", "base"),
    [
        ("StableDiffusionPipeline", 768, BaseArch.SD1),
        ("StableDiffusionPipeline", 1024, BaseArch.SD2),
        ("StableDiffusionXLPipeline", 2048, BaseArch.SDXL),
        ("FluxPipeline", None, BaseArch.FLUX),
        ("StableDiffusion3Pipeline", None, BaseArch.SD3),
    ],
)
def test_pipeline_folders(tmp_path: Path, cls: str, width: int | None, base: BaseArch) -> None:
    info = inspect_path(_pipeline(tmp_path / "pipe", cls, width))
    assert (info.kind, info.base, info.is_dir, info.status) == (ModelKind.PIPELINE, base, True, "ok")


def test_peft_adapter_and_text_model_folders(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(
        json.dumps({"r": 8, "lora_alpha": 16, "target_modules": ["c_attn"], "base_model_name_or_path": "gpt2"})
    )
    info = inspect_folder(adapter)
    assert (info.kind, info.lora_format, info.rank, info.alpha) == (ModelKind.PEFT_ADAPTER, LoraFormat.PEFT, 8, 16.0)
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel", "LlamaForCausalLM"]}))
    assert inspect_folder(lm).kind == ModelKind.TEXT_MODEL
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    assert inspect_folder(other).status == "error"
