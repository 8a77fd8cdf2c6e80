"""Presets ("recipes"): a named LoRA mix, optionally with its prompt and settings, in the catalog DB.

Table ``presets`` (name unique, case-insensitively; JSON payload; created/updated times) lives in
the catalog's SQLite file next to the library tables, so a recipe travels with the data dir.
The payload names LoRAs by path *and* name, so a recipe still loads after a file was moved
(the caller resolves the name against the library).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorastudio.core.errors import PresetError
from lorastudio.core.library.catalog import connect, migrate

MODULE = "presets"
PAYLOAD_VERSION = 1
MAX_NAME = 120

_STEPS = [
    """CREATE TABLE presets (
        name TEXT NOT NULL UNIQUE COLLATE NOCASE, payload TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL)""",
]


@dataclass(frozen=True)
class PresetLora:
    path: Path
    name: str = ""
    weight: float = 1.0
    te_weight: float | None = None
    enabled: bool = True
    blocks: tuple[float, ...] | None = None  # per-block weights; None = every block at 1
    start: float = 0.0
    stop: float = 1.0


@dataclass(frozen=True)
class Preset:
    """A saved mix. ``prompt``/``negative_prompt``/``settings`` None: not part of this recipe."""

    name: str
    loras: tuple[PresetLora, ...] = ()
    prompt: str | None = None
    negative_prompt: str | None = None
    settings: dict[str, Any] | None = None  # steps, cfg, sampler, width, height, clip_skip, seed, model
    created: float = 0.0
    updated: float = 0.0

    def payload(self) -> str:
        data: dict[str, Any] = {
            "version": PAYLOAD_VERSION,
            "loras": [
                {
                    "path": str(lo.path),
                    "name": lo.name,
                    "weight": lo.weight,
                    "te_weight": lo.te_weight,
                    "enabled": lo.enabled,
                    "blocks": list(lo.blocks) if lo.blocks is not None else None,
                    "start": lo.start,
                    "stop": lo.stop,
                }
                for lo in self.loras
            ],
        }
        if self.prompt is not None:
            data["prompt"] = self.prompt
        if self.negative_prompt is not None:
            data["negative_prompt"] = self.negative_prompt
        if self.settings is not None:
            data["settings"] = self.settings
        return json.dumps(data, ensure_ascii=False)


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def _blocks(value: Any) -> tuple[float, ...] | None:
    # A damaged vector (wrong type, non-finite values, absurd length) loads as "every block at 1".
    if not isinstance(value, list) or not 1 <= len(value) <= 32:
        return None
    numbers = [_number(v, None) for v in value]
    return None if any(v is None for v in numbers) else tuple(float(v or 0.0) for v in numbers)


def preset_from_payload(name: str, payload: str, created: float = 0.0, updated: float = 0.0) -> Preset:
    """Decode a stored payload; PresetError when it is not a preset LoRA Studio can read."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("loras", []), list):
        raise PresetError(f"The preset '{name}' is damaged and cannot be loaded.")
    loras = []
    for item in data.get("loras", []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        loras.append(
            PresetLora(
                path=Path(item["path"]),
                name=str(item.get("name") or ""),
                weight=_number(item.get("weight"), 1.0) or 0.0,
                te_weight=_number(item.get("te_weight"), None),
                enabled=bool(item.get("enabled", True)),
                blocks=_blocks(item.get("blocks")),
                start=min(1.0, max(0.0, _number(item.get("start"), 0.0) or 0.0)),
                stop=min(1.0, max(0.0, _number(item.get("stop"), 1.0) or 0.0)),
            )
        )
    settings = data.get("settings")
    prompt, negative = data.get("prompt"), data.get("negative_prompt")
    return Preset(
        name=name,
        loras=tuple(loras),
        prompt=prompt if isinstance(prompt, str) else None,
        negative_prompt=negative if isinstance(negative, str) else None,
        settings=settings if isinstance(settings, dict) else None,
        created=created,
        updated=updated,
    )


def clean_name(name: str) -> str:
    """The name as stored: trimmed, one line; PresetError when empty or too long."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise PresetError("Give the preset a name.")
    if len(cleaned) > MAX_NAME:
        raise PresetError(f"Preset names are limited to {MAX_NAME} characters.")
    return cleaned


class PresetStore:
    """Save, load, rename and delete presets. One instance per thread (SQLite connection)."""

    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)
        migrate(self._conn, MODULE, _STEPS)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PresetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        """All preset names, sorted case-insensitively."""
        return [r[0] for r in self._conn.execute("SELECT name FROM presets ORDER BY name COLLATE NOCASE")]

    def exists(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM presets WHERE name = ?", (name.strip(),)).fetchone() is not None

    def save(self, preset: Preset, overwrite: bool = False) -> Preset:
        """Store ``preset``; a taken name is refused unless ``overwrite`` (which keeps ``created``)."""
        name = clean_name(preset.name)
        now = time.time()
        row = self._conn.execute("SELECT name, created FROM presets WHERE name = ?", (name,)).fetchone()
        if row is not None and not overwrite:
            raise PresetError(f"A preset named '{row[0]}' already exists. Choose another name or overwrite it.")
        try:
            with self._conn:
                if row is not None:
                    self._conn.execute(
                        "UPDATE presets SET name = ?, payload = ?, updated = ? WHERE name = ?",
                        (name, preset.payload(), now, name),
                    )
                    created = float(row[1])
                else:
                    self._conn.execute(
                        "INSERT INTO presets (name, payload, created, updated) VALUES (?, ?, ?, ?)",
                        (name, preset.payload(), now, now),
                    )
                    created = now
        except sqlite3.IntegrityError as err:  # another window saved the same name meanwhile
            raise PresetError(f"A preset named '{name}' already exists. Choose another name.") from err
        return Preset(name, preset.loras, preset.prompt, preset.negative_prompt, preset.settings, created, now)

    def load(self, name: str) -> Preset:
        row = self._conn.execute(
            "SELECT name, payload, created, updated FROM presets WHERE name = ?", (name.strip(),)
        ).fetchone()
        if row is None:
            raise PresetError(f"There is no preset named '{name.strip()}'.")
        return preset_from_payload(row[0], row[1], row[2], row[3])

    def rename(self, old: str, new: str) -> None:
        new_name = clean_name(new)
        if not self.exists(old):
            raise PresetError(f"There is no preset named '{old.strip()}'.")
        clash = self._conn.execute("SELECT name FROM presets WHERE name = ?", (new_name,)).fetchone()
        if clash is not None and clash[0].lower() != old.strip().lower():
            raise PresetError(f"A preset named '{clash[0]}' already exists. Choose another name.")
        try:
            with self._conn:
                self._conn.execute(
                    "UPDATE presets SET name = ?, updated = ? WHERE name = ?", (new_name, time.time(), old.strip())
                )
        except sqlite3.IntegrityError as err:  # another window took the name meanwhile
            raise PresetError(f"A preset named '{new_name}' already exists. Choose another name.") from err

    def delete(self, name: str) -> None:
        with self._conn:
            cur = self._conn.execute("DELETE FROM presets WHERE name = ?", (name.strip(),))
        if cur.rowcount == 0:
            raise PresetError(f"There is no preset named '{name.strip()}'.")
