"""Grid benchmark (prints figures; not part of the pass/fail suite).

  python tests/benchmarks/bench_grid.py [--steps N] [--size PX] [--rounds N]

A 5×5 weight grid (two LoRAs, five weights each) through ``run_cells`` on one engine, against the
same 25 images made as 25 separate ``generate`` runs in this process, each as
``lorastudio generate`` does it (a new engine: the model and the LoRAs load every time), and
against 25 ``generate`` calls in a row on one engine (what the grid should cost: nothing on top).
Rounds alternate so that a busy machine slows every side alike; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "desktop"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

WEIGHTS = "0:1:5"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args()

    import torch

    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec
    from lorastudio.core.grid.axes import parse_spec
    from lorastudio.core.grid.cells import cells
    from lorastudio.core.grid.run import run_cells
    from lorastudio.core.paths import data_dir

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory() as tmp:
        lib = build_demo_library(data_dir(Path(tmp)), previews=False)
        ink, neon = lib.loras[0], lib.loras[1]
        base = GenerationRequest(model=lib.pipeline, prompt="a lighthouse at dusk",
                                 loras=(LoraSpec(ink, 1.0), LoraSpec(neon, 1.0)), seed=7, steps=args.steps,
                                 width=args.size, height=args.size)
        spec = parse_spec(f"lora:{ink.stem}:{WEIGHTS}", f"lora:{neon.stem}:{WEIGHTS}")
        grid_cells = cells(spec, base)
        DiffusersEngine(device=args.device).generate(grid_cells[0].request)  # first-use imports off the clock

        loads: list[tuple[int, int]] = []

        def grid() -> None:
            engine = DiffusersEngine(device=args.device)
            run_cells(engine, grid_cells)
            loads.append((engine.stats.pipeline_loads, engine.stats.lora_loads))

        def separate() -> None:
            for cell in grid_cells:
                DiffusersEngine(device=args.device).generate(cell.request)

        def warm() -> None:
            engine = DiffusersEngine(device=args.device)
            for cell in grid_cells:
                engine.generate(cell.request)

        sides = [grid, separate, warm]
        times: dict[str, list[float]] = {side.__name__: [] for side in sides}
        cpu: dict[str, list[float]] = {side.__name__: [] for side in sides}
        for r in range(args.rounds):
            for side in sides[r % 3:] + sides[:r % 3]:  # rotate: a busy spell hits every side alike
                t0, c0 = time.perf_counter(), time.process_time()
                side()
                times[side.__name__].append(time.perf_counter() - t0)
                cpu[side.__name__].append(time.process_time() - c0)
            print(f"  round {r + 1} wall s:", {k: round(v[-1], 1) for k, v in times.items()},
                  " process CPU s:", {k: round(v[-1], 1) for k, v in cpu.items()}, flush=True)
        grid_s, separate_s, warm_s = times["grid"], times["separate"], times["warm"]
        cpu_m = {k: statistics.median(v) for k, v in cpu.items()}

    grid_m, separate_m, warm_m = (statistics.median(v) for v in (grid_s, separate_s, warm_s))
    print(f"5x5 weight grid, {args.size}x{args.size}, {args.steps} steps, demo model, {args.device}, "
          f"{args.rounds} rounds (median)")
    print(f"  grid (one engine, run_cells):            {grid_m:7.2f} s   loads per grid "
          f"(pipeline, LoRA files): {loads[0]}")
    print(f"  25 separate generate runs (new engine):  {separate_m:7.2f} s")
    print(f"  one engine, 25 generate calls in a row:  {warm_m:7.2f} s")
    print(f"  ratio separate / grid: {separate_m / grid_m:5.2f}x   grid / calls in a row: {grid_m / warm_m:5.2f}")
    # On a shared machine wall time swings with other load; process CPU time much less so.
    print(f"  process CPU ratio separate / grid: {cpu_m['separate'] / cpu_m['grid']:5.2f}x   "
          f"grid / calls in a row: {cpu_m['grid'] / cpu_m['warm']:5.2f}")

if __name__ == "__main__":
    main()
