"""The engine runtime end to end (#18): the window's engine process runs from a runtime installed
with uv from a local wheel folder, and its image equals the one this (source checkout)
environment's engine makes, pixel for pixel."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import psutil
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from lorastudio.core.engine.demo import DEMO_PIPELINE
from lorastudio.core.paths import DataDir
from lorastudio.core.runtime import EngineRuntime, engine_python, target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from wheelhouse import build_wheelhouse

pytestmark = pytest.mark.slow
TIMEOUT = 240_000


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> EngineRuntime:
    runtime = EngineRuntime(tmp_path_factory.mktemp("runtime") / "runtime", this_environment=False)
    runtime.install(target("cpu"), find_links=build_wheelhouse())
    return runtime


def _generate(qtbot, window, data: DataDir) -> Path:  # type: ignore[no-untyped-def]
    finished: list[Path] = []
    failed: list[str] = []
    window.engine.finished.connect(lambda result, paths: finished.extend(paths))
    window.engine.failed.connect(failed.append)
    g = window.generation
    g.select_model(data.checkpoints / DEMO_PIPELINE)
    g.prompt.setPlainText("a lighthouse at dusk")
    g.width_box.setValue(64)
    g.height_box.setValue(64)
    g.steps.setValue(2)
    g.seed.setValue(1234)
    qtbot.mouseClick(g.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(finished or failed), timeout=TIMEOUT)
    assert not failed, failed
    return finished[0]


def _pixels(path: Path) -> bytes:
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        return image.convert("RGB").tobytes()


def test_a_generation_from_the_runtime_equals_the_in_venv_one(qtbot, window, data: DataDir,  # type: ignore[no-untyped-def]
                                                            installed: EngineRuntime) -> None:
    assert installed.state().kind == "installed"
    # The window asks its runtime for the engine's interpreter at each engine start: point it at
    # the installed runtime (this checkout's own environment has torch and would win).
    window.runtime = installed
    assert engine_python(installed) == installed.python
    from_runtime = _generate(qtbot, window, data)
    engine = psutil.Process(window.backend.pid)
    assert engine.cmdline()[0] == str(installed.python)
    # torch was loaded from the runtime, not from this environment.
    libraries = {m.path for m in engine.memory_maps()}
    assert any(p.startswith(str(installed.venv)) and "libtorch" in p for p in libraries)
    assert not any(p.startswith(sys.prefix) and "libtorch" in p for p in libraries)

    # The same job with this environment's engine.
    window.backend.shutdown()
    window.runtime = EngineRuntime(installed.root, this_environment=True)
    from_here = _generate(qtbot, window, data)
    assert psutil.Process(window.backend.pid).cmdline()[0] == sys.executable

    assert from_runtime != from_here
    assert _pixels(from_runtime) == _pixels(from_here)
