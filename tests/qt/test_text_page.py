"""Text mode in pytest-qt: demo from the empty state, mix two adapters, stream, stop, train."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from lorastudio.core.paths import DataDir
from lorastudio.core.text.demo import build_demo_adapters, build_demo_model
from lorastudio.qt.widgets.text_page import TextPage

torch.set_num_threads(2)
WAIT = 60_000  # ms: generous for 2 shared CPU cores; never a timing assertion


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """A data dir with a tiny GPT-2, two adapters, and one adapter made for another model."""
    data = DataDir(tmp_path_factory.mktemp("text-data")).ensure()
    model = build_demo_model(data.text_models / "tiny-gpt2", n_embd=32, n_positions=256, pretrain_steps=0)
    build_demo_adapters(model, data.text_adapters, steps=4)
    other = build_demo_model(tmp_path_factory.mktemp("other") / "wide-gpt2", n_embd=48, pretrain_steps=0)
    elsewhere = tmp_path_factory.mktemp("other-adapters")
    build_demo_adapters(other, elsewhere, steps=1)
    shutil.copytree(elsewhere / "tiny-cats", data.text_adapters / "wide-cats")
    return data


@pytest.fixture
def page(qtbot, prepared: DataDir):  # type: ignore[no-untyped-def]
    widget = TextPage(prepared, include_hf_cache=False)
    qtbot.addWidget(widget)
    widget.resize(1100, 720)
    yield widget
    widget.shutdown()
    qtbot.waitUntil(widget.client.thread.isFinished, timeout=WAIT)


class _PauseAfter:
    """Runs in the text thread (direct connection): after ``n`` chunks it holds generation until
    the test has pressed Stop, so stopping mid-stream is deterministic on any machine."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0
        self.reached, self.release = threading.Event(), threading.Event()

    def on_chunk(self, text: str) -> None:
        self.seen += 1
        if self.seen == self.n:
            self.reached.set()
            self.release.wait(timeout=30)


def test_mix_generate_stream_stop(qtbot, page: TextPage) -> None:  # type: ignore[no-untyped-def]
    assert page.current_model is not None
    assert page.current_model.name == "tiny-gpt2"
    assert page.empty_state.isHidden()
    picker = page.mixer.picker
    names = [picker.itemText(i) for i in range(picker.count())]
    assert names == ["tiny-cats", "tiny-dogs", "wide-cats  (doesn't fit this model)"]
    cats = page.mixer.add_adapter(str(page.data_dir.text_adapters / "tiny-cats"))
    dogs = page.mixer.add_adapter(str(page.data_dir.text_adapters / "tiny-dogs"))
    assert cats is not None
    assert dogs is not None
    cats.spin.setValue(0.7)
    dogs.slider.setValue(30)  # ticks: 0.30
    assert [w for _, w in page.mix.entries] == [0.7, 0.3]

    page.generate_panel.prompt.setPlainText("the cat ")
    page.generate_panel.max_new_tokens.setValue(200)
    page.generate_panel.seed.setValue(5)
    pause = _PauseAfter(4)
    page.client.worker.chunk.connect(pause.on_chunk, Qt.ConnectionType.DirectConnection)
    received: list[str] = []
    page.client.worker.chunk.connect(received.append)  # a plain callable: runs in the text thread
    qtbot.mouseClick(page.generate_panel.generate_button, Qt.MouseButton.LeftButton)
    assert page.generate_panel.stop_button.isEnabled()
    qtbot.waitUntil(pause.reached.is_set, timeout=WAIT)
    with qtbot.waitSignal(page.generation_finished, timeout=WAIT):
        qtbot.mouseClick(page.generate_panel.stop_button, Qt.MouseButton.LeftButton)
        pause.release.set()
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    result = page.last_result
    assert result is not None
    assert result.cancelled
    assert 4 <= len(result.token_ids) < 200
    assert result.mix == page.mix
    assert len(received) >= 4
    assert "".join(received) == result.text
    # the view shows prompt + stream (QPlainTextEdit turns no-break spaces and CRs into plain ones)
    shown = page.generate_panel.output.toPlainText()
    assert shown.startswith("the cat ")
    assert len(shown) == len("the cat " + result.text)
    assert page.generate_panel.status.text().startswith("Stopped")
    page.client.worker.chunk.disconnect(pause.on_chunk)

    # move a slider and generate again: the base model is not reloaded, only the mix rebuilt
    dogs.spin.setValue(1.0)
    page.generate_panel.max_new_tokens.setValue(6)
    with qtbot.waitSignal(page.generation_finished, timeout=WAIT) as done:
        qtbot.mouseClick(page.generate_panel.generate_button, Qt.MouseButton.LeftButton)
    assert not done.args[0].cancelled
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    engine = page.client.worker.engine
    assert (engine.model_loads, engine.adapter_loads, engine.mix_builds) == (1, 2, 2)


def test_mismatched_adapter_is_flagged(page: TextPage) -> None:
    row = page.mixer.add_adapter(str(page.data_dir.text_adapters / "wide-cats"))
    assert row is not None
    assert row.badge.text() == "doesn't fit"
    assert "does not fit tiny-gpt2" in row.badge.toolTip()
    assert not row.slider.isEnabled()
    assert page.mix.entries == ()


def test_train_updates_loss_curve(qtbot, page: TextPage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "birds.txt"
    data.write_text("a bird sings in the tree. the bird flies home. " * 12, "utf-8")
    panel = page.train_panel
    page.tabs.setCurrentWidget(panel)
    panel.data.setText(str(data))
    panel.lr.setValue(0.01)
    panel.epochs.setValue(2)
    panel.max_length.setValue(32)
    with qtbot.waitSignal(page.training_finished, timeout=WAIT) as done:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    result = done.args[0]
    assert result.steps >= 4
    assert not result.cancelled
    assert panel.curve.losses == list(result.losses)
    assert panel.progress.format() == f"done · {result.steps} steps"
    assert f"before {result.perplexity_before:.2f}" in panel.perplexity.text()
    assert f"after {result.perplexity_after:.2f}" in panel.perplexity.text()
    saved = page.data_dir.text_adapters / "birds-lora"
    assert json.loads((saved / "training.json").read_text())["completed"]
    picker = page.mixer.picker
    assert "birds-lora" in [picker.itemText(i) for i in range(picker.count())]


def test_empty_state_builds_demo(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = TextPage(DataDir(tmp_path), include_hf_cache=False)
    qtbot.addWidget(page)
    try:
        assert not page.empty_state.isHidden()
        assert page.main_area.isHidden()
        assert page.demo_button.text() == "Create demo text model"
        qtbot.mouseClick(page.demo_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.current_model is not None and not page.busy, timeout=WAIT)
        assert page.current_model is not None
        assert page.current_model.name == "tiny-gpt2-demo"
        assert page.empty_state.isHidden()
        assert not page.main_area.isHidden()
        assert page.mixer.picker.count() == 2
    finally:
        page.shutdown()
        qtbot.waitUntil(page.client.thread.isFinished, timeout=WAIT)
