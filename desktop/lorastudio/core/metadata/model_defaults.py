"""The generation size and step count a model is meant for, from its configs and sidecar only.

A model has a native size: diffusers' pipelines default ``height``/``width`` to the UNet's (or
transformer's) ``sample_size`` times the VAE's scale factor, which is 512 for SD 1.x, 1024 for SDXL
and 128 for LoRA Studio's tiny demo model; a single file says it in ``modelspec.resolution`` or by
its family. A step count is only known when someone wrote it down: InvokeAI keeps per-model
``default_settings`` (``width``, ``height``, ``steps``, ...) and LoRA Studio reads that same shape
from the A1111-style sidecar ``<model>.json`` next to the model. Nothing here loads a tensor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.errors import BadModelFile
from lorastudio.core.metadata.safetensors_header import read_header
from lorastudio.core.metadata.untrusted import loads_json, parse_int, read_limited
from lorastudio.core.types import BaseArch

MAX_JSON_BYTES = 1024 * 1024
MIN_SIZE, MAX_SIZE = 64, 8192  # the generation panel's range; anything else in a file is ignored
MAX_STEPS = 150
_DENOISERS = ("unet", "transformer")
_FAMILY_SIZE = {BaseArch.SD1: 512, BaseArch.SD2: 768, BaseArch.SDXL: 1024, BaseArch.SD3: 1024, BaseArch.FLUX: 1024}
_RESOLUTION = re.compile(r"^\s*(\d{2,5})\s*[x×]\s*(\d{2,5})\s*$")


@dataclass(frozen=True)
class ModelDefaults:
    """What a new generation with this model should start from; None: not known (keep the current)."""

    width: int | None = None
    height: int | None = None
    steps: int | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        return (self.width, self.height) if self.width and self.height else None

    def changes(self) -> dict[str, int]:
        """The known values as ``GenerationParams`` field changes (``params.update(**d.changes())``)."""
        known = {"width": self.width, "height": self.height, "steps": self.steps}
        return {name: value for name, value in known.items() if value is not None}


def model_defaults(path: Path, base: BaseArch = BaseArch.UNKNOWN) -> ModelDefaults:
    """Native size and suggested steps of a pipeline folder or checkpoint file; never raises.

    The sidecar's ``default_settings`` win (someone chose them), then the model's own configs or
    header, then ``base``'s usual size."""
    path = Path(path)
    chosen = _sidecar_settings(path)
    size = _size(chosen.get("width"), chosen.get("height"))
    if size is None:
        size = _folder_size(path) if path.is_dir() else _file_size(path)
    if size is None and base in _FAMILY_SIZE:
        size = (_FAMILY_SIZE[base], _FAMILY_SIZE[base])
    steps = parse_int(chosen.get("steps"), 1, MAX_STEPS)
    return ModelDefaults(width=size[0] if size else None, height=size[1] if size else None, steps=steps)


def _json(path: Path) -> Any:
    try:
        return loads_json(read_limited(path, MAX_JSON_BYTES), max_bytes=MAX_JSON_BYTES, lone_surrogates=True)
    except (OSError, ValueError):
        return None


def _sidecar_settings(path: Path) -> dict[str, Any]:
    sidecar = path.with_name(path.name + ".json") if path.is_dir() else path.with_suffix(".json")
    data = _json(sidecar)
    settings = data.get("default_settings") if isinstance(data, dict) else None
    return settings if isinstance(settings, dict) else {}


def _size(width: object, height: object) -> tuple[int, int] | None:
    w, h = parse_int(width, MIN_SIZE, MAX_SIZE), parse_int(height, MIN_SIZE, MAX_SIZE)
    return (w, h) if w and h else None


def _folder_size(folder: Path) -> tuple[int, int] | None:
    vae = _json(folder / "vae" / "config.json")
    blocks = vae.get("block_out_channels") if isinstance(vae, dict) else None
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 8:
        return None
    scale = 2 ** (len(blocks) - 1)  # diffusers' vae_scale_factor
    for name in _DENOISERS:
        config = _json(folder / name / "config.json")
        sample = config.get("sample_size") if isinstance(config, dict) else None
        if isinstance(sample, list) and len(sample) == 2:
            size = _size(sample[1] * scale if isinstance(sample[1], int) else None,
                         sample[0] * scale if isinstance(sample[0], int) else None)
        else:
            side = sample * scale if isinstance(sample, int) and not isinstance(sample, bool) else None
            size = _size(side, side)
        if size is not None:
            return size
    return None


def _file_size(path: Path) -> tuple[int, int] | None:
    if path.suffix.lower() not in (".safetensors", ".sft"):
        return None
    try:
        header = read_header(path)
    except (BadModelFile, OSError):
        return None
    match = _RESOLUTION.match(header.metadata.get("modelspec.resolution", "")[:40])
    return _size(int(match[1]), int(match[2])) if match else None
