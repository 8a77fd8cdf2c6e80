"""create_worker: a plain function off the GUI thread, its value, its error as one message,
progress and cancel."""

from __future__ import annotations

import threading
import time

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import ModelLoadError
from lorastudio.core.messages import Level, Message, MessageKind
from lorastudio.qt.workers.threads import create_worker


def test_value_comes_back_on_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    gui = threading.get_ident()
    ran_in: list[int] = []
    got: list[int] = []

    def work(a: int, b: int = 0) -> int:
        ran_in.append(threading.get_ident())
        return a + b

    worker = create_worker(work, 2, b=3)
    worker.returned.connect(lambda value: (got.append(value), ran_in.append(-threading.get_ident())))
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.start()
    assert got == [5]
    assert ran_in[0] != gui
    assert ran_in[1] == -gui
    assert worker.wait()


def test_errors_become_one_typed_message(qtbot) -> None:  # type: ignore[no-untyped-def]
    def ours() -> None:
        raise ModelLoadError("Model not found: x.")

    def theirs() -> None:
        raise KeyError("a wall of library text")

    for fn, kind in ((ours, MessageKind.MODEL_LOAD), (theirs, MessageKind.UNEXPECTED)):
        worker = create_worker(fn)
        errors: list[Message] = []
        worker.errored.connect(errors.append)
        with qtbot.waitSignal(worker.finished, timeout=10_000):
            worker.start()
        assert [(m.level, m.kind) for m in errors] == [(Level.ERROR, kind)]
        assert "wall of library text" not in errors[0].text


def test_progress_and_cancel(qtbot) -> None:  # type: ignore[no-untyped-def]
    def count(report, cancel: CancelToken) -> int:  # type: ignore[no-untyped-def]
        n = 0
        while not cancel.cancelled and n < 1000:
            n += 1
            report(n)
            time.sleep(0.005)
        return n

    worker = create_worker(count)
    seen: list[object] = []
    result: list[int] = []
    worker.progress.connect(seen.append)
    worker.returned.connect(result.append)
    worker.start()
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=10_000)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        worker.cancel()
    assert result
    assert result[0] < 1000
