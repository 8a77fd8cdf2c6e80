"""Walk library roots and keep the catalog in step with the disk.

Incremental: a file whose (path, size, mtime) match the catalog is not opened again, so an
unchanged library of 10k files rescans in about a second. Safe on hostile trees: directory
symlink loops are cut by (device, inode); unreadable folders and files that vanish mid-scan get a
per-file status and the scan goes on; pipes and devices named like models are listed with a
reason, never opened. What the walk leaves out (folders too deep, symlink loops, unreadable
folders) is counted in ``ScanResult.skipped`` so the user is told, never silently. Model folders
(diffusers pipelines, PEFT adapters, transformers models) are one entry each and are not
descended into.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import BadModelFile, GenerationCancelled
from lorastudio.core.library.catalog import Catalog, path_key
from lorastudio.core.metadata.detect import (
    MODEL_SUFFIXES,
    STATUS_ERROR,
    FileInfo,
    folder_kind,
    inspect_file,
    inspect_folder,
)
from lorastudio.core.metadata.hashes import embedded_hash_matches, hash_file
from lorastudio.core.paths import DataDir

ScanProgress = Callable[[int, str], None]  # entries looked at so far, current path (display form)
BATCH = 200
MAX_DEPTH = 24
SKIP_TOO_DEEP, SKIP_LOOP, SKIP_UNREADABLE = "too_deep", "symlink_loop", "unreadable_folder"
_SKIP_LABELS = {
    SKIP_TOO_DEEP: (f"folder deeper than {MAX_DEPTH} levels", f"folders deeper than {MAX_DEPTH} levels"),
    SKIP_LOOP: ("symlink loop", "symlink loops"),
    SKIP_UNREADABLE: ("unreadable folder", "unreadable folders"),
}
_SKIP_DIRS = {".git", ".cache", ".locks", "blobs", "__pycache__", ".no_exist", "node_modules", "refs", "trees"}


@dataclass(frozen=True)
class Entry:
    path: Path
    is_dir: bool
    size: int
    mtime_ns: int
    siblings: frozenset[str] = frozenset()


@dataclass
class ScanResult:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    errors: int = 0
    walk_errors: list[str] = field(default_factory=list)  # folders that could not be listed
    seconds: float = 0.0
    cancelled: bool = False
    skipped: dict[str, int] = field(default_factory=dict)  # SKIP_* reason -> entries the walk left out

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    def skipped_summary(self) -> str:
        """E.g. "3 skipped — 2 folders deeper than 24 levels, 1 symlink loop"; "" when none were."""
        if not self.skipped:
            return ""
        parts = []
        for why, n in sorted(self.skipped.items(), key=lambda kv: -kv[1]):
            one, many = _SKIP_LABELS.get(why, (why, why))
            parts.append(f"{n} {one if n == 1 else many}")
        return f"{self.skipped_count} skipped — {', '.join(parts)}"


def _skip(skipped: dict[str, int] | None, why: str) -> None:
    if skipped is not None:
        skipped[why] = skipped.get(why, 0) + 1


def read_entry(entry: Entry) -> FileInfo:
    """What the catalog records for one walked entry; never raises (a picklable top-level function,
    so a process pool can call it). A reader bug costs this file its details, never the scan."""
    try:
        return inspect_folder(entry.path) if entry.is_dir else inspect_file(entry.path, entry.siblings)
    except Exception as err:
        return FileInfo(
            path=entry.path,
            status=STATUS_ERROR,
            error=f"LoRA Studio could not read this file ({type(err).__name__}).",
            size=max(entry.size, 0),
            title=entry.path.stem,
            is_dir=entry.is_dir,
        )


def iter_entries(
    root: Path,
    cancel: CancelToken | None = None,
    walk_errors: list[str] | None = None,
    skipped: dict[str, int] | None = None,
) -> Iterator[Entry]:
    """Model files and model folders under ``root``; symlink-loop safe, never raises for a folder.

    What is left out is counted in ``skipped`` (reason -> count), e.g. ``ScanResult.skipped``."""
    root = Path(root)
    try:
        root_kind = folder_kind(root, os.listdir(root))
    except OSError:
        root_kind = None
    if root_kind is not None:  # the root itself is one model (e.g. a pipeline in the HF cache)
        yield _folder_entry(root, root_kind.value)
        return
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        if cancel is not None and cancel.cancelled:
            return
        try:
            st = os.stat(folder)
        except OSError as err:
            if walk_errors is not None:
                walk_errors.append(f"{folder}: {err.strerror or err}")
            _skip(skipped, SKIP_LOOP if err.errno == errno.ELOOP else SKIP_UNREADABLE)
            continue
        ident = (st.st_dev, st.st_ino)
        if ident in visited:  # a symlink loop or a second route to the same folder
            _skip(skipped, SKIP_LOOP)
            continue
        visited.add(ident)
        try:
            with os.scandir(folder) as it:
                items = list(it)
        except OSError as err:
            if walk_errors is not None:
                walk_errors.append(f"{folder}: {err.strerror or err}")
            _skip(skipped, SKIP_UNREADABLE)
            continue
        names = frozenset(e.name for e in items)
        subdirs: list[Path] = []
        for item in items:
            try:
                is_dir = item.is_dir()  # follows symlinks; loops are caught by the inode check
            except OSError as err:  # a link to itself raises here, not in stat()
                if err.errno == errno.ELOOP and item.name.lower().endswith(MODEL_SUFFIXES):
                    _skip(skipped, SKIP_LOOP)
                continue
            if is_dir:
                if item.name.startswith(".") or item.name in _SKIP_DIRS:
                    continue
                if depth >= MAX_DEPTH:
                    _skip(skipped, SKIP_TOO_DEEP)
                    continue
                sub = Path(item.path)
                try:
                    kind = folder_kind(sub, os.listdir(sub))
                except OSError:
                    kind = None
                if kind is not None:
                    yield _folder_entry(sub, kind.value)
                else:
                    subdirs.append(sub)
                continue
            if not item.name.lower().endswith(MODEL_SUFFIXES):
                continue
            try:
                fst = item.stat()
            except OSError as err:
                if err.errno == errno.ELOOP:  # a link to itself: nothing to list, but say so
                    _skip(skipped, SKIP_LOOP)
                    continue
                # vanished or a dangling link: report it so the catalog can say so
                yield Entry(Path(item.path), False, -1, -1, names)
                continue
            yield Entry(Path(item.path), False, fst.st_size, fst.st_mtime_ns, names)
        stack.extend((d, depth + 1) for d in sorted(subdirs, reverse=True))


def _folder_entry(path: Path, kind: str) -> Entry:
    marker = {"pipeline": "model_index.json", "peft_adapter": "adapter_config.json"}.get(kind, "config.json")
    try:
        mst = os.stat(path / marker)
        dst = os.stat(path)
        return Entry(path, True, 0, max(mst.st_mtime_ns, dst.st_mtime_ns))
    except OSError:
        return Entry(path, True, -1, -1)


def scan(
    catalog: Catalog, roots: Sequence[Path], cancel: CancelToken | None = None, progress: ScanProgress | None = None
) -> ScanResult:
    """Bring the catalog up to date for ``roots``; files no longer there are marked missing."""
    start = time.perf_counter()
    result = ScanResult()
    for root in roots:
        root = Path(root)
        known = catalog.known(root)
        seen: set[bytes] = set()
        vanished: set[bytes] = set()
        batch: list[tuple[FileInfo, Path, int]] = []
        for entry in iter_entries(root, cancel, result.walk_errors, result.skipped):
            key = path_key(entry.path)
            if key in seen:
                continue
            seen.add(key)
            result.seen += 1
            if progress is not None and result.seen % 50 == 0:
                progress(result.seen, str(entry.path))
            old = known.get(key)
            # Folders are stored with their total size but compared by their marker's mtime only.
            same_size = entry.is_dir or (old is not None and old[0] == entry.size)
            if old is not None and not old[2] and same_size and old[1] == entry.mtime_ns and entry.size >= 0:
                result.unchanged += 1
                continue
            info = read_entry(entry)
            if info.status == "error":
                result.errors += 1
            if entry.size < 0 or "no longer exists" in info.error or "vanished" in info.error:
                # Gone between listing and reading: keep a row saying so, marked missing below.
                vanished.add(key)
            if old is None:
                result.added += 1
            else:
                result.updated += 1
            batch.append((info, root, entry.mtime_ns))
            if len(batch) >= BATCH:
                catalog.upsert_many(batch)
                batch.clear()
        if batch:
            catalog.upsert_many(batch)
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        gone = {k for k, (_, _, missing) in known.items() if k not in seen and not missing} | vanished
        catalog.mark_missing(gone)
        result.missing += len(gone)
    result.seconds = time.perf_counter() - start
    return result


HashProgress = Callable[[int, int, str], None]  # files done, files total, current path


def hash_pending(catalog: Catalog, cancel: CancelToken | None = None, progress: HashProgress | None = None) -> int:
    """Hash every present file that has no hashes yet (smallest first); returns how many were done.

    A file that fails (vanished, unreadable) is skipped; it is retried on the next call.
    """
    pending = catalog.unhashed()
    done = 0
    for i, (path, _size) in enumerate(pending):
        if cancel is not None and cancel.cancelled:
            break
        if progress is not None:
            progress(i, len(pending), str(path))
        try:
            hashes = hash_file(path, cancel=cancel)
        except GenerationCancelled:
            break
        except (OSError, BadModelFile):
            continue
        record = catalog.get(path)
        embedded = embedded_hash_matches(record.info.metadata if record else {}, hashes)
        catalog.set_hashes(path, hashes, embedded)
        done += 1
    if progress is not None:
        progress(len(pending), len(pending), "")
    return done


def default_roots(data: DataDir, external: Sequence[str] = ()) -> list[Path]:
    """The app's own models folder plus the user's external roots (existing folders only)."""
    roots = [data.models]
    for r in external:
        p = Path(r).expanduser()
        if p not in roots:
            roots.append(p)
    return roots
