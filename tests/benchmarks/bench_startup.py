"""Start-up with a big library, and search-as-you-type over it (prints figures; not a test).

  PYTHONPATH=desktop QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_startup.py \
      [--files 10000 50000] [--scroll]

Setup per size (not timed): a data dir whose catalog holds N LoRA records (two bases, trigger
words, ranks, hashes: what a scanned library holds) for N small files on disk with the same size
and mtime, so the start-up rescan finds them unchanged, exactly as in a real warm start.

Timed, each in a fresh process, from its spawn (``python`` + imports included):
  - an empty data dir: the baseline window;
  - the N-item library, first start (no first-screen snapshot yet);
  - the N-item library, next start (the snapshot the first start left).
Marks: window shown; first paint of the card grid (and how many rows it had); the model holding
all N records; the start-up warm rescan done. Then, with everything loaded, search-as-you-type:
for each query the time from the (debounced) query change to the grid's repaint with the new
rows, and the longest time the GUI thread did not get back to its event loop meanwhile. Peak RSS
of the window process last. ``--scroll`` adds a full scroll of the grid, page by page (slow at 50k).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUERIES = ("l", "lo", "lora_0", "lora_01", "lora_012", "neon", "", "watercolor style", "")


def _setup(work: Path, n: int) -> Path:
    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.metadata.detect import FileInfo
    from lorastudio.core.paths import DataDir
    from lorastudio.core.settings import Settings, save_settings
    from lorastudio.core.types import BaseArch, LoraFormat, ModelKind

    data = DataDir(work / "data").ensure()
    t = time.perf_counter()
    rng = random.Random(1)
    words = ["neon glow", "watercolor style", "ink wash", "1girl", "pixel art", "film grain", "portrait"]
    blob = b"\0" * 1024
    items = []
    for i in range(n):
        folder = data.loras / f"set{i // 500:03d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"lora_{i:05d}.safetensors"
        path.write_bytes(blob)
        st = path.stat()
        info = FileInfo(
            path=path,
            kind=ModelKind.LORA,
            base=BaseArch.SDXL if i % 3 == 0 else BaseArch.SD1,
            lora_format=LoraFormat.KOHYA,
            size=st.st_size,
            mtime=st.st_mtime,
            rank=rng.choice((4, 8, 16, 32)),
            alpha=4.0,
            trains_unet=True,
            trains_text_encoder=True,
            trigger_words=tuple(rng.sample(words, 2)),
            title=f"lora_{i:05d}",
            network="lora",
            base_signal="metadata",
            tensor_count=792,
        )
        items.append((info, data.models, st.st_mtime_ns))
    with Catalog(data.catalog_db) as catalog:
        catalog.upsert_many(items)
        with catalog.conn:  # hashed already: start-up hashes nothing, as in a settled library
            catalog.conn.execute(
                "UPDATE files SET sha256 = lower(hex(randomblob(32))), addnet = lower(hex(randomblob(32)))"
            )
        count = catalog.count()
    # The first-run offer of existing installs would look at this machine's home: not part of this.
    save_settings(data.settings_file, Settings(extra={"offered_existing_installs": True}))
    if count != n:
        raise SystemExit(f"catalog holds {count} records, expected {n}")
    print(f"setup: {n:,} files and catalog records in {time.perf_counter() - t:.1f} s")
    return data.root


def _child(data_root: str, spawned: float, expected: int, scroll: bool) -> None:
    """Runs in the timed process; prints one JSON object (seconds since ``spawned``)."""
    marks: dict[str, object] = {"interpreter_ready": time.time() - spawned}

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
    marks["rows_at_build"] = window.library.model.rowCount()
    window.show()
    marks["show_called"] = time.time() - spawned
    panel = window.library
    grid = panel.grid
    model = panel.model
    bar = grid.verticalScrollBar()
    state: dict[str, object] = {"phase": "wait_library", "pages": 0, "last_paint": 0.0, "q": 0, "t0": 0.0}
    filters: list[dict[str, float]] = []
    ticks = {"last": 0.0, "max_gap": 0.0}

    class PaintWatch(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                now = time.time() - spawned
                marks.setdefault("first_window_paint", now)
                if obj is not grid.viewport():
                    return False
                state["last_paint"] = now
                if "first_grid_paint" not in marks and model.rowCount():
                    marks["first_grid_paint"] = now
                    marks["rows_at_first_paint"] = model.rowCount()
            return False

    watch = PaintWatch()
    app.installEventFilter(watch)  # every widget's paint: the first one says the window is up
    panel.scan_finished.connect(lambda: marks.setdefault("startup_rescan_done", time.time() - spawned))

    def finish() -> None:
        timer.stop()
        marks["filters"] = filters
        marks["pages"] = state["pages"]
        marks["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(marks))
        window.close()
        app.quit()

    def start_query() -> None:
        q = QUERIES[int(state["q"])]  # type: ignore[call-overload]
        ticks["max_gap"] = 0.0
        state["t0"] = time.time() - spawned
        t = time.perf_counter()
        panel.search.setText(q)  # what typing does; the debounce timer is then fired at once
        panel.toolbar._search_timer.stop()
        panel.toolbar.query_changed.emit()
        state["handler_s"] = time.perf_counter() - t
        state["phase"] = "wait_filter"

    def tick() -> None:
        now = time.time() - spawned
        if ticks["last"]:
            ticks["max_gap"] = max(ticks["max_gap"], now - ticks["last"])
        ticks["last"] = now
        phase = state["phase"]
        if phase == "wait_library":
            shown = panel.stack.currentIndex() == (1 if expected else 0)
            if model.rowCount() == expected and shown and "library_full" not in marks:
                marks["library_full"] = now
            if "library_full" in marks and "startup_rescan_done" in marks and not panel.is_scanning():
                if not expected:
                    finish()
                    return
                state["phase"] = "settle"
                state["settle_until"] = now + 0.5
        elif phase == "settle":
            if now >= state["settle_until"]:  # type: ignore[operator]
                start_query()
        elif phase == "wait_filter":
            if not model.is_filtering() and "done_t" not in state:
                # The rows are known; ask for a paint (a query that keeps every row repaints nothing
                # by itself) and time the first paint from here on.
                state["done_t"] = now
                grid.viewport().update()
            if "done_t" in state and float(state["last_paint"]) >= float(state["done_t"]):  # type: ignore[arg-type]
                del state["done_t"]
                filters.append(
                    {
                        "query": QUERIES[int(state["q"])],  # type: ignore[call-overload, dict-item]
                        "rows": model.rowCount(),
                        "to_repaint_ms": (float(state["last_paint"]) - float(state["t0"])) * 1000,  # type: ignore[arg-type]
                        "longest_stall_ms": max(ticks["max_gap"], float(state["handler_s"])) * 1000,  # type: ignore[arg-type]
                    }
                )
                state["q"] = int(state["q"]) + 1  # type: ignore[call-overload]
                if int(state["q"]) < len(QUERIES):  # type: ignore[call-overload]
                    state["phase"] = "settle"
                    state["settle_until"] = now + 0.2
                elif scroll:
                    state["phase"] = "scroll"
                    state["scroll_t0"] = time.perf_counter()
                else:
                    finish()
        elif phase == "scroll":
            bar.setValue(min(bar.value() + bar.pageStep(), bar.maximum()))
            grid.viewport().grab()  # renders the page as the screen would
            state["pages"] = int(state["pages"]) + 1  # type: ignore[call-overload]
            if bar.value() >= bar.maximum():
                marks["full_scroll_s"] = time.perf_counter() - float(state["scroll_t0"])  # type: ignore[arg-type]
                finish()
        if now > 600:
            marks["timed_out_in"] = now
            finish()

    timer = QTimer()
    # Every millisecond: fine enough to see a stall of a frame (16 ms), idle enough that the GUI
    # thread does not compete with the catalog worker for the GIL (a 0 ms timer would).
    timer.setInterval(1)
    timer.timeout.connect(tick)
    timer.start()
    app.exec()


def _run_child(data_root: Path, work: Path, n: int, scroll: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["XDG_CONFIG_HOME"] = str(work / "config")  # no saved window geometry from a real session
    env["HF_HUB_CACHE"] = str(work / "hf-cache")
    env["HF_HUB_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "desktop"), env.get("PYTHONPATH")]))
    spawned = time.time()
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data_root), repr(spawned), str(n), "1" if scroll else "0"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        print(out.stdout[-3000:], out.stderr[-3000:], sep="\n")
        raise SystemExit(f"child process failed (exit {out.returncode})")
    result: dict[str, object] = json.loads(lines[-1])
    return result


def _print(title: str, m: dict[str, object]) -> None:
    print(f"\n{title}")
    for key, label in (
        ("imports_done", "PySide6 + lorastudio.app imported"),
        ("window_built", "main window built"),
        ("show_called", "window.show() returned"),
        ("first_window_paint", "first paint of the window"),
        ("first_grid_paint", "first paint of the card grid"),
        ("library_full", "model holding every record"),
        ("startup_rescan_done", "start-up warm rescan finished (background)"),
    ):
        if key in m:
            extra = f"  ({m['rows_at_first_paint']:,} rows)" if key == "first_grid_paint" else ""
            print(f"  {label:46s} {float(m[key]):7.2f} s{extra}")  # type: ignore[arg-type]
    if "rows_at_build" in m:
        print(f"  rows in the model when the window was built: {m['rows_at_build']:,}")
    filters = m.get("filters") or []
    if filters:
        print("  search-as-you-type (debounce excluded): query -> rows, to repaint, longest GUI stall")
        for f in filters:  # type: ignore[union-attr]
            print(
                f"    {f['query']!r:20s} {f['rows']:>7,}  {f['to_repaint_ms']:6.1f} ms  {f['longest_stall_ms']:6.1f} ms"
            )
    if "full_scroll_s" in m:
        pages = max(int(m["pages"]), 1)  # type: ignore[call-overload]
        print(f"  full scroll: {float(m['full_scroll_s']):.2f} s for {pages} pages")  # type: ignore[arg-type]
    print(f"  peak RSS of the window process: {float(m['peak_rss_mb']):.0f} MB")  # type: ignore[arg-type]
    if "timed_out_in" in m:
        print(f"  gave up after {float(m['timed_out_in']):.0f} s")  # type: ignore[arg-type]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[10_000])
    parser.add_argument("--scroll", action="store_true", help="also scroll the grid to the end, page by page")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dirs")
    args = parser.parse_args()
    one, five, _ = os.getloadavg()
    print(f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        from lorastudio.core.paths import DataDir

        empty = DataDir(work / "empty").ensure()
        _print("empty data dir, from process spawn:", _run_child(empty.root, work, 0, False))
        for n in args.files:
            data_root = _setup(work / f"lib-{n}", n)
            first = _run_child(data_root, work, n, False)
            _print(f"{n:,} items, first start (no first-screen snapshot yet), from process spawn:", first)
            again = _run_child(data_root, work, n, args.scroll)
            _print(f"{n:,} items, next start (last session's first screen), from process spawn:", again)
            if not args.keep:
                shutil.rmtree(work / f"lib-{n}", ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    one, five, _ = os.getloadavg()
    print(f"\nload average {one:.2f} (1 min), {five:.2f} (5 min)")


if __name__ == "__main__":
    main()
