"""``lorastudio backends`` (list, add, remove, test ComfyUI servers) and ``generate --backend``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from lorastudio.cli.outputs import move_to_out
from lorastudio.core.errors import InvalidRequest, LoraStudioError
from lorastudio.core.metadata.untrusted import terminal_text
from lorastudio.core.paths import DataDir

LIST_TIMEOUT = 3.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("backends", help="ComfyUI servers that generate for LoRA Studio")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="the configured backends and whether they answer")
    listing.add_argument("--no-check", action="store_true", help="do not contact the servers")
    listing.set_defaults(func=run_list)
    add = actions.add_parser("add", help="add or update a ComfyUI server")
    add.add_argument("name")
    add.add_argument("url", help="http://host:8188 (or host:port)")
    add.add_argument("--token-stdin", action="store_true",
                     help="read a bearer token from standard input (kept in the system keyring)")
    add.set_defaults(func=run_add)
    remove = actions.add_parser("remove", help="forget a server and its token")
    remove.add_argument("name")
    remove.set_defaults(func=run_remove)
    test = actions.add_parser("test", help="check a server: version, device, VRAM, models")
    test.add_argument("backend", metavar="NAME_OR_URL")
    test.set_defaults(func=run_test)
    parser.set_defaults(func=run_list, no_check=False)


def run_list(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.backend.comfyui.config import LOCAL_NAME, load_backends, load_token

    print(f"{LOCAL_NAME}\tlocal engine")
    for entry in load_backends(data):
        state = ""
        if not args.no_check:
            state = "\t" + _state(entry.url, load_token(data, entry.name))
        print(f"{terminal_text(entry.name)}\t{terminal_text(entry.url)}{state}")
    return 0


def _state(url: str, token: str | None) -> str:
    from lorastudio.core.backend.comfyui.probe import check_connection

    try:
        return "online: " + check_connection(url, token, timeout=LIST_TIMEOUT).summary()
    except LoraStudioError as err:
        return "offline: " + terminal_text(str(err))


def run_add(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.backend.comfyui.config import add_backend, save_token

    token = sys.stdin.readline().strip() if args.token_stdin else None
    entry = add_backend(data, args.name, args.url)
    if token is not None:
        notice = save_token(data, entry.name, token)
        if notice:
            print(f"note: {notice}", file=sys.stderr)
    print(f"{terminal_text(entry.name)}\t{terminal_text(entry.url)}")
    return 0


def run_remove(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.backend.comfyui.config import remove_backend

    if not remove_backend(data, args.name):
        raise InvalidRequest(f"No backend is named '{terminal_text(args.name)[:60]}'.")
    return 0


def run_test(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.backend.comfyui.config import find_backend
    from lorastudio.core.backend.comfyui.probe import check_connection

    entry, token = find_backend(data, args.backend)
    print(check_connection(entry.url, token).summary())
    return 0


def make_backend(data: DataDir, url_or_names: str) -> Any:
    """A ComfyUIBackend for a configured name or a typed address; several, comma-separated, make a pool
    that spreads the images of a batch over them."""
    from lorastudio.core.backend.comfyui.backend import ComfyUIBackend
    from lorastudio.core.backend.comfyui.config import find_backend
    from lorastudio.core.backend.comfyui.pool import PoolBackend

    members = []
    for item in (part.strip() for part in url_or_names.split(",")):
        if item:
            entry, token = find_backend(data, item)
            members.append(ComfyUIBackend(entry.url, entry.name, token))
    if not members:
        raise InvalidRequest("--backend needs a backend name or a server address.")
    return members[0] if len(members) == 1 else PoolBackend(members)


def _describe(backend: Any) -> str:
    members = getattr(backend, "members", [backend])
    return ", ".join(f"{terminal_text(m.name)} ({terminal_text(m.client.url)})" for m in members)


def run_remote_generate(args: argparse.Namespace, request: Any, data: DataDir, out_folder: Path | None,
                        out_file: Path | None) -> int:
    """``generate --backend``: the same output files and infotext as a local run."""
    from lorastudio.core.backend.base import JobProgress
    from lorastudio.core.backend.comfyui.sync import run_job
    from lorastudio.core.cancel import CancelToken
    from lorastudio.core.session.outputs import write_png

    backend = make_backend(data, args.backend)
    print(f"backend: {_describe(backend)}", file=sys.stderr)

    def on_event(event: Any) -> None:
        if isinstance(event, JobProgress):
            print(f"\rstep {event.step}/{event.total}", end="", file=sys.stderr, flush=True)

    # Ctrl+C asks the server to stop the job (POST /interrupt) rather than leaving it running there.
    cancel = CancelToken()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel()) if main_thread else None
    try:
        result = run_job(backend, request, on_event, cancel)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        backend.shutdown()
    print(file=sys.stderr)
    folder = out_folder or data.ensure().outputs
    for image in result.images:
        path = write_png(folder, image.seed, image.png)
        if out_file is not None and len(result.images) == 1:
            path = move_to_out(path, out_file)
        print(path)
    return 0


def backend_engine(data: DataDir, url_or_names: str) -> Any:
    """For ``grid --backend``: an engine-shaped object that runs each cell on the backend(s)."""
    from lorastudio.core.backend.comfyui.sync import BackendEngine

    backend = make_backend(data, url_or_names)
    print(f"backend: {_describe(backend)}", file=sys.stderr)
    return BackendEngine(backend)
