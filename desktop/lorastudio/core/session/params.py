"""The generation parameters the user edits: one frozen value, held by an observable model."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from lorastudio.core.engine.schedulers import DEFAULT_SAMPLER
from lorastudio.core.session.observable import Observable

RANDOM_SEED = -1
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class GenerationParams:
    """What the generation panel shows. ``seed`` -1: a new random seed for each job."""

    model: Path | None = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = RANDOM_SEED
    steps: int = 20
    cfg: float = 7.0
    width: int = 512
    height: int = 512
    sampler: str = DEFAULT_SAMPLER
    clip_skip: int = 1
    batch_count: int = 1
    vae: Path | None = None

    def resolved_seed(self, rng: random.Random | None = None) -> int:
        """The seed a job runs with: the chosen one, or a fresh random one for -1."""
        if self.seed >= 0:
            return self.seed
        return (rng or random).randrange(MAX_SEED)


PARAM_NAMES = frozenset(f.name for f in fields(GenerationParams))


class ParamsModel(Observable[GenerationParams]):
    """The observable parameters; ``update`` changes some fields and emits once."""

    def __init__(self, value: GenerationParams | None = None) -> None:
        super().__init__(value or GenerationParams())
        self.last_seed: int | None = None

    def update(self, **changes: Any) -> bool:
        unknown = set(changes) - PARAM_NAMES
        if unknown:
            raise TypeError(f"Unknown generation parameters: {', '.join(sorted(unknown))}")
        return self.set(replace(self.value, **changes))
