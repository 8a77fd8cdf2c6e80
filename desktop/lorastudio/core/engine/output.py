"""Saving results: PNGs with A1111-compatible infotext so Civitai and other tools see the resources."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.metadata.hashes import FileHashes, hash_file
from lorastudio.core.metadata.infotext import Infotext, format_infotext


@functools.lru_cache(maxsize=512)
def _cached_hashes(path: str, size: int, mtime: float) -> FileHashes:
    return hash_file(Path(path))


def file_hashes(path: Path) -> FileHashes:
    """sha256 and addnet hash in one read, cached on (path, size, mtime): checkpoints are GBs."""
    st = path.stat()
    return _cached_hashes(str(path), st.st_size, st.st_mtime)


_DENOISER_FOLDERS = ("unet", "transformer")  # SD 1.x/2.x/XL, then SD3/Flux pipelines


def model_hash(model: Path) -> str | None:
    """The ``Model hash`` of an infotext, or None when the model has no weights to hash.

    A single file: AutoV2, the first 10 hex of its sha256, which is what A1111 writes and what
    Civitai and the library look a checkpoint up by. A diffusers folder has no one file, and A1111
    never wrote a hash for one; we use the AutoV2 of the folder's denoiser weights (the UNet or the
    transformer: the part that makes a fine-tune different; text encoders and VAEs are often shared),
    so the same weights always give the same hash and retrained ones a new one. When the weights are
    sharded or stored in several variants, it is the first 10 hex of the sha256 over every weight
    file's name and sha256, in name order. Civitai can't look such a hash up (it hosts single files);
    restoring an image finds a folder by its name instead.
    """
    if model.is_file():
        return file_hashes(model).autov2
    for folder in _DENOISER_FOLDERS:
        weights = sorted((model / folder).glob("*.safetensors"))
        if len(weights) == 1:
            return file_hashes(weights[0]).autov2
        if weights:
            digest = hashlib.sha256()
            for w in weights:
                digest.update(f"{w.name}\0{file_hashes(w).sha256}\n".encode())
            return digest.hexdigest()[:10]
    return None


def _alias(name: str) -> str:
    # A1111's alias is the name in the prompt tag (the file name), without ':' and ','.
    return name.replace(":", "").replace(",", "")


def build_infotext(request: GenerationRequest, seed: int) -> Infotext:
    params: dict[str, str] = {
        "Steps": str(request.steps),
        "Sampler": request.sampler,
        "CFG scale": f"{request.cfg:g}",
        "Seed": str(seed),
        "Size": f"{request.width}x{request.height}",
    }
    model = Path(request.model)
    try:
        digest = model_hash(model)
    except (OSError, LoraStudioError):  # unreadable weights fail the generation elsewhere, not the PNG
        digest = None
    if digest:
        params["Model hash"] = digest
    # A file only a remote server has is named by its stem too, as A1111 names checkpoints.
    params["Model"] = model.stem if model.is_file() or model.suffix.lower() == ".safetensors" else model.name
    if request.clip_skip > 1:
        params["Clip skip"] = str(request.clip_skip)
    loras = request.active_loras
    if loras:
        hashes = []
        for spec in loras:
            try:
                short = file_hashes(spec.path).addnet_short
            except (OSError, ValueError, LoraStudioError):
                continue
            if short:
                hashes.append(f"{_alias(spec.path.stem)}: {short}")
        params["Lora hashes"] = ", ".join(hashes)
        params["Lora weights"] = ", ".join(f"{_alias(s.path.stem)}: {s.weight:g}" for s in loras)
    params["Version"] = "LoRA Studio"
    return Infotext(request.prompt, request.negative_prompt, params)


def infotext_prompt(request: GenerationRequest) -> str:
    """The prompt as A1111 writes it: with ``<lora:name:weight>`` tags, so it pastes back in."""
    tags = LoraMix(request.active_loras).to_prompt_syntax()
    return f"{request.prompt} {tags}".strip() if tags else request.prompt


def next_output_path(folder: Path, seed: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name.split("-", 1)[0]) for p in folder.glob("*.png") if p.name.split("-", 1)[0].isdigit()]
    return folder / f"{max(numbers, default=0) + 1:05d}-{seed}.png"


def save_png(image: object, request: GenerationRequest, seed: int, folder: Path) -> Path:
    """Write the image with its ``parameters`` chunk; atomic, so a crash leaves no broken PNG."""
    from PIL.PngImagePlugin import PngInfo

    info = build_infotext(request, seed)
    info = Infotext(infotext_prompt(request), info.negative_prompt, info.params)
    meta = PngInfo()
    meta.add_text("parameters", format_infotext(info))
    path = next_output_path(folder, seed)
    tmp = path.with_suffix(".png.part")
    image.save(tmp, format="PNG", pnginfo=meta)  # type: ignore[attr-defined]
    os.replace(tmp, path)
    return path
