"""VAE override: swap the pipeline's VAE for a file or folder the user picked, and back.

A VAE file from a model site (``.safetensors``, original ``encoder.*``/``decoder.*`` names, sometimes
prefixed ``first_stage_model.``/``vae.``, or already in diffusers names) is built with the
architecture of the pipeline's own VAE (``from_config(pipe.vae.config)``): every SD 1.x/2.x/SDXL
VAE shares it, so no config download is needed and a VAE of another family (SD3/Flux: 16 latent
channels) fails on shape with a clear sentence. A diffusers ``AutoencoderKL`` folder loads with
``from_pretrained``. Loaded VAEs are cached, so switching back and forth reloads nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.engine.device import DeviceChoice
from lorastudio.core.errors import ModelLoadError

log = logging.getLogger(__name__)

MAX_CACHED = 2  # a real VAE is ~160 MB in fp16: keep the last two picks, not every one tried


def _vae_state_dict(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path.suffix.lower() not in (".safetensors", ".sft"):
        raise ModelLoadError(f"{path.name} is not a .safetensors VAE; pickle formats are never loaded "
                             "(convert it to .safetensors first).")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelLoadError(f"{path.name} is not a readable safetensors file ({err}).") from None


def load_vae(path: Path, like: Any, choice: DeviceChoice) -> Any:
    """An ``AutoencoderKL`` from ``path`` (file or diffusers folder), shaped like the VAE ``like``,
    in ``like``'s dtype, on ``choice.device``."""
    import torch
    from diffusers import AutoencoderKL

    path = Path(path)
    dtype = getattr(like, "dtype", getattr(torch, choice.dtype_name))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path.name} is not a VAE folder (config.json is missing).")
        try:
            vae = AutoencoderKL.from_pretrained(str(path), local_files_only=True, dtype=dtype)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            raise ModelLoadError(f"The VAE in {path.name} could not be loaded: {str(err).splitlines()[0]}") from None
        return vae.to(choice.device)
    if not path.is_file():
        raise ModelLoadError(f"VAE not found: {path}")
    sd = _vae_state_dict(path)
    stripped = {k.removeprefix("first_stage_model.").removeprefix("vae."): v for k, v in sd.items()}
    if not any(k.startswith("decoder.") for k in stripped):
        raise ModelLoadError(f"{path.name} holds no VAE decoder weights: it is not a VAE.")
    if not any(".down_blocks." in k or ".up_blocks." in k for k in stripped):
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        stripped = convert_ldm_vae_checkpoint(stripped, dict(like.config))
    vae = AutoencoderKL.from_config(like.config)
    try:
        missing, unexpected = vae.load_state_dict(stripped, strict=False)
    except RuntimeError:
        raise ModelLoadError(f"{path.name} does not fit this model's VAE (tensor shapes differ): it was "
                             "made for another model family.") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelLoadError(f"{path.name} is not a complete VAE for this model ({len(missing)} weights missing, "
                             f"e.g. {missing[0]}).")
    if unexpected:
        log.info("VAE %s: %d unused tensors ignored", path.name, len(unexpected))
    return vae.to(device=choice.device, dtype=dtype).eval()


@dataclass
class VaeSwitch:
    """Which VAE a pipeline object uses: its own (``current is None``) or a cached override."""

    pipe_id: int = 0
    original: Any = None
    current: Path | None = None
    cache: dict[Path, Any] = field(default_factory=dict)

    def reset(self) -> None:
        self.pipe_id, self.original, self.current = 0, None, None
        self.cache.clear()

    def apply(self, pipe: Any, vae: Path | None, choice: DeviceChoice) -> None:
        """Give ``pipe`` the VAE at ``vae`` (None: the checkpoint's own), reloading nothing cached."""
        if self.pipe_id != id(pipe):  # a new pipeline: forget VAEs shaped/placed for the old one
            self.reset()
            self.pipe_id, self.original = id(pipe), pipe.vae
        key = Path(vae).expanduser().resolve() if vae is not None else None
        if key == self.current:
            return
        if key is None:
            new = self.original
        else:
            new = self.cache.get(key)
            if new is None:
                new = load_vae(key, self.original, choice)
                while len(self.cache) >= MAX_CACHED:
                    self.cache.pop(next(iter(self.cache)))
                self.cache[key] = new
        # Keep the low-memory setting across swaps (tiling lives on the VAE object).
        if getattr(pipe.vae, "use_tiling", False) and hasattr(new, "enable_tiling"):
            new.enable_tiling()
        elif hasattr(new, "disable_tiling"):
            new.disable_tiling()
        pipe.vae = new
        self.current = key
