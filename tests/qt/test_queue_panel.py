"""The queue panel shows running, waiting (in order) and finished jobs and acts on the selected one."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.session.queue import JobQueue
from lorastudio.qt.widgets.queue_panel import QueuePanel


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    return JobQueue(tmp_path / "queue.json")


@pytest.fixture
def panel(qtbot, queue: JobQueue) -> QueuePanel:  # type: ignore[no-untyped-def]
    p = QueuePanel(queue)
    queue.changed.connect(lambda _: p.refresh())
    qtbot.addWidget(p)
    return p


def _add(queue: JobQueue, prompt: str) -> str:
    return queue.add(GenerationRequest(model=Path("/m"), prompt=prompt, width=64, height=64, steps=2)).id


def test_rows_show_state_and_order_and_buttons_follow_the_selection(panel: QueuePanel, queue: JobQueue) -> None:
    a, b, c = (_add(queue, p) for p in ("first", "second", "third"))
    queue.mark_running(a)
    texts = panel.row_texts()
    assert texts[0].startswith("▶ Running · first")
    assert texts[1].startswith("#1 · second")
    assert texts[2].startswith("#2 · third")
    assert panel.summary.text() == "1 running, 2 waiting"
    assert not panel.run_next_button.isEnabled()

    panel.select_job(c)
    assert panel.run_next_button.isEnabled()
    assert panel.remove_button.isEnabled()
    panel.run_next_button.click()
    assert [j.id for j in queue.pending()] == [c, b]
    assert panel.current_job().id == c  # type: ignore[union-attr]  # the selection follows the job
    panel.down_button.click()
    assert [j.id for j in queue.pending()] == [b, c]
    panel.up_button.click()
    assert [j.id for j in queue.pending()] == [c, b]

    panel.select_job(a)
    assert not panel.remove_button.isEnabled()  # a running job is cancelled, not removed
    assert panel.cancel_button.isEnabled()


def test_cancel_asks_the_runner_and_remove_and_clear_edit_the_queue(qtbot, panel: QueuePanel, queue: JobQueue) -> None:  # type: ignore[no-untyped-def]
    a, b = _add(queue, "a"), _add(queue, "b")
    panel.select_job(a)
    with qtbot.waitSignal(panel.cancel_requested) as blocker:
        panel.cancel_button.click()
    assert blocker.args == [a]
    panel.select_job(b)
    panel.remove_button.click()
    assert queue.get(b) is None
    queue.mark_running(a)
    queue.mark_done(a, (Path("/out/00001-1.png"),))
    assert panel.row_texts()[0].startswith("✓ Done")
    assert panel.clear_button.isEnabled()
    with qtbot.waitSignal(panel.open_requested) as opened:
        panel.list.itemDoubleClicked.emit(panel.list.item(0))
    assert opened.args == ["/out/00001-1.png"]
    panel.clear_button.click()
    assert panel.row_texts() == []
    assert queue.get(a) is None
