"""The local backend: the engine in a child process of its own.

Why a process: importing torch/diffusers and loading a model run C code that holds the GIL, so an
engine *thread* stalls the window for hundreds of milliseconds; and a crash or out-of-memory kill
in torch would take the window with it. Here the window only pickles frozen requests into a pipe.

The process starts on first use ("spawn": a clean interpreter, no forked Qt state). A reader thread
turns what it sends into events for the listener. If the process dies, the running job fails with
one sentence and the next ``submit`` starts a new process.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from lorastudio.core.backend.base import (
    Backend,
    BackendBusy,
    BackendEvent,
    BackendStopped,
    JobCancelled,
    JobFailed,
    JobRequest,
    JobResult,
    ModelList,
)
from lorastudio.core.backend.engine_process import ProcessOptions, engine_main
from lorastudio.core.messages import MessageKind

log = logging.getLogger(__name__)

_FINAL = (JobResult, JobFailed, JobCancelled)


def stop_message(exitcode: int | None) -> str:
    """One sentence for an engine process that ended on its own."""
    if exitcode is not None and exitcode < 0:
        return ("The engine process was stopped by the system (signal "
                f"{-exitcode}, often a lack of memory); the next job starts it again.")
    return f"The engine process stopped unexpectedly (exit code {exitcode}); the next job starts it again."


class LocalProcessBackend(Backend):
    name = "This computer"

    def __init__(self, options: ProcessOptions | None = None,
                 models: Callable[[], ModelList] | None = None) -> None:
        super().__init__()
        self._options = options or ProcessOptions()
        self._models = models
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._cancel_flag: Any = None
        self._job: str | None = None
        self._readers: list[threading.Thread] = []
        self._closing = False
        self.starts = 0  # how many engine processes were started (tests, the status line)

    # -- Backend -------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._job is not None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return int(proc.pid) if proc is not None and proc.pid is not None else None

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.is_alive()

    def submit(self, job_id: str, request: JobRequest) -> None:
        with self._lock:
            if self._job is not None:
                raise BackendBusy(f"Job {self._job} is still running.")
            self._start_locked()
            self._cancel_flag.clear()
            self._job = job_id
            self._send_locked(("run", job_id, request))

    def cancel(self, job_id: str) -> None:
        with self._lock:
            if self._job == job_id and self._cancel_flag is not None:
                self._cancel_flag.set()

    def warm_up(self) -> None:
        with self._lock:
            self._start_locked()
            self._send_locked(("warm_up",))

    def list_models(self) -> ModelList:
        return self._models() if self._models is not None else ModelList()

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            proc, conn, flag = self._proc, self._conn, self._cancel_flag
            self._proc = self._conn = None
        if proc is not None:
            if flag is not None:
                flag.set()
            try:
                if conn is not None:
                    conn.send(("quit",))
            except OSError:
                pass
            # The engine holds nothing to save: a process still importing torch (it reads "quit"
            # only afterwards) is killed rather than making the window wait for it.
            proc.join(timeout=3)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for reader in self._readers:
            reader.join(timeout=5)
        self._readers.clear()

    # -- the process ---------------------------------------------------------------------------
    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            return
        self._closing = False
        parent, child = self._ctx.Pipe(duplex=True)
        flag = self._ctx.Event()
        proc = self._ctx.Process(target=engine_main, args=(child, flag, self._options),
                                 name="lorastudio-engine", daemon=True)
        proc.start()
        child.close()  # the child holds its end; ours must close so EOF is seen when it dies
        self._proc, self._conn, self._cancel_flag = proc, parent, flag
        self.starts += 1
        log.info("Engine process %s started", proc.pid)
        reader = threading.Thread(target=self._read_loop, args=(proc, parent), name="engine-events", daemon=True)
        self._readers = [r for r in self._readers if r.is_alive()] + [reader]
        reader.start()

    def _send_locked(self, command: tuple[Any, ...]) -> None:
        try:
            assert self._conn is not None
            self._conn.send(command)
        except OSError as err:  # the process just died: the reader reports it
            log.warning("Could not send %s to the engine process: %s", command[0], err)

    def _read_loop(self, proc: Any, conn: Connection) -> None:
        while True:
            try:
                ready = multiprocessing.connection.wait([conn, proc.sentinel])
            except OSError:
                break
            if conn in ready:
                try:
                    event = conn.recv()
                except (EOFError, OSError):
                    break
                self._dispatch(event)
                continue
            # Only the sentinel: the process ended; deliver what it sent before dying.
            try:
                while conn.poll():
                    self._dispatch(conn.recv())
            except (EOFError, OSError):
                pass
            break
        proc.join(timeout=5)
        self._on_process_end(proc, conn)

    def _dispatch(self, event: BackendEvent) -> None:
        if isinstance(event, _FINAL):
            with self._lock:
                if self._job == event.job_id:
                    self._job = None
        self.emit(event)

    def _on_process_end(self, proc: Any, conn: Connection) -> None:
        with self._lock:
            current = self._proc is proc
            job = self._job if current else None
            if current:
                self._proc = self._conn = None
                self._job = None
            closing = self._closing
        conn.close()
        if closing or not current:
            return
        message = stop_message(proc.exitcode)
        log.error("Engine process %s ended with exit code %s", proc.pid, proc.exitcode)
        if job is not None:
            self.emit(JobFailed(job, MessageKind.ENGINE_CRASHED, message))
        self.emit(BackendStopped(message))
