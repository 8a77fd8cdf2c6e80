"""EngineClient.choose_backend: jobs go to the chosen backend, "Any free backend" (a pool that
takes over this computer's listener) still builds the demo here, and going back to this computer
gives its events back to the window."""

from __future__ import annotations

from pathlib import Path

from lorastudio.core.backend.base import Backend, JobProgress, JobRequest, JobResult, JobStarted, ModelList
from lorastudio.core.backend.comfyui.pool import PoolBackend
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.qt.workers.engine_worker import EngineClient


class InstantBackend(Backend):
    """Finishes every job at once (no images), reporting through its listener."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.ran: list[str] = []

    @property
    def busy(self) -> bool:
        return False

    def submit(self, job_id: str, request: JobRequest) -> None:
        self.ran.append(job_id)
        self.emit(JobStarted(job_id))
        self.emit(JobResult(job_id))

    def cancel(self, job_id: str) -> None:
        pass

    def list_models(self) -> ModelList:
        return ModelList()


def _request() -> GenerationRequest:
    return GenerationRequest(model=Path("/m"), prompt="p", seed=1, batch_count=2)


def test_jobs_follow_the_chosen_backend(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local, remote = InstantBackend("local"), InstantBackend("remote")
    client = EngineClient(local, JobQueue(), tmp_path)
    client.choose_backend(lambda: remote)
    assert client.current_backend is remote
    job = client.generate(_request())
    assert remote.ran == [job.id]
    assert local.ran == []
    demo = client.build_demo(tmp_path)  # the demo is built here even with a server chosen
    assert local.ran == [demo.id]
    assert client.queue.get(demo.id).state is JobState.DONE  # type: ignore[union-attr]

    pool: list[PoolBackend] = []
    client.choose_backend(lambda: pool.append(PoolBackend([local, remote])) or pool[0])
    job = client.generate(_request())  # two images: one per member
    assert client.queue.get(job.id).state is JobState.DONE  # type: ignore[union-attr]
    assert (len(local.ran), len(remote.ran)) == (2, 2)  # one image on each
    demo = client.build_demo(tmp_path)  # through the pool, which owns this computer's listener
    assert client.queue.get(demo.id).state is JobState.DONE  # type: ignore[union-attr]

    client.choose_backend(None)
    assert client.current_backend is local
    job = client.generate(_request())
    assert local.ran[-1] == job.id
    assert client.queue.get(job.id).state is JobState.DONE  # type: ignore[union-attr]
    client.shutdown()


def test_a_backend_that_is_gone_falls_back_to_this_computer(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local = InstantBackend("local")
    client = EngineClient(local, JobQueue(), tmp_path)

    def gone() -> Backend:
        raise InvalidRequest("The backend 'x' is no longer configured.")

    with qtbot.waitSignal(client.message) as said:
        client.choose_backend(gone)
    assert said.args[0].text == "The backend 'x' is no longer configured."
    assert client.current_backend is local
    client.shutdown()


class TwoSlots(Backend):
    """Takes two jobs at once (like a pool of two servers); the test reports for it."""

    def __init__(self) -> None:
        super().__init__()
        self.running: list[str] = []

    @property
    def busy(self) -> bool:
        return len(self.running) >= 2

    def submit(self, job_id: str, request: JobRequest) -> None:
        self.running.append(job_id)

    def cancel(self, job_id: str) -> None:
        pass

    def list_models(self) -> ModelList:
        return ModelList()


def test_with_two_jobs_running_the_panel_follows_the_earliest(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    local, pool = InstantBackend("local"), TwoSlots()
    client = EngineClient(local, JobQueue(), tmp_path)
    client.choose_backend(lambda: pool)
    started: list[str] = []
    progress: list[int] = []
    client.started.connect(lambda job: started.append(job.id))
    client.progress.connect(lambda step, total, elapsed: progress.append(step))
    a, b = client.generate(_request()), client.generate(_request())
    assert pool.running == [a.id, b.id]  # both at once
    assert started == [a.id]
    pool.emit(JobProgress(b.id, 3, 4))  # the later job's progress does not move the bar
    pool.emit(JobProgress(a.id, 1, 4))
    assert progress == [1]
    pool.running.remove(a.id)
    pool.emit(JobResult(a.id))
    pool.emit(JobProgress(b.id, 4, 4))  # now b is the earliest: it is said to start, then its step shows
    assert started == [a.id, b.id]
    assert progress == [1, 4]
    client.shutdown()
