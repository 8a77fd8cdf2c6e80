"""The runner feeds the queue to a backend one job at a time; failures never stall the queue."""

from __future__ import annotations

from pathlib import Path

from lorastudio.core.backend.base import (
    Backend,
    BackendStopped,
    ImageResult,
    JobCancelled,
    JobFailed,
    JobRequest,
    JobResult,
    ModelList,
)
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.messages import Message, MessageKind
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.core.session.runner import Finished, JobRunner


class FakeBackend(Backend):
    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[tuple[str, JobRequest]] = []
        self.cancelled: list[str] = []
        self.current: str | None = None

    @property
    def busy(self) -> bool:
        return self.current is not None

    def submit(self, job_id: str, request: JobRequest) -> None:
        assert self.current is None
        self.current = job_id
        self.submitted.append((job_id, request))

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def list_models(self) -> ModelList:
        return ModelList()

    def finish(self, event: object) -> object:
        self.current = None
        return event


def _req(prompt: str, seed: int = 1) -> GenerationRequest:
    return GenerationRequest(model=Path("/m"), prompt=prompt, seed=seed)


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def test_three_jobs_run_in_order_and_results_are_saved(tmp_path: Path) -> None:
    queue, backend = JobQueue(tmp_path / "q.json"), FakeBackend()
    runner = JobRunner(queue, backend, tmp_path / "out")
    done: list[Finished] = []
    busy: list[bool] = []
    runner.finished.connect(done.append)
    runner.busy_changed.connect(busy.append)
    jobs = [queue.add(_req(p, seed=i)) for i, p in enumerate("abc")]
    runner.pump()
    runner.pump()  # a second pump while busy starts nothing
    assert [j for j, _ in backend.submitted] == [jobs[0].id]
    for i, job in enumerate(jobs):
        assert backend.current == job.id
        runner.handle(backend.finish(JobResult(job.id, (ImageResult(_png(), i, ("note",)),))))  # type: ignore[arg-type]
    assert [f.job.id for f in done] == [j.id for j in jobs]
    assert [p.name for f in done for p in f.paths] == ["00001-0.png", "00002-1.png", "00003-2.png"]
    assert all(queue.get(j.id).state is JobState.DONE for j in jobs)  # type: ignore[union-attr]
    assert busy == [True, False]


def test_cancel_running_and_pending(tmp_path: Path) -> None:
    queue, backend = JobQueue(None), FakeBackend()
    runner = JobRunner(queue, backend, tmp_path)
    a, b, c = (queue.add(_req(p)) for p in "abc")
    runner.pump()
    runner.cancel(b.id)  # pending: never starts
    runner.cancel()  # the running one: the backend is asked to stop
    assert backend.cancelled == [a.id]
    runner.handle(backend.finish(JobCancelled(a.id)))  # type: ignore[arg-type]
    assert queue.get(a.id).state is JobState.CANCELLED  # type: ignore[union-attr]
    assert queue.get(b.id).state is JobState.CANCELLED  # type: ignore[union-attr]
    assert backend.current == c.id


def test_a_crash_fails_one_job_with_one_sentence_and_the_queue_goes_on(tmp_path: Path) -> None:
    queue, backend = JobQueue(None), FakeBackend()
    runner = JobRunner(queue, backend, tmp_path)
    messages: list[Message] = []
    runner.message.connect(messages.append)
    a, b = queue.add(_req("a")), queue.add(_req("b"))
    runner.pump()
    sentence = ("The engine process was stopped by the system (signal 9, often a lack of memory); "
                "the next job starts it again.")
    runner.handle(backend.finish(JobFailed(a.id, MessageKind.ENGINE_CRASHED, sentence)))  # type: ignore[arg-type]
    runner.handle(BackendStopped(sentence))
    assert queue.get(a.id).state is JobState.FAILED  # type: ignore[union-attr]
    assert [(m.kind, m.text) for m in messages] == [(MessageKind.ENGINE_CRASHED, sentence)]
    assert backend.current == b.id
    assert len(backend.submitted) == 2


def test_a_backend_that_cannot_start_fails_the_job_not_the_app(tmp_path: Path) -> None:
    class Broken(FakeBackend):
        def submit(self, job_id: str, request: JobRequest) -> None:
            raise OSError("no fork for you")

    queue = JobQueue(None)
    runner = JobRunner(queue, Broken(), tmp_path)
    messages: list[Message] = []
    runner.message.connect(messages.append)
    a, b = queue.add(_req("a")), queue.add(_req("b"))
    runner.pump()
    assert [queue.get(j.id).state for j in (a, b)] == [JobState.FAILED, JobState.FAILED]  # type: ignore[union-attr]
    assert messages[0].kind is MessageKind.ENGINE_START
