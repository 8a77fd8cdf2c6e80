"""A1111 infotext: what we write reads back the same, and what other tools write reads correctly."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.metadata.infotext import (
    Infotext,
    format_infotext,
    parse_infotext,
    read_image_parameters,
    read_png_text,
)

# -- round trip --------------------------------------------------------------------------------

ROUND_TRIPS = [
    Infotext(
        "a lighthouse at dusk, inkwash style",
        "blurry, lowres",
        {"Steps": "20", "Sampler": "Euler a", "CFG scale": "7", "Seed": "1234", "Size": "512x768"},
    ),
    Infotext(
        "first line of the prompt,\nsecond line: with a colon\n\nfourth line after a blank",
        "neg one\nneg two",
        {
            "Steps": "30",
            "Sampler": "DPM++ 2M",
            "Schedule type": "Karras",
            "CFG scale": "6.5",
            "Seed": "7",
            "Size": "1024x1024",
        },
    ),
    Infotext(
        "日本の灯台, 水墨画 — «ünïcödé» ✨",
        "",
        {
            "Steps": "8",
            "Sampler": "DDIM",
            "CFG scale": "4",
            "Seed": "0",
            "Size": "64x64",
            "Model": "モデル: v2, final",
            "Lora hashes": "Ink Wash: 0123456789ab, Neon Glow: ba9876543210",
            "Lora weights": "Ink Wash: 0.6, Neon Glow: -0.25",
        },
    ),
    Infotext(
        'quotes "inside" and a trailing backslash \\',
        "",
        {
            "Steps": "1",
            "Seed": "2",
            "Size": "8x8",
            "Comment": '"starts with a quote"',
            "Note": "  padded  ",
            "Odd": 'a \\" b, c',
            "Tab": "x\ty",
            "Hashes": '{"model": "0123456789", "lora:ink": "abcdefabcd"}',
        },
    ),
]


@pytest.mark.parametrize("info", ROUND_TRIPS, ids=["plain", "multiline", "unicode", "quoting"])
def test_written_infotext_reads_back_the_same(info: Infotext) -> None:
    text = format_infotext(info)
    assert parse_infotext(text) == info


def test_written_layout_is_a1111s() -> None:
    text = format_infotext(ROUND_TRIPS[2])
    lines = text.split("\n")
    assert lines[0] == "日本の灯台, 水墨画 — «ünïcödé» ✨"
    assert not any(line.startswith("Negative prompt:") for line in lines), "no empty negative line, like A1111"
    assert 'Model: "モデル: v2, final"' in lines[-1]
    assert 'Lora hashes: "Ink Wash: 0123456789ab, Neon Glow: ba9876543210"' in lines[-1]


def test_json_object_values_are_written_raw_like_a1111() -> None:
    text = format_infotext(ROUND_TRIPS[3])
    assert 'Hashes: {"model": "0123456789", "lora:ink": "abcdefabcd"}' in text


# -- what other tools write ---------------------------------------------------------------------

A1111_RECENT = (
    "masterpiece, 1girl, watercolor <lora:ink_wash_v2:0.7> <lora:neonGlow:0.4:0.9>,\n"
    "(detailed background:1.2), city at night\n"
    "Negative prompt: worst quality, (lowres:1.3), \n"
    "bad hands\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3360219876, "
    "Size: 832x1216, Model hash: 7f96a1a9ca, Model: animagineXL_v31, VAE hash: 235745af8d, VAE: sdxl_vae.safetensors, "
    "Denoising strength: 0.4, Clip skip: 2, "
    "Hires upscale: 1.5, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+ Anime6B, "
    'Lora hashes: "ink_wash_v2: 1a2b3c4d5e6f, neonGlow: abcdef012345", '
    'TI hashes: "EasyNegative: c74b4e810b03", Emphasis: Original, Version: v1.10.1'
)

A1111_NO_NEGATIVE = (
    "a cat sitting on a windowsill, <lora:catStyle:1>\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, "
    'Model: v1-5-pruned-emaonly, Lora hashes: "catStyle: 0f0e0d0c0b0a", Version: v1.6.0'
)

FOOOCUS_A1111_SCHEME = (
    "cinematic still, a fox in the snow, highly detailed, sharp focus\n"
    "Negative prompt: unrealistic, saturated, high contrast, big nose\n"
    "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 1234567, Size: 1152x896, CFG scale: 4, Sharpness: 2, "
    'ADM Guidance: "(1.5, 0.8, 0.3)", Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, '
    "Performance: Speed, Scheduler: karras, VAE: Default (model), Raw prompt: a fox in the snow, "
    "Raw negative prompt: , "
    'Lora hashes: "sd_xl_offset_example-lora_1.0: 4852686128, fox_fur_v1.5: 9a8b7c6d5e", '
    'Lora weights: "sd_xl_offset_example-lora_1.0: 0.1, fox_fur_v1.5: 0.75", Version: Fooocus v2.5.5'
)

STABILITY_MATRIX = (
    "portrait of an astronaut, oil painting\n"
    "Negative prompt: \n"
    "Steps: 25, Sampler: Euler, CFG scale: 7, Seed: 99, Size: 768x768, Model hash: 0123456789, Model: dreamshaper_8"
)

CIVITAI_EXTENSION = (
    "forest spirit, glowing eyes\n"
    "Negative prompt: blurry\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 512x768, Model hash: 6ce0161689, "
    'Model: v1-5-pruned-emaonly, Hashes: {"model": "6ce0161689", "lora:spirit_glow": "5e4d3c2b1a", '
    '"embed:EasyNegative": "c74b4e810b"}, Civitai resources: [{"type":"lora","weight":0.8,"modelVersionId":123}], '
    "Version: v1.7.0"
)


def test_recent_a1111_with_everything() -> None:
    info = parse_infotext(A1111_RECENT)
    assert info.prompt.startswith("masterpiece, 1girl, watercolor <lora:ink_wash_v2:0.7>")
    assert info.prompt.endswith("city at night")
    assert info.negative_prompt == "worst quality, (lowres:1.3), \nbad hands"
    assert info.params["Sampler"] == "DPM++ 2M"
    assert info.params["Schedule type"] == "Karras"
    assert info.get_int("Seed") == 3360219876
    assert info.get_float("CFG scale") == 6.5
    assert info.size == (832, 1216)
    assert info.get_int("Clip skip") == 2
    assert info.params["Hires upscaler"] == "R-ESRGAN 4x+ Anime6B"
    assert info.lora_hashes == {"ink_wash_v2": "1a2b3c4d5e6f", "neonGlow": "abcdef012345"}
    assert info.params["TI hashes"] == "EasyNegative: c74b4e810b03"
    assert info.params["Version"] == "v1.10.1"


def test_a1111_without_negative_prompt() -> None:
    info = parse_infotext(A1111_NO_NEGATIVE)
    assert info.prompt == "a cat sitting on a windowsill, <lora:catStyle:1>"
    assert info.negative_prompt == ""
    assert info.lora_hashes == {"catStyle": "0f0e0d0c0b0a"}
    assert info.params["Model"] == "v1-5-pruned-emaonly"


def test_fooocus_a1111_scheme_with_10_hex_hashes_and_weights() -> None:
    info = parse_infotext(FOOOCUS_A1111_SCHEME)
    assert info.negative_prompt == "unrealistic, saturated, high contrast, big nose"
    assert info.params["ADM Guidance"] == "(1.5, 0.8, 0.3)"
    assert info.params["Raw negative prompt"] == ""
    assert info.lora_hashes == {"sd_xl_offset_example-lora_1.0": "4852686128", "fox_fur_v1.5": "9a8b7c6d5e"}
    assert info.lora_weights == {"sd_xl_offset_example-lora_1.0": 0.1, "fox_fur_v1.5": 0.75}
    assert info.size == (1152, 896)


def test_stability_matrix_empty_negative_line() -> None:
    info = parse_infotext(STABILITY_MATRIX)
    assert info.prompt == "portrait of an astronaut, oil painting"
    assert info.negative_prompt == ""
    assert info.get_int("Steps") == 25


def test_civitai_hashes_json_is_read_whole() -> None:
    info = parse_infotext(CIVITAI_EXTENSION)
    assert info.hashes == {"model": "6ce0161689", "lora:spirit_glow": "5e4d3c2b1a", "embed:EasyNegative": "c74b4e810b"}
    assert info.params["Civitai resources"].startswith('[{"type":"lora"')
    assert info.params["Version"] == "v1.7.0"  # the pairs after the JSON still parse


def test_prompt_only_text_is_not_mistaken_for_parameters() -> None:
    info = parse_infotext("style: ink, mood: calm")  # only two pairs: A1111 keeps it as prompt
    assert info.prompt == "style: ink, mood: calm"
    assert info.params == {}


def test_windows_line_endings() -> None:
    info = parse_infotext(A1111_NO_NEGATIVE.replace("\n", "\r\n"))
    assert info.prompt == "a cat sitting on a windowsill, <lora:catStyle:1>"
    assert info.params["Version"] == "v1.6.0"


def test_damaged_values_do_not_crash() -> None:
    info = parse_infotext('p\nSteps: x, Seed: 1e99999, Size: big, Hashes: {"broken": , Lora hashes: "a"')
    assert info.get_int("Steps") is None
    assert info.get_int("Seed") is None
    assert info.size is None
    assert info.hashes == {}
    assert info.lora_hashes == {}


# -- reading images -----------------------------------------------------------------------------


def _png(path: Path, text: str | None, *, itxt: bool = False, compressed: bool = False) -> Path:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    if text is not None:
        if itxt:
            meta.add_itxt("parameters", text, zip=compressed)
        else:
            meta.add_text("parameters", text, zip=compressed)
    Image.new("RGB", (24, 16), (10, 20, 30)).save(path, pnginfo=meta)
    return path


@pytest.mark.parametrize(
    ("itxt", "compressed"),
    [(False, False), (False, True), (True, False), (True, True)],
    ids=["tEXt", "zTXt", "iTXt", "iTXt-zip"],
)
def test_png_parameters_in_every_text_chunk_kind(tmp_path: Path, itxt: bool, compressed: bool) -> None:
    text = A1111_RECENT if not itxt else "日本の灯台\nSteps: 1, Seed: 2, Size: 24x16"
    path = _png(tmp_path / "a.png", text, itxt=itxt, compressed=compressed)
    assert read_image_parameters(path) == text
    png = read_png_text(path)
    assert (png.width, png.height) == (24, 16)


def test_png_without_parameters(tmp_path: Path) -> None:
    assert read_image_parameters(_png(tmp_path / "plain.png", None)) is None


def test_text_chunk_after_the_pixels_is_found(tmp_path: Path) -> None:
    import struct
    import zlib

    path = _png(tmp_path / "late.png", None)
    raw = path.read_bytes()
    body = b"parameters\0late prompt\nSteps: 3, Seed: 4, Size: 24x16"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    iend = raw.rindex(b"IEND") - 4
    path.write_bytes(raw[:iend] + chunk + raw[iend:])
    assert read_image_parameters(path) == "late prompt\nSteps: 3, Seed: 4, Size: 24x16"


def test_jpeg_exif_user_comment_as_a1111_writes_it(tmp_path: Path) -> None:
    from PIL import Image

    text = "a jpeg\nSteps: 5, Seed: 6, Size: 24x16"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    path = tmp_path / "a.jpg"
    Image.new("RGB", (24, 16)).save(path, exif=exif)
    assert read_image_parameters(path) == text


def test_not_an_image(tmp_path: Path) -> None:
    bad = tmp_path / "fake.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 3)
    with pytest.raises(ValueError, match="header"):
        read_png_text(bad)
