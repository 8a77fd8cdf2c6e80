"""The real diffusers engine on the tiny demo model, against plain diffusers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import GenerationCancelled, IncompatibleLoraError, LoraLoadError, ModelLoadError
from lorastudio.core.paths import DataDir


def _request(model: Path, loras: tuple[LoraSpec, ...] = (), **kw: object) -> GenerationRequest:
    base: dict[str, object] = dict(model=model, prompt="a cat", negative_prompt="blurry", loras=loras,
                                   seed=42, steps=3, cfg=6.0, width=64, height=64)
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


def _plain_diffusers(model: Path, loras: list[tuple[Path, float]], **kw: object) -> np.ndarray:
    """What a bare diffusers script gives for the same inputs."""
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(model), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    names = []
    for i, (path, _) in enumerate(loras):
        pipe.load_lora_weights(str(path), adapter_name=f"l{i}x")
        names.append(f"l{i}x")
    if names:
        pipe.set_adapters(names, adapter_weights=[w for _, w in loras])
    args: dict[str, object] = dict(prompt="a cat", negative_prompt="blurry", num_inference_steps=3,
                                   guidance_scale=6.0, width=64, height=64,
                                   generator=torch.Generator("cpu").manual_seed(42))
    args.update(kw)
    return np.asarray(pipe(**args).images[0])


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine(device="cpu")


def test_mix_of_two_loras_equals_plain_diffusers(engine: DiffusersEngine, demo_data: DataDir,
                                                 demo_pipeline: Path) -> None:
    ink, neon = demo_data.loras / "demo-ink-wash.safetensors", demo_data.loras / "demo-neon-glow.safetensors"
    ours = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 0.8), LoraSpec(neon, 0.5))))[0]
    reference = _plain_diffusers(demo_pipeline, [(ink, 0.8), (neon, 0.5)])
    assert np.array_equal(np.asarray(ours.image), reference)


def test_slider_change_reloads_nothing_and_zero_weights_give_base(
        engine: DiffusersEngine, demo_data: DataDir, demo_pipeline: Path) -> None:
    ink, paper = demo_data.loras / "demo-ink-wash.safetensors", demo_data.loras / "demo-paper-cut.safetensors"
    base = np.asarray(engine.generate(_request(demo_pipeline))[0].image)
    with_loras = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0), LoraSpec(paper, 0.7))))
    loads = (engine.stats.pipeline_loads, engine.stats.lora_loads)
    zero = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 0.0), LoraSpec(paper, 0.0))))
    assert (engine.stats.pipeline_loads, engine.stats.lora_loads) == loads
    assert np.array_equal(np.asarray(zero[0].image), base)
    assert not np.array_equal(np.asarray(with_loras[0].image), base)
    # Toggling a LoRA off equals not having it.
    off = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0), LoraSpec(paper, 0.7, enabled=False))))
    only_ink = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0),)))
    assert np.array_equal(np.asarray(off[0].image), np.asarray(only_ink[0].image))
    assert engine.stats.lora_loads == loads[1]


def test_text_encoder_weight_only_changes_text_encoder_part(
        engine: DiffusersEngine, demo_data: DataDir, demo_pipeline: Path) -> None:
    ink = demo_data.loras / "demo-ink-wash.safetensors"
    full = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0),)))[0]
    same = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0, te_weight=1.0),)))[0]
    no_te = engine.generate(_request(demo_pipeline, (LoraSpec(ink, 1.0, te_weight=0.0),)))[0]
    assert np.array_equal(np.asarray(full.image), np.asarray(same.image))
    assert not np.array_equal(np.asarray(full.image), np.asarray(no_te.image))


def test_cancel_stops_within_one_step_and_engine_stays_usable(
        engine: DiffusersEngine, demo_pipeline: Path) -> None:
    token = CancelToken()
    steps: list[int] = []

    def on_step(step: int, total: int, preview: object) -> None:
        steps.append(step)
        token.cancel()

    with pytest.raises(GenerationCancelled):
        engine.generate(_request(demo_pipeline, steps=10), on_step=on_step, cancel=token)
    assert steps == [1]
    assert engine.generate(_request(demo_pipeline))[0].image.size == (64, 64)


def test_not_a_pipeline_and_not_a_lora_give_clear_errors(
        engine: DiffusersEngine, tmp_path: Path, demo_pipeline: Path) -> None:
    (tmp_path / "random-folder").mkdir()
    with pytest.raises(ModelLoadError, match="not a diffusers pipeline"):
        engine.generate(_request(tmp_path / "random-folder"))
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(LoraLoadError, match=r"bogus\.safetensors"):
        engine.generate(_request(demo_pipeline, (LoraSpec(bogus, 1.0),)))
    checkpoint_part = demo_pipeline / "unet" / "diffusion_pytorch_model.safetensors"
    with pytest.raises(LoraLoadError, match="no LoRA weights"):
        engine.generate(_request(demo_pipeline, (LoraSpec(checkpoint_part, 1.0),)))
    xl = demo_pipeline.parents[1] / "loras" / "demo-xl-sketch.safetensors"
    with pytest.raises(IncompatibleLoraError, match=r"made for SDXL, but the current model is SD 1\.x"):
        engine.generate(_request(demo_pipeline, (LoraSpec(xl, 1.0),)))
    # The engine still works after the failures.
    assert engine.generate(_request(demo_pipeline))[0].seed == 42


def test_clip_skip_2_uses_the_penultimate_layer_as_a1111_does(engine: DiffusersEngine, demo_pipeline: Path) -> None:
    """A1111's clip skip 2: the second-to-last hidden state through the final layer norm."""
    import torch
    from diffusers import StableDiffusionPipeline

    got = np.asarray(engine.generate(_request(demo_pipeline, clip_skip=2))[0].image)
    pipe = StableDiffusionPipeline.from_pretrained(str(demo_pipeline), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def embed(text: str) -> torch.Tensor:
        ids = pipe.tokenizer(text, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = pipe.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
            return pipe.text_encoder.final_layer_norm(hidden)

    want = np.asarray(pipe(prompt_embeds=embed("a cat"), negative_prompt_embeds=embed("blurry"),
                           num_inference_steps=3, guidance_scale=6.0, width=64, height=64,
                           generator=torch.Generator("cpu").manual_seed(42)).images[0])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    plain = np.asarray(engine.generate(_request(demo_pipeline))[0].image)
    assert not np.array_equal(got, plain)
