"""``lorastudio runtime status|install|verify|remove``: the engine runtime (#18) from a terminal.

The runtime is the Python environment with torch that runs the engine; it lives in the data dir.
Progress goes to stderr, results to stdout. Exit codes: 0 done, 1 failed (one sentence on
stderr), 2 ``verify`` found problems or ``status`` found no usable engine, 130 cancelled (Ctrl+C).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lorastudio.core.metadata.untrusted import terminal_text
from lorastudio.core.paths import DataDir

if TYPE_CHECKING:
    from lorastudio.core.runtime import EngineRuntime, InstallProgress

_ALIASES = {"cuda": "cu130", "rocm": "rocm7.2"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("runtime", help="the engine runtime: the Python environment with torch that generates",
                            description="Set up, check or remove the engine runtime: a Python environment with "
                                        "PyTorch for this computer's GPU, installed with uv into the data dir.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    status = actions.add_parser("status", help="what is installed, and which build this computer should use")
    status.set_defaults(func=run_status)
    install = actions.add_parser(
        "install", help="install (or repair, or switch) the engine runtime",
        description="Install the engine runtime; run again to repair it, to switch builds or to resume a "
                    "cancelled install (downloads are kept in uv's cache).")
    install.add_argument("--backend", metavar="BUILD",
                         help="cpu, cuda, rocm, mps or a build key (cu130, cu126, rocm7.2); default: the "
                              "remembered choice, else what this computer has")
    install.add_argument("--index-url", metavar="URL", help="package index to use instead of PyPI (a mirror)")
    install.add_argument("--find-links", metavar="DIR", type=Path,
                         help="folder of wheels; without --index-url it is the only source (offline install)")
    install.set_defaults(func=run_install)
    verify = actions.add_parser("verify", help="import torch and the engine in the runtime and test the device")
    verify.set_defaults(func=run_verify)
    remove = actions.add_parser("remove", help="delete the engine runtime and its download cache")
    remove.set_defaults(func=run_remove)
    parser.set_defaults(func=run_status)


def _runtime(data: DataDir) -> EngineRuntime:
    from lorastudio.core.runtime import EngineRuntime

    # The CLI always manages the data dir's runtime, also from a checkout that has torch itself.
    return EngineRuntime(data.runtime, this_environment=False)


def run_status(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.runtime import detect
    from lorastudio.core.runtime.runtime import torch_here
    from lorastudio.core.settings import load_settings

    state = _runtime(data).state()
    print(f"runtime\t{state.kind}")
    if state.target_key:
        print(f"build\t{state.target_key}")
    if state.torch_version:
        print(f"torch\t{state.torch_version}")
    if state.python:
        print(f"python\t{terminal_text(str(state.python))}")
    print(f"detail\t{terminal_text(state.detail)}")
    found = detect()
    print(f"detected\t{found.target.key}\t{terminal_text(found.reason)}")
    chosen = load_settings(data.settings_file).runtime_target
    if chosen:
        print(f"chosen\t{terminal_text(chosen)}")
    here = torch_here()
    if here:
        print("note\tThis Python environment has torch: it runs the engine itself (a source checkout).")
    return 0 if here or state.kind == "installed" else 2


def run_install(args: argparse.Namespace, data: DataDir) -> int:
    from lorastudio.core.cancel import CancelToken
    from lorastudio.core.runtime import detect, target
    from lorastudio.core.settings import load_settings

    settings = load_settings(data.settings_file)
    key = args.backend or settings.runtime_target
    if not key:
        found = detect()
        print(f"detected: {found.reason}", file=sys.stderr)
        key = found.target.key
    if key == "cuda":  # the CUDA build this computer's driver and GPU take, if it has one
        found = detect()
        key = found.target.key if found.target.key.startswith("cu") else "cu130"
    build = target(_ALIASES.get(key, key))
    index_url = args.index_url or settings.runtime_index_url or None
    find_links = args.find_links or (Path(settings.runtime_find_links) if settings.runtime_find_links else None)
    runtime = _runtime(data)
    print(f"installing the engine runtime for {build.label} into {terminal_text(str(runtime.root))}", file=sys.stderr)
    runtime.install(build, index_url=index_url, find_links=find_links, progress=_print_progress,
                    cancel=CancelToken())
    state = runtime.state()
    print(f"{state.kind}\t{state.target_key}\t{state.torch_version}\t{terminal_text(str(state.python))}")
    return 0


def run_verify(args: argparse.Namespace, data: DataDir) -> int:
    runtime = _runtime(data)
    report = runtime.verify()
    for problem in report.problems:
        print(f"problem: {terminal_text(problem)}", file=sys.stderr)
    print(f"{'ok' if report.ok else 'broken'}\t{report.device or '-'}")
    return 0 if report.ok else 2


def run_remove(args: argparse.Namespace, data: DataDir) -> int:
    runtime = _runtime(data)
    runtime.remove()
    print(f"removed\t{terminal_text(str(runtime.root))}")
    return 0


def _print_progress(step: InstallProgress) -> None:
    parts = [f"[{step.phase}] {step.text}"]
    if step.total_bytes:
        parts.append(f"{step.done_bytes / 1e6:.1f} of {step.total_bytes / 1e6:.1f} MB")
    if step.eta_s is not None:
        parts.append(f"about {int(step.eta_s) // 60}m{int(step.eta_s) % 60:02d}s left")
    print(" · ".join(terminal_text(p) for p in parts), file=sys.stderr, flush=True)
