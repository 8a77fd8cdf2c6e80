"""User block-weight presets (LoRA Block Weight vectors with a name) in the catalog DB.

Table ``block_presets`` lives in the catalog's SQLite file next to the mix presets, so the presets
travel with the data dir. A preset belongs to one block layout, named by its number of values
(17 for SD 1.x/2.x, 12 for SDXL): like LBW's separate preset files for SD and XL, the same name can
exist once per layout, unique ignoring case. This module knows no block names (core.library does not
import core.engine); callers pass the layout's size and the built-in names to keep free.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from lorastudio.core.errors import PresetError
from lorastudio.core.library.catalog import connect, migrate
from lorastudio.core.library.presets import clean_name

MODULE = "block_presets"
MAX_VALUES = 64  # LBW's longest layout has 26; anything past this is not a block vector
WEIGHT_LIMIT = 10.0  # the range the prompt syntax accepts (core/engine/blocks.py)

_STEPS = [
    """CREATE TABLE block_presets (
        name TEXT NOT NULL COLLATE NOCASE, size INTEGER NOT NULL, vector TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (size, name))""",
]


def clean_values(values: Sequence[float]) -> tuple[float, ...]:
    """``values`` as stored: floats in ±10; PresetError for an empty, overlong or out-of-range vector."""
    if not 0 < len(values) <= MAX_VALUES:
        raise PresetError(f"A block preset holds 1 to {MAX_VALUES} weights (got {len(values)}).")
    cleaned = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or abs(v) > WEIGHT_LIMIT:
            raise PresetError(f"Each block weight must be a number between -{WEIGHT_LIMIT:g} and {WEIGHT_LIMIT:g}.")
        cleaned.append(float(v))
    return tuple(cleaned)


def _decode(text: str, size: int) -> tuple[float, ...] | None:
    """A stored vector, or None when the row is damaged (it is then skipped, never fatal)."""
    try:
        data = json.loads(text)
        values = clean_values(data) if isinstance(data, list) else None
    except (ValueError, PresetError):
        return None
    return values if values is not None and len(values) == size else None


class BlockPresetStore:
    """Save, list and delete block presets. One instance per thread (SQLite connection)."""

    def __init__(self, db_path: Path) -> None:
        self._conn = connect(db_path)
        migrate(self._conn, MODULE, _STEPS)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> BlockPresetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def presets(self, size: int) -> dict[str, tuple[float, ...]]:
        """The presets of the ``size``-value layout, by name, sorted ignoring case."""
        rows = self._conn.execute(
            "SELECT name, vector FROM block_presets WHERE size = ? ORDER BY name COLLATE NOCASE", (size,)
        )
        found = {}
        for name, text in rows:
            values = _decode(text, size)
            if values is not None:
                found[name] = values
        return found

    def stored_name(self, name: str, size: int) -> str | None:
        """The spelling under which ``name`` is stored for this layout (ignoring case), or None."""
        row = self._conn.execute(
            "SELECT name FROM block_presets WHERE size = ? AND name = ?", (size, " ".join(name.split()))
        ).fetchone()
        return None if row is None else str(row[0])

    def save(
        self, name: str, values: Sequence[float], *, overwrite: bool = False, reserved: Collection[str] = ()
    ) -> str:
        """Store ``values`` under ``name`` and return the stored name.

        A name taken in the same layout is refused unless ``overwrite`` (which takes the new spelling
        and keeps the creation time); names in ``reserved`` (the built-in presets) are refused always.
        """
        name = clean_name(name)
        vector = clean_values(values)
        if name.upper() in {r.upper() for r in reserved}:
            raise PresetError(f"'{name}' is a built-in block preset; choose another name.")
        now = time.time()
        size = len(vector)
        payload = json.dumps(vector)
        existing = self.stored_name(name, size)
        if existing is not None and not overwrite:
            raise PresetError(f"A block preset named '{existing}' already exists. Choose another name or replace it.")
        try:
            with self._conn:
                if existing is not None:
                    self._conn.execute(
                        "UPDATE block_presets SET name = ?, vector = ?, updated = ? WHERE size = ? AND name = ?",
                        (name, payload, now, size, name),
                    )
                else:
                    self._conn.execute(
                        "INSERT INTO block_presets (name, size, vector, created, updated) VALUES (?, ?, ?, ?, ?)",
                        (name, size, payload, now, now),
                    )
        except sqlite3.IntegrityError as err:  # another window saved the same name meanwhile
            raise PresetError(f"A block preset named '{name}' already exists. Choose another name.") from err
        return name

    def delete(self, name: str, size: int) -> None:
        with self._conn:
            cur = self._conn.execute(
                "DELETE FROM block_presets WHERE size = ? AND name = ?", (size, " ".join(name.split()))
            )
        if cur.rowcount == 0:
            raise PresetError(f"There is no block preset named '{name.strip()}'.")
