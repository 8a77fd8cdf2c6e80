"""CLI subcommands: ``download`` (one-click install from the Hub) and ``search``."""

from __future__ import annotations

import argparse
import sys
import time

from lorastudio.core.paths import DataDir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands."""
    dl = sub.add_parser("download", help="install a model from the Hugging Face Hub into the library")
    dl.add_argument("repo_id", metavar="REPO_ID", help="e.g. acme/pixel-knight-lora")
    dl.add_argument("--file", dest="files", action="append", metavar="NAME", default=[],
                    help="a file of the repo to install (repeatable; default: the main weights or, "
                         "for a diffusers pipeline, the whole pipeline)")
    dl.add_argument("--revision", default="main", metavar="REV", help="branch, tag or commit (default: main)")
    dl.add_argument("--endpoint", metavar="URL", help="Hub endpoint (default: settings, then $HF_ENDPOINT)")
    dl.set_defaults(func=_download)
    se = sub.add_parser("search", help="search the Hugging Face Hub")
    se.add_argument("text", metavar="TEXT", nargs="?", default="")
    se.add_argument("--kind", choices=["lora", "checkpoint", "pipeline"])
    se.add_argument("--sort", choices=["downloads", "likes", "last_modified"], default="downloads")
    se.add_argument("--limit", type=int, default=20)
    se.add_argument("--endpoint", metavar="URL")
    se.set_defaults(func=_search)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class _Bar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self) -> None:
        from lorastudio.core.hub.download import RateMeter

        self._meters: dict[str, RateMeter] = {}
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, p: object) -> None:
        from lorastudio.core.hub.download import Progress, RateMeter

        assert isinstance(p, Progress)
        meter = self._meters.setdefault(p.filename, RateMeter())
        speed = meter.update(p.done) if p.stage == "download" else 0.0
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        if not final and now - self._last < (0.1 if self._tty else 2.0):
            return
        self._last = now
        total = p.total or 0
        frac = p.done / total if total else 0.0
        bar = "#" * int(frac * 24)
        eta = meter.eta(p.done, p.total)
        line = (f"{'verify ' if p.stage == 'verify' else ''}{p.filename[-40:]} [{bar:<24}] "
                f"{_human(p.done)}/{_human(total)}"
                + (f"  {_human(speed)}/s" if speed else "") + (f"  ETA {eta:.0f}s" if eta else ""))
        sys.stderr.write(("\r" + line.ljust(100)) if self._tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self._tty:
            sys.stderr.write("\n")


def _download(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.errors import LoraStudioError
    from lorastudio.core.hub.download import install
    from lorastudio.core.hub.tokens import app_connection

    data.ensure()
    conn = app_connection(data, endpoint=args.endpoint)
    bar = _Bar()
    try:
        result = install(data, args.repo_id, args.revision, args.files or None, conn=conn, on_progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print("paused: run the same command again to resume", file=sys.stderr)
        return 130
    except LoraStudioError:
        bar.close()
        raise
    bar.close()
    print(result.message)
    for path in result.paths:
        print(path)
    return 0


def _search(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.hub.search import search_models
    from lorastudio.core.hub.tokens import app_connection
    from lorastudio.core.metadata.untrusted import require_int

    limit = require_int("--limit", args.limit, 1, 1000)
    conn = app_connection(data, endpoint=args.endpoint)
    results = search_models(args.text, kind=args.kind, sort=args.sort, limit=limit, conn=conn)
    for m in results:
        gated = " gated" if m.gated else ""
        print(f"{m.repo_id:<50} {m.kind:<10} ↓{m.downloads:<8} ♥{m.likes:<6} {m.base_model or '-'}{gated}")
    if not results:
        print("no models found", file=sys.stderr)
    return 0
