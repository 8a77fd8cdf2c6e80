"""Hashes match what A1111/Civitai/kohya compute; reading is chunked and cancellable."""

from __future__ import annotations

import hashlib
import struct
import threading
from pathlib import Path

import pytest
from model_files import kohya_sd15, write

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import BadModelFile, GenerationCancelled
from lorastudio.core.metadata.hashes import EMPTY_SHA256, PausableToken, embedded_hash_matches, hash_file


def test_sha256_autov2_and_addnet(tmp_path: Path) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15(), {"ss_network_dim": "4"})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    hashes = hash_file(path, chunk_size=1024)  # many chunks, the header boundary inside one
    assert hashes.sha256 == hashlib.sha256(raw).hexdigest()
    assert hashes.addnet == hashlib.sha256(raw[8 + n :]).hexdigest()
    assert hashes.autov2 == hashes.sha256[:10]
    assert hashes.addnet_short == hashes.addnet[:12]


def test_addnet_hash_ignores_metadata_edits(tmp_path: Path) -> None:
    a = hash_file(write(tmp_path / "a.safetensors", kohya_sd15(), {"note": "one"}))
    b = hash_file(write(tmp_path / "b.safetensors", kohya_sd15(), {"note": "two, longer"}))
    assert a.addnet == b.addnet
    assert a.sha256 != b.sha256


def test_non_safetensors_has_no_addnet(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt"
    path.write_bytes(b"abc")
    assert hash_file(path).addnet is None  # hashing reads bytes; it never unpickles


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(BadModelFile, match="empty"):
        hash_file(path)


def test_progress_and_cancel(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 100_000)
    seen: list[tuple[int, int]] = []
    hash_file(path, progress=lambda d, t: seen.append((d, t)), chunk_size=10_000)
    assert seen[-1] == (100_000, 100_000)
    assert len(seen) == 10
    token = CancelToken()

    def cancel_midway(done: int, total: int) -> None:
        if done >= 30_000:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        hash_file(path, cancel=token, progress=cancel_midway, chunk_size=10_000)


def test_embedded_hash_is_verified_not_trusted(tmp_path: Path) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15())
    hashes = hash_file(path)
    assert embedded_hash_matches({"sshs_model_hash": hashes.addnet}, hashes) is True
    assert embedded_hash_matches({"sshs_model_hash": "0" * 64}, hashes) is False
    assert embedded_hash_matches({"sshs_model_hash": EMPTY_SHA256}, hashes) is False
    assert embedded_hash_matches({}, hashes) is None


def test_hashing_pauses_while_asked_and_cancel_ends_a_pause(tmp_path: Path) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15())
    raw = path.read_bytes()
    token = PausableToken()
    token.pause()
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(hash_file(path, cancel=token, chunk_size=4096)))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive()
    assert not result
    token.resume()
    worker.join(10)
    assert result[0].sha256 == hashlib.sha256(raw).hexdigest()

    token.pause()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            hash_file(path, cancel=token, chunk_size=4096)
        except GenerationCancelled as err:
            failed.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    token.cancel()  # no resume needed: a paused job ends on cancel
    worker.join(5)
    assert not worker.is_alive()
    assert failed
