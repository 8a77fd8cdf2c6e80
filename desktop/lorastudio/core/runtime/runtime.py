"""The engine runtime: a Python environment in the data dir, made by uv, that runs the engine.

The window's bundle ships without torch (#18); the engine process runs with this environment's
interpreter instead. Layout under ``root`` (``DataDir.runtime``):

    venv/           the runtime (made relocatable, so a finished install is moved here whole)
    venv.partial/   an install in progress; a cancelled or failed one is redone from uv's cache
    cache/          uv's cache: a retry after a cancel or a failure reuses what was downloaded
    python/         a Python 3.11 that uv downloaded, when the computer had none
    runtime.json    the marker, written only after the new environment passed its check
    install.log     uv's output of the last install

A source checkout (torch importable in the window's own environment) needs none of it: that
environment runs the engine.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import (
    DriverTooOld,
    EngineRuntimeError,
    NotEnoughDiskSpace,
    RuntimeInstallCancelled,
    RuntimeInstallFailed,
    UvMissing,
)
from lorastudio.core.paths import runtime_command, runtime_env
from lorastudio.core.runtime.detect import Detection, Target, detect, driver_supports, minimum_driver
from lorastudio.core.runtime.detect import target as target_for_key
from lorastudio.core.runtime.probe import THIS_ENVIRONMENT
from lorastudio.core.runtime.requirements import (
    DISK_NEEDED_MB,
    PYTHON_VERSION,
    requirements_digest,
    requirements_for,
)
from lorastudio.core.runtime.uv_output import UvProgress, failure
from lorastudio.core.runtime.values import InstallProgress, RuntimeState, VerifyReport

log = logging.getLogger(__name__)

MARKER = "runtime.json"
MARKER_LIMIT = 64 * 1024
VERIFY_TIMEOUT = 600.0
STOP_GRACE = 5.0

Progress = Callable[[InstallProgress], None]


def torch_here() -> bool:
    """Whether the window's own environment can run the engine (a source checkout: torch is
    installed there). A frozen bundle has no interpreter to start, so never."""
    return not getattr(sys, "frozen", False) and importlib.util.find_spec("torch") is not None


def uv_binary() -> Path:
    """The uv that ships with LoRA Studio: in a frozen bundle the ``uv``/``uv.exe`` at the bundle's
    root, else the ``uv`` package's; failing those, one on PATH."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen is not None:
        bundled = Path(frozen) / ("uv.exe" if sys.platform == "win32" else "uv")
        if bundled.is_file():
            return bundled
    try:
        from uv import find_uv_bin

        return Path(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return Path(found)
    raise UvMissing("The uv program that installs the engine runtime is missing; reinstall LoRA Studio.")


class EngineRuntime:
    """The engine runtime under ``root``: its state, install (with progress, cancel, resume),
    check and removal. ``this_environment`` (default: torch importable here) makes the window's
    own environment the runtime, as in a source checkout."""

    def __init__(self, root: Path, *, this_environment: bool | None = None,
                 detector: Callable[[], Detection] = detect, system: str | None = None) -> None:
        self.root = root
        self.this_environment = torch_here() if this_environment is None else this_environment
        self._detector = detector
        self._system = system or platform.system()
        self.venv = root / "venv"
        self.partial = root / "venv.partial"
        self.cache = root / "cache"
        self.marker = root / MARKER
        self.install_log = root / "install.log"

    @property
    def python(self) -> Path:
        return self._python_in(self.venv)

    def _python_in(self, venv: Path) -> Path:
        return venv / "Scripts" / "python.exe" if self._system == "Windows" else venv / "bin" / "python"

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> RuntimeState:
        """What is there, without starting any process (``verify`` is the deep check)."""
        if self.this_environment:
            version = _version_here("torch")
            return RuntimeState("this-environment", Path(sys.executable), None, version,
                                f"This Python environment has torch {version}: it runs the engine.")
        marker = self._read_marker()
        python = self.python
        if marker is None:
            if python.exists():
                return RuntimeState("broken", python, None, None,
                                    "The engine runtime's last install did not finish; install it again.")
            if self.partial.exists():
                return RuntimeState("missing", None, None, None, "An install of the engine runtime was "
                                    "interrupted; install again to resume it (downloads are kept).")
            return RuntimeState("missing", None, None, None, "No engine runtime is installed.")
        key = str(marker.get("target", ""))
        torch_version = str(marker.get("versions", {}).get("torch", "")) or None
        if not python.exists():
            return RuntimeState("broken", None, key, torch_version,
                                "The engine runtime's Python is gone; install the runtime again.")
        problems = marker.get("problems") or []
        if problems:
            return RuntimeState("broken", python, key, torch_version, str(problems[0]))
        if marker.get("requirements") != requirements_digest(requirements_for(key, self._system)):
            return RuntimeState("broken", python, key, torch_version, "The engine runtime was made for another "
                                "version of LoRA Studio; install it again to update it.")
        try:
            label = target_for_key(key).label
        except EngineRuntimeError:
            label = key
        return RuntimeState("installed", python, key, torch_version, f"Installed for {label} (torch {torch_version}).")

    # -- install --------------------------------------------------------------------------------
    def install(self, target: Target, *, index_url: str | None = None, find_links: Path | None = None,
                progress: Progress | None = None, cancel: CancelToken | None = None) -> None:
        """Make (or remake) the runtime for ``target``.

        The new environment is built beside the current one and replaces it only after it passed
        ``verify``, so a cancelled or failed install leaves the previous runtime as it was. uv's
        cache keeps every finished download: installing again resumes. ``index_url`` replaces
        PyPI; ``find_links`` adds a wheel folder (alone, it is the only source: no network).
        """
        report = progress or (lambda p: None)
        cancel = cancel or CancelToken()
        report(InstallProgress("check", "Checking free disk space"))
        self._check_disk(target)
        self._check_driver(target)
        uv = uv_binary()
        self._check_cancel(cancel)
        self.root.mkdir(parents=True, exist_ok=True)
        with _InstallLock(self.root / "install.lock"):
            self._install(uv, target, index_url, find_links, report, cancel)

    def _install(self, uv: Path, target: Target, index_url: str | None, find_links: Path | None, report: Progress,
                 cancel: CancelToken) -> None:
        requirements = requirements_for(target.key, self._system)
        offline = find_links is not None and not index_url
        source = str(find_links) if offline else (index_url or "PyPI")
        self.install_log.write_text(f"# engine runtime install {datetime.now(UTC).isoformat()} "
                                    f"target={target.key}\n", "utf-8")

        report(InstallProgress("python", f"Creating a Python {PYTHON_VERSION} environment"))
        self._uv(uv, ["venv", "--clear", "--relocatable", "--python", PYTHON_VERSION, str(self.partial)],
                 offline=offline, cancel=cancel, source=source)
        self._check_cancel(cancel)

        report(InstallProgress("resolve", f"Resolving the packages for {target.label}"))
        parser = UvProgress()
        args = ["pip", "install", "--python", str(self._python_in(self.partial)), *requirements,
                *self._index_args(target, index_url, find_links)]

        def on_line(line: str) -> None:
            step = parser.feed(line)
            if step is not None:
                report(step)

        self._uv(uv, args, offline=offline, cancel=cancel, source=source, on_line=on_line)
        self._check_cancel(cancel)

        report(InstallProgress("verify", "Checking the new runtime (importing torch and the engine)"))
        versions, check = self._probe(self._python_in(self.partial), target.key, cancel)
        if not check.ok:
            raise RuntimeInstallFailed(f"The new engine runtime failed its check: {check.problems[0]}")
        self._check_cancel(cancel)
        self._swap_in()
        self._write_marker({"target": target.key, "requirements": requirements_digest(requirements),
                            "versions": versions, "device": check.device, "source": source,
                            "installed_at": datetime.now(UTC).isoformat(timespec="seconds"), "problems": []})
        report(InstallProgress("done", f"The engine runtime is ready (torch {versions.get('torch', '?')}, "
                                       f"{check.device or 'cpu'})"))

    def _index_args(self, target: Target, index_url: str | None, find_links: Path | None) -> list[str]:
        if find_links is not None and not index_url:
            return ["--no-index", "--find-links", str(find_links)]
        args: list[str] = []
        if index_url:
            args += ["--index-url", index_url]
        if target.index_url:
            # torch's pin carries the build's local version (+cu130), which only the PyTorch index
            # has; every other package takes the best version either index offers.
            args += ["--extra-index-url", target.index_url, "--index-strategy", "unsafe-best-match"]
        if find_links is not None:
            args += ["--find-links", str(find_links)]
        return args

    def _check_disk(self, target: Target) -> None:
        needed = DISK_NEEDED_MB.get(target.key, max(DISK_NEEDED_MB.values())) * 1024**2
        needed -= _tree_size(self.cache)  # what uv already downloaded need not come again
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise NotEnoughDiskSpace(f"The engine runtime needs about {_gb(needed)} of free disk space and "
                                     f"{folder} has {_gb(free)}; free some space and install again.")

    def _check_driver(self, target: Target) -> None:
        if minimum_driver(target.key, self._system) is None:
            return
        nvidia = [g for g in self._detector().gpus if g.vendor == "nvidia" and g.driver]
        if nvidia and not driver_supports(nvidia[0].driver, target.key, self._system):
            raise DriverTooOld(f"The {target.label} build needs NVIDIA driver "
                               f"{minimum_driver(target.key, self._system)} or newer and this computer has "
                               f"{nvidia[0].driver}; update the driver or choose another build.")

    def _check_cancel(self, cancel: CancelToken) -> None:
        if cancel.cancelled:
            raise RuntimeInstallCancelled("The install was cancelled; installing again resumes it.")

    def _swap_in(self) -> None:
        old = self.root / f"venv.old-{os.getpid()}-{int(time.time())}"
        try:
            if self.venv.exists():
                os.replace(self.venv, old)
            os.replace(self.partial, self.venv)
        except OSError as err:
            raise RuntimeInstallFailed("The old engine runtime is in use and cannot be replaced; stop the engine "
                                       f"and install again ({err.strerror or err}).") from err
        self._remove_old_venvs()

    def _remove_old_venvs(self) -> None:
        for old in self.root.glob("venv.old-*"):
            # A file still open (an engine running from it on Windows) keeps it until next time.
            shutil.rmtree(old, ignore_errors=True)

    # -- verify / remove ------------------------------------------------------------------------
    def verify(self, cancel: CancelToken | None = None) -> VerifyReport:
        """Run the runtime's interpreter: import torch, diffusers, transformers, peft and the
        engine's modules, compare versions with the pins, compute on the build's device. The
        result is remembered: a failed check makes ``state()`` report "broken". ``cancel`` stops
        the check (RuntimeInstallCancelled; nothing is remembered)."""
        if self.this_environment:
            _, report = self._probe(Path(sys.executable), THIS_ENVIRONMENT, cancel)
            return report
        marker = self._read_marker()
        if not self.python.exists():
            return VerifyReport(False, ("The engine runtime is not installed.",), "")
        key = str(marker.get("target", "cpu")) if marker else "cpu"
        versions, report = self._probe(self.python, key, cancel)
        if marker is not None:
            self._write_marker({**marker, "versions": versions or marker.get("versions", {}),
                                "problems": list(report.problems)})
        return report

    def remove(self) -> None:
        """Delete the runtime, the partial install and uv's cache (all of ``root``)."""
        if not self.root.exists():
            return
        with _InstallLock(self.root / "install.lock"):
            pass  # refuses while an install runs
        self._read_only_fix()
        try:
            shutil.rmtree(self.root)
        except OSError as err:
            raise EngineRuntimeError(f"The engine runtime could not be removed ({err.strerror or err}); stop the "
                                     "engine and try again.") from err

    def _read_only_fix(self) -> None:
        # uv's cache holds read-only files; on Windows rmtree cannot delete those until writable.
        if self._system != "Windows":
            return
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                try:
                    os.chmod(os.path.join(folder, name), 0o600)
                except OSError:
                    pass

    # -- processes ------------------------------------------------------------------------------
    def _probe(self, python: Path, key: str, cancel: CancelToken | None = None) -> tuple[dict[str, str], VerifyReport]:
        # The runtime does not hold lorastudio: it runs the window's copy, as the engine does.
        command = runtime_command(python, "lorastudio.core.runtime.probe", key)
        try:
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    text=True, env=runtime_env(), cwd=self.root if self.root.exists() else None,
                                    **_own_group())
        except OSError as err:
            return {}, VerifyReport(False, (f"The engine runtime's Python does not start ({err.strerror or err}).",),
                                    "")
        deadline = time.monotonic() + VERIFY_TIMEOUT
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancel is not None and cancel.cancelled:
                    _stop(proc)
                    raise RuntimeInstallCancelled("The install was cancelled; installing again resumes it.") from None
                if time.monotonic() > deadline:
                    _stop(proc)
                    return {}, VerifyReport(False, ("The engine runtime's check did not finish within 10 minutes.",),
                                            "")
        lines = stdout.strip().splitlines()
        try:
            result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        except ValueError:
            result = {}
        if not isinstance(result, dict) or "problems" not in result:
            log.warning("Runtime check output: %s %s", stdout[-2000:], stderr[-2000:])
            return {}, VerifyReport(False, (f"The engine runtime's Python fails to start (exit code "
                                            f"{proc.returncode}); the details are in the log file.",), "")
        problems = tuple(str(p) for p in result.get("problems", []))
        versions = {str(k): str(v) for k, v in dict(result.get("versions", {})).items()}
        return versions, VerifyReport(not problems, problems, str(result.get("device", "")))

    def _uv(self, uv: Path, args: Sequence[str], *, offline: bool, cancel: CancelToken, source: str,
            on_line: Callable[[str], None] | None = None) -> None:
        """Run uv, feeding its output lines to ``on_line``; cancel kills it (its process group)."""
        command = [str(uv), *args, "--no-config", *(["--offline"] if offline else [])]
        env = {**runtime_env(), "UV_CACHE_DIR": str(self.cache), "UV_PYTHON_INSTALL_DIR": str(self.root / "python"),
               "NO_COLOR": "1"}
        log.info("Running %s", " ".join(command))
        lines: list[str] = []
        with open(self.install_log, "a", encoding="utf-8") as transcript:
            transcript.write("$ " + " ".join(command) + "\n")
            try:
                proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, text=True, encoding="utf-8",
                                        errors="replace", **_own_group())
            except OSError as err:
                raise UvMissing(f"The uv program could not be started ({err.strerror or err}); "
                                "reinstall LoRA Studio.") from err
            out: queue.Queue[str | None] = queue.Queue()
            reader = threading.Thread(target=_pump, args=(proc, out), name="uv-output", daemon=True)
            reader.start()
            try:
                while True:
                    if cancel.cancelled:
                        transcript.write("# cancelled\n")
                        raise RuntimeInstallCancelled("The install was cancelled; installing again resumes it.")
                    try:
                        line = out.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    if line is None:
                        break
                    transcript.write(line)
                    lines.append(line.rstrip("\n"))
                    del lines[:-200]
                    if on_line is not None:
                        on_line(line)
            except BaseException:
                # Cancel, Ctrl+C in the CLI (uv is in its own process group: it gets no SIGINT) or
                # a failing progress callback: uv must not go on alone.
                _stop(proc)
                reader.join(timeout=STOP_GRACE)
                raise
            code = proc.wait()
            transcript.write(f"# exit code {code}\n")
        if code != 0:
            log.warning("uv failed (%s): %s", code, " | ".join(lines[-10:]))
            raise failure(lines, source=source)

    # -- marker ---------------------------------------------------------------------------------
    def _read_marker(self) -> dict[str, Any] | None:
        try:
            with open(self.marker, "rb") as f:
                raw = f.read(MARKER_LIMIT + 1)
        except OSError:
            return None
        if len(raw) > MARKER_LIMIT:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _write_marker(self, value: dict[str, Any]) -> None:
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(value, indent=2), "utf-8")
        os.replace(tmp, self.marker)


def engine_python(runtime: EngineRuntime) -> Path | None:
    """The interpreter that runs the engine: the window's own when it has torch (a source
    checkout), else the installed runtime's; None when neither exists yet."""
    state = runtime.state()
    if state.kind == "this-environment":
        return Path(sys.executable)
    if state.kind == "installed":
        return runtime.python
    return None


class _InstallLock:
    """One install at a time per runtime (the window and the CLI could both start one). The OS
    drops the lock when its process ends, so a crash never leaves it stuck."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: Any = None

    def __enter__(self) -> _InstallLock:
        self._file = open(self._path, "a+b")  # held (and so locked) until __exit__
        try:
            if sys.platform == "win32":
                import msvcrt

                self._file.seek(0)
                msvcrt.locking(self._file.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            self._file.close()
            raise EngineRuntimeError("Another install of the engine runtime is running; wait for it to "
                                     "finish.") from err
        return self

    def __exit__(self, *exc: object) -> None:
        # Closing the file releases the lock on both systems.
        self._file.close()


def _pump(proc: subprocess.Popen[str], out: queue.Queue[str | None]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        out.put(line)
    out.put(None)


def _own_group() -> dict[str, Any]:
    """Start a child in a process group of its own, so a cancel can stop it and its children."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
    return {"start_new_session": True}


def _no_window() -> dict[str, Any]:
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NO_WINDOW}
    return {}


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    if sys.platform == "win32":
        # No console to send CTRL_BREAK to (CREATE_NO_WINDOW): end the whole tree at once.
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], capture_output=True, check=False,
                       **_no_window())
        proc.wait(timeout=STOP_GRACE)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=STOP_GRACE)


def _version_here(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _tree_size(folder: Path) -> int:
    total = 0
    for path, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(path, name)).st_size
            except OSError:
                pass
    return total


def _gb(size: int) -> str:
    return f"{max(size, 0) / 1024**3:.1f} GB"
