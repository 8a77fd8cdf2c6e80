""""Any free backend": several ComfyUI stand-ins sharing one batch, one of them going away."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from fake_comfyui import FakeComfyUI, write_checkpoint, write_kohya_lora

from lorastudio.core.backend.base import (
    Backend,
    BackendEvent,
    ImageResult,
    JobCancelled,
    JobFailed,
    JobProgress,
    JobRequest,
    JobResult,
    JobStarted,
    ModelList,
)
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.pool import PoolBackend
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.messages import MessageKind
from lorastudio.core.metadata.infotext import parse_infotext
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.core.session.runner import JobRunner

FINAL = (JobResult, JobFailed, JobCancelled)


class Recorder:
    def __init__(self) -> None:
        self.events: list[BackendEvent] = []
        self.done = threading.Event()

    def __call__(self, event: BackendEvent) -> None:
        self.events.append(event)
        if isinstance(event, FINAL):
            self.done.set()

    def final(self, timeout: float = 30.0) -> Any:
        assert self.done.wait(timeout), f"the job never ended: {self.events!r}"
        finals = [e for e in self.events if isinstance(e, FINAL)]
        assert len(finals) == 1, finals
        return finals[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {"model": write_checkpoint(tmp_path / "local" / "tiny.safetensors"),
            "a": write_kohya_lora(tmp_path / "local" / "style_a.safetensors")}


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[FakeComfyUI]]:
    fakes = [FakeComfyUI(tmp_path / f"out{i}", loras=("style_a.safetensors",), step_delay=0.02) for i in range(2)]
    yield fakes
    for fake in fakes:
        fake.close()


def six_cells(files: dict[str, Path]) -> GenerationRequest:
    return GenerationRequest(model=files["model"], prompt="a cat", loras=(LoraSpec(files["a"], 0.7),), seed=100,
                             steps=4, width=64, height=64, batch_count=6).validate()


def pool_of(servers: list[FakeComfyUI]) -> tuple[PoolBackend, Recorder]:
    pool = PoolBackend([ComfyUIBackend(s.url, name=f"box{i}") for i, s in enumerate(servers)])
    rec = Recorder()
    pool.set_listener(rec)
    return pool, rec


def seeds_of(result: JobResult) -> list[int]:
    out = []
    for image in result.images:
        info = parse_infotext(Image.open(io.BytesIO(image.png)).text["parameters"])
        out.append(int(info.params["Seed"]))
    return out


def test_two_servers_share_a_six_cell_batch_in_seed_order(servers: list[FakeComfyUI],
                                                         files: dict[str, Path]) -> None:
    pool, rec = pool_of(servers)
    pool.submit("grid", six_cells(files))
    result = rec.final()
    assert isinstance(result, JobResult)
    assert [i.seed for i in result.images] == list(range(100, 106))
    assert seeds_of(result) == list(range(100, 106))
    counts = [len(s.executed) for s in servers]
    assert sum(counts) == 6
    assert min(counts) >= 2  # both servers worked
    ran = sorted(int(n["inputs"]["seed"]) for s in servers for p in s.prompts for n in p["prompt"].values()
                 if n["class_type"] == "KSampler")
    assert ran == list(range(100, 106))  # each cell exactly once
    totals = {e.total for e in rec.events if isinstance(e, JobProgress)}
    assert totals == {24}
    assert not pool.busy


def test_a_server_going_away_mid_job_moves_its_cell_to_the_other(servers: list[FakeComfyUI],
                                                                 files: dict[str, Path]) -> None:
    servers[1].drop_at_step = 2
    pool, rec = pool_of(servers)
    pool.submit("grid", six_cells(files))
    result = rec.final()
    assert isinstance(result, JobResult)
    assert seeds_of(result) == list(range(100, 106))
    assert len(servers[1].executed) == 0  # it dropped the first cell it got and was left out
    assert len(servers[0].executed) == 6


def test_when_every_server_goes_away_the_job_fails_with_one_sentence(tmp_path: Path, files: dict[str, Path]) -> None:
    pool = PoolBackend([ComfyUIBackend("127.0.0.1:9", name="gone1", timeout=2),
                        ComfyUIBackend("127.0.0.1:9", name="gone2", timeout=2)])
    rec = Recorder()
    pool.set_listener(rec)
    pool.submit("grid", six_cells(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert failed.kind is MessageKind.ENGINE_CRASHED
    assert failed.message.startswith("No backend is left to run the job (The ComfyUI server at 127.0.0.1:9")
    assert failed.message.endswith(").")
    assert not pool.busy


def test_a_job_error_fails_the_whole_job_once(servers: list[FakeComfyUI], files: dict[str, Path]) -> None:
    for s in servers:
        s.fail_at = "VAEDecode"
    pool, rec = pool_of(servers)
    pool.submit("grid", six_cells(files))
    failed = rec.final()
    assert isinstance(failed, JobFailed)
    assert "failed in VAEDecode" in failed.message


def test_cancel_stops_every_running_cell(servers: list[FakeComfyUI], files: dict[str, Path]) -> None:
    for s in servers:
        s.step_delay = 0.1
    pool, rec = pool_of(servers)
    pool.submit("grid", six_cells(files))
    for _ in range(100):
        if sum(isinstance(e, JobProgress) for e in rec.events) >= 2:
            break
        threading.Event().wait(0.05)
    pool.cancel("grid")
    assert isinstance(rec.final(), JobCancelled)
    assert sum(len(s.interrupts) for s in servers) >= 1
    assert sum(len(s.executed) for s in servers) < 6


def test_the_session_runner_drives_the_pool(servers: list[FakeComfyUI], files: dict[str, Path],
                                            tmp_path: Path) -> None:
    pool, _ = pool_of(servers)
    queue = JobQueue()
    runner = JobRunner(queue, pool, tmp_path / "outputs")
    finished = threading.Event()
    # The runner applies events on the session's thread; here that is whichever thread delivers them.
    lock = threading.RLock()  # the pool reports JobStarted from inside submit()

    def handle(event: BackendEvent) -> None:
        with lock:
            runner.handle(event)
        if isinstance(event, FINAL):
            finished.set()

    pool.set_listener(handle)
    queue.add(six_cells(files))
    with lock:
        runner.pump()
    assert finished.wait(30)
    pngs = sorted((tmp_path / "outputs").glob("*.png"))
    assert [p.name.split("-", 1)[1] for p in pngs] == [f"{s}.png" for s in range(100, 106)]


def _run_queue(runner: JobRunner, pool: PoolBackend, queue: JobQueue, timeout: float = 60.0) -> int:
    """Apply the backends' events on this thread (as the window does on its GUI thread) until the
    queue is empty; returns the most jobs that were on the servers at once."""
    import queue as queues

    events: queues.Queue[BackendEvent] = queues.Queue()
    pool.set_listener(events.put)
    on_servers: set[str] = set()
    most = 0
    runner.pump()
    deadline = time.monotonic() + timeout
    while runner.busy or queue.pending():
        assert time.monotonic() < deadline, [(j.label, j.state) for j in queue.jobs()]
        try:
            event = events.get(timeout=0.5)
        except queues.Empty:
            continue
        if isinstance(event, JobStarted):
            on_servers.add(event.job_id)
        elif isinstance(event, FINAL):
            on_servers.discard(event.job_id)
        most = max(most, len(on_servers))
        runner.handle(event)
    return most


@pytest.mark.parametrize("drop", [False, True])
def test_queued_jobs_spread_over_idle_servers_and_finish_in_queue_order(
        servers: list[FakeComfyUI], files: dict[str, Path], tmp_path: Path, drop: bool) -> None:
    servers[0].step_delay = 0.25  # the first job lands on the slow server: the next two finish first
    if drop:
        servers[1].drop_at_step = 2  # and the fast one goes away during its first job
    pool, _ = pool_of(servers)
    queue = JobQueue()
    runner = JobRunner(queue, pool, tmp_path / "outputs")
    done: list[str] = []
    runner.finished.connect(lambda f: done.append(f.job.id))
    request = replace(six_cells(files), batch_count=1)
    jobs = [queue.add(replace(request, seed=10 * (i + 1))) for i in range(3)]

    most = _run_queue(runner, pool, queue)

    assert most == 2  # two servers: two jobs at once
    assert done == [j.id for j in jobs]  # reported in queue order, whoever finished first
    assert all(queue.get(j.id).state is JobState.DONE for j in jobs)  # type: ignore[union-attr]
    pngs = sorted((tmp_path / "outputs").glob("*.png"))
    assert [p.name for p in pngs] == ["00001-10.png", "00002-20.png", "00003-30.png"]  # history order
    assert sum(len(s.executed) for s in servers) == 3
    if drop:  # the job the fast server dropped ran again on the slow one
        seeds = [n["inputs"]["seed"] for p in servers[0].prompts for n in p["prompt"].values()
                 if n["class_type"] == "KSampler"]
        assert 20 in seeds


class TwoSlots(Backend):
    """Takes two jobs at once; the test ends them."""

    def __init__(self) -> None:
        super().__init__()
        self.running: list[str] = []
        self.cancelled: list[str] = []

    @property
    def busy(self) -> bool:
        return len(self.running) >= 2

    def submit(self, job_id: str, request: JobRequest) -> None:
        self.running.append(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def list_models(self) -> ModelList:
        return ModelList()

    def end(self, event: BackendEvent) -> BackendEvent:
        self.running.remove(event.job_id)  # type: ignore[union-attr]
        return event


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_result_waits_for_earlier_jobs_and_a_failure_or_cancel_releases_it(tmp_path: Path) -> None:
    backend, queue = TwoSlots(), JobQueue()
    runner = JobRunner(queue, backend, tmp_path)
    done: list[str] = []
    runner.finished.connect(lambda f: done.append(f.job.id))
    a, b, c, d = (queue.add(GenerationRequest(model=Path("/m"), prompt=p, seed=i)) for i, p in enumerate("abcd"))
    runner.pump()
    assert backend.running == [a.id, b.id]
    assert runner.running() == [queue.get(a.id), queue.get(b.id)]  # in start order
    runner.handle(backend.end(JobResult(b.id, (ImageResult(_png(), 1),))))
    assert done == []  # b waits for a
    assert backend.running == [a.id, c.id]
    runner.handle(backend.end(JobFailed(a.id, MessageKind.ENGINE_CRASHED, "The server went away.")))
    assert done == [b.id]  # a's failure releases b
    assert queue.get(a.id).state is JobState.FAILED  # type: ignore[union-attr]
    assert backend.running == [c.id, d.id]

    runner.handle(backend.end(JobResult(d.id, (ImageResult(_png(), 3),))))
    runner.cancel(d.id)  # finished but held: its result is dropped, nothing waits for it
    assert queue.get(d.id).state is JobState.CANCELLED  # type: ignore[union-attr]
    runner.cancel()  # every running job
    assert backend.cancelled == [c.id]
    runner.handle(backend.end(JobCancelled(c.id)))
    assert done == [b.id]
    assert not runner.busy


@dataclass(frozen=True)
class _LocalOnly:
    job_label = "Train"
    local_only = True


def test_a_local_only_job_in_the_pool_waits_for_this_computer(servers: list[FakeComfyUI]) -> None:
    local = TwoSlots()
    pool = PoolBackend([ComfyUIBackend(servers[0].url, name="box0"), local])
    rec = Recorder()
    pool.set_listener(rec)
    pool.submit("train", _LocalOnly())  # type: ignore[arg-type]
    assert local.running == ["train#0#0"]  # not the idle server: it cannot train
    assert servers[0].prompts == []
    local.emit(local.end(JobResult("train#0#0")))
    assert isinstance(rec.final(), JobResult)
