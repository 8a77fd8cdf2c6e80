"""A backend used like an engine: ``generate(request)`` waits for the job and returns images.

For callers that run one job at a time on their own thread (the CLI's ``generate`` and ``grid``);
the window goes through the session's queue instead.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lorastudio.core.backend.base import (
    Backend,
    BackendEvent,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobResult,
)
from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import GenerationCancelled, LoraStudioError, OutOfMemory
from lorastudio.core.messages import MessageKind

CANCEL_GRACE = 30.0  # seconds a cancelled job may take to confirm before we stop waiting


@dataclass(frozen=True)
class RemoteImage:
    """One image as ``DiffusersEngine.generate`` returns it (``image`` is a PIL image)."""

    image: Any
    seed: int
    request: GenerationRequest
    png: bytes
    warnings: tuple[str, ...] = ()


def run_job(backend: Backend, request: GenerationRequest, on_event: Callable[[BackendEvent], None] | None = None,
            cancel: CancelToken | None = None) -> JobResult:
    """Run one job and wait for its end; a failure raises ``LoraStudioError`` with the job's sentence."""
    done = threading.Event()
    final: list[BackendEvent] = []

    def listener(event: BackendEvent) -> None:
        if on_event is not None:
            on_event(event)
        if isinstance(event, JobResult | JobFailed | JobCancelled):
            final.append(event)
            done.set()

    backend.set_listener(listener)
    job_id = uuid.uuid4().hex
    backend.submit(job_id, request)
    asked = False
    while not done.wait(0.2):
        if cancel is not None and cancel.cancelled and not asked:
            backend.cancel(job_id)
            asked = True
            if not done.wait(CANCEL_GRACE):
                break
    if not final:
        raise GenerationCancelled("Cancelled; the server did not confirm in time.")
    event = final[0]
    if isinstance(event, JobCancelled):
        raise GenerationCancelled("The job was cancelled.")
    if isinstance(event, JobFailed):
        if event.kind is MessageKind.OUT_OF_MEMORY:
            raise OutOfMemory(event.message)
        raise LoraStudioError(event.message)
    assert isinstance(event, JobResult)
    return event


class BackendEngine:
    """``generate(request, on_step, cancel)`` over a ``Backend`` (what ``core.grid.run_cells`` needs)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def generate(self, request: GenerationRequest, on_step: Callable[[int, int, Any], None] | None = None,
                 cancel: CancelToken | None = None) -> list[RemoteImage]:
        from PIL import Image

        def on_event(event: BackendEvent) -> None:
            if on_step is not None and isinstance(event, JobProgress):
                on_step(event.step, event.total, None)

        result = run_job(self.backend, request, on_event, cancel)
        images = []
        for item in result.images:
            with Image.open(io.BytesIO(item.png)) as png:
                image = png.convert("RGB")
            images.append(RemoteImage(image, item.seed, request, item.png, item.warnings))
        return images
