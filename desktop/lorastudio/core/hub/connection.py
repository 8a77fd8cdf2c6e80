"""Where and how we talk to the Hub: endpoint, offline flag, cache folder, error sentences.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HUB_OFFLINE`` and ``HF_HUB_CACHE`` once, at import. The
app lets users change them (settings, environment of a long-running process), so every call here
resolves them at call time and passes them explicitly.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from lorastudio.core.errors import DownloadError, HubAccessDenied, HubError, LoraStudioError

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class HubConnection:
    """Everything a hub call needs; build one per call with ``connection()``."""

    endpoint: str
    offline: bool
    token: str | None
    cache_dir: Path

    def token_for(self, url: str) -> str | None:
        """The token only goes to the configured endpoint's host (never to a CDN or elsewhere)."""
        return self.token if same_host(url, self.endpoint) else None


def same_host(url: str, endpoint: str) -> bool:
    a, b = urlparse(url), urlparse(endpoint)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def env_offline() -> bool:
    return (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").lower() in _TRUE


def hub_cache_dir() -> Path:
    """The shared Hugging Face cache (so other tools see pipelines we install)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def connection(endpoint: str | None = None, offline: bool | None = None, token: str | None = None,
               cache_dir: Path | None = None) -> HubConnection:
    """Resolve the settings now: explicit values win, then the environment, then defaults."""
    ep = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    return HubConnection(endpoint=ep, offline=env_offline() if offline is None else offline,
                         token=token or None, cache_dir=cache_dir or hub_cache_dir())


def prepare(conn: HubConnection) -> None:
    """Align huggingface_hub's import-time globals with this call and refuse early when offline."""
    import huggingface_hub.constants as hub_constants

    # huggingface_hub blocks every request when its import-time HF_HUB_OFFLINE was set; our flag,
    # read now, is the one that counts.
    hub_constants.HF_HUB_OFFLINE = conn.offline
    if conn.offline:
        raise HubError("Offline mode is on (HF_HUB_OFFLINE): the Hub cannot be reached, "
                       "but your library keeps working.")
    ensure_reachable(conn)


_REACHED: dict[str, float] = {}
_PROBE_TTL_S = 60.0


def ensure_reachable(conn: HubConnection) -> None:
    """Fail in seconds, not after huggingface_hub's ~23 s of retries, when the Hub is unreachable.

    One quick request through huggingface_hub's own session (so proxies from the environment
    apply); a success is remembered for a minute.
    """
    import httpx2
    from huggingface_hub import get_session  # the top-level package exports it explicitly

    now = time.monotonic()
    if now - _REACHED.get(conn.endpoint, -1e9) < _PROBE_TTL_S:
        return
    try:
        get_session().head(conn.endpoint + "/api/models", timeout=5)
    except httpx2.ProxyError as error:
        raise HubError("The proxy refused the connection to the Hub; check your proxy settings.") from error
    except httpx2.HTTPError as error:
        raise HubError(f"The Hub at {conn.endpoint} could not be reached; check your connection.") from error
    _REACHED[conn.endpoint] = now


def translate(error: BaseException, what: str) -> LoraStudioError:
    """One user sentence for a huggingface_hub / network failure. Never includes headers or tokens."""
    import httpx2
    from huggingface_hub import errors as hub_errors

    if isinstance(error, LoraStudioError):
        return error
    if isinstance(error, hub_errors.GatedRepoError):
        return HubAccessDenied(f"{what} is gated: accept the license on the model page on the Hub, "
                               "and add your access token in Settings.")
    if isinstance(error, hub_errors.RepositoryNotFoundError):
        return HubAccessDenied(f"{what} was not found, or it is private: check the name, and add an "
                               "access token in Settings if it is yours.")
    if isinstance(error, hub_errors.RevisionNotFoundError):
        return HubError(f"{what}: that revision does not exist.")
    if isinstance(error, hub_errors.EntryNotFoundError):
        return DownloadError(f"{what}: the file does not exist in that repository.")
    if isinstance(error, hub_errors.OfflineModeIsEnabled):
        return HubError("Offline mode is on (HF_HUB_OFFLINE): the Hub cannot be reached, "
                        "but your library keeps working.")
    if isinstance(error, hub_errors.HfHubHTTPError):
        status = error.response.status_code if error.response is not None else "?"
        if status in (401, 403):
            return HubAccessDenied(f"{what}: access denied (HTTP {status}); if the repo is gated, accept the "
                                   "license on the model page and add your access token in Settings.")
        return HubError(f"{what}: the Hub answered HTTP {status}.")
    if isinstance(error, httpx2.ProxyError):
        return HubError(f"{what}: the proxy refused the connection; check your proxy settings.")
    if isinstance(error, httpx2.TimeoutException | httpx2.ConnectError | httpx2.RemoteProtocolError
                  | hub_errors.LocalEntryNotFoundError):
        return HubError(f"{what}: the Hub could not be reached; check your connection.")
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return DownloadError(f"{what}: the disk is full; free some space and resume.")
    return HubError(f"{what}: {type(error).__name__}.")
