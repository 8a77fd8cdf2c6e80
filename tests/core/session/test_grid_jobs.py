"""A grid in the queue: jobs map back to their cells, the grid is over once none of its jobs can
still run, cancel takes the pending ones, and the grid PNG holds the cells that were made."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.grid.axes import parse_spec
from lorastudio.core.grid.cells import cells
from lorastudio.core.grid.files import read_grid_setup
from lorastudio.core.session.grid_jobs import GridJobs, params_from_request
from lorastudio.core.session.params import GenerationParams
from lorastudio.core.session.queue import JobQueue, JobState


def _grid(tmp_path: Path) -> tuple[GridJobs, JobQueue]:
    lora = tmp_path / "ink.safetensors"
    lora.write_bytes(b"x")
    base = GenerationRequest(model=tmp_path / "model", prompt="a cat", loras=(LoraSpec(lora, 1.0),),
                             seed=5, steps=2, width=64, height=64)
    spec = parse_spec("lora:ink:0,1", "seed:1,2")
    grid = GridJobs(spec, cells(spec, base), tmp_path / "grids")
    queue = JobQueue()
    for cell in grid.cells:
        grid.add_job(queue.add(cell.request).id, cell)
    return grid, queue


def test_jobs_match_cells_and_the_grid_is_over_when_no_job_can_run(tmp_path: Path) -> None:
    grid, queue = _grid(tmp_path)
    ids = list(grid.jobs)
    assert grid.total == 4
    assert grid.record("not-ours", Image.new("RGB", (64, 64)), 1) is None
    for n, job_id in enumerate(ids[:3], start=1):
        queue.mark_running(job_id)
        queue.mark_done(job_id)
        made = grid.record(job_id, Image.new("RGB", (64, 64), (n * 60, 0, 0)), 1)
        assert made is not None
        assert made.cell is grid.cell_for(job_id)
        assert grid.progress() == f"cell {n} of 4"
    assert not grid.over(queue)
    queue.mark_failed(ids[3], "Out of memory.")
    assert grid.over(queue)


def test_cancel_takes_the_pending_jobs_and_the_grid_png_keeps_the_cells_made(tmp_path: Path) -> None:
    grid, queue = _grid(tmp_path)
    first, *rest = list(grid.jobs)
    queue.mark_running(first)
    assert grid.cancel(queue) == [first]  # the running one is the caller's to stop
    assert all(queue.get(i).state is JobState.CANCELLED for i in rest)  # type: ignore[union-attr]
    assert not grid.over(queue)
    queue.mark_done(first)
    grid.record(first, Image.new("RGB", (64, 64), (200, 10, 10)), 1)
    assert grid.over(queue)
    files = grid.write()
    assert files is not None
    assert files.grids[0].parent == tmp_path / "grids"
    assert read_grid_setup(files.grids[0]) == grid.spec
    assert grid.write() is files  # written once


def test_use_these_settings_gives_back_the_params_and_mix(tmp_path: Path) -> None:
    grid, _ = _grid(tmp_path)
    cell = grid.cells[-1]
    params, mix = params_from_request(GenerationParams(batch_count=4), cell.request)
    assert (params.seed, params.steps, params.prompt, params.batch_count) == (2, 2, "a cat", 1)
    assert [s.weight for s in mix.specs] == [1.0]
