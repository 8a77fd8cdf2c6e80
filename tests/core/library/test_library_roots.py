"""Existing installs and the Hugging Face cache are found and scanned in place."""

from __future__ import annotations

from pathlib import Path

from model_files import checkpoint, kohya_sd15, write

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.roots import comfyui_extra_paths, detect_install, detect_installs, hf_cache_roots
from lorastudio.core.library.scanner import scan
from lorastudio.core.types import ModelKind


def test_a1111_and_forge(tmp_path: Path) -> None:
    for sub in ("models/Stable-diffusion", "models/Lora", "models/LyCORIS", "embeddings"):
        (tmp_path / "stable-diffusion-webui" / sub).mkdir(parents=True)
    found = detect_install(tmp_path / "stable-diffusion-webui")
    assert [(r.app, r.kind) for r in found] == [
        ("AUTOMATIC1111", ModelKind.CHECKPOINT),
        ("AUTOMATIC1111", ModelKind.LORA),
        ("AUTOMATIC1111", ModelKind.LYCORIS),
        ("AUTOMATIC1111", ModelKind.EMBEDDING),
    ]
    (tmp_path / "forge" / "models" / "Stable-diffusion").mkdir(parents=True)
    (tmp_path / "forge" / "modules_forge").mkdir()
    assert detect_install(tmp_path / "forge")[0].app == "Forge"


def test_comfyui_with_extra_model_paths(tmp_path: Path) -> None:
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (comfy / "models" / "loras").mkdir(parents=True)
    shared = tmp_path / "shared"
    (shared / "Lora").mkdir(parents=True)
    (shared / "more-loras").mkdir()
    (shared / "ckpt").mkdir()
    (comfy / "extra_model_paths.yaml").write_text(
        f"a111:\n    base_path: {shared}\n    loras: |\n        Lora\n        more-loras\n"
        "    checkpoints: ckpt\n    controlnet: nope\n"
    )
    found = detect_install(comfy)
    paths = {r.path for r in found}
    assert {
        comfy / "models" / "checkpoints",
        comfy / "models" / "loras",
        shared / "Lora",
        shared / "more-loras",
        shared / "ckpt",
    } <= paths
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed")
    assert comfyui_extra_paths(bad) == []


def test_detect_installs_in_home(tmp_path: Path) -> None:
    (tmp_path / "ComfyUI" / "models" / "loras").mkdir(parents=True)
    (tmp_path / "ComfyUI" / "models" / "checkpoints").mkdir(parents=True)
    found = detect_installs(home=tmp_path, include_hf_cache=False)
    assert {r.app for r in found} == {"ComfyUI"}


def test_hf_cache_snapshots_scan_in_place(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-lora"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("c1")
    blob = write(repo / "blobs" / "deadbeef", kohya_sd15())
    (repo / "snapshots" / "c1").mkdir(parents=True)
    (repo / "snapshots" / "c1" / "lora.safetensors").symlink_to(blob)
    (repo / "snapshots" / "old").mkdir()  # a stale snapshot is not offered
    pipe = cache / "models--acme--tiny-sd" / "snapshots" / "c2"
    (pipe / "unet").mkdir(parents=True)
    (pipe / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (pipe / "unet" / "config.json").write_text('{"cross_attention_dim": 768}')
    write(pipe / "unet" / "model.safetensors", checkpoint("sd1"))
    (cache / "models--acme--tiny-sd" / "refs").mkdir()
    (cache / "models--acme--tiny-sd" / "refs" / "main").write_text("c2")
    roots = hf_cache_roots(cache)
    assert [(r.label, r.kind) for r in roots] == [
        ("HF: acme/tiny-lora", None),
        ("HF: acme/tiny-sd", ModelKind.PIPELINE),
    ]
    with Catalog(tmp_path / "cat.sqlite3") as catalog:
        scan(catalog, [r.path for r in roots])
        records = {r.info.title: r.info.kind for r in catalog.records()}
    assert records == {"lora": ModelKind.LORA, "acme/tiny-sd": ModelKind.PIPELINE}
