"""Sending local model files to a ComfyUI server that has comfyui-tooling-nodes' upload route.

The route (Acly/comfyui-tooling-nodes, api.py) is ``PUT /api/etn/upload/{folder_name}/{filename}``
with the file as the body: 201 ``{"status": "success"}`` once written into the first folder of that
model type, 200 ``{"status": "cached"}`` when a file of that name is already there, 400
``{"error": …}`` for a folder it does not know or a file name it refuses (it takes only
``.safetensors``/``.sft`` names of letters, digits, ``_ - .`` and spaces, no path). ComfyUI core has no
upload for models, so without the pack a refusal stays a refusal.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lorastudio.core.backend.comfyui.client import ComfyClient
from lorastudio.core.backend.comfyui.config import load_backends, load_token
from lorastudio.core.backend.comfyui.errors import RemoteError
from lorastudio.core.cancel import CancelToken
from lorastudio.core.metadata.untrusted import clean_text
from lorastudio.core.paths import DataDir

log = logging.getLogger(__name__)

ROUTE = "/api/etn/upload"
CHUNK = 1024 * 1024
UPLOAD_TIMEOUT = 120.0  # per socket operation: a big checkpoint takes minutes in all, never silence
_NAME = re.compile(r"^[A-Za-z0-9_\-. ]+$")  # the route's own rule for file names


@dataclass(frozen=True)
class UploadFile:
    path: Path
    folder: str  # the server's model type: "checkpoints", "loras", "vae"
    size: int


@dataclass(frozen=True)
class UploadPlan:
    """What to send to one server so a refused job can run there; ``refused``: the missing files
    the route cannot take (a diffusers folder, another file type, a name it does not accept)."""

    server: str
    files: tuple[UploadFile, ...]
    refused: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return sum(f.size for f in self.files)

    def label(self) -> str:
        """"Upload 2 files (140 MB)"."""
        n = len(self.files)
        return f"Upload {n} file{'s' if n != 1 else ''} ({format_size(self.total)})"


def format_size(size: int) -> str:
    if size >= 2**30:
        return f"{size / 2**30:.1f} GB"
    if size >= 2**20:
        return f"{round(size / 2**20)} MB"
    return f"{max(1, round(size / 1024))} KB"


def uploadable(path: Path) -> bool:
    """Whether the route accepts ``path`` under its own name: a regular .safetensors file."""
    name = path.name
    return (path.suffix.lower() in (".safetensors", ".sft") and len(name) <= 255 and not name.startswith(".")
            and ".." not in name and _NAME.fullmatch(name) is not None and path.is_file())


def send_plan(data: DataDir, plan: UploadPlan, report: Callable[[object], None] | None = None,
              cancel: CancelToken | None = None) -> int:
    """Send ``plan``'s files to the configured server it names (see ``upload_files``)."""
    entry = next((e for e in load_backends(data) if e.name == plan.server), None)
    if entry is None:
        raise RemoteError(f"The backend '{plan.server}' is no longer configured.")
    return upload_files(entry.url, load_token(data, entry.name), plan.files, report, cancel)


def has_upload_route(client: ComfyClient) -> bool:
    """Ask without writing anything: a PUT with a name the route refuses answers 400 with an
    ``error`` object when the route exists; ComfyUI without it answers 404 or 405."""
    try:
        status, reply = client.put_stream(f"{ROUTE}/loras/lorastudio-probe", iter(()), 0)
    except RemoteError:
        return False
    return status == 400 and isinstance(reply, dict) and "error" in reply


def upload_files(url: str, token: str | None, files: tuple[UploadFile, ...],
                 report: Callable[[object], None] | None = None, cancel: CancelToken | None = None) -> int:
    """Send ``files`` one after the other; ``report((sent, total))`` as the bytes go. Returns how
    many were written (a file already there is skipped by the server). ``RemoteError`` with one
    sentence when the server refuses one; ``GenerationCancelled`` when ``cancel`` is set.

    A cancel takes effect between files: the route writes a file as it reads it, so a file cut off
    half-way would stay on the server, truncated, under its real name (and count as present)."""
    client = ComfyClient(url, token, UPLOAD_TIMEOUT)
    total = sum(f.size for f in files)
    sent = 0
    written = 0

    def chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
        nonlocal sent
        left = size
        while left > 0:
            data = handle.read(min(CHUNK, left))
            if not data:
                raise ValueError("the file got shorter while it was being sent")  # ends the request
            left -= len(data)
            sent += len(data)
            yield data
            if report is not None:
                report((sent, total))

    for file in files:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            handle = file.path.open("rb")
        except OSError as err:
            raise RemoteError(f"Could not read {file.path.name} ({err.strerror or err}).") from None
        with handle:
            status, reply = client.put_stream(f"{ROUTE}/{file.folder}/{urllib.parse.quote(file.path.name)}",
                                              chunks(handle, file.size), file.size)
        if status == 201:
            written += 1
        elif status != 200:
            detail = clean_text(str(reply.get("error") or "")).strip(" .")[:200] if isinstance(reply, dict) else ""
            raise RemoteError(f"The ComfyUI server at {client.label} refused {file.path.name} (HTTP {status}"
                              f"{': ' + detail if detail else ''}).")
        log.info("Uploaded %s to %s (%s)", file.path.name, client.label, status)
    return written
