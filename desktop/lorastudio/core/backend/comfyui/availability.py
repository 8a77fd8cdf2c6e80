"""What the chosen backend is and which local files it lacks, for the window to show (Qt-free).

``describe_choice`` asks every server behind a picker choice for ``/system_stats`` and
``/object_info`` (network: call it off the GUI thread). The ``ChoiceInfo`` it returns gives the
status-bar line ("studio-pc — NVIDIA GeForce RTX 4090, 24 GB") and, for any local checkpoint, LoRA or
VAE, the servers that lack it, matched by the same rule a job uses (``models.find_on_server``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from lorastudio.core.backend.comfyui.choice import ANY_FREE
from lorastudio.core.backend.comfyui.client import ComfyClient
from lorastudio.core.backend.comfyui.config import LOCAL_NAME, BackendEntry, load_backends, load_token
from lorastudio.core.backend.comfyui.errors import RemoteError
from lorastudio.core.backend.comfyui.models import NameIndex, ServerModels
from lorastudio.core.backend.comfyui.probe import check_connection
from lorastudio.core.backend.comfyui.upload import UploadFile, UploadPlan, has_upload_route, uploadable
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.paths import DataDir
from lorastudio.core.types import ModelKind

log = logging.getLogger(__name__)

DESCRIBE_TIMEOUT = 5.0  # seconds per server: the label waits for the slowest one


@dataclass(frozen=True)
class ServerState:
    """One server as last asked: its device line and files, or why it did not answer."""

    name: str
    device: str = ""
    models: ServerModels | None = None  # None: it did not answer
    error: str = ""
    upload: bool = False  # it has comfyui-tooling-nodes' upload route

    @cached_property
    def _indexes(self) -> dict[str, NameIndex]:
        m = self.models or ServerModels()
        return {"checkpoints": NameIndex(m.checkpoints), "loras": NameIndex(m.loras), "vaes": NameIndex(m.vaes)}

    def has(self, path: Path, kind: ModelKind) -> bool:
        """Whether the server has ``path`` (True when it did not answer: nothing is known)."""
        if self.models is None:
            return True
        if kind is ModelKind.VAE:
            folder = "vaes"
        elif kind in (ModelKind.LORA, ModelKind.LYCORIS):
            folder = "loras"
        else:
            folder = "checkpoints"
        return self._indexes[folder].has(path)


@dataclass(frozen=True)
class ChoiceInfo:
    """A backend picker choice and the servers behind it (none for this computer)."""

    choice: str
    servers: tuple[ServerState, ...] = ()

    @property
    def remote(self) -> bool:
        return bool(self.servers)

    def label(self) -> str:
        """The status bar's device line; empty for this computer (the engine says its own device)."""
        if not self.servers:
            return ""
        if self.choice == ANY_FREE:
            n = len(self.servers)
            return f"{ANY_FREE} — {n} server{'s' if n != 1 else ''}"
        server = self.servers[0]
        return f"{server.name} — {'not answering' if server.error else server.device}"

    def details(self) -> str:
        """One line per server, for a tooltip."""
        return "\n".join(f"{s.name}: {s.error or s.device}" for s in self.servers)

    def lacking(self, path: Path, kind: ModelKind) -> tuple[str, ...]:
        """The names of the servers that answered and lack ``path``."""
        return tuple(s.name for s in self.servers if not s.has(path, kind))

    def upload_plan(self, request: GenerationRequest) -> UploadPlan | None:
        """The files of ``request`` the chosen server lacks, to offer sending them; None unless one
        server is chosen, it has the upload route, and something is missing."""
        if len(self.servers) != 1 or self.choice == ANY_FREE or not self.servers[0].upload:
            return None
        server = self.servers[0]
        wanted = [(Path(request.model), ModelKind.CHECKPOINT, "checkpoints")]
        wanted += [(spec.path, ModelKind.LORA, "loras") for spec in request.active_loras]
        if request.vae is not None:
            wanted.append((Path(request.vae), ModelKind.VAE, "vae"))
        files: list[UploadFile] = []
        refused: list[str] = []
        for path, kind, folder in wanted:
            if server.has(path, kind) or any(f.path == path for f in files):
                continue
            size = _size(path) if uploadable(path) else None
            if size is None:
                refused.append(path.name)
            else:
                files.append(UploadFile(path, folder, size))
        if not files and not refused:
            return None
        return UploadPlan(server.name, tuple(files), tuple(refused))

    def note(self, path: Path, kind: ModelKind) -> str:
        """"not on studio-pc" (or several names) for a file some server lacks; "" otherwise."""
        names = self.lacking(path, kind)
        return f"not on {', '.join(names)}" if names else ""


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _entries(choice: str, data: DataDir) -> list[BackendEntry]:
    return [e for e in load_backends(data) if choice == ANY_FREE or e.name == choice]


def asking(choice: str, data: DataDir) -> ChoiceInfo:
    """What to show while ``describe_choice`` runs (no network): each server "connecting…"."""
    return ChoiceInfo(choice, tuple(ServerState(e.name, "connecting…") for e in _entries(choice, data)))


def describe_server(entry: BackendEntry, token: str | None, timeout: float = DESCRIBE_TIMEOUT) -> ServerState:
    try:
        info = check_connection(entry.url, token, timeout)
    except RemoteError as err:
        log.info("%s did not answer: %s", entry.name, err)
        return ServerState(entry.name, error=str(err))
    client = ComfyClient(entry.url, token, timeout)
    return ServerState(entry.name, info.device_line(), info.models, upload=has_upload_route(client))


def describe_choice(choice: str, data: DataDir, timeout: float = DESCRIBE_TIMEOUT) -> ChoiceInfo:
    """Ask the servers behind ``choice`` (every server for "Any free backend") what they are and
    what they have, all at once; a server that does not answer is reported, never raised."""
    if choice == LOCAL_NAME:
        return ChoiceInfo(choice)
    entries = _entries(choice, data)
    if not entries:
        return ChoiceInfo(choice)
    tokens = [load_token(data, e.name) for e in entries]
    with ThreadPoolExecutor(max_workers=min(8, len(entries)), thread_name_prefix="describe") as pool:
        states = list(pool.map(describe_server, entries, tokens, [timeout] * len(entries)))
    return ChoiceInfo(choice, tuple(states))
