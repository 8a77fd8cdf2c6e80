"""CLI subcommand: ``lorastudio train CONFIG.toml`` — train an image LoRA headless.

The same TOML the window saves. Runs under ``accelerate launch -m lorastudio train CONFIG.toml``
on several GPUs: the trainer uses accelerate's ``Accelerator``, which reads the launcher's
environment; only the main process prints.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from lorastudio.core.paths import DataDir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``train``."""
    train = sub.add_parser("train", help="train an image LoRA from a folder of pictures (TOML config)")
    train.add_argument("config", metavar="CONFIG.toml", help="training settings (the window's Save config)")
    train.add_argument("--resume", action="store_true", help="continue from the last saved epoch, if any")
    train.add_argument("--device", choices=("cpu", "cuda"), help="override the config's device")
    train.set_defaults(func=_train)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60:02d}:{seconds % 60:02d}"


def _train(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.training.config import read_config
    from lorastudio.core.training.trainer import TrainProgress, TrainSample, train

    config = read_config(Path(args.config))
    if args.device:
        config = replace(config, device=args.device)

    def on_progress(p: TrainProgress) -> None:
        left = f" · ~{_clock(p.remaining)} left" if p.remaining is not None else ""
        print(f"step {p.step}/{p.total_steps} · epoch {p.epoch}/{p.epochs} · loss {p.loss:.4f} · "
              f"{_clock(p.elapsed)} elapsed{left}", flush=True)

    def on_sample(s: TrainSample) -> None:
        print(f"sample at step {s.step}: {s.prompt[:60]}", flush=True)

    try:
        result = train(config, on_progress=on_progress, on_sample=on_sample, resume=args.resume)
    except KeyboardInterrupt:
        print("cancelled; run again with --resume to continue from the last saved epoch", file=sys.stderr)
        return 130
    if not result.main_process:  # under accelerate launch the main process reports for all
        return 0
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.resumed_from_epoch:
        print(f"resumed after epoch {result.resumed_from_epoch}")
    for path in result.files:
        print(f"saved {path}")
    print(f"done: {result.steps}/{result.total_steps} steps in {_clock(result.seconds)}")
    return 0
