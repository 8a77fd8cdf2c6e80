"""Image LoRA training as a job of the engine process (engine_process.HANDLERS[TrainRequest]).

The trainer runs here, never in the window's process: torch stays out of the GUI, and a crash or
out-of-memory kill in training fails one job instead of taking the window down. Each step goes back
as a ``JobProgress`` (the queue panel's bar) and a ``JobUpdate`` carrying the trainer's own frozen
values (``TrainProgress``, ``TrainSample``, ``EpochSaved``); the job's result payload is the
``TrainResult``. A cancel stops after the current step: the result so far goes out as an update
(so the page can say which epoch Resume continues from), then the job ends as cancelled.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lorastudio.core.backend.base import BackendEvent, BackendStatus, JobProgress, JobResult, JobUpdate
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled
from lorastudio.core.training.request import TrainRequest

if TYPE_CHECKING:
    from lorastudio.core.backend.engine_process import ProcessOptions
    from lorastudio.core.training.trainer import EpochSaved, TrainProgress, TrainSample


class TrainContext(Protocol):
    """What the handler needs from engine_process.JobContext."""

    def send(self, event: BackendEvent) -> None: ...

    @property
    def cancel(self) -> CancelToken: ...

    @property
    def options(self) -> ProcessOptions: ...

    def release_engine(self) -> None: ...


def run(ctx: TrainContext, job_id: str, request: TrainRequest) -> JobResult:
    """Train ``request.config``; see the module docstring."""
    from lorastudio.core.training.trainer import train

    config = request.config
    options = ctx.options
    if options.device == "cpu" and not config.device:  # the engine was told to stay off the GPU
        config = replace(config, device="cpu")
    import torch

    if options.torch_threads:
        torch.set_num_threads(options.torch_threads)
    if config.device != "cpu" and torch.cuda.is_available():
        # A loaded image pipeline holds gigabytes of GPU memory the training needs (SDXL: ~7 GB).
        ctx.release_engine()
        torch.cuda.empty_cache()

    def on_progress(p: TrainProgress) -> None:
        ctx.send(JobProgress(job_id, p.step, p.total_steps))
        ctx.send(JobUpdate(job_id, p))

    def on_sample(s: TrainSample) -> None:
        ctx.send(JobUpdate(job_id, s))

    def on_saved(e: EpochSaved) -> None:
        ctx.send(JobUpdate(job_id, e))

    ctx.send(BackendStatus(f"Training {config.output_name}: loading {Path(config.base_model).name}…"))
    result = train(config, on_progress=on_progress, on_sample=on_sample, on_saved=on_saved, cancel=ctx.cancel,
                   resume=request.resume, captions=request.caption_map())
    if result.cancelled:
        ctx.send(JobUpdate(job_id, result))
        raise GenerationCancelled("Training cancelled.")
    ctx.send(BackendStatus(f"Training {config.output_name} finished"))
    return JobResult(job_id, seconds=result.seconds, payload=result)
