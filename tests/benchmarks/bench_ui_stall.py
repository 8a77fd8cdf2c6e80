"""How responsive the window stays while the engine works (prints figures; not a test).

  QT_QPA_PLATFORM=offscreen python tests/benchmarks/bench_ui_stall.py [--steps N] [--size PX]

A 5 ms QTimer runs on the GUI thread; the longest gap between its ticks while the engine thread
(1) starts (imports torch/diffusers, loads the model) and (2) generates is the longest stall a
user would feel. Also reports the time from process start to the window shown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--size", type=int, default=256)
    args = p.parse_args()

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from lorastudio.app import create_main_window
    from lorastudio.core.paths import data_dir

    tmp = Path(tempfile.mkdtemp())
    app = QApplication([])
    data = data_dir(tmp).ensure()
    window = create_main_window(data)
    window.show()
    app.processEvents()
    shown = time.perf_counter() - T0
    heavy = [m for m in ("torch", "diffusers") if m in sys.modules]
    print(f"window shown {shown:.2f} s after process start; heavy modules imported before: {heavy or 'none'}")

    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    phase = {"name": "startup: engine warm-up (torch/diffusers imports)"}
    by_phase: dict[str, list[float]] = {}

    def tick() -> None:
        gap = clock.restart()
        gaps.append(gap)
        by_phase.setdefault(phase["name"], []).append(gap)

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()

    def start_demo() -> None:
        phase["name"] = "demo library build"
        window.engine.build_demo()

    def on_demo(_: object) -> None:
        window.library.rescan()
        QTimer.singleShot(1500, start_generation)

    def start_generation() -> None:
        g = window.generation
        g.steps.setValue(args.steps)
        g.width_box.setValue(args.size)
        g.height_box.setValue(args.size)
        g.prompt.setPlainText("a lighthouse at dusk")
        for lora in sorted(data.loras.glob("*.safetensors"))[:2]:
            window.mixer.add_lora(lora)
        phase["name"] = "model load + generation"
        window.generation.generate_button.click()

    def on_finished(*_: object) -> None:
        if phase["name"] == "model load + generation":
            phase["name"] = "idle"
            QTimer.singleShot(300, second_generation)
            return
        phase["name"] = "done"
        QTimer.singleShot(100, app.quit)

    def second_generation() -> None:
        window.mixer.rows[0].weight.spin.setValue(0.3)  # a slider move: no reload
        phase["name"] = "generation after a slider change"
        window.generation.generate_button.click()

    window.engine.demo_built.connect(on_demo)
    window.engine.finished.connect(on_finished)
    window.engine.failed.connect(lambda m: (print("failed:", m), app.quit()))
    def on_status(text: str) -> None:
        if text == "Engine ready" and phase["name"].startswith("startup"):
            QTimer.singleShot(0, start_demo)

    window.engine.status.connect(on_status)
    app.exec()
    window.shutdown()
    for name in ("startup: engine warm-up (torch/diffusers imports)", "demo library build",
                 "model load + generation", "generation after a slider change"):
        g = by_phase.get(name, [0.0])
        print(f"{name}: longest GUI stall {max(g):.0f} ms, median tick {statistics.median(g):.1f} ms "
              f"(timer interval 5 ms, {len(g)} ticks)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
