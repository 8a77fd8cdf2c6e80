"""Screenshots of the Hugging Face tab of the real window, against a local fake Hub (run under Xvfb).

  xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python tools/hub_screenshots.py OUT_DIR

Starts tests/helpers/fake_hub.py on 127.0.0.1 with a few realistic repos (LoRAs for several base
models, a single-file checkpoint, a gated repo, a diffusers pipeline), points the app at it with
HF_ENDPOINT, opens the window as `lorastudio app` does (dark theme) and saves:
hub-search.png (search results), hub-model.png (a model page: card, preview, files) and
hub-downloads.png (the downloads panel mid-download on a slowed-down link). Nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "desktop"))
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
TMP = Path(tempfile.mkdtemp(prefix="lorastudio-hub-shots-"))
# Before huggingface_hub is imported: a private cache and home, the Hub online (it is 127.0.0.1).
os.environ["HF_HUB_OFFLINE"] = "0"
os.environ["HF_HOME"] = str(TMP / "hf-home")
os.environ["HF_HUB_CACHE"] = str(TMP / "hf-cache")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.pop("HF_TOKEN", None)
os.environ["XDG_CONFIG_HOME"] = str(TMP / "config")  # the window's saved geometry stays out of the user's

from fake_hub import FakeRepo, safetensors_bytes, start_fake_hub  # noqa: E402

MB = 1_000_000
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
FLUX = "black-forest-labs/FLUX.1-dev"
PIXEL_CARD = """---
license: openrail++
base_model: stabilityai/stable-diffusion-xl-base-1.0
tags: [lora, text-to-image, pixel-art]
---
# Pixel Art Style XL

Crisp **16-bit pixel art** for SDXL: limited palettes, clean outlines, no blur.

![sample](samples/castle.png)

## Trigger words
Use `pixel art` in the prompt; add `16-bit` or `8-bit` to pick the era.

## Recommended settings
- Weight **0.7–0.9** (1.0 flattens shading)
- 30 steps, DPM++ 2M Karras, CFG 6
- Upscale with *nearest neighbour* to keep the pixels sharp

## Files
| File | Notes |
|---|---|
| `pixel-art-style-xl.safetensors` | rank 32, the one to use |
| `pixel-art-style-xl-r8.safetensors` | rank 8, smaller and softer |

## License
OpenRAIL++: see the license file. Made with [kohya_ss](https://github.com/kohya-ss/sd-scripts).
"""


def art_png(hue: int, seed: int, size: int = 256) -> bytes:
    """A small picture that reads as a preview (sky gradient, sun, hills, pixel blocks)."""
    import random

    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter, QPainterPath

    rnd = random.Random(seed)
    image = QImage(size, size, QImage.Format.Format_RGB32)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    sky = QLinearGradient(0, 0, 0, size)
    sky.setColorAt(0, QColor.fromHsv(hue, 140, 90))
    sky.setColorAt(1, QColor.fromHsv((hue + 30) % 360, 120, 240))
    p.fillRect(image.rect(), sky)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor.fromHsv((hue + 180) % 360, 90, 255))
    p.drawEllipse(QPointF(size * rnd.uniform(0.25, 0.75), size * 0.35), size * 0.12, size * 0.12)
    for layer in range(3):
        path = QPainterPath(QPointF(0, size))
        for x in range(0, size + 32, 32):
            path.lineTo(x, size * (0.55 + 0.12 * layer) + rnd.uniform(-18, 18))
        path.lineTo(size, size)
        p.setBrush(QColor.fromHsv((hue + 200 + 20 * layer) % 360, 120, 120 - 30 * layer))
        p.drawPath(path)
    for _ in range(6):
        s = size // 16
        p.setBrush(QColor.fromHsv(rnd.randrange(360), 160, 230))
        p.drawRect(QRectF(rnd.randrange(0, size - s, s), rnd.randrange(size // 2, size - s, s), s, s))
    p.end()
    buf = QByteArray()
    dev = QBuffer(buf)
    dev.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(dev, "PNG")
    return bytes(buf.data())


def lora_repo(repo_id: str, file: str, size: int, base: str, license_: str, downloads: int, likes: int,
              updated: str, hue: int, *, gated: bool = False, card: str = "", extra: dict[str, bytes] | None = None
              ) -> FakeRepo:
    name = repo_id.split("/")[1].replace("-", " ").title()
    card = card or (f"---\nlicense: {license_}\nbase_model: {base}\n---\n# {name}\n\n"
                    f"A LoRA for `{base.split('/')[1]}`.\n\n![preview](preview.png)\n")
    files = {file: safetensors_bytes(size // 4, seed=hue % 200), "README.md": card.encode(),
             "preview.png": art_png(hue, downloads), **(extra or {})}
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    return FakeRepo(repo_id, files, lfs={n for n in files if not n.endswith(".md")}, commit=commit,
                    library="diffusers", downloads=downloads, likes=likes, last_modified=updated, gated=gated,
                    tags=["diffusers", "lora", "text-to-image", f"license:{license_}", f"base_model:{base}",
                          f"base_model:adapter:{base}"],
                    card_data={"license": license_, "base_model": base})


def repos() -> list[FakeRepo]:
    pipeline_files = {
        "model_index.json": json.dumps({"_class_name": "StableDiffusionPipeline",
                                        "_diffusers_version": "0.42.1"}).encode(),
        "unet/config.json": b'{"sample_size": 64}',
        "unet/diffusion_pytorch_model.safetensors": safetensors_bytes(900_000, seed=3),
        "vae/config.json": b'{"latent_channels": 4}',
        "vae/diffusion_pytorch_model.safetensors": safetensors_bytes(300_000, seed=5),
        "text_encoder/config.json": b"{}",
        "text_encoder/model.safetensors": safetensors_bytes(500_000, seed=7),
        "scheduler/scheduler_config.json": b"{}",
        "README.md": b"# Tiny Style SD pipeline\nA small diffusers pipeline for quick tests.\n",
    }
    return [
        lora_repo("pixelforge/pixel-art-style-xl", "pixel-art-style-xl.safetensors", 8 * MB, SDXL, "openrail++",
                  48_210, 1_204, "2026-03-02T10:00:00.000Z", 200, card=PIXEL_CARD,
                  extra={"pixel-art-style-xl-r8.safetensors": safetensors_bytes(500_000, seed=9),
                         "samples/castle.png": art_png(230, 11), "samples/forest.png": art_png(110, 12)}),
        lora_repo("inkfolk/ink-wash-style-sd15", "ink-wash-style.safetensors", 2 * MB, SD15,
                  "creativeml-openrail-m", 12_876, 356, "2026-01-15T10:00:00.000Z", 30),
        lora_repo("lumen-labs/cinematic-light-style-flux", "cinematic-light.safetensors", 3 * MB, FLUX,
                  "flux-1-dev-non-commercial-license", 31_050, 902, "2026-02-20T10:00:00.000Z", 280, gated=True),
        lora_repo("studio-kite/watercolor-style-sdxl", "watercolor-style-sdxl.safetensors", 3 * MB, SDXL, "mit",
                  7_431, 188, "2025-12-01T10:00:00.000Z", 160),
        lora_repo("retrolab/analog-film-style-sd15", "analog-film.safetensors", 1 * MB, SD15, "cc-by-nc-4.0",
                  3_212, 97, "2025-11-11T10:00:00.000Z", 20),
        lora_repo("hanami/anime-lineart-style-sd15", "anime-lineart.safetensors", 1 * MB, SD15,
                  "creativeml-openrail-m", 19_340, 612, "2026-02-02T10:00:00.000Z", 330),
        FakeRepo("dreamlab/dream-style-v8", {"dream-style-v8.safetensors": safetensors_bytes(1_000_000),
                                             "README.md": b"# Dream Style v8\nA general-purpose SD 1.5 checkpoint.\n",
                                             "preview.png": art_png(260, 5)},
                 lfs={"dream-style-v8.safetensors", "preview.png"}, commit="8" * 40,
                 tags=["stable-diffusion", "text-to-image", "license:creativeml-openrail-m", f"base_model:{SD15}"],
                 downloads=95_112, likes=2_410, last_modified="2026-01-28T10:00:00.000Z",
                 card_data={"license": "creativeml-openrail-m", "base_model": SD15}),
        FakeRepo("tinyworks/tiny-style-sd-pipeline", pipeline_files,
                 lfs={n for n in pipeline_files if n.endswith(".safetensors")}, commit="9" * 40, library="diffusers",
                 tags=["diffusers", "text-to-image", "diffusers:StableDiffusionPipeline", "license:apache-2.0"],
                 downloads=860, likes=21, last_modified="2025-10-10T10:00:00.000Z",
                 card_data={"license": "apache-2.0"}),
    ]


class Steps:
    """Runs each (condition, action) in turn from a timer: no busy loops, no processEvents."""

    def __init__(self, steps: list[tuple[str, Callable[[], bool], Callable[[], None]]], on_fail: Callable[[str], None],
                 timeout_s: float = 120.0) -> None:
        from PySide6.QtCore import QTimer

        self.steps = list(steps)
        self.on_fail = on_fail
        self.ticks_left = int(timeout_s * 10)
        self.timer = QTimer()
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> None:
        self.ticks_left -= 1
        if not self.steps:
            self.timer.stop()
            return
        name, ready, action = self.steps[0]
        if self.ticks_left <= 0:
            self.timer.stop()
            self.on_fail(f"timed out waiting for: {name}")
            return
        if ready():
            self.steps.pop(0)
            action()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    server = start_fake_hub(repos())
    os.environ["HF_ENDPOINT"] = server.url

    from lorastudio.app import create_main_window
    from lorastudio.core.hub import tokens
    from lorastudio.core.hub.queue import DONE, QUEUED, RUNNING
    from lorastudio.core.paths import data_dir
    from lorastudio.core.settings import Settings, save_settings
    from lorastudio.qt.theme import apply_theme

    tokens._keyring_usable = lambda: False  # never touch the user's keyring from a tool
    data = data_dir(TMP / "data").ensure()
    save_settings(data.settings_file, Settings(allow_card_images=True))  # the card's own sample image
    apply_theme(app, "dark")
    window = create_main_window(data)
    window.resize(1560, 960)
    window.show()
    page = window.hub_page
    status = {"rc": 0, "entries": {}}

    def shot(name: str) -> None:
        # The real X screen, as a user sees it (falls back to grab() without ImageMagick).
        target = out / name
        if os.environ.get("DISPLAY") and subprocess.run(
                ["import", "-window", "root", "-crop", f"{window.width()}x{window.height()}+0+0", str(target)],
                check=False).returncode == 0:
            print("wrote", target)
            return
        window.grab().save(str(target))
        print("wrote", target)

    def row_of(repo_id: str) -> int:
        return next((r for r in range(page.results.rowCount()) if page.results.summary(r).repo_id == repo_id), -1)

    def page_open(repo_id: str) -> Callable[[], bool]:
        return lambda: page.model_view.page is not None and page.model_view.page.summary.repo_id == repo_id

    def entry_state(key: str) -> str:
        entry = page.downloads.queue.get(status["entries"].get(key, ""))
        return entry.state if entry else ""

    def start() -> None:
        window.tabs.setCurrentWidget(page)
        page.search_edit.setText("style")
        page.search_now()

    def select(repo_id: str) -> Callable[[], None]:
        return lambda: page.table.selectRow(row_of(repo_id))

    def install_small() -> None:  # a finished entry in the panel, as after an earlier install
        status["entries"]["ink"] = page.downloads.enqueue("inkfolk/ink-wash-style-sd15")

    def install_big() -> None:
        server.faults.delay = 0.06  # 64 KiB every 60 ms: about 1 MB/s
        before = set(page.downloads.rows)
        page.model_view.install_button.click()
        status["entries"]["pixel"] = next(iter(set(page.downloads.rows) - before))
        status["entries"]["water"] = page.downloads.enqueue("studio-kite/watercolor-style-sdxl")

    def mid_download() -> bool:
        row = page.downloads.rows.get(status["entries"]["pixel"])
        return (entry_state("pixel") == RUNNING and row is not None and row.bar.value() >= 350
                and "left" in row.detail.text())

    def settle(ticks: int = 5) -> Callable[[], bool]:
        """True after ``ticks`` timer ticks (100 ms each): time for the X server to show the paint."""
        left = [ticks]

        def ready() -> bool:
            left[0] -= 1
            return left[0] <= 0
        return ready

    def finish() -> None:
        server.faults.delay = 0
        window.close()  # pauses the running download; shutdown waits for every thread
        app.quit()

    def fail(message: str) -> None:
        print("hub screenshots failed:", message, file=sys.stderr)
        status["rc"] = 1
        finish()

    steps = Steps([
        ("window shown", settle(10), start),
        ("search results", lambda: row_of("pixelforge/pixel-art-style-xl") >= 0, install_small),
        ("small install done", lambda: entry_state("ink") == DONE, select("dreamlab/dream-style-v8")),
        ("checkpoint page", page_open("dreamlab/dream-style-v8"), lambda: None),
        ("settle", settle(), lambda: shot("hub-search.png")),
        ("screenshot taken", lambda: True, select("pixelforge/pixel-art-style-xl")),
        ("model page", page_open("pixelforge/pixel-art-style-xl"), lambda: None),
        ("settle", settle(), lambda: shot("hub-model.png")),
        ("screenshot taken", lambda: True, install_big),
        ("mid-download", mid_download, lambda: None),
        ("queued entry still waiting", lambda: entry_state("water") == QUEUED, lambda: shot("hub-downloads.png")),
        ("done", lambda: True, finish),
    ], fail)
    app.exec()
    steps.timer.stop()
    server.stop()
    print(f"screenshots in {out}" if status["rc"] == 0 else "failed")
    return int(status["rc"])


if __name__ == "__main__":
    raise SystemExit(main())
