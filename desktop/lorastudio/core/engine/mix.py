"""The LoRA mix as an immutable value, A1111's ``<lora:name:weight>`` prompt syntax (with LBW's
``lbw=`` and ``start=``/``stop=`` options) and the ``--lora FILE:W:te=:lbw=:start=:stop=`` argument.

Widgets show a ``LoraMix``; every edit makes a new one. The engine gets its ``specs``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lorastudio.core.engine.blocks import arch_for_length, format_blocks, parse_blocks_any
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.errors import LoraStudioError

# A1111 extra_networks: <lora:name[:te_mult[:unet_mult]]> plus named te=/unet= arguments.
_TAG = re.compile(r"<lora:([^:>]+)((?::[^:>]*)*)>", re.IGNORECASE)


@dataclass(frozen=True)
class PromptLora:
    name: str
    weight: float
    te_weight: float | None
    # ``lbw=`` as written (a preset name or numbers): the model's arch decides its vector; see
    # ``blocks_vector``.
    blocks: str | None = None
    start: float = 0.0
    stop: float = 1.0

    def blocks_vector(self) -> tuple[float, ...] | None:
        """The ``lbw=`` value as a vector (BlockWeightError sentence when it is not one)."""
        return None if self.blocks is None else parse_blocks_any(self.blocks)


class LoraArgError(LoraStudioError):
    """A ``--lora`` argument or ``<lora:…>`` option that cannot be read."""


def _fraction(text: str, what: str) -> float:
    value = _number(text)
    if value is None or not 0.0 <= value <= 1.0:
        raise LoraArgError(f"{what} must be a fraction of the steps between 0 and 1 (got '{text[:20]}').")
    return value


def _weight(text: str, what: str) -> float:
    value = _number(text)
    if value is None or not -10.0 <= value <= 10.0:  # also refuses nan/inf
        raise LoraArgError(f"The {what} must be a number between -10 and 10 (got '{text[:20]}').")
    return value


def parse_lora_arg(text: str) -> LoraSpec:
    """``FILE[:W][:te=W2][:lbw=PRESET|v1,v2,…][:start=F][:stop=F]`` → a LoraSpec (path not checked).

    A Windows drive letter (``C:\\loras\\x.safetensors``) is part of the file name, not an option."""
    drive = ""
    if len(text) >= 2 and text[1] == ":" and text[0].isalpha() and (len(text) == 2 or text[2] in "\\/"):
        drive, text = text[:2], text[2:]
    parts = text.split(":")
    path, options = drive + parts[0], parts[1:]
    if not path.strip():
        raise LoraArgError("A --lora value needs a file name before its options.")
    weight, te, blocks, start, stop = 1.0, None, None, 0.0, 1.0
    for i, option in enumerate(options):
        key, eq, value = option.partition("=")
        key = key.strip().lower()
        if not eq:
            if i != 0:
                raise LoraArgError(f"Unknown LoRA option '{option[:20]}': use te=, lbw=, start= or stop=.")
            weight = _weight(option, "LoRA weight")
        elif key == "te":
            te = _weight(value, "text encoder weight")
        elif key == "lbw":
            blocks = parse_blocks_any(value)
        elif key == "start":
            start = _fraction(value, "start")
        elif key == "stop":
            stop = _fraction(value, "stop")
        else:
            raise LoraArgError(f"Unknown LoRA option '{key[:20]}': use te=, lbw=, start= or stop=.")
    if start >= stop:
        raise LoraArgError(f"start ({start:g}) must be before stop ({stop:g}).")
    return LoraSpec(Path(path), weight, te_weight=te, blocks=blocks, start=start, stop=stop)


def _options(spec: LoraSpec) -> str:
    """The ``:lbw=…:start=…:stop=…`` tail of a tag (empty when the row has none)."""
    out = ""
    if spec.blocks is not None:
        out += f":lbw={format_blocks(tuple(spec.blocks), arch_for_length(len(spec.blocks)))}"
    if spec.start > 0.0:
        out += f":start={spec.start:g}"
    if spec.stop < 1.0:
        out += f":stop={spec.stop:g}"
    return out


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
            return self.updated(i, weight=spec.weight, te_weight=spec.te_weight, enabled=True,
                                blocks=spec.blocks, start=spec.start, stop=spec.stop)
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
                tags.append(f"<lora:{name}:{spec.weight:g}{_options(spec)}>")
            else:  # A1111 order: te multiplier first, then unet
                tags.append(f"<lora:{name}:{spec.te_weight:g}:{spec.weight:g}{_options(spec)}>")
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
        texts = {k.strip().lower(): v.strip() for k, _, v in (a.partition("=") for a in args if "=" in a)}
        named = {k: _number(v) for k, v in texts.items()}
        positional = [_number(a) for a in args if "=" not in a]
        te = named.get("te", positional[0] if positional else None)
        unet = named.get("unet", positional[1] if len(positional) > 1 else None)
        weight = unet if unet is not None else (te if te is not None else 1.0)
        te_weight = te if unet is not None and te is not None and te != unet else None
        start, stop = named.get("start"), named.get("stop")
        found.append(PromptLora(m.group(1).strip(), weight, te_weight, texts.get("lbw") or None,
                                min(1.0, max(0.0, start)) if start is not None else 0.0,
                                min(1.0, max(0.0, stop)) if stop is not None else 1.0))
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
        mix = mix.added(replace(spec, weight=tag.weight, te_weight=tag.te_weight, enabled=True,
                                blocks=tag.blocks_vector(), start=tag.start, stop=tag.stop))
    return mix, missing
