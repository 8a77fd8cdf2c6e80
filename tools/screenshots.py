"""Take the README screenshots of the real window (run under Xvfb; see tools/screenshots.sh).

  xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python tools/screenshots.py OUT_DIR
  QT_QPA_PLATFORM=offscreen .venv/bin/python tools/screenshots.py OUT_DIR --blocks-only [--theme light]

Builds a temp data dir with the demo library, opens the window as `lorastudio app` does, mixes
three LoRAs (one made for SDXL, so flagged), generates, and saves: main-window.png (after the
generation), generating.png (mid-generation with the live preview), mixer.png (all mixer rows),
mixer-blocks.png (two rows and the Blocks editor of the first). ``--blocks-only`` takes just the
last one, without generating (offscreen is enough: it is composed from the widgets' own pixels).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def blocks_shot(window: object, target: Path) -> None:
    """The first two mixer rows and the Blocks editor of the first (OUTD with OUT04 lowered, the
    LoRA stopping at 80 % of the steps), as the editor stands below the row's Blocks button."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtGui import QColor, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication, QScrollArea

    mixer = window.mixer  # type: ignore[attr-defined]
    editor = mixer.open_blocks_editor(0)
    outd = editor.combo.findText("OUTD")
    editor.combo.setCurrentIndex(outd)
    editor.combo.activated.emit(outd)
    editor.columns[[c.block for c in editor.columns].index("OUT04")].slider.setValue(60)
    editor.stop.setValue(0.8)
    mixer.rows[0].blocks_button.setFocus()  # no focus ring on the editor's first control
    QApplication.processEvents()
    inner = mixer.findChild(QScrollArea).widget()
    rows = inner.grab(QRect(0, 0, inner.width(), mixer.rows[1].geometry().bottom() + 1))
    pane = editor.grab()
    margin, gap = 12, 10
    canvas = QPixmap(max(rows.width(), pane.width() + margin) + margin, rows.height() + gap + pane.height() + margin)
    palette = QApplication.palette()
    canvas.fill(palette.window().color())
    painter = QPainter(canvas)
    painter.drawPixmap(0, 0, rows)
    at = QPoint(margin, rows.height() + gap)
    painter.drawPixmap(at, pane)
    border = QColor(palette.text().color())
    border.setAlpha(70)  # a window edge, faint on either theme
    painter.setPen(border)
    painter.drawRect(QRect(at, pane.size()).adjusted(-1, -1, 0, 0))
    painter.end()
    canvas.save(str(target))
    editor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Take the README screenshots of the real window.")
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--blocks-only", action="store_true", help="only mixer-blocks.png, no generation")
    parser.add_argument("--theme", choices=("dark", "light"), default="dark")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from lorastudio.app import create_main_window
    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.paths import data_dir
    from lorastudio.qt.theme import apply_theme

    data = data_dir(tempfile.mkdtemp(prefix="lorastudio-shots-"))
    lib = build_demo_library(data)
    app = QApplication([])
    apply_theme(app, args.theme)
    window = create_main_window(data)
    window.resize(1560, 960)
    window.show()
    state = {"shot_mid": False}

    def root_shot(name: str) -> None:
        # The real X screen, as a user sees it (falls back to grab() without ImageMagick).
        target = out / name
        if os.environ.get("DISPLAY") and subprocess.run(
                ["import", "-window", "root", "-crop", f"{window.width()}x{window.height()+30}+0+0",
                 str(target)], check=False).returncode == 0:
            return
        window.grab().save(str(target))

    def blocks_only() -> None:
        window.generation.select_model(lib.pipeline)
        for path in lib.loras[:2]:
            window.add_lora(path)
        window.mixer.rows[0].weight.spin.setValue(0.8)
        QTimer.singleShot(500, blocks_only_shot)  # the event loop lays the new rows out first

    def blocks_only_shot() -> None:
        blocks_shot(window, out / "mixer-blocks.png")
        window.close()
        app.quit()

    def setup() -> None:
        window.generation.select_model(lib.pipeline)
        for path in (*lib.loras[:2], data.loras / "demo-xl-sketch.safetensors"):
            window.add_lora(path)
        window.mixer.rows[0].weight.spin.setValue(0.8)
        window.mixer.rows[1].weight.spin.setValue(0.45)
        window.mixer.rows[1].te_toggle.setChecked(True)
        window.mixer.rows[2].enabled.setChecked(False)
        g = window.generation
        g.prompt.setPlainText("a lighthouse at dusk, inkwash style, neon glow, dramatic sky")
        g.negative.setPlainText("blurry, lowres")
        g.steps.setValue(30)
        g.width_box.setValue(256)
        g.height_box.setValue(256)
        g.seed.setValue(1234)
        window.engine.progress.connect(on_progress)
        window.engine.finished.connect(on_finished)
        window.engine.failed.connect(on_failed)
        g.generate_button.click()

    def on_progress(step: int, total: int, elapsed: float) -> None:
        if step >= total // 2 and not state["shot_mid"]:
            state["shot_mid"] = True
            QTimer.singleShot(0, lambda: root_shot("generating.png"))

    def on_finished(*_: object) -> None:
        QTimer.singleShot(500, finish)

    def on_failed(message: str) -> None:
        print("generation failed:", message, file=sys.stderr)
        finish()

    def finish() -> None:
        root_shot("main-window.png")
        # All mixer rows, not just the ones the scroll area shows.
        from PySide6.QtWidgets import QScrollArea

        window.mixer.findChild(QScrollArea).widget().grab().save(str(out / "mixer.png"))
        blocks_shot(window, out / "mixer-blocks.png")
        for index, name in ((1, "text-tab.png"), (2, "hub-tab.png")):
            window.tabs.setCurrentIndex(index)
            app.processEvents()
            window.grab().save(str(out / name))
        window.close()
        app.quit()

    QTimer.singleShot(3000, blocks_only if args.blocks_only else setup)
    app.exec()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
