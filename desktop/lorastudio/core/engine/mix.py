"""The LoRA mix as an immutable value, and A1111's ``<lora:name:weight>`` prompt syntax.

Widgets show a ``LoraMix``; every edit makes a new one. The engine gets its ``specs``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lorastudio.core.engine.request import LoraSpec

# A1111 extra_networks: <lora:name[:te_mult[:unet_mult]]> plus named te=/unet= arguments.
_TAG = re.compile(r"<lora:([^:>]+)((?::[^:>]*)*)>", re.IGNORECASE)


@dataclass(frozen=True)
class PromptLora:
    name: str
    weight: float
    te_weight: float | None


@dataclass(frozen=True)
class LoraMix:
    specs: tuple[LoraSpec, ...] = ()

    def index_of(self, path: Path) -> int:
        for i, spec in enumerate(self.specs):
            if spec.path == path:
                return i
        return -1

    def added(self, spec: LoraSpec) -> LoraMix:
        """Add, or update the weight of the row for the same file (no duplicate rows)."""
        i = self.index_of(spec.path)
        if i >= 0:
            return self.updated(i, weight=spec.weight, te_weight=spec.te_weight, enabled=True)
        return LoraMix((*self.specs, spec))

    def updated(self, index: int, **changes: object) -> LoraMix:
        specs = list(self.specs)
        specs[index] = replace(specs[index], **changes)  # type: ignore[arg-type]
        return LoraMix(tuple(specs))

    def removed(self, index: int) -> LoraMix:
        return LoraMix(self.specs[:index] + self.specs[index + 1:])

    def moved(self, index: int, to: int) -> LoraMix:
        specs = list(self.specs)
        to = max(0, min(len(specs) - 1, to))
        specs.insert(to, specs.pop(index))
        return LoraMix(tuple(specs))

    def to_prompt_syntax(self) -> str:
        """The enabled rows as A1111 tags, e.g. ``<lora:ink_v2:0.8> <lora:neon:0.5:0.2>``."""
        tags = []
        for spec in self.specs:
            if not spec.enabled:
                continue
            # A1111 resolves <lora:NAME> by file name, so tags name the file, not the title.
            name = spec.path.stem.replace(":", "").replace(">", "")
            if spec.te_weight is None:
                tags.append(f"<lora:{name}:{spec.weight:g}>")
            else:  # A1111 order: te multiplier first, then unet
                tags.append(f"<lora:{name}:{spec.te_weight:g}:{spec.weight:g}>")
        return " ".join(tags)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def extract_prompt_loras(prompt: str) -> tuple[str, list[PromptLora]]:
    """Split ``<lora:...>`` tags out of a prompt: (prompt without them, the tags in order)."""
    found: list[PromptLora] = []

    def take(m: re.Match[str]) -> str:
        args = [a.strip() for a in m.group(2).split(":")[1:]]
        named = {k.strip(): _number(v) for k, _, v in (a.partition("=") for a in args if "=" in a)}
        positional = [_number(a) for a in args if "=" not in a]
        te = named.get("te", positional[0] if positional else None)
        unet = named.get("unet", positional[1] if len(positional) > 1 else None)
        weight = unet if unet is not None else (te if te is not None else 1.0)
        te_weight = te if unet is not None and te is not None and te != unet else None
        found.append(PromptLora(m.group(1).strip(), weight, te_weight))
        return ""

    clean = _TAG.sub(take, prompt)
    clean = re.sub(r"[ \t]{2,}", " ", clean)
    clean = re.sub(r"\s*,\s*(,\s*)+", ", ", clean).strip().strip(",").strip()
    return clean, found


def merge_prompt_loras(mix: LoraMix, tags: list[PromptLora],
                       resolve: Callable[[str], LoraSpec | None]) -> tuple[LoraMix, list[str]]:
    """Add/update rows for prompt tags; returns the new mix and the names that were not found."""
    missing: list[str] = []
    for tag in tags:
        spec = resolve(tag.name)
        if spec is None:
            missing.append(tag.name)
            continue
        mix = mix.added(replace(spec, weight=tag.weight, te_weight=tag.te_weight, enabled=True))
    return mix, missing
