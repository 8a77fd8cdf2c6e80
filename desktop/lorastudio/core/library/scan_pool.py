"""Cold scans over every core: headers are read in a process pool, the catalog has one writer.

``scan_parallel`` keeps the catalog in the same state as ``scanner.scan`` does (the tests compare
the two), in three steps: walk the roots and keep the entries whose (size, mtime) changed, or
whose preview image came or went since (a warm rescan of 10k unchanged files stops here, well
under a second); read and describe those in worker
processes (``spawn``: no forked locks or Qt state) in small chunks, or in this process when there
are only a few, because starting a pool costs a few tenths of a second; write the results from
this process in batches as they arrive. Cancelling stops handing out work, drops the chunks not
started and marks nothing missing; what was read already is kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lorastudio.core.cancel import CancelToken
from lorastudio.core.library.catalog import Catalog, path_key
from lorastudio.core.library.scanner import BATCH, Entry, ScanResult, iter_entries, read_entry
from lorastudio.core.metadata.detect import STATUS_ERROR, FileInfo
from lorastudio.core.metadata.sidecars import find_preview

if TYPE_CHECKING:
    from concurrent.futures.process import ProcessPoolExecutor

PoolProgress = Callable[[int, int, str], None]  # done, total (0 while walking), phase "walk" | "read"
MIN_PARALLEL = 64  # fewer changed files than this are read here: a pool would cost more than it saves
CHUNK = 32  # files per task: cheap to hand out, quick to cancel, siblings pickled once per chunk
MAX_WORKERS = 8


def default_workers() -> int:
    """The cores this process may run on (its affinity mask, not the whole machine), at most 8."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_WORKERS))


def _read_chunk(entries: list[Entry]) -> list[FileInfo]:
    """Runs in a worker process: ``scanner.read_entry`` for each entry, in order."""
    return [read_entry(entry) for entry in entries]


@dataclass
class _Root:
    root: Path
    known: dict[bytes, tuple[int, int, bool]]
    previews: dict[bytes, bytes | None]
    seen: set[bytes]
    vanished: set[bytes]


def _previews(catalog: Catalog, root: Path) -> dict[bytes, bytes | None]:
    rows = catalog.conn.execute("SELECT path, preview FROM files WHERE root = ?", (path_key(root),))
    return {bytes(p): (bytes(v) if v is not None else None) for p, v in rows}


def _preview_changed(entry: Entry, stored: bytes | None) -> bool:
    """A preview image added, removed or replaced next to an unchanged model file: the file itself
    looks unchanged, so only this says that its card needs the new picture. Free for files (the
    folder listing is at hand); folders are left to their own mtime."""
    if entry.is_dir:
        return False
    found = find_preview(entry.path, entry.siblings)
    return (path_key(found) if found is not None else None) != stored


def _walk(
    catalog: Catalog,
    roots: Sequence[Path],
    cancel: CancelToken | None,
    progress: PoolProgress | None,
    result: ScanResult,
) -> tuple[list[_Root], list[tuple[int, Entry]]]:
    """Every root's entries compared with the catalog: the roots' state and the entries to read."""
    walked: list[_Root] = []
    stale: list[tuple[int, Entry]] = []  # (index into walked, entry)
    for root in roots:
        state = _Root(Path(root), catalog.known(Path(root)), _previews(catalog, Path(root)), set(), set())
        walked.append(state)
        for entry in iter_entries(state.root, cancel, result.walk_errors, result.skipped):
            key = path_key(entry.path)
            if key in state.seen:
                continue
            state.seen.add(key)
            result.seen += 1
            if progress is not None and result.seen % 500 == 0:
                progress(result.seen, 0, "walk")
            old = state.known.get(key)
            # Folders are stored with their total size but compared by their marker's mtime only.
            same_size = entry.is_dir or (old is not None and old[0] == entry.size)
            if (
                old is not None
                and not old[2]
                and same_size
                and old[1] == entry.mtime_ns
                and entry.size >= 0
                and not _preview_changed(entry, state.previews.get(key))
            ):
                result.unchanged += 1
                continue
            stale.append((len(walked) - 1, entry))
        if cancel is not None and cancel.cancelled:
            break
    return walked, stale


def scan_parallel(
    catalog: Catalog,
    roots: Sequence[Path],
    cancel: CancelToken | None = None,
    progress: PoolProgress | None = None,
    workers: int | None = None,
    min_parallel: int = MIN_PARALLEL,
) -> ScanResult:
    """Bring the catalog up to date for ``roots`` like ``scanner.scan``, reading files on ``workers``
    processes (default: the usable cores); files no longer there are marked missing."""
    start = time.perf_counter()
    result = ScanResult()
    walked, stale = _walk(catalog, roots, cancel, progress, result)
    total = len(stale)
    pending: list[tuple[FileInfo, Path, int]] = []
    done = 0

    def record(where: int, entry: Entry, info: FileInfo) -> None:
        nonlocal done
        state = walked[where]
        key = path_key(entry.path)
        if info.status == STATUS_ERROR:
            result.errors += 1
        if entry.size < 0 or "no longer exists" in info.error or "vanished" in info.error:
            state.vanished.add(key)  # gone between listing and reading: a row saying so, marked missing
        if key in state.known:
            result.updated += 1
        else:
            result.added += 1
        pending.append((info, state.root, entry.mtime_ns))
        if len(pending) >= BATCH:
            catalog.upsert_many(pending)
            pending.clear()
        done += 1
        if progress is not None and (done % 50 == 0 or done == total):
            progress(done, total, "read")

    n_workers = default_workers() if workers is None else max(1, workers)
    if n_workers > 1 and total >= max(min_parallel, 2) and not (cancel is not None and cancel.cancelled):
        _read_in_pool(stale, n_workers, cancel, record)
    else:
        for where, entry in stale:
            if cancel is not None and cancel.cancelled:
                break
            info = _read_chunk([entry])[0]
            record(where, entry, info)
    if pending:
        catalog.upsert_many(pending)
    if cancel is not None and cancel.cancelled:
        result.cancelled = True
    else:
        for state in walked:
            gone = {k for k, (_, _, missing) in state.known.items() if k not in state.seen and not missing}
            gone |= state.vanished
            catalog.mark_missing(gone)
            result.missing += len(gone)
    result.seconds = time.perf_counter() - start
    return result


def _chunks(stale: list[tuple[int, Entry]]) -> list[list[tuple[int, Entry]]]:
    return [stale[i : i + CHUNK] for i in range(0, len(stale), CHUNK)]


def _read_in_pool(
    stale: list[tuple[int, Entry]],
    n_workers: int,
    cancel: CancelToken | None,
    record: Callable[[int, Entry, FileInfo], None],
) -> None:
    """Read ``stale`` on ``n_workers`` processes, a bounded number of chunks in flight; results go
    to ``record`` in this thread. A pool that breaks (a worker killed) leaves the rest to this process."""
    chunks = _chunks(stale)
    pool: ProcessPoolExecutor = cf.ProcessPoolExecutor(
        max_workers=n_workers, mp_context=multiprocessing.get_context("spawn")
    )
    in_flight: dict[cf.Future[list[FileInfo]], list[tuple[int, Entry]]] = {}
    next_chunk = 0
    left: list[list[tuple[int, Entry]]] = []
    try:
        while next_chunk < len(chunks) or in_flight:
            while next_chunk < len(chunks) and len(in_flight) < 3 * n_workers:
                if cancel is not None and cancel.cancelled:
                    break
                chunk = chunks[next_chunk]
                in_flight[pool.submit(_read_chunk, [e for _, e in chunk])] = chunk
                next_chunk += 1
            if not in_flight:
                break
            # A short timeout so that a cancel is noticed while a chunk is still being read.
            finished, _ = cf.wait(in_flight, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                chunk = in_flight.pop(future)
                try:
                    infos = future.result()
                except cf.BrokenExecutor:
                    left.append(chunk)
                    continue
                for (where, entry), info in zip(chunk, infos, strict=True):
                    record(where, entry, info)
            if left:  # the pool is gone: everything not read yet is read here
                left.extend(in_flight.values())
                left.extend(chunks[next_chunk:])
                in_flight.clear()
                next_chunk = len(chunks)
            if cancel is not None and cancel.cancelled:
                for future in in_flight:
                    future.cancel()
                break
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    for chunk in left:
        for where, entry in chunk:
            if cancel is not None and cancel.cancelled:
                return
            record(where, entry, _read_chunk([entry])[0])
