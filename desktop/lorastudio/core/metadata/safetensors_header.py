"""Read a safetensors header (names, dtypes, shapes, ``__metadata__``) without touching tensor data.

Layout: ``u64 little-endian N``, ``N`` bytes of UTF-8 JSON, then the raw tensor bytes. Every field
of a hostile file is checked before it is used: the header length against the file size *before*
reading it (a 100 GB claim fails at once, nothing is allocated), the JSON shape, each dtype, each
shape, and that the data offsets tile the data section exactly (no overlaps, holes or overruns).

Two depths, because a library browses 10k files and loads a few: ``read_header(path, full=False)``
(browsing: scan, info) checks what keeps a hostile file out cheaply: the length, the JSON bounds,
``__metadata__``, and that the tensors' byte ranges add up to the data section, in C-level passes
without a Python call per tensor; entries are then read leniently, one at a time, by ``shape()``
and ``entry()``. ``read_header(path)`` (the default: import, load) validates every tensor as well.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, KeysView
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from lorastudio.core.errors import BadModelFile
from lorastudio.core.metadata.untrusted import UntrustedJsonError, clean_text, loads_json, open_regular

# A browser only needs names and shapes; real LoRA/checkpoint headers are KB to low MB.
BROWSE_MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 200_000
# No real tensor has a dimension near 2**40; a bigger one (e.g. [10**19, 0], zero bytes) is a
# hostile file, and its numbers would overflow SQLite and C code downstream.
MAX_DIM = 2**40

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


class SafetensorsHeader:
    """A parsed header. ``validated`` says whether every tensor entry was checked (``full=True``);
    a browse-time header builds ``tensors`` on first use, skipping entries that are malformed."""

    def __init__(
        self,
        metadata: dict[str, str],
        tensors: dict[str, TensorInfo] | None = None,
        data_offset: int = 0,  # absolute offset of the data section: 8 + header length
        file_size: int = 0,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.metadata = metadata
        self.data_offset = data_offset
        self.file_size = file_size
        self.validated = tensors is not None
        self._raw: dict[str, Any] = raw if raw is not None else {}
        if tensors is not None:
            self.__dict__["tensors"] = tensors  # what cached_property would compute

    @cached_property
    def tensors(self) -> dict[str, TensorInfo]:
        out = {}
        for name in self._raw:
            info = self.entry(name)
            if info is not None:
                out[name] = info
        return out

    @property
    def names(self) -> KeysView[str]:
        """The tensor names, without building ``tensors``."""
        return self.__dict__["tensors"].keys() if self.validated else self._raw.keys()

    def __len__(self) -> int:
        return len(self.names)

    def entry(self, name: str) -> TensorInfo | None:
        """One tensor's entry, or None when it is absent or malformed (browse-time headers)."""
        if self.validated:
            got: TensorInfo | None = self.__dict__["tensors"].get(name)
            return got
        e = self._raw.get(name)
        if type(e) is not dict:
            return None
        dtype, shape, offs = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if (
            type(dtype) is not str
            or type(shape) is not list
            or not all(type(d) is int and 0 <= d <= MAX_DIM for d in shape)
            or type(offs) is not list
            or len(offs) != 2
            or type(offs[0]) is not int
            or type(offs[1]) is not int
        ):
            return None
        return TensorInfo(dtype, tuple(shape), offs[0], offs[1])

    def shape(self, name: str) -> tuple[int, ...] | None:
        """One tensor's shape, or None when it is absent or malformed."""
        info = self.entry(name)
        return info.shape if info is not None else None

    def dims(self, names: Iterable[str], axis: int) -> list[int]:
        """Dimension ``axis`` of each named tensor that has one (e.g. the ranks of a LoRA's down
        projections): one comprehension over the raw entries when they are well formed."""
        names = list(names)
        if not self.validated:
            raw = self._raw
            try:
                values = [raw[n]["shape"][axis] for n in names]
                # set(map(type, ...)): the type check in C, not a Python call per value
                if not values or (set(map(type, values)) == {int} and min(values) >= 0 and max(values) <= MAX_DIM):
                    return values
            except (KeyError, TypeError, IndexError):
                pass
        out = []
        for n in names:
            shape = self.shape(n)
            if shape is not None and len(shape) > axis >= -len(shape):
                out.append(shape[axis])
        return out


def _open(path: Path) -> BinaryIO:
    # A seam for tests: as root, permissions cannot make a file unreadable.
    # Regular files only: a FIFO named like a model would block a plain open() forever.
    return open_regular(path)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def _bad(path: Path, reason: str) -> BadModelFile:
    return BadModelFile(f"{clean_text(path.name)} is not a valid safetensors file: {reason}.")


def read_header(
    path: Path, max_header_bytes: int = BROWSE_MAX_HEADER_BYTES, full: bool = True
) -> SafetensorsHeader:
    """Parse and validate the header of ``path``; raise ``BadModelFile`` with the reason.

    ``full=False`` is the browse-time check (see the module doc); the default validates every
    tensor entry, as loading and importing need. ``OSError`` (missing, unreadable, not a regular
    file) propagates so callers can tell it from a corrupt file.
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
        # Depth is left to orjson's own limit (1024): only the fixed shape below is ever walked.
        header = loads_json(blob, max_bytes=n, max_depth=None)
    except UntrustedJsonError:
        try:  # the rarer failure is worth a second look to name it right
            blob.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad(path, "the header is not UTF-8 text") from None
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
    if not full and _extent_ok(header, data_len):
        return SafetensorsHeader(metadata=metadata, data_offset=8 + n, file_size=size, raw=header)
    # Full validation, or a browse-time header that failed the quick check: this names the reason.
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


_OFFSETS = itemgetter("data_offsets")
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


def _extent_ok(header: dict[str, Any], data_len: int) -> bool:
    """Browse-time check in C-level passes (map/itemgetter/sum, no Python call per tensor): every
    entry has data offsets, the ranges start at 0, end exactly at the end of the data, and their
    lengths add up to it. Catches truncation, padding, overruns and most overlaps; the per-tensor
    checks (dtype, shape vs size, exact tiling) wait for ``full=True``."""
    if not header:
        return data_len == 0
    try:
        offsets = list(map(_OFFSETS, header.values()))
        starts = list(map(_FIRST, offsets))
        ends = list(map(_SECOND, offsets))
        total = sum(ends) - sum(starts)
        first, last = min(starts), max(ends)
    except (TypeError, KeyError, IndexError, AttributeError):
        return False
    return type(total) is int and type(first) is int and type(last) is int and (
        first == 0 and last == data_len and total == data_len
    )


def _check_entry(path: Path, name: str, entry: object, data_len: int) -> TensorInfo:
    short = clean_text(name if len(name) <= 80 else name[:77] + "...")
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
        if d > MAX_DIM:
            raise _bad(path, f"tensor {short!r} has an impossible dimension")
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
    t = header.entry(name)
    fmt = {"F32": "<f", "F64": "<d", "F16": "<e", "I64": "<q", "I32": "<i"}.get(t.dtype) if t else None
    if t is None or (t.dtype != "BF16" and fmt is None) or not 0 <= t.start <= t.end <= t.start + 8:
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
        value = float(struct.unpack("<f", b"\x00\x00" + raw)[0])
    else:
        assert fmt is not None
        value = float(struct.unpack(fmt, raw)[0])
    return value if math.isfinite(value) else None  # NaN/inf bytes: no alpha rather than NaN maths
