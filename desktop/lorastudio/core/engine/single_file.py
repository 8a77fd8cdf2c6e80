"""Single-file checkpoints (.safetensors as downloaded from model sites), loaded offline.

diffusers' ``from_single_file`` needs a diffusers-format config folder for the model family and, if
it has none, silently downloads one from the Hub even with ``local_files_only=True`` (stack notes
§3.1). So the family is read from the safetensors header first (never loading tensors, never a
pickle), and the matching folder shipped in ``resources/configs/<family>`` is always passed as
``config=``. Those folders hold only JSON; the CLIP vocabulary they share lives once in
``resources/configs/clip-bpe`` and the tokenizers are built from it here and handed to diffusers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lorastudio.core.engine.device import DeviceChoice
from lorastudio.core.errors import ModelLoadError, OutOfMemory
from lorastudio.core.paths import resources_dir
from lorastudio.core.types import ModelKind

log = logging.getLogger(__name__)

# Families we have configs for, and the pipeline class that loads them.
PIPELINES = {"sd1": "StableDiffusionPipeline", "sd2": "StableDiffusionPipeline",
             "sdxl": "StableDiffusionXLPipeline"}
TOKENIZER_COMPONENTS = ("tokenizer", "tokenizer_2")
_LABELS = {"sd1": "an SD 1.x", "sd2": "an SD 2.x", "sdxl": "an SDXL"}

_UNSUPPORTED = {
    "sd1-inpaint": "an SD 1.x inpainting model", "sd2-inpaint": "an SD 2.x inpainting model",
    "sdxl-inpaint": "an SDXL inpainting model", "sdxl-refiner": "an SDXL refiner (it only refines images)",
    "playground-v2.5": "a Playground v2.5 model", "sd3": "a Stable Diffusion 3 model",
    "sd3.5-medium": "a Stable Diffusion 3.5 model", "sd3.5-large": "a Stable Diffusion 3.5 model",
    "flux-dev": "a Flux model", "flux-schnell": "a Flux model",
}


def configs_root() -> Path:
    return resources_dir() / "configs"


def config_folder(family: str) -> Path:
    """The shipped diffusers-format config folder for ``family`` ("sd1", "sd2" or "sdxl")."""
    return configs_root() / family


def clip_bpe_folder() -> Path:
    """CLIP's vocab.json + merges.txt (regenerate with tools/make_clip_tokenizer.py)."""
    return configs_root() / "clip-bpe"


def load_clip_tokenizer(folder: Path) -> Any:
    """The CLIP tokenizer described by ``folder``: its own vocabulary files when it has them,
    else the shared CLIP BPE with the settings of its ``tokenizer_config.json`` (pad token, ...)."""
    from transformers import CLIPTokenizer

    if (folder / "vocab.json").is_file() or (folder / "tokenizer.json").is_file():
        return CLIPTokenizer.from_pretrained(str(folder), model_max_length=77)
    settings: dict[str, Any] = {}
    config = folder / "tokenizer_config.json"
    if config.is_file():
        raw = json.loads(config.read_text("utf-8"))
        settings = {k: v for k, v in raw.items()
                    if k in ("pad_token", "bos_token", "eos_token", "unk_token", "model_max_length")}
    settings.setdefault("model_max_length", 77)
    return CLIPTokenizer.from_pretrained(str(clip_bpe_folder()), **settings)


def checkpoint_family(path: Path) -> str:
    """The family of a single-file checkpoint from its header, or a ModelLoadError saying why it
    cannot be loaded (pickle, corrupt, not a checkpoint, unsupported family)."""
    from lorastudio.core.metadata.detect import STATUS_OK, STATUS_PICKLE, inspect_path

    info = inspect_path(path)
    if info.status == STATUS_PICKLE:
        raise ModelLoadError(
            f"{path.name} is a pickle checkpoint (.ckpt/.pt/.bin), which can run code when opened, so "
            "LoRA Studio never loads it: convert it to .safetensors first, or download the "
            ".safetensors version.")
    if info.status != STATUS_OK:
        reason = info.error if info.error.startswith(path.name) else f"{path.name} cannot be loaded: {info.error}"
        raise ModelLoadError(f"{reason.rstrip('.')}. If it was downloaded, it may be incomplete: download it again.")
    if info.kind is not ModelKind.CHECKPOINT:
        what = {ModelKind.LORA: "a LoRA", ModelKind.LYCORIS: "a LyCORIS adapter", ModelKind.VAE: "a VAE",
                ModelKind.EMBEDDING: "an embedding"}.get(info.kind, "not a checkpoint LoRA Studio recognises")
        hint = " Add it to the mix instead." if info.kind in (ModelKind.LORA, ModelKind.LYCORIS) else ""
        raise ModelLoadError(f"{path.name} is {what}, not a model checkpoint.{hint}")
    family = info.variant
    if family not in PIPELINES:
        what = _UNSUPPORTED.get(family, f"a '{family}' model")
        raise ModelLoadError(f"{path.name} is {what}; LoRA Studio generates with SD 1.x, SD 2.x and SDXL "
                             "checkpoints only.")
    return family


def load_single_file(path: Path, choice: DeviceChoice, config: Path | None = None,
                     configs: Mapping[str, Path] | None = None) -> Any:
    """Load a single-file checkpoint offline onto ``choice.device``.

    ``config`` forces a diffusers-format config folder; otherwise ``configs[family]`` (the engine's
    per-family overrides) or the shipped ``resources/configs/<family>`` is used.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"Model not found: {path}")
    family = checkpoint_family(path)
    folder = Path(config) if config is not None else Path((configs or {}).get(family) or config_folder(family))
    if not (folder / "model_index.json").is_file():
        raise ModelLoadError(f"The {family} configuration LoRA Studio needs to read {path.name} is missing "
                             f"({folder}); reinstall the app.")
    import diffusers

    pipeline_cls = getattr(diffusers, PIPELINES[family])
    extra: dict[str, Any] = {}
    index = json.loads((folder / "model_index.json").read_text("utf-8"))
    for name in TOKENIZER_COMPONENTS:
        if isinstance(index.get(name), list) and index[name][0]:
            extra[name] = load_clip_tokenizer(folder / name)
    if family != "sdxl":  # SD 1.x/2.x: no NSFW checker (an artist's tool; A1111 has none either)
        extra.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    dtype = getattr(torch, choice.dtype_name)
    try:
        pipe = pipeline_cls.from_single_file(str(path), config=str(folder), local_files_only=True,
                                             dtype=dtype, **extra)
        return pipe.to(choice.device)
    except torch.OutOfMemoryError:
        raise OutOfMemory(f"Not enough GPU memory to load {path.name}. Close other GPU programs, or turn on "
                          "model CPU offload in Settings.") from None
    except MemoryError:
        raise OutOfMemory(f"Not enough memory to load {path.name}.") from None
    except Exception as err:  # any loader failure (truncated data, wrong shapes) must not end the app
        log.warning("single-file load of %s failed", path, exc_info=True)
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        if "shape" in first or "size mismatch" in first:
            raise ModelLoadError(f"{path.name} does not have the tensor shapes of {_LABELS[family]} model: it "
                                 "is a variant LoRA Studio has no configuration for.") from None
        raise ModelLoadError(f"{path.name} could not be loaded as {_LABELS[family]} checkpoint "
                             f"(is the file complete?): {first}") from None
