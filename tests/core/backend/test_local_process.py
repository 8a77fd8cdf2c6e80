"""The engine in its own process: progress, previews, PNG results, typed errors, cancel, and a
killed process that fails one job and restarts for the next."""

from __future__ import annotations

import io
import os
import queue
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorastudio.core.backend.base import (
    BackendEvent,
    BackendStopped,
    BuildDemo,
    JobCancelled,
    JobFailed,
    JobPreview,
    JobProgress,
    JobResult,
)
from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.messages import MessageKind

pytestmark = pytest.mark.slow
TIMEOUT = 180.0


class Events:
    def __init__(self, backend: LocalProcessBackend) -> None:
        self.q: queue.Queue[BackendEvent] = queue.Queue()
        backend.set_listener(self.q.put)

    def until(self, kinds: tuple[type, ...], job_id: str | None = None) -> tuple[list[BackendEvent], BackendEvent]:
        seen: list[BackendEvent] = []
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                event = self.q.get(timeout=1.0)
            except queue.Empty:
                continue
            seen.append(event)
            if isinstance(event, kinds) and (job_id is None or getattr(event, "job_id", None) == job_id):
                return seen, event
        raise AssertionError(f"no {kinds} within {TIMEOUT} s; saw {seen}")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalProcessBackend]:
    b = LocalProcessBackend(ProcessOptions(log_folder=tmp_path / "logs", torch_threads=2))
    yield b
    b.shutdown()
    assert not b.running


def _req(model: Path, **kw: object) -> GenerationRequest:
    values: dict[str, object] = dict(prompt="a cat", seed=3, steps=4, width=64, height=64)
    values.update(kw)
    return GenerationRequest(model=model, **values)  # type: ignore[arg-type]


def test_generation_runs_in_another_process_with_progress_previews_and_a_png(
        backend: LocalProcessBackend, demo_pipeline: Path) -> None:
    events = Events(backend)
    backend.submit("j1", _req(demo_pipeline, preview_every=1))
    assert backend.busy
    assert backend.pid is not None
    assert backend.pid != os.getpid()
    seen, result = events.until((JobResult, JobFailed))
    assert isinstance(result, JobResult), result
    assert not backend.busy
    steps = [(e.step, e.total) for e in seen if isinstance(e, JobProgress)]
    assert steps[-1] == (4, 4)
    previews = [e for e in seen if isinstance(e, JobPreview)]
    assert previews
    assert (previews[0].width, previews[0].height) == (8, 8)
    assert len(previews[0].rgb) == 8 * 8 * 3
    from PIL import Image

    image = Image.open(io.BytesIO(result.images[0].png))
    assert image.size == (64, 64)
    assert "Seed: 3" in image.text["parameters"]
    assert result.images[0].seed == 3
    assert result.stats["pipeline_loads"] == 1
    # torch lives in the engine process only (this test process may have it from other tests).
    assert (Path(backend._options.log_folder) / "engine.log").exists()  # type: ignore[arg-type]


def test_errors_are_one_typed_sentence_and_cancel_stops(backend: LocalProcessBackend, demo_pipeline: Path,
                                                        tmp_path: Path) -> None:
    events = Events(backend)
    backend.submit("bad", _req(tmp_path / "missing"))
    _, failed = events.until((JobResult, JobFailed, JobCancelled))
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.MODEL_LOAD
    assert failed.message.startswith("Model not found")

    backend.submit("long", _req(demo_pipeline, steps=40))
    events.until((JobProgress,), "long")
    backend.cancel("long")
    seen, end = events.until((JobResult, JobFailed, JobCancelled), "long")
    assert isinstance(end, JobCancelled)
    assert max((e.step for e in seen if isinstance(e, JobProgress)), default=1) < 40


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_engine_fails_the_job_and_the_next_job_restarts_it(
        backend: LocalProcessBackend, demo_pipeline: Path) -> None:
    events = Events(backend)
    backend.submit("doomed", _req(demo_pipeline, steps=200))
    events.until((JobProgress,), "doomed")
    pid = backend.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _seen, failed = events.until((JobFailed,), "doomed")
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.ENGINE_CRASHED
    assert failed.message.count(".") == 1
    assert "signal 9" in failed.message
    events.until((BackendStopped,))
    assert not backend.busy
    backend.submit("next", _req(demo_pipeline, steps=2))
    _, result = events.until((JobResult, JobFailed), "next")
    assert isinstance(result, JobResult)
    assert backend.starts == 2
    assert backend.pid != pid


def test_demo_library_is_built_in_the_engine_process(backend: LocalProcessBackend, tmp_path: Path) -> None:
    events = Events(backend)
    backend.submit("demo", BuildDemo(tmp_path / "data"))
    _, result = events.until((JobResult, JobFailed), "demo")
    assert isinstance(result, JobResult), result
    assert list((tmp_path / "data" / "models" / "loras").glob("*.safetensors"))


@pytest.mark.skipif(sys.platform == "win32", reason="checks the old process with os.kill(pid, 0)")
def test_a_runtime_change_lets_the_running_job_finish_then_the_next_job_starts_a_new_engine(
        backend: LocalProcessBackend, demo_pipeline: Path) -> None:
    """Installing or switching the engine runtime mid-job: the job ends normally on the old
    engine, that engine then quits (no "stopped unexpectedly"), and the next job starts a fresh one."""
    events = Events(backend)
    backend.submit("running", _req(demo_pipeline, steps=20))
    events.until((JobProgress,), "running")
    old = backend.pid
    assert old is not None
    assert backend.restart_when_idle() is False  # busy: not now
    seen, end = events.until((JobResult, JobFailed, JobCancelled), "running")
    assert isinstance(end, JobResult)
    deadline = time.monotonic() + 30
    while _alive(old) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(old)
    backend.submit("next", _req(demo_pipeline, steps=2))
    seen, result = events.until((JobResult, JobFailed), "next")
    assert isinstance(result, JobResult)
    assert backend.starts == 2
    assert not [e for e in seen if isinstance(e, BackendStopped)]
    assert backend.restart_when_idle() is True  # idle: stops at once
    assert not backend.running


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
