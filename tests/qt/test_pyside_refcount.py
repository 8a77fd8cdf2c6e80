"""Guards the PySide6 pin: 6.12.0 drops a reference to None on every processEvents() and
QEventLoop.exec(), so a long session (or test run) aborts with "Fatal Python error: none_dealloc"."""

from __future__ import annotations

import sys

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def test_event_processing_keeps_none_alive(qapp: QApplication) -> None:
    before = sys.getrefcount(None)
    for _ in range(500):
        qapp.processEvents()
        loop = QEventLoop()
        QTimer.singleShot(0, loop.quit)
        loop.exec()
    assert sys.getrefcount(None) - before > -50  # 6.12.0 loses ~1500 here
