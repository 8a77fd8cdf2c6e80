"""The engine bridge: jobs run in the engine process, events reach the GUI thread as signals,
cancel is clean, errors are one sentence, and clicks while busy queue up."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.paths import data_dir
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.qt.workers.engine_worker import EngineClient

TIMEOUT = 180_000


@pytest.fixture
def client(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = data_dir(tmp_path).ensure()
    c = EngineClient(LocalProcessBackend(ProcessOptions(torch_threads=2)), JobQueue(data.queue_file), data.outputs)
    yield c
    c.shutdown()
    assert not c.backend.running  # type: ignore[attr-defined]


def test_generation_runs_in_the_engine_process_with_progress_and_previews(
        qtbot, client: EngineClient, demo_pipeline: Path) -> None:  # type: ignore[no-untyped-def]
    gui_thread = threading.get_ident()
    seen_threads: list[int] = []
    progress: list[tuple[int, int]] = []
    previews: list[QImage] = []
    client.progress.connect(lambda s, t, e: (progress.append((s, t)), seen_threads.append(threading.get_ident())))
    client.preview.connect(previews.append)
    request = GenerationRequest(model=demo_pipeline, prompt="a cat", seed=3, steps=4, width=64, height=64,
                                preview_every=1)
    with qtbot.waitSignal(client.finished, timeout=TIMEOUT) as blocker:
        client.generate(request)
    result, paths = blocker.args
    assert [Path(p).exists() for p in paths] == [True]
    assert result.images[0].seed == 3
    assert progress[-1] == (4, 4)
    assert previews
    assert previews[0].width() == 8
    assert set(seen_threads) == {gui_thread}  # signals arrive on the GUI thread, the work ran elsewhere
    qtbot.waitUntil(lambda: not client.busy, timeout=TIMEOUT)


def test_cancel_then_next_job(qtbot, client: EngineClient, demo_pipeline: Path) -> None:  # type: ignore[no-untyped-def]
    def cancel_at_first_step(step: int, total: int, elapsed: float) -> None:
        client.cancel()

    client.progress.connect(cancel_at_first_step)
    with qtbot.waitSignal(client.cancelled, timeout=TIMEOUT):
        client.generate(GenerationRequest(model=demo_pipeline, prompt="x", steps=30, width=64, height=64))
    client.progress.disconnect(cancel_at_first_step)
    qtbot.waitUntil(lambda: not client.busy, timeout=TIMEOUT)
    with qtbot.waitSignal(client.finished, timeout=TIMEOUT):
        client.generate(GenerationRequest(model=demo_pipeline, prompt="x", steps=2, width=64, height=64))


def test_errors_come_back_as_one_sentence(qtbot, client: EngineClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(client.failed, timeout=TIMEOUT) as blocker:
        client.generate(GenerationRequest(model=tmp_path / "missing", prompt="x"))
    assert blocker.args[0].startswith("Model not found")


def test_jobs_submitted_while_busy_wait_their_turn(qtbot, client: EngineClient, demo_pipeline: Path) -> None:  # type: ignore[no-untyped-def]
    done: list[object] = []
    client.finished.connect(lambda result, paths: done.append(result))
    jobs = [client.generate(GenerationRequest(model=demo_pipeline, prompt="x", seed=s, steps=2, width=64, height=64))
            for s in (5, 6)]
    assert client.queue.get(jobs[1].id).state is JobState.PENDING  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: len(done) == 2, timeout=TIMEOUT)
    assert [r.images[0].seed for r in done] == [5, 6]  # type: ignore[attr-defined]


def test_demo_library_is_built_in_the_engine_process(qtbot, client: EngineClient, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(client.demo_built, timeout=TIMEOUT):
        client.build_demo(tmp_path / "demo")
    assert list((tmp_path / "demo" / "models" / "checkpoints").glob("*/model_index.json"))
