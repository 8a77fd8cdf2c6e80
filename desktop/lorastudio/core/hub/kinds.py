"""What a Hub repo holds, decided from its tags and file names (no download needed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

LORA = "lora"
CHECKPOINT = "checkpoint"
PIPELINE = "pipeline"

# Base models offered as filters: label -> the repo id the Hub writes into ``base_model:`` tags.
BASE_MODELS: dict[str, str] = {
    "SD 1.5": "stable-diffusion-v1-5/stable-diffusion-v1-5",
    "SD 2.1": "stabilityai/stable-diffusion-2-1",
    "SDXL": "stabilityai/stable-diffusion-xl-base-1.0",
    "SD 3.5": "stabilityai/stable-diffusion-3.5-large",
    "Flux.1 dev": "black-forest-labs/FLUX.1-dev",
    "Flux.1 schnell": "black-forest-labs/FLUX.1-schnell",
}


def repo_kind(tags: Iterable[str], library: str | None = None, files: Sequence[str] = ()) -> str:
    """``lora`` for adapters, ``pipeline`` for diffusers folders, else ``checkpoint``."""
    tags = list(tags)
    if "model_index.json" in files:
        return PIPELINE
    if "lora" in tags or library == "peft" or any(t.startswith("base_model:adapter:") for t in tags):
        return LORA
    if files and any("lora" in f.lower() for f in files if f.endswith(".safetensors")):
        return LORA
    if library == "diffusers" and not files and any(t.startswith("diffusers:") for t in tags):
        return PIPELINE
    return CHECKPOINT


def base_model_of(tags: Iterable[str], card_base: object = None) -> str:
    """The repo's base model id, from cardData or the hub's ``base_model:`` tags ('' when unknown)."""
    if isinstance(card_base, str) and card_base:
        return card_base
    if isinstance(card_base, list) and card_base and isinstance(card_base[0], str):
        return card_base[0]
    for tag in tags:
        if tag.startswith("base_model:") and tag.count(":") == 1:
            return tag.split(":", 1)[1]
    for tag in tags:
        if tag.startswith("base_model:"):
            return tag.rsplit(":", 1)[1]
    return ""


def license_of(tags: Iterable[str], card_license: object = None) -> str:
    if isinstance(card_license, str) and card_license:
        return card_license
    for tag in tags:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return ""
