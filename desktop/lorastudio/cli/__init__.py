"""``lorastudio`` command line: the app's jobs, headless.

Each subcommand lives in a module of this package with ``register(subparsers)``; the parser
sets ``func`` to a callable ``(args, data_dir) -> int``. A ``LoraStudioError`` becomes one line on
stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from lorastudio import __version__
from lorastudio.cli import backends, generate, grid, hub, library, runtime, selftest, text, train
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.metadata.untrusted import terminal_text
from lorastudio.core.paths import DataDir, data_dir

_COMMANDS = (generate, grid, library, hub, text, backends, train, runtime)


class _Parser(argparse.ArgumentParser):
    """Bad arguments end like every other refusal: one line on stderr and exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    # The docstring's first line, without the reST ``literal`` marks a terminal would show as is.
    parser = _Parser(prog="lorastudio", description=__doc__.splitlines()[0].replace("``", ""))
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


def _log_to_data_dir(data: DataDir) -> None:
    """The CLI logs to the same rotating file as the window (File ▸ Open log folder)."""
    from lorastudio.core.logs import setup_logging

    try:
        setup_logging(data.logs)
    except OSError:  # a read-only data dir: run without a log file rather than refuse
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.self_test:
        return selftest.run(args)
    if not getattr(args, "func", None):
        return _run_app(args, None)
    data = data_dir(args.data_dir)
    _log_to_data_dir(data)
    try:
        return int(args.func(args, data) or 0)
    except LoraStudioError as err:
        logging.getLogger("lorastudio.cli").info("%s failed: %s", args.command, err)
        print(f"error: {terminal_text(str(err))}", file=sys.stderr)  # names in messages may hold escapes
        return 1
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
