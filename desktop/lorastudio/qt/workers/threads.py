"""Starting a one-shot worker in its own QThread: the one place widgets get threads from.

The worker is a QObject with a ``run()`` slot and a ``done`` signal emitted last. Python keeps the
worker and the thread (no deleteLater while Python holds them: PySide6 crashes on that race).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread


def start_in_thread(worker: Any, parent: QObject, on_finished: Callable[[], None]) -> QThread:
    """Move ``worker`` to a new thread and run it; ``on_finished`` (a bound slot of ``parent``'s
    thread) runs once the thread has stopped. Connect the worker's other signals first."""
    thread = QThread(parent)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.done.connect(thread.quit)
    thread.finished.connect(on_finished)
    thread.start()
    return thread
