"""The window opens as it was closed: its size and every panel's size, with no drift from one start
to the next (issue 16: "sizes are remembered and never change by themselves").

Each start is a fresh process, as for a user, on an offscreen screen of 1920×1200: Qt shrinks a
restored window to fit its screen, and the test session's default offscreen screen (800×800) is
smaller than the window's minimum size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lorastudio.core.paths import DataDir

DRAGS = (("workspace", 1, -60),  # a narrower library
         ("workspace", 2, 90),  # a wider image
         ("center", 1, -80),  # a taller history
         ("right", 1, 40))  # a taller generation panel


def _child(data_root: str, drag: bool) -> None:
    """One start of the window: optionally resize and drag, print the layout, close as a user does."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from lorastudio.app import create_main_window
    from lorastudio.qt.main_window import MainWindow

    MainWindow._on_warm_up_timer = lambda self: None  # type: ignore[method-assign]  # no engine process
    app = QApplication([])

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    win = create_main_window(DataDir(Path(data_root)))
    win.show()
    wait(200)
    while win.library.is_scanning():  # the status line under the library shows while it scans
        wait(50)
    wait(100)
    if drag:
        win.resize(1300, 820)
        wait(100)
        splitters = win._remembered_splitters()
        print(json.dumps({name: s.sizes() for name, s in splitters.items()}))
        for name, handle, by in DRAGS:  # what dragging a handle does to the panes either side
            sizes = splitters[name].sizes()
            sizes[handle - 1] += by
            sizes[handle] -= by
            splitters[name].setSizes(sizes)
        wait(100)
    layout = {name: s.sizes() for name, s in win._remembered_splitters().items()}
    print(json.dumps({"size": [win.width(), win.height()], "splitters": layout}))
    win.close()
    app.quit()


def _start(tmp_path: Path, data: DataDir, drag: bool = False) -> dict[str, Any]:
    screen = tmp_path / "screen.json"
    screen.write_text(json.dumps({"screens": [{"name": "big", "x": 0, "y": 0, "width": 1920, "height": 1200,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={screen}", PYTHONWARNINGS="ignore")
    done = subprocess.run([sys.executable, __file__, str(data.root), "drag" if drag else "look"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    shown: dict[str, Any] = json.loads(lines[-1])
    if drag:
        shown["undragged"] = json.loads(lines[-2])
    return shown


@pytest.mark.slow
def test_size_and_panel_sizes_survive_restarts(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    first = _start(tmp_path, data, drag=True)
    assert first.pop("size") == [1300, 820]
    undragged = first.pop("undragged")
    for name, _handle, _by in DRAGS:
        assert first["splitters"][name] != undragged[name], f"the drag did not move the {name} panels"
    assert (data.root / "window.ini").is_file()
    second = _start(tmp_path, data)
    assert second.pop("size") == [1300, 820]
    assert second == first
    third = _start(tmp_path, data)  # a start that changes nothing saves the same layout: no drift
    assert third.pop("size") == [1300, 820]
    assert third == first


def test_an_unreadable_layout_file_gives_the_default_layout(qtbot: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from lorastudio.app import create_main_window
    from lorastudio.qt.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)
    layouts = []
    garbage_file = b"\x00\xff[splitters]\nworkspace-h3=@ByteArray(xx)\ngeometry=12\n"
    for name, garbage in (("fresh", None), ("broken", garbage_file)):
        data = DataDir(tmp_path / name).ensure()
        if garbage is not None:
            (data.root / "window.ini").write_bytes(garbage)
        win = create_main_window(data)
        qtbot.addWidget(win)
        win.show()
        qtbot.waitExposed(win)
        qtbot.wait(50)
        # The library's own split follows its status line (shown while it scans): not a layout.
        layouts.append(({n: s.sizes() for n, s in win._remembered_splitters().items() if n != "library"},
                        win.size()))
        win.shutdown()
    assert layouts[0] == layouts[1]


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] == "drag")
