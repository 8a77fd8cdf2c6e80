"""Text mode in pytest-qt, with its jobs in the real engine process: demo from the empty state,
mix two adapters, stream, stop, no reload between generations, train with a live loss curve, a
queued job stopped before it starts, and a failure in one sentence."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.session.queue import Job, JobQueue, JobState
from lorastudio.core.text.demo import build_demo_adapters, build_demo_model
from lorastudio.core.text.mix import TextGenerationRequest, TextMix
from lorastudio.core.text.requests import TextChunk, TextGenerateRequest
from lorastudio.qt.widgets.text_page import TextPage
from lorastudio.qt.workers.engine_worker import EngineClient

pytestmark = pytest.mark.slow
WAIT = 120_000  # ms: generous for 2 shared CPU cores; never a timing assertion


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> DataDir:
    """A data dir with a tiny GPT-2 (room for 4096 tokens: long enough to stop mid-stream), two
    adapters, and one adapter made for another model."""
    data = DataDir(tmp_path_factory.mktemp("text-data")).ensure()
    model = build_demo_model(data.text_models / "tiny-gpt2", n_embd=32, n_positions=4096, pretrain_steps=0)
    build_demo_adapters(model, data.text_adapters, steps=4)
    other = build_demo_model(tmp_path_factory.mktemp("other") / "wide-gpt2", n_embd=48, pretrain_steps=0)
    elsewhere = tmp_path_factory.mktemp("other-adapters")
    build_demo_adapters(other, elsewhere, steps=1)
    shutil.copytree(elsewhere / "tiny-cats", data.text_adapters / "wide-cats")
    return data


@pytest.fixture(scope="module")
def engine(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineClient]:
    """One engine process for the module (it keeps the text model loaded between tests)."""
    # nice=0: on a machine loaded by other work, the default nice 5 starves the engine for minutes.
    data = data_dir(tmp_path_factory.mktemp("engine")).ensure()
    client = EngineClient(LocalProcessBackend(ProcessOptions(torch_threads=2, device="cpu", nice=0)), JobQueue(),
                          data.outputs)
    yield client
    client.shutdown()


@pytest.fixture
def page(qtbot, prepared: DataDir, engine: EngineClient):  # type: ignore[no-untyped-def]
    widget = TextPage(prepared, engine, include_hf_cache=False)
    qtbot.addWidget(widget)
    widget.resize(1100, 720)
    yield widget
    if widget.job is not None:
        engine.cancel(widget.job.id)
    qtbot.waitUntil(lambda: not engine.busy, timeout=WAIT)
    widget.shutdown()


def test_mix_generate_stream_stop(qtbot, page: TextPage, engine: EngineClient) -> None:  # type: ignore[no-untyped-def]
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
    page.generate_panel.max_new_tokens.setValue(4000)
    page.generate_panel.seed.setValue(5)
    received: list[str] = []

    def stop_at_first_text(job: Job, payload: object) -> None:
        if isinstance(payload, TextChunk):
            if not received:  # Stop as a user would, while the text streams
                qtbot.mouseClick(page.generate_panel.stop_button, Qt.MouseButton.LeftButton)
            received.append(payload.text)

    engine.job_update.connect(stop_at_first_text)
    with qtbot.waitSignal(page.generation_finished, timeout=WAIT):
        qtbot.mouseClick(page.generate_panel.generate_button, Qt.MouseButton.LeftButton)
        assert page.generate_panel.stop_button.isEnabled()
        assert page.job is not None
        assert engine.queue.get(page.job.id) is not None  # a queue job, shown in the queue panel
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    engine.job_update.disconnect(stop_at_first_text)
    result = page.last_result
    assert result is not None
    assert result.cancelled
    assert 1 <= len(result.token_ids) < 4000
    assert result.mix == page.mix
    assert "".join(received) == result.text
    # the view shows prompt + stream (QPlainTextEdit turns no-break spaces and CRs into plain ones)
    shown = page.generate_panel.output.toPlainText()
    assert shown.startswith("the cat ")
    assert len(shown) == len("the cat " + result.text)
    assert page.generate_panel.status.text().startswith("Stopped")
    assert page.status.text() == "Stopped."
    assert [j.state for j in engine.queue.jobs()][:1] == [JobState.CANCELLED]

    # move a slider and generate again: the base model is not reloaded, only the mix rebuilt
    dogs.spin.setValue(1.0)
    page.generate_panel.max_new_tokens.setValue(6)
    with qtbot.waitSignal(page.generation_finished, timeout=WAIT) as done:
        qtbot.mouseClick(page.generate_panel.generate_button, Qt.MouseButton.LeftButton)
    assert not done.args[0].cancelled
    assert len(done.args[0].token_ids) == 6
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    assert page.last_stats == {"model_loads": 1, "adapter_loads": 2, "mix_builds": 2}
    assert page.generate_panel.generate_button.isEnabled()


def test_mismatched_adapter_is_flagged(page: TextPage) -> None:
    row = page.mixer.add_adapter(str(page.data_dir.text_adapters / "wide-cats"))
    assert row is not None
    assert row.badge.text() == "doesn't fit"
    assert "does not fit tiny-gpt2" in row.badge.toolTip()
    assert not row.slider.isEnabled()
    assert page.mix.entries == ()


def test_stop_while_queued_frees_the_page(qtbot, page: TextPage, engine: EngineClient,  # type: ignore[no-untyped-def]
                                          prepared: DataDir) -> None:
    """Generate while another job runs queues; Stop takes it out of the queue before it starts."""
    model = prepared.text_models / "tiny-gpt2"
    blocker = engine.submit(TextGenerateRequest(model, TextMix(), TextGenerationRequest("x", max_new_tokens=4000)))
    page.generate_panel.prompt.setPlainText("a dog ")
    qtbot.mouseClick(page.generate_panel.generate_button, Qt.MouseButton.LeftButton)
    assert page.job is not None
    assert engine.queue.get(page.job.id).state is JobState.PENDING  # type: ignore[union-attr]
    assert page.status.text() == "Waiting for the running job to finish…"
    assert page.generate_panel.status.text() == "Queued…"
    queued = page.job.id
    qtbot.mouseClick(page.generate_panel.stop_button, Qt.MouseButton.LeftButton)
    assert not page.busy
    assert engine.queue.get(queued).state is JobState.CANCELLED  # type: ignore[union-attr]
    assert page.status.text() == "Cancelled."
    assert page.generate_panel.generate_button.isEnabled()
    assert not page.generate_panel.stop_button.isEnabled()
    engine.cancel(blocker.id)
    qtbot.waitUntil(lambda: not engine.busy, timeout=WAIT)


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


def test_merge_makes_a_new_model(qtbot, page: TextPage) -> None:  # type: ignore[no-untyped-def]
    page.mixer.add_adapter(str(page.data_dir.text_adapters / "tiny-cats"), 0.5)
    with qtbot.waitSignal(page.merged, timeout=WAIT) as done:
        page.merge_into("tiny-gpt2-cats")
        assert not page.mixer.merge_button.isEnabled()
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    info = done.args[0]
    assert info.path == page.data_dir.text_models / "tiny-gpt2-cats"
    combo = page.model_combo
    assert "tiny-gpt2-cats" in [combo.itemText(i) for i in range(combo.count())]
    assert page.current_model is not None
    assert page.current_model.name == "tiny-gpt2"  # the chosen model stays chosen
    assert page.status.text() == f"Merged model saved in {info.path}"
    shutil.rmtree(info.path)  # the module's other tests expect one fitting model


def test_a_failed_job_says_why_in_one_sentence(qtbot, page: TextPage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "no-text-here"
    empty.mkdir()
    panel = page.train_panel
    panel.data.setText(str(empty))
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy, timeout=WAIT)
    assert page.status.text() == "no-text-here holds no .txt files."
    assert panel.progress.format() == "failed"
    assert panel.train_button.isEnabled()


def test_empty_state_builds_demo(qtbot, tmp_path: Path, engine: EngineClient) -> None:  # type: ignore[no-untyped-def]
    page = TextPage(DataDir(tmp_path), engine, include_hf_cache=False)
    qtbot.addWidget(page)
    try:
        assert not page.empty_state.isHidden()
        assert page.main_area.isHidden()
        assert page.demo_button.text() == "Create demo text model"
        qtbot.mouseClick(page.demo_button, Qt.MouseButton.LeftButton)
        assert not page.demo_button.isEnabled()
        qtbot.waitUntil(lambda: not page.busy, timeout=3 * WAIT)  # it trains a model and two adapters
        assert page.status.text() == "Demo text model and two demo adapters created."
        assert page.current_model is not None
        assert page.current_model.name == "tiny-gpt2-demo"
        assert page.empty_state.isHidden()
        assert not page.main_area.isHidden()
        assert page.mixer.picker.count() == 2
    finally:
        page.shutdown()
