"""The frozen values a generation runs on: everything it needs, nothing shared."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lorastudio.core.engine.memory import MemoryOptions


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA in a generation. ``te_weight`` None means: the text encoder uses ``weight`` too."""

    path: Path
    weight: float = 1.0
    te_weight: float | None = None
    enabled: bool = True
    name: str = ""
    # Per-block weights (LoRA Block Weight): one value per block of the model's arch, BASE (the text
    # encoders) first; see core/engine/blocks.py. None = every block at 1.
    blocks: tuple[float, ...] | None = None
    # The fraction of the steps during which the LoRA is applied (A1111/Forge ``start=``/``stop=``).
    start: float = 0.0
    stop: float = 1.0

    @property
    def display_name(self) -> str:
        return self.name or self.path.stem


@dataclass(frozen=True)
class GenerationRequest:
    model: Path
    prompt: str
    negative_prompt: str = ""
    loras: tuple[LoraSpec, ...] = ()
    seed: int = 0
    steps: int = 20
    cfg: float = 7.0
    width: int = 512
    height: int = 512
    sampler: str = "Euler"
    clip_skip: int = 1  # A1111 convention: 1 = use the last layer
    batch_count: int = 1
    vae: Path | None = None
    preview_every: int = 0  # 0: no live previews
    # GPU memory savers from Settings; applied without a reload.
    memory: MemoryOptions = field(default_factory=MemoryOptions)
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def with_seed(self, seed: int) -> GenerationRequest:
        return replace(self, seed=seed)

    @property
    def active_loras(self) -> tuple[LoraSpec, ...]:
        return tuple(spec for spec in self.loras if spec.enabled)
