"""Per-block weights (LoRA Block Weight), start/stop steps, the prompt tag, the infotext and the CLI,
each against weights patched by hand (tests/helpers/adapter_files.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from lorastudio.cli import main
from lorastudio.core.engine.blocks import parse_blocks, presets
from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.mix import LoraMix, extract_prompt_loras
from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.restore import read_plan
from lorastudio.core.types import BaseArch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
import adapter_files as af

MID_OUT = "1,0,0,0,0,0,0,1,1,1,1,1,1,1,1,1,1"  # BASE, M00 and OUT03-OUT11 on; every IN block off


def _request(model: Path, *loras: LoraSpec) -> GenerationRequest:
    return GenerationRequest(model=model, prompt=af.PROMPT, negative_prompt=af.NEGATIVE, loras=tuple(loras),
                             seed=af.SEED, steps=af.STEPS, cfg=af.CFG, width=af.SIZE, height=af.SIZE)


def _close(ours: np.ndarray, expected: np.ndarray, base: np.ndarray) -> None:
    assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 2
    assert np.abs(expected.astype(int) - base.astype(int)).mean() > 1.0


@pytest.fixture(scope="module")
def sd15(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> Path:
    return af.build_sd15_like(tmp_path_factory.mktemp("sd15b") / "tiny-sd15")


@pytest.fixture(scope="module")
def plain(sd15: Path) -> Any:
    return af.load_plain(sd15)


@pytest.fixture(scope="module")
def base(plain: Any) -> np.ndarray:
    return af.render(plain)


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine(device="cpu")


def _mid_out_only(layer: af.HandLayer, index: int = 0) -> float:
    # MID_OUT lists M00 and OUT03-OUT11; LBW gives the blocks a 17-value vector does not list
    # (IN00, IN03, IN06, IN09-IN11, OUT00-OUT02: up_blocks.0 on SD 1.5) weight 0.
    return 0.0 if layer.module.startswith(("down_blocks.", "up_blocks.0.")) else 1.0


def _outall(layer: af.HandLayer, index: int = 0) -> float:
    # OUTALL keeps BASE and OUT03-OUT11. LBW expands a 17-value vector to 26 with 0 for the blocks it
    # does not list, so up_blocks.0 (OUT00-OUT02) is off as well as every IN block and the middle.
    if layer.component != "unet":
        return 1.0
    return 0.0 if layer.module.startswith(("down_blocks.", "mid_block.", "up_blocks.0.")) else 1.0


def test_zeroing_the_in_blocks_equals_patching_only_mid_and_out_layers(
        tmp_path: Path, plain: Any, sd15: Path, base: np.ndarray, engine: DiffusersEngine) -> None:
    kohya = af.write_kohya(plain, tmp_path / "style.safetensors", seed=51)
    full = _image(engine, sd15, LoraSpec(kohya.path, 0.9))
    assert engine.adapter_path_kind(kohya.path) == "peft"
    vector = parse_blocks(MID_OUT, BaseArch.SD1)
    ours = _image(engine, sd15, LoraSpec(kohya.path, 0.9, blocks=vector))
    assert engine.adapter_path_kind(kohya.path) == "patch"  # moved off diffusers' adapters
    _close(ours, af.expected_image(sd15, [(kohya, 0.9)], multiplier=_mid_out_only), base)
    assert not np.array_equal(ours, full)


def test_a_preset_on_ldm_locon_follows_lbw_block_ids(
        tmp_path: Path, plain: Any, sd15: Path, base: np.ndarray, engine: DiffusersEngine) -> None:
    locon = af.write_kohya(plain, tmp_path / "locon-ldm.safetensors", ldm=True, resnets=True, seed=52)
    ours = _image(engine, sd15, LoraSpec(locon.path, 0.8, blocks=presets(BaseArch.SD1)["OUTALL"]))
    _close(ours, af.expected_image(sd15, [(locon, 0.8)], multiplier=_outall), base)


def test_block_at_zero_leaves_layers_as_the_base_model_has_them(
        tmp_path: Path, plain: Any, sd15: Path, base: np.ndarray, engine: DiffusersEngine) -> None:
    loha = af.write_loha(plain, tmp_path / "loha.safetensors", seed=53)
    none = presets(BaseArch.SD1)["NONE"]
    assert np.array_equal(_image(engine, sd15, LoraSpec(loha.path, 1.0, blocks=none)), base)


def _image(engine: DiffusersEngine, model: Path, *loras: LoraSpec) -> np.ndarray:
    return np.asarray(engine.generate(_request(model, *loras))[0].image)


def test_start_and_stop_switch_weights_at_step_boundaries(
        tmp_path: Path, plain: Any, sd15: Path, base: np.ndarray, engine: DiffusersEngine) -> None:

    loha = af.write_loha(plain, tmp_path / "early.safetensors", seed=54)  # patched: re-patch per step
    kohya = af.write_kohya(plain, tmp_path / "late.safetensors", seed=55)  # PEFT: set_adapters per step
    ours = _image(engine, sd15, LoraSpec(loha.path, 1.0, stop=0.5), LoraSpec(kohya.path, 0.8, start=0.34))

    # By hand: 3 steps; LoHa on for steps 0 and 1 (0/3, 1/3 < 0.5), the LoRA's UNet part on for step 2
    # (2/3 >= 0.34). The text encoder runs once, before the first step, with the LoRA's te part on.
    ref = af.load_plain(sd15)
    unet0 = {k: v.clone() for k, v in ref.unet.state_dict().items()}
    mix = [(loha, 1.0), (kohya, 0.8)]

    def at_step(step: int, with_te: bool) -> None:
        ref.unet.load_state_dict(unet0)
        on = [step / af.STEPS < 0.5, step / af.STEPS >= 0.34]

        def mult(layer: af.HandLayer, adapter: int) -> float:
            if layer.component != "unet":
                return 1.0 if with_te else 0.0
            return 1.0 if on[adapter] else 0.0

        af.hand_patch(ref, mix, multiplier=mult)

    at_step(0, with_te=True)
    expected = af.render(ref, on_step=lambda done: at_step(done, with_te=False) if done < af.STEPS else None)
    _close(ours, expected, base)


def test_lbw_and_start_round_trip_through_the_prompt_tag_and_the_infotext(
        tmp_path: Path, plain: Any, sd15: Path, engine: DiffusersEngine) -> None:
    lokr = af.write_lokr(plain, tmp_path / "ink.safetensors", seed=56)
    custom = parse_blocks("1,0.5,0,0,0,0,0,1,1,1,1,1,1,1,1,1,0.25", BaseArch.SD1)
    spec = LoraSpec(lokr.path, 0.7, blocks=presets(BaseArch.SD1)["OUTD"], start=0.2)
    other = LoraSpec(tmp_path / "other.safetensors", -0.5, te_weight=0.3, blocks=custom, stop=0.75)
    tags = LoraMix((spec, other)).to_prompt_syntax()
    assert tags == ("<lora:ink:0.7:lbw=OUTD:start=0.2> "
                    "<lora:other:0.3:-0.5:lbw=1,0.5,0,0,0,0,0,1,1,1,1,1,1,1,1,1,0.25:stop=0.75>")
    _, parsed = extract_prompt_loras(f"a cat {tags}")
    assert [(t.weight, t.te_weight, t.blocks_vector(), t.start, t.stop) for t in parsed] == [
        (0.7, None, spec.blocks, 0.2, 1.0), (-0.5, 0.3, custom, 0.0, 0.75)]

    request = _request(sd15, spec)
    result = engine.generate(request)[0]
    png = save_png(result.image, request, result.seed, tmp_path / "out")
    plan = read_plan(png, [(lokr.path, "ink", None, None)])
    restored = plan.mix.specs
    assert len(restored) == 1
    assert (restored[0].path, restored[0].weight, restored[0].blocks, restored[0].start) == (
        lokr.path, 0.7, spec.blocks, 0.2)
    # and the restored row gives the same picture
    again = engine.generate(_request(sd15, *restored))[0]
    assert np.array_equal(np.asarray(again.image), np.asarray(result.image))


def test_cli_generate_with_lora_options_equals_the_hand_patched_mix(
        tmp_path: Path, plain: Any, sd15: Path, base: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    ldm = af.write_kohya(plain, tmp_path / "ldm.safetensors", ldm=True, resnets=True, seed=57)
    loha = af.write_loha(plain, tmp_path / "loha-t.safetensors", tucker=True, seed=58)
    dora = af.write_peft(plain, tmp_path / "dora.safetensors", dora=True, seed=59)
    out = tmp_path / "cli.png"
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(sd15),
                 "--lora", f"{ldm.path}:0.6:lbw={MID_OUT}", "--lora", f"{loha.path}:-0.7",
                 "--lora", f"{dora.path}:0.5:te=0", "--prompt", af.PROMPT, "--negative", af.NEGATIVE,
                 "--seed", str(af.SEED), "--steps", str(af.STEPS), "--cfg", str(af.CFG),
                 "--width", str(af.SIZE), "--height", str(af.SIZE), "--out", str(out), "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    ours = np.asarray(Image.open(out).convert("RGB"))

    def mult(layer: af.HandLayer, index: int) -> float:
        return 1.0 if layer.component != "unet" or index != 0 else _mid_out_only(layer)

    ref = af.load_plain(sd15)
    af.hand_patch(ref, [(ldm, 0.6), (loha, -0.7), (dora, 0.5)], te_weights={2: 0.0}, multiplier=mult)
    _close(ours, af.render(ref), base)
    assert f"lbw={MID_OUT}" in Image.open(out).text["parameters"]


@pytest.mark.parametrize(("arg", "word"), [
    ("{f}:0.5:lbw=1,2,3", "17 values"), ("{f}:0.5:lbw=SIDEWAYS", "preset"), ("{f}:0.5:start=2", "start"),
    ("{f}:0.5:start=0.8:stop=0.2", "before stop"), ("{f}:0.5:color=red", "Unknown LoRA option")])
def test_cli_bad_lora_options_exit_1_with_one_sentence(
        arg: str, word: str, tmp_path: Path, sd15: Path, plain: Any, capsys: pytest.CaptureFixture[str]) -> None:
    f = af.write_kohya(plain, tmp_path / "x.safetensors", seed=60, te=False).path
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(sd15),
                 "--lora", arg.format(f=f), "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ")
    assert word in err[-1]
    assert len(err[-1]) <= 207
    assert "Traceback" not in "\n".join(err)


@pytest.mark.parametrize("fmt", ["OFT", "GLoRA", "IA3"])
def test_cli_refuses_formats_it_cannot_apply_with_one_sentence_and_the_detail_in_the_log(
        fmt: str, tmp_path: Path, sd15: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lorastudio.core.paths import data_dir

    path = tmp_path / f"{fmt.lower()}-style.safetensors"
    af.write_refused(path, fmt)
    home = tmp_path / "home"
    code = main(["--data-dir", str(home), "generate", "--model", str(sd15), "--lora", f"{path}:0.8",
                 "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64", "--device", "cpu"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"error: {path.name} is a {fmt} adapter, which LoRA Studio cannot apply exactly, "
                       "so it is not loaded.")
    assert "Traceback" not in "\n".join(err)
    logged = "\n".join(p.read_text("utf-8") for p in data_dir(home).logs.glob("*.log*"))
    assert "lora_unet_down_blocks_0_attentions_0" in logged  # the layer names are in the log only
