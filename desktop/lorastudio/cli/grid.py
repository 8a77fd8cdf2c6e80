"""``lorastudio grid``: an X/Y/Z plot (LoRA weights, seeds, steps, …) as labelled grid PNGs."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from lorastudio.cli.outputs import check_writable_folder
from lorastudio.core.errors import LoraLoadError, LoraStudioError
from lorastudio.core.paths import DataDir

EPILOG = """\
axis syntax: KIND[:LORA]:VALUES
  VALUES is a comma list (quote a value that holds a comma) or, for numbers, a range
  START:STOP:COUNT = COUNT evenly spaced values (0:1:5 = 0,0.25,0.5,0.75,1).
  lora:NAME:0,0.5,1         weight of a LoRA (NAME: a --lora file's name, or a file path)
  on:NAME                   the LoRA off, then on
  blocks:NAME:ALL,INS,OUTD  block-weight presets, or quoted 17/12-value vectors
  prompt:cat,dog,fox        Prompt S/R: "cat" in the prompt is replaced by each value
  seed:1,2,3  steps:10:30:3  cfg:4,7  sampler:Euler,DDIM  checkpoint:PATH,PATH

examples:
  lorastudio grid --model M --prompt "a cat" --lora ink.safetensors:1 \\
      --x "lora:ink:0:1:5" --y "seed:1,2" --out grids
  lorastudio grid --model M --prompt "a cat" --lora ink.safetensors --lora neon.safetensors \\
      --x "lora:ink:0,0.5,1" --y "lora:neon:0,0.5,1" --z "sampler:Euler,DDIM"

Writes grid-NNNNN.png (one per Z value: grid-NNNNN-zK.png) with labelled rows and columns, and each
cell as its own PNG with its parameters in grid-NNNNN-cells/. Dropping a grid PNG on the window
restores its axes. Ctrl+C stops after the current step and saves the cells made so far.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    grid = sub.add_parser("grid", help="an X/Y/Z grid of LoRA weights, seeds, steps, CFG, samplers, ...",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    grid.add_argument("--model", required=True, type=Path, help="diffusers pipeline folder or .safetensors checkpoint")
    grid.add_argument("--prompt", required=True)
    grid.add_argument("--negative", default="")
    grid.add_argument("--lora", action="append", default=[], metavar="FILE[:W][:te=W][:lbw=B][:start=F][:stop=F]",
                      help="a LoRA in the mix of every cell (as for generate); repeat for a mix")
    grid.add_argument("--x", required=True, metavar="AXIS", help="what varies along the columns (see below)")
    grid.add_argument("--y", metavar="AXIS", help="what varies along the rows")
    grid.add_argument("--z", metavar="AXIS", help="one grid per value")
    grid.add_argument("--seed", type=int, default=None,
                      help="0 to 2**64-1; -1 or omitted: one random seed for all cells")
    grid.add_argument("--steps", type=int, default=20)
    grid.add_argument("--cfg", type=float, default=7.0)
    grid.add_argument("--width", type=int, default=512)
    grid.add_argument("--height", type=int, default=512)
    grid.add_argument("--sampler", default="Euler")
    grid.add_argument("--clip-skip", type=int, default=1)
    grid.add_argument("--no-cells", action="store_true", help="write only the grid PNGs, not each cell")
    grid.add_argument("--device", choices=["cpu"], default=None, help="force the CPU")
    grid.add_argument("--backend", metavar="URL_OR_NAME[,…]", default=None,
                      help="run the cells on ComfyUI server(s): names from `lorastudio backends` or addresses")
    grid.add_argument("--out", type=Path, default=None,
                      help="folder for the grid (created if its parent exists; default: outputs/grids)")
    grid.set_defaults(func=run_grid)


def _out_folder(out: Path | None, data: DataDir) -> Path:
    if out is None:
        folder = data.ensure().outputs / "grids"
        folder.mkdir(exist_ok=True)
        return folder
    if not out.exists():  # one new level, never a tree of typos
        check_writable_folder(out.parent if str(out.parent) else Path("."))
        out.mkdir()
    return check_writable_folder(out)


def run_grid(args: argparse.Namespace, data: DataDir) -> int:
    from dataclasses import replace

    from lorastudio.core.cancel import CancelToken
    from lorastudio.core.engine.mix import parse_lora_arg
    from lorastudio.core.engine.request import GenerationRequest, resolve_seed
    from lorastudio.core.grid.axes import parse_spec
    from lorastudio.core.grid.cells import cells
    from lorastudio.core.grid.run import CellResult, progress_text, run_cells

    spec = parse_spec(args.x, args.y, args.z)  # axis errors first: they cost nothing to find
    loras = []
    for item in args.lora:
        lora = parse_lora_arg(item)
        if not lora.path.is_file():
            raise LoraLoadError(f"LoRA file not found: {lora.path}")
        loras.append(replace(lora, path=lora.path.resolve()))
    if not args.model.exists():
        raise LoraStudioError(f"Model not found: {args.model}")
    base = GenerationRequest(
        model=args.model.resolve(), prompt=args.prompt, negative_prompt=args.negative, loras=tuple(loras),
        seed=resolve_seed(args.seed), steps=args.steps, cfg=args.cfg, width=args.width, height=args.height,
        sampler=args.sampler, clip_skip=args.clip_skip).validate()
    grid_cells = cells(spec, base)
    folder = _out_folder(args.out, data)

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.grid.files import write_grid

    if args.backend:
        from lorastudio.cli.backends import backend_engine

        engine = backend_engine(data, args.backend)
    else:
        engine = DiffusersEngine(device=args.device)
        print(f"device: {engine.choice.label}", file=sys.stderr)
    cancel = CancelToken()
    warned: set[str] = set()

    def on_step(number: int, total: int, step: int, steps: int) -> None:
        print(f"\r{progress_text(number, total)}, step {step}/{steps}  ", end="", file=sys.stderr, flush=True)

    def on_cell(result: CellResult, done: int, total: int) -> None:
        for note in result.warnings:
            if note not in warned:
                warned.add(note)
                print(f"\nwarning: {note}", file=sys.stderr)

    # Ctrl+C cancels like the window's button: the current cell stops at its next step and the cells
    # made so far are still written. (Python only lets the main thread set a signal handler.)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel()) if main_thread else None
    try:
        run = run_cells(engine, grid_cells, on_cell=on_cell, cancel=cancel, on_step=on_step)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
    print(file=sys.stderr)
    files = write_grid(spec, run.results, folder, cells=not args.no_cells)
    for path in files.grids:
        print(path)
    if run.cancelled:
        print(f"cancelled after {len(run.results)} of {run.total} cells", file=sys.stderr)
        return 130
    return 0
