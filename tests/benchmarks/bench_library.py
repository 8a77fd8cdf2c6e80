"""Library benchmark: cold scan, warm rescan and hash throughput on a generated 10k-LoRA library.

Run: ``PYTHONPATH=desktop .venv/bin/python tests/benchmarks/bench_library.py [--files 10000] [--hash-mb 256]``
Prints figures only; nothing here is pass/fail. The hash figure is a ratio against ``sha256sum``
on the same file in the same run (the file is read once first so both see a warm page cache).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import kohya_sd15, ss_metadata
from safetensors.numpy import save

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.metadata.hashes import hash_file


def build_library(root: Path, n: int) -> None:
    """``n`` kohya SD1.5 LoRAs (792 tensors each); every 10th carries ~100 KB of ss_* metadata."""
    tensors = kohya_sd15(te_width=4)
    plain = save(tensors, metadata=ss_metadata(size=2_000))
    heavy = save(tensors, metadata=ss_metadata(size=100_000))
    for i in range(n):
        folder = root / f"set{i // 500:02d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"lora_{i:05d}.safetensors").write_bytes(heavy if i % 10 == 0 else plain)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--hash-mb", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    try:
        lib = work / "loras"
        t = time.perf_counter()
        build_library(lib, args.files)
        size = sum(p.stat().st_size for p in lib.rglob("*.safetensors"))
        print(f"generated {args.files} LoRAs ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        with Catalog(work / "catalog.sqlite3") as catalog:
            cold = scan(catalog, [lib])
            print(
                f"cold scan:   {cold.seconds:6.2f} s  ({cold.added} added, {cold.errors} errors, "
                f"{cold.seconds / max(cold.seen, 1) * 1000:.2f} ms/file)"
            )
            warm = scan(catalog, [lib])
            print(f"warm rescan: {warm.seconds:6.2f} s  ({warm.unchanged} unchanged)")
            t = time.perf_counter()
            records = catalog.records()
            print(f"load {len(records)} catalog records: {time.perf_counter() - t:.2f} s")
        big = work / "big.safetensors"
        with open(big, "wb") as f:  # a valid header, then random-looking tensor bytes
            n_bytes = args.hash_mb * 1024 * 1024
            header = b'{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}' % (n_bytes, n_bytes)
            f.write(len(header).to_bytes(8, "little") + header)
            block = bytes(range(256)) * 4096
            for _ in range(n_bytes // len(block)):
                f.write(block)
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        t = time.perf_counter()
        subprocess.run(["sha256sum", str(big)], stdout=subprocess.DEVNULL, check=True)
        base = time.perf_counter() - t
        t = time.perf_counter()
        hash_file(big)
        ours = time.perf_counter() - t
        mb = big.stat().st_size / 1e6
        print(
            f"hash {mb:.0f} MB: sha256sum {base:.2f} s ({mb / base:.0f} MB/s); lorastudio sha256+addnet "
            f"{ours:.2f} s ({mb / ours:.0f} MB/s); ratio {ours / base:.2f}x sha256sum "
            f"(two digests per byte)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
