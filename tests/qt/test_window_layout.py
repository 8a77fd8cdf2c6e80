"""The main window's layout at the sizes artists use (issue 16, items 4, 5 and 12): nothing
widens the window by itself, the mixer shows four rows at 1440×900, a new row scrolls into view,
and at the minimum 1024×700 the controls are whole."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.paths import DataDir
from lorastudio.qt.main_window import MainWindow
from lorastudio.qt.theme import apply_theme

TIMEOUT = 20_000


@pytest.fixture
def window(qtbot, qapp: QApplication, demo_data: DataDir, tmp_path: Path,  # type: ignore[no-untyped-def]
           monkeypatch: pytest.MonkeyPatch) -> Iterator[MainWindow]:
    from lorastudio.app import create_main_window

    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    apply_theme(qapp, "dark")
    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)  # no engine process
    data = DataDir(tmp_path / "data").ensure()
    shutil.copytree(demo_data.models, data.models, dirs_exist_ok=True)
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        hash_pending(catalog)
    win = create_main_window(data)
    qtbot.addWidget(win)
    win.resize(1440, 900)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.refresh_models()
    yield win
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.shutdown()
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def _result_image(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    prompt = "a lighthouse at dusk, ink wash, a very long prompt " * 4
    info.add_text("parameters", prompt + "\nNegative prompt: blurry\n"
                  "Steps: 8, Sampler: Euler, CFG scale: 7, Seed: 1234, Size: 128x128, Model: demo-tiny-sd15")
    path = folder / "00001-1234.png"
    Image.fromarray((np.random.default_rng(1).random((128, 128, 3)) * 255).astype("uint8")).save(path, pnginfo=info)
    return path


def _fully_shown_across(widget: QWidget) -> bool:
    """True when no ancestor clips the widget left or right (cut-off text, half a button); a
    scroll area may hide it vertically, so it is scrolled to first."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            parent.ensureWidgetVisible(widget, 0, 0)
            QApplication.processEvents()
            break
        parent = parent.parentWidget()
    shown = widget.visibleRegion().boundingRect()
    return widget.isVisible() and shown.left() == 0 and shown.width() == widget.width()


def test_long_status_and_first_image_do_not_resize_anything(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    workspace = window.tabs.widget(0)
    width, sizes = window.width(), workspace.sizes()
    window.library.status_bar.set_counts(2, 5, 3, show=True)  # "… 3 hidden because they do not fit …"
    window.library.toolbar.compatible_only.setChecked(True)
    window.generation.eta.setText("12 s elapsed · about 3 min 20 s left on a very slow computer indeed " * 3)
    window.device_label.setText("Device: NVIDIA GeForce RTX 4090 Laptop GPU with a long driver name " * 2)
    qtbot.wait(50)
    assert window.width() == width
    window.history.add_results([_result_image(window.data.outputs)])
    window._on_engine_finished(None, [window.data.outputs / "00001-1234.png"])
    qtbot.wait(50)
    assert window.width() == width
    assert workspace.sizes() == sizes  # no panel narrowed by itself


def test_mixer_shows_four_rows_and_scrolls_to_a_new_one(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    loras = sorted(window.data.loras.glob("demo-*.safetensors"))
    assert len(loras) >= 3
    for path in loras:
        window.add_lora(path)
    # A fourth and fifth row: the same files under other names are different rows to the mixer.
    for i in range(2):
        copy = window.data.loras / f"extra-{i}.safetensors"
        shutil.copy(loras[0], copy)
        window.mix_state.set_mix(window.mix_state.mix.added(LoraSpec(path=copy, weight=0.5, name=f"Extra {i}")))
    _finished_job(window)  # after the first image the queue lists it: still four rows
    qtbot.wait(50)
    viewport = window.mixer.scroll.viewport()
    rows = window.mixer.rows
    assert len(rows) >= 5
    viewport.update()
    whole = [r for r in rows if r.visibleRegion().boundingRect().height() == r.height()]
    assert len(whole) >= 4, f"only {len(whole)} whole rows in a {viewport.height()} px mixer"
    # At the minimum size most rows are below the fold: a newly added one scrolls into view.
    window.resize(1024, 700)
    qtbot.wait(50)
    window.mixer.scroll.verticalScrollBar().setValue(0)
    copy = window.data.loras / "extra-new.safetensors"
    shutil.copy(loras[0], copy)
    window.mix_state.set_mix(window.mix_state.mix.added(LoraSpec(path=copy, weight=0.5, name="Newest")))
    newest = window.mixer.rows[-1]
    assert window.mixer.scroll.verticalScrollBar().maximum() > 0
    qtbot.waitUntil(lambda: newest.visibleRegion().boundingRect().height() == newest.height(), timeout=2_000)


def _finished_job(window: MainWindow) -> None:
    """A done job in the queue: its list and buttons show (the queue is one line when empty)."""
    queue = window.session.queue
    job = queue.add(GenerationRequest(model=Path("/m"), prompt="a lighthouse at dusk, ink wash " * 4,
                                      width=128, height=128, steps=8))
    queue.mark_running(job.id)
    queue.mark_done(job.id)
    window.queue_panel.refresh()


def test_everything_is_whole_at_the_minimum_size(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    path = _result_image(window.data.outputs)
    window.history.add_results([path])
    window.history.select_path(str(path))
    _finished_job(window)
    window.library.select_path(str(sorted(window.data.loras.glob("demo-*.safetensors"))[0]))
    window.resize(1024, 700)
    qtbot.wait(100)
    assert (window.width(), window.height()) == (1024, 700)
    history = window.history
    cut = [name for name, widget in (
        ("History Delete…", history.delete_button),
        ("History Compare", history.compare_button),
        ("Queue Remove", window.queue_panel.remove_button),
        ("Queue Clear finished", window.queue_panel.clear_button),
        ("Copy LoRA hash", window.library.details.copy_addnet),
        ("preset combo", window.presets.combo),
        ("Generate", window.generation.generate_button),
        ("Add LoRA…", window.mixer.add_button),
    ) if not _fully_shown_across(widget)]
    assert cut == []
    for size in ((1440, 900), (1280, 720), (1024, 700)):  # the newest thumbnail and its caption are whole
        window.resize(*size)
        qtbot.wait(50)
        cell = history.view.visualRect(history.model.index(0, 0))
        assert history.view.viewport().rect().contains(cell), f"the history thumbnail is cut at {size}"
    thumbs = history.view.horizontalScrollBar()
    assert not thumbs.isVisible(), "the history thumbnails need a sideways scroll bar"
    params = history.details
    assert params.horizontalScrollBar().maximum() == 0 or not params.horizontalScrollBar().isVisible()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_a_first_start_fits_1024_wide(qtbot, qapp: QApplication, tmp_path: Path, theme: str,  # type: ignore[no-untyped-def]
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """No model yet (the model box shows its placeholder), either theme: the window still fits a
    1024 px wide screen; a long placeholder once made it 1043–1074 px at least."""
    from lorastudio.app import create_main_window

    palette, sheet, style = qapp.palette(), qapp.styleSheet(), qapp.style().name()
    apply_theme(qapp, theme)
    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)
    try:
        win = create_main_window(DataDir(tmp_path / "data").ensure())
        qtbot.addWidget(win)
        win.resize(1024, 700)
        win.show()
        qtbot.waitExposed(win)
        qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
        _finished_job(win)
        qtbot.wait(50)
        assert win.generation.model.count() == 0
        assert win.minimumSizeHint().width() <= 1024
        assert (win.width(), win.height()) == (1024, 700)
        win.shutdown()
    finally:
        qapp.setStyle(style)
        qapp.setPalette(palette)
        qapp.setStyleSheet(sheet)
