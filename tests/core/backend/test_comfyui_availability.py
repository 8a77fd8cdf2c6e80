"""What the window shows for a chosen backend: the server's device in the status bar's words, and
which local files the server lacks (the same name matching a job uses)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from fake_comfyui import FakeComfyUI

from lorastudio.core.backend.comfyui.availability import ChoiceInfo, asking, describe_choice
from lorastudio.core.backend.comfyui.choice import ANY_FREE
from lorastudio.core.backend.comfyui.config import LOCAL_NAME, add_backend
from lorastudio.core.backend.comfyui.models import NameIndex, find_on_server
from lorastudio.core.backend.comfyui.probe import ServerInfo
from lorastudio.core.paths import DataDir, data_dir
from lorastudio.core.types import ModelKind


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[FakeComfyUI]]:
    fakes = [
        FakeComfyUI(tmp_path / "a", checkpoints=("sd15/dreamshaper_8.safetensors",),
                    loras=("styles/ink.safetensors", "neon.safetensors"),
                    device="cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync"),
        FakeComfyUI(tmp_path / "b", checkpoints=("dreamshaper_8.safetensors",), loras=("ink.safetensors",)),
    ]
    yield fakes
    for fake in fakes:
        fake.close()


@pytest.fixture
def data(tmp_path: Path, servers: list[FakeComfyUI]) -> DataDir:
    data = data_dir(tmp_path / "data").ensure()
    add_backend(data, "studio-pc", servers[0].url)
    add_backend(data, "cloud", servers[1].url)
    return data


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_one_server_names_its_device_and_what_it_lacks(data: DataDir) -> None:
    info = describe_choice("studio-pc", data)
    assert info.remote
    assert info.label() == "studio-pc — NVIDIA GeForce RTX 4090, 24 GB"
    loras = data.loras
    assert info.note(loras / "ink.safetensors", ModelKind.LORA) == ""  # in a subfolder there: same file
    assert info.note(loras / "neon.safetensors", ModelKind.LORA) == ""
    assert info.note(loras / "glow.safetensors", ModelKind.LORA) == "not on studio-pc"
    assert info.note(data.checkpoints / "dreamshaper_8", ModelKind.PIPELINE) == ""  # a folder matches by stem
    assert info.note(data.checkpoints / "other.ckpt", ModelKind.CHECKPOINT) == "not on studio-pc"
    assert info.note(data.root / "vae.safetensors", ModelKind.VAE) == "not on studio-pc"


def test_any_free_backend_counts_servers_and_names_every_server_lacking_a_file(data: DataDir) -> None:
    info = describe_choice(ANY_FREE, data)
    assert info.label() == f"{ANY_FREE} — 2 servers"
    assert info.details().splitlines() == ["studio-pc: NVIDIA GeForce RTX 4090, 24 GB",
                                           "cloud: NVIDIA Fake 24GB, 24 GB"]
    assert info.note(data.loras / "neon.safetensors", ModelKind.LORA) == "not on cloud"
    assert info.note(data.loras / "glow.safetensors", ModelKind.LORA) == "not on studio-pc, cloud"


def test_a_server_that_does_not_answer_is_said_and_marks_nothing(data: DataDir) -> None:
    add_backend(data, "gone", f"http://127.0.0.1:{_closed_port()}")
    info = describe_choice("gone", data, timeout=2.0)
    assert info.label() == "gone — not answering"
    assert "did not answer" in info.details()
    assert info.note(data.loras / "anything.safetensors", ModelKind.LORA) == ""  # nothing is known


def test_this_computer_needs_no_asking(data: DataDir) -> None:
    info = describe_choice(LOCAL_NAME, data)
    assert info == ChoiceInfo(LOCAL_NAME)
    assert not info.remote
    assert info.label() == ""
    assert asking("cloud", data).label() == "cloud — connecting…"


def test_name_index_agrees_with_find_on_server() -> None:
    names = ("SD15/DreamShaper_8.safetensors", "ink.ckpt", "folder/x.y.safetensors", "noext")
    index = NameIndex(names)
    for local in ("dreamshaper_8.safetensors", "DreamShaper_8", "ink.safetensors", "ink", "x.y.safetensors",
                  "x.y", "x", "noext", "noext.safetensors", "other.safetensors", "sd15"):
        path = Path("/lib") / local
        assert index.has(path) == (find_on_server(path, names) is not None), local


@pytest.mark.parametrize(("device", "kind", "vram", "line"), [
    ("cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "cuda", 24 * 2**30 - 5, "NVIDIA GeForce RTX 4090, 24 GB"),
    ("cpu", "cpu", 64 * 2**30, "CPU"),
    ("mps", "mps", None, "mps"),
    ("", "", None, "an unknown device"),
])
def test_device_line(device: str, kind: str, vram: int | None, line: str) -> None:
    info = ServerInfo("http://x", "0.8.0", device, vram, None, 0, 0, kind)
    assert info.device_line() == line
