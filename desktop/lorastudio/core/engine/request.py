"""The frozen values a generation runs on: everything it needs, nothing shared."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path

from lorastudio.core.engine.memory import MemoryOptions
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.metadata.untrusted import require_float as _check_float
from lorastudio.core.metadata.untrusted import require_int as _check_int

# The ranges every generation request is held to, wherever it comes from (CLI, window, queue file).
MAX_STEPS = 500  # A1111's slider stops at 150; past a few hundred nothing changes but the wait
MIN_SIZE, MAX_SIZE, SIZE_STEP = 64, 4096, 8  # the VAE downsamples by 8: other sizes fail inside diffusers
MAX_PIXELS = 2048 * 2048  # 4 MP: about what 24 GB holds for SDXL; more runs out of memory, slowly
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed takes unsigned 64-bit seeds
RANDOM_SEED = -1
MAX_CFG = 100.0
MAX_CLIP_SKIP = 12  # CLIP-L has 12 layers; the engine checks the loaded text encoder's own count
MAX_BATCH = 100
MAX_LORA_WEIGHT = 100.0


def resolve_seed(seed: int | None) -> int:
    """``None`` or -1 (A1111's "random") → a random 32-bit seed; other values are kept as given."""
    return random.randrange(2**32) if seed is None or seed == RANDOM_SEED else seed


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

    def validate(self, text_encoder_layers: int | None = None) -> GenerationRequest:
        """Raise ``InvalidRequest`` with one sentence for the first setting out of range; return self.

        Called before any work (the CLI, the window and the queue all build requests). Clip skip is
        checked against ``text_encoder_layers`` when the loaded model is known, else against 12.
        """
        _check_int("Steps", self.steps, 1, MAX_STEPS)
        for name, value in (("Width", self.width), ("Height", self.height)):
            _check_int(name, value, MIN_SIZE, MAX_SIZE)
            if value % SIZE_STEP:
                raise InvalidRequest(f"{name} must be a multiple of {SIZE_STEP} (got {value}).")
        if self.width * self.height > MAX_PIXELS:
            raise InvalidRequest(
                f"{self.width}x{self.height} is more than {MAX_PIXELS // 1_000_000} megapixels; "
                "generate smaller and upscale."
            )
        _check_int("The batch size", self.batch_count, 1, MAX_BATCH)
        _check_int("The seed", self.seed, 0, MAX_SEED)
        if self.seed + self.batch_count - 1 > MAX_SEED:
            raise InvalidRequest(f"The seed plus the batch size must stay at or below {MAX_SEED}.")
        _check_float("CFG", self.cfg, 0.0, MAX_CFG)
        layers = MAX_CLIP_SKIP if text_encoder_layers is None else max(1, text_encoder_layers)
        _check_int("Clip skip", self.clip_skip, 1, layers)
        if self.preview_every < 0:
            raise InvalidRequest("Preview frequency must be 0 (off) or more.")
        for spec in self.loras:
            label = f"The weight of {spec.display_name}"
            _check_float(label, spec.weight, -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
            if spec.te_weight is not None:
                _check_float(f"The text-encoder weight of {spec.display_name}", spec.te_weight,
                             -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
        return self

    @property
    def active_loras(self) -> tuple[LoraSpec, ...]:
        return tuple(spec for spec in self.loras if spec.enabled)

