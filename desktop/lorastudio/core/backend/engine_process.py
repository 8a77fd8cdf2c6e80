"""The engine process's side: owns the DiffusersEngine, runs one job at a time.

Started by ``LocalProcessBackend`` with the multiprocessing "spawn" context: a fresh interpreter,
so torch and diffusers are imported here and never in the window's process. Commands come in over
a pipe; events (core.backend.base) go back over the same pipe. Cancellation is a shared
multiprocessing Event the engine checks between denoising steps.
"""

from __future__ import annotations

import io
import logging
import time
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessOptions:
    log_folder: Path | None = None
    torch_threads: int | None = None  # None: torch's default (one per core)
    device: str | None = None  # None: the best available
    # Lower CPU priority than the window: on a busy CPU the scheduler lets the GUI thread run
    # first, so the engine's work never shows up as a stall (generation loses a few percent).
    nice: int = 5


class _SharedFlagToken(CancelToken):
    """A CancelToken backed by a multiprocessing Event the window's process sets."""

    def __init__(self, flag: Any) -> None:
        super().__init__()
        self._flag = flag

    def cancel(self) -> None:
        self._flag.set()

    def reset(self) -> None:
        self._flag.clear()

    @property
    def cancelled(self) -> bool:
        return bool(self._flag.is_set())


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


class EngineHost:
    """The command loop of the engine process."""

    def __init__(self, conn: Connection, cancel_flag: Any, options: ProcessOptions) -> None:
        self._conn = conn
        self._cancel = _SharedFlagToken(cancel_flag)
        self._options = options
        self._engine: Any = None

    def send(self, event: BackendEvent) -> None:
        self._conn.send(event)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self.send(BackendStatus("Starting the engine (loading torch and diffusers)…"))
            if self._options.torch_threads:
                import torch

                torch.set_num_threads(self._options.torch_threads)
            from lorastudio.core.engine.engine import DiffusersEngine

            self._engine = DiffusersEngine(self._options.device)
            self.send(BackendStatus("Engine started", device=self._engine.choice.label))
        return self._engine

    def serve(self) -> None:
        while True:
            try:
                command = self._conn.recv()
            except (EOFError, OSError):
                return  # the window's process went away
            op = command[0]
            if op == "quit":
                return
            if op == "warm_up":
                self.warm_up()
            elif op == "run":
                self.run(command[1], command[2])

    def warm_up(self) -> None:
        try:
            _ = self.engine
            # The pipeline classes' own imports take seconds: do them before anyone clicks.
            from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: F401

            self.send(BackendStatus("Engine ready", device=self._engine.choice.label))
        except Exception as err:
            log.exception("Engine warm-up failed")
            self.send(BackendStatus(f"The engine could not start ({type(err).__name__}); see the log file."))

    def run(self, job_id: str, request: Any) -> None:
        self.send(JobStarted(job_id))
        started = time.perf_counter()
        try:
            if isinstance(request, BuildDemo):
                self.send(BackendStatus("Building the demo library…"))
                from lorastudio.core.engine.demo import build_demo_library
                from lorastudio.core.paths import DataDir

                build_demo_library(DataDir(request.root))
                self.send(JobResult(job_id, seconds=time.perf_counter() - started))
                return
            self.send(JobResult(job_id, self._generate(job_id, request), time.perf_counter() - started,
                                self._stats()))
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

    def _generate(self, job_id: str, request: GenerationRequest) -> tuple[ImageResult, ...]:
        engine = self.engine
        if engine.model_path != Path(request.model).resolve():
            self.send(BackendStatus(f"Loading {Path(request.model).name}…"))

        def on_step(step: int, total: int, rgb: Any) -> None:
            self.send(JobProgress(job_id, step, total))
            if rgb is not None:
                h, w, _ = rgb.shape
                self.send(JobPreview(job_id, w, h, rgb.tobytes()))

        results = engine.generate(request, on_step=on_step, cancel=self._cancel)
        notes = tuple(engine.memory_notes)
        return tuple(
            ImageResult(encode_png(r.image, request, r.seed), r.seed,
                        tuple(getattr(r, "warnings", ())) + (notes if i == 0 else ()))
            for i, r in enumerate(results))

    def _stats(self) -> dict[str, int]:
        return {k: int(v) for k, v in asdict(self._engine.stats).items()}


def engine_main(conn: Connection, cancel_flag: Any, options: ProcessOptions) -> None:
    """Entry point of the engine process."""
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
        EngineHost(conn, cancel_flag, options).serve()
    finally:
        log.info("Engine process stopping")
