"""``lorastudio --self-test``: offline checks that an install is whole, in both halves.

One line per check (``ok   window imports ...`` / ``FAIL qt platform: ...``), exit code 1 if any
fails. The window half: its imports and package metadata, Qt plugins, data files. The engine half
runs where generation really runs — the engine process, started from the engine runtime's Python
(#18; in a source checkout, this environment): the demo model is built there, generated with and
without a LoRA, and the PNG's infotext read back here. With no engine runtime set up, the engine
half is skipped with the command that sets one up (the window alone is a valid install).
"""

from __future__ import annotations

import argparse
import io
import os
import queue
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

# (module, distribution whose version is shown): what the window's process imports.
_IMPORTS: tuple[tuple[str, str], ...] = (
    ("PySide6", "PySide6-Essentials"), ("huggingface_hub", "huggingface_hub"), ("PIL", "pillow"),
    ("safetensors", "safetensors"), ("keyring", "keyring"), ("platformdirs", "platformdirs"),
    ("orjson", "orjson"), ("websockets", "websockets"),
)
_TIMEOUT = 600.0  # seconds for one engine job (a first start imports torch: slow on a cold disk)
_ICON = Path("icons") / "lorastudio.png"  # the window icon app.py loads
_SIZE = 64  # pixels: enough to prove the pipeline works, fast on any CPU


class CheckFailed(Exception):
    """A check's verdict, with the one line the user sees."""


class Skipped(Exception):
    """The check does not apply to this install (no engine runtime); says why."""


@dataclass
class _Context:
    """What later checks need from earlier ones."""

    tmp: Path | None = None
    backend: Any = None
    events: queue.Queue[Any] = field(default_factory=queue.Queue)
    device: str = ""
    png: bytes = b""
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
            raise CheckFailed(f"{module}: package metadata ({dist}) is missing from this install") from None
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


def _check_engine_start(ctx: _Context) -> str:
    from lorastudio.core.backend.base import BackendStatus
    from lorastudio.core.backend.engine_process import ProcessOptions
    from lorastudio.core.backend.local_process import LocalProcessBackend
    from lorastudio.core.paths import data_dir
    from lorastudio.core.runtime import EngineRuntime, engine_python

    python = engine_python(EngineRuntime(data_dir().runtime))
    if python is None:
        raise Skipped("no engine runtime is set up on this computer (`lorastudio runtime install`)")
    assert ctx.tmp is not None
    ctx.backend = LocalProcessBackend(ProcessOptions(log_folder=ctx.tmp / "logs", python=python))
    ctx.backend.set_listener(ctx.events.put)
    ctx.backend.warm_up()
    deadline = time.monotonic() + _TIMEOUT
    while time.monotonic() < deadline:
        event = _next_event(ctx, deadline)
        if isinstance(event, BackendStatus) and event.text == "Engine ready":
            ctx.device = event.device
            return f"{event.device} (Python {python})"
        if isinstance(event, BackendStatus) and event.text.startswith("The engine could not start"):
            raise CheckFailed(event.text)
    raise CheckFailed(f"the engine did not start within {_TIMEOUT:.0f} s")


def _run_job(ctx: _Context, job_id: str, request: Any) -> Any:
    from lorastudio.core.backend.base import JobCancelled, JobFailed, JobResult

    ctx.backend.submit(job_id, request)
    deadline = time.monotonic() + _TIMEOUT
    while True:
        event = _next_event(ctx, deadline)
        if isinstance(event, JobResult | JobFailed | JobCancelled) and event.job_id == job_id:
            if isinstance(event, JobResult):
                return event
            raise CheckFailed(getattr(event, "message", "cancelled"))


def _next_event(ctx: _Context, deadline: float) -> Any:
    from lorastudio.core.backend.base import BackendStopped

    try:
        event = ctx.events.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        raise CheckFailed(f"no answer from the engine process within {_TIMEOUT:.0f} s") from None
    if isinstance(event, BackendStopped):
        raise CheckFailed(event.message)
    return event


def _check_demo(ctx: _Context) -> str:
    from lorastudio.core.backend.base import BuildDemo
    from lorastudio.core.engine.demo import DEMO_PIPELINE
    from lorastudio.core.paths import data_dir

    assert ctx.tmp is not None
    data = data_dir(ctx.tmp / "data")
    _run_job(ctx, "demo", BuildDemo(data.root))
    if not (data.checkpoints / DEMO_PIPELINE / "model_index.json").is_file():
        raise CheckFailed("the demo pipeline was not written")
    loras = _demo_loras(ctx)
    if not loras:
        raise CheckFailed("the demo LoRAs were not written")
    return f"{DEMO_PIPELINE} + {len(loras)} LoRAs"


def _demo_loras(ctx: _Context) -> list[Path]:
    from lorastudio.core.paths import data_dir

    assert ctx.tmp is not None  # the SD 1.x ones: the demo model is SD 1.x
    return sorted(p for p in data_dir(ctx.tmp / "data").loras.glob("demo-*.safetensors") if "-xl-" not in p.name)


def _check_generate(ctx: _Context) -> str:
    from PIL import Image, ImageChops

    from lorastudio.core.engine.demo import DEMO_PIPELINE
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec
    from lorastudio.core.paths import data_dir

    assert ctx.tmp is not None
    data = data_dir(ctx.tmp / "data")
    lora = _demo_loras(ctx)[0]
    base = GenerationRequest(model=data.checkpoints / DEMO_PIPELINE, prompt="a lighthouse at dusk, inkwash style",
                             negative_prompt="blurry", seed=1234, steps=2, cfg=5.0, width=_SIZE, height=_SIZE)
    request = replace(base, loras=(LoraSpec(lora, 0.8),))
    plain = _run_job(ctx, "plain", base).images[0]
    result = _run_job(ctx, "lora", request).images[0]
    with Image.open(io.BytesIO(plain.png)) as a, Image.open(io.BytesIO(result.png)) as b:
        if b.size != (_SIZE, _SIZE):
            raise CheckFailed(f"expected a {_SIZE}x{_SIZE} image, got {b.size}")
        if ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None:
            raise CheckFailed(f"the LoRA {lora.name} did not change the picture")
    ctx.request, ctx.seed, ctx.png = request, result.seed, result.png
    return f"{_SIZE}x{_SIZE}, {request.steps} steps, LoRA {lora.stem}, in the engine process"


def _check_read_back(ctx: _Context) -> str:
    from PIL import Image

    from lorastudio.core.metadata.infotext import parse_infotext

    with Image.open(io.BytesIO(ctx.png)) as image:
        image.load()
        size, text = image.size, image.info.get("parameters")
    if size != (_SIZE, _SIZE):
        raise CheckFailed(f"the PNG reads back as {size[0]}x{size[1]}")
    if not text:
        raise CheckFailed("the PNG has no 'parameters' metadata")
    info = parse_infotext(str(text))
    expected = {"Seed": str(ctx.seed), "Size": f"{_SIZE}x{_SIZE}", "Steps": str(ctx.request.steps)}
    wrong = {k: info.params.get(k) for k, v in expected.items() if info.params.get(k) != v}
    if wrong:
        raise CheckFailed(f"metadata differs: {wrong}")
    lora_stem = Path(ctx.request.loras[0].path).stem
    if lora_stem not in info.lora_hashes:
        raise CheckFailed(f"'Lora hashes' does not name {lora_stem}")
    return f"seed {ctx.seed}, Lora hashes {info.params.get('Lora hashes')}"


# name, check, names of the checks it needs
_CHECKS: tuple[tuple[str, Callable[[_Context], str], tuple[str, ...]], ...] = (
    ("window imports", _check_imports, ()),
    ("qt platform", _check_qt, ()),
    ("resources", _check_resources, ()),
    ("engine process", _check_engine_start, ()),
    ("demo model", _check_demo, ("engine process",)),
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
    skipped: set[str] = set()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="lorastudio-selftest-") as tmp:
        ctx = _Context(tmp=Path(tmp))
        for name, check, needs in _CHECKS:
            if any(n in skipped for n in needs):
                skipped.add(name)
                continue
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
            except Skipped as err:
                print(f"skip {name}: {err}", flush=True)
                skipped.add(name)
                continue
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
        if ctx.backend is not None:
            ctx.backend.set_listener(None)
            ctx.backend.shutdown()
        ctx.keep.clear()
    total = time.perf_counter() - started
    if failed:
        print(f"self-test FAILED: {failed} of {len(_CHECKS)} checks failed ({total:.1f} s)", flush=True)
        return 1
    note = f", the engine half skipped: {len(skipped)} checks" if skipped else ""
    print(f"self-test passed: {len(passed)} checks{note} ({total:.1f} s)", flush=True)
    return 0
