"""``lorastudio --self-test``: offline checks that an install is whole.

One line per check (``ok   imports ...`` / ``FAIL qt platform: ...``), exit code 1 if any fails.
It exercises what a frozen bundle most often loses: package metadata and hidden imports (imports),
Qt plugins (qt platform), data files (resources), and the real path from a model folder through a
LoRA to a PNG with its infotext (demo model, generate, read back), all in a temporary data dir.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio import __version__

# (module, distribution whose version is shown); the classes the app really uses are imported too,
# because diffusers and transformers load lazily and a missing hidden import only shows up there.
_IMPORTS: tuple[tuple[str, str], ...] = (
    ("torch", "torch"), ("diffusers", "diffusers"), ("transformers", "transformers"), ("peft", "peft"),
    ("safetensors", "safetensors"), ("huggingface_hub", "huggingface_hub"), ("PIL", "pillow"),
    ("PySide6", "PySide6-Essentials"),
)
_ICON = Path("icons") / "lorastudio.png"  # the window icon app.py loads
_SIZE = 64  # pixels: enough to prove the pipeline works, fast on any CPU


class CheckFailed(Exception):
    """A check's verdict, with the one line the user sees."""


@dataclass
class _Context:
    """What later checks need from earlier ones."""

    tmp: Path | None = None
    demo: Any = None
    png: Path | None = None
    request: Any = None
    seed: int = 0
    keep: list[Any] = field(default_factory=list)  # objects that must outlive their check (QApplication)


def _check_imports(ctx: _Context) -> str:
    from importlib import import_module
    from importlib.metadata import PackageNotFoundError, version

    versions = []
    for module, dist in _IMPORTS:
        try:
            import_module(module)
        except Exception as err:  # any import error means a broken bundle; say which module
            raise CheckFailed(f"{module}: {_one_line(err)}") from None
        try:
            versions.append(f"{module} {version(dist)}")
        except PackageNotFoundError:
            # diffusers and transformers read other packages' metadata at import: a bundle
            # without it crashes later with a confusing error, so catch it here.
            raise CheckFailed(f"{module}: package metadata ({dist}) is missing from this install") from None
    try:
        from diffusers import StableDiffusionPipeline  # noqa: F401
        from peft import LoraConfig  # noqa: F401
        from transformers import CLIPTextModel, CLIPTokenizer  # noqa: F401
    except Exception as err:
        raise CheckFailed(_one_line(err)) from None
    return ", ".join(versions)


def _check_qt(ctx: _Context) -> str:
    note = ""
    if not os.environ.get("QT_QPA_PLATFORM") and sys.platform.startswith("linux") \
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        # Qt aborts the process (not an exception) when it cannot open a display: decide first.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        note = " (no display found, used offscreen)"
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(["lorastudio-self-test"])
    ctx.keep.append(app)
    label = QLabel("LoRA Studio")
    label.resize(QSize(160, 40))
    pixmap = label.grab()
    if pixmap.isNull() or pixmap.width() < 1:
        raise CheckFailed(f"platform {QApplication.platformName()} could not draw a widget")
    from lorastudio.core.paths import resources_dir

    icon_path = resources_dir() / _ICON
    if icon_path.is_file() and QIcon(str(icon_path)).pixmap(32, 32).isNull():
        raise CheckFailed("the PNG image plugin is missing: the app icon does not load")
    return f"platform {QApplication.platformName()}{note}"


def _check_resources(ctx: _Context) -> str:
    from lorastudio.core.paths import resources_dir

    root = resources_dir()
    if not root.is_dir():
        raise CheckFailed(f"{root} is missing")
    files = [p for p in root.rglob("*") if p.is_file()]
    if not (root / _ICON).is_file():
        raise CheckFailed(f"{root / _ICON} is missing")
    return f"{len(files)} files in {root}"


def _check_device(ctx: _Context) -> str:
    import torch

    from lorastudio.core.engine.device import choose_device

    choice = choose_device()
    cuda = torch.version.cuda or "none"
    return f"{choice.label} (torch {torch.__version__}, CUDA build: {cuda})"


def _check_demo(ctx: _Context) -> str:
    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.paths import data_dir

    assert ctx.tmp is not None
    # No preview thumbnails: they are four more generations, and "generate" checks that path.
    ctx.demo = build_demo_library(data_dir(ctx.tmp / "data"), previews=False)
    if not (Path(ctx.demo.pipeline) / "model_index.json").is_file() or not ctx.demo.loras:
        raise CheckFailed("the demo pipeline or its LoRAs were not written")
    return f"{Path(ctx.demo.pipeline).name} + {len(ctx.demo.loras)} LoRAs"


def _check_generate(ctx: _Context) -> str:
    import numpy as np

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.output import save_png
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec
    from lorastudio.core.paths import data_dir

    lora = Path(ctx.demo.loras[0])
    base = GenerationRequest(model=Path(ctx.demo.pipeline), prompt="a lighthouse at dusk, inkwash style",
                             negative_prompt="blurry", seed=1234, steps=2, cfg=5.0,
                             width=_SIZE, height=_SIZE)
    request = replace(base, loras=(LoraSpec(lora, 0.8),))
    engine = DiffusersEngine()
    plain = engine.generate(base)[0]
    result = engine.generate(request)[0]
    if result.image.size != (_SIZE, _SIZE):
        raise CheckFailed(f"expected a {_SIZE}x{_SIZE} image, got {result.image.size}")
    if np.array_equal(np.asarray(plain.image), np.asarray(result.image)):
        raise CheckFailed(f"the LoRA {lora.name} did not change the picture")
    ctx.request, ctx.seed = request, result.seed
    ctx.png = save_png(result.image, request, result.seed, data_dir(ctx.tmp / "data").outputs)
    return f"{_SIZE}x{_SIZE}, {request.steps} steps, LoRA {lora.stem} on {engine.choice.device}"


def _check_read_back(ctx: _Context) -> str:
    from PIL import Image

    from lorastudio.core.metadata.infotext import parse_infotext

    assert ctx.png is not None
    with Image.open(ctx.png) as image:
        image.load()
        size, text = image.size, image.info.get("parameters")
    if size != (_SIZE, _SIZE):
        raise CheckFailed(f"{ctx.png.name} reads back as {size[0]}x{size[1]}")
    if not text:
        raise CheckFailed(f"{ctx.png.name} has no 'parameters' metadata")
    info = parse_infotext(str(text))
    expected = {"Seed": str(ctx.seed), "Size": f"{_SIZE}x{_SIZE}", "Steps": str(ctx.request.steps)}
    wrong = {k: info.params.get(k) for k, v in expected.items() if info.params.get(k) != v}
    if wrong:
        raise CheckFailed(f"metadata differs: {wrong}")
    lora_stem = Path(ctx.request.loras[0].path).stem
    if lora_stem not in info.lora_hashes:
        raise CheckFailed(f"'Lora hashes' does not name {lora_stem}")
    return f"{ctx.png.name}: seed {ctx.seed}, Lora hashes {info.params.get('Lora hashes')}"


# name, check, names of the checks it needs
_CHECKS: tuple[tuple[str, Callable[[_Context], str], tuple[str, ...]], ...] = (
    ("imports", _check_imports, ()),
    ("qt platform", _check_qt, ()),
    ("resources", _check_resources, ()),
    ("device", _check_device, ("imports",)),
    ("demo model", _check_demo, ("imports",)),
    ("generate with LoRA", _check_generate, ("demo model",)),
    ("read back metadata", _check_read_back, ("generate with LoRA",)),
)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _describe_install() -> str:
    if getattr(sys, "frozen", False):
        return f"frozen bundle at {Path(sys.executable).resolve().parent}"
    return f"Python {sys.version.split()[0]} at {sys.prefix}"


def run(args: argparse.Namespace) -> int:
    """Run every check, print one line each, return 0 when all pass."""
    # Offline by construction: nothing here may reach the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # one line per check, no bars
    verbose = bool(getattr(args, "verbose", False)) or os.environ.get("LORASTUDIO_SELFTEST_VERBOSE") == "1"
    print(f"LoRA Studio {__version__} self-test ({_describe_install()})", flush=True)
    started = time.perf_counter()
    passed: set[str] = set()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="lorastudio-selftest-") as tmp:
        ctx = _Context(tmp=Path(tmp))
        for name, check, needs in _CHECKS:
            missing = [n for n in needs if n not in passed]
            if missing:
                print(f"FAIL {name}: not run, needs {', '.join(missing)}", flush=True)
                failed += 1
                continue
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    # Library warnings (peft, diffusers) would break the one-line-per-check output.
                    warnings.simplefilter("ignore")
                    detail = check(ctx)
            except CheckFailed as err:
                print(f"FAIL {name}: {err}", flush=True)
                failed += 1
                continue
            except Exception as err:  # the self-test reports every failure, it never crashes
                print(f"FAIL {name}: {_one_line(err)}", flush=True)
                if verbose:
                    traceback.print_exc()
                failed += 1
                continue
            passed.add(name)
            print(f"ok   {name}: {detail} [{time.perf_counter() - t0:.1f} s]", flush=True)
        ctx.keep.clear()
    total = time.perf_counter() - started
    if failed:
        print(f"self-test FAILED: {failed} of {len(_CHECKS)} checks failed ({total:.1f} s)", flush=True)
        return 1
    print(f"self-test passed: {len(_CHECKS)} checks ({total:.1f} s)", flush=True)
    return 0
