"""Training as an engine-process job: the handler's events, its result, cancel and resume, and the
request crossing the process boundary."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lorastudio.core.backend.base import BackendEvent, JobProgress, JobResult, JobUpdate, runs_locally
from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.train_job import run
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled
from lorastudio.core.training.request import TrainRequest
from lorastudio.core.training.trainer import EpochSaved, TrainProgress, TrainResult, TrainSample

from .conftest import draw_dataset, tiny_config


@dataclass
class Context:
    """Stands in for engine_process.JobContext: records what the handler sends."""

    options: ProcessOptions = field(default_factory=lambda: ProcessOptions(device="cpu"))
    cancel: CancelToken = field(default_factory=CancelToken)
    events: list[BackendEvent] = field(default_factory=list)
    cancel_at_step: int = 0

    def send(self, event: BackendEvent) -> None:
        pickle.dumps(event)  # everything sent must cross the process boundary
        self.events.append(event)
        if (self.cancel_at_step and isinstance(event, JobUpdate) and isinstance(event.payload, TrainProgress)
                and event.payload.step == self.cancel_at_step):
            self.cancel.cancel()

    def release_engine(self) -> None:
        pass  # no image engine here

    def payloads(self, kind: type) -> list[object]:
        return [e.payload for e in self.events if isinstance(e, JobUpdate) and isinstance(e.payload, kind)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return draw_dataset(tmp_path / "pictures")


def test_the_request_names_itself_and_runs_locally(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model, data, tmp_path / "loras", epochs=2)
    request = TrainRequest(config, ((data / "disc0.png", "zq red"),), resume=True)
    assert runs_locally(request)
    assert request.job_label == "Resume training disc — pictures, 2 epochs"
    assert TrainRequest(config).job_label.startswith("Train disc")
    assert pickle.loads(pickle.dumps(request)) == request
    assert request.caption_map() == {data / "disc0.png": "zq red"}


def test_a_run_reports_steps_samples_and_files(tiny_model: Path, data: Path, tmp_path: Path,
                                               torch_threads: None) -> None:
    config = tiny_config(tiny_model, data, tmp_path / "loras", epochs=2, sample_every_steps=2)
    ctx = Context()
    result = run(ctx, "job-1", TrainRequest(config, ((data / "disc0.png", "a caption the page typed"),)))

    assert isinstance(result, JobResult)
    assert result.job_id == "job-1"
    outcome = result.payload
    assert isinstance(outcome, TrainResult)
    assert not outcome.cancelled
    assert [p.name for p in outcome.files] == ["disc-000001.safetensors", "disc.safetensors"]
    assert all(p.is_file() for p in outcome.files)
    progress = [e for e in ctx.events if isinstance(e, JobProgress)]
    assert [(p.step, p.total) for p in progress] == [(i, 8) for i in range(1, 9)]
    assert [p.step for p in ctx.payloads(TrainProgress)] == list(range(1, 9))  # type: ignore[attr-defined]
    samples = ctx.payloads(TrainSample)
    assert [s.step for s in samples] == [2, 4, 6, 8]  # type: ignore[attr-defined]
    assert all(s.png.startswith(b"\x89PNG") for s in samples)  # type: ignore[attr-defined]
    saved = ctx.payloads(EpochSaved)
    assert [(e.epoch, e.path) for e in saved] == [(1, outcome.files[0]), (2, outcome.files[1])]  # type: ignore[attr-defined]


def test_cancel_ends_as_cancelled_after_saying_what_is_kept_and_resume_finishes(
        tiny_model: Path, data: Path, tmp_path: Path, torch_threads: None) -> None:
    config = tiny_config(tiny_model, data, tmp_path / "loras", epochs=2)
    ctx = Context(cancel_at_step=5)  # the first step of epoch 2
    with pytest.raises(GenerationCancelled):
        run(ctx, "job-1", TrainRequest(config))
    stopped = ctx.payloads(TrainResult)
    assert len(stopped) == 1
    assert isinstance(stopped[0], TrainResult)
    assert stopped[0].cancelled
    assert (stopped[0].last_saved_epoch, stopped[0].steps) == (1, 5)
    assert [p.name for p in (tmp_path / "loras").glob("*.safetensors")] == ["disc-000001.safetensors"]

    again = Context()
    result = run(again, "job-2", TrainRequest(config, resume=True))
    outcome = result.payload
    assert isinstance(outcome, TrainResult)
    assert (outcome.resumed_from_epoch, outcome.steps) == (1, 8)
    assert [p.step for p in again.payloads(TrainProgress)] == [5, 6, 7, 8]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_training_runs_in_the_engine_process(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    import queue
    import time

    from lorastudio.core.backend.base import JobFailed
    from lorastudio.core.backend.local_process import LocalProcessBackend

    config = tiny_config(tiny_model, data, tmp_path / "loras", epochs=1, sample_steps=1)
    backend = LocalProcessBackend(ProcessOptions(log_folder=tmp_path / "logs", torch_threads=2, device="cpu"))
    events: queue.Queue[BackendEvent] = queue.Queue()
    backend.set_listener(events.put)
    seen: list[BackendEvent] = []
    try:
        backend.submit("t1", TrainRequest(config))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                seen.append(events.get(timeout=1.0))
            except queue.Empty:
                continue
            if isinstance(seen[-1], JobResult | JobFailed):
                break
    finally:
        backend.shutdown()
    assert isinstance(seen[-1], JobResult), seen[-1]
    outcome = seen[-1].payload
    assert isinstance(outcome, TrainResult)
    assert [p.name for p in outcome.files] == ["disc.safetensors"]
    updates = [e.payload for e in seen if isinstance(e, JobUpdate)]
    assert [type(u).__name__ for u in updates] == ["TrainProgress"] * 4 + ["TrainSample", "EpochSaved"]
    assert [e.step for e in seen if isinstance(e, JobProgress)] == [1, 2, 3, 4]
