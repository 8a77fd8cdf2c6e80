"""Mixer rows and A1111 prompt syntax: rows edit the MixState; <lora:...> tags in the prompt add or
update rows when the main window builds the request; the mix copies out as tags."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import Settings
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.mixer_panel import MixerPanel

TIMEOUT = 20_000


@pytest.fixture
def loras(demo_data: DataDir) -> dict[str, Path]:
    return {p.stem.removeprefix("demo-"): p for p in demo_data.loras.glob("demo-*.safetensors")}


@pytest.fixture
def mixer(qtbot, loras: dict[str, Path]) -> MixerPanel:  # type: ignore[no-untyped-def]
    panel = MixerPanel(MixState())
    qtbot.addWidget(panel)
    panel.add_lora(loras["ink-wash"])
    panel.add_lora(loras["paper-cut"])
    return panel


def _weights(state: MixState) -> list[tuple[str, float, bool]]:
    return [(s.display_name, s.weight, s.enabled) for s in state.mix.specs]


def test_two_loras_make_two_rows_with_preferred_weights(mixer: MixerPanel) -> None:
    # Paper Cut's A1111 sidecar says "preferred weight": 0.8; Ink Wash has none (1.0).
    assert _weights(mixer.state) == [("Ink Wash", 1.0, True), ("Paper Cut", 0.8, True)]
    assert [r.name.text() for r in mixer.rows] == ["Ink Wash", "Paper Cut"]
    assert not mixer.empty.isVisible()
    assert mixer.rows[0].badge.text() == "SD 1.x"
    mixer.add_lora(mixer.rows[0].path)  # the same file again: no duplicate row
    assert len(mixer.state.mix.specs) == 2


def test_slider_edit_changes_the_state_weight(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    row = mixer.rows[0]
    with qtbot.waitSignal(mixer.state.mix_changed, timeout=TIMEOUT):
        row.weight.slider.setValue(35)  # 100 ticks per 1.0
    assert mixer.state.mix.specs[0].weight == pytest.approx(0.35)
    assert row.weight.spin.value() == pytest.approx(0.35)
    assert mixer.rows[0] is row  # a weight edit keeps the row widgets (no rebuild under the mouse)
    row.weight.spin.setValue(-1.25)
    assert mixer.state.mix.specs[0].weight == pytest.approx(-1.25)
    assert row.weight.slider.value() == -125


def test_double_click_resets_to_the_preferred_weight(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    ink, paper = mixer.rows
    ink.weight.slider.setValue(-50)
    paper.weight.slider.setValue(150)
    qtbot.mouseDClick(paper.weight.spin, Qt.MouseButton.LeftButton)
    qtbot.mouseDClick(ink.weight.spin, Qt.MouseButton.LeftButton)
    assert _weights(mixer.state) == [("Ink Wash", 1.0, True), ("Paper Cut", 0.8, True)]
    assert paper.weight.spin.value() == pytest.approx(0.8)


def test_enable_toggle_remove_and_reorder(qtbot, mixer: MixerPanel, loras: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    mixer.rows[0].enabled.click()
    assert _weights(mixer.state)[0] == ("Ink Wash", 1.0, False)
    assert mixer.state.mix.to_prompt_syntax() == "<lora:demo-paper-cut:0.8>"  # disabled rows are not sent
    mixer.rows[0].enabled.click()

    mixer.add_lora(loras["neon-glow"])
    assert [s.display_name for s in mixer.state.mix.specs] == ["Ink Wash", "Paper Cut", "Neon Glow"]
    down = next(b for b in mixer.rows[0].findChildren(type(mixer.rows[0].remove_button)) if b.toolTip() == "Move down")
    down.click()
    assert [s.display_name for s in mixer.state.mix.specs] == ["Paper Cut", "Ink Wash", "Neon Glow"]
    up = next(b for b in mixer.rows[2].findChildren(type(mixer.rows[2].remove_button)) if b.toolTip() == "Move up")
    up.click()
    assert [s.display_name for s in mixer.state.mix.specs] == ["Paper Cut", "Neon Glow", "Ink Wash"]
    assert [r.path for r in mixer.rows] == [s.path for s in mixer.state.mix.specs]

    mixer.rows[1].remove_button.click()
    assert [s.display_name for s in mixer.state.mix.specs] == ["Paper Cut", "Ink Wash"]
    assert len(mixer.rows) == 2
    mixer.rows[0].remove_button.click()
    mixer.rows[0].remove_button.click()
    assert mixer.state.mix == LoraMix()
    assert mixer.empty.isVisibleTo(mixer)


def test_text_encoder_weight_and_copy_as_prompt(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    mixer.rows[0].weight.spin.setValue(0.6)
    mixer.rows[1].te_toggle.click()
    mixer.rows[1].te_weight.spin.setValue(0.25)
    assert mixer.state.mix.specs[1].te_weight == pytest.approx(0.25)
    mixer.copy_button.click()
    # A1111's order for a separate text-encoder weight is <lora:name:te:unet>.
    assert QApplication.clipboard().text() == "<lora:demo-ink-wash:0.6> <lora:demo-paper-cut:0.25:0.8>"


# -- the main window: prompt tags become rows -----------------------------------------------------


@pytest.fixture
def window(qtbot, demo_data: DataDir, tmp_path: Path):  # type: ignore[no-untyped-def]
    from lorastudio.qt.main_window import MainWindow

    data = DataDir(tmp_path / "data").ensure()
    shutil.copytree(demo_data.models, data.models, dirs_exist_ok=True)
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        hash_pending(catalog)  # nothing left for the window's own library thread to do
    win = MainWindow(data, Settings())
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.refresh_models()
    yield win
    # Let a library scan in flight deliver its results first (LibraryPanel.shutdown closes its DB).
    qtbot.waitUntil(lambda: not win.library.is_scanning(), timeout=TIMEOUT)
    win.shutdown()


def test_typed_tags_add_and_update_rows_when_the_request_is_built(window) -> None:  # type: ignore[no-untyped-def]
    assert window.generation.current_model() is not None
    window.generation.prompt.setPlainText("a lighthouse at dusk, <lora:Ink Wash:0.6> inkwash style")
    request = window.build_request()
    assert request is not None
    assert request.prompt == "a lighthouse at dusk, inkwash style"  # tags never reach the model
    assert window.generation.prompt.toPlainText() == "a lighthouse at dusk, inkwash style"
    assert [(s.display_name, s.weight) for s in request.loras] == [("Ink Wash", 0.6)]
    assert [r.weight.spin.value() for r in window.mixer.rows] == [pytest.approx(0.6)]

    # Pasting an A1111 prompt updates the existing row and adds the new one (file stem works too).
    window.generation.prompt.setPlainText("<lora:ink wash:0.3> <lora:demo-neon-glow:0.2:0.9> night city")
    request = window.build_request()
    assert [(s.display_name, s.weight, s.te_weight) for s in request.loras] == [
        ("Ink Wash", 0.3, None),
        ("Neon Glow", 0.9, 0.2),
    ]
    assert len(window.mixer.rows) == 2

    window.mixer.copy_button.click()
    assert QApplication.clipboard().text() == "<lora:demo-ink-wash:0.3> <lora:demo-neon-glow:0.2:0.9>"


def test_unknown_tag_is_reported_and_left_out(window) -> None:  # type: ignore[no-untyped-def]
    window.generation.prompt.setPlainText("x <lora:not_installed:0.7>")
    request = window.build_request()
    assert request is not None
    assert request.loras == ()
    assert "not_installed" in window.notice.label.text()
