"""The window's geometry and panel sizes, remembered across restarts (issue 16).

They live in ``window.ini`` in the data dir rather than in the user-wide QSettings: two data dirs
(or a test's temp dir) never share or overwrite each other's layout. Only a close writes the file,
so a layout changes when the user drags something, never by itself.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QMainWindow, QSplitter

FILE_NAME = "window.ini"


def _key(name: str, splitter: QSplitter) -> str:
    # The shape is part of the key: a splitter that gained a pane or turned starts afresh
    # instead of getting another shape's sizes.
    turn = "h" if splitter.orientation() == Qt.Orientation.Horizontal else "v"
    return f"splitters/{name}-{turn}{splitter.count()}"


class WindowLayout:
    """Saves and restores a main window's geometry and its named splitters' sizes."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def _settings(self) -> QSettings:
        return QSettings(str(self.path), QSettings.Format.IniFormat)

    def restore(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> bool:
        """Apply what the last close saved; False (nothing changed) when there is nothing, or
        the file is unreadable: the window keeps its default layout."""
        if not self.path.is_file():
            return False
        settings = self._settings()
        if settings.status() != QSettings.Status.NoError:
            return False
        geometry = settings.value("geometry")
        if isinstance(geometry, QByteArray):
            window.restoreGeometry(geometry)
        for name, splitter in splitters.items():
            state = settings.value(_key(name, splitter))
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
        return True

    def save(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> None:
        settings = self._settings()
        settings.setValue("geometry", window.saveGeometry())
        for name, splitter in splitters.items():
            # A tab never opened in this session was never laid out (all sizes 0): its saved
            # sizes from an earlier session stay.
            if sum(splitter.sizes()) > 0:
                settings.setValue(_key(name, splitter), splitter.saveState())
        settings.sync()
