"""User settings: a small JSON file in the data dir. Secrets never go here (see core.hub tokens)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    theme: str = "dark"  # "dark" | "light"
    external_roots: tuple[str, ...] = ()
    last_checkpoint: str = ""
    hf_endpoint: str = ""  # empty: huggingface_hub's default / $HF_ENDPOINT
    allow_card_images: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False
    auto_trigger_words: bool = False
    # The engine runtime (#18): a build key from core.runtime.detect.TARGETS ("" = detect), the
    # package index that replaces PyPI ("" = PyPI) and an offline wheel folder ("" = none).
    runtime_target: str = ""
    runtime_index_url: str = ""
    runtime_find_links: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def updated(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def load_settings(path: Path) -> Settings:
    """Read settings; a missing or unreadable file gives defaults (never blocks start-up)."""
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    known = {f.name for f in fields(Settings)}
    values = {k: v for k, v in raw.items() if k in known}
    if "external_roots" in values:
        values["external_roots"] = tuple(str(r) for r in values["external_roots"])
    try:
        return Settings(**values)
    except TypeError:
        return Settings()


def save_settings(path: Path, settings: Settings) -> None:
    """Write atomically so a crash never leaves half a settings file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(settings), indent=2), "utf-8")
    os.replace(tmp, path)


SettingsListener = Callable[[Settings, frozenset[str]], None]


class SettingsStore:
    """The one ``Settings`` instance of a process for one settings file.

    Every change goes through :meth:`update`, which writes the file and then tells the listeners
    which fields changed. Callers change only the fields they own, so two places editing different
    settings (the library adding a folder, the Settings dialog changing the theme) never undo each
    other, whatever order they save in.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._listeners: list[SettingsListener] = []
        self._lock = threading.RLock()
        self._stamp = self._file_stamp()
        self._value = load_settings(path)

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _reload_if_changed_outside(self) -> None:
        # Another process (the CLI) may have written the file: start from its content, so its
        # change is kept too instead of being overwritten by our older copy.
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self._value = load_settings(self.path)

    @property
    def value(self) -> Settings:
        with self._lock:
            self._reload_if_changed_outside()
            return self._value

    def update(self, **changes: Any) -> Settings:
        """Apply ``changes`` (field=value), save, notify; a no-op change writes nothing."""
        with self._lock:
            self._reload_if_changed_outside()
            old = self._value
            new = replace(old, **changes)
            changed = frozenset(k for k in changes if getattr(old, k) != getattr(new, k))
            if not changed:
                return old
            save_settings(self.path, new)
            self._value = new
            self._stamp = self._file_stamp()
            listeners = list(self._listeners)
        for listener in listeners:
            listener(new, changed)
        return new

    def update_extra(self, **items: Any) -> Settings:
        """Set keys of ``Settings.extra`` without touching its other keys."""
        with self._lock:
            return self.update(extra={**self.value.extra, **items})

    def connect(self, listener: SettingsListener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: SettingsListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)


_stores: dict[Path, SettingsStore] = {}
_stores_lock = threading.Lock()


def settings_store(path: Path) -> SettingsStore:
    """The shared store for ``path`` (one per file per process: everyone edits the same instance)."""
    key = Path(path).expanduser().resolve()
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = SettingsStore(key)
        return store


def forget_settings_store(path: Path) -> None:
    """Drop the shared store for ``path`` (tests that rewrite the file behind the app's back)."""
    with _stores_lock:
        _stores.pop(Path(path).expanduser().resolve(), None)
