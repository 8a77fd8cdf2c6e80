"""Plain values for text generation: the adapter mix and a generation request/result."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lorastudio.core.metadata.untrusted import require_float, require_int

MAX_NEW_TOKENS = 4096
MAX_SEED = 2**64 - 1
MAX_ADAPTER_WEIGHT = 100.0


@dataclass(frozen=True)
class TextMix:
    """Adapters (by folder) and their weights; immutable, sliders show it and never own it."""

    entries: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, pairs: dict[str, float] | list[tuple[str | Path, float]]) -> TextMix:
        items = pairs.items() if isinstance(pairs, dict) else pairs
        return cls(tuple((str(Path(p)), float(w)) for p, w in items))

    @property
    def active(self) -> tuple[tuple[str, float], ...]:
        """Entries whose weight changes the model (weight 0 adds nothing)."""
        return tuple((p, w) for p, w in self.entries if w != 0.0)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.entries)

    def with_weight(self, path: str | Path, weight: float) -> TextMix:
        key = str(Path(path))
        if key in self.paths:
            return TextMix(tuple((p, float(weight) if p == key else w) for p, w in self.entries))
        return TextMix((*self.entries, (key, float(weight))))

    def without(self, path: str | Path) -> TextMix:
        key = str(Path(path))
        return TextMix(tuple(e for e in self.entries if e[0] != key))

    def validate(self) -> TextMix:
        """Raise ``InvalidRequest`` if a weight is not finite or beyond ±100; return self."""
        for path, weight in self.entries:
            require_float(f"The weight of {Path(path).name}", weight, -MAX_ADAPTER_WEIGHT, MAX_ADAPTER_WEIGHT)
        return self


@dataclass(frozen=True)
class TextGenerationRequest:
    """Everything one generation needs. ``temperature == 0`` means greedy decoding."""

    prompt: str
    max_new_tokens: int = 64
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.0
    seed: int | None = 0  # None: a random seed, reported in the result

    def updated(self, **changes: object) -> TextGenerationRequest:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> TextGenerationRequest:
        """Raise ``InvalidRequest`` with one sentence for the first setting out of range; return self."""
        require_int("Max new tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        require_float("Temperature", self.temperature, 0.0, 10.0)
        require_float("Top-p", self.top_p, 0.0, 1.0)
        require_int("Top-k", self.top_k, 0, 100_000)
        require_float("Repetition penalty", self.repetition_penalty, 0.01, 10.0)
        if self.seed is not None:
            require_int("The seed", self.seed, 0, MAX_SEED)
        return self


@dataclass(frozen=True)
class TextGenerationResult:
    prompt: str
    text: str  # the continuation only
    token_ids: tuple[int, ...]  # the new tokens only
    seed: int
    mix: TextMix
    cancelled: bool = False
