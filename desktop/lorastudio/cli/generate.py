"""``lorastudio generate`` and ``lorastudio demo``."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from lorastudio.core.errors import LoraLoadError, LoraStudioError
from lorastudio.core.paths import DataDir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gen = sub.add_parser("generate", help="generate an image with a model and LoRAs")
    gen.add_argument("--model", required=True, type=Path, help="diffusers pipeline folder or .safetensors checkpoint")
    gen.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]",
                     help="a LoRA file and its weight (default 1.0); repeat for a mix")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative", default="")
    gen.add_argument("--seed", type=int, default=None, help="default: random")
    gen.add_argument("--steps", type=int, default=20)
    gen.add_argument("--cfg", type=float, default=7.0)
    gen.add_argument("--width", type=int, default=512)
    gen.add_argument("--height", type=int, default=512)
    gen.add_argument("--sampler", default="Euler")
    gen.add_argument("--clip-skip", type=int, default=1)
    gen.add_argument("--batch", type=int, default=1, help="number of images (seeds seed, seed+1, ...)")
    gen.add_argument("--device", choices=["cpu"], default=None, help="force the CPU")
    gen.add_argument("--out", type=Path, default=None, help="PNG path (default: the outputs folder)")
    gen.set_defaults(func=run_generate)

    demo = sub.add_parser("demo", help="build the offline demo library (tiny model + 3 LoRAs)")
    demo.add_argument("dir", nargs="?", type=Path, help="data dir to build it in (default: --data-dir)")
    demo.set_defaults(func=run_demo)


def parse_lora_arg(text: str) -> tuple[Path, float]:
    """``FILE[:WEIGHT]``; a Windows drive letter colon is not a weight."""
    path, sep, weight = text.rpartition(":")
    if sep and path and not (len(path) == 1 and path.isalpha()):
        try:
            return Path(path), float(weight)
        except ValueError:
            pass
    return Path(text), 1.0


def run_generate(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.engine.request import GenerationRequest, LoraSpec

    loras = []
    for item in args.lora:
        path, weight = parse_lora_arg(item)
        if not path.is_file():
            raise LoraLoadError(f"LoRA file not found: {path}")
        loras.append(LoraSpec(path.resolve(), weight))
    if not args.model.exists():
        raise LoraStudioError(f"Model not found: {args.model}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    request = GenerationRequest(
        model=args.model.resolve(), prompt=args.prompt, negative_prompt=args.negative, loras=tuple(loras),
        seed=seed, steps=args.steps, cfg=args.cfg, width=args.width, height=args.height,
        sampler=args.sampler, clip_skip=args.clip_skip, batch_count=args.batch)

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.output import save_png

    engine = DiffusersEngine(device=args.device)
    print(f"device: {engine.choice.label}", file=sys.stderr)

    def on_step(step: int, total: int, preview: object) -> None:
        print(f"\rstep {step}/{total}", end="", file=sys.stderr, flush=True)

    results = engine.generate(request, on_step=on_step)
    print(file=sys.stderr)
    for result in results:
        if args.out and len(results) == 1:
            folder, out = args.out.parent, args.out
            path = save_png(result.image, request, result.seed, folder)
            path.replace(out)
            path = out
        else:
            path = save_png(result.image, request, result.seed,
                            args.out.parent if args.out else data.ensure().outputs)
        print(path)
    return 0


def run_demo(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.engine.demo import build_demo_library
    from lorastudio.core.paths import data_dir

    target = data_dir(args.dir) if args.dir else data
    lib = build_demo_library(target)
    print(lib.pipeline)
    for lora in lib.loras:
        print(lora)
    return 0
