"""The weight change ΔW each adapter format defines, as A1111's and ComfyUI's network code apply it.

- LoRA/LoCon: ΔW = up @ down · alpha/rank (alpha missing → rank); conv down [r,in,kh,kw] with up
  [out,r,1,1]; an optional ``lora_mid`` is the Tucker core (LoCon "cp").
- LoHa: ΔW = (w1_a @ w1_b) ⊙ (w2_a @ w2_b) · alpha/w1_b.rows; Tucker form with ``hada_t1``/``hada_t2``.
- LoKr: ΔW = kron(w1, w2), each factor full or ``_a @ _b`` (or Tucker with ``lokr_t2``);
  scale alpha/rank of the decomposed factor, 1 when neither is decomposed.
- Full: ΔW = ``diff`` (bias ``diff_b``); LyCORIS norm layers: ``w_norm``/``b_norm``.
- DoRA (``dora_scale`` or PEFT ``lora_magnitude_vector``): W' = m·(W+ΔW)/‖W+ΔW‖, the norm taken on the
  axis the magnitude has (per output row for PEFT and ``[out,1]`` scales, per input column for LyCORIS'
  ``[1,in]``); a weight w blends: W + w·(W' − W). See shared/notes/lycoris-and-blocks.md.

Everything is computed in float32; the patcher casts back to the model's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

LORA_ROLES = {"lora_down.weight": "down", "lora_up.weight": "up", "lora_mid.weight": "mid",
              "lora_A.weight": "down", "lora_B.weight": "up", "lora.down.weight": "down",
              "lora.up.weight": "up"}

# Refused formats, by a role only they use → the name the refusal sentence gives.
REFUSED = {"oft_blocks": "OFT", "oft_diag": "OFT", "oft_R": "OFT", "boft_R": "BOFT", "boft_blocks": "BOFT",
           "boft_s": "BOFT", "a1.weight": "GLoRA", "a2.weight": "GLoRA", "b1.weight": "GLoRA",
           "b2.weight": "GLoRA", "on_input": "IA3"}


class UnsupportedLayer(ValueError):
    """A layer whose tensors form no format we can apply exactly; ``kind`` names what it is."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def layer_kind(roles: set[str]) -> str:
    """``lora`` | ``loha`` | ``lokr`` | ``full`` | ``norm``; UnsupportedLayer for anything else."""
    for role in roles:
        if role in REFUSED:
            raise UnsupportedLayer(REFUSED[role], f"role {role}")
    if roles & {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}:
        need = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"}
        kind = "loha"
    elif any(r.startswith("lokr_") for r in roles):
        if not ({"lokr_w1"} <= roles or {"lokr_w1_a", "lokr_w1_b"} <= roles):
            raise UnsupportedLayer("LoKr", "LoKr layer without a complete w1")
        if not ({"lokr_w2"} <= roles or {"lokr_w2_a", "lokr_w2_b"} <= roles):
            raise UnsupportedLayer("LoKr", "LoKr layer without a complete w2")
        return "lokr"
    elif "diff" in roles or "diff_b" in roles:
        return "full"
    elif "w_norm" in roles or "b_norm" in roles:
        return "norm"
    elif any(r in LORA_ROLES for r in roles):
        mapped = {LORA_ROLES[r] for r in roles if r in LORA_ROLES}
        need_map = {"down", "up"}
        if not need_map <= mapped:
            raise UnsupportedLayer("LoRA", "LoRA layer without both up and down")
        return "lora"
    else:
        raise UnsupportedLayer("unknown", f"roles {sorted(roles)}")
    if not need <= roles:
        raise UnsupportedLayer("LoHa", "incomplete LoHa layer")
    return kind


def _prod(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 1


def delta_shape(kind: str, shapes: dict[str, tuple[int, ...]]) -> tuple[int, int] | None:
    """(output rows, elements per row) of ΔW from tensor shapes alone (the header), for the fit check."""
    def s(role: str) -> tuple[int, ...]:
        return shapes.get(role, ())

    if kind == "lora":
        down = next(s(r) for r in ("lora_down.weight", "lora_A.weight", "lora.down.weight") if r in shapes)
        up = next(s(r) for r in ("lora_up.weight", "lora_B.weight", "lora.up.weight") if r in shapes)
        if len(down) < 2 or len(up) < 2:
            return None
        per_row = _prod(down[1:])
        if "lora_mid.weight" in shapes:  # Tucker: the kernel lives in the core
            per_row = down[1] * _prod(s("lora_mid.weight")[2:])
        return up[0], per_row
    if kind == "loha":
        if "hada_t1" in shapes:
            return s("hada_w1_a")[1], s("hada_w1_b")[1] * _prod(s("hada_t1")[2:])
        return s("hada_w1_a")[0], _prod(s("hada_w1_b")[1:])
    if kind == "lokr":
        w1 = s("lokr_w1") or (s("lokr_w1_a")[0], s("lokr_w1_b")[1])
        if "lokr_w2" in shapes:
            w2 = s("lokr_w2")
        elif "lokr_t2" in shapes:
            w2 = (s("lokr_w2_a")[1], s("lokr_w2_b")[1], *s("lokr_t2")[2:])
        else:
            w2 = (s("lokr_w2_a")[0], *s("lokr_w2_b")[1:])
        return w1[0] * w2[0], w1[1] * _prod(w2[1:])
    if kind == "full":
        d = s("diff")
        return (d[0], _prod(d[1:])) if d else None
    if kind == "norm":
        d = s("w_norm") or s("b_norm")
        return (d[0], 1) if d else None
    return None


@dataclass
class LayerAdapter:
    """The factors of one layer of one adapter file, kept in memory (the file is never read again)."""

    kind: str
    tensors: dict[str, Any]
    alpha: float | None = None
    magnitude: Any = None  # DoRA magnitude (dora_scale or lora_magnitude_vector), None for plain ΔW
    scale_override: float | None = None  # PEFT files: lora_alpha / r from their adapter metadata
    extra: dict[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        tensors = [*self.tensors.values(), *([self.magnitude] if self.magnitude is not None else [])]
        return sum(int(t.numel()) * int(t.element_size()) for t in tensors)

    # -- ΔW ------------------------------------------------------------------------------------
    def delta(self, shape: tuple[int, ...]) -> tuple[Any, Any]:
        """(ΔW reshaped to ``shape``, Δbias or None), float32, before DoRA and any user weight."""
        t = {k: v.float() for k, v in self.tensors.items()}
        bias = None
        if self.kind == "lora":
            w = _lora(t) * self._lora_scale(t)
        elif self.kind == "loha":
            w = _loha(t) * self._scale(t["hada_w1_b"].shape[0])
        elif self.kind == "lokr":
            w, dim = _lokr(t, shape)
            w = w * self._scale(dim)
        elif self.kind == "full":
            w = t.get("diff")
            bias = t.get("diff_b")
        else:  # norm
            w = t.get("w_norm")
            bias = t.get("b_norm")
        if w is not None:
            w = w.reshape(shape)
        return w, bias

    def _lora_scale(self, t: dict[str, Any]) -> float:
        if self.scale_override is not None:
            return self.scale_override
        down = _get(t, "lora_down.weight", "lora_A.weight", "lora.down.weight")
        return self._scale(int(down.shape[0]))

    def _scale(self, dim: int | None) -> float:
        if self.alpha is None or dim is None:
            # kohya: missing alpha means alpha = rank; LoKr without a decomposed factor: 1
            return 1.0
        return float(self.alpha) / float(dim)


def peft_scale(metadata: dict[str, str], component: str, module: str) -> float | None:
    """lora_alpha / r of a PEFT-layout layer from diffusers' ``lora_adapter_metadata`` (keys
    ``unet.r``, ``unet.lora_alpha``, ``unet.rank_pattern``, …); None when the file has none (then
    diffusers takes lora_alpha = r, scale 1)."""
    import json

    raw = metadata.get("lora_adapter_metadata")
    if not raw:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(meta, dict) or f"{component}.r" not in meta:
        return None

    def pick(name: str, default: Any) -> Any:
        pattern = meta.get(f"{component}.{name}_pattern") or {}
        for key, value in (pattern.items() if isinstance(pattern, dict) else ()):
            if module == key or module.endswith("." + key):
                return value
        return default

    try:
        r = float(pick("rank", meta[f"{component}.r"]))
        alpha = float(pick("alpha", meta.get(f"{component}.lora_alpha", r)))
    except (TypeError, ValueError):
        return None
    if r <= 0:
        return None
    return alpha / (math.sqrt(r) if meta.get(f"{component}.use_rslora") else r)


def _get(t: dict[str, Any], *roles: str) -> Any:
    for role in roles:
        if role in t:
            return t[role]
    raise KeyError(roles[0])


def _cp(core: Any, wa: Any, wb: Any) -> Any:
    """LyCORIS Tucker rebuild: core [r, r, kh, kw], wa [r, out], wb [r, in] → [out, in, kh, kw]."""
    import torch

    temp = torch.einsum("i j k l, j r -> i r k l", core, wb)
    return torch.einsum("i j k l, i r -> r j k l", temp, wa)


def _lora(t: dict[str, Any]) -> Any:
    down = _get(t, "lora_down.weight", "lora_A.weight", "lora.down.weight")
    up = _get(t, "lora_up.weight", "lora_B.weight", "lora.up.weight")
    if "lora_mid.weight" in t:
        import torch

        mid = t["lora_mid.weight"]
        # A1111 rebuild_cp_decomposition(up, down, mid): einsum('n m k l, i n, m j -> i j k l')
        return torch.einsum("n m k l, i n, m j -> i j k l", mid, up.flatten(1), down.flatten(1))
    return up.flatten(1) @ down.flatten(1)


def _loha(t: dict[str, Any]) -> Any:
    if "hada_t1" in t:
        w1 = _cp(t["hada_t1"], t["hada_w1_a"], t["hada_w1_b"])
        w2 = _cp(t["hada_t2"], t["hada_w2_a"], t["hada_w2_b"])
        return w1 * w2
    w1 = t["hada_w1_a"] @ t["hada_w1_b"].flatten(1)
    w2 = t["hada_w2_a"] @ t["hada_w2_b"].flatten(1)
    return w1 * w2


def _lokr(t: dict[str, Any], shape: tuple[int, ...]) -> tuple[Any, int | None]:
    import torch

    dim: int | None = None
    if "lokr_w1" in t:
        w1 = t["lokr_w1"]
    else:
        w1 = t["lokr_w1_a"] @ t["lokr_w1_b"]
        dim = int(t["lokr_w1_b"].shape[0])
    if "lokr_w2" in t:
        w2 = t["lokr_w2"]
    elif "lokr_t2" in t:
        w2 = _cp(t["lokr_t2"], t["lokr_w2_a"], t["lokr_w2_b"])
        dim = dim if dim is not None else int(t["lokr_w2_b"].shape[0])
    else:
        b = t["lokr_w2_b"]
        w2 = (t["lokr_w2_a"] @ b.flatten(1)).reshape(t["lokr_w2_a"].shape[0], *b.shape[1:])
        dim = dim if dim is not None else int(b.shape[0])
    if w2.dim() == 4:
        w1 = w1.unsqueeze(2).unsqueeze(2)
    return torch.kron(w1, w2).reshape(shape), dim


def apply_dora(w0: Any, delta: Any, magnitude: Any) -> Any:
    """DoRA's weight W' = m·(W0+ΔW)/‖W0+ΔW‖ on the axis ``magnitude`` has; float32 in and out."""
    merged = w0 + delta
    m = magnitude.float()
    rows = merged.shape[0]
    if m.numel() == rows and (m.dim() == 1 or m.shape[0] == rows):
        norm = merged.reshape(rows, -1).norm(dim=1).reshape(rows, *[1] * (merged.dim() - 1))
        return merged * (m.reshape(norm.shape) / norm)
    cols = merged.shape[1]
    norm = merged.transpose(0, 1).reshape(cols, -1).norm(dim=1)
    norm = norm.reshape(1, cols, *[1] * (merged.dim() - 2))
    return merged * (m.reshape(norm.shape) / norm)
