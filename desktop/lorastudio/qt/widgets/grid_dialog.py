"""The Grid dialog: X, Y and Z axes typed in the CLI's syntax, checked as they are typed.

Each field shows its one-sentence error underneath; OK stays off until every axis reads and the
grid fits. The LoRAs of the current mix are offered as examples, since a weight axis names one.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.grid.axes import GridAxisError, GridSpec, parse_axis, parse_spec

_PLACEHOLDERS = {"x": "lora:NAME:0:1:5  or  cfg:4,7,10", "y": "seed:1,2,3  (optional)",
                 "z": "sampler:Euler,DDIM  (optional)"}


class GridDialog(QDialog):
    """``spec()`` is the grid once accepted; ``set_axes(spec)`` fills the fields (a dropped grid PNG)."""

    def __init__(self, lora_names: Sequence[str] = (), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Grid")
        self.fields: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}
        self._spec: GridSpec | None = None
        form = QFormLayout()
        for key in ("x", "y", "z"):
            edit = QLineEdit()
            edit.setObjectName(f"axis_{key}")
            edit.setPlaceholderText(_PLACEHOLDERS[key])
            edit.setClearButtonEnabled(True)
            error = QLabel("")
            error.setObjectName("error")
            error.setWordWrap(True)
            error.hide()
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(edit)
            lay.addWidget(error)
            form.addRow(f"{key.upper()} axis", box)
            edit.textChanged.connect(self._validate)
            self.fields[key] = edit
            self.errors[key] = error
        names = [n for n in lora_names if n]
        hint = ("LoRAs in the mix: " + ", ".join(names[:6]) + f" — e.g. lora:{names[0]}:0:1:5") if names else \
            "No LoRA in the mix: add one to vary its weight, or vary seed, steps, cfg, sampler."
        self.hint = QLabel(hint + "\nKinds: lora, on, blocks, prompt, seed, steps, cfg, sampler, checkpoint.")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.count_label = QLabel("")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Make grid")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(form)
        layout.addWidget(self.count_label)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())
        self._validate()

    @property
    def ok_button(self) -> QPushButton:
        return self.buttons.button(QDialogButtonBox.StandardButton.Ok)

    def set_axes(self, spec: GridSpec) -> None:
        for key, axis in (("x", spec.x), ("y", spec.y), ("z", spec.z)):
            self.fields[key].setText(axis.to_text() if axis is not None else "")

    def spec(self) -> GridSpec | None:
        return self._spec

    @Slot()
    def _validate(self) -> None:
        texts = {key: edit.text().strip() for key, edit in self.fields.items()}
        ok = True
        for key, text in texts.items():
            message = ""
            if key == "x" and not text:
                message = "The X axis is needed." if texts["y"] or texts["z"] else ""
                ok = False
            elif text:
                try:
                    parse_axis(text)
                except GridAxisError as err:
                    message = str(err)
                    ok = False
            self.errors[key].setText(message)
            self.errors[key].setVisible(bool(message))
        self._spec = None
        if ok:
            try:
                self._spec = parse_spec(texts["x"], texts["y"], texts["z"])
            except GridAxisError as err:  # two axes on one thing, too many cells
                self.errors["x"].setText(str(err))
                self.errors["x"].show()
        count = self._spec.count if self._spec is not None else 0
        self.count_label.setText(f"{count} cell{'s' if count != 1 else ''}" if count else "")
        self.ok_button.setEnabled(self._spec is not None)
