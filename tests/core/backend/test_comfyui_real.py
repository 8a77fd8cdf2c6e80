"""Against a real ComfyUI server, only when one is given: LORASTUDIO_TEST_COMFYUI_URL=http://host:8188
(and LORASTUDIO_TEST_COMFYUI_TOKEN when a proxy in front of it wants a bearer token).

It uses the server's first checkpoint (and first LoRA, if any) at 64x64 and 4 steps; see HACKING.md.
"""

from __future__ import annotations

import io
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lorastudio.core.backend.base import BackendEvent, JobCancelled, JobFailed, JobProgress, JobResult
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.probe import check_connection
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.metadata.infotext import parse_infotext

URL = os.environ.get("LORASTUDIO_TEST_COMFYUI_URL", "")
TOKEN = os.environ.get("LORASTUDIO_TEST_COMFYUI_TOKEN") or None
pytestmark = [pytest.mark.skipif(not URL, reason="set LORASTUDIO_TEST_COMFYUI_URL to test a real ComfyUI server"),
              pytest.mark.slow]
FINAL = (JobResult, JobFailed, JobCancelled)


def _run(backend: ComfyUIBackend, request: GenerationRequest, cancel_after_progress: bool = False) -> tuple[Any, list]:
    events: list[BackendEvent] = []
    done = threading.Event()

    def listener(event: BackendEvent) -> None:
        events.append(event)
        if cancel_after_progress and isinstance(event, JobProgress) and event.step == 1:
            backend.cancel("real")
        if isinstance(event, FINAL):
            done.set()

    backend.set_listener(listener)
    backend.submit("real", request)
    assert done.wait(900), "the real server never finished the job"
    return next(e for e in events if isinstance(e, FINAL)), events


@pytest.fixture(scope="module")
def backend() -> ComfyUIBackend:
    return ComfyUIBackend(URL, "real", TOKEN, timeout=60)


def _request(backend: ComfyUIBackend, steps: int) -> GenerationRequest:
    models = backend.server_models(refresh=True)
    if not models.checkpoints:
        pytest.skip("the server has no checkpoint")
    loras = (LoraSpec(Path(models.loras[0]), 0.5),) if models.loras else ()
    return GenerationRequest(model=Path(models.checkpoints[0]), prompt="a lighthouse at dusk", negative_prompt="blurry",
                             loras=loras, seed=random.randrange(2**32), steps=steps, width=64, height=64).validate()


def test_connection_reports_the_server() -> None:
    info = check_connection(URL, TOKEN)
    assert info.version
    assert info.checkpoints >= 1


def test_a_job_runs_with_progress_and_comes_back_with_infotext(backend: ComfyUIBackend) -> None:
    request = _request(backend, steps=4)
    final, events = _run(backend, request)
    assert isinstance(final, JobResult), final
    assert [e.step for e in events if isinstance(e, JobProgress)][-1] == 4
    png = Image.open(io.BytesIO(final.images[0].png))
    assert png.size == (64, 64)
    assert parse_infotext(png.text["parameters"]).params["Seed"] == str(request.seed)


def test_a_running_job_can_be_cancelled(backend: ComfyUIBackend) -> None:
    final, _ = _run(backend, _request(backend, steps=40), cancel_after_progress=True)
    assert isinstance(final, JobCancelled), final
