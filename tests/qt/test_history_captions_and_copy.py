"""History captions tell results apart and the grid fills its width; "Copy as prompt" answers (issue 16, item 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from lorastudio.core.engine.history import History
from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.paths import DataDir
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.history_panel import MIN_CELL, HistoryModel, HistoryPanel, caption
from lorastudio.qt.widgets.mixer_panel import COPY_DONE, COPY_LABEL, COPY_NOTHING, MixerPanel

PROMPT = "a lighthouse at dusk, dramatic clouds, oil painting, highly detailed, golden hour light"


def _batch(folder: Path, seeds: list[int]) -> None:
    from PIL import Image

    for i, seed in enumerate(seeds):
        request = GenerationRequest(model=folder / "demo", prompt=PROMPT, seed=seed, steps=2, width=64, height=64)
        path = save_png(Image.new("RGB", (64, 64), (seed % 255, 90, 160)), request, seed, folder)
        os.utime(path, ns=((1_700_000_000 + i) * 10**9,) * 2)


def test_a_batch_of_one_prompt_gets_captions_that_differ(qapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = DataDir(tmp_path / "data").ensure()
    _batch(data.outputs, [11, 22, 33, 44])
    model = HistoryModel()
    model.set_entries(History(data.outputs).scan())
    captions = [model.index(r).data(Qt.ItemDataRole.DisplayRole) for r in range(4)]
    assert len(set(captions)) == 4
    heads = [c.split(" · ")[1] for c in captions]
    assert sorted(heads) == ["11", "22", "33", "44"]  # the seed sits before the (shared) prompt
    entry = model.entry(0)
    assert entry is not None
    assert caption(entry, now=entry.mtime_ns / 1e9).split(" · ")[0].count(":") == 1


@pytest.mark.parametrize("width", [560, 900])
def test_grid_columns_fill_the_width(qtbot, tmp_path: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    data = DataDir(tmp_path / "data").ensure()
    _batch(data.outputs, list(range(1, 13)))
    panel = HistoryPanel(data, auto_scan=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loader.scanned, timeout=10_000):
        panel.refresh()
    try:
        panel.resize(width, 240)
        panel.show()
        qtbot.waitExposed(panel)
        view = panel.view
        qtbot.waitUntil(lambda: view.gridSize().width() * view.columns() > view.viewport().width() - MIN_CELL // 2)
        assert view.columns() >= (3 if width == 560 else 5)  # was 2 columns with a thumbnail-wide gap
        assert view.gridSize().width() * view.columns() <= view.viewport().width()
        # The side panel keeps the parameters readable but gives most of the width to the thumbnails.
        assert view.width() > 1.4 * panel.side.width()
    finally:
        panel.shutdown()


def test_copy_as_prompt_says_copied_then_goes_back(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    state = MixState()
    panel = MixerPanel(state)
    qtbot.addWidget(panel)
    panel._copy_feedback.setInterval(50)
    width = panel.copy_button.sizeHint().width()
    panel.copy_button.click()
    assert panel.copy_button.text() == COPY_NOTHING  # an empty mix: nothing copied, and it says so
    qtbot.waitUntil(lambda: panel.copy_button.text() == COPY_LABEL)

    state.set_mix(LoraMix((LoraSpec(path=tmp_path / "ink-wash.safetensors", weight=0.7),)))
    panel.copy_button.click()
    assert panel.copy_button.text() == COPY_DONE
    assert QGuiApplication.clipboard().text() == "<lora:ink-wash:0.7>"
    assert panel.copy_button.sizeHint().width() <= max(width, panel.copy_button.minimumWidth())
    qtbot.waitUntil(lambda: panel.copy_button.text() == COPY_LABEL)
