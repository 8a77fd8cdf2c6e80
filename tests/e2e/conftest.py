"""The window most e2e tests drive: the real MainWindow, built as ``main()`` builds it, on a fresh
data dir holding a copy of the demo models. Modules with other needs (a hub, a ComfyUI stand-in)
define their own ``data``/``window``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lorastudio.app import create_main_window
from lorastudio.core.paths import DataDir, data_dir

WINDOW_TIMEOUT = 120_000  # ms until the library has listed the demo models


@pytest.fixture
def data(demo_data: DataDir, tmp_path: Path) -> DataDir:
    shutil.copytree(demo_data.models, tmp_path / "models")
    return data_dir(tmp_path).ensure()


@pytest.fixture
def window(qtbot: Any, data: DataDir) -> Iterator[Any]:
    win = create_main_window(data)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.generation.model.count() > 0, timeout=WINDOW_TIMEOUT)
    yield win
    win.shutdown()
