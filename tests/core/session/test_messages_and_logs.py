"""Typed messages and the log file: one sentence for the user, the traceback in the log."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

from lorastudio.core import errors, messages
from lorastudio.core.logs import install_excepthook, log_file, setup_logging
from lorastudio.core.messages import Level, MessageKind


def test_exceptions_map_to_kinds_not_wording() -> None:
    assert messages.kind_of(errors.IncompatibleLoraError("x")) is MessageKind.LORA_LOAD
    assert messages.kind_of(errors.OutOfMemory("x")) is MessageKind.OUT_OF_MEMORY
    assert messages.kind_of(errors.ModelLoadError("x")) is MessageKind.MODEL_LOAD
    ours = messages.from_exception(errors.ModelLoadError("Model not found: a."))
    assert (ours.level, ours.text, ours.kind) == (Level.ERROR, "Model not found: a.", MessageKind.MODEL_LOAD)
    theirs = messages.from_exception(KeyError("unet.down_blocks.0 ... 4000 characters"))
    assert theirs.kind is MessageKind.UNEXPECTED
    assert "down_blocks" not in theirs.text
    assert "log file" in theirs.text


@pytest.fixture
def restore_hooks():  # type: ignore[no-untyped-def]
    saved = sys.excepthook, threading.excepthook
    yield
    sys.excepthook, threading.excepthook = saved
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.__class__.__name__ == "_OurHandler":
            root.removeHandler(handler)
            handler.close()


def test_uncaught_errors_in_threads_reach_the_log_and_the_callback(tmp_path: Path, restore_hooks) -> None:  # type: ignore[no-untyped-def]
    path = setup_logging(tmp_path / "logs")
    assert setup_logging(tmp_path / "logs") == path  # idempotent: one handler
    assert log_file() == path
    seen: list[BaseException] = []
    install_excepthook(seen.append)

    def boom() -> None:
        raise ValueError("worker blew up")

    t = threading.Thread(target=boom, name="worker-1")
    t.start()
    t.join()
    try:
        raise RuntimeError("main blew up")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    assert [str(e) for e in seen] == ["worker blew up", "main blew up"]
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text("utf-8")
    assert "Traceback" in text
    assert "worker-1" in text
    assert "main blew up" in text
