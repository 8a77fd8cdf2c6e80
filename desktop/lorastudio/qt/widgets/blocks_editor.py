"""The Blocks editor of a mixer row: per-block weights (LoRA Block Weight) and start/stop steps.

A small non-modal window, opened from a row's "Blocks" button, so the compact row list and the main
window keep their size: a preset combo (LBW's names and the user's presets from the catalog), one
vertical slider and number per block (17 for SD 1.x/2.x, 12 for SDXL; BASE is the text encoder), the
vector as LBW text, and the fraction of the steps the LoRA applies during. It shows the row's
``LoraSpec`` and emits every edit as changes for a new ``LoraMix``; it keeps no weights of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.blocks import (
    PRESET_NAMES,
    BlockWeightError,
    block_ids,
    format_blocks,
    parse_blocks,
    presets,
)
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.errors import PresetError
from lorastudio.core.library.block_presets import BlockPresetStore
from lorastudio.core.types import BaseArch
from lorastudio.qt.theme import mark_warning
from lorastudio.qt.widgets.dialogs import ask_yes
from lorastudio.qt.widgets.wheel_guard import FocusWheelSlider, FocusWheelSpinBox

SCALE = 100  # slider ticks per 1.0
SLIDER_MIN, SLIDER_MAX = -1.0, 2.0  # typical LBW values; the number box takes ±10
TYPED_LIMIT = 10.0
STEP_GAP = 0.01  # start must stay below stop
LBW_ARCHS = (BaseArch.SD1, BaseArch.SD2, BaseArch.SDXL)
_GROUPS = (("BASE", "Text enc."), ("IN", "Input"), ("M", "Middle"), ("OUT", "Output"))
_BASE_TIP = "BASE: the text encoder(s)"


def block_arch(lora_base: BaseArch, model_base: BaseArch | None) -> BaseArch | None:
    """The arch whose block layout a row uses; None for families LBW has no blocks for (SD 3, Flux).

    A LoRA of unknown base takes the current model's layout when that is an SD one, else SD 1.x's.
    """
    if lora_base in LBW_ARCHS:
        return lora_base
    if lora_base in (BaseArch.SD3, BaseArch.FLUX):
        return None
    return model_base if model_base in LBW_ARCHS else BaseArch.SD1


def normalized(values: Sequence[float], arch: BaseArch) -> tuple[float, ...] | None:
    """``values`` as a ``LoraSpec.blocks``: None when every block is at 1 (the ALL preset)."""
    vector = tuple(float(v) for v in values)
    return None if vector == presets(arch)["ALL"] else vector


def preset_name(blocks: tuple[float, ...] | None, arch: BaseArch, user: dict[str, tuple[float, ...]]) -> str | None:
    """The built-in or user preset ``blocks`` equals (built-ins first), or None for a custom vector."""
    vector = presets(arch)["ALL"] if blocks is None else tuple(float(v) for v in blocks)
    for table in (presets(arch), user):
        for name, values in table.items():
            if tuple(float(v) for v in values) == vector:
                return name
    return None


def blocks_summary(spec: LoraSpec, arch: BaseArch, user: dict[str, tuple[float, ...]]) -> str:
    """What a row's Blocks button says: the preset name or "custom", and the steps when limited."""
    text = preset_name(spec.blocks, arch, user) or "custom"
    if spec.start > 0.0 or spec.stop < 1.0:
        text += f" · {spec.start:g}–{spec.stop:g}"
    return text


class UserBlockPresets:
    """The user's block presets from the catalog, read once per layout until one is saved or deleted.

    Without a store (no catalog, e.g. a bare mixer) only the built-in presets exist.
    """

    def __init__(self, store: BlockPresetStore | None) -> None:
        self.store = store
        self._cache: dict[int, dict[str, tuple[float, ...]]] = {}

    def get(self, arch: BaseArch) -> dict[str, tuple[float, ...]]:
        size = len(block_ids(arch))
        if self.store is None:
            return {}
        if size not in self._cache:
            self._cache[size] = self.store.presets(size)
        return self._cache[size]

    def stored_name(self, name: str, arch: BaseArch) -> str | None:
        return None if self.store is None else self.store.stored_name(name, len(block_ids(arch)))

    def save(self, name: str, values: Sequence[float], overwrite: bool) -> str:
        if self.store is None:
            raise PresetError("Block presets need the library catalog, which is not open.")
        self._cache.clear()
        return self.store.save(name, values, overwrite=overwrite, reserved=PRESET_NAMES)

    def delete(self, name: str, arch: BaseArch) -> None:
        if self.store is None:
            raise PresetError("Block presets need the library catalog, which is not open.")
        self._cache.clear()
        self.store.delete(name, len(block_ids(arch)))


class BlockColumn(QWidget):
    """One block: its id, a vertical slider and a number. Signals: value_changed(float)."""

    value_changed = Signal(float)

    def __init__(self, block: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.block = block
        self.label = QLabel(block)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setObjectName("muted")
        self.slider = FocusWheelSlider(Qt.Orientation.Vertical)
        self.slider.setRange(round(SLIDER_MIN * SCALE), round(SLIDER_MAX * SCALE))
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.slider.setTickPosition(QSlider.TickPosition.TicksRight)
        self.slider.setTickInterval(SCALE)
        self.slider.setMinimumHeight(120)
        self.spin = FocusWheelSpinBox()
        self.spin.setRange(-TYPED_LIMIT, TYPED_LIMIT)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.05)
        self.spin.setKeyboardTracking(False)  # one edit per typed number, not per keystroke
        self.spin.setButtonSymbols(FocusWheelSpinBox.ButtonSymbols.NoButtons)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.spin.setFixedWidth(44)
        tip = _BASE_TIP if block == "BASE" else f"Weight of block {block}"
        for w in (self.label, self.slider, self.spin):
            w.setToolTip(tip)
        self.slider.setAccessibleName(f"{block} weight")
        self.spin.setAccessibleName(f"{block} weight")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(3)
        lay.addWidget(self.label)
        lay.addWidget(self.slider, 1, Qt.AlignmentFlag.AlignHCenter)
        lay.addWidget(self.spin, 0, Qt.AlignmentFlag.AlignHCenter)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.spin.valueChanged.connect(self._on_spin_changed)

    def set_value(self, value: float) -> None:
        """Show ``value`` without echoing it back as an edit."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.spin.setValue(value)
            self.slider.setValue(round(value * SCALE))

    def value(self) -> float:
        return self.spin.value()

    @Slot(int)
    def _on_slider_moved(self, ticks: int) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(ticks / SCALE)
        self.value_changed.emit(ticks / SCALE)

    @Slot(float)
    def _on_spin_changed(self, value: float) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(round(value * SCALE))
        self.value_changed.emit(value)


class BlocksEditor(QDialog):
    """Per-block weights and start/stop of one mixer row.

    Signals: edited(int row index, dict LoraSpec changes), presets_changed() after a save or delete.
    """

    edited = Signal(int, dict)
    presets_changed = Signal()

    def __init__(self, user_presets: UserBlockPresets, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("blocksEditor")
        self.user_presets = user_presets
        self.index = -1
        self.spec: LoraSpec | None = None  # the row's value as last shown, never edited here
        self.arch = BaseArch.SD1
        self.columns: list[BlockColumn] = []

        self.heading = QLabel()
        self.heading.setObjectName("sectionTitle")
        self.layout_note = QLabel()
        self.layout_note.setObjectName("muted")
        self.combo = QComboBox()
        self.combo.setPlaceholderText("custom")
        self.combo.setMinimumWidth(150)
        self.combo.setToolTip("LoRA Block Weight presets, then yours")
        self.combo.setAccessibleName("Block preset")
        preset_label = QLabel("&Preset")
        preset_label.setBuddy(self.combo)
        self.save_button = QPushButton("&Save preset…")
        self.save_button.setToolTip("Save these block weights under a name (kept in the library catalog)")
        self.delete_button = QPushButton("&Delete preset")
        self.reset_button = QPushButton("&Reset")
        self.reset_button.setToolTip("Every block at 1 (the ALL preset)")
        top = QHBoxLayout()
        top.addWidget(preset_label)
        top.addWidget(self.combo)
        top.addStretch(1)
        top.addWidget(self.save_button)
        top.addWidget(self.delete_button)
        top.addWidget(self.reset_button)

        self.grid_host = QFrame()
        self.grid_host.setObjectName("blockGrid")
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(8, 6, 8, 6)
        self.grid.setHorizontalSpacing(2)
        self.grid.setVerticalSpacing(2)

        self.text = QLineEdit()
        self.text.setToolTip("The weights as LBW text: a preset name or one number per block, comma-separated")
        self.text.setAccessibleName("Block weights as text")
        text_label = QLabel("As &text")
        text_label.setBuddy(self.text)
        self.error = QLabel()
        self.error.setWordWrap(True)
        mark_warning(self.error)
        self.error.hide()

        self.start = FocusWheelSpinBox()
        self.stop = FocusWheelSpinBox()
        for box, name in ((self.start, "Start"), (self.stop, "Stop")):
            box.setDecimals(2)
            box.setSingleStep(0.05)
            box.setKeyboardTracking(False)
            box.setFixedWidth(72)
            box.setAccessibleName(f"{name} (fraction of the steps)")
            box.setToolTip(
                "The LoRA applies from the start to the stop fraction of the sampling steps (A1111's start= / stop=)"
            )
        start_label = QLabel("Appl&y from")
        start_label.setBuddy(self.start)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        # No default button: Enter in a number or the text commits it, never saves or closes.
        for button in (self.save_button, self.delete_button, self.reset_button, *close.buttons()):
            if isinstance(button, QPushButton):
                button.setAutoDefault(False)
        bottom = QHBoxLayout()
        bottom.addWidget(text_label)
        bottom.addWidget(self.text, 1)
        bottom.addSpacing(16)
        bottom.addWidget(start_label)
        bottom.addWidget(self.start)
        bottom.addWidget(QLabel("to"))
        bottom.addWidget(self.stop)
        bottom.addWidget(_muted("of the steps"))
        bottom.addSpacing(16)
        bottom.addWidget(close)

        head = QHBoxLayout()
        head.addWidget(self.heading)
        head.addStretch(1)
        head.addWidget(self.layout_note)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        lay.addLayout(head)
        lay.addLayout(top)
        lay.addWidget(self.grid_host)
        lay.addLayout(bottom)
        lay.addWidget(self.error)

        self.combo.activated.connect(self._on_combo_activated)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.reset_button.clicked.connect(self._on_reset_clicked)
        self.text.editingFinished.connect(self._on_text_edited)
        self.start.valueChanged.connect(self._on_start_changed)
        self.stop.valueChanged.connect(self._on_stop_changed)

    # -- showing the row ----------------------------------------------------------------------
    def show_row(self, index: int, spec: LoraSpec, arch: BaseArch) -> None:
        """Show row ``index``'s spec in ``arch``'s block layout (rebuilt when the layout changes)."""
        self.index = index
        if not self.columns or block_ids(arch) != block_ids(self.arch):
            self.arch = arch
            self._build_columns()
        self.arch = arch
        self.spec = spec
        self.setWindowTitle(f"Blocks — {spec.display_name}")
        self.heading.setText(spec.display_name)
        self.layout_note.setText(f"{arch.label} layout, {len(self.columns)} blocks")
        values = self.values()
        for column, value in zip(self.columns, values, strict=True):
            column.set_value(value)
        user = self.user_presets.get(arch)
        current = preset_name(spec.blocks, arch, user)
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for name in PRESET_NAMES:
                self.combo.addItem(name, ("builtin", name))
            if user:
                self.combo.insertSeparator(self.combo.count())
                for name in user:
                    self.combo.addItem(name, ("user", name))
            self.combo.setCurrentIndex(self.combo.findText(current) if current else -1)
        self.delete_button.setEnabled(self._current_user_preset() is not None)
        self.save_button.setEnabled(self.user_presets.store is not None)
        if not self.text.hasFocus():
            self.text.setText(format_blocks(values, arch))
        with QSignalBlocker(self.start), QSignalBlocker(self.stop):
            self.start.setRange(0.0, max(0.0, spec.stop - STEP_GAP))
            self.stop.setRange(min(1.0, spec.start + STEP_GAP), 1.0)
            self.start.setValue(spec.start)
            self.stop.setValue(spec.stop)
        if self.spec.blocks is not None and len(self.spec.blocks) != len(self.columns):
            self._show_error(
                f"This row has {len(self.spec.blocks)} block weights; {arch.label} has "
                f"{len(self.columns)} blocks. Pick a preset or move a slider to replace them."
            )

    def values(self) -> tuple[float, ...]:
        """The row's block vector in this layout (all 1 for None or a vector of another layout)."""
        ones = presets(self.arch)["ALL"]
        blocks = self.spec.blocks if self.spec is not None else None
        return ones if blocks is None or len(blocks) != len(ones) else blocks

    def _build_columns(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.columns = []
        grid_col = 0
        previous_group = ""
        for i, block in enumerate(block_ids(self.arch)):
            group = _group(block)
            if group != previous_group:
                if previous_group:
                    line = QFrame()
                    line.setFrameShape(QFrame.Shape.VLine)
                    line.setFrameShadow(QFrame.Shadow.Plain)
                    # Half-transparent grey: a faint line on the dark and the light theme alike.
                    line.setStyleSheet("color: rgba(128, 128, 128, 90);")
                    self.grid.addWidget(line, 0, grid_col, 2, 1)
                    grid_col += 1
                caption = _muted(dict(_GROUPS)[group])
                span = sum(1 for b in block_ids(self.arch) if _group(b) == group)
                self.grid.addWidget(caption, 0, grid_col, 1, span, Qt.AlignmentFlag.AlignHCenter)
                previous_group = group
            column = BlockColumn(block)
            column.value_changed.connect(self._on_column_changed)
            column.setProperty("block_index", i)
            self.grid.addWidget(column, 1, grid_col)
            self.columns.append(column)
            grid_col += 1

    # -- dialogs (tests replace these) ----------------------------------------------------------
    def ask_name(self, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, "Save block preset", "Preset name:", QLineEdit.EchoMode.Normal, current)
        return text if ok else None

    def confirm(self, question: str) -> bool:
        return ask_yes(self, "Block presets", question)

    # -- edits --------------------------------------------------------------------------------
    def _emit(self, changes: dict[str, object]) -> None:
        self.error.hide()
        if self.index >= 0:
            self.edited.emit(self.index, changes)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _current_user_preset(self) -> str | None:
        data = self.combo.currentData()
        return data[1] if isinstance(data, tuple) and data[0] == "user" else None

    @Slot(float)
    def _on_column_changed(self, value: float) -> None:
        column = self.sender()
        if not isinstance(column, BlockColumn):
            return
        values = list(self.values())
        values[self.columns.index(column)] = value
        self._emit({"blocks": normalized(values, self.arch)})

    @Slot(int)
    def _on_combo_activated(self, index: int) -> None:
        data = self.combo.itemData(index)
        if not isinstance(data, tuple):
            return
        kind, name = data
        table = presets(self.arch) if kind == "builtin" else self.user_presets.get(self.arch)
        if name in table:
            self._emit({"blocks": normalized(table[name], self.arch)})

    @Slot()
    def _on_reset_clicked(self) -> None:
        self._emit({"blocks": None})

    @Slot()
    def _on_text_edited(self) -> None:
        text = self.text.text()
        if not text.strip() or text == format_blocks(self.values(), self.arch):
            self.text.setText(format_blocks(self.values(), self.arch))
            return
        try:
            vector = parse_blocks(text, self.arch, self.user_presets.get(self.arch))
        except BlockWeightError as err:
            self._show_error(str(err))
            return
        self._emit({"blocks": normalized(vector, self.arch)})
        self.text.setText(format_blocks(self.values(), self.arch))

    @Slot(float)
    def _on_start_changed(self, value: float) -> None:
        self._emit({"start": value})

    @Slot(float)
    def _on_stop_changed(self, value: float) -> None:
        self._emit({"stop": value})

    @Slot()
    def _on_save_clicked(self) -> None:
        answer = self.ask_name(self._current_user_preset() or "")
        if answer is None or self.spec is None:
            return
        try:
            existing = self.user_presets.stored_name(answer, self.arch)
            if existing is not None and not self.confirm(
                f"A block preset named '{existing}' already exists. Replace it?"
            ):
                return
            self.user_presets.save(answer, self.values(), overwrite=existing is not None)
        except PresetError as err:
            self._show_error(str(err))
            return
        self.error.hide()
        self.presets_changed.emit()

    @Slot()
    def _on_delete_clicked(self) -> None:
        name = self._current_user_preset()
        if name is None or not self.confirm(f"Delete the block preset '{name}'? Rows using it keep their weights."):
            return
        try:
            self.user_presets.delete(name, self.arch)
        except PresetError as err:
            self._show_error(str(err))
            return
        self.error.hide()
        self.presets_changed.emit()


def _group(block: str) -> str:
    """BASE, IN, M or OUT: the part of the model a block id belongs to."""
    return next(prefix for prefix, _ in reversed(_GROUPS) if block.startswith(prefix))


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    return label
