"""Header reading and classification, one process, warm page cache: where a cold scan's time goes.

  PYTHONPATH=desktop .venv/bin/python tests/benchmarks/bench_header.py [--files 2000] [--repeat 3]

On ``--files`` kohya SD1.5 LoRAs (792 tensors each, every 10th with ~100 KB of ss_* metadata, as
bench_library.py builds them), prints the best of ``--repeat`` runs, in ms per file, of:
  - floor: open, read the length and the JSON header, parse it with orjson, nothing else;
  - read_header full (import/load-time validation) and browse (scan-time checks), if available;
  - describe_header on a parsed header (classification: kind, base, rank, alpha, tags...);
  - inspect_file: what a scan does per file (header, classification, sidecars).
Run it against another checkout's ``desktop`` (PYTHONPATH) to compare before and after.
"""

from __future__ import annotations

import argparse
import inspect
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "core" / "metadata"))


def build(root: Path, n: int) -> list[Path]:
    from model_files import kohya_sd15, ss_metadata
    from safetensors.numpy import save

    tensors = kohya_sd15(te_width=4)
    plain = save(tensors, metadata=ss_metadata(size=2_000))
    heavy = save(tensors, metadata=ss_metadata(size=100_000))
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"lora_{i:05d}.safetensors"
        path.write_bytes(heavy if i % 10 == 0 else plain)
        paths.append(path)
    return paths


def floor(path: Path) -> object:
    import orjson

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return orjson.loads(f.read(n))


def best(label: str, fn: Callable[[Path], object], paths: list[Path], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        times.append(time.perf_counter() - start)
    ms = 1000 * min(times) / len(paths)
    print(f"  {label:<28} {ms:7.3f} ms/file   ({min(times):.2f} s for {len(paths)})")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import lorastudio
    from lorastudio.core.metadata.detect import describe_header, inspect_file
    from lorastudio.core.metadata.safetensors_header import read_header

    print(f"lorastudio from {Path(lorastudio.__file__).parent}; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-header-") as tmp:
        paths = build(Path(tmp), args.files)
        for p in paths:  # warm the page cache
            p.read_bytes()
        print(f"{len(paths)} kohya SD1.5 LoRAs, 792 tensors each, 1 in 10 with ~100 KB of metadata")
        best("floor (read + orjson)", floor, paths, args.repeat)
        best("read_header (full)", read_header, paths, args.repeat)
        has_browse = "full" in inspect.signature(read_header).parameters
        if has_browse:
            best("read_header (browse)", lambda p: read_header(p, full=False), paths, args.repeat)
        headers = {p: read_header(p, full=False) if has_browse else read_header(p) for p in paths}
        best("describe_header", lambda p: describe_header(p, headers[p]), paths, args.repeat)
        best("inspect_file (scan, per file)", inspect_file, paths, args.repeat)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
