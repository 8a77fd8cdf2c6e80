"""Scanning: incremental, user data by hash, missing files marked, hostile trees survived."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from model_files import checkpoint, kohya_sd15, kohya_sdxl, raw_safetensors, ss_metadata, write

from lorastudio.core.library import scanner
from lorastudio.core.library.catalog import Catalog, UserData, connect, migrate
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.metadata import safetensors_header
from lorastudio.core.paths import DataDir
from lorastudio.core.types import BaseArch, ModelKind


def _library(root: Path) -> Path:
    write(root / "loras" / "a.safetensors", kohya_sd15(), ss_metadata())
    write(root / "loras" / "sub" / "b.safetensors", kohya_sdxl())
    write(root / "checkpoints" / "base.safetensors", checkpoint("sd1"))
    return root


def test_scan_indexes_and_rescan_is_incremental(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    first = scan(catalog, [root])
    assert (first.seen, first.added, first.errors) == (3, 3, 0)
    kinds = {r.path.name: (r.info.kind, r.info.base) for r in catalog.records()}
    assert kinds == {
        "a.safetensors": (ModelKind.LORA, BaseArch.SD1),
        "b.safetensors": (ModelKind.LORA, BaseArch.SDXL),
        "base.safetensors": (ModelKind.CHECKPOINT, BaseArch.SD1),
    }
    second = scan(catalog, [root])
    assert (second.unchanged, second.added, second.updated) == (3, 0, 0)
    write(root / "loras" / "a.safetensors", kohya_sdxl())  # changed content (size differs)
    third = scan(catalog, [root])
    assert (third.updated, third.unchanged) == (1, 2)
    assert catalog.get(root / "loras" / "a.safetensors").info.base == BaseArch.SDXL


def test_missing_files_are_marked_not_dropped(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    scan(catalog, [root])
    (root / "loras" / "a.safetensors").unlink()
    result = scan(catalog, [root])
    assert result.missing == 1
    record = catalog.get(root / "loras" / "a.safetensors")
    assert record is not None
    assert record.missing
    write(root / "loras" / "a.safetensors", kohya_sd15(), ss_metadata())
    scan(catalog, [root])
    assert not catalog.get(root / "loras" / "a.safetensors").missing


def test_user_data_survives_rename_and_move(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    scan(catalog, [root])
    a = root / "loras" / "a.safetensors"
    # Entered before hashing: kept by path, then moved to the hash key.
    catalog.set_user_data(
        a,
        UserData(
            favorite=True, tags=("style",), notes="nice", rating=4, trigger_words=("my trigger",), preferred_weight=0.6
        ),
    )
    assert hash_pending(catalog) == 3
    assert catalog.get(a).user.favorite
    moved = root / "elsewhere" / "renamed.safetensors"
    moved.parent.mkdir()
    os.rename(a, moved)
    scan(catalog, [root])
    hash_pending(catalog)
    record = catalog.get(moved)
    assert record.user == UserData(
        favorite=True, tags=("style",), notes="nice", rating=4, trigger_words=("my trigger",), preferred_weight=0.6
    )
    assert record.trigger_words[0] == "my trigger"
    assert "mychar" in record.trigger_words
    assert record.preferred_weight == 0.6
    assert catalog.get(a).missing


def test_duplicates_found_by_hash_not_name(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    (root / "copy-with-other-name.safetensors").write_bytes((root / "loras" / "a.safetensors").read_bytes())
    scan(catalog, [root])
    hash_pending(catalog)
    sha = catalog.get(root / "loras" / "a.safetensors").sha256
    assert {r.path.name for r in catalog.find_by_sha256(sha)} == {"a.safetensors", "copy-with-other-name.safetensors"}


def test_bad_files_get_a_status_and_the_scan_goes_on(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    (root / "zero.safetensors").write_bytes(b"")
    raw_safetensors(root / "huge.safetensors", {}, header_len=100 * 1024**3)
    raw_safetensors(root / "json.safetensors", b"{oops")
    long_name = "l" * 240 + ".safetensors"
    write(root / long_name, kohya_sd15(text_encoder=False))
    weird = os.fsencode(root) + b"/caf\xe9-latin1.safetensors"  # not valid UTF-8
    with open(weird, "wb") as f:
        f.write((root / "loras" / "a.safetensors").read_bytes())
    result = scan(catalog, [root])
    assert result.seen == 8
    assert result.errors == 3
    by_name = {r.path.name: r for r in catalog.records()}
    assert by_name["zero.safetensors"].info.status == "error"
    assert "100.0 GB" in by_name["huge.safetensors"].info.error
    assert by_name[long_name].info.kind == ModelKind.LORA
    weird_record = catalog.get(Path(os.fsdecode(weird)))
    assert weird_record is not None
    assert weird_record.info.kind == ModelKind.LORA
    assert hash_pending(catalog) == 5  # the weird name hashes too
    assert scan(catalog, [root]).unchanged == 8


def test_symlink_loop_is_cut(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    os.symlink(root, root / "loras" / "loop")
    os.symlink(root / "loras", root / "loras" / "sub" / "back")
    result = scan(catalog, [root])
    assert result.seen == 3


def test_unreadable_file_gets_a_status(tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root, where chmod 000 does not stop reads: deny through the reader's open seam.
    root = _library(tmp_path / "lib")
    denied = root / "loras" / "a.safetensors"
    real_open = safetensors_header._open

    def guarded(path: Path):
        if Path(path) == denied:
            raise PermissionError(13, "Permission denied")
        return real_open(path)

    monkeypatch.setattr(safetensors_header, "_open", guarded)
    result = scan(catalog, [root])
    assert result.seen == 3
    assert result.errors == 1
    assert "permission denied" in catalog.get(denied).info.error


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_folder_and_file_real_permissions(tmp_path: Path, catalog: Catalog) -> None:
    root = _library(tmp_path / "lib")
    (root / "loras" / "a.safetensors").chmod(0)
    (root / "checkpoints").chmod(0)
    try:
        result = scan(catalog, [root])
    finally:
        (root / "checkpoints").chmod(0o755)
    assert result.walk_errors
    assert result.errors == 1


def test_file_vanishing_mid_scan(tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _library(tmp_path / "lib")
    victim = root / "loras" / "a.safetensors"
    real = scanner.inspect_file

    def vanish_then_inspect(path: Path, siblings=None):
        if path == victim:
            path.unlink()
        return real(path, siblings)

    monkeypatch.setattr(scanner, "inspect_file", vanish_then_inspect)
    result = scan(catalog, [root])
    assert result.seen == 3
    record = catalog.get(victim)
    assert record.missing
    assert "no longer exists" in record.info.error
    assert catalog.get(root / "checkpoints" / "base.safetensors").info.kind == ModelKind.CHECKPOINT


def test_pickle_in_library_is_never_executed(tmp_path: Path, catalog: Catalog) -> None:
    from test_detect import plant_pickle

    root = _library(tmp_path / "lib")
    marker = tmp_path / "PWNED"
    plant_pickle(root / "loras" / "evil.ckpt", marker)
    scan(catalog, [root])
    hash_pending(catalog)
    record = catalog.get(root / "loras" / "evil.ckpt")
    assert record.info.status == "pickle"
    assert record.sha256
    assert not marker.exists()


def test_model_folders_are_single_entries(tmp_path: Path, catalog: Catalog) -> None:
    root = tmp_path / "lib"
    pipe = root / "my-pipe"
    (pipe / "unet").mkdir(parents=True)
    (pipe / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (pipe / "unet" / "config.json").write_text('{"cross_attention_dim": 768}')
    write(pipe / "unet" / "diffusion_pytorch_model.safetensors", checkpoint("sd1"))
    scan(catalog, [root])
    records = catalog.records()
    assert [(r.path.name, r.info.kind, r.info.base) for r in records] == [("my-pipe", ModelKind.PIPELINE, BaseArch.SD1)]
    assert scan(catalog, [root]).unchanged == 1


def test_other_modules_can_add_tables(data: DataDir, catalog: Catalog) -> None:
    conn = connect(data.catalog_db)
    steps = ["CREATE TABLE presets (name TEXT PRIMARY KEY, body TEXT)"]
    migrate(conn, "mixer", steps)
    migrate(conn, "mixer", steps)  # idempotent
    conn.execute("INSERT INTO presets VALUES ('a', '{}')")
    conn.commit()
    assert Catalog(data.catalog_db).conn.execute("SELECT count(*) FROM presets").fetchone()[0] == 1
