"""Hostile and broken safetensors files: each is refused with a readable reason, quickly."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from model_files import kohya_sd15, raw_safetensors, write

from lorastudio.core.errors import BadModelFile
from lorastudio.core.metadata.detect import inspect_file
from lorastudio.core.metadata.safetensors_header import read_header

GOOD_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def test_reads_names_shapes_and_metadata(tmp_path: Path) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15(), {"ss_network_dim": "4"})
    header = read_header(path)
    assert header.metadata == {"ss_network_dim": "4"}
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"
    assert header.tensors[key].shape == (4, 768)
    assert len(header.tensors) == 792


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("zero", lambda p: p.write_bytes(b""), "empty"),
        ("short", lambda p: p.write_bytes(b"\x01\x02\x03"), "only 3 bytes"),
        ("past_end", lambda p: raw_safetensors(p, {"a": GOOD_ENTRY}, b"\0" * 8, header_len=5000), "truncated"),
        ("huge_claim", lambda p: p.write_bytes(struct.pack("<Q", 100 * 1024**3) + b"{}"), "100.0 GB"),
        ("not_json", lambda p: raw_safetensors(p, b"{not json at all}"), "not valid JSON"),
        ("not_utf8", lambda p: raw_safetensors(p, b'{"\xff\xfe": 1}'), "not UTF-8"),
        ("not_object", lambda p: raw_safetensors(p, b"[1, 2, 3]"), "not a JSON object"),
        ("bad_meta", lambda p: raw_safetensors(p, {"__metadata__": {"a": 1}}), "map text to text"),
        (
            "unknown_dtype",
            lambda p: raw_safetensors(p, {"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
            "unknown dtype",
        ),
        (
            "out_of_range",
            lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
            "outside the file",
        ),
        (
            "overlap",
            lambda p: raw_safetensors(
                p,
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                },
                b"\0" * 12,
            ),
            "overlap",
        ),
        (
            "gap",
            lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8),
            "gap",
        ),
        (
            "shape_mismatch",
            lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
            "do not match",
        ),
        (
            "negative_dim",
            lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
            "malformed shape",
        ),
        ("trailing", lambda p: raw_safetensors(p, {"a": GOOD_ENTRY}, b"\0" * 12), "unexplained bytes"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, name: str, make, reason: str) -> None:
    path = tmp_path / f"{name}.safetensors"
    make(path)
    with pytest.raises(BadModelFile, match=reason) as err:
        read_header(path)
    assert path.name in str(err.value)
    info = inspect_file(path, full=True)  # the same file at import: a status, not an exception
    assert info.status == "error"
    assert reason in info.error
    assert inspect_file(path).status in ("ok", "error")  # browsing: never an exception either


def test_header_over_browse_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:  # a sparse 20 MB file whose header claims 17 MB
        f.write(struct.pack("<Q", 17 * 1024 * 1024))
        f.truncate(20 * 1024 * 1024)
    with pytest.raises(BadModelFile, match=r"more than the 16\.0 MB allowed"):
        read_header(path)


def test_very_long_tensor_names_are_shortened_in_errors(tmp_path: Path) -> None:
    name = "x" * 5000
    path = raw_safetensors(
        tmp_path / "long.safetensors", {name: {"dtype": "BAD", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
    )
    with pytest.raises(BadModelFile) as err:
        read_header(path)
    assert len(str(err.value)) < 300


BROWSE_REFUSED = {
    "lying length": (lambda p: raw_safetensors(p, {"a": GOOD_ENTRY}, b"\0" * 8, header_len=2**40), "claims"),
    "overrun": (lambda p: raw_safetensors(p, {"a": GOOD_ENTRY}, b"\0" * 4), "outside the file"),
    "trailing bytes": (lambda p: raw_safetensors(p, {"a": GOOD_ENTRY}, b"\0" * 12), "unexplained bytes"),
    "deep JSON": (lambda p: raw_safetensors(p, b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}"), "not valid JSON"),
    "no offsets": (lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "offsets"),
    "float offsets": (
        lambda p: raw_safetensors(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8.0]}}, b"\0" * 8),
        "offsets",
    ),
}
LOAD_REFUSED = {
    "unknown dtype": ({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, 8, "unknown dtype"),
    "shape vs size": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8, "do not match"),
    "huge zero-size dim": ({"a": {"dtype": "F32", "shape": [10**19, 0], "data_offsets": [0, 0]}}, 0, "impossible"),
    "overlap and gap": (
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            "c": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
            "d": {"dtype": "F32", "shape": [1], "data_offsets": [20, 24]},
        },
        24,
        "overlap",
    ),
}


@pytest.mark.parametrize("case", list(BROWSE_REFUSED))
def test_hostile_files_are_refused_at_browse_time(tmp_path: Path, case: str) -> None:
    make, reason = BROWSE_REFUSED[case]
    path = make(tmp_path / "bad.safetensors")
    with pytest.raises(BadModelFile, match=reason):
        read_header(path, full=False)
    info = inspect_file(path)
    assert info.status == "error"
    assert reason in info.error


@pytest.mark.parametrize("case", list(LOAD_REFUSED))
def test_per_tensor_problems_are_found_before_load_or_import(tmp_path: Path, case: str) -> None:
    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.library.importer import import_path
    from lorastudio.core.paths import DataDir

    header, size, reason = LOAD_REFUSED[case]
    path = raw_safetensors(tmp_path / "bad.safetensors", header, b"\0" * size)
    browsed = read_header(path, full=False)  # cheap checks pass: the library lists it ...
    assert not browsed.validated
    assert len(browsed) == len(header)
    with pytest.raises(BadModelFile, match=reason):  # ... the load-time reader does not
        read_header(path)
    data = DataDir(tmp_path / "data").ensure()
    with Catalog(data.catalog_db) as catalog, pytest.raises(BadModelFile, match=reason):
        import_path(data, catalog, path)
    assert not any(data.models.rglob("*.safetensors"))


def test_browse_and_full_headers_describe_a_lora_the_same(tmp_path: Path) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15(), {"ss_network_dim": "4"})
    browsed, full = read_header(path, full=False), read_header(path)
    assert full.validated
    assert not browsed.validated
    assert browsed.tensors == full.tensors
    assert browsed.dims(["lora_unet_mid_block_attentions_0_proj_in.lora_down.weight"], 0) == [4]
