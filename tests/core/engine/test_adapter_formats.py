"""Every adapter format artists download, applied by the engine, equals the weights patched by hand
from the format's definition (tests/helpers/adapter_files.py), alone and mixed, at any weight."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import LoraLoadError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
import adapter_files as af


def _request(model: Path, loras: tuple[LoraSpec, ...] = ()) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=af.PROMPT, negative_prompt=af.NEGATIVE, loras=loras,
                             seed=af.SEED, steps=af.STEPS, cfg=af.CFG, width=af.SIZE, height=af.SIZE)


def _image(engine: DiffusersEngine, model: Path, *loras: LoraSpec) -> np.ndarray:
    return np.asarray(engine.generate(_request(model, tuple(loras)))[0].image)


def assert_close(ours: np.ndarray, expected: np.ndarray, base: np.ndarray) -> None:
    diff = np.abs(ours.astype(int) - expected.astype(int)).max()
    assert diff <= 2, f"max difference {diff}/255"
    # The adapter must change the picture, or the comparison proves nothing.
    assert np.abs(expected.astype(int) - base.astype(int)).mean() > 1.0


@pytest.fixture(scope="module")
def sd15(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> Path:
    return af.build_sd15_like(tmp_path_factory.mktemp("sd15") / "tiny-sd15")


@pytest.fixture(scope="module")
def sdxl(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> Path:
    return af.build_sdxl_like(tmp_path_factory.mktemp("sdxl") / "tiny-sdxl")


@pytest.fixture(scope="module")
def plain15(sd15: Path) -> Any:
    """A read-only plain pipeline the writers take module shapes and weights from."""
    return af.load_plain(sd15)


@pytest.fixture(scope="module")
def base15(sd15: Path) -> np.ndarray:
    return af.render(af.load_plain(sd15))


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine(device="cpu")


@pytest.fixture(scope="module")
def files(plain15: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, af.AdapterFile]:
    d = tmp_path_factory.mktemp("adapters")
    p = plain15
    return {
        "kohya": af.write_kohya(p, d / "kohya.safetensors", seed=1),
        "kohya-ldm": af.write_kohya(p, d / "kohya-ldm.safetensors", ldm=True, resnets=True, seed=2),
        "no-alpha": af.write_kohya(p, d / "no-alpha.safetensors", alpha=None, seed=3, scale=0.15),
        "locon": af.write_kohya(p, d / "locon.safetensors", resnets=True, te=False, seed=4, scale=0.2),
        "loha": af.write_loha(p, d / "loha.safetensors"),
        "loha-tucker": af.write_loha(p, d / "loha-tucker.safetensors", tucker=True, seed=6),
        "lokr": af.write_lokr(p, d / "lokr.safetensors", form="w1"),
        "lokr-w1ab": af.write_lokr(p, d / "lokr-w1ab.safetensors", form="w1ab", seed=7),
        "lokr-full": af.write_lokr(p, d / "lokr-full.safetensors", form="full", seed=8),
        "full": af.write_full(p, d / "full.safetensors"),
        "dora-kohya": af.write_kohya(p, d / "dora-kohya.safetensors", dora="in", seed=9, scale=0.2),
        "dora-out": af.write_kohya(p, d / "dora-out.safetensors", dora="out", seed=10, scale=0.2, te=False),
        "dora-peft": af.write_peft(p, d / "dora-peft.safetensors", dora=True, seed=11),
        "peft": af.write_peft(p, d / "peft.safetensors", seed=12),
        "peft-alpha": af.write_peft(p, d / "peft-alpha.safetensors", seed=14, alpha=8.0),
        "dora-peft-alpha": af.write_peft(p, d / "dora-peft-alpha.safetensors", dora=True, seed=15, alpha=2.0),
        "onetrainer": af.write_kohya(p, d / "onetrainer.safetensors", onetrainer=True, seed=13),
    }


FORMATS = ["kohya", "kohya-ldm", "no-alpha", "locon", "loha", "loha-tucker", "lokr", "lokr-w1ab", "lokr-full",
           "full", "dora-kohya", "dora-out", "dora-peft", "peft", "onetrainer", "peft-alpha", "dora-peft-alpha"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_alone_equals_the_hand_patched_weights(
        fmt: str, files: dict[str, af.AdapterFile], engine: DiffusersEngine, sd15: Path,
        base15: np.ndarray) -> None:
    adapter = files[fmt]
    ours = _image(engine, sd15, LoraSpec(adapter.path, 0.8))
    assert_close(ours, af.expected_image(sd15, [(adapter, 0.8)]), base15)


def test_plain_loras_stay_diffusers_adapters_and_the_rest_is_patched(
        files: dict[str, af.AdapterFile], engine: DiffusersEngine, sd15: Path) -> None:
    engine.load_model(sd15)
    for fmt in ("kohya", "kohya-ldm", "peft", "loha", "dora-peft", "full"):
        engine.ensure_lora(files[fmt].path)
    assert engine.adapter_path_kind(files["kohya"].path) == "peft"
    assert engine.adapter_path_kind(files["kohya-ldm"].path) == "peft"  # LDM names renamed for diffusers
    for fmt in ("loha", "dora-peft", "full"):
        assert engine.adapter_path_kind(files[fmt].path) == "patch"


def test_a_mix_of_formats_with_a_negative_weight_and_slider_moves_without_reload(
        files: dict[str, af.AdapterFile], engine: DiffusersEngine, sd15: Path, base15: np.ndarray) -> None:
    loha, lokr, ldm, kohya = files["loha"], files["lokr"], files["kohya-ldm"], files["kohya"]
    mix = [(loha, 0.7), (lokr, -0.6), (ldm, 0.5), (kohya, 0.4)]
    ours = _image(engine, sd15, *(LoraSpec(a.path, w) for a, w in mix))
    assert_close(ours, af.expected_image(sd15, mix), base15)
    loads = engine.stats.lora_loads
    moved = [(loha, -0.3), (lokr, 0.9), (ldm, 0.2), (kohya, 0.0)]
    ours = _image(engine, sd15, *(LoraSpec(a.path, w) for a, w in moved))
    assert engine.stats.lora_loads == loads  # the files are never read again
    assert_close(ours, af.expected_image(sd15, moved[:3]), base15)
    # Everything off again gives the base model back exactly.
    assert np.array_equal(_image(engine, sd15), base15)


def test_text_encoder_weight_applies_to_text_encoder_layers(
        files: dict[str, af.AdapterFile], engine: DiffusersEngine, sd15: Path, base15: np.ndarray) -> None:
    dora = files["dora-kohya"]  # patched: te weight goes through the patcher
    ours = _image(engine, sd15, LoraSpec(dora.path, 0.9, te_weight=-0.5))
    assert_close(ours, af.expected_image(sd15, [(dora, 0.9)], te_weights={0: -0.5}), base15)


def test_sdxl_kohya_te1_te2_and_lycoris(sdxl: Path, tmp_path: Path, engine: DiffusersEngine) -> None:
    plain = af.load_plain(sdxl)
    base = af.render(plain)
    kohya = af.write_kohya(plain, tmp_path / "xl.safetensors", ldm=True, seed=21,
                           meta={"ss_base_model_version": "sdxl_base_v1-0"})
    loha = af.write_loha(plain, tmp_path / "xl-loha.safetensors", seed=22)
    onetrainer = af.write_kohya(plain, tmp_path / "xl-ot.safetensors", onetrainer=True, seed=23, resnets=True)
    for mix in ([(kohya, 0.8)], [(onetrainer, 0.6)], [(kohya, 0.5), (loha, -0.7), (onetrainer, 0.4)]):
        ours = _image(engine, sdxl, *(LoraSpec(a.path, w) for a, w in mix))
        assert_close(ours, af.expected_image(sdxl, mix), base)


@pytest.mark.parametrize("fmt", ["OFT", "GLoRA", "IA3"])
def test_formats_we_cannot_apply_exactly_are_refused_in_one_sentence(
        fmt: str, tmp_path: Path, engine: DiffusersEngine, sd15: Path, base15: np.ndarray) -> None:
    path = tmp_path / f"{fmt.lower()}.safetensors"
    af.write_refused(path, fmt)
    with pytest.raises(LoraLoadError) as err:
        engine.generate(_request(sd15, (LoraSpec(path, 1.0),)))
    message = str(err.value)
    assert fmt in message
    assert path.name in message
    assert len(message) <= 200
    assert "\n" not in message
    assert not any(word in message for word in ("lora_unet", "down_blocks", "attn1", "to_q"))
    assert np.array_equal(_image(engine, sd15), base15)  # nothing half-applied


def test_an_sdxl_lora_on_an_sd1_model_is_refused_before_loading(
        tmp_path: Path, sdxl: Path, engine: DiffusersEngine, sd15: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "xl-no-metadata.safetensors"
    af.write_kohya(af.load_plain(sdxl), path, ldm=True, seed=31, meta={"note": "no base here"})
    (tmp_path / "xl-no-metadata.json").unlink(missing_ok=True)
    loads = engine.stats.lora_loads
    with caplog.at_level(logging.INFO), pytest.raises(LoraLoadError) as err:
        engine.generate(_request(sd15, (LoraSpec(path, 1.0),)))
    message = str(err.value)
    assert "SDXL" in message, message
    assert "SD 1.x" in message, message
    assert len(message) <= 200
    assert "lora_" not in message
    assert "blocks" not in message
    assert engine.stats.lora_loads == loads
    assert "xl-no-metadata" in caplog.text  # the detail is in the log


def test_a_partial_fit_is_a_warning_and_the_rest_applies(
        tmp_path: Path, plain15: Any, engine: DiffusersEngine, sd15: Path, base15: np.ndarray) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    adapter = af.write_loha(plain15, tmp_path / "partly.safetensors", seed=41)
    sd = load_file(str(adapter.path))
    for i in range(3):  # layers of a module this model does not have
        sd[f"lora_unet_made_up_block_{i}_to_q.hada_w1_a"] = torch.zeros(4, 2)
        sd[f"lora_unet_made_up_block_{i}_to_q.hada_w1_b"] = torch.zeros(2, 4)
        sd[f"lora_unet_made_up_block_{i}_to_q.hada_w2_a"] = torch.zeros(4, 2)
        sd[f"lora_unet_made_up_block_{i}_to_q.hada_w2_b"] = torch.zeros(2, 4)
    save_file(sd, str(adapter.path))
    result = engine.generate(_request(sd15, (LoraSpec(adapter.path, 1.0),)))[0]
    n = len(adapter.layers)
    assert result.warnings == (f"partly.safetensors fits {n} of {n + 3} layers (3 unknown layers ignored).",)
    assert_close(np.asarray(result.image), af.expected_image(sd15, [(adapter, 1.0)]), base15)


def test_an_sdxl_lora_on_an_unnamed_model_is_refused_by_the_fit_check(
        tmp_path: Path, sdxl: Path, sd15: Path, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    unnamed = tmp_path / "some-model"
    shutil.copytree(sd15, unnamed)  # no sidecar: the library cannot name its base
    path = tmp_path / "xl-lora.safetensors"
    adapter = af.write_kohya(af.load_plain(sdxl), path, ldm=True, seed=32, meta={"note": "no base here"})
    engine = DiffusersEngine(device="cpu")
    with caplog.at_level(logging.INFO), pytest.raises(LoraLoadError) as err:
        engine.generate(_request(unnamed, (LoraSpec(path, 1.0),)))
    message = str(err.value)
    n = len(adapter.layers)
    # Toy widths make some layers fit by accident; real SD 1.x and SDXL share none.
    assert re.fullmatch(rf"xl-lora\.safetensors was made for SDXL: \d+ of {n} layers fit this SD 1\.x model\.",
                        message), message
    assert "xl-lora" in caplog.text
    assert engine.stats.lora_loads == 0
