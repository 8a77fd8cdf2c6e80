"""File hashes the ecosystem uses, computed in one chunked, cancellable pass.

- ``sha256``: the whole file; AutoV2 = its first 10 hex (A1111 ``Model hash``, Civitai).
- ``addnet``: SHA-256 of the bytes after the safetensors header (A1111 ``hashes-addnet``, kohya
  ``sshs_model_hash``); A1111 writes its first 12 hex in ``Lora hashes``. Editing metadata keeps it.

An embedded ``sshs_model_hash`` is checked against the computed addnet hash, never trusted.

The file is read once, in large chunks into two reused buffers; the two digests of a chunk run on
two threads (hashlib releases the GIL) while the next chunk is read, so the pair costs about one
``openssl dgst -sha256`` on a machine with two free cores. Background hashing can be paused (a
generation runs) and cancelled through a ``PausableToken``.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import FileIO
from pathlib import Path
from typing import Any, BinaryIO

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import BadModelFile

CHUNK = 8 * 1024 * 1024  # large reads: few syscalls and thread hand-offs, still ~10 ms per check of cancel
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

    The two digests of a chunk are computed at the same time on two threads (hashlib lets go of
    the GIL), while the next chunk is read into a second buffer: on two free cores the pair costs
    about what one ``openssl dgst -sha256`` does. ``cancel`` is checked between chunks (a
    ``PausableToken`` also waits there while paused).

    Raises ``BadModelFile`` for an empty file (its hash, ``e3b0c442...``, identifies nothing) or a
    truncated safetensors header, ``GenerationCancelled`` when ``cancel`` is set, ``OSError`` when
    the file cannot be read.
    """
    path = Path(path)
    full = hashlib.sha256()
    tail = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise BadModelFile(f"{path.name} is empty.")
        is_st = path.suffix.lower() in (".safetensors", ".sft")
        offset = _data_offset(f, size, path.name) if is_st else size
        if size <= chunk_size:
            _hash_inline(f, full, tail, offset, cancel, progress, size, chunk_size)
        else:
            _hash_pipelined(f, full, tail if is_st else None, offset, cancel, progress, size, chunk_size)
    sha = full.hexdigest()
    if sha == EMPTY_SHA256:  # unreachable for size > 0, kept as the rule LoRA Manager also applies
        raise BadModelFile(f"{path.name} is empty.")
    return FileHashes(sha256=sha, addnet=tail.hexdigest() if is_st else None)


def _hash_inline(
    f: FileIO,
    full: Any,
    tail: Any,
    offset: int,
    cancel: CancelToken | None,
    progress: HashProgress | None,
    size: int,
    chunk_size: int,
) -> None:
    """A small file: one thread, no pipeline (starting threads would cost more than they save)."""
    buf = bytearray(chunk_size)
    view = memoryview(buf)
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


def _hash_pipelined(
    f: FileIO,
    full: Any,
    tail: Any | None,
    offset: int,
    cancel: CancelToken | None,
    progress: HashProgress | None,
    size: int,
    chunk_size: int,
) -> None:
    """Hash chunk k on two threads (full and addnet digests) while chunk k+1 is read."""
    buffers = [bytearray(chunk_size), bytearray(chunk_size)]
    views = [memoryview(b) for b in buffers]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="hash") as pool:
        current = 0
        n = f.readinto(buffers[current])
        done = 0
        while n:
            if cancel is not None:
                cancel.raise_if_cancelled()
            piece = views[current][:n]
            jobs = [pool.submit(full.update, piece)]
            if tail is not None and done + n > offset:  # the part past the header: the addnet hash
                jobs.append(pool.submit(tail.update, piece[max(0, offset - done) :]))
            following = 1 - current
            n_next = f.readinto(buffers[following])  # the other buffer: the hashers still read this one
            for job in jobs:
                job.result()
            done += n
            if progress is not None:
                progress(done, size)
            current, n = following, n_next or 0


class PausableToken(CancelToken):
    """A cancel token that background hashing also pauses on.

    ``pause()`` holds every job that checks this token with ``raise_if_cancelled`` (``hash_file``
    does between chunks) until ``resume()`` or ``cancel()``: the library stops reading disks while a
    generation runs. ``cancelled`` never waits.
    """

    def __init__(self) -> None:
        super().__init__()
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def raise_if_cancelled(self) -> None:
        while not self._running.wait(0.1):  # wake now and then: a cancel must not wait for resume
            if self.cancelled:
                break
        super().raise_if_cancelled()


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
