"""``lorastudio generate`` and ``lorastudio demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lorastudio.cli.outputs import check_png_target, move_to_out
from lorastudio.core.errors import LoraLoadError, LoraStudioError
from lorastudio.core.paths import DataDir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gen = sub.add_parser("generate", help="generate an image with a model and LoRAs")
    gen.add_argument("--model", required=True, type=Path, help="diffusers pipeline folder or .safetensors checkpoint")
    gen.add_argument("--lora", action="append", default=[], metavar="FILE[:W][:te=W][:lbw=B][:start=F][:stop=F]",
                     help="a LoRA file, its weight (default 1.0) and options: text-encoder weight, block "
                          "weights (preset or 17/12 values), start/stop fractions; repeat for a mix")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--negative", default="")
    gen.add_argument("--seed", type=int, default=None, help="0 to 2**64-1; -1 or omitted: random")
    gen.add_argument("--steps", type=int, default=None,
                     help="default: the model's suggested steps (its sidecar's default_settings), else 20")
    gen.add_argument("--cfg", type=float, default=7.0)
    gen.add_argument("--width", type=int, default=None, help="default: the model's native size, else 512")
    gen.add_argument("--height", type=int, default=None, help="default: the model's native size, else 512")
    gen.add_argument("--sampler", default="Euler")
    gen.add_argument("--clip-skip", type=int, default=1)
    gen.add_argument("--batch", type=int, default=1, help="number of images (seeds seed, seed+1, ...)")
    gen.add_argument("--device", choices=["cpu"], default=None, help="force the CPU")
    gen.add_argument("--backend", metavar="URL_OR_NAME", default=None,
                     help="generate on a ComfyUI server (a name from `lorastudio backends` or http://host:port)")
    gen.add_argument("--out", type=Path, default=None,
                     help="PNG file, or an existing folder for the images (default: the outputs folder)")
    gen.set_defaults(func=run_generate)

    demo = sub.add_parser("demo", help="build the offline demo library (tiny model + 3 LoRAs)")
    demo.add_argument("dir", nargs="?", type=Path, help="data dir to build it in (default: --data-dir)")
    demo.set_defaults(func=run_demo)


def _given(value: int | None, model_default: int | None, fallback: int) -> int:
    """The user's value (even a bad one: validate() says why), else the model's, else the usual."""
    return value if value is not None else model_default if model_default is not None else fallback


def run_generate(args: argparse.Namespace, data: DataDir) -> int:
    from dataclasses import replace

    from lorastudio.core.engine.mix import parse_lora_arg
    from lorastudio.core.engine.request import GenerationRequest, resolve_seed
    from lorastudio.core.metadata.model_defaults import model_defaults

    loras = []
    for item in args.lora:
        spec = parse_lora_arg(item)  # FILE[:W][:te=W2][:lbw=PRESET|v1,v2,…][:start=F][:stop=F]
        if not spec.path.is_file() and not args.backend:  # a server matches its own copy by name
            raise LoraLoadError(f"LoRA file not found: {spec.path}")
        loras.append(replace(spec, path=spec.path.resolve()))
    if not args.model.exists() and not args.backend:
        raise LoraStudioError(f"Model not found: {args.model}")
    native = model_defaults(args.model)
    request = GenerationRequest(
        model=args.model.resolve(), prompt=args.prompt, negative_prompt=args.negative, loras=tuple(loras),
        seed=resolve_seed(args.seed), steps=_given(args.steps, native.steps, 20), cfg=args.cfg,
        width=_given(args.width, native.width, 512), height=_given(args.height, native.height, 512),
        sampler=args.sampler, clip_skip=args.clip_skip, batch_count=args.batch).validate()
    # Checked before the model loads: a bad --out must not cost a generation, nor leave a stray PNG.
    out_folder, out_file = check_png_target(args.out) if args.out else (None, None)
    if args.backend:
        from lorastudio.cli.backends import run_remote_generate

        return run_remote_generate(args, request, data, out_folder, out_file)

    from lorastudio.core.engine.engine import DiffusersEngine
    from lorastudio.core.engine.output import save_png

    engine = DiffusersEngine(device=args.device)
    print(f"device: {engine.choice.label}", file=sys.stderr)

    def on_step(step: int, total: int, preview: object) -> None:
        print(f"\rstep {step}/{total}", end="", file=sys.stderr, flush=True)

    results = engine.generate(request, on_step=on_step)
    print(file=sys.stderr)
    for note in results[0].warnings if results else ():
        print(f"warning: {note}", file=sys.stderr)  # a LoRA that only partly fits the model
    for result in results:
        folder = out_folder or data.ensure().outputs
        path = save_png(result.image, request, result.seed, folder)
        if out_file is not None and len(results) == 1:
            path = move_to_out(path, out_file)
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
