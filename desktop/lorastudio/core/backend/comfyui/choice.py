"""The backend picker's choices ("This computer", each configured server, "Any free backend") and the
``Backend`` each one means, for the session to run its queue on."""

from __future__ import annotations

from lorastudio.core.backend.base import Backend
from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
from lorastudio.core.backend.comfyui.config import LOCAL_NAME, load_backends, load_token
from lorastudio.core.backend.comfyui.pool import PoolBackend
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.paths import DataDir

ANY_FREE = "Any free backend"


def backend_choices(data: DataDir) -> tuple[str, ...]:
    names = tuple(entry.name for entry in load_backends(data))
    return (LOCAL_NAME, *names, ANY_FREE) if names else (LOCAL_NAME,)


def backend_for(choice: str, data: DataDir, local: Backend, include_local: bool = True) -> Backend:
    """The backend for a picker choice. For ``ANY_FREE`` a pool of every server (and ``local`` when
    ``include_local``); the pool takes over its members' listeners, so listen to the pool only."""
    if choice == LOCAL_NAME:
        return local
    servers = [ComfyUIBackend(e.url, e.name, load_token(data, e.name)) for e in load_backends(data)]
    if choice == ANY_FREE:
        members: list[Backend] = [local, *servers] if include_local else list(servers)
        if not members:
            raise InvalidRequest("No ComfyUI server is configured; add one in Settings ▸ Backends.")
        return PoolBackend(members)
    for backend in servers:
        if backend.name == choice:
            return backend
    raise InvalidRequest(f"The backend '{choice}' is no longer configured.")
