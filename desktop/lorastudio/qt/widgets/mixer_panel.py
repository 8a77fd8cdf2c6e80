"""The LoRA mixer: one row per LoRA with a weight slider and its number, an enable toggle,
an optional text-encoder weight, trigger-word chips, and remove. Rows show the mix held by
``MixState``; edits produce a new mix (the rows never own state)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.metadata.detect import FileInfo, inspect_path
from lorastudio.core.types import BaseArch
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.row_list import scrolling_rows
from lorastudio.qt.widgets.weight_editor import WeightEditor

PATH_MIME = "application/x-lorastudio-path"
THUMB = 44


class LoraRow(QFrame):
    """One LoRA of the mix. Signals: edited(int index, dict changes), remove_requested(int),
    move_requested(int index, int delta), trigger_clicked(str)."""

    edited = Signal(int, dict)
    remove_requested = Signal(int)
    move_requested = Signal(int, int)
    trigger_clicked = Signal(str)

    def __init__(self, index: int, spec: LoraSpec, info: FileInfo | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.path = spec.path
        self.info = info
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("loraRow")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        outer.setSpacing(4)

        head = QHBoxLayout()
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: palette(base); border-radius: 4px;")
        if info is not None and info.preview is not None:
            pix = QPixmap(str(info.preview))
            if not pix.isNull():
                self.thumb.setPixmap(pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                Qt.TransformationMode.SmoothTransformation))
        self.enabled = QCheckBox()
        self.enabled.setToolTip("Use this LoRA")
        self.name = QLabel(f"<b>{spec.display_name}</b>")
        self.name.setToolTip(str(spec.path))
        self.badge = QLabel()
        self.badge.setObjectName("badge")
        self.badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #ff9a6b;")
        up, down, remove = QToolButton(), QToolButton(), QToolButton()
        up.setArrowType(Qt.ArrowType.UpArrow)
        up.setToolTip("Move up")
        down.setArrowType(Qt.ArrowType.DownArrow)
        down.setToolTip("Move down")
        remove.setText("✕")
        remove.setToolTip("Remove from the mix")
        remove.setAccessibleName("Remove")
        self.remove_button = remove
        head.addWidget(self.thumb)
        head.addWidget(self.enabled)
        head.addWidget(self.name, 1)
        head.addWidget(self.badge)
        head.addWidget(up)
        head.addWidget(down)
        head.addWidget(remove)
        outer.addLayout(head)

        self.weight = WeightEditor("Weight")
        outer.addWidget(self.weight)
        self.te_toggle = QCheckBox("Separate text-encoder weight")
        self.te_toggle.setObjectName("muted")
        self.te_weight = WeightEditor("TE")
        outer.addWidget(self.te_toggle)
        outer.addWidget(self.te_weight)

        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)
        outer.addLayout(self.chips)
        outer.addWidget(self.warning)
        for word in (info.trigger_words if info else ())[:6]:
            chip = QPushButton(word)
            chip.setFlat(True)
            chip.setStyleSheet("QPushButton { border: 1px solid #555; border-radius: 9px; padding: 1px 8px; }")
            chip.setToolTip("Insert into the prompt")
            chip.clicked.connect(self._on_chip_clicked)
            self.chips.addWidget(chip)
        self.chips.addStretch(1)

        self.show_spec(spec)
        self.enabled.toggled.connect(self._on_enabled_toggled)
        self.weight.value_changed.connect(self._on_weight_changed)
        self.weight.reset_requested.connect(self._on_weight_reset)
        self.te_toggle.toggled.connect(self._on_te_toggled)
        self.te_weight.value_changed.connect(self._on_te_changed)
        up.clicked.connect(self._on_up)
        down.clicked.connect(self._on_down)
        remove.clicked.connect(self._on_remove)

    def show_spec(self, spec: LoraSpec) -> None:
        with QSignalBlocker(self.enabled), QSignalBlocker(self.te_toggle):
            self.enabled.setChecked(spec.enabled)
            self.te_toggle.setChecked(spec.te_weight is not None)
        self.weight.set_value(spec.weight)
        self.te_weight.set_value(spec.te_weight if spec.te_weight is not None else spec.weight)
        self.te_weight.setVisible(spec.te_weight is not None)
        self.weight.caption.setText("UNet" if spec.te_weight is not None else "Weight")

    def set_compatibility(self, model_base: BaseArch | None) -> None:
        base = self.info.base if self.info else BaseArch.UNKNOWN
        self.badge.setText(base.label)
        incompatible = model_base not in (None, BaseArch.UNKNOWN) and base not in (BaseArch.UNKNOWN, model_base)
        self.badge.setProperty("warn", incompatible)
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)
        if incompatible and model_base is not None:
            self.warning.setText(f"Made for {base.label}; the current model is {model_base.label}. "
                                 "It will be refused.")
        elif base is BaseArch.UNKNOWN:
            self.warning.setText("Base model unknown: it may not fit the current model.")
        else:
            self.warning.setText("")
        self.warning.setVisible(bool(self.warning.text()))

    @Slot(bool)
    def _on_enabled_toggled(self, on: bool) -> None:
        self.edited.emit(self.index, {"enabled": on})

    @Slot(float)
    def _on_weight_changed(self, value: float) -> None:
        self.edited.emit(self.index, {"weight": value})

    @Slot()
    def _on_weight_reset(self) -> None:
        preferred = self.info.preferred_weight if self.info and self.info.preferred_weight is not None else 1.0
        self.weight.set_value(preferred)
        self.edited.emit(self.index, {"weight": preferred})

    @Slot(bool)
    def _on_te_toggled(self, on: bool) -> None:
        self.te_weight.setVisible(on)
        self.edited.emit(self.index, {"te_weight": self.te_weight.value() if on else None})

    @Slot(float)
    def _on_te_changed(self, value: float) -> None:
        self.edited.emit(self.index, {"te_weight": value})

    @Slot()
    def _on_up(self) -> None:
        self.move_requested.emit(self.index, -1)

    @Slot()
    def _on_down(self) -> None:
        self.move_requested.emit(self.index, 1)

    @Slot()
    def _on_remove(self) -> None:
        self.remove_requested.emit(self.index)

    @Slot()
    def _on_chip_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self.trigger_clicked.emit(button.text())


class MixerPanel(QWidget):
    """Signals: trigger_word_clicked(str), add_requested()."""

    trigger_word_clicked = Signal(str)
    add_requested = Signal()

    def __init__(self, state: MixState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._infos: dict[Path, FileInfo | None] = {}
        self._model_base: BaseArch | None = None
        self.rows: list[LoraRow] = []
        self.setAcceptDrops(True)

        title = QLabel("LoRA mix")
        title.setObjectName("sectionTitle")
        self.add_button = QPushButton("Add LoRA…")
        self.copy_button = QPushButton("Copy as prompt")
        self.copy_button.setToolTip("Copy the mix as <lora:name:weight> tags (A1111 / Civitai syntax)")
        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(self.copy_button)
        head.addWidget(self.add_button)

        self.empty = QLabel("No LoRAs in the mix.\nDouble-click a LoRA in the library, drag it here,\n"
                            "or type <lora:name:0.8> in the prompt.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll, self._rows_box = scrolling_rows(self.empty)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(head)
        lay.addWidget(scroll, 1)

        self.add_button.clicked.connect(self._on_add_clicked)
        self.copy_button.clicked.connect(self.copy_as_prompt)
        state.mix_changed.connect(self._on_mix_changed)
        self._rebuild(state.mix)

    # -- public -----------------------------------------------------------------------------
    def info_for(self, path: Path) -> FileInfo | None:
        if path not in self._infos:
            try:
                self._infos[path] = inspect_path(path)  # header only: milliseconds
            except OSError:
                self._infos[path] = None
        return self._infos[path]

    def add_lora(self, path: Path) -> None:
        info = self.info_for(path)
        weight = info.preferred_weight if info and info.preferred_weight is not None else 1.0
        name = (info.title if info and info.title else "") or path.stem
        self.state.set_mix(self.state.mix.added(LoraSpec(path=path, weight=weight, name=name)))

    def set_model_base(self, base: BaseArch | None) -> None:
        self._model_base = base
        for row in self.rows:
            row.set_compatibility(base)

    # -- drag and drop ---------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(PATH_MIME) or (mime.hasUrls() and any(
                u.toLocalFile().endswith(".safetensors") for u in mime.urls())):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(PATH_MIME):
            paths = [bytes(mime.data(PATH_MIME).data()).decode("utf-8")]
        else:
            paths = [u.toLocalFile() for u in mime.urls()]
        for p in paths:
            if p.endswith(".safetensors"):
                self.add_lora(Path(p))
        event.acceptProposedAction()

    # -- state -> rows ---------------------------------------------------------------------
    @Slot(object)
    def _on_mix_changed(self, mix: LoraMix) -> None:
        if [r.path for r in self.rows] == [s.path for s in mix.specs]:
            for row, spec in zip(self.rows, mix.specs, strict=True):
                row.show_spec(spec)  # a weight edit: keep the widgets (and the slider grab)
        else:
            self._rebuild(mix)

    def _rebuild(self, mix: LoraMix) -> None:
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for i, spec in enumerate(mix.specs):
            row = LoraRow(i, spec, self.info_for(spec.path))
            row.set_compatibility(self._model_base)
            row.edited.connect(self._on_row_edited)
            row.remove_requested.connect(self._on_row_remove)
            row.move_requested.connect(self._on_row_move)
            row.trigger_clicked.connect(self._on_trigger_clicked)
            self._rows_box.addWidget(row)
            self.rows.append(row)
        self.empty.setVisible(not mix.specs)

    @Slot(int, dict)
    def _on_row_edited(self, index: int, changes: dict[str, object]) -> None:
        self.state.set_mix(self.state.mix.updated(index, **changes))

    @Slot(int)
    def _on_row_remove(self, index: int) -> None:
        self.state.set_mix(self.state.mix.removed(index))

    @Slot(int, int)
    def _on_row_move(self, index: int, delta: int) -> None:
        self.state.set_mix(self.state.mix.moved(index, index + delta))

    @Slot(str)
    def _on_trigger_clicked(self, word: str) -> None:
        self.trigger_word_clicked.emit(word)

    @Slot()
    def _on_add_clicked(self) -> None:
        self.add_requested.emit()

    @Slot()
    def copy_as_prompt(self) -> None:
        QGuiApplication.clipboard().setText(self.state.mix.to_prompt_syntax())
