"""The Grid dialog checks each axis as it is typed: one sentence under a bad field, OK off while
anything is wrong, the cell count once the grid reads; a grid's axes fill the fields again."""

from __future__ import annotations

from lorastudio.core.grid.axes import parse_spec
from lorastudio.qt.widgets.grid_dialog import GridDialog


def test_typing_axes_validates_live_and_counts_cells(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = GridDialog(["demo-ink-wash"])
    qtbot.addWidget(dialog)
    assert "demo-ink-wash" in dialog.hint.text()
    assert not dialog.ok_button.isEnabled()  # nothing typed yet

    dialog.fields["x"].setText("lora:demo-ink-wash:0:1:3")
    assert dialog.ok_button.isEnabled()
    assert dialog.count_label.text() == "3 cells"

    dialog.fields["y"].setText("seed:1,x")
    assert not dialog.ok_button.isEnabled()
    assert "seed" in dialog.errors["y"].text().lower()
    assert not dialog.errors["y"].isHidden()

    dialog.fields["y"].setText("seed:1,2")
    assert dialog.ok_button.isEnabled()
    assert dialog.errors["y"].isHidden()
    assert dialog.count_label.text() == "6 cells"
    assert dialog.spec() == parse_spec("lora:demo-ink-wash:0:1:3", "seed:1,2")

    dialog.fields["z"].setText("seed:3,4")  # two axes on the seed
    assert not dialog.ok_button.isEnabled()
    assert "same thing" in dialog.errors["x"].text()


def test_an_empty_x_with_a_y_asks_for_x(qtbot) -> None:  # type: ignore[no-untyped-def]
    dialog = GridDialog()
    qtbot.addWidget(dialog)
    assert "No LoRA in the mix" in dialog.hint.text()
    dialog.fields["y"].setText("cfg:4,7")
    assert not dialog.ok_button.isEnabled()
    assert dialog.errors["x"].text() == "The X axis is needed."


def test_set_axes_fills_the_fields_back(qtbot) -> None:  # type: ignore[no-untyped-def]
    spec = parse_spec("lora:ink:0,0.5,1", "seed:1,2", "sampler:Euler,DDIM")
    dialog = GridDialog(["ink"])
    qtbot.addWidget(dialog)
    dialog.set_axes(spec)
    assert dialog.fields["x"].text() == "lora:ink:0,0.5,1"
    assert dialog.fields["y"].text() == "seed:1,2"
    assert dialog.spec() == spec
    assert dialog.count_label.text() == "12 cells"
