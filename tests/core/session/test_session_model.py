"""The session model: prompt tags resolve against the library, restore fills params and mix."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.errors import ImageMetadataError
from lorastudio.core.messages import Level, Message, MessageKind
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.paths import data_dir
from lorastudio.core.session.library_index import LibraryIndex
from lorastudio.core.session.model import NoModelChosen, SessionModel
from lorastudio.core.session.params import GenerationParams
from lorastudio.core.types import BaseArch, ModelKind


@pytest.fixture
def session(tmp_path: Path) -> SessionModel:
    s = SessionModel(data_dir(tmp_path / "data").ensure())
    s.set_library(LibraryIndex.from_infos([
        FileInfo(tmp_path / "ink_wash.safetensors", kind=ModelKind.LORA, title="Ink Wash"),
        FileInfo(tmp_path / "neon.safetensors", kind=ModelKind.LYCORIS),
        FileInfo(tmp_path / "model.safetensors", kind=ModelKind.CHECKPOINT, base=BaseArch.SDXL, title="Model"),
    ]))
    return s


def test_prompt_tags_move_into_the_mix_and_missing_ones_are_reported(session: SessionModel, tmp_path: Path) -> None:
    messages: list[Message] = []
    session.message.connect(messages.append)
    session.params.update(model=tmp_path / "model.safetensors", seed=42,
                          prompt="a lighthouse, <lora:ink wash:0.6> <lora:neon:0.2:0.9> <lora:gone:1> dusk")
    request = session.build_request()
    assert request.prompt == "a lighthouse, dusk"
    assert [(s.path.name, s.weight, s.te_weight) for s in request.loras] == [
        ("ink_wash.safetensors", 0.6, None), ("neon.safetensors", 0.9, 0.2)]
    assert session.params.value.prompt == "a lighthouse, dusk"  # the tags left the prompt
    assert session.mix.value.specs == request.loras
    assert [(m.level, m.kind) for m in messages] == [(Level.WARNING, MessageKind.LORA_MISSING)]
    assert "gone" in messages[0].text
    assert request.seed == 42


def test_random_seed_is_drawn_per_request_and_remembered(session: SessionModel, tmp_path: Path) -> None:
    session.params.update(model=tmp_path / "model.safetensors", seed=-1)
    seeds = {session.build_request().seed for _ in range(5)}
    assert len(seeds) > 1
    assert session.params.last_seed in seeds
    assert session.params.value.seed == -1


def test_no_model_is_a_sentence(session: SessionModel) -> None:
    with pytest.raises(NoModelChosen, match="Pick a model"):
        session.build_request()


def test_params_emit_only_on_real_change(session: SessionModel) -> None:
    seen: list[GenerationParams] = []
    session.params.changed.connect(seen.append)
    session.params.update(steps=7)
    session.params.update(steps=7)
    assert [p.steps for p in seen] == [7]
    with pytest.raises(TypeError):
        session.params.update(stpes=3)


def test_size_family_and_model_choices(session: SessionModel, tmp_path: Path) -> None:
    lib = session.library
    assert lib.size_family(tmp_path / "model.safetensors") == "sdxl"
    assert lib.size_family(Path("/x/demo-tiny-sd")) == "demo"
    [(label, path)] = lib.model_choices()
    assert path == tmp_path / "model.safetensors"
    assert label.startswith("Model  [")


def _png_with(path: Path, parameters: str) -> Path:
    meta = PngInfo()
    meta.add_text("parameters", parameters)
    Image.new("RGB", (8, 8)).save(path, pnginfo=meta)
    return path


def test_restore_from_an_a1111_image(session: SessionModel, tmp_path: Path) -> None:
    session.mix.set(LoraMix((LoraSpec(path=tmp_path / "old.safetensors"),)))
    image = _png_with(tmp_path / "a.png", (
        "a castle <lora:ink_wash:0.7> <lora:unknown_style:1>\nNegative prompt: blurry\n"
        "Steps: 12, Sampler: Euler a, CFG scale: 5.5, Seed: 99, Size: 640x768, Model: Model, Clip skip: 2"))
    plan = session.restore_image(image)
    p = session.params.value
    assert (p.prompt, p.negative_prompt, p.steps, p.sampler, p.cfg, p.seed, p.width, p.height, p.clip_skip) == (
        "a castle", "blurry", 12, "Euler a", 5.5, 99, 640, 768, 2)
    assert p.model == tmp_path / "model.safetensors"  # resolved by name
    assert [(s.path.name, s.weight) for s in session.mix.value.specs] == [("ink_wash.safetensors", 0.7)]
    assert plan.missing == ("unknown_style",)


def test_restore_from_an_image_without_parameters_is_a_sentence(session: SessionModel, tmp_path: Path) -> None:
    image = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(image)
    before = session.params.value
    with pytest.raises(ImageMetadataError, match="no generation parameters"):
        session.restore_image(image)
    assert session.params.value == before
