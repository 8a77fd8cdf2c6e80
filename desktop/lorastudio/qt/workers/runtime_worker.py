"""Engine runtime jobs for ``threads.create_worker``: detect the GPU, install, verify, remove.

Each one runs child processes (nvidia-smi or rocminfo, uv, the runtime's own Python) that take
from a second to many minutes, so the first-run dialog and the Settings section never call them
on the GUI thread. They are plain functions: ``create_worker`` gives ``install_runtime`` its
CancelToken and its ``report`` callable (InstallProgress values arrive as ``progress`` signals).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lorastudio.core.cancel import CancelToken
from lorastudio.core.runtime import (
    Detection,
    EngineRuntime,
    InstallProgress,
    RuntimeState,
    Target,
    VerifyReport,
    detect,
)


def detect_machine() -> Detection:
    """Which torch build suits this computer, and why (runs nvidia-smi / rocminfo)."""
    return detect()


def install_runtime(runtime: EngineRuntime, target: Target, index_url: str | None, find_links: Path | None,
                    *, report: Callable[[InstallProgress], None], cancel: CancelToken) -> RuntimeState:
    """Install (or repair, or switch) the runtime; returns its state once it verified."""
    runtime.install(target, index_url=index_url, find_links=find_links, progress=report, cancel=cancel)
    return runtime.state()


def verify_runtime(runtime: EngineRuntime, *, cancel: CancelToken) -> VerifyReport:
    return runtime.verify(cancel)


def remove_runtime(runtime: EngineRuntime) -> RuntimeState:
    runtime.remove()
    return runtime.state()
