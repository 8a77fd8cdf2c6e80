"""The downloads queue: several installs, pause/cancel/resume, kept across app restarts.

State lives in ``DataDir.downloads/queue.json``; partial data in ``downloads/partial`` (see
download.py). The queue itself runs nothing in the background: a worker (qt/workers) or the CLI
calls ``run_next`` in its own thread, and any thread may call pause/cancel/resume.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.errors import DownloadCancelled, LoraStudioError
from lorastudio.core.hub.connection import HubConnection
from lorastudio.core.hub.download import InstallResult, Progress, RateMeter, discard_partials, install
from lorastudio.core.paths import DataDir

QUEUED, RUNNING, PAUSED, FAILED, DONE, CANCELLED = "queued", "running", "paused", "failed", "done", "cancelled"
ACTIVE = (QUEUED, RUNNING)


@dataclass(frozen=True)
class QueueEntry:
    id: str
    repo_id: str
    revision: str = "main"
    files: tuple[str, ...] = ()  # empty: what one click installs (main weights or the pipeline)
    state: str = QUEUED
    message: str = ""
    current_file: str = ""
    done: int = 0
    total: int = 0
    paths: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.repo_id + (f" · {', '.join(self.files)}" if self.files else "")


@dataclass(frozen=True)
class QueueProgress:
    """What the downloads panel shows for one entry."""

    entry_id: str
    filename: str
    done: int
    total: int | None
    speed: float  # bytes per second
    eta: float | None  # seconds
    stage: str


@dataclass
class _Running:
    entry_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    discard: bool = False


class DownloadQueue:
    def __init__(self, data_dir: DataDir) -> None:
        self._data = data_dir
        self._path = data_dir.downloads / "queue.json"
        self._lock = threading.RLock()
        self._entries: list[QueueEntry] = self._load()
        self._running: _Running | None = None
        self._halted = False

    # -- persistence -------------------------------------------------------------------------------
    def _load(self) -> list[QueueEntry]:
        try:
            raw = json.loads(self._path.read_text("utf-8"))
        except (OSError, ValueError):
            return []
        entries = []
        for item in raw.get("entries", []) if isinstance(raw, dict) else []:
            try:
                entry = QueueEntry(**{**item, "files": tuple(item.get("files", ())),
                                      "paths": tuple(item.get("paths", ()))})
            except TypeError:
                continue
            if entry.state == RUNNING:  # the app stopped mid-download: resume from the partial data
                entry = replace(entry, state=QUEUED, message="Interrupted; resuming.")
            entries.append(entry)
        return entries

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_name(".queue.json.tmp")
        tmp.write_text(json.dumps({"entries": [asdict(e) for e in self._entries]}, indent=2), "utf-8")
        os.replace(tmp, self._path)

    # -- reading -----------------------------------------------------------------------------------
    def entries(self) -> list[QueueEntry]:
        with self._lock:
            return list(self._entries)

    def get(self, entry_id: str) -> QueueEntry | None:
        with self._lock:
            return next((e for e in self._entries if e.id == entry_id), None)

    def has_work(self) -> bool:
        with self._lock:
            return any(e.state == QUEUED for e in self._entries)

    def _set(self, entry_id: str, **changes: Any) -> QueueEntry | None:
        with self._lock:
            for i, e in enumerate(self._entries):
                if e.id == entry_id:
                    self._entries[i] = replace(e, **changes)
                    self._save()
                    return self._entries[i]
        return None

    # -- user actions (any thread) -------------------------------------------------------------------
    def add(self, repo_id: str, revision: str = "main", files: tuple[str, ...] | list[str] = ()) -> QueueEntry:
        with self._lock:
            for e in self._entries:  # the same request already waiting: don't queue it twice
                if (e.repo_id, e.revision, e.files) == (repo_id, revision, tuple(files)) and e.state in ACTIVE:
                    return e
            entry = QueueEntry(uuid.uuid4().hex[:12], repo_id, revision, tuple(files))
            self._entries.append(entry)
            self._save()
            return entry

    def pause(self, entry_id: str) -> None:
        """Stop now, keep the partial data for a later resume."""
        with self._lock:
            if self._running and self._running.entry_id == entry_id:
                self._running.stop.set()
            entry = self.get(entry_id)
            if entry and entry.state in ACTIVE:
                self._set(entry_id, state=PAUSED, message="Paused.")

    def cancel(self, entry_id: str) -> None:
        """Stop now and delete the partial data."""
        with self._lock:
            entry = self.get(entry_id)
            if entry is None or entry.state == DONE:
                return
            if self._running and self._running.entry_id == entry_id:
                self._running.discard = True
                self._running.stop.set()
            else:
                discard_partials(self._data, entry.repo_id, list(entry.files or (entry.current_file,)))
            self._set(entry_id, state=CANCELLED, message="Cancelled.", done=0)

    def resume(self, entry_id: str) -> None:
        entry = self.get(entry_id)
        if entry and entry.state in (PAUSED, FAILED, CANCELLED):
            self._set(entry_id, state=QUEUED, message="")

    def remove(self, entry_id: str) -> None:
        """Forget a finished, failed or cancelled entry."""
        with self._lock:
            entry = self.get(entry_id)
            if entry is None or entry.state in ACTIVE:
                return
            self._entries = [e for e in self._entries if e.id != entry_id]
            self._save()

    def stop_all(self) -> None:
        """App shutdown: stop what runs and start nothing new; it all resumes after the next start."""
        with self._lock:
            self._halted = True
            if self._running:
                self._running.stop.set()

    def allow(self) -> None:
        """Undo stop_all (a runner starting again)."""
        with self._lock:
            self._halted = False

    # -- running (one worker thread) ------------------------------------------------------------------
    def run_next(self, conn: HubConnection, on_progress: Callable[[QueueProgress], None] | None = None,
                 on_change: Callable[[QueueEntry], None] | None = None) -> QueueEntry | None:
        """Run the first queued entry to its end; returns it (None when nothing is queued)."""
        with self._lock:
            entry = next((e for e in self._entries if e.state == QUEUED), None)
            if entry is None or self._halted:
                return None
            running = self._running = _Running(entry.id)
            entry = self._set(entry.id, state=RUNNING, message="Starting…")
        assert entry is not None
        if on_change:
            on_change(entry)
        meters: dict[str, RateMeter] = {}

        def progress(p: Progress) -> None:
            if p.filename not in meters:  # a new file: a fresh speed estimate
                meters[p.filename] = RateMeter()
                self._set(entry.id, current_file=p.filename)
            meter = meters[p.filename]
            speed = meter.update(p.done) if p.stage == "download" else 0.0
            with self._lock:
                for i, e in enumerate(self._entries):  # in memory only: no disk write per chunk
                    if e.id == entry.id:
                        self._entries[i] = replace(e, done=p.done, total=p.total or 0)
            if on_progress:
                on_progress(QueueProgress(entry.id, p.filename, p.done, p.total, speed,
                                          meter.eta(p.done, p.total), p.stage))

        result: InstallResult | None = None
        try:
            result = install(self._data, entry.repo_id, entry.revision, list(entry.files) or None, conn=conn,
                             on_progress=progress, cancel=running.stop)
        except DownloadCancelled:
            if running.discard:
                current = self.get(entry.id)
                names = list(entry.files or ((current.current_file,) if current else ()))
                discard_partials(self._data, entry.repo_id, names)
                final = self._set(entry.id, state=CANCELLED, message="Cancelled.", done=0)
            elif self._halted:  # app shutdown, not the user: continue on the next start
                final = self._set(entry.id, state=QUEUED, message="Will resume on the next start.")
            else:
                final = self._set(entry.id, state=PAUSED, message="Paused.")
        except LoraStudioError as error:
            final = self._set(entry.id, state=FAILED, message=str(error))
        else:
            final = self._set(entry.id, state=DONE, message=result.message,
                              paths=tuple(str(p) for p in result.paths))
        finally:
            with self._lock:
                self._running = None
        if final is not None and on_change:
            on_change(final)
        return final

    def run_all(self, conn: HubConnection, on_progress: Callable[[QueueProgress], None] | None = None,
                on_change: Callable[[QueueEntry], None] | None = None) -> list[QueueEntry]:
        out = []
        while (done := self.run_next(conn, on_progress, on_change)) is not None:
            out.append(done)
        return out

    @property
    def path(self) -> Path:
        return self._path
