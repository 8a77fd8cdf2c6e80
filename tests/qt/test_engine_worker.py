"""The engine thread: jobs run off the GUI thread, report progress and previews, cancel cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.paths import data_dir
from lorastudio.qt.workers.engine_worker import EngineClient

TIMEOUT = 120_000


@pytest.fixture
def client(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    c = EngineClient(data_dir(tmp_path).ensure())
    yield c
    c.shutdown()
    assert c._thread.isFinished()


def test_generation_runs_in_the_engine_thread_with_progress_and_previews(
        qtbot, client: EngineClient, demo_pipeline: Path) -> None:  # type: ignore[no-untyped-def]
    gui_thread = threading.get_ident()
    seen_threads: list[int] = []
    progress: list[tuple[int, int]] = []
    previews: list[QImage] = []
    client.worker.progress.connect(lambda s, t: seen_threads.append(threading.get_ident()))
    client.progress.connect(lambda s, t, e: progress.append((s, t)))
    client.preview.connect(previews.append)
    request = GenerationRequest(model=demo_pipeline, prompt="a cat", seed=3, steps=4, width=64, height=64,
                                preview_every=1)
    with qtbot.waitSignal(client.finished, timeout=TIMEOUT) as blocker:
        client.generate(request)
    results, paths = blocker.args
    assert [Path(p).exists() for p in paths] == [True]
    assert results[0].seed == 3
    assert progress[-1] == (4, 4)
    assert previews
    assert previews[0].width() == 8
    assert seen_threads
    assert gui_thread not in seen_threads
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


def test_demo_library_is_built_in_the_engine_thread(qtbot, client: EngineClient) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(client.demo_built, timeout=TIMEOUT) as blocker:
        client.build_demo()
    assert blocker.args[0].pipeline.joinpath("model_index.json").exists()


