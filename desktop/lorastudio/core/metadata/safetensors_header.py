"""Read a safetensors header (names, dtypes, shapes, ``__metadata__``) without touching tensor data.

Layout: ``u64 little-endian N``, ``N`` bytes of UTF-8 JSON, then the raw tensor bytes. Every field
of a hostile file is checked before it is used: the header length against the file size *before*
reading it (a 100 GB claim fails at once, nothing is allocated), the JSON shape, each dtype, each
shape, and that the data offsets tile the data section exactly (no overlaps, holes or overruns).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

from lorastudio.core.errors import BadModelFile

# A browser only needs names and shapes; real LoRA/checkpoint headers are KB to low MB.
BROWSE_MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 200_000

DTYPE_BITS = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


class TensorInfo(NamedTuple):  # a NamedTuple: checkpoints list thousands, and it is 3x cheaper to build
    dtype: str
    shape: tuple[int, ...]
    start: int  # offset of the first byte, relative to the data section
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    metadata: dict[str, str]
    tensors: dict[str, TensorInfo]
    data_offset: int  # absolute offset of the data section: 8 + header length
    file_size: int


def _open(path: Path) -> BinaryIO:
    # A seam for tests: as root, permissions cannot make a file unreadable.
    return open(path, "rb")


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _bad(path: Path, reason: str) -> BadModelFile:
    return BadModelFile(f"{path.name} is not a valid safetensors file: {reason}.")


def read_header(path: Path, max_header_bytes: int = BROWSE_MAX_HEADER_BYTES) -> SafetensorsHeader:
    """Parse and validate the header of ``path``; raise ``BadModelFile`` with the reason.

    ``OSError`` (missing, unreadable) propagates so callers can tell it from a corrupt file.
    """
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size  # of the file we opened, not a path that may change
        raw = f.read(8)
        if len(raw) != 8:
            raise _bad(path, "the file is empty" if size == 0 else f"the file is only {size} bytes long")
        (n,) = struct.unpack("<Q", raw)
        if 8 + n > size:
            raise _bad(path, f"the header claims {_human(n)} but the file is {_human(size)} (truncated?)")
        if n > max_header_bytes:
            raise _bad(path, f"the header is {_human(n)}, more than the {_human(max_header_bytes)} allowed")
        if n < 2:
            raise _bad(path, "the header is empty")
        blob = f.read(n)
    if len(blob) != n:
        raise _bad(path, "the file changed while it was read")
    try:
        header = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise _bad(path, "the header is not UTF-8 text") from None
    except ValueError:
        raise _bad(path, "the header is not valid JSON") from None
    if not isinstance(header, dict):
        raise _bad(path, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise _bad(path, "__metadata__ must map text to text")
    if len(header) > MAX_TENSORS:
        raise _bad(path, f"it lists {len(header)} tensors, more than {MAX_TENSORS}")
    data_len = size - 8 - n
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _check_entry(path, name, entry, data_len)
    pos = 0
    for t in sorted(tensors.values(), key=_span):
        if t.start != pos:
            what = "overlap" if t.start < pos else "leave a gap"
            raise _bad(path, f"tensor data regions {what}")
        pos = t.end
    if pos != data_len:
        raise _bad(path, "there are unexplained bytes after the last tensor")
    return SafetensorsHeader(metadata=metadata, tensors=tensors, data_offset=8 + n, file_size=size)


def _span(t: TensorInfo) -> tuple[int, int]:
    return t.start, t.end


def _check_entry(path: Path, name: str, entry: object, data_len: int) -> TensorInfo:
    short = name if len(name) <= 80 else name[:77] + "..."
    if type(entry) is not dict:
        raise _bad(path, f"entry {short!r} is not an object")
    dtype, shape, offs = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if type(dtype) is not str or dtype not in DTYPE_BITS:
        raise _bad(path, f"tensor {short!r} has an unknown dtype {str(dtype)[:20]!r}")
    bits = DTYPE_BITS[dtype]
    if type(shape) is not list:
        raise _bad(path, f"tensor {short!r} has a malformed shape")
    count = 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise _bad(path, f"tensor {short!r} has a malformed shape")
        count *= d
    if type(offs) is not list or len(offs) != 2 or type(offs[0]) is not int or type(offs[1]) is not int:
        raise _bad(path, f"tensor {short!r} has malformed data offsets")
    start, end = offs
    if not 0 <= start <= end <= data_len:
        raise _bad(path, f"tensor {short!r} points outside the file")
    if count * bits != 8 * (end - start):
        raise _bad(path, f"tensor {short!r} has a shape and dtype that do not match its size")
    return TensorInfo(dtype, tuple(shape), start, end)


def read_scalar(path: Path, header: SafetensorsHeader, name: str) -> float | None:
    """Read one scalar tensor (e.g. a LoRA ``alpha``): a few bytes, no tensor library involved."""
    t = header.tensors.get(name)
    fmt = {"F32": "<f", "F64": "<d", "F16": "<e", "I64": "<q", "I32": "<i"}.get(t.dtype) if t else None
    if t is None or (t.dtype != "BF16" and fmt is None) or t.end - t.start > 8:
        return None
    try:
        with _open(path) as f:
            f.seek(header.data_offset + t.start)
            raw = f.read(t.end - t.start)
    except OSError:
        return None
    if len(raw) != t.end - t.start:
        return None
    if t.dtype == "BF16":  # bfloat16 is the top half of a float32
        return float(struct.unpack("<f", b"\x00\x00" + raw)[0])
    assert fmt is not None
    return float(struct.unpack(fmt, raw)[0])
