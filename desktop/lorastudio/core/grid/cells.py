"""A grid's cells: one frozen ``GenerationRequest`` per (x, y, z), in the order that loads least."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.grid.axes import Axis, AxisKind, GridAxisError, GridSpec, lora_name


@dataclass(frozen=True)
class GridCell:
    """One cell: its indices on each axis (0 for a missing axis) and everything it runs on."""

    x: int
    y: int
    z: int
    request: GenerationRequest

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.x, self.y, self.z)


def _find_lora(loras: tuple[LoraSpec, ...], target: str) -> int:
    name = lora_name(target).lower()
    path = Path(target).expanduser()
    for i, spec in enumerate(loras):
        if spec.path == path or spec.path.stem.lower() == name or spec.display_name.lower() == name:
            return i
    return -1


def _with_axis_loras(base: GenerationRequest, spec: GridSpec) -> GenerationRequest:
    """The base request with a row for every axis LoRA: a target naming a file not in the mix adds it
    (at weight 1, on); a name that matches no row and no file is refused."""
    loras = base.loras
    for axis in spec.axes:
        if not axis.kind.needs_target or _find_lora(loras, axis.target) >= 0:
            continue
        path = Path(axis.target).expanduser()
        if not path.is_file():
            raise GridAxisError(f"The LoRA '{axis.target_name}' of the {axis.kind.value} axis is not in the mix; "
                                "add it with --lora or give its file path.")
        loras = (*loras, LoraSpec(path.resolve(), 1.0))
    return replace(base, loras=loras)


def _apply(request: GenerationRequest, axis: Axis, index: int,
           resolve_checkpoint: Callable[[str], Path]) -> GenerationRequest:
    value = axis.values[index]
    kind = axis.kind
    if kind.needs_target:
        row = _find_lora(request.loras, axis.target)
        loras = list(request.loras)
        if isinstance(value, tuple):  # blocks
            loras[row] = replace(loras[row], blocks=value, enabled=True)
        elif kind is AxisKind.LORA_FILE:  # the cell names the file it used, not the row's first one
            loras[row] = replace(loras[row], path=_lora_file(loras[row].path, str(value)), name="", enabled=True)
        elif kind is AxisKind.LORA_ON:
            loras[row] = replace(loras[row], enabled=bool(value))
        else:
            loras[row] = replace(loras[row], weight=float(value), enabled=True)
        return replace(request, loras=tuple(loras))
    if isinstance(value, tuple):
        raise GridAxisError(f"The {kind.value} axis cannot hold block weights.")
    if kind is AxisKind.PROMPT:
        search = str(axis.values[0])  # A1111's Prompt S/R: the first value is the text searched for
        return replace(request, prompt=request.prompt.replace(search, str(value)),
                       negative_prompt=request.negative_prompt.replace(search, str(value)))
    if kind is AxisKind.SEED:
        return replace(request, seed=int(value))
    if kind is AxisKind.STEPS:
        return replace(request, steps=int(value))
    if kind is AxisKind.CFG:
        return replace(request, cfg=float(value))
    if kind is AxisKind.SAMPLER:
        return replace(request, sampler=str(value))
    return replace(request, model=resolve_checkpoint(str(value)))


def _lora_file(row: Path, value: str) -> Path:
    """A file axis value: a path, or a bare name (``disc-000003``) of a file next to the row's file."""
    path = Path(value).expanduser()
    if not path.is_absolute() and len(path.parts) == 1:
        path = row.parent / (value if path.suffix.lower() == ".safetensors" else f"{value}.safetensors")
    if not path.is_file():
        raise GridAxisError(f"LoRA file not found: {value[:200]}")
    return path.resolve()


def _checkpoint_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise GridAxisError(f"Checkpoint not found: {value[:200]}")
    return path.resolve()


def cells(spec: GridSpec, base: GenerationRequest,
          resolve_checkpoint: Callable[[str], Path] = _checkpoint_path) -> list[GridCell]:
    """Every cell's request, validated, each a single image (``batch_count`` 1).

    Ordered so that each checkpoint loads once: cells of one checkpoint run together (z, then y, then
    x otherwise). LoRAs load once per checkpoint whatever the order: the engine keeps every file it
    loaded and only changes weights. ``resolve_checkpoint`` maps a checkpoint axis value (a path, or a
    name read from a grid file) to the model path."""
    for axis in spec.axes:
        if axis.kind is AxisKind.PROMPT:
            search = str(axis.values[0])
            if search not in base.prompt and search not in base.negative_prompt:
                raise GridAxisError(f"Prompt S/R: '{search[:40]}' is not in the prompt.")
    base = replace(_with_axis_loras(base, spec), batch_count=1)
    checkpoints: dict[str, Path] = {}

    def checkpoint(value: str) -> Path:
        if value not in checkpoints:
            checkpoints[value] = resolve_checkpoint(value)
        return checkpoints[value]

    nx, ny, nz = spec.shape
    # File axes go last: the other axes find their LoRA row by the file it starts with.
    slots = sorted(((a, i) for i, a in enumerate((spec.x, spec.y, spec.z)) if a is not None),
                   key=lambda slot: slot[0].kind is AxisKind.LORA_FILE)
    out: list[GridCell] = []
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                request = base
                for axis, slot in slots:
                    request = _apply(request, axis, (x, y, z)[slot], checkpoint)
                out.append(GridCell(x, y, z, request.validate()))
    order = {path: i for i, path in enumerate(dict.fromkeys(c.request.model for c in out))}
    out.sort(key=lambda c: (order[c.request.model], c.z, c.y, c.x))  # stable: z, y, x within a model
    return out
