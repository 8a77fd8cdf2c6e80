"""The engine process's side: owns the engines, runs one job at a time.

Started by ``LocalProcessBackend`` as ``python -m lorastudio.core.backend.engine_boot`` with the
engine runtime's interpreter (the window's own when it has torch): torch and diffusers are imported
here and never in the window's process. Commands come in over a ``multiprocessing.connection``
socket; events (core.backend.base) go back over it. A reader thread takes "cancel" at once, so a
running job sees it between two steps; the other commands wait for the main thread.

Job kinds plug in through ``HANDLERS`` (request type -> handler); a handler's module is imported
on its first job, so a process that only generates images never imports the trainer.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lorastudio.core.backend.base import (
    BackendEvent,
    BackendStatus,
    BuildDemo,
    ImageResult,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobResult,
    JobStarted,
)
from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import GenerationCancelled, LoraStudioError
from lorastudio.core.messages import MessageKind, kind_of
from lorastudio.core.text.requests import TEXT_REQUESTS
from lorastudio.core.training.request import TrainRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOptions:
    log_folder: Path | None = None
    torch_threads: int | None = None  # None: torch's default (one per core)
    device: str | None = None  # None: the best available
    # Lower CPU priority than the window: on a busy CPU the scheduler lets the GUI thread run
    # first, so the engine's work never shows up as a stall (generation loses a few percent).
    nice: int = 5
    # The interpreter that runs the engine: the engine runtime's (#18); None: the window's own
    # (a source checkout or an environment that has torch).
    python: Path | None = None


def encode_png(image: Any, request: GenerationRequest, seed: int) -> bytes:
    """The PNG bytes of a result with its A1111 ``parameters`` chunk (hashes computed here, off
    the window's process)."""
    from PIL.PngImagePlugin import PngInfo

    from lorastudio.core.engine.output import build_infotext, infotext_prompt
    from lorastudio.core.metadata.infotext import Infotext, format_infotext

    info = build_infotext(request, seed)
    meta = PngInfo()
    meta.add_text("parameters", format_infotext(Infotext(infotext_prompt(request), info.negative_prompt,
                                                         info.params)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=meta)
    return buffer.getvalue()


class JobContext:
    """What a job handler gets: the way to report, the cancel token, the lazily made image engine."""

    def __init__(self, conn: Connection, cancel: CancelToken, options: ProcessOptions) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self.cancel = cancel
        self.options = options
        self._engine: Any = None

    def send(self, event: BackendEvent) -> None:
        with self._send_lock:
            self._conn.send(event)

    @property
    def engine(self) -> Any:
        """The DiffusersEngine, created (torch and diffusers imported) on first use."""
        if self._engine is None:
            self.send(BackendStatus("Starting the engine (loading torch and diffusers)…"))
            if self.options.torch_threads:
                import torch

                torch.set_num_threads(self.options.torch_threads)
            from lorastudio.core.engine.engine import DiffusersEngine

            self._engine = DiffusersEngine(self.options.device)
            self.send(BackendStatus("Engine started", device=self._engine.choice.label))
        return self._engine

    def release_engine(self) -> None:
        """Free the image engine's pipeline (a job that needs the GPU's memory itself, e.g.
        training); the next generation loads its model again."""
        if self._engine is not None:
            self._engine.unload()


Handler = Callable[[JobContext, str, Any], JobResult]
HANDLERS: dict[type, Handler] = {}


class EngineHost:
    """The command loop of the engine process."""

    def __init__(self, conn: Connection, options: ProcessOptions) -> None:
        self._conn = conn
        self._cancel = CancelToken()
        self._commands: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.ctx = JobContext(conn, self._cancel, options)

    def send(self, event: BackendEvent) -> None:
        self.ctx.send(event)

    def _read(self) -> None:
        """Reader thread: "cancel" takes effect now; everything else queues for the main thread."""
        while True:
            try:
                command = self._conn.recv()
            except (EOFError, OSError):
                self._commands.put(("quit",))  # the window's process went away
                return
            if command[0] == "cancel":
                self._cancel.cancel()
            else:
                self._commands.put(command)
                if command[0] == "quit":
                    self._cancel.cancel()
                    return

    def serve(self) -> None:
        threading.Thread(target=self._read, name="engine-commands", daemon=True).start()
        while True:
            command = self._commands.get()
            op = command[0]
            if op == "quit":
                return
            if op == "warm_up":
                self.warm_up()
            elif op == "run":
                self._cancel.reset()  # a cancel meant for the previous job must not stop this one
                self.run(command[1], command[2])

    def warm_up(self) -> None:
        try:
            engine = self.ctx.engine
            # The pipeline classes' own imports take seconds: do them before anyone clicks.
            from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: F401

            self.send(BackendStatus("Engine ready", device=engine.choice.label))
        except Exception as err:
            log.exception("Engine warm-up failed")
            self.send(BackendStatus(f"The engine could not start ({type(err).__name__}); see the log file."))

    def run(self, job_id: str, request: Any) -> None:
        self.send(JobStarted(job_id))
        started = time.perf_counter()
        try:
            handler = HANDLERS.get(type(request))
            if handler is None:
                raise LoraStudioError(f"This engine cannot run a {type(request).__name__} job.")
            result = handler(self.ctx, job_id, request)
            if not result.seconds:
                result = JobResult(result.job_id, result.images, time.perf_counter() - started, result.stats,
                                   result.payload)
            self.send(result)
        except GenerationCancelled:
            self.send(JobCancelled(job_id))
        except LoraStudioError as err:
            log.info("Job %s failed: %s", job_id, err)
            self.send(JobFailed(job_id, kind_of(err), str(err)))
        except Exception as err:  # keep the process alive; the log gets the traceback
            log.exception("Job %s failed unexpectedly", job_id)
            first = (str(err).splitlines() or [""])[0][:160]
            self.send(JobFailed(job_id, MessageKind.UNEXPECTED,
                                f"The engine failed ({type(err).__name__}: {first}); details are in the log file."))


# -- the image jobs ------------------------------------------------------------------------------
def _build_demo(ctx: JobContext, job_id: str, request: BuildDemo) -> JobResult:
    ctx.send(BackendStatus("Building the demo library…"))
    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.paths import DataDir

    build_demo_library(DataDir(request.root))
    return JobResult(job_id)


def _generate(ctx: JobContext, job_id: str, request: GenerationRequest) -> JobResult:
    engine = ctx.engine
    if engine.model_path != Path(request.model).resolve():
        ctx.send(BackendStatus(f"Loading {Path(request.model).name}…"))

    def on_step(step: int, total: int, rgb: Any) -> None:
        ctx.send(JobProgress(job_id, step, total))
        if rgb is not None:
            h, w, _ = rgb.shape
            ctx.send(JobPreview(job_id, w, h, rgb.tobytes()))

    results = engine.generate(request, on_step=on_step, cancel=ctx.cancel)
    notes = tuple(engine.memory_notes)
    images = tuple(
        ImageResult(encode_png(r.image, request, r.seed), r.seed,
                    tuple(getattr(r, "warnings", ())) + (notes if i == 0 else ()))
        for i, r in enumerate(results))
    stats = {k: int(v) for k, v in asdict(engine.stats).items()}
    return JobResult(job_id, images, stats=stats)


HANDLERS[BuildDemo] = _build_demo
HANDLERS[GenerationRequest] = _generate


def _train(ctx: JobContext, job_id: str, request: TrainRequest) -> JobResult:
    from lorastudio.core.backend.train_job import run  # the trainer's imports only when training

    return run(ctx, job_id, request)


HANDLERS[TrainRequest] = _train


def _text(ctx: JobContext, job_id: str, request: Any) -> JobResult:
    from lorastudio.core.backend.text_job import run  # transformers and peft only for text jobs

    return run(ctx, job_id, request)


HANDLERS.update(dict.fromkeys(TEXT_REQUESTS, _text))


def engine_main(conn: Connection, options: ProcessOptions) -> None:
    """Run the engine on an open connection to the window's process."""
    import os

    if options.nice and hasattr(os, "nice"):
        try:
            os.nice(options.nice)
        except OSError:
            pass
    if options.log_folder is not None:
        from lorastudio.core.logs import ENGINE_LOG, setup_logging

        setup_logging(options.log_folder, ENGINE_LOG)
    log.info("Engine process started")
    try:
        EngineHost(conn, options).serve()
    finally:
        log.info("Engine process stopping")
