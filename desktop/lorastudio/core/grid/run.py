"""Running cells in this process: one engine, one ``generate`` per cell, a callback per finished cell.

The runner takes any iterable of cells, so a queue can hand it one cell at a time (a cell = a job)
and the CLI and tests can hand it the whole grid. Loads are the engine's business: it keeps the
pipeline and every LoRA file it loaded, so a grid on one checkpoint loads each once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import GenerationCancelled
from lorastudio.core.grid.cells import GridCell

if TYPE_CHECKING:
    from lorastudio.core.engine.engine import GenerationResult, StepCallback


class CellEngine(Protocol):
    """What the runner needs of an engine (``DiffusersEngine`` is one)."""

    def generate(self, request: GenerationRequest, on_step: StepCallback | None = None,
                 cancel: CancelToken | None = None) -> list[GenerationResult]: ...


@dataclass(frozen=True)
class CellResult:
    cell: GridCell
    image: Any  # PIL.Image.Image
    seed: int
    warnings: tuple[str, ...] = ()


@dataclass
class GridRun:
    """What a run made: the finished cells in the order they finished, and whether it was cancelled."""

    total: int
    results: list[CellResult] = field(default_factory=list)
    cancelled: bool = False

    def images(self) -> dict[tuple[int, int, int], Any]:
        return {r.cell.key: r.image for r in self.results}


def progress_text(done: int, total: int) -> str:
    """``cell 7 of 20``: the progress line of a grid, the same in the CLI and the window."""
    return f"cell {done} of {total}"


# (cell number from 1, cell count, step from 1, steps of that cell)
CellStepCallback = Callable[[int, int, int, int], None]


def run_cells(engine: CellEngine, cells: Iterable[GridCell],
              on_cell: Callable[[CellResult, int, int], None] | None = None,
              cancel: CancelToken | None = None, on_step: CellStepCallback | None = None,
              total: int | None = None) -> GridRun:
    """Generate ``cells`` one after another; ``on_cell(result, done, total)`` after each.

    A cancel stops inside the current cell (at its next step), discards that cell and keeps the
    finished ones; the run comes back with ``cancelled`` set rather than raising. Engine errors
    (a LoRA that does not fit, out of memory) propagate: the cells so far are in the callbacks.
    """
    if total is None:
        total = len(cells) if isinstance(cells, Sequence) else 0
    run = GridRun(total=total)
    for number, cell in enumerate(cells, start=1):
        if cancel is not None and cancel.cancelled:
            run.cancelled = True
            break

        def step(done: int, steps: int, preview: object, number: int = number) -> None:
            if on_step is not None:
                on_step(number, run.total, done, steps)

        try:
            results = engine.generate(cell.request, on_step=step, cancel=cancel)
        except GenerationCancelled:
            run.cancelled = True
            break
        first = results[0]
        result = CellResult(cell, first.image, first.seed, tuple(first.warnings))
        run.results.append(result)
        if on_cell is not None:
            on_cell(result, number, run.total)
    return run
