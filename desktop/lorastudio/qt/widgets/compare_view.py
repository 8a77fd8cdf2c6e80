"""Two images compared: side by side, or one over the other with a split line; wheel zoom and drag
pan move both together (one shared view: the lock cannot drift).

The view is a centre point in image A's pixels and a zoom relative to "fit"; image B is drawn in
A's rectangle, so two renders of one size line up pixel for pixel.
"""

from __future__ import annotations

import enum
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QWheelEvent
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QSlider, QVBoxLayout, QWidget

from lorastudio.qt.widgets.grid_view import to_qimage

MIN_ZOOM, MAX_ZOOM = 0.1, 64.0
WHEEL_STEP = 1.25  # per notch (120 units of angle delta)


class CompareMode(enum.Enum):
    SIDE_BY_SIDE = "side"
    SPLIT = "split"


class ComparePane(QWidget):
    """Paints one image (side by side) or both around the split line; wheel/drag go to the view."""

    def __init__(self, view: CompareView, which: int) -> None:
        super().__init__(view)
        self._view = view
        self.which = which  # 0: image A, 1: image B (side by side); the split pane uses 0
        self._drag_from: QPointF | None = None
        self.setMinimumSize(120, 120)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def image_rect(self) -> QRectF:
        """Where image A's rectangle lies in this pane under the shared zoom and centre."""
        return self._view.image_rect(self.width(), self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        view = self._view
        a, b = view.images()
        rect = self.image_rect()
        smooth = rect.width() < (a.width() if a is not None else 1) * 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if view.mode() is CompareMode.SIDE_BY_SIDE:
            image = a if self.which == 0 else b
            if image is not None:
                painter.drawImage(rect, image)
            self._label(painter, view.labels()[self.which], left=True)
            return
        split_x = view.split() * self.width()
        if a is not None:
            painter.save()
            painter.setClipRect(QRectF(0, 0, split_x, self.height()))
            painter.drawImage(rect, a)
            painter.restore()
        if b is not None:
            painter.save()
            painter.setClipRect(QRectF(split_x, 0, self.width() - split_x, self.height()))
            painter.drawImage(rect, b)
            painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(split_x, 0), QPointF(split_x, self.height()))
        self._label(painter, view.labels()[0], left=True)
        self._label(painter, view.labels()[1], left=False)

    def _label(self, painter: QPainter, text: str, left: bool) -> None:
        if not text:
            return
        metrics = painter.fontMetrics()
        width = min(metrics.horizontalAdvance(text) + 12, self.width() // 2 - 8)
        box = QRectF(6 if left else self.width() - width - 6, 6, width, metrics.height() + 6)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(QColor(255, 255, 255))
        elided = metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, int(width) - 10)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, elided)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if notches:
            self._view.zoom_at(WHEEL_STEP ** notches, event.position(), self.width(), self.height())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() is Qt.MouseButton.LeftButton:
            self._drag_from = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._drag_from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            delta = event.position() - self._drag_from
            self._drag_from = event.position()
            self._view.pan_by(delta, self.width(), self.height())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._drag_from = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self._view.fit()
        event.accept()


class CompareView(QWidget):
    """Signals: ``view_changed()`` after a zoom, pan, split or mode change."""

    view_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._a: QImage | None = None
        self._b: QImage | None = None
        self._labels = ("", "")
        self._mode = CompareMode.SIDE_BY_SIDE
        self._split = 0.5
        self._zoom = 1.0  # 1 = fit the pane
        self._center: QPointF | None = None  # in image A's pixels; None = its middle

        self.side_button = QRadioButton("Side by side")
        self.split_button = QRadioButton("Split")
        self.side_button.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.side_button)
        group.addButton(self.split_button)
        self.side_button.toggled.connect(self._on_mode_toggled)
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 1000)
        self.split_slider.setValue(500)
        self.split_slider.setToolTip("Where image A ends and image B begins.")
        self.split_slider.valueChanged.connect(self._on_split_moved)
        self.split_slider.hide()
        hint = QLabel("Wheel: zoom · drag: pan · double-click: fit")
        hint.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.side_button)
        bar.addWidget(self.split_button)
        bar.addWidget(self.split_slider, 1)
        bar.addStretch(0)
        bar.addWidget(hint)

        self.pane_a = ComparePane(self, 0)
        self.pane_b = ComparePane(self, 1)
        panes = QHBoxLayout()
        panes.setSpacing(4)
        panes.addWidget(self.pane_a, 1)
        panes.addWidget(self.pane_b, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(panes, 1)

    # -- content -------------------------------------------------------------------------------
    def set_images(self, a: QImage | Any, b: QImage | Any, label_a: str = "", label_b: str = "") -> None:
        """Compare ``a`` (left) with ``b`` (right); QImage or PIL. The view resets to fit."""
        self._a, self._b = to_qimage(a), to_qimage(b)
        self._labels = (label_a, label_b)
        self.fit()

    def images(self) -> tuple[QImage | None, QImage | None]:
        return self._a, self._b

    def labels(self) -> tuple[str, str]:
        return self._labels

    # -- mode and split ------------------------------------------------------------------------
    def mode(self) -> CompareMode:
        return self._mode

    def set_mode(self, mode: CompareMode) -> None:
        if mode is self._mode:
            return
        self._mode = mode
        (self.side_button if mode is CompareMode.SIDE_BY_SIDE else self.split_button).setChecked(True)
        self.pane_b.setVisible(mode is CompareMode.SIDE_BY_SIDE)
        self.split_slider.setVisible(mode is CompareMode.SPLIT)
        self._changed()

    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        """The split line's place across the pane, 0 (all B) to 1 (all A)."""
        fraction = min(1.0, max(0.0, fraction))
        self.split_slider.blockSignals(True)  # no echo back into _on_split_moved
        self.split_slider.setValue(round(fraction * 1000))
        self.split_slider.blockSignals(False)
        if abs(fraction - self._split) > 1e-9:
            self._split = fraction
            self._changed()

    def _on_mode_toggled(self, side: bool) -> None:
        self.set_mode(CompareMode.SIDE_BY_SIDE if side else CompareMode.SPLIT)

    def _on_split_moved(self, value: int) -> None:
        if abs(value / 1000 - self._split) > 1e-9:
            self._split = value / 1000
            self._changed()

    # -- zoom and pan (shared by both panes) ---------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def center(self) -> QPointF:
        if self._center is not None:
            return QPointF(self._center)
        a = self._a
        return QPointF(a.width() / 2, a.height() / 2) if a is not None else QPointF(0, 0)

    def fit(self) -> None:
        self._zoom = 1.0
        self._center = None
        self._changed()

    def scale(self, width: int, height: int) -> float:
        """Screen pixels per image pixel in a pane of ``width`` × ``height``."""
        a = self._a
        if a is None or a.isNull():
            return 1.0
        return min(width / a.width(), height / a.height()) * self._zoom

    def image_rect(self, width: int, height: int) -> QRectF:
        a = self._a
        if a is None:
            return QRectF()
        s = self.scale(width, height)
        c = self.center()
        return QRectF(width / 2 - c.x() * s, height / 2 - c.y() * s, a.width() * s, a.height() * s)

    def zoom_at(self, factor: float, at: QPointF, width: int, height: int) -> None:
        """Zoom by ``factor`` keeping the image point under ``at`` (pane coordinates) in place."""
        if self._a is None:
            return
        old = self.scale(width, height)
        c = self.center()
        under = QPointF(c.x() + (at.x() - width / 2) / old, c.y() + (at.y() - height / 2) / old)
        self._zoom = min(MAX_ZOOM, max(MIN_ZOOM, self._zoom * factor))
        new = self.scale(width, height)
        self._center = QPointF(under.x() - (at.x() - width / 2) / new, under.y() - (at.y() - height / 2) / new)
        self._changed()

    def pan_by(self, delta: QPointF, width: int, height: int) -> None:
        """Move the picture by ``delta`` screen pixels."""
        if self._a is None:
            return
        s = self.scale(width, height)
        c = self.center()
        self._center = QPointF(c.x() - delta.x() / s, c.y() - delta.y() / s)
        self._changed()

    def _changed(self) -> None:
        self.pane_a.update()
        self.pane_b.update()
        self.view_changed.emit()
