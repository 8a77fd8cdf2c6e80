"""The Text tab's jobs in the engine process: generate, fine-tune, merge, build the demo model.

One ``TextEngine`` lives here between jobs (a module-level cache: this module is only imported in
the engine process), so a generation after a generation reuses the loaded model and adapters; a
new mix only rebuilds the combined adapter, another model replaces the loaded one. Generated text
and training losses stream back as ``JobUpdate`` payloads (``core.text.requests``). A cancel
stops after the current token or training step; what was made by then (the text so far, the last
saved checkpoint) is sent as a final update, then the job ends as cancelled.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lorastudio.core.backend.base import BackendEvent, JobResult, JobUpdate
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled, InvalidRequest
from lorastudio.core.text.requests import (
    TextChunk,
    TextDemoBuilt,
    TextDemoRequest,
    TextGenerateRequest,
    TextMergeRequest,
    TextStatus,
    TextTrainRequest,
)

if TYPE_CHECKING:
    from lorastudio.core.text.engine import TextEngine

log = logging.getLogger(__name__)

# Streamed text is sent at most this often: a tiny model makes thousands of tokens a second, and
# one pipe message + one Qt signal per token would keep the window's event loop busy for nothing.
CHUNK_INTERVAL = 0.04  # seconds


class _Options(Protocol):
    @property
    def device(self) -> str | None: ...

    @property
    def torch_threads(self) -> int | None: ...


class JobContextLike(Protocol):
    """What a handler uses of engine_process.JobContext."""

    cancel: CancelToken

    def send(self, event: BackendEvent) -> None: ...

    @property
    def options(self) -> _Options: ...


_engine: TextEngine | None = None


def text_engine(ctx: JobContextLike) -> TextEngine:
    """The engine process's one TextEngine, created on the first text job."""
    global _engine
    if _engine is None:
        import torch

        from lorastudio.core.text.engine import TextEngine, quiet_transformers

        if ctx.options.torch_threads:
            torch.set_num_threads(ctx.options.torch_threads)
        quiet_transformers()
        _engine = TextEngine(device=ctx.options.device or "auto")
    return _engine


def reset_engine() -> None:
    """Drop the cached model (tests; a fresh process starts without one anyway)."""
    global _engine
    _engine = None


def run(ctx: JobContextLike, job_id: str, request: object) -> JobResult:
    """Run one text job; the engine process turns exceptions into JobFailed/JobCancelled."""
    started = time.perf_counter()
    if isinstance(request, TextGenerateRequest):
        payload: object = _generate(ctx, job_id, request)
        stats = _stats(text_engine(ctx))
    elif isinstance(request, TextTrainRequest):
        payload, stats = _train(ctx, job_id, request), {}
    elif isinstance(request, TextMergeRequest):
        payload, stats = _merge(ctx, job_id, request), {}
    elif isinstance(request, TextDemoRequest):
        payload, stats = _demo(ctx, job_id, request), {}
    else:
        raise InvalidRequest(f"The engine cannot run a {type(request).__name__} as a text job.")
    return JobResult(job_id, seconds=time.perf_counter() - started, stats=stats, payload=payload)


def _status(ctx: JobContextLike, job_id: str, text: str) -> None:
    ctx.send(JobUpdate(job_id, TextStatus(text)))


def _stats(engine: TextEngine) -> dict[str, int]:
    return {"model_loads": engine.model_loads, "adapter_loads": engine.adapter_loads,
            "mix_builds": engine.mix_builds}


class _ChunkSender:
    """Collects streamed text and sends it in CHUNK_INTERVAL batches (the first piece at once)."""

    def __init__(self, ctx: JobContextLike, job_id: str) -> None:
        self._ctx, self._job_id = ctx, job_id
        self._pending: list[str] = []
        self._sent_at = 0.0

    def add(self, text: str) -> None:
        self._pending.append(text)
        now = time.monotonic()
        if now - self._sent_at >= CHUNK_INTERVAL:
            self._sent_at = now
            self.flush()

    def flush(self) -> None:
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._ctx.send(JobUpdate(self._job_id, TextChunk(text)))


def _generate(ctx: JobContextLike, job_id: str, request: TextGenerateRequest) -> Any:
    request.validate()
    ctx.cancel.raise_if_cancelled()
    engine = text_engine(ctx)
    info = engine.model_info
    if info is None or info.path.resolve() != Path(request.model).resolve():
        _status(ctx, job_id, f"Loading {Path(request.model).name}…")
        engine.load_model(request.model)
    if request.mix.active != engine.mix.active:
        _status(ctx, job_id, "Applying the adapter mix…")
    engine.set_mix(request.mix)
    _status(ctx, job_id, "Generating…")
    sender = _ChunkSender(ctx, job_id)
    result = engine.generate(request.generation, on_text=sender.add, cancel=ctx.cancel)
    sender.flush()
    if result.cancelled:
        ctx.send(JobUpdate(job_id, result))  # the text so far stays on screen
        raise GenerationCancelled("Cancelled.")
    return result


def _train(ctx: JobContextLike, job_id: str, request: TextTrainRequest) -> Any:
    from lorastudio.core.text.train import TrainProgress, train_adapter

    request.validate()
    _status(ctx, job_id, f"Preparing to train on {request.data.name}…")

    def on_progress(progress: TrainProgress) -> None:
        ctx.send(JobUpdate(job_id, progress))

    device = text_engine(ctx).device  # "auto" resolved once, like generation
    result = train_adapter(request.model, request.data, request.out_dir, request.config,
                           on_progress=on_progress, cancel=ctx.cancel, device=device)
    if result.cancelled:
        ctx.send(JobUpdate(job_id, result))  # the last checkpoint is kept: say which
        raise GenerationCancelled("Cancelled.")
    return result


def _merge(ctx: JobContextLike, job_id: str, request: TextMergeRequest) -> Any:
    from lorastudio.core.text.merge import merge_mix

    request.validate()
    _status(ctx, job_id, f"Merging into {request.out_dir.name}…")
    return merge_mix(request.model, request.mix, request.out_dir, cancel=ctx.cancel,
                     device=text_engine(ctx).device)


def _demo(ctx: JobContextLike, job_id: str, request: TextDemoRequest) -> TextDemoBuilt:
    from lorastudio.core.text.demo import build_demo

    text_engine(ctx)  # torch threads as configured, before the demo trains anything
    _status(ctx, job_id, "Building the demo text model and two demo adapters…")
    model_dir, adapters = build_demo(request.models_root, request.adapters_root)
    return TextDemoBuilt(model_dir, tuple(adapters))
