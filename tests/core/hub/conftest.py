"""Fixtures: a fake Hub on 127.0.0.1, a temp data dir and HF cache, online mode for the code under test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))

from fake_hub import FakeHubServer, start_fake_hub

from lorastudio.core.hub.connection import HubConnection
from lorastudio.core.paths import DataDir


@pytest.fixture
def hub() -> Iterator[FakeHubServer]:
    server = start_fake_hub()
    yield server
    server.stop()


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


@pytest.fixture
def conn(hub: FakeHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HubConnection:
    """CI runs with HF_HUB_OFFLINE=1; these tests opt in to the loopback hub explicitly."""
    import huggingface_hub.constants as hub_constants

    import lorastudio.core.hub.download as download

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", hub_constants.HF_HUB_OFFLINE)  # restored after
    monkeypatch.setattr(hub_constants, "DOWNLOAD_CHUNK_SIZE", hub_constants.DOWNLOAD_CHUNK_SIZE)
    monkeypatch.setattr(download, "CHUNK_SIZE", 64 * 1024)  # several progress steps for small files
    return HubConnection(endpoint=hub.url, offline=False, token=None, cache_dir=tmp_path / "hf-cache")
