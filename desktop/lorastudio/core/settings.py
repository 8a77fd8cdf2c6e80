"""User settings: a small JSON file in the data dir. Secrets never go here (see core.hub tokens)."""

from __future__ import annotations

import json
import os
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
