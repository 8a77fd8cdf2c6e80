"""A real window in a fresh process, offscreen, and which heavy libraries that process imported.

The window's process must never import torch or the libraries built on it (#13, #18): the engine
process does that work. A test gives the part that differs — what to click, and what to report —
and gets back the finished process; its stdout ends with ``RESULT <result()> HEAVY <the heavy
modules it imported>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "diffusers", "transformers", "peft", "accelerate")

_PRELUDE = """\
import sys
sys.path.insert(0, {desktop!r})
from dataclasses import replace
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from lorastudio.app import create_main_window
from lorastudio.core.paths import data_dir

app = QApplication([])
data = data_dir({data_root!r})
win = create_main_window(data)
win.show()
out = {{}}
"""

_EPILOGUE = """
QTimer.singleShot(0, start)
QTimer.singleShot({quit_after_ms}, app.quit)
app.exec()
win.shutdown()
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("RESULT", result(), "HEAVY", heavy)
"""


def run_window(data_root: Path, body: str, *, quit_after_ms: int, timeout: int) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a new window process on ``data_root``; return the finished process.

    ``body`` sees ``app``, ``data``, ``win``, ``out`` (a dict), ``QTimer``, ``Path`` and ``replace``;
    it defines ``start()`` (called once the event loop runs) and ``result()`` (printed at the end),
    and quits ``app`` when it is done (else the window quits after ``quit_after_ms``)."""
    script = (_PRELUDE.format(desktop=str(ROOT / "desktop"), data_root=str(data_root))
              + textwrap.dedent(body)
              + _EPILOGUE.format(quit_after_ms=quit_after_ms, heavy=HEAVY))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env)
