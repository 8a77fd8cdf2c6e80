"""Installing files: right folder, no overwrite, no duplicates, pickles only via weights_only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from model_files import checkpoint, kohya_sd15, kohya_sdxl, vae, write

from lorastudio.core.errors import BadModelFile
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.importer import ImportMode, import_path
from lorastudio.core.paths import DataDir


def test_files_land_in_the_folder_for_their_kind(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    lora = write(tmp_path / "in" / "style.safetensors", kohya_sd15())
    (tmp_path / "in" / "style.preview.png").write_bytes(b"png")
    ckpt = write(tmp_path / "in" / "base.safetensors", checkpoint("sdxl"))
    v = write(tmp_path / "in" / "vae.safetensors", vae())
    results = [import_path(data, catalog, p) for p in (lora, ckpt, v)]
    assert [r.destination for r in results] == [
        data.loras / "style.safetensors",
        data.checkpoints / "base.safetensors",
        data.vae / "vae.safetensors",
    ]
    assert all(r.action == "copied" for r in results)
    assert lora.exists()
    assert (data.loras / "style.preview.png").exists()  # the preview travels along
    record = catalog.get(data.loras / "style.safetensors")
    assert record is not None
    assert record.sha256
    assert record.info.preview == data.loras / "style.preview.png"


def test_name_collisions_never_overwrite(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    existing = write(data.loras / "style.safetensors", kohya_sdxl())
    before = existing.read_bytes()
    new = write(tmp_path / "style.safetensors", kohya_sd15())
    result = import_path(data, catalog, new)
    assert result.destination == data.loras / "style (2).safetensors"
    assert existing.read_bytes() == before


def test_same_bytes_are_not_installed_twice(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    write(data.loras / "already.safetensors", kohya_sd15())  # in the folder, not yet hashed
    other_name = write(tmp_path / "different-name.safetensors", kohya_sd15())
    result = import_path(data, catalog, other_name)
    assert result.action == "duplicate"
    assert result.destination == data.loras / "already.safetensors"
    assert sorted(p.name for p in data.loras.iterdir()) == ["already.safetensors"]
    again = import_path(data, catalog, write(tmp_path / "x" / "third.safetensors", kohya_sd15()))
    assert again.action == "duplicate"


def test_move_and_link(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    src = write(tmp_path / "m.safetensors", kohya_sd15())
    moved = import_path(data, catalog, src, ImportMode.MOVE)
    assert moved.action == "moved"
    assert not src.exists()
    assert moved.destination.exists()
    src2 = write(tmp_path / "l.safetensors", kohya_sdxl())
    linked = import_path(data, catalog, src2, ImportMode.LINK)
    assert linked.action in ("hard-linked", "symlinked")
    assert os.path.samefile(src2, linked.destination)


def test_unknown_and_broken_files_are_refused(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    unknown = write(tmp_path / "u.safetensors", {"w": __import__("numpy").zeros(2, "float32")})
    with pytest.raises(BadModelFile, match="cannot tell what kind"):
        import_path(data, catalog, unknown)
    broken = tmp_path / "b.safetensors"
    broken.write_bytes(b"\x00" * 4)
    with pytest.raises(BadModelFile, match="only 4 bytes"):
        import_path(data, catalog, broken)


def test_pickle_import_never_executes_code(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    from test_detect import plant_pickle

    marker = tmp_path / "PWNED"
    evil = plant_pickle(tmp_path / "evil.ckpt", marker)
    with pytest.raises(BadModelFile, match="only by converting"):
        import_path(data, catalog, evil)
    with pytest.raises(BadModelFile, match="needs more than plain tensors"):
        import_path(data, catalog, evil, convert_pickles=True)
    assert not marker.exists()
    assert list(data.loras.iterdir()) == []
    assert list(data.downloads.iterdir()) == []


def test_plain_tensor_pickle_is_converted(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    import torch

    from lorastudio.core.metadata.detect import inspect_file

    sd = {k: torch.from_numpy(v.astype("float32")) for k, v in kohya_sd15(text_encoder=False).items()}
    src = tmp_path / "Lora" / "old.pt"
    src.parent.mkdir()
    torch.save({"state_dict": sd, "epoch": 3}, src)
    result = import_path(data, catalog, src, convert_pickles=True)
    assert result.action == "converted"
    assert result.destination == data.loras / "old.safetensors"
    info = inspect_file(result.destination)
    assert info.kind.value == "lora"
    assert info.base.value == "sd1"
    assert src.exists()  # the original is left alone


def test_pipeline_folder_import(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    pipe = tmp_path / "pipe"
    (pipe / "unet").mkdir(parents=True)
    (pipe / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    write(pipe / "unet" / "diffusion_pytorch_model.safetensors", checkpoint("sdxl"))
    result = import_path(data, catalog, pipe, ImportMode.LINK)
    assert result.destination == data.checkpoints / "pipe"
    assert (result.destination / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert catalog.get(result.destination).info.kind.value == "pipeline"


def test_same_bytes_elsewhere_in_the_library_are_found_before_hashing(
    tmp_path: Path, data: DataDir, catalog: Catalog
) -> None:
    from lorastudio.core.library.scanner import scan

    existing = write(data.loras / "styles" / "deep.safetensors", kohya_sd15())  # not in the destination folder
    scan(catalog, [data.models])  # catalogued, not hashed yet
    copy = tmp_path / "other.safetensors"
    copy.write_bytes(existing.read_bytes())
    result = import_path(data, catalog, copy)
    assert result.action == "duplicate"
    assert result.destination == existing
    assert catalog.get(existing).sha256  # hashed on the way, kept for next time
    assert not (data.loras / "other.safetensors").exists()


def test_pickles_convert_in_the_engine_runtimes_python(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    """The window hands conversion to another interpreter (the engine runtime's): the refusal's
    sentence comes back the same, the marker of a malicious pickle is never written, and a plain
    tensor pickle is converted."""
    import sys

    import torch
    from test_detect import plant_pickle

    python = Path(sys.executable)
    marker = tmp_path / "PWNED"
    evil = plant_pickle(tmp_path / "evil.ckpt", marker)
    with pytest.raises(BadModelFile, match=r"^evil\.ckpt was refused: it needs more than plain tensors"):
        import_path(data, catalog, evil, convert_pickles=True, python=python)
    assert not marker.exists()
    sd = {k: torch.from_numpy(v.astype("float32")) for k, v in kohya_sd15(text_encoder=False).items()}
    src = tmp_path / "old.pt"
    torch.save(sd, src)
    result = import_path(data, catalog, src, convert_pickles=True, python=python)
    assert result.action == "converted"
    assert result.destination == data.loras / "old.safetensors"
