"""Library benchmark on generated libraries of kohya SD1.5 LoRAs: cold scan against the header-read
floor, warm rescan, catalog load, hash throughput, peak RSS. Prints figures; nothing is pass/fail.

  PYTHONPATH=desktop .venv/bin/python tests/benchmarks/bench_library.py [--files 10000 50000]
      [--workers N] [--hash-mb 256] [--skip-serial]

For each size, in one run and on a warm page cache (the files are read once first), so every
figure sees the same disk state:
  - the header-read floor: open, read the 8-byte length and the JSON header, parse it (``json``
    and ``orjson``), nothing else; in this process and over a spawn process pool;
  - the cold scan: ``scanner.scan`` (one process) and ``scan_pool.scan_parallel`` (the pool),
    each into an empty catalog;
  - the warm rescan of the unchanged library (``scan_parallel``, as the window runs it);
  - reading every catalog record, and building the model's search/sort index from them (what
    the window's worker does);
Then SHA-256 + addnet hash of one big file against ``openssl dgst -sha256`` (one digest) on the
same cached file, and the peak RSS of this process and of its children. The machine's load
average is printed first and last: on a shared machine, figures move with it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "core" / "metadata"))

CHUNK = 64


def build_library(root: Path, n: int) -> None:
    """``n`` kohya SD1.5 LoRAs (792 tensors each); every 10th carries ~100 KB of ss_* metadata."""
    from model_files import kohya_sd15, ss_metadata
    from safetensors.numpy import save

    tensors = kohya_sd15(te_width=4)
    plain = save(tensors, metadata=ss_metadata(size=2_000))
    heavy = save(tensors, metadata=ss_metadata(size=100_000))
    for i in range(n):
        folder = root / f"set{i // 500:03d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"lora_{i:05d}.safetensors").write_bytes(heavy if i % 10 == 0 else plain)


def _headers(paths: list[str], parser: str = "json") -> int:
    """The floor: read and parse each header, nothing else. Returns the number of tensors seen."""
    loads = json.loads
    if parser == "orjson":
        import orjson

        loads = orjson.loads
    tensors = 0
    for p in paths:
        with open(p, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            tensors += len(loads(f.read(n)))
    return tensors


def _floor_pool(paths: list[str], workers: int, parser: str) -> float:
    t = time.perf_counter()
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        chunks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
        sum(pool.map(_headers, chunks, [parser] * len(chunks)))
    return time.perf_counter() - t


def _cpu() -> float:
    """CPU seconds of this process and its finished children: on a shared machine wall time
    moves with the load, CPU time much less."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def bench_size(work: Path, n: int, workers: int, skip_serial: bool) -> None:
    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.library.scan_pool import scan_parallel
    from lorastudio.core.library.scanner import scan
    from lorastudio.qt.models.library_model import build_index

    lib = work / f"loras-{n}"
    t = time.perf_counter()
    build_library(lib, n)
    paths = sorted(str(p) for p in lib.rglob("*.safetensors"))
    size = sum(os.path.getsize(p) for p in paths)
    print(f"\n== {n:,} LoRAs ({size / 1e9:.2f} GB), generated in {time.perf_counter() - t:.1f} s; {_load()}")
    for p in paths:  # warm the page cache: every figure below reads from memory
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass

    t = time.perf_counter()
    _headers(paths, "json")
    floor_json = time.perf_counter() - t
    t = time.perf_counter()
    _headers(paths, "orjson")
    floor_orjson = time.perf_counter() - t
    floor_pool = _floor_pool(paths, workers, "orjson")
    print(f"header-read floor, 1 process:  json {floor_json:6.2f} s   orjson {floor_orjson:6.2f} s")
    print(f"header-read floor, {workers} processes (spawn pool, orjson): {floor_pool:6.2f} s")

    if not skip_serial:
        c = _cpu()
        with Catalog(work / f"serial-{n}.sqlite3") as catalog:
            serial = scan(catalog, [lib])
        print(
            f"cold scan, 1 process (scanner.scan):         {serial.seconds:6.2f} s  "
            f"({serial.seconds / n * 1000:.2f} ms/file, {serial.seconds / floor_orjson:.1f}x its floor; "
            f"{_cpu() - c:.1f} CPU s)"
        )
    with Catalog(work / f"pool-{n}.sqlite3") as catalog:
        c = _cpu()
        cold = scan_parallel(catalog, [lib], workers=workers)
        print(
            f"cold scan, {workers} processes (scan_parallel):   {cold.seconds:6.2f} s  "
            f"({cold.added} added, {cold.errors} errors; {cold.seconds / floor_pool:.1f}x its floor; "
            f"{_cpu() - c:.1f} CPU s in all)"
        )
        warm = scan_parallel(catalog, [lib], workers=workers)
        print(f"warm rescan (scan_parallel):                  {warm.seconds:6.2f} s  ({warm.unchanged} unchanged)")
        t = time.perf_counter()
        records = catalog.records()
        read = time.perf_counter() - t
        t = time.perf_counter()
        build_index(records)
        index = time.perf_counter() - t
        print(f"catalog records read: {read:.2f} s; search/sort index built: {index:.2f} s (worker thread)")
    shutil.rmtree(lib, ignore_errors=True)


def bench_hash(work: Path, mb: int) -> None:
    from lorastudio.core.metadata.hashes import hash_file

    big = work / "big.safetensors"
    with open(big, "wb") as f:  # a valid header, then random tensor bytes
        n_bytes = mb * 1024 * 1024
        header = b'{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (n_bytes, n_bytes)
        f.write(len(header).to_bytes(8, "little") + header)
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))
    subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    tool = ["openssl", "dgst", "-sha256"] if shutil.which("openssl") else ["sha256sum"]
    base = []
    ours = []
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([*tool, str(big)], stdout=subprocess.DEVNULL, check=True)
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        hash_file(big)
        ours.append(time.perf_counter() - t)
    b, o = min(base), min(ours)
    size = big.stat().st_size / 1e6
    print(
        f"\nhash {size:.0f} MB (best of 3): `{' '.join(tool)}` {b:.2f} s ({size / b:.0f} MB/s, one digest); "
        f"lorastudio sha256 + addnet {o:.2f} s ({size / o:.0f} MB/s, two digests); ratio {o / b:.2f}x"
    )


def main() -> None:
    from lorastudio.core.library.scan_pool import default_workers

    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, nargs="+", default=[10_000])
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--hash-mb", type=int, default=256)
    parser.add_argument("--skip-serial", action="store_true", help="leave out the one-process cold scan")
    args = parser.parse_args()
    print(f"start: {_load()}; pool of {args.workers} processes")
    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    try:
        for n in args.files:
            bench_size(work, n, args.workers, args.skip_serial)
        bench_hash(work, args.hash_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {me:.0f} MB, largest child {kids:.0f} MB")
    print(f"end: {_load()}")


if __name__ == "__main__":
    main()
