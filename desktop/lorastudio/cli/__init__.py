"""``lorastudio`` command line: the app's jobs, headless.

Each subcommand lives in a module of this package with ``register(subparsers)``; the parser
sets ``func`` to a callable ``(args, data_dir) -> int``. A ``LoraStudioError`` becomes one line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lorastudio import __version__
from lorastudio.cli import generate, hub, library, selftest, text
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.paths import data_dir

_COMMANDS = (generate, library, hub, text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lorastudio", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"lorastudio {__version__}")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="keep all state (catalog, settings, models, outputs) in DIR "
                             "(default: $LORASTUDIO_HOME or the user data dir)")
    parser.add_argument("--self-test", action="store_true",
                        help="check that this install is whole (offline) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    app = sub.add_parser("app", help="open the desktop window (the default with no command)")
    app.add_argument("files", nargs="*", help="model or LoRA files to install, or PNGs to restore")
    app.set_defaults(func=_run_app)
    for module in _COMMANDS:
        module.register(sub)
    return parser


def _run_app(args: argparse.Namespace, data: object) -> int:
    from lorastudio.app import main as app_main

    argv = ["--data-dir", args.data_dir] if args.data_dir else []
    return app_main([*argv, *getattr(args, "files", [])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.self_test:
        return selftest.run(args)
    if not getattr(args, "func", None):
        return _run_app(args, None)
    try:
        return int(args.func(args, data_dir(args.data_dir)) or 0)
    except LoraStudioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
