"""The log file: details and tracebacks go here, users see one sentence (core.messages).

One rotating file per process kind in the data dir's ``logs`` folder (``lorastudio.log`` for the
window and the CLI, ``engine.log`` for the engine process: two processes must not rotate the same
file). ``install_excepthook`` routes uncaught exceptions of the main thread and of worker threads
to the log and to one callback that tells the user.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

MAIN_LOG = "lorastudio.log"
ENGINE_LOG = "engine.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("lorastudio")


class _OurHandler(logging.handlers.RotatingFileHandler):
    """Marks the handler this module installed, so setting up twice replaces it."""


def setup_logging(folder: Path, filename: str = MAIN_LOG, level: int = logging.INFO) -> Path:
    """Log to ``folder/filename`` (rotating, 1 MB × 4); returns the file's path. Idempotent."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OurHandler):
            root.removeHandler(handler)
            handler.close()
    handler = _OurHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


def log_file() -> Path | None:
    """The file ``setup_logging`` opened, if any."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _OurHandler):
            return Path(handler.baseFilename)
    return None


ErrorCallback = Callable[[BaseException], None]


def install_excepthook(on_error: ErrorCallback | None = None) -> None:
    """Uncaught exceptions (main thread and ``threading`` threads) go to the log, then to
    ``on_error`` (which must not raise; it may be called from any thread)."""

    def report(exc_type: type[BaseException], exc: BaseException | None,
               tb: TracebackType | None, where: str) -> None:
        if exc is None or issubclass(exc_type, KeyboardInterrupt | SystemExit):
            return
        log.error("Uncaught exception in %s", where, exc_info=(exc_type, exc, tb))
        if on_error is not None:
            try:
                on_error(exc)
            except Exception:  # the hook must never raise itself
                log.exception("The error callback failed")

    def main_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        report(exc_type, exc, tb, "the main thread")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "a thread"
        report(args.exc_type, args.exc_value, args.exc_traceback, name)

    sys.excepthook = main_hook
    threading.excepthook = thread_hook
