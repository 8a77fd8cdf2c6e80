"""The plain values the engine runtime reports: its state, install progress, the check's result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuntimeState:
    # "this-environment": torch is importable in the window's own environment (a source
    # checkout), which then runs the engine; "installed", "missing" or "broken" describe the
    # runtime in the data dir.
    kind: str
    python: Path | None
    target_key: str | None
    torch_version: str | None
    detail: str  # one sentence


@dataclass(frozen=True)
class InstallProgress:
    # "check", "python", "resolve", "download", "install", "verify", "done"
    phase: str
    text: str  # one line for the user
    package: str = ""
    # Downloads as uv reports them: the sizes of the packages it started fetching and of those it
    # finished. A local wheel folder or uv's cache needs no download, so these stay 0.
    done_bytes: int = 0
    total_bytes: int | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    problems: tuple[str, ...]  # one sentence each
    device: str  # "cuda", "mps", "cpu" or "" when torch could not run
