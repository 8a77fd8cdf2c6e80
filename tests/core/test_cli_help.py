"""Every ``--help`` reads as plain text: no reST ``literal`` marks (issue 16, item 15)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from lorastudio.cli import build_parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_no_help_text_shows_double_backticks() -> None:
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 10  # the walk reached the subcommands (text generate, scan, ...)
    shown = {p.prog: p.format_help() for p in parsers}
    assert not [prog for prog, text in shown.items() if "``" in text]
