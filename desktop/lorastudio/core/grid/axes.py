"""Grid axes: what varies along X, Y and Z, parsed from one line of text each.

Syntax (``KIND[:TARGET]:VALUES``; VALUES is a comma list, CSV-quoted where a value holds a comma, or
a range ``START:STOP:COUNT`` = COUNT evenly spaced values for the numeric kinds)::

    lora:NAME:0,0.25,0.5,0.75,1     a LoRA's weight (NAME: a mix row's file name, or a file path)
    lora:NAME:0:1:5                 the same as a range
    on:NAME                         the LoRA off, then on (values "off,on" may be given explicitly)
    file:NAME:FILE,FILE             the LoRA row NAME uses each file in turn (a file name without a
                                    folder is looked for next to NAME's file: epochs of one training)
    blocks:NAME:ALL,INS,OUTD        LoRA Block Weight presets or quoted 17/12-value vectors
    prompt:cat,dog,fox              A1111's Prompt S/R: the first value is searched, each replaces it
    seed:1,2,3   steps:10:30:3   cfg:4,7   sampler:Euler,DDIM   checkpoint:PATH,PATH

Every value is checked here, so a bad axis fails with one sentence before any model loads.
"""

from __future__ import annotations

import csv
import enum
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.engine.blocks import BlockWeightError, arch_for_length, format_blocks, parse_blocks_any
from lorastudio.core.engine.request import MAX_CFG, MAX_SEED, MAX_STEPS, RANDOM_SEED, resolve_seed
from lorastudio.core.engine.schedulers import SAMPLERS
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.metadata.untrusted import finite_float, parse_int

MAX_AXIS_VALUES = 64  # A1111 grids past ~20 per side are unreadable; 64 leaves room for seeds
MAX_CELLS = 1024
MAX_AXIS_TEXT = 8000
MAX_VALUE_TEXT = 1000  # a prompt replacement or a checkpoint path
LORA_WEIGHT_LIMIT = 10.0  # as --lora and <lora:…> tags


class GridAxisError(LoraStudioError):
    """An axis text, value or grid set-up that cannot be used."""


class AxisKind(enum.Enum):
    LORA_WEIGHT = "lora"
    LORA_ON = "on"
    BLOCKS = "blocks"
    PROMPT = "prompt"
    SEED = "seed"
    STEPS = "steps"
    CFG = "cfg"
    SAMPLER = "sampler"
    CHECKPOINT = "checkpoint"
    LORA_FILE = "file"

    @property
    def needs_target(self) -> bool:
        return self in (AxisKind.LORA_WEIGHT, AxisKind.LORA_ON, AxisKind.BLOCKS, AxisKind.LORA_FILE)


_ALIASES = {"weight": AxisKind.LORA_WEIGHT, "lora-on": AxisKind.LORA_ON, "lbw": AxisKind.BLOCKS,
            "lora-file": AxisKind.LORA_FILE, "epoch": AxisKind.LORA_FILE,
            "sr": AxisKind.PROMPT, "model": AxisKind.CHECKPOINT, **{k.value: k for k in AxisKind}}
_NUMERIC = (AxisKind.LORA_WEIGHT, AxisKind.SEED, AxisKind.STEPS, AxisKind.CFG)
_ON = {"on": True, "1": True, "true": True, "yes": True, "off": False, "0": False, "false": False, "no": False}

AxisValue = float | int | bool | str | tuple[float, ...]


@dataclass(frozen=True)
class Axis:
    """One axis: its kind, the LoRA it acts on (``target``, LoRA kinds only) and its values."""

    kind: AxisKind
    values: tuple[AxisValue, ...]
    target: str = ""

    @property
    def target_name(self) -> str:
        """The LoRA as labels and the grid file name it: a path's file name without the suffix."""
        return lora_name(self.target)

    @property
    def title(self) -> str:
        name = self.target_name
        return {AxisKind.LORA_WEIGHT: name, AxisKind.LORA_ON: name, AxisKind.BLOCKS: f"{name} blocks",
                AxisKind.PROMPT: "Prompt S/R", AxisKind.SEED: "Seed", AxisKind.STEPS: "Steps",
                AxisKind.CFG: "CFG", AxisKind.SAMPLER: "Sampler", AxisKind.CHECKPOINT: "Checkpoint",
                AxisKind.LORA_FILE: f"{name} file"}[self.kind]

    def value_text(self, index: int) -> str:
        """The value as the axis syntax writes it (and the grid file records it)."""
        value = self.values[index]
        if self.kind is AxisKind.LORA_ON:
            return "on" if value else "off"
        if isinstance(value, tuple):
            return format_blocks(value, arch_for_length(len(value)))
        if isinstance(value, float):
            return f"{value:g}"
        if self.kind is AxisKind.CHECKPOINT:
            return model_name(str(value))
        if self.kind is AxisKind.LORA_FILE:
            return lora_name(str(value))
        return str(value)

    def label(self, index: int) -> str:
        """What the grid shows above a column / left of a row, e.g. ``ink-wash: 0.5``, ``Seed: 2``."""
        return f"{self.title}: {self.value_text(index)}"

    def to_text(self) -> str:
        """This axis in the syntax ``parse_axis`` reads."""
        values = [self.value_text(i) for i in range(len(self.values))]
        if self.kind in (AxisKind.CHECKPOINT, AxisKind.LORA_FILE):  # full paths: the text is for this machine
            values = [str(v) for v in self.values]
        row = _csv_row(values)
        return f"{self.kind.value}:{self.target}:{row}" if self.kind.needs_target else f"{self.kind.value}:{row}"


@dataclass(frozen=True)
class GridSpec:
    """Up to three axes. Cells are ``len(x) × len(y) × len(z)``; a missing axis counts as one."""

    x: Axis
    y: Axis | None = None
    z: Axis | None = None

    def __post_init__(self) -> None:
        seen: set[tuple[AxisKind, str]] = set()
        for axis in self.axes:
            key = (axis.kind, axis.target_name.lower())
            if key in seen:
                raise GridAxisError(f"Two axes vary the same thing ({axis.title}); merge their values into one.")
            seen.add(key)
        if self.count > MAX_CELLS:
            raise GridAxisError(f"The grid has {self.count} cells; at most {MAX_CELLS} are allowed.")

    @property
    def axes(self) -> tuple[Axis, ...]:
        return tuple(a for a in (self.x, self.y, self.z) if a is not None)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.x.values), len(self.y.values) if self.y else 1, len(self.z.values) if self.z else 1)

    @property
    def count(self) -> int:
        nx, ny, nz = self.shape
        return nx * ny * nz


def lora_name(target: str) -> str:
    """``/loras/ink.safetensors`` → ``ink``; a bare name stays as it is."""
    if "/" in target or "\\" in target or target.lower().endswith((".safetensors", ".ckpt", ".pt")):
        return Path(target.replace("\\", "/")).stem
    return target


def model_name(value: str) -> str:
    """A checkpoint as labels show it: its file or folder name (never the whole path)."""
    path = Path(value.replace("\\", "/"))
    return path.stem if path.suffix.lower() in (".safetensors", ".ckpt") else (path.name or value)


def _csv_row(values: list[str]) -> str:
    out = []
    for value in values:
        quote = any(c in value for c in ',"') or value != value.strip()
        out.append('"' + value.replace('"', '""') + '"' if quote else value)
    return ",".join(out)


def _split_values(text: str) -> list[str]:
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error:
        raise GridAxisError(f"The values '{text[:40]}' have an unclosed quote.") from None
    values = [v.strip() for v in rows[0]] if rows else []
    if not values or any(not v for v in values):
        raise GridAxisError(f"The values '{text[:40]}' have an empty entry; separate values with single commas.")
    return values


def _range(kind: AxisKind, text: str) -> list[str] | None:
    """``START:STOP:COUNT`` → COUNT value texts from START to STOP (None when ``text`` is no range)."""
    parts = text.split(":")
    if len(parts) != 3 or kind not in _NUMERIC:
        return None
    start, stop = finite_float(parts[0].strip()), finite_float(parts[1].strip())
    count = parse_int(parts[2], 1, MAX_AXIS_VALUES)
    if start is None or stop is None or count is None:
        raise GridAxisError(f"The range '{text[:40]}' must be START:STOP:COUNT with a COUNT from 1 to "
                            f"{MAX_AXIS_VALUES}.")
    if count == 1:
        return [f"{start:g}"]
    step = (stop - start) / (count - 1)
    values = [start + i * step for i in range(count)]
    if kind in (AxisKind.SEED, AxisKind.STEPS):
        return [str(round(v)) for v in values]
    return [f"{round(v, 6):g}" for v in values]


def parse_value(kind: AxisKind, text: str) -> AxisValue:
    """One value of ``kind`` from its text (a GridAxisError sentence when it is out of range)."""
    text = text.strip()
    if len(text) > MAX_VALUE_TEXT:
        raise GridAxisError(f"An axis value is longer than {MAX_VALUE_TEXT} characters.")
    if kind is AxisKind.LORA_WEIGHT:
        weight = finite_float(text, -LORA_WEIGHT_LIMIT, LORA_WEIGHT_LIMIT)
        if weight is None:
            raise GridAxisError(f"A LoRA weight must be a number from -10 to 10 (got '{text[:20]}').")
        return weight
    if kind is AxisKind.LORA_ON:
        if text.lower() not in _ON:
            raise GridAxisError(f"A LoRA on/off value must be on or off (got '{text[:20]}').")
        return _ON[text.lower()]
    if kind is AxisKind.BLOCKS:
        if finite_float(text) is not None:  # "blocks:ink:1,0,…" unquoted: the commas split the vector
            raise GridAxisError(f"Block weights '{text[:20]}' are one number: quote each vector so its "
                                'commas stay in it (blocks:NAME:OUTD,"1,0,…").')
        try:
            return parse_blocks_any(text)
        except BlockWeightError as err:
            raise GridAxisError(str(err)) from None
    if kind in (AxisKind.PROMPT, AxisKind.CHECKPOINT, AxisKind.LORA_FILE):
        return text
    if kind is AxisKind.SAMPLER:
        names = {name.lower(): name for name in SAMPLERS}
        if text.lower() not in names:
            raise GridAxisError(f"Unknown sampler '{text[:30]}'. Choose one of: {', '.join(SAMPLERS)}.")
        return names[text.lower()]
    if kind is AxisKind.CFG:
        cfg = finite_float(text, 0.0, MAX_CFG)
        if cfg is None:
            raise GridAxisError(f"CFG must be a number from 0 to {MAX_CFG:g} (got '{text[:20]}').")
        return cfg
    if kind is AxisKind.STEPS:
        steps = parse_int(text, 1, MAX_STEPS)
        if steps is None:
            raise GridAxisError(f"Steps must be a whole number from 1 to {MAX_STEPS} (got '{text[:20]}').")
        return steps
    seed = parse_int(text, RANDOM_SEED, MAX_SEED) if len(text) <= 20 else None
    if seed is None and re.fullmatch(r"[0-9]{19,20}", text) and int(text) <= MAX_SEED:
        seed = int(text)  # parse_int stops at 18 digits; seeds go to 2**64-1
    if seed is None:
        raise GridAxisError(f"A seed must be a whole number from 0 to {MAX_SEED}, or -1 for random (got "
                            f"'{text[:24]}').")
    return resolve_seed(seed)  # -1: one random seed, fixed for the whole grid as in A1111


def make_axis(kind: AxisKind, value_texts: list[str], target: str = "") -> Axis:
    """An axis from value texts (each checked); the shared path of the text syntax and grid files."""
    if kind.needs_target and not target.strip():
        raise GridAxisError(f"A {kind.value} axis names its LoRA: {kind.value}:NAME:VALUES.")
    if not value_texts:
        raise GridAxisError(f"The {kind.value} axis has no values.")
    if len(value_texts) > MAX_AXIS_VALUES:
        raise GridAxisError(f"An axis has {len(value_texts)} values; at most {MAX_AXIS_VALUES} are allowed.")
    values = tuple(parse_value(kind, text) for text in value_texts)
    if kind is AxisKind.PROMPT and len(values) < 2:
        raise GridAxisError("Prompt S/R needs the text to search for and at least one replacement.")
    return Axis(kind, values, target.strip() if kind.needs_target else "")


def _split_target(rest: str) -> tuple[str, str]:
    """``NAME:VALUES`` → (NAME, VALUES); a Windows drive letter belongs to the name."""
    drive = ""
    if len(rest) >= 3 and rest[1] == ":" and rest[0].isalpha() and rest[2] in "\\/":
        drive, rest = rest[:2], rest[2:]
    name, _, values = rest.partition(":")
    return drive + name, values


def parse_axis(text: str) -> Axis:
    """One axis from its text (module docstring); a GridAxisError sentence when it is not one."""
    text = text.strip()
    if len(text) > MAX_AXIS_TEXT:
        raise GridAxisError(f"An axis is longer than {MAX_AXIS_TEXT} characters.")
    head, sep, rest = text.partition(":")
    kind = _ALIASES.get(head.strip().lower())
    if kind is None or not sep:
        raise GridAxisError(f"'{text[:30]}' is not an axis: write KIND:VALUES with KIND one of "
                            f"{', '.join(k.value for k in AxisKind)}.")
    target = ""
    if kind.needs_target:
        target, rest = _split_target(rest)
        if not target.strip():
            raise GridAxisError(f"A {kind.value} axis names its LoRA: {kind.value}:NAME:VALUES.")
        if kind is AxisKind.LORA_ON and not rest.strip():
            rest = "off,on"
    if not rest.strip():
        raise GridAxisError(f"The {kind.value} axis has no values.")
    texts = _range(kind, rest.strip())
    return make_axis(kind, texts if texts is not None else _split_values(rest), target)


def files_by_weight(files: list[Path], weights: tuple[float, ...] = (0.5, 0.75, 1.0)) -> GridSpec:
    """X: each LoRA file in turn (the epochs of one training), Y: its weight. The row is the last
    file; files next to it are named without their folder, so the axis text stays short."""
    if not files:
        raise GridAxisError("There are no LoRA files to compare.")
    last = files[-1]
    names = [f.stem if f.parent == last.parent and f.suffix == ".safetensors" else str(f) for f in files]
    return GridSpec(make_axis(AxisKind.LORA_FILE, names, str(last)),
                    make_axis(AxisKind.LORA_WEIGHT, [f"{w:g}" for w in weights], str(last)))


def parse_spec(x: str, y: str | None = None, z: str | None = None) -> GridSpec:
    """A grid from up to three axis texts (None or blank = no such axis)."""
    return GridSpec(parse_axis(x), parse_axis(y) if y and y.strip() else None,
                    parse_axis(z) if z and z.strip() else None)


# -- the set-up as JSON (grid PNG text chunk) ------------------------------------------------------

SETUP_VERSION = 1


def spec_to_dict(spec: GridSpec) -> dict[str, Any]:
    """The axes as JSON-ready data: LoRAs and checkpoints by name (a shared PNG holds no local paths)."""
    out: dict[str, Any] = {"version": SETUP_VERSION}
    for key, axis in (("x", spec.x), ("y", spec.y), ("z", spec.z)):
        if axis is not None:
            out[key] = {"kind": axis.kind.value, "target": axis.target_name,
                        "values": [axis.value_text(i) for i in range(len(axis.values))]}
    return out


def spec_from_dict(data: object) -> GridSpec:
    """The inverse of ``spec_to_dict`` for untrusted data: every field checked as typed text is."""
    if not isinstance(data, dict) or data.get("version") != SETUP_VERSION:
        raise GridAxisError("The grid set-up is not one this version of LoRA Studio reads.")
    axes: dict[str, Axis | None] = {}
    for key in ("x", "y", "z"):
        item = data.get(key)
        if item is None:
            axes[key] = None
            continue
        if not isinstance(item, dict):
            raise GridAxisError("The grid set-up is damaged.")
        kind = _ALIASES.get(str(item.get("kind", ""))[:20])
        target, values = item.get("target", ""), item.get("values")
        if (kind is None or not isinstance(target, str) or len(target) > MAX_VALUE_TEXT
                or not isinstance(values, list) or not all(isinstance(v, str) for v in values)):
            raise GridAxisError("The grid set-up is damaged.")
        axes[key] = make_axis(kind, list(values), target)
    x = axes["x"]
    if x is None:
        raise GridAxisError("The grid set-up has no X axis.")
    return GridSpec(x, axes["y"], axes["z"])
