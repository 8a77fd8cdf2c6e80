"""The user's Hugging Face access token: OS keyring first, else a 0600 file (with a notice).

The token never goes into settings.json, logs, argv or error messages; callers pass it to
``HubConnection`` which only sends it to the configured endpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lorastudio.core.hub.connection import HubConnection
from lorastudio.core.paths import DataDir

SERVICE = "LoRA Studio"
USERNAME = "huggingface-token"
FILE_NAME = "hf_token"


@dataclass(frozen=True)
class TokenStore:
    """Where a token was saved; ``notice`` is shown to the user when it is not the keyring."""

    where: str  # "keyring" | "file"
    notice: str = ""


def _file(data_dir: DataDir) -> Path:
    return data_dir.root / FILE_NAME


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:
        return False
    if isinstance(backend, fail.Keyring):
        return False
    chained = getattr(backend, "backends", None)
    return not (chained is not None and not chained)


def save_token(data_dir: DataDir, token: str) -> TokenStore:
    token = token.strip()
    if not token:
        delete_token(data_dir)
        return TokenStore("keyring")
    if _keyring_usable():
        try:
            import keyring

            keyring.set_password(SERVICE, USERNAME, token)
            _file(data_dir).unlink(missing_ok=True)
            return TokenStore("keyring")
        except Exception:
            pass  # a locked or broken keyring: fall back to the file below
    path = _file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token)
    os.chmod(path, 0o600)
    return TokenStore("file", f"No system keyring is available, so your token is stored in {path}, "
                              "readable only by you.")


def load_token(data_dir: DataDir) -> str | None:
    if _keyring_usable():
        try:
            import keyring

            value = keyring.get_password(SERVICE, USERNAME)
            if value:
                return value
        except Exception:
            pass
    try:
        return _file(data_dir).read_text("utf-8").strip() or None
    except OSError:
        return None


def delete_token(data_dir: DataDir) -> None:
    if _keyring_usable():
        try:
            import keyring

            keyring.delete_password(SERVICE, USERNAME)
        except Exception:
            pass
    _file(data_dir).unlink(missing_ok=True)


def existing_login() -> str | None:
    """A token from an existing huggingface_hub login (HF_TOKEN or ``hf auth login``), to offer for reuse."""
    from huggingface_hub import get_token

    try:
        return get_token()
    except Exception:
        return None


def token_hint(token: str | None) -> str:
    """What the UI may show of a token: never more than its last 4 characters."""
    return f"hf_…{token[-4:]}" if token and len(token) > 8 else ("set" if token else "none")


def app_connection(data_dir: DataDir, *, endpoint: str | None = None,
                   offline: bool | None = None) -> HubConnection:
    """The connection the app and CLI use: endpoint from settings or env, our token or an existing login."""
    from lorastudio.core.hub.connection import connection
    from lorastudio.core.settings import load_settings

    settings = load_settings(data_dir.settings_file)
    token = load_token(data_dir) or existing_login()
    return connection(endpoint=endpoint or settings.hf_endpoint or None, offline=offline, token=token)
