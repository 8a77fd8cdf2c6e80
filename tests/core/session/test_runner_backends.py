"""Choosing a backend: the switch waits for the running job, cancel reaches the job's own backend,
the demo library stays on this computer, and a refusal at submit is one sentence."""

from __future__ import annotations

from pathlib import Path

from lorastudio.core.backend.base import Backend, BuildDemo, JobCancelled, JobRequest, JobResult, ModelList
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.messages import Message
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.core.session.runner import JobRunner


class FakeBackend(Backend):
    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.current: str | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def submit(self, job_id: str, request: JobRequest) -> None:
        assert self.current is None
        self.current = job_id
        self.submitted.append(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def list_models(self) -> ModelList:
        return ModelList()

    def finish(self, event: object) -> object:
        self.current = None
        return event


def _req(prompt: str) -> GenerationRequest:
    return GenerationRequest(model=Path("/m"), prompt=prompt, seed=1)


class RefusingBackend(FakeBackend):
    def submit(self, job_id: str, request: JobRequest) -> None:
        raise InvalidRequest("The server lacks style.safetensors.")


def test_a_switch_waits_for_the_running_job_and_cancel_goes_to_its_backend(tmp_path: Path) -> None:
    local, remote = FakeBackend(), FakeBackend()
    queue = JobQueue()
    runner = JobRunner(queue, local, tmp_path)
    wanted: list[FakeBackend] = []

    def switch() -> None:  # what the Qt client does in before_start
        if wanted:
            runner.backend = wanted.pop()

    runner.before_start = switch
    first = queue.add(_req("one"))
    runner.pump()
    assert local.current == first.id
    wanted.append(remote)  # chosen while "one" runs on this computer
    second = queue.add(_req("two"))
    runner.pump()
    assert remote.submitted == []  # nothing switches under a running job
    runner.cancel()
    assert local.cancelled == [first.id]
    runner.handle(local.finish(JobCancelled(first.id)))  # type: ignore[arg-type]
    assert remote.current == second.id
    runner.cancel()
    assert remote.cancelled == [second.id]
    assert local.cancelled == [first.id]


def test_the_demo_is_built_on_the_local_backend(tmp_path: Path) -> None:
    local, remote = FakeBackend(), FakeBackend()
    queue = JobQueue()
    runner = JobRunner(queue, remote, tmp_path)
    runner.local_backend = local
    job = queue.add(BuildDemo(tmp_path))
    runner.pump()
    assert local.current == job.id
    assert remote.submitted == []
    runner.handle(local.finish(JobResult(job.id)))  # type: ignore[arg-type]
    assert queue.get(job.id).state is JobState.DONE  # type: ignore[union-attr]


def test_a_refusal_at_submit_is_its_own_sentence(tmp_path: Path) -> None:
    queue = JobQueue()
    runner = JobRunner(queue, RefusingBackend(), tmp_path)
    said: list[Message] = []
    runner.message.connect(said.append)
    job = queue.add(_req("one"))
    runner.pump()
    assert queue.get(job.id).state is JobState.FAILED  # type: ignore[union-attr]
    assert [m.text for m in said] == ["The server lacks style.safetensors."]
