"""The hashes the ecosystem uses to name model files (A1111, Civitai, kohya).

- sha256: the whole file. AutoV2 = its first 10 hex (A1111 ``Model hash``, Civitai).
- addnet: SHA-256 of the bytes after the safetensors header (kohya ``sshs_model_hash``);
  A1111 writes its first 12 hex in ``Lora hashes``. It survives metadata edits.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

CHUNK = 4 * 1024 * 1024
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

Progress = Callable[[int, int], None]  # bytes done, bytes total; may raise to cancel


def _digest(path: Path, offset: int, progress: Progress | None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = offset
    with open(path, "rb") as f:
        f.seek(offset)
        while chunk := f.read(CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total)
    return h.hexdigest()


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    return _digest(path, 0, progress)


def safetensors_data_offset(path: Path) -> int:
    """Where the tensor bytes start: 8 + header length."""
    with open(path, "rb") as f:
        raw = f.read(8)
    if len(raw) != 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw)
    if 8 + n > path.stat().st_size:
        raise ValueError("header length runs past the end of the file")
    return 8 + n


def addnet_hash(path: Path, progress: Progress | None = None) -> str:
    return _digest(path, safetensors_data_offset(path), progress)


def autov2(sha256: str) -> str:
    return sha256[:10]


def addnet_short(addnet: str) -> str:
    return addnet[:12]
