"""Start-up with a 10,000-item library, and a full scroll of the card grid (prints figures; not a test).

  PYTHONPATH=desktop QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_startup.py [--files N]

Setup (not timed): N header-realistic kohya SD1.5 LoRAs (every 10th with ~100 KB of ``ss_*``
metadata, the same generator as ``bench_library.py``) in a temp data dir, scanned and hashed once
into its catalog. Then a fresh Python process is timed from its spawn to:
  - imports done, the main window built (``lorastudio.app.create_main_window``) and shown;
  - the library model holding all N records and the grid's first paint;
  - the background warm rescan that start-up runs, finished;
  - the grid laid out to its last item, then a full scroll to the end, one page at a time, each page
    rendered with ``grab()`` (reported as total and per page).
Everything after ``show()`` is driven by QTimers in the event loop, the way a user's session runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _setup(work: Path, n: int) -> Path:
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT / "tests" / "core" / "metadata"))
    from bench_library import build_library

    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.library.scanner import hash_pending, scan
    from lorastudio.core.paths import DataDir
    from lorastudio.core.settings import Settings, save_settings

    data = DataDir(work / "data").ensure()
    t = time.perf_counter()
    build_library(data.loras, n)
    print(f"setup: generated {n} LoRA files in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    with Catalog(data.catalog_db) as catalog:
        result = scan(catalog, [data.models])
        hashed = hash_pending(catalog)
        count = catalog.count()
    print(f"setup: scanned ({result.added} added) and hashed {hashed} files in {time.perf_counter() - t:.1f} s")
    # The first-run offer of existing installs would look at this machine's home: not part of this.
    save_settings(data.settings_file, Settings(extra={"offered_existing_installs": True}))
    if count != n:
        raise SystemExit(f"catalog holds {count} records, expected {n}")
    return data.root


def _child(data_root: str, spawned: float, expected: int) -> None:
    """Runs in the timed process; prints one JSON object of seconds since ``spawned``."""
    marks: dict[str, float] = {"interpreter_ready": time.time() - spawned}

    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from lorastudio.app import create_main_window
    from lorastudio.core.paths import DataDir
    from lorastudio.qt.theme import apply_theme

    marks["imports_done"] = time.time() - spawned
    app = QApplication([sys.argv[0]])
    apply_theme(app, "dark")
    window = create_main_window(DataDir(Path(data_root)))
    marks["window_built"] = time.time() - spawned
    window.show()
    marks["show_called"] = time.time() - spawned
    panel = window.library
    grid = panel.grid
    bar = grid.verticalScrollBar()
    state = {"phase": "wait_library", "stable": 0, "max": -1, "pages": 0, "scroll_t0": 0.0}

    class FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and "first_grid_paint" not in marks:
                marks["first_grid_paint"] = time.time() - spawned
            return False

    painter_watch = FirstPaint()
    grid.viewport().installEventFilter(painter_watch)

    def on_scan_finished() -> None:
        marks.setdefault("startup_rescan_done", time.time() - spawned)

    panel.scan_finished.connect(on_scan_finished)

    def finish() -> None:
        timer.stop()
        print(json.dumps(marks | {"pages": state["pages"]}))
        window.close()
        app.quit()

    def tick() -> None:
        now = time.time() - spawned
        if state["phase"] == "wait_library":
            if window.isVisible() and panel.model.rowCount() == expected and panel.stack.currentIndex() == 1:
                marks["library_shown"] = now
                state["phase"] = "wait_layout"
        elif state["phase"] == "wait_layout":
            # The grid lays items out in batches between events; done when the last item has a place
            # and the scroll range has stopped growing.
            last = panel.model.index(expected - 1, 0)
            placed = grid.visualRect(last).isValid()
            if placed and bar.maximum() == state["max"]:
                state["stable"] += 1
            else:
                state["stable"] = 0
            state["max"] = bar.maximum()
            if state["stable"] >= 3 and "startup_rescan_done" in marks and "first_grid_paint" in marks:
                marks["grid_laid_out"] = now
                state["phase"] = "scroll"
                state["scroll_t0"] = time.perf_counter()
                grid.viewport().grab()
        elif state["phase"] == "scroll":
            bar.setValue(min(bar.value() + bar.pageStep(), bar.maximum()))
            grid.viewport().grab()  # renders the page as the screen would
            state["pages"] += 1
            if bar.value() >= bar.maximum():
                marks["full_scroll_s"] = time.perf_counter() - state["scroll_t0"]
                finish()
        if now > 600:
            marks["timed_out_in"] = now
            finish()

    timer = QTimer()
    timer.setInterval(0)  # as fast as the event loop allows: every tick is one loop iteration
    timer.timeout.connect(tick)
    timer.start()
    app.exec()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        data_root = _setup(work, args.files)
        env = dict(os.environ)
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        env["XDG_CONFIG_HOME"] = str(work / "config")  # no saved window geometry from a real session
        env["HF_HUB_CACHE"] = str(work / "hf-cache")
        env["HF_HUB_OFFLINE"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "desktop"), env.get("PYTHONPATH")]))
        spawned = time.time()
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(data_root), repr(spawned), str(args.files)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode != 0 or not lines:
            print(out.stdout[-3000:], out.stderr[-3000:], sep="\n")
            raise SystemExit(f"child process failed (exit {out.returncode})")
        m = json.loads(lines[-1])
        print(f"\nfrom process spawn, {args.files:,} items in the library:")
        for key, label in (
            ("interpreter_ready", "python interpreter ready"),
            ("imports_done", "PySide6 + lorastudio.app imported"),
            ("window_built", "main window built (catalog read, model filled)"),
            ("show_called", "window.show() returned"),
            ("library_shown", "window visible, library model holding all items"),
            ("first_grid_paint", "first paint of the card grid"),
            ("startup_rescan_done", "start-up warm rescan finished (background)"),
            ("grid_laid_out", "grid laid out to the last item"),
        ):
            if key in m:
                print(f"  {label:52s} {m[key]:7.2f} s")
        if "full_scroll_s" in m:
            pages = max(m["pages"], 1)
            print(
                f"full scroll of the grid to the end: {m['full_scroll_s']:.2f} s for {pages} pages "
                f"({m['full_scroll_s'] / pages * 1000:.1f} ms per page, each rendered with grab())"
            )
        if "timed_out_in" in m:
            print(f"gave up after {m['timed_out_in']:.0f} s")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
