"""Noticing files that appear in or leave the library's sources while the app runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal, Slot

WATCH_DEBOUNCE_MS = 1500  # a copy in progress changes a folder many times: scan once it settles
MAX_WATCHED_FOLDERS = 256  # inotify watches are a per-user budget; deeper changes wait for focus


class LibraryFolderWatch(QObject):
    """Watches each source and its top-level subfolders (``loras/``, ``Lora/``, ...) only.

    ``timer`` is the debounce: every change restarts it. Without ``enabled`` nothing is watched
    and ``changed`` never fires.

    Signals:
        changed(): something changed in a watched folder and the changes have settled
    """

    changed = Signal()

    def __init__(self, roots: Callable[[], list[Path]], enabled: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._roots = roots
        self._watcher: QFileSystemWatcher | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(WATCH_DEBOUNCE_MS)
        self.timer.timeout.connect(self.changed)
        if enabled:
            self._watcher = QFileSystemWatcher(self)
            self._watcher.directoryChanged.connect(self._on_watcher_directory_changed)
            self.update()

    def directories(self) -> list[str]:
        return self._watcher.directories() if self._watcher is not None else []

    def update(self) -> None:
        """Follow the current sources and their top-level subfolders (new ones appear in scans)."""
        if self._watcher is None:
            return
        wanted: list[str] = []
        for root in self._roots():
            if not root.is_dir():
                continue
            wanted.append(str(root))
            try:
                with os.scandir(root) as it:
                    wanted += sorted(e.path for e in it if not e.name.startswith(".") and e.is_dir())
            except OSError:
                continue
        wanted = list(dict.fromkeys(wanted))[:MAX_WATCHED_FOLDERS]
        current = set(self._watcher.directories())
        stale = [d for d in current if d not in wanted]
        if stale:
            self._watcher.removePaths(stale)
        new = [d for d in wanted if d not in current]
        if new:
            self._watcher.addPaths(new)

    def stop(self) -> None:
        self.timer.stop()
        if self._watcher is not None:
            self._watcher.directoryChanged.disconnect(self._on_watcher_directory_changed)

    @Slot(str)
    def _on_watcher_directory_changed(self, folder: str) -> None:
        self.timer.start()
