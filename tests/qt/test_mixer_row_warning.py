"""A LoRA row made for another base model says what happens to it: refused while it is switched
on, only "switched off" once the user turned it off (issue 16: a switched-off SDXL row still said
"It will be refused")."""

from __future__ import annotations

from pathlib import Path

from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.widgets.mixer_panel import LoraRow


def test_the_warning_follows_the_rows_switch(qtbot) -> None:  # type: ignore[no-untyped-def]
    path = Path("/loras/xl-sketch.safetensors")
    row = LoraRow(0, LoraSpec(path, 1.0), FileInfo(path, kind=ModelKind.LORA, base=BaseArch.SDXL))
    qtbot.addWidget(row)
    row.set_compatibility(BaseArch.SD1)
    assert row.warning.text() == "Made for SDXL; the current model is SD 1.x. It will be refused."
    row.enabled.setChecked(False)
    assert row.warning.text() == "Made for SDXL; the current model is SD 1.x. It is switched off."
    row.show_spec(LoraSpec(path, 1.0, enabled=True))
    assert row.warning.text().endswith("It will be refused.")
    row.set_compatibility(BaseArch.SDXL)
    assert not row.warning.text()
