"""Restoring prompt, settings and the LoRA mix from an image's parameters."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.restore import (
    LibraryLora,
    plan_from_text,
    read_plan,
    resolve_model,
)
from lorastudio.core.errors import ImageMetadataError
from lorastudio.core.metadata.hashes import hash_file

INK_SHA = "aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa7777bbbb8888"
INK_ADDNET = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
NEON_SHA = "4852686128ffffffffffffffffffffffffffffffffffffffffffffffffffffff"

LIBRARY: list[LibraryLora] = [
    (Path("/loras/ink-wash-renamed.safetensors"), "Ink Wash", INK_SHA, INK_ADDNET),
    (Path("/loras/sd_xl_offset_example-lora_1.0.safetensors"), "sd_xl_offset_example-lora_1.0", NEON_SHA, None),
    (Path("/loras/paper-cut.safetensors"), "Paper Cut", None, None),
]


def test_a1111_resolves_by_12_hex_addnet_hash_even_when_the_name_differs() -> None:
    text = (
        "a temple <lora:inkwash_v3:0.6> <lora:paper-cut:0.3:0.9>\n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 77, Size: 512x768, "
        'Clip skip: 2, Lora hashes: "inkwash_v3: 0123456789ab, paper-cut: 999999999999", Version: v1.10.1'
    )
    plan = plan_from_text(text, LIBRARY)
    assert plan.prompt == "a temple"
    assert (plan.steps, plan.cfg, plan.seed, plan.width, plan.height, plan.clip_skip) == (28, 6.5, 77, 512, 768, 2)
    assert plan.sampler == "DPM++ 2M Karras"
    ink, paper = plan.loras
    assert (ink.path, ink.matched_by, ink.weight, ink.name) == (LIBRARY[0][0], "hash", 0.6, "Ink Wash")
    # The hash is unknown here, so the name decides; A1111's te:unet order is kept.
    assert (paper.path, paper.matched_by, paper.weight, paper.te_weight) == (LIBRARY[2][0], "name", 0.9, 0.3)
    assert plan.missing == ()
    assert [s.path for s in plan.mix.specs] == [LIBRARY[0][0], LIBRARY[2][0]]


def test_fooocus_resolves_by_10_hex_full_file_hash_and_reports_missing() -> None:
    text = (
        "a fox in the snow\nNegative prompt: saturated\n"
        "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 1234567, Size: 1152x896, CFG scale: 4, Sharpness: 2, "
        "Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Performance: Speed, Scheduler: karras, "
        "Raw prompt: a fox in the snow, Raw negative prompt: saturated, "
        'Lora hashes: "offset-v1.0: 4852686128, fox_fur_v1.5: 9a8b7c6d5e", '
        'Lora weights: "offset-v1.0: 0.1, fox_fur_v1.5: 0.75", Version: Fooocus v2.5.5'
    )
    plan = plan_from_text(text, LIBRARY)
    assert plan.source == "Fooocus"
    assert plan.sampler == "DPM++ 2M SDE Karras"
    offset, fur = plan.loras
    assert (offset.path, offset.matched_by, offset.weight) == (LIBRARY[1][0], "hash", 0.1)
    assert fur.path is None
    assert fur.weight == 0.75
    assert plan.missing == ("fox_fur_v1.5",)
    assert "Not in your library: fox_fur_v1.5." in plan.summary()


def test_fooocus_json_scheme() -> None:
    data = {
        "prompt": "a fox",
        "negative_prompt": "",
        "steps": 30,
        "guidance_scale": 4,
        "seed": "12345",
        "resolution": "(1152, 896)",
        "sampler": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "base_model": "juggernautXL_v8Rundiffusion.safetensors",
        "base_model_hash": "aeb7e9e689",
        "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"], ["gone_v2", 0.5, "0000011111"]],
        "version": "Fooocus v2.5.5",
        "metadata_scheme": "fooocus",
    }
    plan = plan_from_text(json.dumps(data), LIBRARY)
    assert (plan.prompt, plan.steps, plan.cfg, plan.seed, plan.width, plan.height) == (
        "a fox",
        30,
        4.0,
        12345,
        1152,
        896,
    )
    assert plan.sampler == "DPM++ 2M SDE Karras"
    assert plan.model_name == "juggernautXL_v8Rundiffusion"
    assert [lo.matched_by for lo in plan.loras] == ["hash", ""]
    assert plan.missing == ("gone_v2",)


def test_civitai_hashes_json_resolves_loras() -> None:
    text = (
        "forest spirit <lora:spirit:0.8>\nNegative prompt: blurry\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x768, "
        'Hashes: {"model": "6ce0161689", "lora:spirit": "aaaa1111bb"}, Version: v1.7.0'
    )
    plan = plan_from_text(text, LIBRARY)
    assert [(lo.path, lo.matched_by, lo.weight) for lo in plan.loras] == [(LIBRARY[0][0], "hash", 0.8)]
    assert plan.model_hash == "6ce0161689"


def test_name_fallback_is_case_insensitive_and_ignores_folders() -> None:
    plan = plan_from_text("x <lora:styles\\PAPER-CUT:0.5>\nSteps: 1, Seed: 2, Size: 64x64", LIBRARY)
    assert [(lo.path, lo.matched_by) for lo in plan.loras] == [(LIBRARY[2][0], "name")]


def test_unknown_sampler_is_kept_out_with_a_note() -> None:
    plan = plan_from_text("x\nSteps: 1, Sampler: LCM, Seed: 2, Size: 64x64", [])
    assert plan.sampler is None
    assert "LCM" in plan.summary()


def test_missing_values_stay_none_and_text_without_parameters_is_a_prompt() -> None:
    plan = plan_from_text("just a prompt, nothing else", [])
    assert plan.prompt == "just a prompt, nothing else"
    assert (plan.steps, plan.seed, plan.cfg, plan.width, plan.sampler) == (None, None, None, None, None)


def test_resolve_model_by_hash_then_name(tmp_path: Path) -> None:
    plan = plan_from_text("x\nSteps: 1, Seed: 2, Size: 64x64, Model hash: 7f96a1a9ca, Model: animagine", [])
    models = [
        (Path("/m/a.safetensors"), "a", "7f96a1a9ca" + "0" * 54),
        (Path("/m/animagine.safetensors"), "animagine", None),
    ]
    assert resolve_model(plan, models) == Path("/m/a.safetensors")
    assert resolve_model(plan, models[1:]) == Path("/m/animagine.safetensors")
    assert resolve_model(plan, []) is None


# -- our own PNGs, end to end -------------------------------------------------------------------


def _safetensors(path: Path, title: str, fill: int) -> Path:
    header = json.dumps(
        {"__metadata__": {"ss_output_name": title}, "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes([fill]) * 16)
    return path


def test_our_png_restores_prompt_settings_and_mix(tmp_path: Path) -> None:
    from PIL import Image

    ink = _safetensors(tmp_path / "demo-ink-wash.safetensors", "ink", 1)
    neon = _safetensors(tmp_path / "demo-neon-glow.safetensors", "neon", 2)
    request = GenerationRequest(
        model=tmp_path / "demo-tiny-sd15",
        prompt="a lighthouse, «dusk»\nsecond line: calm",
        negative_prompt="blurry, lowres",
        seed=0,
        steps=12,
        cfg=5.5,
        width=128,
        height=64,
        sampler="DPM++ 2M Karras",
        clip_skip=2,
        loras=(
            LoraSpec(ink, 0.6, name="Ink Wash"),
            LoraSpec(neon, -0.4, name="Neon Glow"),
            LoraSpec(neon, 1.0, enabled=False, name="Off"),
        ),
    )
    png = save_png(Image.new("RGB", (128, 64)), request, 4242, tmp_path / "out")

    # The library knows the LoRAs under other file names: the hashes find them.
    moved_ink, moved_neon = tmp_path / "lib-a.safetensors", tmp_path / "lib-b.safetensors"
    moved_ink.write_bytes(ink.read_bytes())
    moved_neon.write_bytes(neon.read_bytes())
    library = [
        (moved_neon, "Neon", hash_file(moved_neon).sha256, hash_file(moved_neon).addnet),
        (moved_ink, "Ink", hash_file(moved_ink).sha256, hash_file(moved_ink).addnet),
    ]
    plan = read_plan(png, library)
    assert plan.source == "LoRA Studio"
    assert plan.prompt == request.prompt
    assert plan.negative_prompt == request.negative_prompt
    assert (plan.seed, plan.steps, plan.cfg, plan.width, plan.height, plan.sampler, plan.clip_skip) == (
        4242,
        12,
        5.5,
        128,
        64,
        "DPM++ 2M Karras",
        2,
    )
    assert [(s.path, s.weight) for s in plan.mix.specs] == [(moved_ink, 0.6), (moved_neon, -0.4)]
    assert all(lo.matched_by == "hash" for lo in plan.loras)
    assert plan.model_name == "demo-tiny-sd15"

    # With an empty library every LoRA is reported missing, by the name it was saved under.
    assert read_plan(png, []).missing == ("demo-ink-wash", "demo-neon-glow")  # tags name the files, as in A1111


def test_images_without_parameters_or_broken_files_are_refused_clearly(tmp_path: Path) -> None:
    from PIL import Image

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    with pytest.raises(ImageMetadataError, match="no generation parameters"):
        read_plan(plain)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(ImageMetadataError, match=r"broken\.png"):
        read_plan(broken)
