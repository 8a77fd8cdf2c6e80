"""CLI subcommands: ``lorastudio text generate|train|merge|demo|list`` (language models + PEFT LoRA)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.paths import DataDir

if TYPE_CHECKING:
    from lorastudio.core.text.mix import TextMix


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``text`` and its subcommands."""
    text = sub.add_parser("text", help="language models with LoRA adapters: generate, train, merge")
    cmds = text.add_subparsers(dest="text_command", metavar="ACTION", required=True)

    gen = cmds.add_parser("generate", help="generate text with a model and a weighted adapter mix")
    _model_arg(gen)
    _adapter_arg(gen, required=False)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--max-new-tokens", type=int, default=64, metavar="N")
    gen.add_argument("--seed", type=int, default=None, metavar="N", help="-1 or omitted: random (printed)")
    gen.add_argument("--temperature", type=float, default=0.8, help="0 = greedy (default 0.8)")
    gen.add_argument("--top-p", type=float, default=0.95)
    gen.add_argument("--top-k", type=int, default=50)
    gen.add_argument("--repetition-penalty", type=float, default=1.0)
    gen.set_defaults(func=_generate)

    train = cmds.add_parser("train", help="fine-tune a LoRA adapter on text")
    _model_arg(train)
    train.add_argument("--data", required=True, metavar="PATH",
                       help=".txt file, folder of .txt files, or JSONL with a \"text\" field")
    train.add_argument("--out", required=True, metavar="DIR", help="new adapter folder")
    train.add_argument("--epochs", type=int, default=3, metavar="N")
    train.add_argument("--rank", type=int, default=8, metavar="R")
    train.add_argument("--alpha", type=float, default=32.0, metavar="A")
    train.add_argument("--dropout", type=float, default=0.05)
    train.add_argument("--lr", type=float, default=2e-4, metavar="X")
    train.add_argument("--batch-size", type=int, default=4, metavar="N")
    train.add_argument("--max-length", type=int, default=128, metavar="N")
    train.add_argument("--max-steps", type=int, default=0, metavar="N",
                       help="stop after N steps (0: no limit)")
    train.add_argument("--target-modules", default="", metavar="A,B",
                       help="modules to adapt (default: PEFT's choice for the architecture)")
    train.set_defaults(func=_train)

    merge = cmds.add_parser("merge", help="merge a weighted adapter mix into a standalone model folder")
    _model_arg(merge)
    _adapter_arg(merge, required=True)
    merge.add_argument("--out", required=True, metavar="DIR")
    merge.set_defaults(func=_merge)

    demo = cmds.add_parser("demo", help="build a tiny offline GPT-2 demo model (and two demo adapters)")
    demo.add_argument("dir", nargs="?", metavar="DIR",
                      help="model folder (default: the data dir's text models)")
    demo.add_argument("--no-adapters", action="store_true", help="skip training the two demo adapters")
    demo.set_defaults(func=_demo)

    listing = cmds.add_parser("list", help="list language models and adapters in the data dir")
    listing.add_argument("--model", metavar="DIR|NAME", help="also check which adapters fit this model")
    listing.set_defaults(func=_list)


def _model_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="DIR|NAME",
                        help="causal language model: its folder, or a name that 'text list' shows")


def _adapter_arg(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--adapter", action="append", default=[], required=required, metavar="DIR|NAME[:WEIGHT]",
                        help="adapter folder or a name that 'text list' shows, with an optional weight "
                             "(default 1.0); repeat to mix")


def _is_path(ref: str) -> bool:
    """A folder the user typed (it exists, or has a separator): used as given, checked where it is used."""
    return Path(ref).expanduser().exists() or "/" in ref or os.sep in ref


def _model_dir(ref: str, data: DataDir) -> Path:
    """The folder of the model ``--model`` names (a path, or a name from ``text list``)."""
    from lorastudio.core.text.models import resolve_text_model

    return Path(ref) if _is_path(ref) else resolve_text_model(ref, [data.text_models]).path


def _adapter_dir(ref: str, data: DataDir) -> Path:
    from lorastudio.core.text.models import resolve_adapter

    return Path(ref) if _is_path(ref) else resolve_adapter(ref, [data.text_adapters]).path


def parse_adapter_spec(spec: str) -> tuple[str, float]:
    """``DIR[:WEIGHT]`` → (dir, weight); a colon that is not followed by a number belongs to the path."""
    head, sep, tail = spec.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return spec, 1.0


def _mix(specs: list[str], data: DataDir) -> TextMix:
    """The adapter mix ``--adapter`` names; a name is looked up in the data dir's text adapters."""
    from lorastudio.core.text.mix import TextMix

    pairs = [parse_adapter_spec(s) for s in specs]
    TextMix.of(pairs).validate()  # a bad weight is told before any folder is looked for
    return TextMix.of([(_adapter_dir(ref, data), weight) for ref, weight in pairs])


def _generate(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.text.engine import TextEngine
    from lorastudio.core.text.mix import TextGenerationRequest

    seed = None if args.seed is None or args.seed == -1 else args.seed  # -1: random, as for images
    request = TextGenerationRequest(prompt=args.prompt, max_new_tokens=args.max_new_tokens,
                                    temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                                    repetition_penalty=args.repetition_penalty, seed=seed).validate()
    mix = _mix(args.adapter, data).validate()  # both checked before the model loads
    model_dir = _model_dir(args.model, data)
    engine = TextEngine()
    engine.load_model(model_dir)
    engine.set_mix(mix)
    sys.stdout.write(args.prompt)
    result = engine.generate(request, on_text=_echo)
    sys.stdout.write("\n")
    print(f"seed: {result.seed}, tokens: {len(result.token_ids)}", file=sys.stderr)
    return 0


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _train(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.text.train import TOKENIZE_PIECE, TrainConfig, TrainProgress, train_adapter

    targets = tuple(t.strip() for t in args.target_modules.split(",") if t.strip())
    config = TrainConfig(rank=args.rank, alpha=args.alpha, dropout=args.dropout, lr=args.lr,
                         epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length,
                         max_steps=args.max_steps, target_modules=targets).validate()
    shown = [-1]

    def prepare(done: int, total: int) -> None:
        tenth = done * 10 // max(1, total)
        if tenth != shown[0] and total > TOKENIZE_PIECE:  # a line per 10% for data worth waiting on
            shown[0] = tenth
            print(f"tokenizing {done / 1e6:.1f}/{total / 1e6:.1f} M characters", file=sys.stderr)

    def report(progress: TrainProgress) -> None:
        if progress.step == progress.total_steps or progress.step % 10 == 0 or progress.step == 1:
            print(f"step {progress.step}/{progress.total_steps}  epoch {progress.epoch}/{progress.epochs}"
                  f"  loss {progress.loss:.4f}", file=sys.stderr)

    result = train_adapter(_model_dir(args.model, data), Path(args.data), Path(args.out), config, on_progress=report,
                           on_prepare=prepare)
    print(f"perplexity before: {result.perplexity_before:.3f}")
    if result.perplexity_after is not None:
        print(f"perplexity after:  {result.perplexity_after:.3f}")
    print(f"adapter: {result.adapter_dir}")
    return 0


def _merge(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.text.merge import merge_mix

    mix = _mix(args.adapter, data)
    info = merge_mix(_model_dir(args.model, data), mix, Path(args.out))
    print(f"merged model: {info.path}")
    return 0


def _demo(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.text.demo import DEMO_MODEL_NAME, build_demo_adapters, build_demo_model
    from lorastudio.core.text.models import inspect_adapter, inspect_text_model

    model_dir = Path(args.dir) if args.dir else data.ensure().text_models / DEMO_MODEL_NAME
    if inspect_text_model(model_dir) is None:
        if model_dir.exists() and any(model_dir.iterdir()):
            raise LoraStudioError(f"{model_dir} exists and is not a language model folder.")
        build_demo_model(model_dir)
    print(f"model: {model_dir}")
    if not args.no_adapters:
        adapters_root = data.ensure().text_adapters
        if all(inspect_adapter(adapters_root / n) is None for n in ("tiny-cats", "tiny-dogs")):
            for path in build_demo_adapters(model_dir, adapters_root):
                print(f"adapter: {path}")
    return 0


def _list(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.text.models import (
        check_adapter_fit,
        find_adapters,
        find_cached_text_models,
        find_text_models,
        require_text_model,
    )

    models = find_text_models([data.text_models]) + find_cached_text_models()
    for model in models:
        print(f"model    {model.name:30} {model.architecture:24} {model.path}")
    chosen = require_text_model(_model_dir(args.model, data)) if args.model else None
    for adapter in find_adapters([data.text_adapters]):
        note = ""
        if chosen is not None:
            fit = check_adapter_fit(adapter, chosen)
            note = "fits" if fit.fits and fit.name_matches else (fit.warning or fit.problem)
        print(f"adapter  {adapter.name:30} r={adapter.rank:<3} alpha={adapter.alpha:<5g} "
              f"base={adapter.base_name:20} {note}")
    return 0
