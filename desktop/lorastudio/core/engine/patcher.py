"""Weight patching for adapters that are not low-rank at run time (LoHa, LoKr, DoRA, full) and for
LoRA rows with per-block weights or moved off diffusers' adapters.

Each touched layer's original weight is kept once, shared by every adapter; each adapter keeps its
factors. A mix change recomputes only the layers whose (adapter, scale) list changed:
``W = W0 + Σ_i s_i·ΔW_i`` (DoRA: ``s_i·(W'_i − W0)``), in float32, cast back to the model's dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lorastudio.core.engine.adapter_keys import Target
from lorastudio.core.engine.adapter_math import LayerAdapter, apply_dora

# (adapter name, target) → the factor ΔW is multiplied by (row weight × block weight); 0 = off.
ScaleFn = Callable[[str, Target], float]


class WeightPatcher:
    def __init__(self) -> None:
        self._originals: dict[Target, tuple[Any, Any, Any]] = {}  # target → (module, W0, b0 or None)
        self._adapters: dict[str, dict[Target, LayerAdapter]] = {}
        self._applied: dict[Target, tuple[tuple[str, float], ...]] = {}
        self.layer_updates = 0  # layers rewritten so far (benchmarks read it)

    def __contains__(self, name: str) -> bool:
        return name in self._adapters

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._adapters)

    def add(self, name: str, layers: dict[Target, LayerAdapter], modules: dict[Target, Any]) -> None:
        """Register an adapter's layers; nothing changes in the model until ``apply``."""
        import torch

        with torch.no_grad():
            for target in layers:
                if target not in self._originals:
                    mod = modules[target]
                    bias = getattr(mod, "bias", None)
                    self._originals[target] = (mod, mod.weight.detach().clone(),
                                               None if bias is None else bias.detach().clone())
        self._adapters[name] = dict(layers)

    def remove(self, name: str) -> None:
        """Drop an adapter and put its layers back as the other adapters leave them."""
        layers = self._adapters.pop(name, {})
        for target in layers:
            applied = tuple(c for c in self._applied.get(target, ()) if c[0] != name)
            self._write(target, applied)
            if not any(target in other for other in self._adapters.values()):
                self._originals.pop(target, None)
                self._applied.pop(target, None)

    def clear(self) -> None:
        """Forget everything without writing (the model is being unloaded)."""
        self._originals.clear()
        self._adapters.clear()
        self._applied.clear()

    def apply(self, scale: ScaleFn) -> int:
        """Bring every touched layer to ``W0 + Σ scale·ΔW``; returns how many layers were rewritten."""
        changed = 0
        for target in self._originals:
            wanted = []
            for name, layers in self._adapters.items():
                if target in layers:
                    s = float(scale(name, target))
                    if s != 0.0:
                        wanted.append((name, s))
            contributions = tuple(wanted)
            if contributions != self._applied.get(target, ()):
                self._write(target, contributions)
                changed += 1
        return changed

    def _write(self, target: Target, contributions: tuple[tuple[str, float], ...]) -> None:
        import torch

        mod, w0, b0 = self._originals[target]
        with torch.no_grad():
            if not contributions:
                mod.weight.data.copy_(w0)
                if b0 is not None:
                    mod.bias.data.copy_(b0)
            else:
                base = w0.float()
                weight = base.clone()
                bias = None if b0 is None else b0.float().clone()
                for name, s in contributions:
                    layer = self._adapters[name][target]
                    delta, dbias = layer.delta(tuple(w0.shape))
                    if delta is not None:
                        delta = delta.to(base.device)
                        if layer.magnitude is not None:
                            delta = apply_dora(base, delta, layer.magnitude.to(base.device)) - base
                        weight += s * delta
                    if dbias is not None and bias is not None:
                        bias += s * dbias.to(bias.device).reshape(bias.shape)
                mod.weight.data.copy_(weight.to(w0.dtype))
                if bias is not None:
                    mod.bias.data.copy_(bias.to(b0.dtype))
        self._applied[target] = contributions
        self.layer_updates += 1

    # -- memory ------------------------------------------------------------------------------
    def adapter_nbytes(self, name: str) -> int:
        return sum(layer.nbytes() for layer in self._adapters.get(name, {}).values())

    def originals_nbytes(self) -> int:
        total = 0
        for _mod, w0, b0 in self._originals.values():
            total += int(w0.numel()) * int(w0.element_size())
            if b0 is not None:
                total += int(b0.numel()) * int(b0.element_size())
        return total
