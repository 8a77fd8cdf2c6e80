"""The text adapter mixer: add PEFT adapters, one weight slider each, mismatched ones flagged."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.text.mix import TextMix
from lorastudio.core.text.models import AdapterFit, AdapterInfo
from lorastudio.qt.widgets.row_list import scrolling_rows
from lorastudio.qt.widgets.weight_editor import WeightEditor


class TextAdapterRow(QFrame):
    """One adapter of the mix. Signals: weight_changed(str path, float), remove_requested(str path)."""

    weight_changed = Signal(str, float)
    remove_requested = Signal(str)

    def __init__(self, adapter: AdapterInfo, fit: AdapterFit | None, weight: float = 1.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.adapter = adapter
        self.path = str(adapter.path)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.name = QLabel(f"<b>{adapter.name}</b>")
        self.details = QLabel(f"r={adapter.rank} · α={adapter.alpha:g} · {', '.join(adapter.target_modules)}")
        self.details.setObjectName("muted")
        self.badge = QLabel()
        self.badge.setObjectName("badge")
        self.editor = WeightEditor("Weight")
        self.slider, self.spin = self.editor.slider, self.editor.spin
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip("Remove from the mix")
        remove.setAutoRaise(True)

        top = QHBoxLayout()
        top.addWidget(self.name)
        top.addWidget(self.badge)
        top.addStretch(1)
        top.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 6, 6)
        layout.setSpacing(3)
        layout.addLayout(top)
        layout.addWidget(self.details)
        layout.addWidget(self.editor)

        self.editor.value_changed.connect(self._on_weight_changed)
        self.editor.reset_requested.connect(self._on_weight_reset)
        remove.clicked.connect(self._on_remove)
        self.set_weight(weight)
        self.set_fit(fit)

    @property
    def usable(self) -> bool:
        return self.slider.isEnabled()

    def weight(self) -> float:
        return round(self.spin.value(), 2)

    def set_weight(self, weight: float) -> None:
        self.editor.set_value(weight)

    def set_fit(self, fit: AdapterFit | None) -> None:
        """Show whether the adapter fits the chosen model; a misfit can't be weighted."""
        ok = fit is None or fit.fits
        self.editor.setEnabled(ok)
        if fit is None:
            self.badge.hide()
            return
        self.badge.show()
        self.badge.setProperty("warn", not ok or bool(fit.warning))
        self.badge.setProperty("ok", ok and not fit.warning)
        self.badge.setText("doesn't fit" if not ok else ("other base" if fit.warning else "fits"))
        self.badge.setToolTip(fit.problem if not ok else
                              (f"Trained on {self.adapter.base_name}; its layers fit this model."
                               if fit.warning else f"Trained on {self.adapter.base_name}."))
        self.badge.style().unpolish(self.badge)
        self.badge.style().polish(self.badge)

    @Slot(float)
    def _on_weight_changed(self, value: float) -> None:
        self.weight_changed.emit(self.path, self.weight())

    @Slot()
    def _on_weight_reset(self) -> None:
        self.set_weight(1.0)
        self.weight_changed.emit(self.path, self.weight())

    @Slot()
    def _on_remove(self) -> None:
        self.remove_requested.emit(self.path)


class TextMixerPanel(QWidget):
    """Pick adapters and weight them. Signals: mix_changed(object TextMix), merge_requested()."""

    mix_changed = Signal(object)
    merge_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._available: dict[str, AdapterInfo] = {}
        self._fits: dict[str, AdapterFit] = {}
        self._rows: dict[str, TextAdapterRow] = {}
        self._mix = TextMix()

        title = QLabel("Adapters")
        title.setObjectName("sectionTitle")
        self.picker = QComboBox()
        self.picker.setMinimumContentsLength(14)
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.add_button = QPushButton("Add")
        self.empty = QLabel("No adapter in the mix: the base model generates on its own.")
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        scroll, self.rows_box = scrolling_rows(self.empty)
        self.merge_button = QPushButton("Merge mix into a new model…")
        self.merge_button.setToolTip("Fold the weighted adapters into a standalone model folder "
                                     "(merge_and_unload) that plain transformers loads")

        pick_row = QHBoxLayout()
        pick_row.addWidget(self.picker, 1)
        pick_row.addWidget(self.add_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(title)
        layout.addLayout(pick_row)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.merge_button)

        self.add_button.clicked.connect(self._on_add_clicked)
        self.merge_button.clicked.connect(self._on_merge_clicked)
        self._refresh_controls()

    @property
    def mix(self) -> TextMix:
        return self._mix

    @property
    def rows(self) -> list[TextAdapterRow]:
        return list(self._rows.values())

    def set_adapters(self, adapters: list[AdapterInfo], fits: dict[str, AdapterFit]) -> None:
        """The adapters one can add, with their fit to the chosen model (by folder path)."""
        self._available = {str(a.path): a for a in adapters}
        self._fits = fits
        with QSignalBlocker(self.picker):
            self.picker.clear()
            for adapter in adapters:
                fit = fits.get(str(adapter.path))
                suffix = "" if fit is None or fit.fits else "  (doesn't fit this model)"
                self.picker.addItem(f"{adapter.name}{suffix}", str(adapter.path))
            self.picker.setCurrentIndex(0 if adapters else -1)
        for path, row in self._rows.items():
            row.set_fit(fits.get(path))
        self._emit_mix()
        self._refresh_controls()

    def add_adapter(self, path: str | Path, weight: float = 1.0) -> TextAdapterRow | None:
        key = str(path)
        adapter = self._available.get(key)
        if adapter is None or key in self._rows:
            return self._rows.get(key)
        row = TextAdapterRow(adapter, self._fits.get(key), weight)
        row.weight_changed.connect(self._on_row_weight_changed)
        row.remove_requested.connect(self._on_row_remove)
        self._rows[key] = row
        self.rows_box.addWidget(row)
        self._emit_mix()
        self._refresh_controls()
        return row

    def set_weight(self, path: str | Path, weight: float) -> None:
        row = self._rows.get(str(path))
        if row is not None:
            row.set_weight(weight)
            self._emit_mix()

    def _emit_mix(self) -> None:
        mix = TextMix(tuple((p, r.weight()) for p, r in self._rows.items() if r.usable))
        if mix != self._mix:
            self._mix = mix
            self.mix_changed.emit(mix)
        self.merge_button.setEnabled(bool(mix.active))

    def _refresh_controls(self) -> None:
        self.empty.setVisible(not self._rows)
        self.add_button.setEnabled(self.picker.count() > 0)
        self.merge_button.setEnabled(bool(self._mix.active))
        self.picker.setPlaceholderText("No adapters yet: train one")  # shown only while empty

    @Slot()
    def _on_add_clicked(self) -> None:
        path = self.picker.currentData()
        if path:
            self.add_adapter(path)

    @Slot(str, float)
    def _on_row_weight_changed(self, path: str, weight: float) -> None:
        self._emit_mix()

    @Slot(str)
    def _on_row_remove(self, path: str) -> None:
        row = self._rows.pop(path, None)
        if row is not None:
            self.rows_box.removeWidget(row)
            row.deleteLater()
        self._emit_mix()
        self._refresh_controls()

    @Slot()
    def _on_merge_clicked(self) -> None:
        self.merge_requested.emit()
