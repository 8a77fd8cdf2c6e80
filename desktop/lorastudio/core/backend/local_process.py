"""The local backend: the engine in a child process of its own.

Why a process: importing torch/diffusers and loading a model run C code that holds the GIL, so an
engine *thread* stalls the window for hundreds of milliseconds; and a crash or out-of-memory kill
in torch would take the window with it. Here the window only pickles frozen requests into a socket.

The process starts on first use, with the engine runtime's interpreter (#18: the window's bundle
has no torch; in a source checkout it is the window's own Python) — see engine_boot for the
handshake. A reader thread turns what it sends into events for the listener. If the process dies,
the running job fails with one sentence and the next ``submit`` starts a new process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from lorastudio.core.backend.base import (
    Backend,
    BackendBusy,
    BackendEvent,
    BackendStatus,
    BackendStopped,
    JobCancelled,
    JobFailed,
    JobRequest,
    JobResult,
    ModelList,
)
from lorastudio.core.backend.engine_process import ProcessOptions
from lorastudio.core.errors import EngineRuntimeMissing
from lorastudio.core.messages import MessageKind
from lorastudio.core.paths import runtime_command, runtime_env

log = logging.getLogger(__name__)

_FINAL = (JobResult, JobFailed, JobCancelled)
_HANDSHAKE_LIMIT = 4096  # bytes of the child's first stdout line


def stop_message(exitcode: int | None) -> str:
    """One sentence for an engine process that ended on its own."""
    if exitcode is not None and exitcode < 0:
        return ("The engine process was stopped by the system (signal "
                f"{-exitcode}, often a lack of memory); the next job starts it again.")
    return f"The engine process stopped unexpectedly (exit code {exitcode}); the next job starts it again."


def default_python() -> Path | None:
    """The window's own interpreter, unless the window is a frozen bundle (no Python to run)."""
    return None if getattr(sys, "frozen", False) else Path(sys.executable)


class LocalProcessBackend(Backend):
    name = "This computer"

    def __init__(self, options: ProcessOptions | None = None,
                 models: Callable[[], ModelList] | None = None,
                 interpreter: Callable[[], Path | None] | None = None) -> None:
        """``interpreter`` says, at each start, which Python runs the engine (the engine runtime's;
        None: none is set up yet); default: ``options.python`` or the window's own."""
        super().__init__()
        self._options = options or ProcessOptions()
        self._models = models
        self._interpreter = interpreter
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._pending: list[tuple[Any, ...]] = []  # commands sent before the process connected
        self._job: str | None = None
        self._readers: list[threading.Thread] = []
        self._closing = False
        self._retire = False  # end the process once its job is over (the engine runtime changed)
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
        return proc is not None and proc.poll() is None

    def submit(self, job_id: str, request: JobRequest) -> None:
        with self._lock:
            if self._job is not None:
                raise BackendBusy(f"Job {self._job} is still running.")
            self._start_locked()
            self._job = job_id
            self._send_locked(("run", job_id, request))

    def cancel(self, job_id: str) -> None:
        with self._lock:
            if self._job == job_id and self._proc is not None:
                self._send_locked(("cancel", job_id))

    def warm_up(self) -> None:
        with self._lock:
            try:
                self._start_locked()
            except EngineRuntimeMissing as err:  # nothing to warm: say so where the status shows
                self.emit(BackendStatus(str(err)))
                return
            self._send_locked(("warm_up",))

    def list_models(self) -> ModelList:
        return self._models() if self._models is not None else ModelList()

    def shutdown(self) -> None:
        with self._lock:
            self._closing = True
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
            self._pending.clear()
        if proc is not None:
            try:
                if conn is not None:
                    conn.send(("quit",))
            except OSError:
                pass
            _close_stdin(proc)  # the engine exits when its stdin closes, even mid-import
            # The engine holds nothing to save: a process busy in C code is killed rather than
            # making the window wait for it.
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    log.warning("Engine process %s did not exit", proc.pid)
        for reader in self._readers:
            reader.join(timeout=5)
        self._readers.clear()

    # -- the process ---------------------------------------------------------------------------
    def _start_locked(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        python = self._interpreter() if self._interpreter is not None else (self._options.python or default_python())
        if python is None:
            raise EngineRuntimeMissing(
                "No engine runtime is set up on this computer yet: set it up in File ▸ Engine runtime… "
                "(browsing, downloads and the library work without it).")
        self._closing = False
        key = os.urandom(32)
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # Windows: no console window for the engine
        try:
            proc = subprocess.Popen(runtime_command(python, "lorastudio.core.backend.engine_boot"),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, creationflags=flags,
                                    env=runtime_env())
        except OSError as err:
            raise EngineRuntimeMissing(
                f"The engine's Python could not be started ({python}: {err.strerror or err}); "
                "repair the engine runtime in File ▸ Engine runtime….") from err
        assert proc.stdin is not None
        proc.stdin.write(key.hex().encode("ascii") + b"\n")
        proc.stdin.flush()
        self._proc, self._conn = proc, None
        self.starts += 1
        log.info("Engine process %s started with %s", proc.pid, python)
        reader = threading.Thread(target=self._read_loop, args=(proc, key), name="engine-events", daemon=True)
        self._readers = [r for r in self._readers if r.is_alive()] + [reader]
        reader.start()

    def _send_locked(self, command: tuple[Any, ...]) -> None:
        if self._conn is None:  # still starting: the reader sends these once connected
            self._pending.append(command)
            return
        try:
            self._conn.send(command)
        except OSError as err:  # the process just died: the reader reports it
            log.warning("Could not send %s to the engine process: %s", command[0], err)

    def _connect(self, proc: subprocess.Popen[bytes], key: bytes) -> Connection | None:
        """Read the child's address line and connect; None when it died first."""
        assert proc.stdout is not None
        line = proc.stdout.readline(_HANDSHAKE_LIMIT)
        if not line:
            return None
        try:
            address = json.loads(line)["address"]
            conn = Client(address, authkey=key)
            conn.send(self._options)
        except (ValueError, KeyError, TypeError, OSError, EOFError) as err:
            log.error("Engine process %s: no connection (%s; it said %r)", proc.pid, err, line[:200])
            return None
        with self._lock:
            if self._proc is not proc:  # shut down meanwhile
                conn.close()
                return None
            self._conn = conn
            pending, self._pending = self._pending, []
            for command in pending:
                self._send_locked(command)
        return conn

    def _read_loop(self, proc: subprocess.Popen[bytes], key: bytes) -> None:
        conn = self._connect(proc, key)
        while conn is not None:
            try:
                event = conn.recv()
            except (EOFError, OSError):
                break
            self._dispatch(event)
        _close_stdin(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # connection lost but the process lingers: end it
            proc.kill()
            proc.wait(timeout=5)
        self._on_process_end(proc, conn)

    def restart_when_idle(self) -> bool:
        """The engine runtime changed: the next job must start from it. An idle process stops now
        (True); a busy one finishes its job first, then stops (the queue's next job starts a new one)."""
        with self._lock:
            if self._job is not None:
                self._retire = True
                return False
        self.shutdown()
        return True

    def _dispatch(self, event: BackendEvent) -> None:
        if isinstance(event, _FINAL):
            with self._lock:
                if self._job == event.job_id:
                    self._job = None
                    if self._retire:
                        self._retire_locked()
        self.emit(event)

    def _retire_locked(self) -> None:
        # Called on the reader thread, which cannot join itself: let go of the process (its reader
        # then ends quietly: it is no longer the current one) and ask it to quit.
        self._retire = False
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            try:
                conn.send(("quit",))
            except OSError:
                pass
        if proc is not None:
            _close_stdin(proc)
            log.info("Engine process %s retired: the engine runtime changed", proc.pid)

    def _on_process_end(self, proc: subprocess.Popen[bytes], conn: Connection | None) -> None:
        with self._lock:
            current = self._proc is proc
            job = self._job if current else None
            if current:
                self._proc = self._conn = None
                self._job = None
                self._pending.clear()
            closing = self._closing
        if conn is not None:
            conn.close()
        if proc.stdout is not None:
            proc.stdout.close()
        if closing or not current:
            return
        message = stop_message(proc.returncode)
        log.error("Engine process %s ended with exit code %s", proc.pid, proc.returncode)
        if job is not None:
            self.emit(JobFailed(job, MessageKind.ENGINE_CRASHED, message))
        self.emit(BackendStopped(message))


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    try:
        if proc.stdin is not None:
            proc.stdin.close()
    except OSError:
        pass
