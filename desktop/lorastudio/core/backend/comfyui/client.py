"""Talking to one ComfyUI server: HTTP routes and the WebSocket event stream.

Everything the server sends is untrusted: replies are read up to a size limit, JSON is parsed with
depth limits and checked for the shape we use, images are opened with a pixel limit. Failures
become ``RemoteError`` with one sentence naming the server, never library text.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lorastudio.core.backend.comfyui.errors import RemoteError, RemoteUnreachable
from lorastudio.core.metadata.untrusted import UntrustedJsonError, clean_text, loads_json

log = logging.getLogger(__name__)

JSON_LIMIT = 64 * 1024 * 1024  # /object_info of a server with many custom nodes reaches ~20 MB
SMALL_JSON_LIMIT = 4 * 1024 * 1024
IMAGE_LIMIT = 256 * 1024 * 1024  # a 4096x4096 RGBA PNG stored uncompressed is 64 MB
WS_MESSAGE_LIMIT = 32 * 1024 * 1024  # preview frames and JSON events
MAX_IMAGE_PIXELS = 4096 * 4096
PREVIEW_MAX_SIDE = 512
DEFAULT_TIMEOUT = 30.0

# protocol.BinaryEventTypes in ComfyUI
PREVIEW_IMAGE = 1
PREVIEW_IMAGE_WITH_METADATA = 4


def normalize_url(url: str) -> str:
    """``host:port`` or ``http(s)://host:port/prefix`` → ``http(s)://host:port/prefix`` (no trailing /)."""
    text = url.strip()
    if not text:
        raise RemoteError("The server address is empty.")
    if "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"'{clean_text(url)[:80]}' is not an http:// or https:// server address.")
    try:
        _ = parts.port
    except ValueError:
        raise RemoteError(f"'{clean_text(url)[:80]}' has an invalid port.") from None
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class WsEvent:
    """A JSON message from /ws: ``type`` and its ``data`` object."""

    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class WsPreview:
    """A binary preview frame, decoded: RGB bytes, and the prompt it belongs to when the server said."""

    width: int
    height: int
    rgb: bytes
    prompt_id: str | None = None


class ComfyClient:
    """HTTP and WebSocket access to one server; ``token`` is sent as a bearer token when set."""

    def __init__(self, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = normalize_url(url)
        self.token = token or None
        self.timeout = timeout

    @property
    def label(self) -> str:
        return urllib.parse.urlsplit(self.url).netloc

    # -- HTTP ----------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "LoRA-Studio"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(self, method: str, path: str, body: Any = None, limit: int = SMALL_JSON_LIMIT,
                query: dict[str, str] | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; connection problems raise ``RemoteError``."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = self._headers()
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        # No proxies from the environment: the address the user typed is the one we talk to.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout or self.timeout) as resp:
                return resp.status, self._read(resp, limit)
        except urllib.error.HTTPError as err:
            try:
                payload = self._read(err, limit)
            except RemoteError:
                payload = b""
            finally:
                err.close()
            return err.code, payload
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RemoteUnreachable(f"The ComfyUI server at {self.label} did not answer ({_reason(err)}).") from None

    def _read(self, resp: Any, limit: int) -> bytes:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            raise RemoteError(f"The ComfyUI server at {self.label} sent a reply larger than {limit // 2**20} MB.")
        try:
            data = resp.read(limit + 1)
        except (OSError, ValueError) as err:
            raise RemoteUnreachable(
                f"The connection to the ComfyUI server at {self.label} broke ({_reason(err)}).") from None
        if len(data) > limit:
            raise RemoteError(f"The ComfyUI server at {self.label} sent a reply larger than {limit // 2**20} MB.")
        return bytes(data)

    def put_stream(self, path: str, chunks: Iterable[bytes], length: int,
                   timeout: float | None = None) -> tuple[int, Any]:
        """PUT ``length`` bytes from ``chunks`` (a file sent piece by piece); (status, JSON or None).
        An exception raised by ``chunks`` (a cancel) ends the request and propagates."""
        headers = self._headers()
        headers["Content-Type"] = "application/octet-stream"
        headers["Content-Length"] = str(length)
        req = urllib.request.Request(self.url + path, data=chunks, method="PUT", headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=timeout or self.timeout) as resp:
                status, payload = resp.status, self._read(resp, SMALL_JSON_LIMIT)
        except urllib.error.HTTPError as err:
            try:
                payload = self._read(err, SMALL_JSON_LIMIT)
            except RemoteError:
                payload = b""
            finally:
                err.close()
            status = err.code
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RemoteUnreachable(f"The ComfyUI server at {self.label} did not answer ({_reason(err)}).") from None
        try:
            return status, loads_json(payload, SMALL_JSON_LIMIT) if payload.strip() else None
        except UntrustedJsonError:
            return status, None

    def get_json(self, path: str, limit: int = SMALL_JSON_LIMIT, query: dict[str, str] | None = None) -> Any:
        status, body = self.request("GET", path, limit=limit, query=query)
        self._check_status(status, path)
        return self._json(body, path, limit)

    def post_json(self, path: str, body: Any) -> tuple[int, Any]:
        status, payload = self.request("POST", path, body=body)
        if status in (401, 403):
            self._check_status(status, path)
        if not payload.strip():
            return status, None
        try:
            return status, loads_json(payload, SMALL_JSON_LIMIT)
        except UntrustedJsonError:
            return status, None  # /interrupt and /queue answer with an empty or text body

    def _check_status(self, status: int, path: str) -> None:
        if status in (401, 403):
            raise RemoteError(f"The ComfyUI server at {self.label} refused access (HTTP {status}); check its token.")
        if status != 200:
            raise RemoteError(f"The ComfyUI server at {self.label} answered HTTP {status} to {path}.")

    def _json(self, body: bytes, path: str, limit: int) -> Any:
        try:
            return loads_json(body, limit)
        except UntrustedJsonError as err:
            raise RemoteError(
                f"The ComfyUI server at {self.label} sent an unreadable reply to {path} ({err}).") from None

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        status, body = self.request("GET", "/view", limit=IMAGE_LIMIT,
                                    query={"filename": filename, "subfolder": subfolder, "type": kind})
        self._check_status(status, "/view")
        return body

    # -- WebSocket ------------------------------------------------------------------------------
    def ws_url(self, client_id: str) -> str:
        parts = urllib.parse.urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urllib.parse.urlencode({"clientId": client_id})
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))

    def connect_ws(self, client_id: str) -> Any:
        """An open ``websockets`` sync connection to /ws for ``client_id``."""
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        try:
            return connect(self.ws_url(client_id), additional_headers=headers, max_size=WS_MESSAGE_LIMIT,
                           open_timeout=self.timeout, close_timeout=2, proxy=None, compression=None,
                           ping_interval=None)
        except (OSError, WebSocketException, TimeoutError) as err:
            raise RemoteUnreachable(
                f"Could not open the event stream of the ComfyUI server at {self.label} ({_reason(err)})."
            ) from None


def parse_ws_message(message: str | bytes) -> WsEvent | WsPreview | None:
    """One /ws message as a value; None for messages we have no use for (text events, feature
    flags, unknown binary types). Raises ``ValueError`` for malformed ones."""
    if isinstance(message, str):
        value = loads_json(message.encode("utf-8", "surrogatepass"), WS_MESSAGE_LIMIT, max_depth=32)
        if not isinstance(value, dict) or not isinstance(value.get("type"), str):
            raise ValueError("a JSON event without a type")
        data = value.get("data")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError("a JSON event whose data is not an object")
        return WsEvent(value["type"], data)
    if len(message) < 8:
        raise ValueError("a binary frame shorter than its header")
    (event,) = struct.unpack(">I", message[:4])
    prompt_id: str | None = None
    if event == PREVIEW_IMAGE:
        image = message[8:]  # 4 bytes image format (1 JPEG, 2 PNG): PIL reads the format itself
    elif event == PREVIEW_IMAGE_WITH_METADATA:
        (size,) = struct.unpack(">I", message[4:8])
        if size > 64 * 1024 or 8 + size > len(message):
            raise ValueError("a preview frame with a bad metadata length")
        meta = loads_json(message[8:8 + size], 64 * 1024, max_depth=8)
        if isinstance(meta, dict) and isinstance(meta.get("prompt_id"), str):
            prompt_id = meta["prompt_id"]
        image = message[8 + size:]
    else:
        return None
    width, height, rgb = decode_preview(image)
    return WsPreview(width, height, rgb, prompt_id)


def decode_preview(data: bytes) -> tuple[int, int, bytes]:
    """A JPEG/PNG preview → (width, height, RGB bytes), at most PREVIEW_MAX_SIDE on a side."""
    from PIL import Image

    image = open_image(data, ("JPEG", "PNG", "WEBP"))
    image = image.convert("RGB")
    if max(image.size) > PREVIEW_MAX_SIDE:
        image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.BILINEAR)
    return image.width, image.height, image.tobytes()


def open_image(data: bytes, formats: tuple[str, ...]) -> Any:
    """A fully decoded PIL image from untrusted bytes, refusing other formats and huge sizes
    (checked from the header, before any pixel is decoded)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data), formats=list(formats))
        if image.width * image.height > MAX_IMAGE_PIXELS or image.width < 1 or image.height < 1:
            raise ValueError(f"an image of {image.width}x{image.height} pixels")
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ValueError(f"not a readable image ({type(err).__name__})") from None
    return image


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or err
    if isinstance(reason, OSError) and reason.strerror:
        reason = reason.strerror  # "Connection refused", not "[Errno 111] Connection refused"
    text = clean_text(str(reason)).strip().rstrip(".")
    return text[:100] if text else type(err).__name__
