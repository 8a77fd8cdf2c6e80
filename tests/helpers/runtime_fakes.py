"""A stand-in EngineRuntime for the dialog and Settings tests: records installs, reports the
progress values a test gives it, waits for cancel, or fails with a given error."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraStudioError, RuntimeInstallCancelled
from lorastudio.core.runtime import InstallProgress, RuntimeState, Target, VerifyReport


class FakeRuntime:
    def __init__(self, root: Path, kind: str = "missing", target_key: str | None = None) -> None:
        self.root = root
        self.python = root / "venv" / "bin" / "python"
        self.kind = kind
        self.target_key = target_key
        self.detail = "torch is missing from the engine runtime." if kind == "broken" else ""
        self.installs: list[tuple[str, str | None, Path | None]] = []
        self.steps: list[InstallProgress] = []  # reported by install, in order
        self.wait_for_cancel = False
        self.gate: threading.Event | None = None  # set: install waits for it before finishing
        self.fail_with: LoraStudioError | None = None
        self.report = VerifyReport(ok=True, problems=(), device="cpu")
        self.verify_waits = False
        self.removed = 0
        self.reported = threading.Event()

    def state(self) -> RuntimeState:
        installed = self.kind in ("installed", "broken")
        return RuntimeState(kind=self.kind, python=self.python if installed else None,
                            target_key=self.target_key if installed else None,
                            torch_version="2.13.0" if installed or self.kind == "this-environment" else None,
                            detail=self.detail)

    def install(self, target: Target, *, index_url: str | None = None, find_links: Path | None = None,
                progress=None, cancel: CancelToken | None = None) -> None:  # type: ignore[no-untyped-def]
        self.installs.append((target.key, index_url, find_links))
        for step in self.steps:
            if progress is not None:
                progress(step)
        self.reported.set()
        if self.wait_for_cancel:
            self.wait_for_cancel = False  # the next install (the resume) goes through
            while cancel is not None and not cancel.cancelled:
                time.sleep(0.01)
            raise RuntimeInstallCancelled("The install was cancelled; installing again resumes it.")
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_with is not None:
            raise self.fail_with
        self.kind, self.target_key, self.detail = "installed", target.key, ""

    def verify(self, cancel: CancelToken | None = None) -> VerifyReport:
        while self.verify_waits:  # a slow check: only a cancel ends it
            if cancel is not None and cancel.cancelled:
                raise RuntimeInstallCancelled("cancelled")
            time.sleep(0.01)
        return self.report

    def remove(self) -> None:
        self.removed += 1
        self.kind, self.target_key = "missing", None
