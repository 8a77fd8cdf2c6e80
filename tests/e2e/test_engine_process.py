"""End to end through the process boundary: the window never imports torch, Generate while busy
queues, and an engine process killed mid-generation costs one job and one sentence, nothing more."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.messages import MessageKind
from lorastudio.core.paths import DataDir
from lorastudio.core.session.queue import JobState

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from window_process import run_window

pytestmark = pytest.mark.slow
TIMEOUT = 180_000


@pytest.fixture
def window(window, data: DataDir):  # type: ignore[no-untyped-def]
    """The shared window (conftest), set up for quick 64×64, 2-step generations."""
    win = window
    win.generation.select_model(data.checkpoints / DEMO_PIPELINE)
    g = win.generation
    g.prompt.setPlainText("a lighthouse")
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    g.steps.setValue(2)
    return win


def _click(qtbot, win) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(win.generation.generate_button, Qt.MouseButton.LeftButton)


def test_three_generate_clicks_in_a_row_give_three_images_in_order(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    finished: list[list[Path]] = []
    window.engine.finished.connect(lambda result, paths: finished.append(list(paths)))
    seeds = (11, 22, 33)
    for seed in seeds:
        window.generation.seed.setValue(seed)
        _click(qtbot, window)  # the button stays enabled: each click queues a job
        assert window.generation.generate_button.isEnabled()
    assert len(window.queue_panel.job_ids()) == 3
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=TIMEOUT)
    names = [paths[0].name for paths in finished]
    assert names == ["00001-11.png", "00002-22.png", "00003-33.png"]
    assert all(j.state is JobState.DONE for j in window.session.queue.jobs())
    assert window.history.model.rowCount() == 3
    assert window.history.model.entries()[0].path.name == "00003-33.png"  # newest first
    qtbot.waitUntil(lambda: not window.engine.busy, timeout=TIMEOUT)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killing_the_engine_mid_generation_costs_one_job_and_one_sentence(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    finished: list[list[Path]] = []
    window.engine.finished.connect(lambda result, paths: finished.append(list(paths)))
    window.generation.steps.setValue(200)
    window.generation.seed.setValue(1)
    started_steps: list[int] = []
    window.engine.progress.connect(lambda s, t, e: started_steps.append(s))
    _click(qtbot, window)  # the doomed job
    window.generation.steps.setValue(2)
    window.generation.seed.setValue(2)
    _click(qtbot, window)  # queued behind it
    qtbot.waitUntil(lambda: bool(started_steps), timeout=TIMEOUT)
    pid = window.backend.pid
    with qtbot.waitSignal(window.engine.failed, timeout=TIMEOUT):
        os.kill(pid, signal.SIGKILL)
    message = window.notice.message()
    assert message is not None
    assert message.kind is MessageKind.ENGINE_CRASHED
    text = window.notice.text()
    assert "engine process" in text
    assert text.count(". ") == 0
    assert text.endswith(".")
    assert "Traceback" not in text

    # The queued job runs on a fresh engine process, and so does the next Generate.
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=TIMEOUT)
    assert finished[0][0].name.endswith("-2.png")
    assert window.backend.pid != pid
    window.generation.seed.setValue(3)
    _click(qtbot, window)
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=TIMEOUT)
    assert finished[1][0].name.endswith("-3.png")
    states = [j.state for j in window.session.queue.jobs()]
    assert states.count(JobState.FAILED) == 1
    assert states.count(JobState.DONE) == 2
    assert window.generation.generate_button.isEnabled()


def test_the_window_process_never_imports_torch(data: DataDir) -> None:
    """Build the window, generate one image through the engine process, and look at sys.modules."""
    proc = run_window(data.root, f"""
        def start():
            if win.generation.model.count() == 0:
                QTimer.singleShot(100, start)
                return
            win.generation.select_model(data.checkpoints / {DEMO_PIPELINE!r})
            win.generation.width_box.setValue(64)
            win.generation.height_box.setValue(64)
            win.generation.steps.setValue(2)
            win.generation.generate_button.click()

        def done(result, paths):
            out["paths"] = paths
            app.quit()

        def failed(text):
            out["failed"] = text
            app.quit()

        def result():
            return out.get("failed") or len(out.get("paths", []))

        win.engine.finished.connect(done)
        win.engine.failed.connect(failed)
    """, quit_after_ms=170_000, timeout=240)
    assert "RESULT 1 HEAVY []" in proc.stdout, proc.stdout + proc.stderr
