"""A grid run through the window's job queue: each cell is one queued job, and this object matches
finished jobs back to their (x, y, z) and writes the grid PNG once no cell job is left to run.

Qt-free: the window feeds it job ids, finished images and the queue; it never touches the queue's
order or the engine, so a grid shares the queue with single generations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.grid.axes import GridSpec
from lorastudio.core.grid.cells import GridCell
from lorastudio.core.grid.files import GridFiles, write_grid
from lorastudio.core.grid.run import CellResult, progress_text
from lorastudio.core.session.params import GenerationParams
from lorastudio.core.session.queue import JobQueue


@dataclass
class GridJobs:
    """One grid in the queue: ``job_id → cell``, the cells made so far, and whether it was written."""

    spec: GridSpec
    cells: list[GridCell]
    folder: Path  # where the grid PNG goes (outputs/grids)
    jobs: dict[str, GridCell] = field(default_factory=dict)
    results: dict[tuple[int, int, int], CellResult] = field(default_factory=dict)
    cell_paths: dict[tuple[int, int, int], Path] = field(default_factory=dict)
    files: GridFiles | None = None

    @property
    def total(self) -> int:
        return len(self.cells)

    def add_job(self, job_id: str, cell: GridCell) -> None:
        self.jobs[job_id] = cell

    def cell_for(self, job_id: str) -> GridCell | None:
        return self.jobs.get(job_id)

    def record(self, job_id: str, image: Any, seed: int, path: Path | None = None) -> CellResult | None:
        """A finished job's image (PIL); None when the job is not one of this grid's."""
        cell = self.jobs.get(job_id)
        if cell is None:
            return None
        result = CellResult(cell, image, seed)
        self.results[cell.key] = result
        if path is not None:
            self.cell_paths[cell.key] = path
        return result

    def progress(self) -> str:
        return progress_text(len(self.results), self.total)

    def unfinished_ids(self, queue: JobQueue) -> list[str]:
        """The grid's jobs still pending or running (a job gone from the queue counts as finished)."""
        out = []
        for job_id in self.jobs:
            job = queue.get(job_id)
            if job is not None and not job.state.finished:
                out.append(job_id)
        return out

    def over(self, queue: JobQueue) -> bool:
        return not self.unfinished_ids(queue)

    def cancel(self, queue: JobQueue) -> list[str]:
        """Cancel the grid's pending jobs; returns the running one's id (the caller stops it) or []."""
        running = []
        for job_id in self.unfinished_ids(queue):
            if queue.cancel(job_id):
                running.append(job_id)
        return running

    def write(self) -> GridFiles | None:
        """The grid PNG(s) of the cells made (each cell already has its own PNG in the outputs);
        None when no cell was made. Written once."""
        if self.files is None and self.results:
            order = sorted(self.results.values(), key=lambda r: (r.cell.z, r.cell.y, r.cell.x))
            self.files = write_grid(self.spec, order, self.folder, cells=False)
        return self.files


def params_from_request(current: GenerationParams, request: GenerationRequest) -> tuple[GenerationParams, LoraMix]:
    """A cell's "Use these settings": the panel's parameters and the mix that make ``request`` again."""
    params = replace(current, model=request.model, prompt=request.prompt, negative_prompt=request.negative_prompt,
                     seed=request.seed, steps=request.steps, cfg=request.cfg, width=request.width,
                     height=request.height, sampler=request.sampler, clip_skip=request.clip_skip,
                     vae=request.vae, batch_count=1)
    return params, LoraMix(request.loras)
