"""The image-training page in pytest-qt: the caption grid fills, captions are edited and saved, and a
real (tiny, CPU) run in the engine process, queued as a job, draws the loss curve and the sample strip
and offers Compare epochs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.backend.local_process import LocalProcessBackend
from lorastudio.core.paths import data_dir
from lorastudio.core.session.queue import JobQueue, JobState
from lorastudio.core.training.dataset import read_caption
from lorastudio.core.training.request import TrainRequest
from lorastudio.qt.widgets.train_page import TrainPage
from lorastudio.qt.workers.engine_worker import EngineClient

WAIT = 180_000  # ms: generous for 2 shared CPU cores; never a timing assertion


def _pictures(folder: Path) -> Path:
    colors = [(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 30)]
    for i, color in enumerate(colors):
        sub = folder / ("nested" if i == 3 else "")
        sub.mkdir(parents=True, exist_ok=True)
        image = Image.new("RGB", (64, 48 if i % 2 else 64), (250, 250, 245))
        ImageDraw.Draw(image).ellipse((12, 8, 52, 40), fill=color)
        image.save(sub / f"disc{i}.png")
        if i < 3:
            (sub / f"disc{i}.txt").write_text(f"disc, colour {i}", "utf-8")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lorastudio.core.engine.demo import build_tiny_sd

    root = tmp_path_factory.mktemp("tiny-sd")
    build_tiny_sd(root / "tok").save_pretrained(str(root / "model"), safe_serialization=True)
    return root / "model"


@pytest.fixture
def engine(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = data_dir(tmp_path / "data").ensure()
    client = EngineClient(LocalProcessBackend(ProcessOptions(torch_threads=2, device="cpu")), JobQueue(),
                          data.outputs)
    yield client
    client.shutdown()


@pytest.fixture
def page(qtbot, tmp_path: Path, engine: EngineClient):  # type: ignore[no-untyped-def]
    widget = TrainPage(engine, default_output=tmp_path / "loras")
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    widget.shutdown()


def _load(qtbot, page: TrainPage, folder: Path, model: Path) -> None:  # type: ignore[no-untyped-def]
    page.settings.resolution.setValue(64)
    page.settings.base_model.setEditText(str(model))  # its bucket step (16 px) decides the crops
    page.load_folder(folder)
    qtbot.waitUntil(lambda: page.grid.rowCount() > 0 and page._scan is None, timeout=WAIT)


def test_the_caption_grid_fills_and_edits_are_saved(qtbot, page: TrainPage, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    tiny_model: Path) -> None:
    folder = _pictures(tmp_path / "pics")
    _load(qtbot, page, folder, tiny_model)
    assert page.grid.rowCount() == 4
    assert not page.grid.item(0, 0).icon().isNull()  # the thumbnail, crop outlined
    assert "64×48 → 64×48" in page.grid.item(1, 1).text()
    assert "broken.png could not be read as an image." in page.skipped.text()
    captions = page.grid.captions()
    assert captions[folder / "disc0.png"] == "disc, colour 0"
    assert captions[folder / "nested" / "disc3.png"] == ""

    page.find.setText("colour")
    page.replace.setText("color")
    page._on_replace()
    page.settings.trigger.setText("zq")
    page.trigger_button.click()
    assert page.grid.captions()[folder / "disc0.png"] == "zq, disc, color 0"
    assert page.grid.captions()[folder / "nested" / "disc3.png"] == "zq"
    assert page.save_captions_button.isEnabled()
    page.save_captions_button.click()
    assert read_caption(folder / "disc1.txt") == "zq, disc, color 1"
    assert read_caption(folder / "nested" / "disc3.txt") == "zq"
    assert not page.save_captions_button.isEnabled()


def test_presets_fill_steps_and_show_the_vram_estimate(qtbot, page: TrainPage, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                      tiny_model: Path) -> None:
    _load(qtbot, page, _pictures(tmp_path / "pics"), tiny_model)
    page.settings.preset.setCurrentText("character")
    assert page.settings.repeats.value() == 20  # 800 views minimum / (10 epochs x 4 images)
    assert "steps in all" in page.summary.text()
    assert "Estimated GPU memory: about" in page.settings.vram.text()


def test_a_run_shows_the_curve_and_the_sample_strip(qtbot, page: TrainPage, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                   tiny_model: Path) -> None:
    _load(qtbot, page, _pictures(tmp_path / "pics"), tiny_model)
    s = page.settings
    s.output_name.setText("disc")
    s.epochs.setValue(2)
    s.batch_size.setValue(2)
    s.sample_every.setValue(1)
    s.sample_prompts.setPlainText("zq disc")
    s.set_config(replace(s.config(), device="cpu", sample_steps=2))  # settings the form does not show
    saved: list[Path] = []
    page.epoch_saved.connect(saved.append)
    assert not page.compare_button.isEnabled()  # nothing saved yet
    with qtbot.waitSignal(page.training_finished, timeout=WAIT) as finished:
        page.start_button.click()
        assert page.cancel_button.isEnabled()
    result = finished.args[0]
    qtbot.waitUntil(lambda: not page.running, timeout=WAIT)
    assert not result.cancelled
    assert result.steps == 4
    assert len(page.curve.losses) == 4
    assert page.samples.count() == 4
    assert page.samples.item(3).text() == "step 4"
    assert [p.name for p in saved] == ["disc-000001.safetensors", "disc.safetensors"]
    assert page.progress.format().startswith("done · 4 steps")
    assert "elapsed" in page.time_label.text()
    job = page.engine.queue.jobs()[0]  # the queue panel lists the run under its own label
    assert job.state is JobState.DONE
    assert job.label == "Train disc — pics, 2 epochs"

    assert page.compare_button.isEnabled()
    with qtbot.waitSignal(page.compare_requested, timeout=1000) as compare:
        page.compare_button.click()
    config, files, prompt = compare.args
    assert [p.name for p in files] == ["disc-000001.safetensors", "disc.safetensors"]
    assert prompt == "zq disc"
    assert config.base_model == str(tiny_model)


def test_a_queued_run_waits_and_cancels_cleanly(qtbot, page: TrainPage, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                 tiny_model: Path) -> None:
    _load(qtbot, page, _pictures(tmp_path / "pics"), tiny_model)
    page.engine.runner.paused = True  # another job holds the engine: this one waits its turn
    job = page.start()
    assert job is not None
    assert isinstance(job.request, TrainRequest)
    assert job.request.captions  # the page's captions travel with the job
    assert page.running
    assert page.progress.format() == "waiting in the queue…"
    assert not page.start_button.isEnabled()
    page.cancel_button.click()
    assert not page.running
    assert page.progress.format() == "cancelled"
    assert page.start_button.isEnabled()
    assert page.engine.queue.get(job.id).state is JobState.CANCELLED
    assert not page.engine.backend.running  # type: ignore[attr-defined]


def test_cancel_while_training_says_what_is_kept(qtbot, page: TrainPage, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  tiny_model: Path) -> None:
    _load(qtbot, page, _pictures(tmp_path / "pics"), tiny_model)
    s = page.settings
    s.output_name.setText("disc")
    s.epochs.setValue(3)
    s.set_config(replace(s.config(), device="cpu", sample_steps=1))

    def cancel_at_step_5(job: object, payload: object) -> None:
        if getattr(payload, "step", 0) == 5:  # the first step of epoch 2 (four images, batch 1)
            page.cancel_button.click()

    page.engine.job_update.connect(cancel_at_step_5)
    with qtbot.waitSignal(page.training_finished, timeout=WAIT) as finished:
        page.start_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=WAIT)
    result = finished.args[0]
    assert result.cancelled
    assert result.last_saved_epoch == 1
    assert page.progress.format().startswith("cancelled at step ")
    assert page.progress.format().endswith("epoch 1 is saved; Resume continues from there")
    assert page.engine.queue.jobs()[0].state is JobState.CANCELLED
    assert page.resume_button.isEnabled()
    assert page.compare_button.isEnabled()  # epoch 1 can be compared already
