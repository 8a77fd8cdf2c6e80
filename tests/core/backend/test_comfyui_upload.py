"""Sending the files a server lacks through comfyui-tooling-nodes' upload route, against the stand-in:
the route is found without writing anything, the plan names what is missing and its size, the bytes
arrive with progress, and a server without the route is left alone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from fake_comfyui import FakeComfyUI, write_checkpoint, write_kohya_lora

from lorastudio.core.backend.comfyui.availability import describe_choice
from lorastudio.core.backend.comfyui.client import ComfyClient
from lorastudio.core.backend.comfyui.config import add_backend
from lorastudio.core.backend.comfyui.errors import RemoteError
from lorastudio.core.backend.comfyui.upload import (
    UploadFile,
    format_size,
    has_upload_route,
    send_plan,
    upload_files,
)
from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import GenerationCancelled
from lorastudio.core.paths import DataDir, data_dir


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeComfyUI]:
    fake = FakeComfyUI(tmp_path / "out", checkpoints=("tiny.safetensors",), loras=("style_a.safetensors",),
                       upload=True)
    yield fake
    fake.close()


@pytest.fixture
def data(tmp_path: Path, server: FakeComfyUI) -> DataDir:
    data = data_dir(tmp_path / "data").ensure()
    add_backend(data, "studio-pc", server.url)
    return data


def _request(data: DataDir) -> GenerationRequest:
    model = write_checkpoint(data.checkpoints / "tiny.safetensors")
    a = write_kohya_lora(data.loras / "style_a.safetensors")
    b = write_kohya_lora(data.loras / "detail_b.safetensors")
    c = write_kohya_lora(data.loras / "glow c.safetensors")
    return GenerationRequest(model=model, prompt="p", loras=(LoraSpec(a, 1.0), LoraSpec(b, 0.5), LoraSpec(c, 0.5)),
                             steps=2, width=64, height=64).validate()


def test_the_route_is_found_without_writing_anything(server: FakeComfyUI, tmp_path: Path) -> None:
    assert has_upload_route(ComfyClient(server.url))
    assert server.uploads == {}
    plain = FakeComfyUI(tmp_path / "plain")
    try:
        assert not has_upload_route(ComfyClient(plain.url))
    finally:
        plain.close()


def test_missing_files_are_planned_sent_with_progress_and_then_listed(data: DataDir, server: FakeComfyUI) -> None:
    request = _request(data)
    info = describe_choice("studio-pc", data)
    plan = info.upload_plan(request)
    assert plan is not None
    assert [f.path.name for f in plan.files] == ["detail_b.safetensors", "glow c.safetensors"]
    assert {f.folder for f in plan.files} == {"loras"}
    assert plan.label() == f"Upload 2 files ({format_size(plan.total)})"
    assert plan.refused == ()

    progress: list[object] = []
    assert send_plan(data, plan, report=progress.append) == 2
    assert server.uploads["loras/detail_b.safetensors"] == (data.loras / "detail_b.safetensors").read_bytes()
    assert progress[-1] == (plan.total, plan.total)
    assert describe_choice("studio-pc", data).upload_plan(request) is None  # nothing is missing any more


def test_what_the_route_cannot_take_is_named(data: DataDir) -> None:
    folder = data.checkpoints / "my-pipeline"
    (folder / "unet").mkdir(parents=True)
    request = GenerationRequest(model=folder, prompt="p", steps=2, width=64, height=64)
    plan = describe_choice("studio-pc", data).upload_plan(request)
    assert plan is not None
    assert plan.files == ()
    assert plan.refused == ("my-pipeline",)


def test_a_refused_name_and_a_cancel_end_in_one_sentence(data: DataDir, server: FakeComfyUI, tmp_path: Path) -> None:
    odd = write_kohya_lora(tmp_path / "odd+name.safetensors")
    with pytest.raises(RemoteError) as err:
        upload_files(server.url, None, (UploadFile(odd, "loras", odd.stat().st_size),))
    assert str(err.value) == f"The ComfyUI server at {ComfyClient(server.url).label} refused odd+name.safetensors " \
                             "(HTTP 400: Invalid filename)."
    token = CancelToken()
    token.cancel()
    lora = write_kohya_lora(tmp_path / "fine.safetensors")
    with pytest.raises(GenerationCancelled):
        upload_files(server.url, None, (UploadFile(lora, "loras", lora.stat().st_size),), cancel=token)
    assert "loras/fine.safetensors" not in server.uploads


def test_no_plan_without_the_route(tmp_path: Path) -> None:
    plain = FakeComfyUI(tmp_path / "plain")
    try:
        data = data_dir(tmp_path / "d").ensure()
        add_backend(data, "plain", plain.url)
        assert describe_choice("plain", data).upload_plan(_request(data)) is None
    finally:
        plain.close()
