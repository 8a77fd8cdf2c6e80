"""A weight as a slider plus an editable number (LoRA mixers, image and text).

Both take the mouse wheel only when focused (wheel_guard): in the row list the wheel scrolls."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from lorastudio.qt.widgets.wheel_guard import FocusWheelSlider, FocusWheelSpinBox

SLIDER_SCALE = 100  # slider ticks per 1.0 of weight
SLIDER_RANGE = 2.0  # the slider's default span is ±2; typing a bigger number widens it
TYPED_LIMIT = 10.0


class WeightEditor(QWidget):
    """A slider and a spin box showing one weight. Signals: value_changed(float), reset_requested()."""

    value_changed = Signal(float)
    reset_requested = Signal()

    def __init__(self, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = FocusWheelSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(int(-SLIDER_RANGE * SLIDER_SCALE), int(SLIDER_RANGE * SLIDER_SCALE))
        self.slider.setPageStep(10)
        self.slider.setToolTip("Drag to set the weight; double-click the number to reset")
        self.spin = FocusWheelSpinBox()
        self.spin.setRange(-TYPED_LIMIT, TYPED_LIMIT)
        self.spin.setSingleStep(0.05)
        self.spin.setDecimals(2)
        self.spin.setFixedWidth(72)
        self.spin.setAccessibleName(label)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = caption = QLabel(label)
        caption.setObjectName("muted")
        caption.setFixedWidth(44)
        lay.addWidget(caption)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.spin.valueChanged.connect(self._on_spin_changed)
        self.spin.installEventFilter(self)

    def set_value(self, value: float) -> None:
        """Show ``value`` without echoing it back as an edit."""
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self._widen_slider(value)
            self.spin.setValue(value)
            self.slider.setValue(round(value * SLIDER_SCALE))

    def value(self) -> float:
        return self.spin.value()

    @Slot(int)
    def _on_slider_moved(self, ticks: int) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(ticks / SLIDER_SCALE)
        self.value_changed.emit(ticks / SLIDER_SCALE)

    def _widen_slider(self, value: float) -> None:
        span = max(SLIDER_RANGE, float(int(abs(value) + 0.999)))
        if span * SLIDER_SCALE != self.slider.maximum():
            self.slider.setRange(int(-span * SLIDER_SCALE), int(span * SLIDER_SCALE))

    @Slot(float)
    def _on_spin_changed(self, value: float) -> None:
        with QSignalBlocker(self.slider):
            self._widen_slider(value)
            self.slider.setValue(round(value * SLIDER_SCALE))
        self.value_changed.emit(value)

    def mouseDoubleClickEvent(self, event: object) -> None:
        self.reset_requested.emit()

    def eventFilter(self, obj: object, event: object) -> bool:
        from PySide6.QtCore import QEvent

        if obj is self.spin and getattr(event, "type", lambda: None)() == QEvent.Type.MouseButtonDblClick:
            self.reset_requested.emit()
            return True
        return False
