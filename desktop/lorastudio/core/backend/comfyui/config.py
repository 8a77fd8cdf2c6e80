"""The configured ComfyUI servers: ``backends.json`` in the data dir (name and URL) and each
server's bearer token in the OS keyring (else a 0600 file beside it, with a notice).

Tokens never go into backends.json, logs or error messages.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.backend.comfyui.client import normalize_url
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.metadata.untrusted import UntrustedJsonError, clean_text, loads_json, read_limited
from lorastudio.core.paths import DataDir

log = logging.getLogger(__name__)

FILE_NAME = "backends.json"
TOKENS_FILE = "backend-tokens.json"  # only when no keyring is usable
SERVICE = "LoRA Studio"
MAX_BACKENDS = 64
MAX_NAME = 40
LOCAL_NAME = "This computer"


@dataclass(frozen=True)
class BackendEntry:
    name: str
    url: str


def _path(data: DataDir) -> Path:
    return data.root / FILE_NAME


def load_backends(data: DataDir) -> tuple[BackendEntry, ...]:
    """The configured servers; an unreadable file counts as none (and is logged), never an exception."""
    path = _path(data)
    if not path.exists():
        return ()
    try:
        raw = loads_json(read_limited(path, 256 * 1024), 256 * 1024, max_depth=4)
    except (OSError, UntrustedJsonError) as err:
        log.warning("Ignoring %s: %s", path, err)
        return ()
    entries: list[BackendEntry] = []
    items = raw.get("servers") if isinstance(raw, dict) else None
    for item in items[:MAX_BACKENDS] if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        name, url = item.get("name"), item.get("url")
        if isinstance(name, str) and isinstance(url, str) and 0 < len(name) <= MAX_NAME:
            try:
                entries.append(BackendEntry(clean_text(name), normalize_url(url)))
            except Exception:
                log.warning("Ignoring backend %r with a bad address", name)
    return tuple(entries)


def save_backends(data: DataDir, entries: tuple[BackendEntry, ...]) -> None:
    path = _path(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    payload = {"servers": [{"name": e.name, "url": e.url} for e in entries]}
    tmp.write_text(json.dumps(payload, indent=2), "utf-8")
    os.replace(tmp, path)


def check_name(name: str) -> str:
    name = clean_text(name).strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidRequest(f"A backend name must have 1 to {MAX_NAME} characters.")
    if name.casefold() == LOCAL_NAME.casefold() or "://" in name or "," in name:
        raise InvalidRequest(f"'{name}' cannot be used as a backend name.")
    return name


def add_backend(data: DataDir, name: str, url: str, token: str | None = None) -> BackendEntry:
    """Add (or update, same name) a server; the token goes to the keyring."""
    from lorastudio.core.backend.comfyui.errors import RemoteError

    name = check_name(name)
    try:
        entry = BackendEntry(name, normalize_url(url))
    except RemoteError as err:
        raise InvalidRequest(str(err)) from None
    entries = [e for e in load_backends(data) if e.name.casefold() != name.casefold()]
    if len(entries) >= MAX_BACKENDS:
        raise InvalidRequest(f"At most {MAX_BACKENDS} backends can be configured.")
    save_backends(data, (*entries, entry))
    if token is not None:
        save_token(data, name, token)
    return entry


def remove_backend(data: DataDir, name: str) -> bool:
    entries = load_backends(data)
    kept = tuple(e for e in entries if e.name.casefold() != name.strip().casefold())
    if len(kept) == len(entries):
        return False
    save_backends(data, kept)
    delete_token(data, name)
    return True


def find_backend(data: DataDir, url_or_name: str) -> tuple[BackendEntry, str | None]:
    """A configured server by name, else an address typed directly; with its token."""
    wanted = url_or_name.strip()
    for entry in load_backends(data):
        if entry.name.casefold() == wanted.casefold():
            return entry, load_token(data, entry.name)
    for entry in load_backends(data):
        if entry.url == _normalized_or_none(wanted):
            return entry, load_token(data, entry.name)
    if "://" not in wanted and ":" not in wanted and "." not in wanted and wanted != "localhost":
        raise InvalidRequest(f"No backend is named '{clean_text(wanted)[:60]}'; see `lorastudio backends list`.")
    from lorastudio.core.backend.comfyui.errors import RemoteError

    try:
        url = normalize_url(wanted)
        return BackendEntry(urllib.parse.urlsplit(url).netloc, url), None
    except RemoteError as err:
        raise InvalidRequest(str(err)) from None


def _normalized_or_none(url: str) -> str | None:
    try:
        return normalize_url(url)
    except Exception:
        return None


# -- tokens ----------------------------------------------------------------------------------------


def _user(name: str) -> str:
    return f"comfyui:{name.casefold()}"


def _keyring() -> object | None:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "backends", None) == []:
        return None
    return keyring


def _token_file(data: DataDir) -> Path:
    return data.root / TOKENS_FILE


def _file_tokens(data: DataDir) -> dict[str, str]:
    try:
        raw = loads_json(read_limited(_token_file(data), 256 * 1024), 256 * 1024, max_depth=2)
    except (OSError, UntrustedJsonError):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(raw, dict) else {}


def _write_file_tokens(data: DataDir, tokens: dict[str, str]) -> None:
    path = _token_file(data)
    if not tokens:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(tokens, f)
    os.chmod(path, 0o600)


def save_token(data: DataDir, name: str, token: str) -> str:
    """Store ``token`` for ``name``; returns a notice when it had to go into a file ("" otherwise)."""
    token = token.strip()
    if not token:
        delete_token(data, name)
        return ""
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.set_password(SERVICE, _user(name), token)  # type: ignore[attr-defined]
            return ""
        except Exception:
            pass  # a locked keyring: the file below
    tokens = _file_tokens(data)
    tokens[_user(name)] = token
    _write_file_tokens(data, tokens)
    return f"No system keyring is available, so the token is stored in {_token_file(data)}, readable only by you."


def load_token(data: DataDir, name: str) -> str | None:
    keyring = _keyring()
    if keyring is not None:
        try:
            value = keyring.get_password(SERVICE, _user(name))  # type: ignore[attr-defined]
            if value:
                return str(value)
        except Exception:
            pass
    return _file_tokens(data).get(_user(name))


def delete_token(data: DataDir, name: str) -> None:
    keyring = _keyring()
    if keyring is not None:
        try:
            keyring.delete_password(SERVICE, _user(name))  # type: ignore[attr-defined]
        except Exception:
            pass
    tokens = _file_tokens(data)
    if tokens.pop(_user(name), None) is not None:
        _write_file_tokens(data, tokens)
