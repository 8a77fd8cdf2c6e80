"""End to end: train an image LoRA through the real window and engine process on the demo model.
The run is a queue job; each epoch file is in the library as soon as it is written; Compare epochs
opens the Grid dialog with epoch file × weight on the training's base model, prompt and seed, and
the grid it makes uses each epoch's file. The window's process never imports torch while it trains."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.grid.axes import AxisKind
from lorastudio.core.paths import DataDir
from lorastudio.core.session.queue import JobState
from lorastudio.core.training.request import TrainRequest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from window_process import run_window

pytestmark = pytest.mark.slow
TIMEOUT = 240_000  # ms: generous for 2 shared CPU cores; never a timing assertion


def _pictures(folder: Path) -> Path:
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    for i, color in enumerate([(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 30)]):
        image = Image.new("RGB", (64, 64), (250, 250, 245))
        ImageDraw.Draw(image).ellipse((12, 12, 52, 52), fill=color)
        image.save(folder / f"disc{i}.png")
        (folder / f"disc{i}.txt").write_text(f"zq disc, colour {i}", "utf-8")
    return folder


def _set_up(qtbot, page, data: DataDir, pictures: Path) -> None:  # type: ignore[no-untyped-def]
    s = page.settings
    s.base_model.setEditText(str(data.checkpoints / DEMO_PIPELINE))
    s.resolution.setValue(64)
    page.load_folder(pictures)
    qtbot.waitUntil(lambda: page.grid.rowCount() == 4 and page._scan is None, timeout=TIMEOUT)
    s.output_name.setText("disc")
    s.epochs.setValue(2)
    s.batch_size.setValue(2)
    s.sample_prompts.setPlainText("zq disc")
    s.set_config(replace(s.config(), device="cpu", sample_steps=2, seed=7))  # settings the form does not show


def test_train_in_the_window_then_compare_epochs(qtbot, window, data: DataDir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = window.train_page
    window.tabs.setCurrentIndex(1)
    _set_up(qtbot, page, data, _pictures(tmp_path / "pics"))

    with qtbot.waitSignal(page.training_finished, timeout=TIMEOUT) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        job = window.session.queue.jobs()[0]
        assert isinstance(job.request, TrainRequest)
        assert "Train disc — pics, 2 epochs" in window.queue_panel.row_texts()[0]
    result = finished.args[0]
    assert result.steps == 4
    assert [p.name for p in result.files] == ["disc-000001.safetensors", "disc.safetensors"]
    assert window.session.queue.get(job.id).state is JobState.DONE
    assert len(page.curve.losses) == 4
    assert page.samples.count() == 2
    # the library lists both epochs (it rescans on each saved epoch)
    qtbot.waitUntil(lambda: {"disc-000001.safetensors", "disc.safetensors"}
                    <= {r.path.name for r in window.library.model.records()}, timeout=TIMEOUT)

    qtbot.mouseClick(page.compare_button, Qt.MouseButton.LeftButton)
    dialog = window.grid_mode.dialog
    assert dialog is not None
    assert dialog.isVisible()
    spec = dialog.spec()
    assert spec is not None
    assert spec.x.kind is AxisKind.LORA_FILE
    assert spec.x.values == ("disc-000001", "disc")
    assert spec.y is not None
    assert spec.y.kind is AxisKind.LORA_WEIGHT
    assert spec.y.values == (0.5, 0.75, 1.0)
    assert dialog.count_label.text() == "6 cells"
    params = window.session.params.value
    assert params.model == data.checkpoints / DEMO_PIPELINE
    assert (params.prompt, params.seed, params.width, params.steps) == ("zq disc", 7, 64, 2)
    assert [s.path.name for s in window.session.mix.value.specs] == ["disc.safetensors"]

    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.grid_mode.run is not None and window.grid_mode.run.files is not None,
                    timeout=TIMEOUT)
    cells = window.grid_mode.run.cells
    used = {(c.x, c.y): (c.request.loras[0].path.name, c.request.loras[0].weight) for c in cells}
    assert used[(0, 0)] == ("disc-000001.safetensors", 0.5)
    assert used[(1, 2)] == ("disc.safetensors", 1.0)
    assert window.grid_mode.view.filled_count() == 6


def test_the_window_process_never_imports_torch_while_training(data: DataDir, tmp_path: Path) -> None:
    pictures = _pictures(tmp_path / "pics")
    proc = run_window(data.root, f"""
        page = win.train_page

        def start():
            if page.grid.rowCount() < 4 or page._scan is not None:
                QTimer.singleShot(100, start)
                return
            s = page.settings
            s.output_name.setText("disc")
            s.epochs.setValue(1)
            s.set_config(replace(s.config(), device="cpu", sample_steps=1))
            page.start_button.click()

        def finished(result):
            out["steps"] = result.steps
            app.quit()

        def failed(job):
            out["failed"] = job.message
            app.quit()

        def result():
            return out.get("failed") or out.get("steps")

        page.settings.base_model.setEditText(str(data.checkpoints / {DEMO_PIPELINE!r}))
        page.settings.resolution.setValue(64)
        page.load_folder(Path({str(pictures)!r}))
        page.training_finished.connect(finished)
        win.engine.job_failed.connect(failed)
    """, quit_after_ms=200_000, timeout=280)
    assert "RESULT 4 HEAVY []" in proc.stdout, proc.stdout + proc.stderr
