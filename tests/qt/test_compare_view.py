"""CompareView: side by side and split, the split slider, zoom and pan locked between the two images."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from lorastudio.qt.widgets.compare_view import CompareMode, CompareView


def _view(qtbot) -> CompareView:  # type: ignore[no-untyped-def]
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(640, 360)
    view.set_images(Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue"), "weight 0", "weight 1")
    view.show()
    qtbot.waitExposed(view)
    return view


def _wheel(widget, at: QPointF, notches: int) -> None:  # type: ignore[no-untyped-def]
    event = QWheelEvent(at, widget.mapToGlobal(at), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def _drag(widget, start: QPointF, end: QPointF) -> None:  # type: ignore[no-untyped-def]
    for kind, pos, button, buttons in (
            (QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton),
            (QEvent.Type.MouseMove, end, Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton),
            (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(widget, QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                                                   Qt.KeyboardModifier.NoModifier))


def _colour_at(widget, x: int, y: int) -> QColor:  # type: ignore[no-untyped-def]
    return widget.grab().toImage().pixelColor(x, y)


def test_side_by_side_shows_each_image_in_its_pane(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot)
    assert view.mode() is CompareMode.SIDE_BY_SIDE
    assert view.pane_b.isVisible()
    assert not view.split_slider.isVisible()
    a, b = view.pane_a, view.pane_b
    assert _colour_at(a, a.width() // 2, a.height() // 2) == QColor("red")
    assert _colour_at(b, b.width() // 2, b.height() // 2) == QColor("blue")


def test_wheel_zoom_and_drag_pan_move_both_panes_together(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot)
    a, b = view.pane_a, view.pane_b
    assert a.size() == b.size()
    fitted = a.image_rect()
    _wheel(a, QPointF(a.width() / 4, a.height() / 4), 2)  # zoom in on pane A, off-centre
    assert view.zoom() > 1.5
    assert a.image_rect().width() > fitted.width() * 1.5
    assert b.image_rect() == a.image_rect()  # locked: B shows the same region
    # The point under the cursor stays under the cursor.
    corner = QPointF(a.width() / 4, a.height() / 4)
    before_f = (corner.x() - fitted.x()) / fitted.width()
    after = a.image_rect()
    assert abs((corner.x() - after.x()) / after.width() - before_f) < 1e-6
    moved_from = b.image_rect()
    _drag(b, QPointF(100, 100), QPointF(130, 90))  # pan on pane B
    assert b.image_rect().topLeft() - moved_from.topLeft() == QPointF(30, -10)
    assert a.image_rect() == b.image_rect()
    QApplication.sendEvent(a, QMouseEvent(QEvent.Type.MouseButtonDblClick, QPointF(5, 5), a.mapToGlobal(QPointF(5, 5)),
                                          Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                          Qt.KeyboardModifier.NoModifier))
    assert view.zoom() == 1.0
    assert a.image_rect() == fitted


def test_split_mode_shows_a_left_of_the_line_and_b_right_of_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot)
    qtbot.mouseClick(view.split_button, Qt.MouseButton.LeftButton)
    assert view.mode() is CompareMode.SPLIT
    assert not view.pane_b.isVisible()
    assert view.split_slider.isVisible()
    pane = view.pane_a
    rect = pane.image_rect()
    y = int(rect.center().y())
    view.split_slider.setValue(300)  # the user drags the slider
    assert view.split() == 0.3
    line = 0.3 * pane.width()
    image = pane.grab().toImage()
    inside_left = int(max(rect.left() + 2, line - 20))
    inside_right = int(min(rect.right() - 2, line + 20))
    assert image.pixelColor(inside_left, y) == QColor("red")
    assert image.pixelColor(inside_right, y) == QColor("blue")
    view.set_split(0.9)
    assert view.split_slider.value() == 900
    assert pane.grab().toImage().pixelColor(inside_right, y) == QColor("red")
    view.set_mode(CompareMode.SIDE_BY_SIDE)
    assert view.side_button.isChecked()
    assert view.pane_b.isVisible()
