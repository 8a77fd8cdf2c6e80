"""The LoRA mixer: one row per LoRA with a weight slider and its number, an enable toggle,
an optional text-encoder weight, a Blocks button (per-block weights and start/stop, edited in
``BlocksEditor``), trigger-word chips, and remove. Rows show the mix held by ``MixState``; edits
produce a new mix (the rows never own state)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QSignalBlocker, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.engine.blocks import format_blocks
from lorastudio.core.engine.mix import LoraMix
from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.library.block_presets import BlockPresetStore
from lorastudio.core.metadata.detect import FileInfo, inspect_path
from lorastudio.core.types import BaseArch
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.theme import mark_warning
from lorastudio.qt.widgets.blocks_editor import BlocksEditor, UserBlockPresets, block_arch, blocks_summary
from lorastudio.qt.widgets.elided_label import ElidedLabel
from lorastudio.qt.widgets.row_list import scrolling_rows
from lorastudio.qt.widgets.weight_editor import WeightEditor

PATH_MIME = "application/x-lorastudio-path"
THUMB = 32
COPY_LABEL, COPY_DONE, COPY_NOTHING = "Copy as prompt", "Copied ✓", "Mix is empty"
COPY_FEEDBACK_MS = 1500  # long enough to read, short enough to be gone before the next click
# Muted while the row uses every block on every step, so the default reads as "nothing set".
BLOCKS_BUTTON_STYLE = """
QToolButton { padding: 1px 6px; border: 1px solid transparent; border-radius: 3px; }
QToolButton[active="false"] { color: palette(placeholder-text); }
QToolButton[active="true"] { border-color: #7c5cff; }
QToolButton:focus { border-color: palette(highlight); }
QToolButton:hover { border-color: palette(mid); }
"""


class LoraRow(QFrame):
    """One LoRA of the mix. Signals: edited(int index, dict changes), remove_requested(int),
    move_requested(int index, int delta), trigger_clicked(str), blocks_requested(int index)."""

    edited = Signal(int, dict)
    blocks_requested = Signal(int)
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
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(2)

        head = QHBoxLayout()
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: palette(base); border-radius: 4px;")
        if info is not None and info.preview is not None:
            pix = QPixmap(str(info.preview))
            if not pix.isNull():
                ratio = self.devicePixelRatioF()  # scaled for the screen's pixels: crisp at 200 %
                side = round(THUMB * ratio)
                pix = pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                 Qt.TransformationMode.SmoothTransformation)
                pix.setDevicePixelRatio(ratio)
                self.thumb.setPixmap(pix)
        self._model_base: BaseArch | None = None
        self.enabled = QCheckBox()
        self.enabled.setToolTip("Use this LoRA")
        self.name = ElidedLabel(spec.display_name)  # a long name elides instead of clipping
        bold = self.name.font()
        bold.setBold(True)
        self.name.setFont(bold)
        self.name.setToolTip(str(spec.path))
        self.badge = QLabel()
        self.badge.setObjectName("badge")
        self.badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        # Shown when the chosen backend (a ComfyUI server) lacks this file: the job would be refused.
        self.remote_mark = QLabel()
        self.remote_mark.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(16, 16))
        self.remote_mark.setAccessibleName("Missing on the backend")
        self.remote_mark.setVisible(False)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        mark_warning(self.warning)
        up, down, remove = QToolButton(), QToolButton(), QToolButton()
        up.setArrowType(Qt.ArrowType.UpArrow)
        up.setToolTip("Move up")
        down.setArrowType(Qt.ArrowType.DownArrow)
        down.setToolTip("Move down")
        remove.setText("✕")
        remove.setToolTip("Remove from the mix")
        remove.setAccessibleName("Remove")
        self.remove_button = remove
        # Compact (issue 16, item 5): one line of name, badge, blocks and buttons over the weight;
        # the text-encoder option, the order buttons and the trigger words fold out on demand.
        self.details_button = QToolButton()
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setToolTip("More: text-encoder weight, order, trigger words")
        self.details_button.setAccessibleName("Details")
        self.te_toggle = QCheckBox("Separate text-encoder weight")
        self.te_toggle.setObjectName("muted")
        self.te_weight = WeightEditor("TE")
        self.blocks_button = QToolButton()
        self.blocks_button.setObjectName("blocksButton")
        self.blocks_button.setAccessibleName("Blocks")
        self.blocks_button.setStyleSheet(BLOCKS_BUTTON_STYLE)
        self.blocks_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        head.addWidget(self.thumb)
        head.addWidget(self.enabled)
        head.addWidget(self.name, 1)
        head.addWidget(self.remote_mark)
        head.addWidget(self.badge)
        head.addWidget(self.blocks_button)
        head.addWidget(self.details_button)
        head.addWidget(remove)
        outer.addLayout(head)

        self.weight = WeightEditor("Weight")
        outer.addWidget(self.weight)
        outer.addWidget(self.te_weight)
        outer.addWidget(self.warning)

        self.details = QWidget()
        details_lay = QVBoxLayout(self.details)
        details_lay.setContentsMargins(0, 0, 0, 0)
        details_lay.setSpacing(4)
        options = QHBoxLayout()
        options.addWidget(self.te_toggle)
        options.addStretch(1)
        options.addWidget(up)
        options.addWidget(down)
        details_lay.addLayout(options)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(4)
        details_lay.addLayout(self.chips)
        for word in (info.trigger_words if info else ())[:6]:
            chip = QPushButton(word)
            chip.setFlat(True)
            chip.setStyleSheet("QPushButton { border: 1px solid #555; border-radius: 9px; padding: 1px 8px; }")
            chip.setToolTip("Insert into the prompt")
            chip.clicked.connect(self._on_chip_clicked)
            self.chips.addWidget(chip)
        self.chips.addStretch(1)
        self.details.setVisible(False)
        outer.addWidget(self.details)
        self.details_button.toggled.connect(self._on_details_toggled)

        self.show_spec(spec)
        self.enabled.toggled.connect(self._on_enabled_toggled)
        self.weight.value_changed.connect(self._on_weight_changed)
        self.weight.reset_requested.connect(self._on_weight_reset)
        self.te_toggle.toggled.connect(self._on_te_toggled)
        self.te_weight.value_changed.connect(self._on_te_changed)
        up.clicked.connect(self._on_up)
        down.clicked.connect(self._on_down)
        remove.clicked.connect(self._on_remove)
        self.blocks_button.clicked.connect(self._on_blocks_clicked)

    @Slot(bool)
    def _on_details_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def show_spec(self, spec: LoraSpec) -> None:
        with QSignalBlocker(self.enabled), QSignalBlocker(self.te_toggle):
            self.enabled.setChecked(spec.enabled)
            self.te_toggle.setChecked(spec.te_weight is not None)
        self.set_compatibility(self._model_base)  # the warning says whether the row is sent
        self.weight.set_value(spec.weight)
        self.te_weight.set_value(spec.te_weight if spec.te_weight is not None else spec.weight)
        self.te_weight.setVisible(spec.te_weight is not None)
        self.weight.caption.setText("UNet" if spec.te_weight is not None else "Weight")

    def show_blocks(self, summary: str | None, detail: str) -> None:
        """The Blocks button: ``summary`` (preset name or "custom", steps); None: the LoRA's family has
        no blocks to weigh."""
        self.blocks_button.setEnabled(summary is not None)
        self.blocks_button.setText(f"Blocks: {summary}" if summary else "Blocks")
        self.blocks_button.setToolTip(detail)
        active = summary is not None and summary != "ALL"
        if self.blocks_button.property("active") != active:
            self.blocks_button.setProperty("active", active)
            self.blocks_button.style().unpolish(self.blocks_button)
            self.blocks_button.style().polish(self.blocks_button)

    def set_remote_note(self, note: str) -> None:
        """"not on studio-pc" when the chosen backend lacks this LoRA; "" hides the mark."""
        self.remote_mark.setToolTip(note[:1].upper() + note[1:])
        self.remote_mark.setVisible(bool(note))

    def set_compatibility(self, model_base: BaseArch | None) -> None:
        base = self.info.base if self.info else BaseArch.UNKNOWN
        self.badge.setText(base.label)
        incompatible = model_base not in (None, BaseArch.UNKNOWN) and base not in (BaseArch.UNKNOWN, model_base)
        self.badge.setProperty("warn", incompatible)
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)
        self._model_base = model_base
        if incompatible and model_base is not None:
            # A switched-off row is not sent: say why it does not fit, not that it will be refused.
            consequence = "It will be refused." if self.enabled.isChecked() else "It is switched off."
            self.warning.setText(f"Made for {base.label}; the current model is {model_base.label}. {consequence}")
        elif base is BaseArch.UNKNOWN:
            self.warning.setText("Base model unknown: it may not fit the current model.")
        else:
            self.warning.setText("")
        self.warning.setVisible(bool(self.warning.text()))

    @Slot(bool)
    def _on_enabled_toggled(self, on: bool) -> None:
        self.set_compatibility(self._model_base)
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
    def _on_blocks_clicked(self) -> None:
        self.blocks_requested.emit(self.index)

    @Slot()
    def _on_chip_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            self.trigger_clicked.emit(button.text())


class MixerPanel(QWidget):
    """Signals: trigger_word_clicked(str), add_requested()."""

    trigger_word_clicked = Signal(str)
    add_requested = Signal()

    def __init__(self, state: MixState, block_presets: BlockPresetStore | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._infos: dict[Path, FileInfo | None] = {}
        self._model_base: BaseArch | None = None
        self._remote_note: Callable[[Path], str] | None = None  # which LoRAs the chosen backend lacks
        self.rows: list[LoraRow] = []
        self.user_block_presets = UserBlockPresets(block_presets)
        self.blocks_editor: BlocksEditor | None = None  # made on first use, then reused
        self._blocks_path: Path | None = None  # the LoRA the editor shows
        self.setAcceptDrops(True)

        title = QLabel("LoRA mix")
        title.setObjectName("sectionTitle")
        self.add_button = QPushButton("Add LoRA…")
        self.copy_button = QPushButton(COPY_LABEL)
        self.copy_button.setToolTip("Copy the mix as <lora:name:weight> tags (A1111 / Civitai syntax)")
        # The feedback text must not resize the button (the header would jump): the widest label sets it.
        metrics = self.copy_button.fontMetrics()
        widest = max(metrics.horizontalAdvance(t) for t in (COPY_LABEL, COPY_DONE, COPY_NOTHING))
        self.copy_button.setMinimumWidth(self.copy_button.sizeHint().width() - metrics.horizontalAdvance(COPY_LABEL)
                                         + widest)
        self._copy_feedback = QTimer(self)
        self._copy_feedback.setSingleShot(True)
        self._copy_feedback.setInterval(COPY_FEEDBACK_MS)
        self._copy_feedback.timeout.connect(self._on_copy_feedback_timeout)
        head = QHBoxLayout()
        head.addWidget(title, 1)
        head.addWidget(self.copy_button)
        head.addWidget(self.add_button)

        self.empty = QLabel("No LoRAs in the mix.\nDouble-click a LoRA in the library, drag it here,\n"
                            "or type <lora:name:0.8> in the prompt.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll, self._rows_box = scrolling_rows(self.empty)
        self.scroll = scroll

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
        self._show_blocks(self.state.mix)
        self._sync_blocks_editor(self.state.mix)  # a LoRA of unknown base takes the model's layout

    def set_remote_notes(self, note: Callable[[Path], str] | None) -> None:
        """Mark the rows whose LoRA the chosen backend lacks (``note(path)``: "not on studio-pc" or
        ""); None: no marks (this computer has every file)."""
        self._remote_note = note
        for row in self.rows:
            row.set_remote_note(note(row.path) if note else "")

    def block_arch_of(self, row: LoraRow) -> BaseArch | None:
        """The block layout of ``row``'s LoRA (its base in the library; see ``block_arch``)."""
        return block_arch(row.info.base if row.info else BaseArch.UNKNOWN, self._model_base)

    def open_blocks_editor(self, index: int) -> BlocksEditor | None:
        """Show the Blocks editor for row ``index`` beside its button (one editor, reused); None when
        the row's LoRA family has no blocks (its button is disabled then)."""
        row = self.rows[index]
        arch = self.block_arch_of(row)
        if arch is None:
            return None
        if self.blocks_editor is None:
            self.blocks_editor = BlocksEditor(self.user_block_presets, self)
            self.blocks_editor.edited.connect(self._on_row_edited)
            self.blocks_editor.presets_changed.connect(self._on_block_presets_changed)
            self.blocks_editor.finished.connect(self._on_blocks_editor_finished)
        self._blocks_path = row.path
        editor = self.blocks_editor
        editor.show_row(index, self.state.mix.specs[index], arch)
        if not editor.isVisible():
            editor.adjustSize()
            editor.move(self._editor_position(row, editor))
            editor.show()
        editor.raise_()
        editor.activateWindow()
        editor.combo.setFocus()
        return editor

    def _editor_position(self, row: LoraRow, editor: QWidget) -> QPoint:
        """Below the row's Blocks button, kept on the screen."""
        button = row.blocks_button
        anchor = button.mapToGlobal(QPoint(button.width(), button.height() + 4))
        pos = QPoint(anchor.x() - editor.width(), anchor.y())
        screen = (button.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        x = max(screen.left(), min(pos.x(), screen.right() - editor.width()))
        y = max(screen.top(), min(pos.y(), screen.bottom() - editor.height()))
        return QPoint(x, y)

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
            self._show_blocks(mix)
        else:
            self._rebuild(mix)
        self._sync_blocks_editor(mix)

    def _show_blocks(self, mix: LoraMix) -> None:
        for row, spec in zip(self.rows, mix.specs, strict=True):
            arch = self.block_arch_of(row)
            if arch is None:
                row.show_blocks(None, "Block weights apply to SD 1.x, SD 2.x and SDXL LoRAs.")
                continue
            user = self.user_block_presets.get(arch)
            detail = "All blocks at 1" if spec.blocks is None else f"Block weights: {format_blocks(spec.blocks, arch)}"
            steps = "every step" if spec.start <= 0.0 and spec.stop >= 1.0 else \
                f"from {spec.start:.0%} to {spec.stop:.0%} of the steps"
            row.show_blocks(blocks_summary(spec, arch, user), f"{detail}; applied on {steps}. Click to edit.")

    def _sync_blocks_editor(self, mix: LoraMix) -> None:
        """Keep the open editor on its LoRA: follow it when rows move, close when it is removed."""
        editor = self.blocks_editor
        if editor is None or not editor.isVisible() or self._blocks_path is None:
            return
        index = mix.index_of(self._blocks_path)
        arch = self.block_arch_of(self.rows[index]) if index >= 0 else None
        if arch is None:
            editor.close()
            return
        editor.show_row(index, mix.specs[index], arch)

    def _rebuild(self, mix: LoraMix) -> None:
        before = {row.path for row in self.rows}
        for row in self.rows:
            row.setParent(None)
            row.deleteLater()
        self.rows = []
        for i, spec in enumerate(mix.specs):
            row = LoraRow(i, spec, self.info_for(spec.path))
            row.set_compatibility(self._model_base)
            row.set_remote_note(self._remote_note(spec.path) if self._remote_note else "")
            row.edited.connect(self._on_row_edited)
            row.remove_requested.connect(self._on_row_remove)
            row.move_requested.connect(self._on_row_move)
            row.trigger_clicked.connect(self._on_trigger_clicked)
            row.blocks_requested.connect(self._on_row_blocks)
            self._rows_box.addWidget(row)
            self.rows.append(row)
        self.empty.setVisible(not mix.specs)
        self._show_blocks(mix)
        added = [row for row in self.rows if row.path not in before]
        if added:
            # A new row (a third LoRA, a prompt tag) lands below the fold: bring it into view once
            # the layout has placed it (issue 16, item 5).
            QTimer.singleShot(0, partial(self._scroll_to, added[-1]))

    def _scroll_to(self, row: LoraRow) -> None:
        if row in self.rows:
            # The scroll area sizes its contents on a posted layout request: run it first so the
            # row has its final place.
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            self.scroll.ensureWidgetVisible(row, 0, 4)

    @Slot(int, dict)
    def _on_row_edited(self, index: int, changes: dict[str, object]) -> None:
        self.state.set_mix(self.state.mix.updated(index, **changes))

    @Slot(int)
    def _on_row_remove(self, index: int) -> None:
        self.state.set_mix(self.state.mix.removed(index))

    @Slot(int, int)
    def _on_row_move(self, index: int, delta: int) -> None:
        self.state.set_mix(self.state.mix.moved(index, index + delta))

    @Slot(int)
    def _on_row_blocks(self, index: int) -> None:
        self.open_blocks_editor(index)

    @Slot()
    def _on_block_presets_changed(self) -> None:
        self._show_blocks(self.state.mix)
        self._sync_blocks_editor(self.state.mix)

    @Slot(int)
    def _on_blocks_editor_finished(self, _result: int) -> None:
        # Keyboard users land back on the button they opened the editor from.
        index = self.state.mix.index_of(self._blocks_path) if self._blocks_path else -1
        if 0 <= index < len(self.rows):
            self.rows[index].blocks_button.setFocus()

    @Slot(str)
    def _on_trigger_clicked(self, word: str) -> None:
        self.trigger_word_clicked.emit(word)

    @Slot()
    def _on_add_clicked(self) -> None:
        self.add_requested.emit()

    @Slot()
    def copy_as_prompt(self) -> None:
        """Copy the mix as prompt tags; the button says "Copied" for a moment (a clipboard is silent)."""
        text = self.state.mix.to_prompt_syntax()
        if text:
            QGuiApplication.clipboard().setText(text)
        self.copy_button.setText(COPY_DONE if text else COPY_NOTHING)
        self._copy_feedback.start()

    @Slot()
    def _on_copy_feedback_timeout(self) -> None:
        self.copy_button.setText(COPY_LABEL)
