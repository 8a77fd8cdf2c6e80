"""The parallel cold scan: the same catalog as the serial scan, incremental, cancellable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from model_files import checkpoint, kohya_sd15, kohya_sdxl, loha, raw_safetensors, ss_metadata, write

from lorastudio.core.cancel import CancelToken
from lorastudio.core.library import scan_pool
from lorastudio.core.library.catalog import Catalog, CatalogRecord
from lorastudio.core.library.scan_pool import scan_parallel
from lorastudio.core.library.scanner import scan


def _library(root: Path, n: int = 40) -> Path:
    """A mixed tree: LoRAs of two bases and formats, a checkpoint, previews, a broken and a pickle file."""
    sd15, sdxl = kohya_sd15(), kohya_sdxl()
    for i in range(n):
        folder = root / "loras" / f"set{i % 3}"
        tensors = sdxl if i % 4 == 0 else sd15
        write(folder / f"lora_{i:03d}.safetensors", tensors, ss_metadata(size=500 if i % 5 == 0 else 0))
        if i % 7 == 0:
            (folder / f"lora_{i:03d}.preview.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    write(root / "loras" / "lyco.safetensors", loha())
    write(root / "checkpoints" / "base.safetensors", checkpoint("sd1"))
    raw_safetensors(root / "loras" / "broken.safetensors", {"w": {"dtype": "F32"}}, header_len=10**9)
    (root / "loras" / "old.ckpt").write_bytes(b"not a pickle at all")
    return root


def _rows(catalog: Catalog) -> list[CatalogRecord]:
    # Timestamps differ between two scans; everything else must match.
    return [replace(r, added_at=0.0) for r in catalog.records()]


def test_pool_scan_matches_serial_scan(tmp_path: Path) -> None:
    root = _library(tmp_path / "lib")
    with Catalog(tmp_path / "serial.sqlite3") as serial, Catalog(tmp_path / "pool.sqlite3") as pooled:
        expected = scan(serial, [root])
        got = scan_parallel(pooled, [root], workers=2, min_parallel=1)
        assert (got.seen, got.added, got.errors, got.missing) == (
            expected.seen,
            expected.added,
            expected.errors,
            expected.missing,
        )
        assert got.added == 44
        assert _rows(pooled) == _rows(serial)
        # The header metadata (kept apart from the rows) is the same too.
        for record in serial.records():
            assert pooled.get(record.path).info.metadata == serial.get(record.path).info.metadata


def test_pool_rescan_reads_only_changed_files_and_marks_missing(tmp_path: Path) -> None:
    root = _library(tmp_path / "lib", n=12)
    with Catalog(tmp_path / "pool.sqlite3") as catalog:
        scan_parallel(catalog, [root], workers=2, min_parallel=1)
        warm = scan_parallel(catalog, [root], workers=2, min_parallel=1)
        assert (warm.unchanged, warm.added, warm.updated, warm.missing) == (16, 0, 0, 0)
        write(root / "loras" / "set0" / "lora_000.safetensors", kohya_sd15())  # was SDXL
        (root / "loras" / "set1" / "lora_001.safetensors").unlink()
        changed = scan_parallel(catalog, [root], workers=2, min_parallel=1)
        assert (changed.updated, changed.missing, changed.unchanged) == (1, 1, 14)
        assert catalog.get(root / "loras" / "set0" / "lora_000.safetensors").info.base.value == "sd1"
        assert catalog.get(root / "loras" / "set1" / "lora_001.safetensors").missing


def test_cancelled_pool_scan_keeps_what_it_read_and_marks_nothing_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_pool, "CHUNK", 4)  # at most 6 chunks of 4 in flight when the cancel comes
    root = _library(tmp_path / "lib", n=80)
    token = CancelToken()
    seen: list[tuple[int, int, str]] = []

    def progress(done: int, total: int, phase: str) -> None:
        seen.append((done, total, phase))
        if phase == "read" and done >= 50:
            token.cancel()

    with Catalog(tmp_path / "pool.sqlite3") as catalog:
        scan_parallel(catalog, [root], workers=2, min_parallel=1)
        for path in (root / "loras").rglob("*.safetensors"):  # every file changes: all must be read again
            path.write_bytes(path.read_bytes())
            path.touch()
        (root / "checkpoints" / "base.safetensors").unlink()
        result = scan_parallel(catalog, [root], cancel=token, progress=progress, workers=2, min_parallel=1)
        assert result.cancelled
        assert 50 <= result.updated < 82
        assert result.missing == 0
        assert not catalog.get(root / "checkpoints" / "base.safetensors").missing
        assert seen[-1][2] == "read"
        assert seen[-1][1] == 82


def test_few_changed_files_are_read_without_a_pool(tmp_path: Path) -> None:
    root = _library(tmp_path / "lib", n=3)
    with Catalog(tmp_path / "a.sqlite3") as catalog:
        result = scan_parallel(catalog, [root], workers=2)  # 7 entries: below MIN_PARALLEL
        assert result.added == 7
        assert {r.path.name for r in catalog.records()} >= {"lora_000.safetensors", "base.safetensors"}


def test_preview_added_after_the_scan_reaches_the_catalog(tmp_path: Path) -> None:
    """A preview rendered or downloaded after its LoRA was scanned: the LoRA is unchanged, its card
    must still get the picture on the next rescan."""
    root = tmp_path / "lib"
    lora = write(root / "style.safetensors", kohya_sd15())
    with Catalog(tmp_path / "a.sqlite3") as catalog:
        scan_parallel(catalog, [root])
        assert catalog.get(lora).info.preview is None
        preview = root / "style.preview.png"
        preview.write_bytes(b"\x89PNG\r\n\x1a\n")
        result = scan_parallel(catalog, [root])
        assert result.updated == 1
        assert catalog.get(lora).info.preview == preview
        assert scan_parallel(catalog, [root]).unchanged == 1  # and then it is quiet again
        preview.unlink()
        scan_parallel(catalog, [root])
        assert catalog.get(lora).info.preview is None
