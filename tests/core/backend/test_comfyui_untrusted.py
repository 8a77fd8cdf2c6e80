"""What a ComfyUI server sends is untrusted: WebSocket frames, /history entries, images, config files."""

from __future__ import annotations

import io
import json
import random
import struct
from pathlib import Path

import pytest
from PIL import Image

from lorastudio.core.backend.comfyui.backend import _image_ref
from lorastudio.core.backend.comfyui.client import (
    WsEvent,
    WsPreview,
    normalize_url,
    open_image,
    parse_ws_message,
)
from lorastudio.core.backend.comfyui.config import add_backend, find_backend, load_backends, load_token, remove_backend
from lorastudio.core.backend.comfyui.errors import RemoteError
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.paths import data_dir


def _jpeg(size: tuple[int, int] = (16, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_json_events_and_both_preview_frame_layouts() -> None:
    assert parse_ws_message('{"type": "progress", "data": {"value": 1, "max": 4}}') == WsEvent(
        "progress", {"value": 1, "max": 4})
    old = parse_ws_message(struct.pack(">II", 1, 1) + _jpeg())
    assert isinstance(old, WsPreview)
    assert (old.width, old.height, len(old.rgb), old.prompt_id) == (16, 16, 16 * 16 * 3, None)
    meta = json.dumps({"prompt_id": "p1", "node_id": "8"}).encode()
    new = parse_ws_message(struct.pack(">II", 4, len(meta)) + meta + _jpeg((600, 300)))
    assert isinstance(new, WsPreview)
    assert (new.width, new.height, new.prompt_id) == (512, 256, "p1")  # previews are capped at 512 px
    assert parse_ws_message(struct.pack(">I", 3) + b"\x00\x00\x00\x01text") is None  # progress text: unused


@pytest.mark.parametrize("message", [
    "{not json", "[1, 2]", '{"data": {}}', '{"type": "x", "data": [1]}', '{"type": 1}', "NaN",
    '{"type": "x", "data": ' + "[" * 100 + "]" * 100 + "}",
    b"\x00\x00", struct.pack(">II", 1, 1) + b"not an image",
    struct.pack(">II", 4, 2**31) + b"{}",
])
def test_malformed_frames_raise_value_error(message: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_ws_message(message)


def test_random_frames_never_raise_anything_but_value_error() -> None:
    rng = random.Random(15)
    for _ in range(500):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        frame: str | bytes = data if rng.random() < 0.5 else data.decode("latin-1")
        try:
            parse_ws_message(frame)
        except ValueError:
            pass


def test_an_image_bigger_than_the_limit_is_refused_before_decoding() -> None:
    # A PNG header claiming 100000x100000 pixels: refused from the header, no memory spent.
    buffer = io.BytesIO()
    Image.new("1", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    with pytest.raises(ValueError, match="not a readable image"):
        open_image(bytes(data), ("PNG",))
    with pytest.raises(ValueError):
        open_image(_jpeg(), ("PNG",))  # a JPEG where a PNG was promised


@pytest.mark.parametrize(("image", "ok"), [
    ({"filename": "LoRAStudio_00001_.png", "subfolder": "", "type": "output"}, True),
    ({"filename": "x.png", "subfolder": "a/b", "type": "temp"}, True),
    ({"filename": "../../etc/passwd", "subfolder": "", "type": "output"}, False),
    ({"filename": "x.png", "subfolder": "../..", "type": "output"}, False),
    ({"filename": "x.png", "subfolder": "/etc", "type": "output"}, False),
    ({"filename": "x.png", "subfolder": "", "type": "input"}, False),
    ({"filename": 5, "subfolder": "", "type": "output"}, False),
])
def test_history_image_references_are_checked(image: dict[str, object], ok: bool) -> None:
    entry = {"outputs": {"9": {"images": [image]}}}
    assert (_image_ref(entry, "9") is not None) is ok
    assert _image_ref({"outputs": "garbage"}, "9") is None


@pytest.mark.parametrize(("typed", "url"), [
    ("gpu-box:8188", "http://gpu-box:8188"),
    ("https://comfy.example.com/api/", "https://comfy.example.com/api"),
    (" http://10.0.0.5:8188 ", "http://10.0.0.5:8188"),
])
def test_addresses_are_normalized(typed: str, url: str) -> None:
    assert normalize_url(typed) == url


@pytest.mark.parametrize("typed", ["", "ftp://x", "http://", "http://host:99999"])
def test_bad_addresses_are_one_sentence(typed: str) -> None:
    with pytest.raises(RemoteError):
        normalize_url(typed)


def test_backends_config_round_trip_tokens_outside_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    data = data_dir(tmp_path)
    add_backend(data, "Studio PC", "192.168.1.20:8188", token="abc")
    add_backend(data, "cloud", "https://gpu.example.com")
    assert [(e.name, e.url) for e in load_backends(data)] == [
        ("Studio PC", "http://192.168.1.20:8188"), ("cloud", "https://gpu.example.com")]
    assert "abc" not in (tmp_path / "backends.json").read_text()
    assert load_token(data, "studio pc") == "abc"
    assert (tmp_path / "backend-tokens.json").stat().st_mode & 0o777 == 0o600
    entry, token = find_backend(data, "STUDIO PC")
    assert (entry.url, token) == ("http://192.168.1.20:8188", "abc")
    assert find_backend(data, "http://192.168.1.20:8188")[1] == "abc"
    assert find_backend(data, "10.0.0.1:8188")[0].url == "http://10.0.0.1:8188"  # typed, not configured
    with pytest.raises(InvalidRequest, match="No backend is named 'nope'"):
        find_backend(data, "nope")
    assert remove_backend(data, "Studio PC")
    assert load_token(data, "Studio PC") is None
    assert not remove_backend(data, "Studio PC")
    for bad in ("", "This computer", "a,b", "x" * 41):
        with pytest.raises(InvalidRequest):
            add_backend(data, bad, "host:1")


def test_a_broken_config_file_counts_as_no_backends(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    (tmp_path / "backends.json").write_text('{"servers": [{"name": "a", "url": "ftp://x"}, 7, {"name": 1}]}')
    assert load_backends(data) == ()
    (tmp_path / "backends.json").write_text("[" * 5000)
    assert load_backends(data) == ()


def test_picker_choices_map_to_backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lorastudio.core.backend.base import Backend, ModelList
    from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
    from lorastudio.core.backend.comfyui.choice import ANY_FREE, backend_choices, backend_for
    from lorastudio.core.backend.comfyui.pool import PoolBackend

    class Local(Backend):
        busy = False

        def submit(self, job_id: str, request: object) -> None: ...
        def cancel(self, job_id: str) -> None: ...
        def list_models(self) -> ModelList:
            return ModelList()

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    data = data_dir(tmp_path)
    local = Local()
    assert backend_choices(data) == ("This computer",)
    add_backend(data, "box", "box:8188", token="t")
    assert backend_choices(data) == ("This computer", "box", ANY_FREE)
    assert backend_for("This computer", data, local) is local
    box = backend_for("box", data, local)
    assert isinstance(box, ComfyUIBackend)
    assert (box.client.url, box.client.token) == ("http://box:8188", "t")
    pool = backend_for(ANY_FREE, data, local)
    assert isinstance(pool, PoolBackend)
    assert [m.name for m in pool.members] == ["backend", "box"]
    with pytest.raises(InvalidRequest, match="no longer configured"):
        backend_for("gone", data, local)
