"""Shared test setup: offline, offscreen, and the demo library built once per session."""

from __future__ import annotations

import os
import sys

# Before anything imports huggingface_hub (it reads these at import) or Qt.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

if os.environ.get("LORASTUDIO_BLOCK_QT") == "1":
    # Proves the core runs without Qt: any PySide6 import now fails.
    sys.modules["PySide6"] = None  # type: ignore[assignment]

from pathlib import Path

import pytest

from lorastudio.core.paths import DataDir, data_dir


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or writes the real user data dir or HF cache."""
    home = tmp_path_factory.mktemp("home")
    os.environ["LORASTUDIO_HOME"] = str(home / "lorastudio")
    os.environ.setdefault("HF_HOME", str(home / "hf"))


@pytest.fixture(scope="session")
def torch_threads() -> None:
    import torch

    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory: pytest.TempPathFactory, torch_threads: None) -> DataDir:
    """A data dir holding the demo pipeline and LoRAs; read-only for tests (copy to change)."""
    from lorastudio.core.engine.demo import build_demo_library

    data = data_dir(tmp_path_factory.mktemp("demo"))
    build_demo_library(data)
    return data


@pytest.fixture
def demo_pipeline(demo_data: DataDir) -> Path:
    from lorastudio.core.engine.demo import DEMO_PIPELINE

    return demo_data.checkpoints / DEMO_PIPELINE
