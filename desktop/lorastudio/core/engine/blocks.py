"""Per-block weights (hako-mikan's LoRA Block Weight, "LBW"): block names, presets, text syntax.

A block vector holds one weight per block, BASE (the text encoders) first: 17 values for SD 1.x/2.x,
12 for SDXL (shared/notes/lycoris-and-blocks.md). Layers in blocks the vector does not list (IN00,
IN03, OUT00–OUT02 on SD 1.x: convolutions only LoCon/LyCORIS touch) get 0, as LBW's ``to26`` expands
a short vector; layers outside every block (time embedding, conv_out) keep 1.
"""

from __future__ import annotations

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.types import BaseArch

BLOCK_IDS_SD1: tuple[str, ...] = (
    "BASE", "IN01", "IN02", "IN04", "IN05", "IN07", "IN08", "M00",
    "OUT03", "OUT04", "OUT05", "OUT06", "OUT07", "OUT08", "OUT09", "OUT10", "OUT11")
BLOCK_IDS_SDXL: tuple[str, ...] = (
    "BASE", "IN04", "IN05", "IN07", "IN08", "M00", "OUT00", "OUT01", "OUT02", "OUT03", "OUT04", "OUT05")

# LBW's default presets, by the blocks they keep at 1 (the rest are 0). The same names work on SDXL,
# where each keeps the same kind of blocks (BASE, inputs, middle, the first/last outputs).
_PRESETS_SD1: dict[str, tuple[float, ...]] = {
    "NONE": (0,) * 17,
    "ALL": (1,) * 17,
    "INS": (1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "IND": (1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "INALL": (1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "MIDD": (1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0),
    "OUTD": (1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0),
    "OUTS": (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1),
    "OUTALL": (1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1),
}
_PRESETS_SDXL: dict[str, tuple[float, ...]] = {
    "NONE": (0,) * 12,
    "ALL": (1,) * 12,
    "INS": (1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    "IND": (1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0),
    "INALL": (1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
    "MIDD": (1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0),
    "OUTD": (1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0),
    "OUTS": (1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1),
    "OUTALL": (1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1),
}
PRESET_NAMES: tuple[str, ...] = tuple(_PRESETS_SD1)


class BlockWeightError(LoraStudioError):
    """A block-weight text that is neither a preset name nor a list of the right length."""


def block_ids(arch: BaseArch) -> tuple[str, ...]:
    """The blocks of ``arch``'s vector (SD 2.x shares SD 1.x's UNet layout)."""
    return BLOCK_IDS_SDXL if arch is BaseArch.SDXL else BLOCK_IDS_SD1


def presets(arch: BaseArch) -> dict[str, tuple[float, ...]]:
    return dict(_PRESETS_SDXL if arch is BaseArch.SDXL else _PRESETS_SD1)


def parse_blocks(text: str, arch: BaseArch, user_presets: dict[str, tuple[float, ...]] | None = None
                 ) -> tuple[float, ...]:
    """``OUTD`` or ``1,0,0,…`` → a vector for ``arch``; a BlockWeightError sentence otherwise."""
    text = text.strip()
    table = {**presets(arch), **{k.upper(): v for k, v in (user_presets or {}).items()}}
    if text.upper() in table:
        return tuple(float(v) for v in table[text.upper()])
    ids = block_ids(arch)
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise BlockWeightError(f"Block weights '{text[:40]}' are neither a preset name nor numbers.") from None
    if len(values) != len(ids):
        raise BlockWeightError(f"Block weights need {len(ids)} values for {arch.label} (got {len(values)}).")
    if not all(-10.0 <= v <= 10.0 for v in values):  # also refuses nan/inf
        raise BlockWeightError("Each block weight must be a number between -10 and 10.")
    return values


def format_blocks(values: tuple[float, ...], arch: BaseArch) -> str:
    """A preset name when ``values`` is one, else ``1,0,0.5,…`` (the text A1111's LBW reads)."""
    for name, vec in presets(arch).items():
        if len(vec) == len(values) and all(float(a) == float(b) for a, b in zip(vec, values, strict=True)):
            return name
    return ",".join(f"{v:g}" for v in values)


def arch_for_length(n: int) -> BaseArch:
    """The arch a vector of ``n`` values is for (12 → SDXL, else SD 1.x)."""
    return BaseArch.SDXL if n == len(BLOCK_IDS_SDXL) else BaseArch.SD1


def parse_blocks_any(text: str) -> tuple[float, ...]:
    """``OUTD`` (SD 1.x vector) or 17/12 numbers, when the model is not known yet (prompt tags, CLI).
    The engine adapts a preset's vector to the loaded model with ``fit_blocks``."""
    text = text.strip()
    if text.upper() in _PRESETS_SD1:
        return parse_blocks(text, BaseArch.SD1)
    n = len(text.split(","))
    return parse_blocks(text, BaseArch.SDXL if n == len(BLOCK_IDS_SDXL) else BaseArch.SD1)


def fit_blocks(values: tuple[float, ...], arch: BaseArch) -> tuple[float, ...]:
    """``values`` for ``arch``: as is when the length fits, the same preset when it is one of the other
    arch's presets; a BlockWeightError sentence otherwise."""
    ids = block_ids(arch)
    if len(values) == len(ids):
        return values
    other = BaseArch.SD1 if arch is BaseArch.SDXL else BaseArch.SDXL
    name = format_blocks(values, other)
    if name in presets(other):
        return presets(arch)[name]
    raise BlockWeightError(f"Block weights need {len(ids)} values for {arch.label} (got {len(values)}).")


def block_factor(block: str, values: tuple[float, ...] | None, arch: BaseArch) -> float:
    """The multiplier of a layer in LBW block ``block`` ("" = in no block) under ``values``."""
    if values is None or not block:
        return 1.0
    ids = block_ids(arch)
    return float(values[ids.index(block)]) if block in ids else 0.0
