"""Reading a LoRA file safely and shaping its state dict for diffusers' loader.

Only safetensors is read (never a pickle). Two fixes for real-world kohya files that diffusers
0.42 would otherwise reject or half-apply (stack-api-notes §2.2, §2.7):
- foreign keys (an embedded textual inversion ``bundle_emb.*``) make diffusers skip the kohya
  conversion; they are dropped;
- a text-encoder part with q/k/v but no ``out_proj`` is padded with zero ``out_proj`` entries so the
  layout is recognised and q/k/v are not silently dropped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lorastudio.core.errors import LoraLoadError
from lorastudio.core.metadata.detect import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
_TE_QKV = re.compile(r"^(lora_te[12]?_.*_self_attn)_(q|k|v)_proj\.lora_down\.weight$")


def require_lora_suffix(path: Path) -> None:
    """Refuse, by name alone, what is not a safetensors file: a pickle (never loaded: it can run
    code) is told to convert; anything else (a .txt, an image) is told it is not a LoRA at all."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise LoraLoadError(f"{path.name} is a pickle file, which is never loaded: convert it to .safetensors.")
    if suffix not in SAFETENSORS_SUFFIXES:
        raise LoraLoadError(f"{path.name} is not a LoRA file: LoRA Studio reads LoRAs saved as .safetensors.")


def read_lora_state_dict(path: Path) -> dict[str, Any]:
    """Tensors of a LoRA file, on the CPU; a clear LoraLoadError for anything that isn't one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise LoraLoadError(f"LoRA file not found: {path}")
    require_lora_suffix(path)
    try:
        sd = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise LoraLoadError(f"{path.name} is not a readable safetensors file ({err}).") from None
    if not any("lora" in k or "hada_" in k or "lokr_" in k for k in sd):
        raise LoraLoadError(f"{path.name} holds no LoRA weights (is it a checkpoint or an embedding?).")
    return sd


def is_kohya(sd: dict[str, Any]) -> bool:
    return any(k.startswith(KOHYA_PREFIXES) for k in sd)


def prepare_kohya(sd: dict[str, Any]) -> dict[str, Any]:
    import torch

    sd = {k: v for k, v in sd.items() if k.startswith(KOHYA_PREFIXES)}
    for k in list(sd):
        m = _TE_QKV.match(k)
        if not m or m.group(1) + "_out_proj.lora_down.weight" in sd:
            continue
        out, down = m.group(1) + "_out_proj", sd[k]
        r, hidden = down.shape
        sd[out + ".lora_down.weight"] = torch.zeros(r, hidden, dtype=down.dtype)
        sd[out + ".lora_up.weight"] = torch.zeros(hidden, r, dtype=down.dtype)
        alpha = k.replace(".lora_down.weight", ".alpha")
        if alpha in sd:
            sd[out + ".alpha"] = sd[alpha].clone()
    return sd
