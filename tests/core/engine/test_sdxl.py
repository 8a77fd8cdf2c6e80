"""The mixer on a tiny SDXL pipeline with kohya SDXL LoRAs (sgm block names, te1 + te2 parts)."""

from __future__ import annotations

import numpy as np
import pytest

from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.tiny_sdxl import TinySdxl, build_tiny_sdxl_library
from lorastudio.core.errors import IncompatibleLoraError
from lorastudio.core.metadata.detect import inspect_path
from lorastudio.core.paths import DataDir
from lorastudio.core.types import BaseArch

PROMPT = dict(prompt="a cat", negative_prompt="blurry", num_inference_steps=2, guidance_scale=5.0,
              width=64, height=64)


@pytest.fixture(scope="module")
def xl(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> TinySdxl:
    return build_tiny_sdxl_library(tmp_path_factory.mktemp("sdxl"))


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine(device="cpu")


def _request(xl: TinySdxl, loras: tuple[LoraSpec, ...] = ()) -> GenerationRequest:
    return GenerationRequest(model=xl.pipeline, prompt="a cat", negative_prompt="blurry", loras=loras, seed=3,
                             steps=2, cfg=5.0, width=64, height=64)


def _ours(engine: DiffusersEngine, xl: TinySdxl, loras: tuple[LoraSpec, ...] = ()) -> np.ndarray:
    return np.asarray(engine.generate(_request(xl, loras))[0].image)


def _plain_diffusers(xl: TinySdxl, weights: list[float]) -> np.ndarray:
    import torch
    from diffusers import StableDiffusionXLPipeline

    pipe = StableDiffusionXLPipeline.from_pretrained(str(xl.pipeline), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    for i, path in enumerate(xl.loras):
        pipe.load_lora_weights(str(path), adapter_name=f"plain{i}")
    pipe.set_adapters([f"plain{i}" for i in range(len(weights))], adapter_weights=weights)
    return np.asarray(pipe(**PROMPT, generator=torch.Generator("cpu").manual_seed(3)).images[0])


def test_tiny_pipeline_and_loras_are_detected_as_sdxl(xl: TinySdxl) -> None:
    assert inspect_path(xl.pipeline).base is BaseArch.SDXL
    assert [inspect_path(p).base for p in xl.loras] == [BaseArch.SDXL, BaseArch.SDXL]


def test_mix_of_two_sdxl_loras_equals_plain_diffusers_and_every_module_is_patched(
        engine: DiffusersEngine, xl: TinySdxl) -> None:
    from safetensors import safe_open

    ours = _ours(engine, xl, (LoraSpec(xl.loras[0], 0.8), LoraSpec(xl.loras[1], 0.5)))
    assert np.array_equal(ours, _plain_diffusers(xl, [0.8, 0.5]))
    # No part of the file silently dropped: one patched module per lora_down tensor, per component.
    pipe, name = engine.pipeline, engine.loaded_loras()[xl.loras[0].resolve()]
    with safe_open(str(xl.loras[0]), "pt") as f:
        keys = list(f.keys())
    for component, prefix in (("unet", "lora_unet_"), ("text_encoder", "lora_te1_"),
                              ("text_encoder_2", "lora_te2_")):
        patched = sum(1 for _, m in getattr(pipe, component).named_modules()
                      if hasattr(m, "lora_A") and name in m.lora_A)
        in_file = sum(1 for k in keys if k.startswith(prefix) and k.endswith(".lora_down.weight"))
        assert patched == in_file > 0, component


def test_zero_weight_is_the_base_and_te_weight_reaches_both_text_encoders(
        engine: DiffusersEngine, xl: TinySdxl) -> None:
    base = _ours(engine, xl)
    a = xl.loras[0]
    assert np.array_equal(_ours(engine, xl, (LoraSpec(a, 0.0), LoraSpec(xl.loras[1], 0.0))), base)
    full = _ours(engine, xl, (LoraSpec(a, 1.0),))
    unet_only = _ours(engine, xl, (LoraSpec(a, 1.0, te_weight=0.0),))
    assert not np.array_equal(full, base)
    assert not np.array_equal(unet_only, full)
    assert not np.array_equal(unet_only, base)


def test_sd1_lora_on_sdxl_is_refused_before_loading(engine: DiffusersEngine, xl: TinySdxl,
                                                     demo_data: DataDir) -> None:
    sd1_lora = sorted(demo_data.loras.glob("*.safetensors"))[0]
    engine.load_model(xl.pipeline)
    loads = engine.stats.lora_loads
    with pytest.raises(IncompatibleLoraError, match=r"made for SD 1\.x, but the current model is SDXL"):
        engine.generate(_request(xl, (LoraSpec(sd1_lora, 1.0),)))
    assert engine.stats.lora_loads == loads
    assert sd1_lora.resolve() not in engine.loaded_loras()
    assert _ours(engine, xl).shape == (64, 64, 3)


def test_sgm_names_follow_kohya_layout() -> None:
    from lorastudio.core.engine.tiny_sdxl import sgm_name

    # Real SDXL (layers_per_block=2), from the stack notes' table.
    assert sgm_name("down_blocks.1.attentions.1.proj_in", 2) == "input_blocks.5.1.proj_in"
    assert sgm_name("down_blocks.2.attentions.0.x", 2) == "input_blocks.7.1.x"
    assert sgm_name("up_blocks.1.attentions.2.x", 2) == "output_blocks.5.1.x"
    assert sgm_name("mid_block.attentions.0.x", 2) == "middle_block.1.x"
