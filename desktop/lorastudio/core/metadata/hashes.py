"""File hashes the ecosystem uses, computed in one chunked, cancellable pass.

- ``sha256``: the whole file; AutoV2 = its first 10 hex (A1111 ``Model hash``, Civitai).
- ``addnet``: SHA-256 of the bytes after the safetensors header (A1111 ``hashes-addnet``, kohya
  ``sshs_model_hash``); A1111 writes its first 12 hex in ``Lora hashes``. Editing metadata keeps it.

An embedded ``sshs_model_hash`` is checked against the computed addnet hash, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import BadModelFile

CHUNK = 4 * 1024 * 1024  # 1-8 MiB is the sweet spot: fewer syscalls, still responsive to cancel
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

HashProgress = Callable[[int, int], None]  # bytes done, bytes total


@dataclass(frozen=True)
class FileHashes:
    sha256: str
    addnet: str | None  # None for files that are not safetensors

    @property
    def autov2(self) -> str:
        return self.sha256[:10]

    @property
    def addnet_short(self) -> str | None:
        return self.addnet[:12] if self.addnet else None


def _data_offset(f: BinaryIO, size: int, name: str) -> int:
    raw = f.read(8)
    if len(raw) != 8:
        raise BadModelFile(f"{name} is too short to be a safetensors file.")
    n: int = struct.unpack("<Q", raw)[0]
    if 8 + n > size:
        raise BadModelFile(f"{name} is truncated: its header runs past the end of the file.")
    f.seek(0)
    return 8 + n


def hash_file(
    path: Path, cancel: CancelToken | None = None, progress: HashProgress | None = None, chunk_size: int = CHUNK
) -> FileHashes:
    """Hash ``path`` (SHA-256 and, for safetensors, the addnet hash) reading it once.

    Raises ``BadModelFile`` for an empty file (its hash, ``e3b0c442...``, identifies nothing) or a
    truncated safetensors header, ``GenerationCancelled`` when ``cancel`` is set, ``OSError`` when
    the file cannot be read.
    """
    path = Path(path)
    full = hashlib.sha256()
    tail = hashlib.sha256()
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise BadModelFile(f"{path.name} is empty.")
        is_st = path.suffix.lower() in (".safetensors", ".sft")
        offset = _data_offset(f, size, path.name) if is_st else size
        done = 0
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            n = f.readinto(buf)
            if not n:
                break
            piece = view[:n]
            full.update(piece)
            if done + n > offset:  # the part of this chunk past the header feeds the addnet hash
                tail.update(piece[max(0, offset - done) :])
            done += n
            if progress is not None:
                progress(done, size)
    sha = full.hexdigest()
    if sha == EMPTY_SHA256:  # unreachable for size > 0, kept as the rule LoRA Manager also applies
        raise BadModelFile(f"{path.name} is empty.")
    return FileHashes(sha256=sha, addnet=tail.hexdigest() if is_st else None)


def embedded_hash_matches(metadata: dict[str, str], hashes: FileHashes) -> bool | None:
    """Whether kohya's embedded ``sshs_model_hash`` equals the computed addnet hash.

    None when there is nothing to check; False also for the empty-input hash some trainers wrote.
    """
    claimed = metadata.get("sshs_model_hash", "").strip().lower()
    if not claimed or hashes.addnet is None:
        return None
    if claimed == EMPTY_SHA256:
        return False
    return claimed == hashes.addnet
