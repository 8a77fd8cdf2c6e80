"""A live training-loss curve painted with QPainter (no plotting dependency)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from lorastudio.qt.theme import ACCENT


class LossCurveWidget(QWidget):
    """Loss per step as a line, with a smoothed line on top once there are enough points."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._losses: list[float] = []
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 180)

    @property
    def losses(self) -> list[float]:
        return list(self._losses)

    def clear(self) -> None:
        self._losses.clear()
        self.update()

    def add_point(self, loss: float) -> None:
        self._losses.append(float(loss))
        self.update()

    def _smoothed(self) -> list[float]:
        alpha, out, value = 0.2, [], self._losses[0]
        for loss in self._losses:
            value = alpha * loss + (1 - alpha) * value
            out.append(value)
        return out

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        text_color = palette.color(QPalette.ColorRole.PlaceholderText)
        metrics = painter.fontMetrics()
        left, bottom = metrics.horizontalAdvance("00.00") + 12, metrics.height() + 8
        plot = QRectF(left, 10, max(10, self.width() - left - 12), max(10, self.height() - bottom - 14))
        painter.setPen(QPen(palette.color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(plot)
        painter.setPen(text_color)
        if not self._losses:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss curve appears here while training")
            return
        low, high = min(self._losses), max(self._losses)
        if high - low < 1e-6:
            low, high = low - 0.5, high + 0.5
        pad = (high - low) * 0.08
        low, high = low - pad, high + pad
        count = len(self._losses)

        def point(i: int, value: float) -> QPointF:
            x = plot.left() + (plot.width() * i / max(1, count - 1))
            return QPointF(x, plot.bottom() - (value - low) / (high - low) * plot.height())

        for label, value in ((f"{high:.2f}", high), (f"{low:.2f}", low)):
            y = point(0, value).y()
            painter.drawText(QRectF(0, y - 8, left - 6, 16),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), bottom),
                         Qt.AlignmentFlag.AlignLeft, "step 1")
        painter.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), bottom),
                         Qt.AlignmentFlag.AlignRight, f"step {count}  ·  loss {self._losses[-1]:.3f}")
        accent = QColor(ACCENT)
        faint = QColor(accent)
        faint.setAlpha(110)
        for values, pen in ((self._losses, QPen(faint, 1.2)), (self._smoothed(), QPen(accent, 2.2))):
            if count == 1:
                painter.setPen(QPen(accent, 5))
                painter.drawPoint(point(0, values[0]))
                break
            path = QPainterPath(point(0, values[0]))
            for i, value in enumerate(values[1:], start=1):
                path.lineTo(point(i, value))
            painter.setPen(pen)
            painter.drawPath(path)
