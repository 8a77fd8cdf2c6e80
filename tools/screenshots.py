"""Take the README screenshots of the real window (offscreen is enough: every shot is ``grab()``).

  QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshots.py [OUT_DIR]
  QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshots.py OUT_DIR --blocks-only [--theme light]

Builds a fresh data dir with the demo library (its previews are rendered by the real engine),
opens the window as `lorastudio app` does, waits for the previews on the cards, mixes four LoRAs
(one made for SDXL, so flagged), generates one 128×128 image with the real engine process and
saves, into OUT_DIR (docs/screenshots by default):

  main-window.png               1440×900, dark, after the generation (the README's first picture)
  generating.png                the same, mid-generation with the live preview
  window-1024x700-{dark,light}.png, window-1440x900-light.png
  window-2560x1440-{dark,light}.png   QT_SCALE_FACTOR=2 (HiDPI): a 1280×720 window, 2560×1440 pixels
  mixer.png                     every mixer row, not just the ones the scroll area shows
  mixer-blocks.png              two rows and the Blocks editor of the first

The HiDPI shots come from a second process (the scale factor is read once, when Qt starts) that
opens the same data dir and shows the image the first one made. ``--blocks-only`` takes just
mixer-blocks.png, without generating.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROMPT = "a lighthouse at dusk, inkwash style, neon glow, dramatic sky"
SIZES = ((1024, 700), (1440, 900))
HIDPI = (1280, 720)  # logical size; at scale 2 the picture is 2560×1440


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> bool:
    """Run the event loop until ``predicate()`` holds (checked every 50 ms) or ``timeout`` s pass."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(50)

    def check() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    if not predicate():
        print(f"screenshots: gave up waiting for {what} after {timeout:.0f} s", file=sys.stderr)
        return False
    return True


def settle(ms: int = 300) -> None:
    """Let queued layout and paint events run (a row added now is laid out on the next turn)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def open_window(app: Any, data: Any, theme: str) -> Any:
    """The window as `lorastudio app` builds it: the saved theme applied first, then the window."""
    from lorastudio.app import create_main_window
    from lorastudio.core.settings import settings_store
    from lorastudio.qt.theme import apply_theme

    settings_store(data.settings_file).update(theme=theme)
    apply_theme(app, theme)
    window = create_main_window(data)
    window.show()
    wait_until(lambda: window.generation.model.count() > 0, 120, "the library scan")
    return window


def set_theme(window: Any, theme: str) -> None:
    window.session.settings.update(theme=theme)
    settle()


def wait_for_card_previews(window: Any) -> None:
    """Cards load their previews when painted: grab (which paints) until every card in view that
    has a preview file shows it."""
    model, grid = window.library.model, window.library.grid

    def loaded() -> bool:
        window.grab()
        shown = grid.viewport().rect()
        for row in range(model.rowCount()):
            record = model.record_at(row)
            if record is None or record.info.preview is None:
                continue
            if grid.visualRect(model.index(row, 0)).intersects(shown) and model.thumbnail(
                    str(record.info.preview)) is None:
                return False
        return True

    wait_until(loaded, 60, "the card previews")


def set_up_mix(window: Any, lib: Any) -> None:
    """The pipeline, a prompt, and four LoRA rows: three SD 1.x ones and an SDXL one (flagged)."""
    from lorastudio.core.engine.mix import LoraMix

    window.generation.select_model(lib.pipeline)
    window.session.mix.set(LoraMix())
    for path in (*lib.loras, window.data.loras / "demo-xl-sketch.safetensors"):
        window.add_lora(path)
    mixer = window.mixer
    mixer.rows[0].weight.spin.setValue(0.8)
    mixer.rows[1].weight.spin.setValue(0.45)
    mixer.rows[1].te_toggle.setChecked(True)
    mixer.rows[3].enabled.setChecked(False)
    g = window.generation
    g.prompt.setPlainText(PROMPT)
    g.negative.setPlainText("blurry, lowres")
    g.seed.setValue(1234)
    window.library.select_path(str(lib.loras[0]))
    settle()


def shoot(window: Any, target: Path, size: tuple[int, int]) -> None:
    window.resize(*size)
    settle()
    window.mixer.scroll.verticalScrollBar().setValue(0)
    window.grab().save(str(target))
    print(f"  {target.name}: {window.width()}×{window.height()} logical")


def blocks_shot(window: Any, target: Path) -> None:
    """The first two mixer rows and the Blocks editor of the first (OUTD with OUT04 lowered, the
    LoRA stopping at 80 % of the steps), as the editor stands below the row's Blocks button."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtGui import QColor, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication

    mixer = window.mixer
    editor = mixer.open_blocks_editor(0)
    outd = editor.combo.findText("OUTD")
    editor.combo.setCurrentIndex(outd)
    editor.combo.activated.emit(outd)
    editor.columns[[c.block for c in editor.columns].index("OUT04")].slider.setValue(60)
    editor.stop.setValue(0.8)
    mixer.rows[0].blocks_button.setFocus()  # no focus ring on the editor's first control
    settle()
    inner = mixer.scroll.widget()
    rows = inner.grab(QRect(0, 0, inner.width(), mixer.rows[1].geometry().bottom() + 1))
    pane = editor.grab()
    margin, gap = 12, 10
    ratio = rows.devicePixelRatio()
    canvas = QPixmap(round((max(rows.width() / ratio, pane.width() / ratio + margin) + margin) * ratio),
                     round((rows.height() / ratio + gap + pane.height() / ratio + margin) * ratio))
    canvas.setDevicePixelRatio(ratio)
    palette = QApplication.palette()
    canvas.fill(palette.window().color())
    painter = QPainter(canvas)
    painter.drawPixmap(0, 0, rows)
    at = QPoint(margin, round(rows.height() / ratio) + gap)
    painter.drawPixmap(at, pane)
    border = QColor(palette.text().color())
    border.setAlpha(70)  # a window edge, faint on either theme
    painter.setPen(border)
    painter.drawRect(QRect(at, editor.size()).adjusted(-1, -1, 0, 0))
    painter.end()
    canvas.save(str(target))
    editor.close()
    print(f"  {target.name}")


def generate(window: Any, out: Path) -> None:
    """One real generation; generating.png is taken when half the steps are done."""
    taken: dict[str, Any] = {"mid": False, "done": False, "failed": ""}

    def on_progress(step: int, total: int, _elapsed: float) -> None:
        if step >= max(1, total // 2) and not taken["mid"]:
            taken["mid"] = True
            window.grab().save(str(out / "generating.png"))
            print("  generating.png")

    def on_finished(*_: object) -> None:
        taken["done"] = True

    def on_failed(message: str) -> None:
        taken["failed"] = message

    window.engine.progress.connect(on_progress)
    window.engine.finished.connect(on_finished)
    window.engine.failed.connect(on_failed)
    started = time.monotonic()
    window.generation.generate_button.click()
    wait_until(lambda: bool(taken["done"] or taken["failed"]), 600, "the generation")
    if taken["failed"]:
        raise SystemExit(f"screenshots: the generation failed: {taken['failed']}")
    print(f"  generated in {time.monotonic() - started:.1f} s (engine start included)")
    settle(800)  # the history thumbnail loads in its worker


def first_run(out: Path, data: Any, blocks_only: bool, theme: str) -> None:
    from PySide6.QtWidgets import QApplication

    from lorastudio.core.engine.demo import build_demo_library

    lib = build_demo_library(data)
    app = QApplication([])
    window = open_window(app, data, theme)
    window.resize(*SIZES[1])
    wait_for_card_previews(window)
    set_up_mix(window, lib)
    if blocks_only:
        blocks_shot(window, out / "mixer-blocks.png")
    else:
        # The demo model's native 128×128 and 8 steps (the panel picked them with the model).
        generate(window, out)
        wait_for_card_previews(window)
        shoot(window, out / "main-window.png", SIZES[1])
        for name in ("dark", "light"):
            set_theme(window, name)
            for size in SIZES:
                if (name, size) != ("dark", SIZES[1]):  # that one is main-window.png
                    shoot(window, out / f"window-{size[0]}x{size[1]}-{name}.png", size)
        set_theme(window, "dark")
        window.resize(*SIZES[1])
        settle()
        window.mixer.scroll.widget().grab().save(str(out / "mixer.png"))
        print("  mixer.png")
        blocks_shot(window, out / "mixer-blocks.png")
    window.close()
    app.quit()


def hidpi_run(out: Path, data: Any) -> None:
    """Run under QT_SCALE_FACTOR=2 on the data dir of the first run: its image is in History."""
    from PySide6.QtWidgets import QApplication

    from lorastudio.core.engine.demo import build_demo_library

    lib = build_demo_library(data)  # already there: just the paths
    (data.root / "window.ini").unlink(missing_ok=True)  # default layout, not the first run's
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    app = QApplication([])
    window = open_window(app, data, "dark")
    window.resize(*HIDPI)
    wait_for_card_previews(window)
    set_up_mix(window, lib)
    history = window.history
    shown = wait_until(lambda: history.model.rowCount() > 0, 30, "the history")
    if shown:  # a user's click on the newest image shows it large
        rect = history.view.visualRect(history.model.index(0, 0))
        QTest.mouseClick(history.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        shown = wait_until(lambda: window.image_view.image() is not None, 10, "the clicked image")
    if shown:
        for name in ("dark", "light"):
            set_theme(window, name)
            shoot(window, out / f"window-2560x1440-{name}.png", HIDPI)
    window.close()
    app.quit()
    if not shown:
        raise SystemExit("screenshots: the first run's image did not show in the HiDPI window")


def main() -> None:
    parser = argparse.ArgumentParser(description="Take the README screenshots of the real window.")
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--blocks-only", action="store_true", help="only mixer-blocks.png, no generation")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark", help="for --blocks-only")
    parser.add_argument("--hidpi-data", type=Path, help=argparse.SUPPRESS)  # the second process
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    from lorastudio.core.paths import data_dir

    if args.hidpi_data is not None:
        hidpi_run(out, data_dir(args.hidpi_data))
        return
    data = data_dir(tempfile.mkdtemp(prefix="lorastudio-shots-"))
    print(f"data dir {data.root}")
    first_run(out, data, args.blocks_only, args.theme)
    if not args.blocks_only:
        env = dict(os.environ, QT_SCALE_FACTOR="2")
        subprocess.run([sys.executable, __file__, str(out), "--hidpi-data", str(data.root)], env=env, check=True)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
