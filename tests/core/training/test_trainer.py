"""Training on a tiny SD model on the CPU: the loss falls, the files load everywhere, resume works."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import InvalidRequest, TrainingDataError
from lorastudio.core.training.trainer import TrainProgress, TrainResult, TrainSample, checkpoint_dir, train

from .conftest import draw_dataset, tiny_config


@dataclass
class Run:
    result: TrainResult
    progress: list[TrainProgress]
    samples: list[TrainSample]
    out: Path
    model: Path
    data: Path


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> Run:
    root = tmp_path_factory.mktemp("train")
    data = draw_dataset(root / "pictures")
    progress: list[TrainProgress] = []
    samples: list[TrainSample] = []
    config = tiny_config(tiny_model, data, root / "loras")
    result = train(config, on_progress=progress.append, on_sample=samples.append)
    return Run(result, progress, samples, root / "loras", tiny_model, data)


def test_the_loss_falls(trained: Run) -> None:
    losses = np.array(trained.result.losses)
    assert len(losses) == trained.result.total_steps == 24  # 4 batches (3 buckets) x 6 epochs
    quarter = len(losses) // 4
    # medians of the first and last quarters: one unlucky timestep cannot decide it
    assert np.median(losses[-quarter:]) < 0.85 * np.median(losses[:quarter])
    assert [p.step for p in trained.progress] == list(range(1, 25))
    assert trained.progress[-1].remaining == pytest.approx(0.0)


def test_each_epoch_is_a_kohya_file_with_training_metadata(trained: Run) -> None:
    names = sorted(p.name for p in trained.out.glob("*.safetensors"))
    assert names == [f"disc-00000{i}.safetensors" for i in range(1, 6)] + ["disc.safetensors"]
    final = trained.out / "disc.safetensors"
    with safe_open(str(final), "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    assert all(k.startswith("lora_unet_") for k in keys)
    assert "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
    assert "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight" in keys  # LoCon: the ResNet convs
    assert any(k.endswith(".alpha") for k in keys)
    assert meta["ss_base_model_version"] == "sd_v1"
    assert meta["ss_resolution"] == "(64, 64)"
    assert meta["ss_epoch"] == "6"
    assert meta["ss_steps"] == "24"
    assert meta["ss_learning_rate"] == "0.01"
    assert meta["ss_network_dim"] == "4"
    assert meta["ss_network_alpha"] == "4"
    assert json.loads(meta["ss_tag_frequency"])["1_pictures"]["zq disc"] == 8
    assert meta["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert (trained.out / "disc.preview.png").read_bytes() == trained.samples[-1].png
    assert not checkpoint_dir(tiny_config(trained.model, trained.data, trained.out)).exists()  # finished
    assert not [p for p in trained.out.iterdir() if p.name.startswith(".")]


def test_a_sample_per_epoch(trained: Run) -> None:
    assert [s.epoch for s in trained.samples] == [1, 2, 3, 4, 5, 6]
    assert all(s.png.startswith(b"\x89PNG") and s.prompt == "zq disc" for s in trained.samples)


def _pixels(image: object) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def test_loads_in_the_mixer_and_changes_the_image(trained: Run) -> None:
    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec

    engine = DiffusersEngine(device="cpu")
    lora = trained.out / "disc.safetensors"
    base = GenerationRequest(model=trained.model, prompt="zq disc", seed=3, steps=3, width=64, height=64)
    plain = engine.generate(base)[0].image
    with_lora = engine.generate(GenerationRequest(model=trained.model, prompt="zq disc", seed=3, steps=3, width=64,
                                                  height=64, loras=(LoraSpec(lora, 1.0),)))[0].image
    assert np.abs(_pixels(plain) - _pixels(with_lora)).max() > 10


def test_loads_in_plain_diffusers_and_changes_the_image(trained: Run) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(trained.model), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)

    def render() -> np.ndarray:
        g = torch.Generator().manual_seed(3)
        return _pixels(pipe("zq disc", num_inference_steps=3, width=64, height=64, generator=g).images[0])

    plain = render()
    pipe.load_lora_weights(str(trained.out / "disc.safetensors"), adapter_name="disc")
    assert np.abs(plain - render()).max() > 10


def test_cancel_then_resume_continues_from_the_saved_epoch(trained: Run, tmp_path: Path) -> None:
    # three of the six epochs: with a constant learning rate these are the first 12 steps of `trained`
    config = tiny_config(trained.model, trained.data, tmp_path / "loras", epochs=3)
    token = CancelToken()

    def cancel_in_epoch_2(p: TrainProgress) -> None:
        if p.epoch == 2 and p.step == 6:
            token.cancel()

    first = train(config, on_progress=cancel_in_epoch_2, cancel=token)
    assert first.cancelled
    assert first.steps == 6
    assert first.last_saved_epoch == 1
    assert [p.name for p in (tmp_path / "loras").glob("*.safetensors")] == ["disc-000001.safetensors"]
    assert checkpoint_dir(config).is_dir()

    steps: list[int] = []
    second = train(config, on_progress=lambda p: steps.append(p.step), resume=True)
    assert second.resumed_from_epoch == 1
    assert not second.cancelled
    assert steps == list(range(5, 13))  # from the end of epoch 1 to the same total
    assert second.total_steps == 12
    assert second.steps == 12
    assert sorted(p.name for p in (tmp_path / "loras").glob("*.safetensors")) == [
        "disc-000001.safetensors", "disc-000002.safetensors", "disc.safetensors"]
    # the same batches, noise and optimizer state: the resumed run retraces the uninterrupted one
    np.testing.assert_allclose(second.losses, trained.result.losses[:12], rtol=1e-3, atol=1e-4)


def test_bad_dataset_is_one_sentence(trained: Run, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainingDataError, match=r"^empty holds no png, jpg or webp images\.$"):
        train(tiny_config(trained.model, empty, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_resume_with_other_settings_is_refused(trained: Run, tmp_path: Path) -> None:
    config = tiny_config(trained.model, trained.data, tmp_path / "loras", epochs=1, max_steps=2)
    token = CancelToken()
    train(config, on_progress=lambda p: token.cancel(), cancel=token)  # cancelled before any save
    checkpoint_dir(config).mkdir(parents=True)
    (checkpoint_dir(config) / "state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidRequest, match="start afresh instead"):
        train(config, resume=True)


def test_sdxl_with_both_text_encoders(tmp_path: Path, pictures: Path, torch_threads: None) -> None:
    from diffusers import StableDiffusionXLPipeline

    from lorastudio.core.engine.tiny_sdxl import build_tiny_sdxl

    model = tmp_path / "tiny-sdxl"
    build_tiny_sdxl(tmp_path / "tok").save_pretrained(str(model), safe_serialization=True)
    config = tiny_config(model, pictures, tmp_path / "loras", network="lora", epochs=1, max_steps=2,
                         train_text_encoder=True)
    result = train(config)
    assert result.steps == 2
    path = tmp_path / "loras" / "disc.safetensors"
    with safe_open(str(path), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
    assert meta["ss_base_model_version"] == "sdxl_base_v1-0"
    assert meta["modelspec.architecture"] == "stable-diffusion-xl-v1-base/lora"
    assert {k.split("_", 2)[1] for k in keys} == {"unet", "te1", "te2"}
    # kohya's SDXL layout: the UNet under its original sgm names, as A1111 and ComfyUI expect them
    unet_layers = {k.split(".")[0] for k in keys if k.startswith("lora_unet_")}
    assert "lora_unet_input_blocks_3_1_transformer_blocks_0_attn1_to_q" in unet_layers  # one layer per block
    assert all(re.match(r"lora_unet_(input_blocks|middle_block|output_blocks)_\d", k) for k in unet_layers)
    pipe = StableDiffusionXLPipeline.from_pretrained(str(model), local_files_only=True)
    pipe.load_lora_weights(str(path), adapter_name="disc")
    assert set(pipe.get_list_adapters()) == {"unet", "text_encoder", "text_encoder_2"}

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec

    engine = DiffusersEngine(device="cpu")
    request = GenerationRequest(model=model, prompt="zq disc", seed=3, steps=2, width=64, height=64,
                                loras=(LoraSpec(path, 1.0),))
    result = engine.generate(request)[0]
    assert result.warnings == ()  # our mixer places every layer of the file


def test_sdxl_unet_names_are_kohyas_sgm_names() -> None:
    from types import SimpleNamespace

    from lorastudio.core.training.trainer import sgm_namer

    # SDXL base's UNet layout: two layers per block, attention in the lower two up blocks
    unet = SimpleNamespace(config=SimpleNamespace(
        layers_per_block=2, up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")))
    name = sgm_namer(unet)
    assert name("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q") == \
        "input_blocks.4.1.transformer_blocks.0.attn1.to_q"
    assert name("mid_block.attentions.0.transformer_blocks.9.attn2.to_out.0") == \
        "middle_block.1.transformer_blocks.9.attn2.to_out.0"
    assert name("up_blocks.0.attentions.2.transformer_blocks.0.ff.net.2") == \
        "output_blocks.2.1.transformer_blocks.0.ff.net.2"
    assert name("down_blocks.0.resnets.1.conv1") == "input_blocks.2.0.in_layers.2"  # LoCon
