"""Training settings: validation sentences, presets from the image count, TOML, the VRAM estimate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lorastudio.core.errors import InvalidRequest
from lorastudio.core.training.config import (
    TrainConfig,
    apply_preset,
    config_to_toml,
    estimate_vram,
    read_config,
    write_config,
)

BASE = TrainConfig(base_model="/m/sd15.safetensors", dataset="/d/pics", output_dir="/l/loras", output_name="cat")


def test_defaults_are_sound() -> None:
    config = BASE.validate()
    assert (config.rank, config.alpha, config.learning_rate, config.network) == (16, 8.0, 1e-4, "lora")
    assert not config.train_text_encoder
    assert config.total_steps(30) == 300


@pytest.mark.parametrize(("changes", "message"), [
    ({"rank": 0}, "The rank must be a whole number from 1 to 1024 (got 0)."),
    ({"learning_rate": 2.0}, "The learning rate must be a number from 1e-08 to 1 (got 2.0)."),
    ({"network": "loha"}, "The network must be one of lora, locon (got loha)."),
    ({"output_name": "../x"}, "The output name must be a plain file name (no / \\ : * ? \" < > |)."),
    ({"dataset": ""}, "The dataset folder is not set."),
])
def test_bad_settings_are_one_sentence(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        replace(BASE, **changes).validate()  # type: ignore[arg-type]
    assert str(err.value) == message


def test_presets_derive_steps_and_rate_from_the_image_count() -> None:
    few = apply_preset(BASE, "character", 10)
    many = apply_preset(BASE, "character", 60)
    assert few.epochs == many.epochs == 10
    views_few, views_many = few.repeats * 10 * 10, many.repeats * 60 * 10
    assert 800 <= views_few <= 3000
    assert 800 <= views_many <= 3000
    assert few.repeats > many.repeats  # few images: each seen more often
    style = apply_preset(BASE, "style", 20)
    assert style.learning_rate < few.learning_rate
    assert style.rank > few.rank
    assert apply_preset(replace(BASE, batch_size=4), "object", 20).learning_rate == pytest.approx(2e-4)
    with pytest.raises(InvalidRequest):
        apply_preset(BASE, "anime", 10)


def test_toml_round_trip_with_relative_paths(tmp_path: Path) -> None:
    config = replace(BASE, sample_prompts=('a "quoted" cat', "ünïcode"), trigger_word="zq", alpha=4.0)
    write_config(config, tmp_path / "run.toml")
    assert read_config(tmp_path / "run.toml") == config
    (tmp_path / "rel.toml").write_text('[train]\nbase_model = "m/model"\ndataset = "pics"\noutput_dir = "out"\n'
                                       "epochs = 3\nalpha = 4\n", "utf-8")
    rel = read_config(tmp_path / "rel.toml")
    assert rel.dataset == str(tmp_path / "pics")
    assert rel.epochs == 3
    assert rel.alpha == 4.0
    assert "[train]" in config_to_toml(config)


@pytest.mark.parametrize(("text", "message"), [
    ("epochs = 'ten'\n", "epochs must be a whole number."),
    ("colour = 1\n", "Unknown setting 'colour' in the training config."),
    ("epochs = \n", "bad.toml is not valid TOML"),
])
def test_bad_toml_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidRequest) as err:
        read_config(path)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_vram_estimate_follows_the_memory_options() -> None:
    plain = estimate_vram(replace(BASE, mixed_precision="fp16"), "sd1")
    assert 4e9 < plain < 9e9  # SD 1.5 at 512 px in fp16 trains in about 6 GB
    lean = estimate_vram(replace(BASE, mixed_precision="fp16", gradient_checkpointing=True, use_8bit_adam=True), "sd1")
    assert lean < plain
    xl = estimate_vram(replace(BASE, resolution=1024, mixed_precision="fp16", gradient_checkpointing=True), "sdxl")
    assert 10e9 < xl < 20e9
    assert estimate_vram(BASE, "sd1") > plain  # float32 weights
