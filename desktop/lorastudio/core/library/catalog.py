"""The library catalog: one SQLite file (WAL) in the data dir.

- ``files``: one row per model file or folder, keyed by its path (stored as bytes, so names that
  are not valid UTF-8 survive); ``size`` + ``mtime_ns`` make rescans incremental. Files that
  disappear are marked ``missing``, never silently dropped.
- ``file_metadata``: the (capped) header metadata, apart so listing 10k rows stays light.
- ``user_data``: favorite, tags, notes, preferred weight, custom trigger words, rating, keyed by
  ``sha:<sha256>`` so it follows the bytes through renames and moves. Before a file is hashed its
  user data is keyed ``path:<hex>`` and moves to the hash key as soon as the hash is known.
  Each row remembers its key (``files.user_key``), so a file whose mtime changes keeps its data
  while it waits to be re-hashed, and a file that appears at a new path inherits the key of a
  known file with the same size and ``quick`` hash (a few KB from the start, middle and end) at
  once, before its full hash exists. When the full hash turns out different, the data is copied
  to the new hash: what the user saw on the file stays on it.

Other modules add their own tables with ``migrate(conn, "<module>", [sql, ...])`` on a connection
from ``connect(data_dir.catalog_db)``; each module's schema version is kept in ``schema_versions``.
Connections are per thread: a worker opens its own ``Catalog``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.metadata.hashes import FileHashes
from lorastudio.core.metadata.untrusted import clean_text as _clean
from lorastudio.core.metadata.untrusted import open_regular, sql_int
from lorastudio.core.types import BaseArch, LoraFormat, ModelKind

MODULE = "library"

_STEPS = [
    """CREATE TABLE files (
        path BLOB PRIMARY KEY, root BLOB NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        is_dir INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL, base TEXT NOT NULL, lora_format TEXT NOT NULL,
        network TEXT NOT NULL DEFAULT '', variant TEXT NOT NULL DEFAULT '', base_signal TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
        rank INTEGER, alpha REAL, trains_unet INTEGER NOT NULL DEFAULT 0,
        trains_te INTEGER NOT NULL DEFAULT 0, trigger_words TEXT NOT NULL DEFAULT '[]',
        preferred_weight REAL, description TEXT NOT NULL DEFAULT '', preview BLOB,
        tensor_count INTEGER NOT NULL DEFAULT 0, hub TEXT NOT NULL DEFAULT '{}',
        sha256 TEXT, addnet TEXT, embedded_hash_ok INTEGER,
        added_at REAL NOT NULL, last_seen REAL NOT NULL, last_used REAL, missing INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX files_sha256 ON files(sha256)",
    "CREATE INDEX files_root ON files(root)",
    "CREATE TABLE file_metadata (path BLOB PRIMARY KEY, json TEXT NOT NULL)",
    """CREATE TABLE user_data (
        key TEXT PRIMARY KEY, favorite INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '[]',
        notes TEXT NOT NULL DEFAULT '', preferred_weight REAL, trigger_words TEXT NOT NULL DEFAULT '[]',
        rating INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL)""",
    # The user-data key a row had when it was last hashed (or inherited): survives mtime changes.
    "ALTER TABLE files ADD COLUMN user_key TEXT",
    "ALTER TABLE files ADD COLUMN quick TEXT",
    "UPDATE files SET user_key = 'sha:' || sha256 WHERE sha256 IS NOT NULL",
    "CREATE INDEX files_size ON files(size)",
]
QUICK_PIECE = 4096


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection with the settings every user of the catalog file needs (WAL, busy timeout)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(db_path), timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection, module: str, steps: Sequence[str]) -> None:
    """Apply the ``steps`` of ``module`` not applied yet, in order, each set atomically.

    Append new steps to a module's list; never edit or reorder applied ones.
    """
    conn.execute("CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_versions WHERE module = ?", (module,)).fetchone()
    version = row[0] if row else 0
    if version >= len(steps):
        return
    with conn:
        for sql in steps[version:]:
            conn.execute(sql)
        conn.execute("INSERT OR REPLACE INTO schema_versions (module, version) VALUES (?, ?)", (module, len(steps)))


def path_key(path: Path | str) -> bytes:
    return os.fsencode(path)


def _path(blob: bytes) -> Path:
    return Path(os.fsdecode(blob))


@functools.lru_cache(maxsize=256)
def _root_path(blob: bytes) -> Path:
    """Roots repeat on every row: one shared (immutable) Path each saves a third of a 10k load."""
    return _path(blob)


def display_path(path: Path | str) -> str:
    """A printable form of a path whose name may not be valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "replace")


def clean_text(text: str) -> str:
    """Text safe for SQLite and display: lone surrogates (from non-UTF-8 names or metadata) become
    U+FFFD and control characters other than newlines and tabs are dropped."""
    return _clean(text, keep_newlines=True)


def quick_hash(path: Path, size: int) -> str | None:
    """SHA-256 of the size and three 4 KB pieces (start, middle, end): tells a renamed or touched
    file from a different one in a millisecond, while its full hash is pending. None if unreadable."""
    h = hashlib.sha256(str(size).encode())
    try:
        with open_regular(path) as f:
            for offset in sorted({0, max(0, size // 2 - QUICK_PIECE // 2), max(0, size - QUICK_PIECE)}):
                f.seek(offset)
                h.update(f.read(QUICK_PIECE))
    except OSError:
        return None
    return h.hexdigest()[:32]


def _finite(value: float | None) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) and abs(value) < 1e300 else None


@dataclass(frozen=True)
class UserData:
    favorite: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""
    preferred_weight: float | None = None
    trigger_words: tuple[str, ...] = ()
    rating: int = 0  # 0 = unrated, 1-5


@dataclass(frozen=True)
class CatalogRecord:
    info: FileInfo  # ``info.metadata`` is only filled by ``Catalog.get``
    root: Path
    sha256: str | None = None
    addnet: str | None = None
    embedded_hash_ok: bool | None = None
    added_at: float = 0.0
    last_used: float | None = None
    missing: bool = False
    user: UserData = field(default_factory=UserData)

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def trigger_words(self) -> tuple[str, ...]:
        """The user's own trigger words first, then those found in the file and its sidecars."""
        return tuple(dict.fromkeys(self.user.trigger_words + self.info.trigger_words))

    @property
    def preferred_weight(self) -> float | None:
        return self.user.preferred_weight if self.user.preferred_weight is not None else self.info.preferred_weight

    @property
    def autov2(self) -> str | None:
        return self.sha256[:10] if self.sha256 else None

    @property
    def addnet_short(self) -> str | None:
        return self.addnet[:12] if self.addnet else None


_USER_KEY = (
    "COALESCE(f.user_key, CASE WHEN f.sha256 IS NOT NULL THEN 'sha:' || f.sha256 ELSE 'path:' || hex(f.path) END)"
)
_COLUMNS = (
    "f.path, f.root, f.size, f.mtime_ns, f.is_dir, f.kind, f.base, f.lora_format, f.network, f.variant, "
    "f.base_signal, f.status, f.error, f.title, f.rank, f.alpha, f.trains_unet, f.trains_te, "
    "f.trigger_words, f.preferred_weight, f.description, f.preview, f.tensor_count, f.hub, f.sha256, "
    "f.addnet, f.embedded_hash_ok, f.added_at, f.last_used, f.missing, u.favorite, u.tags, u.notes, "
    "u.preferred_weight, u.trigger_words, u.rating"
)
_SELECT = f"SELECT {_COLUMNS} FROM files f LEFT JOIN user_data u ON u.key = {_USER_KEY}"


def _enum(cls: Any, value: str, default: Any) -> Any:
    try:
        return cls(value)
    except ValueError:
        return default


def _record(row: Sequence[Any], metadata: dict[str, str] | None = None) -> CatalogRecord:
    (
        path,
        root,
        size,
        mtime_ns,
        is_dir,
        kind,
        base,
        fmt,
        network,
        variant,
        base_signal,
        status,
        error,
        title,
        rank,
        alpha,
        unet,
        te,
        words,
        weight,
        description,
        preview,
        tensors,
        hub,
        sha,
        addnet,
        emb_ok,
        added,
        used,
        missing,
        fav,
        tags,
        notes,
        uweight,
        uwords,
        rating,
    ) = row
    info = FileInfo(
        path=_path(path),
        kind=_enum(ModelKind, kind, ModelKind.UNKNOWN),
        base=_enum(BaseArch, base, BaseArch.UNKNOWN),
        lora_format=_enum(LoraFormat, fmt, LoraFormat.NONE),
        status=status,
        error=error,
        size=size,
        mtime=mtime_ns / 1e9,
        metadata=metadata or {},
        rank=rank,
        alpha=alpha,
        trains_unet=bool(unet),
        trains_text_encoder=bool(te),
        trigger_words=tuple(json.loads(words)),
        preferred_weight=weight,
        description=description,
        preview=_path(preview) if preview else None,
        title=title,
        network=network,
        variant=variant,
        base_signal=base_signal,
        tensor_count=tensors,
        hub=json.loads(hub),
        is_dir=bool(is_dir),
    )
    user = (
        UserData()
        if fav is None
        else UserData(
            favorite=bool(fav),
            tags=tuple(json.loads(tags)),
            notes=notes,
            preferred_weight=uweight,
            trigger_words=tuple(json.loads(uwords)),
            rating=rating,
        )
    )
    return CatalogRecord(
        info=info,
        root=_root_path(root),
        sha256=sha,
        addnet=addnet,
        embedded_hash_ok=None if emb_ok is None else bool(emb_ok),
        added_at=added,
        last_used=used,
        missing=bool(missing),
        user=user,
    )


class Catalog:
    """Read and write the catalog. Not thread-safe: one instance per thread."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.conn = connect(self.db_path)
        migrate(self.conn, MODULE, _STEPS)
        self._quick_sizes: set[int] | None = None  # sizes of rows with a quick hash, loaded on demand

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scanning ---------------------------------------------------------------------------------

    def known(self, root: Path | None = None) -> dict[bytes, tuple[int, int, bool]]:
        """``{path key: (size, mtime_ns, missing)}`` for every file (under ``root``)."""
        self._quick_sizes = None  # a scan starts here: see hashes other connections wrote since
        if root is None:
            rows = self.conn.execute("SELECT path, size, mtime_ns, missing FROM files")
        else:
            rows = self.conn.execute(
                "SELECT path, size, mtime_ns, missing FROM files WHERE root = ?", (path_key(root),)
            )
        return {p: (s, m, bool(x)) for p, s, m, x in rows}

    def upsert_many(self, items: Iterable[tuple[FileInfo, Path, int]]) -> None:
        """Insert or update ``(info, root, mtime_ns)``; a changed file loses its (now stale) hashes but
        keeps its user data. Numbers SQLite cannot hold are stored as unknown (NULL or 0), never raised.
        A new path whose size and quick hash match a known file takes over that file's user data."""
        now = time.time()
        quick_sizes = self._known_quick_sizes()
        with self.conn:
            for info, root, mtime_ns in items:
                key = path_key(info.path)
                inherit = (
                    not info.is_dir
                    and info.size in quick_sizes
                    and self.conn.execute("SELECT 1 FROM files WHERE path = ?", (key,)).fetchone() is None
                )
                values = (
                    key,
                    path_key(root),
                    max(0, sql_int(info.size) or 0),
                    sql_int(mtime_ns) or 0,
                    int(info.is_dir),
                    info.kind.value,
                    info.base.value,
                    info.lora_format.value,
                    clean_text(info.network),
                    clean_text(info.variant),
                    clean_text(info.base_signal),
                    clean_text(info.status),
                    clean_text(info.error),
                    clean_text(info.title),
                    sql_int(info.rank),
                    _finite(info.alpha),
                    int(info.trains_unet),
                    int(info.trains_text_encoder),
                    json.dumps([clean_text(w) for w in info.trigger_words]),
                    _finite(info.preferred_weight),
                    clean_text(info.description),
                    path_key(info.preview) if info.preview else None,
                    max(0, sql_int(info.tensor_count) or 0),
                    json.dumps({clean_text(k): clean_text(v) for k, v in info.hub.items()}),
                    now,
                    now,
                )
                self.conn.execute(
                    """INSERT INTO files (path, root, size, mtime_ns, is_dir, kind, base, lora_format, network,
                       variant, base_signal, status, error, title, rank, alpha, trains_unet, trains_te,
                       trigger_words, preferred_weight, description, preview, tensor_count, hub, added_at,
                       last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                       ON CONFLICT(path) DO UPDATE SET root=excluded.root, kind=excluded.kind,
                       base=excluded.base, lora_format=excluded.lora_format, network=excluded.network,
                       variant=excluded.variant, base_signal=excluded.base_signal, status=excluded.status,
                       error=excluded.error, title=excluded.title, rank=excluded.rank, alpha=excluded.alpha,
                       trains_unet=excluded.trains_unet, trains_te=excluded.trains_te,
                       trigger_words=excluded.trigger_words, preferred_weight=excluded.preferred_weight,
                       description=excluded.description, preview=excluded.preview,
                       tensor_count=excluded.tensor_count, hub=excluded.hub, last_seen=excluded.last_seen,
                       is_dir=excluded.is_dir, missing=0,
                       sha256=CASE WHEN files.size=excluded.size AND files.mtime_ns=excluded.mtime_ns
                                   THEN files.sha256 END,
                       addnet=CASE WHEN files.size=excluded.size AND files.mtime_ns=excluded.mtime_ns
                                   THEN files.addnet END,
                       embedded_hash_ok=CASE WHEN files.size=excluded.size AND files.mtime_ns=excluded.mtime_ns
                                   THEN files.embedded_hash_ok END,
                       size=excluded.size, mtime_ns=excluded.mtime_ns""",
                    values,
                )
                self.conn.execute(
                    "INSERT OR REPLACE INTO file_metadata (path, json) VALUES (?, ?)",
                    (key, json.dumps({clean_text(k): clean_text(v) for k, v in info.metadata.items()})),
                )
                if inherit:
                    self._inherit_user_key(info.path, key, info.size)

    def _known_quick_sizes(self) -> set[int]:
        if self._quick_sizes is None:
            rows = self.conn.execute("SELECT DISTINCT size FROM files WHERE quick IS NOT NULL")
            self._quick_sizes = {int(r[0]) for r in rows}
        return self._quick_sizes

    def _inherit_user_key(self, path: Path, key: bytes, size: int) -> None:
        """A new row takes the user-data key of a known file with the same size and quick hash
        (a rename, a move or a copy back): favourites and notes show at once, not after hashing."""
        quick = quick_hash(path, size)
        if quick is None:
            return
        row = self.conn.execute(
            f"SELECT {_USER_KEY} FROM files f WHERE f.size = ? AND f.quick = ? AND f.path != ? "
            "ORDER BY f.missing DESC, f.user_key IS NOT NULL DESC LIMIT 1",
            (size, quick, key),
        ).fetchone()
        inherited = row[0] if row else None
        self.conn.execute("UPDATE files SET quick = ?, user_key = ? WHERE path = ?", (quick, inherited, key))

    def mark_missing(self, paths: Iterable[bytes | Path], missing: bool = True) -> None:
        with self.conn:
            self.conn.executemany(
                "UPDATE files SET missing = ? WHERE path = ?",
                [(int(missing), p if isinstance(p, bytes) else path_key(p)) for p in paths],
            )

    def forget(self, path: Path) -> None:
        """Remove a row (the user asked to; the scanner only marks missing)."""
        with self.conn:
            self.conn.execute("DELETE FROM files WHERE path = ?", (path_key(path),))
            self.conn.execute("DELETE FROM file_metadata WHERE path = ?", (path_key(path),))

    # -- hashes ----------------------------------------------------------------------------------

    def unhashed(self, size: int | None = None) -> list[tuple[Path, int]]:
        """Present files without hashes, smallest first (LoRAs are done before multi-GB checkpoints);
        only those of exactly ``size`` bytes when given (the candidates for a duplicate)."""
        sql = (
            "SELECT path, size FROM files WHERE sha256 IS NULL AND missing = 0 AND is_dir = 0 "
            "AND status IN ('ok', 'pickle') AND size > 0"
        )
        rows = (
            self.conn.execute(sql + " AND size = ? ORDER BY path", (size,))
            if size is not None
            else self.conn.execute(sql + " ORDER BY size")
        )
        return [(_path(p), s) for p, s in rows]

    def set_hashes(self, path: Path, hashes: FileHashes, embedded_ok: bool | None = None) -> None:
        key = path_key(path)
        old = self._user_key(path) or "path:" + key.hex().upper()
        new = "sha:" + hashes.sha256
        row = self.conn.execute("SELECT size FROM files WHERE path = ?", (key,)).fetchone()
        quick = quick_hash(path, int(row[0])) if row else None
        with self.conn:
            self.conn.execute(
                "UPDATE files SET sha256 = ?, addnet = ?, embedded_hash_ok = ?, user_key = ?, quick = ? WHERE path = ?",
                (hashes.sha256, hashes.addnet, None if embedded_ok is None else int(embedded_ok), new, quick, key),
            )
            pending = old != new and self.conn.execute("SELECT 1 FROM user_data WHERE key = ?", (old,)).fetchone()
            if pending and old.startswith("sha:"):
                # The bytes changed under data the user saw on this file: it stays on the file (a copy,
                # so other files with the old bytes keep theirs), unless the new hash has its own.
                self.conn.execute(
                    "INSERT OR IGNORE INTO user_data (key, favorite, tags, notes, preferred_weight, trigger_words, "
                    "rating, updated_at) SELECT ?, favorite, tags, notes, preferred_weight, trigger_words, rating, "
                    "updated_at FROM user_data WHERE key = ?",
                    (new, old),
                )
            elif pending:  # data entered before the hash was known moves to the hash key
                if self.conn.execute("SELECT 1 FROM user_data WHERE key = ?", (new,)).fetchone():
                    self.conn.execute("DELETE FROM user_data WHERE key = ?", (new,))
                self.conn.execute("UPDATE user_data SET key = ? WHERE key = ?", (new, old))
        if quick is not None and row is not None and self._quick_sizes is not None:
            self._quick_sizes.add(int(row[0]))

    def find_by_sha256(self, sha256: str) -> list[CatalogRecord]:
        return [_record(r) for r in self.conn.execute(_SELECT + " WHERE f.sha256 = ?", (sha256,))]

    # -- reading ---------------------------------------------------------------------------------

    def records(self, include_missing: bool = True) -> list[CatalogRecord]:
        """Every row, without header metadata (see ``get``), ordered by path."""
        sql = _SELECT + ("" if include_missing else " WHERE f.missing = 0") + " ORDER BY f.path"
        return [_record(r) for r in self.conn.execute(sql)]

    def records_under(self, roots: Sequence[Path]) -> list[CatalogRecord]:
        keys = [path_key(r) for r in roots]
        marks = ",".join("?" * len(keys))
        sql = _SELECT + f" WHERE f.root IN ({marks}) ORDER BY f.path"
        return [_record(r) for r in self.conn.execute(sql, keys)]

    def get(self, path: Path) -> CatalogRecord | None:
        """One row, with its header metadata."""
        key = path_key(path)
        row = self.conn.execute(_SELECT + " WHERE f.path = ?", (key,)).fetchone()
        if row is None:
            return None
        meta = self.conn.execute("SELECT json FROM file_metadata WHERE path = ?", (key,)).fetchone()
        return _record(row, json.loads(meta[0]) if meta else {})

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM files").fetchone()[0])

    # -- user data -------------------------------------------------------------------------------

    def _user_key(self, path: Path) -> str | None:
        row = self.conn.execute(f"SELECT {_USER_KEY} FROM files f WHERE f.path = ?", (path_key(path),)).fetchone()
        return str(row[0]) if row else None

    def set_user_data(self, path: Path, data: UserData) -> None:
        key = self._user_key(path)
        if key is None:
            raise KeyError(display_path(path))
        rating = max(0, min(5, int(data.rating)))
        if key.startswith("path:"):
            self._remember_quick(path)
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO user_data (key, favorite, tags, notes, preferred_weight, trigger_words, "
                "rating, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    key,
                    int(data.favorite),
                    json.dumps(list(data.tags)),
                    data.notes,
                    data.preferred_weight,
                    json.dumps(list(data.trigger_words)),
                    rating,
                    time.time(),
                ),
            )

    def _remember_quick(self, path: Path) -> None:
        """An unhashed file the user cares about gets a quick hash, so a rename finds its data."""
        row = self.conn.execute(
            "SELECT size FROM files WHERE path = ? AND quick IS NULL AND is_dir = 0", (path_key(path),)
        ).fetchone()
        if row is None:
            return
        quick = quick_hash(path, int(row[0]))
        if quick is None:
            return
        with self.conn:
            self.conn.execute(
                "UPDATE files SET quick = ?, user_key = COALESCE(user_key, 'path:' || hex(path)) WHERE path = ?",
                (quick, path_key(path)),
            )
        if self._quick_sizes is not None:
            self._quick_sizes.add(int(row[0]))

    def update_user_data(self, path: Path, **changes: Any) -> UserData:
        record = self.get(path)
        if record is None:
            raise KeyError(display_path(path))
        data = replace(record.user, **changes)
        self.set_user_data(path, data)
        return data

    def mark_used(self, path: Path) -> None:
        with self.conn:
            self.conn.execute("UPDATE files SET last_used = ? WHERE path = ?", (time.time(), path_key(path)))
