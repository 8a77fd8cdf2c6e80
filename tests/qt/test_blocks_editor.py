"""The Blocks editor of a mixer row: presets, per-block sliders, user presets in the catalog,
start/stop steps, and sliders that leave the mouse wheel to the scroll area unless focused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from lorastudio.core.engine.blocks import BLOCK_IDS_SD1, BLOCK_IDS_SDXL, presets
from lorastudio.core.library.block_presets import BlockPresetStore
from lorastudio.core.paths import DataDir
from lorastudio.core.types import BaseArch
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.blocks_editor import BlocksEditor, block_arch
from lorastudio.qt.widgets.mixer_panel import MixerPanel

SD1 = presets(BaseArch.SD1)
SDXL = presets(BaseArch.SDXL)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return DataDir(tmp_path / "data").ensure().catalog_db


@pytest.fixture
def store(db: Path) -> Iterator[BlockPresetStore]:
    with BlockPresetStore(db) as s:
        yield s


@pytest.fixture
def mixer(qtbot, store: BlockPresetStore, demo_data: DataDir) -> MixerPanel:  # type: ignore[no-untyped-def]
    panel = MixerPanel(MixState(), store)
    qtbot.addWidget(panel)
    panel.set_model_base(BaseArch.SD1)
    panel.add_lora(demo_data.loras / "demo-ink-wash.safetensors")  # SD 1.x
    panel.add_lora(demo_data.loras / "demo-xl-sketch.safetensors")  # SDXL
    return panel


def _open(mixer: MixerPanel, index: int) -> BlocksEditor:
    mixer.rows[index].blocks_button.click()
    editor = mixer.blocks_editor
    assert editor is not None
    assert editor.isVisible()
    return editor


def _pick(editor: BlocksEditor, name: str) -> None:
    index = editor.combo.findText(name)
    assert index >= 0, name
    editor.combo.setCurrentIndex(index)
    editor.combo.activated.emit(index)  # what a user's choice in the list emits


def _column(editor: BlocksEditor, block: str) -> int:
    return [c.block for c in editor.columns].index(block)


def _wheel(widget: QWidget) -> None:
    center = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        center,
        QPointF(widget.mapToGlobal(center)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_rows_start_at_all_blocks_and_every_step(mixer: MixerPanel) -> None:
    assert [r.blocks_button.text() for r in mixer.rows] == ["Blocks: ALL", "Blocks: ALL"]
    assert all(s.blocks is None and (s.start, s.stop) == (0.0, 1.0) for s in mixer.state.mix.specs)
    editor = _open(mixer, 0)
    assert editor.combo.currentText() == "ALL"
    assert [c.value() for c in editor.columns] == [1.0] * 17
    assert not editor.delete_button.isEnabled()


def test_picking_a_preset_sets_the_vector_in_the_mix(mixer: MixerPanel) -> None:
    editor = _open(mixer, 0)
    _pick(editor, "OUTD")
    assert mixer.state.mix.specs[0].blocks == SD1["OUTD"]
    assert mixer.state.mix.specs[1].blocks is None
    assert mixer.rows[0].blocks_button.text() == "Blocks: OUTD"
    assert [c.value() for c in editor.columns] == list(SD1["OUTD"])
    assert editor.text.text() == "OUTD"
    _pick(editor, "ALL")  # equal to every block at 1: stored as None
    assert mixer.state.mix.specs[0].blocks is None
    assert mixer.rows[0].blocks_button.text() == "Blocks: ALL"


def test_a_slider_edit_gives_custom_and_the_exact_vector(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    editor = _open(mixer, 0)
    _pick(editor, "OUTD")
    editor.columns[_column(editor, "OUT04")].slider.setValue(60)
    expected = list(SD1["OUTD"])
    expected[BLOCK_IDS_SD1.index("OUT04")] = 0.6
    assert mixer.state.mix.specs[0].blocks == tuple(expected)
    assert mixer.rows[0].blocks_button.text() == "Blocks: custom"
    assert editor.combo.currentIndex() == -1
    assert editor.combo.placeholderText() == "custom"
    assert editor.text.text() == ",".join(f"{v:g}" for v in expected)

    base = editor.columns[_column(editor, "BASE")]
    assert "text encoder" in base.slider.toolTip()
    base.spin.setValue(0.35)  # the number box edits the same vector
    expected[0] = 0.35
    assert mixer.state.mix.specs[0].blocks == tuple(expected)
    assert base.slider.value() == 35

    qtbot.keyClick(base.slider, Qt.Key.Key_Up)  # keyboard: one step of 0.05
    expected[0] = 0.4
    assert mixer.state.mix.specs[0].blocks == tuple(expected)

    editor.reset_button.click()
    assert mixer.state.mix.specs[0].blocks is None
    assert [c.value() for c in editor.columns] == [1.0] * 17


def test_lbw_text_is_read_and_bad_text_is_one_sentence(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    editor = _open(mixer, 0)
    editor.ask_name = lambda current: pytest.fail("Enter must not save a preset")
    editor.text.setText("ins")
    qtbot.keyClick(editor.text, Qt.Key.Key_Return)  # Enter commits the text, nothing else
    assert mixer.state.mix.specs[0].blocks == SD1["INS"]
    assert editor.isVisible()
    editor.text.setText("1,0,2")
    editor.text.editingFinished.emit()
    assert mixer.state.mix.specs[0].blocks == SD1["INS"]  # unchanged
    assert not editor.error.isHidden()
    assert editor.error.text() == "Block weights need 17 values for SD 1.x (got 3)."


def test_user_presets_round_trip_through_the_catalog(
    qtbot,
    mixer: MixerPanel,
    db: Path,  # type: ignore[no-untyped-def]
    demo_data: DataDir,
) -> None:
    editor = _open(mixer, 0)
    _pick(editor, "MIDD")
    editor.columns[_column(editor, "M00")].slider.setValue(50)
    face = mixer.state.mix.specs[0].blocks
    assert face is not None
    asked: list[str] = []
    editor.ask_name = lambda current: "Face"  # the name dialog's answer
    editor.confirm = lambda question: asked.append(question) or True
    editor.save_button.click()
    assert asked == []
    assert mixer.rows[0].blocks_button.text() == "Blocks: Face"
    assert editor.combo.currentText() == "Face"
    assert editor.delete_button.isEnabled()
    with BlockPresetStore(db) as other:  # in the database, not just in the window
        assert other.presets(17) == {"Face": face}
        assert other.presets(12) == {}

    # The same name in another case: asks, and a No keeps the stored one.
    editor.columns[_column(editor, "BASE")].slider.setValue(0)
    editor.ask_name = lambda current: "FACE"
    editor.confirm = lambda question: asked.append(question) or False
    editor.save_button.click()
    assert asked == ["A block preset named 'Face' already exists. Replace it?"]
    with BlockPresetStore(db) as other:
        assert other.presets(17) == {"Face": face}
    editor.confirm = lambda question: True
    editor.save_button.click()
    replaced = mixer.state.mix.specs[0].blocks
    with BlockPresetStore(db) as other:
        assert other.presets(17) == {"FACE": replaced}
    assert mixer.rows[0].blocks_button.text() == "Blocks: FACE"

    editor.ask_name = lambda current: "outd"  # a built-in name is refused in the editor
    editor.save_button.click()
    assert "built-in" in editor.error.text()
    assert not editor.error.isHidden()

    # A new mixer on the same catalog offers the preset; choosing it sets the vector.
    fresh = MixerPanel(MixState(), BlockPresetStore(db))
    qtbot.addWidget(fresh)
    fresh.add_lora(demo_data.loras / "demo-ink-wash.safetensors")
    other_editor = _open(fresh, 0)
    _pick(other_editor, "FACE")
    assert fresh.state.mix.specs[0].blocks == replaced
    assert fresh.rows[0].blocks_button.text() == "Blocks: FACE"

    # Delete: asks, removes it from the catalog, the row keeps its weights (now "custom").
    editor.confirm = lambda question: asked.append(question) or True
    editor.delete_button.click()
    assert asked[-1].startswith("Delete the block preset 'FACE'?")
    with BlockPresetStore(db) as other:
        assert other.presets(17) == {}
    assert mixer.state.mix.specs[0].blocks == replaced
    assert mixer.rows[0].blocks_button.text() == "Blocks: custom"
    assert editor.combo.findText("FACE") == -1


def test_an_sdxl_row_shows_its_12_blocks(mixer: MixerPanel) -> None:
    editor = _open(mixer, 1)
    assert [c.block for c in editor.columns] == list(BLOCK_IDS_SDXL)
    assert editor.layout_note.text() == "SDXL layout, 12 blocks"
    _pick(editor, "OUTD")
    assert mixer.state.mix.specs[1].blocks == SDXL["OUTD"]
    assert mixer.rows[1].blocks_button.text() == "Blocks: OUTD"
    mixer.rows[0].blocks_button.click()  # the same editor, now on the SD 1.x row
    assert [c.block for c in editor.columns] == list(BLOCK_IDS_SD1)
    assert editor.heading.text() == "Ink Wash"


def test_start_and_stop_edit_the_row(mixer: MixerPanel) -> None:
    editor = _open(mixer, 0)
    editor.start.setValue(0.2)
    editor.stop.setValue(0.7)
    spec = mixer.state.mix.specs[0]
    assert (spec.start, spec.stop) == (0.2, 0.7)
    assert mixer.rows[0].blocks_button.text() == "Blocks: ALL · 0.2–0.7"
    assert "from 20% to 70% of the steps" in mixer.rows[0].blocks_button.toolTip()
    editor.start.setValue(0.9)  # start stays below stop
    assert mixer.state.mix.specs[0].start == pytest.approx(0.69)
    assert editor.stop.minimum() == pytest.approx(0.7)


def test_the_editor_follows_its_lora_and_closes_with_it(mixer: MixerPanel) -> None:
    editor = _open(mixer, 1)
    _pick(editor, "INS")
    mixer.rows[1].move_requested.emit(1, -1)  # XL Sketch moves to the top
    assert editor.isVisible()
    assert editor.index == 0
    _pick(editor, "OUTS")
    assert [s.display_name for s in mixer.state.mix.specs] == ["XL Sketch", "Ink Wash"]
    assert mixer.state.mix.specs[0].blocks == SDXL["OUTS"]
    assert mixer.state.mix.specs[1].blocks is None
    mixer.rows[0].remove_button.click()
    assert not editor.isVisible()


def test_keyboard_opens_the_editor_from_the_row(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    button = mixer.rows[0].blocks_button
    assert button.focusPolicy() == Qt.FocusPolicy.StrongFocus
    qtbot.keyClick(button, Qt.Key.Key_Space)
    editor = mixer.blocks_editor
    assert editor is not None
    assert editor.isVisible()
    assert editor.columns[0].slider.focusPolicy() == Qt.FocusPolicy.StrongFocus
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert not editor.isVisible()


def test_the_wheel_over_an_unfocused_slider_changes_nothing(qtbot, mixer: MixerPanel) -> None:  # type: ignore[no-untyped-def]
    mixer.show()
    qtbot.waitExposed(mixer)
    weight = mixer.rows[0].weight
    _wheel(weight.slider)
    _wheel(weight.spin)
    assert mixer.state.mix.specs[0].weight == 1.0

    editor = _open(mixer, 0)
    qtbot.waitExposed(editor)
    column = editor.columns[_column(editor, "OUT05")]
    editor.activateWindow()
    editor.text.setFocus()
    qtbot.waitUntil(editor.text.hasFocus)
    _wheel(column.slider)
    _wheel(column.spin)
    assert mixer.state.mix.specs[0].blocks is None

    column.slider.setFocus()  # focused (a click or Tab), the wheel adjusts it
    qtbot.waitUntil(column.slider.hasFocus)
    _wheel(column.slider)
    assert mixer.state.mix.specs[0].blocks is not None


def test_the_layout_comes_from_the_loras_base_then_the_models() -> None:
    assert block_arch(BaseArch.SDXL, BaseArch.SD1) is BaseArch.SDXL
    assert block_arch(BaseArch.SD2, None) is BaseArch.SD2
    assert block_arch(BaseArch.UNKNOWN, BaseArch.SDXL) is BaseArch.SDXL
    assert block_arch(BaseArch.UNKNOWN, None) is BaseArch.SD1
    assert block_arch(BaseArch.OTHER, BaseArch.FLUX) is BaseArch.SD1
    assert block_arch(BaseArch.FLUX, BaseArch.FLUX) is None  # no LBW blocks: the button is off
