"""The job queue: order, reorder, cancel, remove, run next, and persistence across a restart."""

from __future__ import annotations

import json
from pathlib import Path

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.session.queue import JobQueue, JobState


def _req(prompt: str, **kw: object) -> GenerationRequest:
    return GenerationRequest(model=Path("/models/m"), prompt=prompt, **kw)  # type: ignore[arg-type]


def _prompts(queue: JobQueue) -> list[str]:
    return [j.request.prompt for j in queue.pending()]  # type: ignore[union-attr]


def test_jobs_run_in_the_order_they_were_added_and_can_be_reordered(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "queue.json")
    a, b, c = (q.add(_req(p)) for p in "abc")
    assert _prompts(q) == ["a", "b", "c"]
    q.run_next(c.id)
    assert _prompts(q) == ["c", "a", "b"]
    q.move_by(c.id, 1)
    assert _prompts(q) == ["a", "c", "b"]
    q.move(a.id, 99)
    assert _prompts(q) == ["c", "b", "a"]
    assert q.next_pending() is not None
    assert q.next_pending().id == c.id
    assert b.id != a.id


def test_cancel_and_remove(tmp_path: Path) -> None:
    q = JobQueue(tmp_path / "queue.json")
    a, b, c = (q.add(_req(p)) for p in "abc")
    q.mark_running(a.id)
    assert q.cancel(a.id) is True  # running: only marked; the runner stops the backend
    assert q.get(a.id).state is JobState.RUNNING  # type: ignore[union-attr]
    assert q.cancel(b.id) is False
    assert q.get(b.id).state is JobState.CANCELLED  # type: ignore[union-attr]
    q.remove(a.id)  # running jobs cannot be removed
    assert q.get(a.id) is not None
    q.remove(c.id)
    assert q.get(c.id) is None
    q.mark_cancelled(a.id)
    assert [j.state for j in q.jobs()] == [JobState.CANCELLED, JobState.CANCELLED]
    q.clear_finished()
    assert len(q) == 0


def test_unfinished_jobs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "queue.json"
    q = JobQueue(path)
    spec = LoraSpec(path=Path("/loras/ink.safetensors"), weight=0.8, te_weight=0.5, name="Ink", blocks=(1.0, 0.5))
    done, running, pending = q.add(_req("done")), q.add(_req("running", loras=(spec,), seed=7)), q.add(_req("later"))
    q.mark_running(done.id)
    q.mark_done(done.id, (tmp_path / "00001-1.png",))
    q.mark_running(running.id)

    again = JobQueue(path)
    jobs = again.jobs()
    assert [j.request.prompt for j in jobs] == ["running", "later"]  # type: ignore[union-attr]
    assert all(j.state is JobState.PENDING for j in jobs)  # what was running runs again
    assert jobs[0].request == running.request
    assert jobs[0].request.loras[0].blocks == (1.0, 0.5)  # type: ignore[union-attr]
    assert pending.id == jobs[1].id
    new = again.add(_req("new"))
    assert new.id not in {j.id for j in jobs}


def test_a_damaged_queue_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "queue.json"
    good = {"id": "x-1", "request": {"model": "/m", "prompt": "ok"}}
    bad = [{"id": "x-2", "request": {"prompt": "no model"}}, {"id": 3}, "junk",
           {"id": "x-4", "request": {"model": "/m", "prompt": "p", "steps": "many"}}]
    path.write_text(json.dumps({"version": 1, "jobs": [good, *bad]}), "utf-8")
    assert [j.id for j in JobQueue(path).jobs()] == ["x-1"]
    path.write_text("[[[", "utf-8")
    assert len(JobQueue(path)) == 0
