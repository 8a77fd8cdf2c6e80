"""Single-file checkpoints load offline, bad files are refused with a sentence, the shipped configs
are the real architectures, and the VAE override swaps without reloading."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from lorastudio.core.engine import vae as vae_module
from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.single_file import config_folder, load_clip_tokenizer
from lorastudio.core.errors import ModelLoadError
from lorastudio.core.paths import DataDir

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from ldm_writer import save_sd1_single_file, save_vae_single_file


def _request(model: Path, **kw: object) -> GenerationRequest:
    base: dict[str, object] = dict(model=model, prompt="a cat", negative_prompt="blurry", seed=7, steps=2,
                                   cfg=6.0, width=64, height=64)
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


def _pixels(engine: DiffusersEngine, request: GenerationRequest) -> np.ndarray:
    return np.asarray(engine.generate(request)[0].image)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test (HF_HUB_OFFLINE=1 is set too, by conftest)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def single_file(demo_pipeline_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(demo_pipeline_path), local_files_only=True)
    return save_sd1_single_file(pipe, tmp_path_factory.mktemp("ckpt") / "tiny-sd15.safetensors")


@pytest.fixture(scope="module")
def demo_pipeline_path(demo_data: DataDir) -> Path:
    from lorastudio.core.engine.demo import DEMO_PIPELINE

    return demo_data.checkpoints / DEMO_PIPELINE


@pytest.fixture(scope="module")
def engine(demo_pipeline_path: Path) -> DiffusersEngine:
    eng = DiffusersEngine(device="cpu")
    # The tiny model is not SD 1.5-sized: point the sd1 family at a config folder that matches it.
    eng.single_file_configs["sd1"] = demo_pipeline_path
    return eng


def test_single_file_loads_offline_and_matches_the_folder(
        engine: DiffusersEngine, single_file: Path, demo_pipeline_path: Path, demo_data: DataDir,
        no_network: None) -> None:
    ink = sorted(demo_data.loras.glob("*.safetensors"))[0]
    from_folder = _pixels(engine, _request(demo_pipeline_path, loras=(LoraSpec(ink, 0.7),)))
    from_file = _pixels(engine, _request(single_file, loras=(LoraSpec(ink, 0.7),)))
    assert engine.model_path == single_file.resolve()
    assert type(engine.pipeline).__name__ == "StableDiffusionPipeline"
    assert np.array_equal(from_file, from_folder)


def test_pickles_are_refused_without_being_opened(engine: DiffusersEngine, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04 not even read")
    with pytest.raises(ModelLoadError, match=r"pickle.*convert it to \.safetensors"):
        engine.load_model(ckpt)


def test_truncated_and_foreign_files_give_sentences_and_engine_survives(
        engine: DiffusersEngine, single_file: Path, demo_data: DataDir, demo_pipeline_path: Path,
        tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(single_file.read_bytes()[: single_file.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match=r"cut\.safetensors is not a valid safetensors file.*download it again"):
        engine.load_model(truncated)
    lora = sorted(demo_data.loras.glob("*.safetensors"))[0]
    with pytest.raises(ModelLoadError, match="is a LoRA, not a model checkpoint"):
        engine.load_model(lora)
    refiner = tmp_path / "refiner.safetensors"
    save_file({"conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": torch.zeros(2)},
              str(refiner))
    with pytest.raises(ModelLoadError, match="SDXL refiner"):
        engine.load_model(refiner)
    junk = tmp_path / "junk.safetensors"
    save_file({"weight": torch.zeros(2)}, str(junk))
    with pytest.raises(ModelLoadError, match="not a checkpoint LoRA Studio recognises"):
        engine.load_model(junk)
    assert _pixels(engine, _request(demo_pipeline_path)).shape == (64, 64, 3)


def test_default_configs_are_used_offline(single_file: Path, no_network: None) -> None:
    """Without an override the shipped SD 1.5 config is used (no Hub lookup); it is the real
    architecture, so the tiny file is refused on its shapes, with a sentence."""
    from lorastudio.core.engine.device import choose_device
    from lorastudio.core.engine.single_file import load_single_file

    with pytest.raises(ModelLoadError, match=r"tensor shapes of an SD 1\.x model"):
        load_single_file(single_file, choose_device("cpu"))


@pytest.mark.parametrize(("key", "shape", "label"), [
    ("model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", (320, 1024), "SD 2.x"),
    ("conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias", (1280,), "SDXL"),
])
def test_sd2_and_sdxl_use_their_shipped_configs_offline(tmp_path: Path, no_network: None, key: str,
                                                        shape: tuple[int, ...], label: str) -> None:
    """A file that is recognisably SD 2.x / SDXL but holds no model goes through the shipped config and
    tokenizers to a sentence, without any Hub lookup."""
    import torch
    from safetensors.torch import save_file

    from lorastudio.core.engine.device import choose_device
    from lorastudio.core.engine.single_file import load_single_file

    path = tmp_path / "hollow.safetensors"
    save_file({key: torch.zeros(shape)}, str(path))
    with pytest.raises(ModelLoadError, match=f"hollow.safetensors could not be loaded as an {label} checkpoint"):
        load_single_file(path, choose_device("cpu"))


@pytest.mark.parametrize(("family", "unet_params", "text_params"), [
    ("sd1", 859_520_964, [123_060_480]),  # SD 1.5: CLIP ViT-L/14 text encoder
    ("sd2", 865_910_724, [340_387_840]),  # SD 2.1: OpenCLIP ViT-H/14 text encoder, 23 layers used
    ("sdxl", 2_567_463_684, [123_060_480, 694_659_840]),  # SDXL base 1.0: CLIP-L + OpenCLIP bigG
])
def test_shipped_configs_are_the_real_architectures(family: str, unet_params: int, text_params: list[int]) -> None:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = config_folder(family)
    index = DiffusionPipeline.load_config(str(folder))
    assert index["_class_name"] == ("StableDiffusionXLPipeline" if family == "sdxl" else "StableDiffusionPipeline")

    def count(model: object) -> int:
        return sum(p.numel() for p in model.parameters())  # type: ignore[attr-defined]

    with init_empty_weights():  # meta tensors: no memory for billions of parameters
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(str(folder), subfolder="unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(str(folder), subfolder="vae"))
        encoders = [CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder / "text_encoder")))]
        if family == "sdxl":
            encoders.append(CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(str(folder / "text_encoder_2"))))
    assert count(unet) == unet_params
    assert count(vae) == 83_653_863
    assert [count(te) for te in encoders] == text_params
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text("utf-8"))
    assert scheduler.get("prediction_type", "epsilon") == ("v_prediction" if family == "sd2" else "epsilon")


def test_shipped_tokenizers_tokenize_like_clip() -> None:
    sd1 = load_clip_tokenizer(config_folder("sd1") / "tokenizer")
    xl2 = load_clip_tokenizer(config_folder("sdxl") / "tokenizer_2")
    sd2 = load_clip_tokenizer(config_folder("sd2") / "tokenizer")
    assert len(sd1) == 49408
    assert sd1("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert sd1.convert_ids_to_tokens([320, 1125, 2368]) == ["a</w>", "photo</w>", "cat</w>"]
    assert sd1("A  Photo, of a CAT.").input_ids == xl2("a photo, of a cat.").input_ids
    padded = sd1("a cat", padding="max_length", max_length=77).input_ids
    assert len(padded) == 77
    assert padded[-1] == 49407  # SD 1.x pads with <|endoftext|>
    assert xl2("a cat", padding="max_length", max_length=77).input_ids[-1] == 0  # SDXL te2 pads with "!"
    assert sd2.pad_token == "!"


# -- VAE override -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_vae(demo_pipeline_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same VAE architecture with other weights, as a model-site file and as a diffusers folder."""
    import torch
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(str(demo_pipeline_path), subfolder="vae", local_files_only=True)
    with torch.no_grad():
        for p in vae.decoder.parameters():
            p.add_(torch.randn_like(p) * 0.05, alpha=1.0)
    folder = tmp_path_factory.mktemp("vae")
    vae.save_pretrained(str(folder / "other-vae"))
    return save_vae_single_file(vae, folder / "other-vae.safetensors"), folder / "other-vae"


def test_vae_override_swaps_without_reloading_and_restores(
        engine: DiffusersEngine, demo_pipeline_path: Path, other_vae: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    vae_file, vae_folder = other_vae
    loads: list[Path] = []
    real_load = vae_module.load_vae

    def counting_load(path: Path, like: object, choice: object) -> object:
        loads.append(path)
        return real_load(path, like, choice)  # type: ignore[arg-type]

    monkeypatch.setattr(vae_module, "load_vae", counting_load)
    base = _pixels(engine, _request(demo_pipeline_path))
    pipeline_loads = engine.stats.pipeline_loads
    with_file = _pixels(engine, _request(demo_pipeline_path, vae=vae_file))
    with_folder = _pixels(engine, _request(demo_pipeline_path, vae=vae_folder))
    assert not np.array_equal(with_file, base)
    assert np.array_equal(with_file, with_folder)  # the file's LDM names were mapped right
    assert np.array_equal(_pixels(engine, _request(demo_pipeline_path)), base)  # None restores
    assert np.array_equal(_pixels(engine, _request(demo_pipeline_path, vae=vae_file)), with_file)
    assert len(loads) == 2  # file and folder once each; switching back used the cache
    assert engine.stats.pipeline_loads == pipeline_loads


def test_a_file_that_is_not_a_vae_is_refused(engine: DiffusersEngine, demo_pipeline_path: Path,
                                              demo_data: DataDir) -> None:
    lora = sorted(demo_data.loras.glob("*.safetensors"))[0]
    with pytest.raises(ModelLoadError, match="not a VAE"):
        engine.generate(_request(demo_pipeline_path, vae=lora))
    assert _pixels(engine, _request(demo_pipeline_path)).shape == (64, 64, 3)
