"""Real engine runtime installs with uv, offline: from a loopback package index (slowed down so a
cancel lands mid-download) and from a local wheel folder through the CLI.

One runtime for the module, in this order: an install cancelled while torch downloads, the
install again (it resumes: what finished downloading is not fetched again; its last step is the
runtime's check), a deleted package found by ``lorastudio runtime verify`` and repaired by
``lorastudio runtime install --find-links``, status, remove.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import re
import shutil
import sys
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from lorastudio.cli import main as cli_main
from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import RuntimeInstallCancelled
from lorastudio.core.paths import DataDir
from lorastudio.core.runtime import EngineRuntime, InstallProgress, Target, engine_python

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from wheelhouse import build_wheelhouse

pytestmark = pytest.mark.slow

RATE = 25 * 1024 * 1024  # bytes/s the loopback index sends: torch's 190 MB take ~8 s
# The CPU build without PyTorch's own index: everything comes from the loopback index.
CPU_LOCAL = Target("cpu", "CPU only", None)


class _SlowHandler(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, source, outputfile) -> None:  # type: ignore[no-untyped-def]
        started, sent = time.monotonic(), 0
        while chunk := source.read(1024 * 1024):
            outputfile.write(chunk)
            sent += len(chunk)
            ahead = sent / RATE - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        pass  # uv killed mid-download: a broken pipe is expected


@contextlib.contextmanager
def loopback_index(wheels: Path, folder: Path) -> Iterator[str]:
    """A PEP 503 simple index over the wheel folder, on 127.0.0.1, with each wheel's METADATA
    beside it (PEP 658, as PyPI serves it: the resolver does not fetch whole wheels)."""
    files = folder / "files"
    files.mkdir(parents=True)
    projects: dict[str, list[str]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        (files / wheel.name).symlink_to(wheel)
        with zipfile.ZipFile(wheel) as archive:
            metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")))
        (files / f"{wheel.name}.metadata").write_bytes(metadata)
        digest = hashlib.sha256(metadata).hexdigest()
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.setdefault(project, []).append(
            f'<a href="../../files/{urllib.parse.quote(wheel.name)}" data-core-metadata="sha256={digest}" '
            f'data-dist-info-metadata="sha256={digest}">{wheel.name}</a>\n')
    for project, links in projects.items():
        page = folder / "simple" / project / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(f"<!DOCTYPE html><html><body>\n{''.join(links)}</body></html>\n", "utf-8")

    def handler(*args, **kwargs):  # type: ignore[no-untyped-def]
        return _SlowHandler(*args, directory=str(folder), **kwargs)

    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def wheelhouse() -> Path:
    return build_wheelhouse()


@pytest.fixture(scope="module")
def index(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with loopback_index(wheelhouse, tmp_path_factory.mktemp("index")) as url:
        yield url


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return DataDir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def runtime(data: DataDir) -> EngineRuntime:
    return EngineRuntime(data.runtime, this_environment=False)


@pytest.fixture(scope="module")
def cancelled_steps(runtime: EngineRuntime, index: str) -> list[InstallProgress]:
    steps: list[InstallProgress] = []
    token = CancelToken()

    def progress(step: InstallProgress) -> None:
        steps.append(step)
        # Cancel a second after a first package finished downloading (uv files it into its cache
        # right after saying so) and torch started, while torch is still coming.
        announced = {s.package for s in steps if s.text.startswith("Downloading ")}
        finished = {s.package for s in steps if s.text.startswith("Downloaded ")}
        if "torch" in announced and finished and not timers:
            timers.append(threading.Timer(1.0, token.cancel))
            timers[0].start()

    timers: list[threading.Timer] = []

    with pytest.raises(RuntimeInstallCancelled):
        runtime.install(CPU_LOCAL, index_url=index, progress=progress, cancel=token)
    return steps


def _uv_running_for(path: Path) -> bool:
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(path) in part for part in proc.info["cmdline"] or []):
                return True
    return False


def test_cancel_mid_download_leaves_no_runtime_and_no_uv(runtime: EngineRuntime,
                                                         cancelled_steps: list[InstallProgress]) -> None:
    announced = {s.package for s in cancelled_steps if s.text.startswith("Downloading ")}
    finished = {s.package for s in cancelled_steps if s.text.startswith("Downloaded ")}
    assert "torch" in announced
    assert "torch" not in finished
    assert finished
    # Once packages finished, the rest has an ETA at the rate measured so far.
    assert any(s.eta_s is not None and s.eta_s > 0 for s in cancelled_steps)
    state = runtime.state()
    assert state.kind == "missing"
    assert "interrupted" in state.detail
    assert engine_python(runtime) is None
    assert not _uv_running_for(runtime.partial)
    assert any(runtime.cache.iterdir())  # the finished downloads are kept


def test_install_again_resumes_and_reports_real_progress(runtime: EngineRuntime, index: str,
                                                         cancelled_steps: list[InstallProgress]) -> None:
    steps: list[InstallProgress] = []
    runtime.install(CPU_LOCAL, index_url=index, progress=steps.append)
    finished_before = {s.package for s in cancelled_steps if s.text.startswith("Downloaded ")}
    downloaded_now = {s.package for s in steps if s.text.startswith("Downloading ")}
    assert "torch" in downloaded_now
    assert not finished_before & downloaded_now  # resumed: not fetched again
    downloads = [s for s in steps if s.phase == "download"]
    torch_size = next(s for s in downloads if s.text == "Downloading torch").total_bytes or 0
    assert downloads[-1].done_bytes == downloads[-1].total_bytes >= 150 * 1024**2
    assert torch_size >= 150 * 1024**2
    phases = [s.phase for s in steps]
    for phase in ("check", "python", "resolve", "download", "install", "verify", "done"):
        assert phase in phases
    state = runtime.state()
    assert (state.kind, state.target_key) == ("installed", "cpu")
    assert state.torch_version is not None
    assert state.torch_version.startswith("2.13.0")
    assert engine_python(runtime) == runtime.python
    assert not runtime.partial.exists()
    marker = json.loads(runtime.marker.read_text("utf-8"))  # what the install's own check found
    assert marker["device"] == "cpu"
    assert marker["problems"] == []
    assert marker["versions"]["diffusers"] == "0.42.1"


def test_a_deleted_package_is_found_and_the_cli_repairs_it(runtime: EngineRuntime, data: DataDir, wheelhouse: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    site = next(runtime.venv.glob("lib/python3.11/site-packages"))
    # The runtime holds no window-only packages: the engine's check passed without them.
    assert not list(site.glob("PySide6*"))
    assert not list(site.glob("keyring*"))
    assert not list(site.glob("websockets*"))
    shutil.rmtree(site / "safetensors")
    assert cli_main(["--data-dir", str(data.root), "runtime", "verify"]) == 2
    out, err = capsys.readouterr()
    assert out == "broken\tcpu\n"  # torch itself still computes
    assert "problem: safetensors is missing or damaged in the engine runtime (ModuleNotFoundError).\n" in err
    assert runtime.state().kind == "broken"
    assert engine_python(runtime) is None

    assert cli_main(["--data-dir", str(data.root), "runtime", "install", "--backend", "cpu",
                     "--find-links", str(wheelhouse)]) == 0
    out, err = capsys.readouterr()
    assert "[verify]" in err
    assert "[done] The engine runtime is ready (torch 2.13.0+cpu, cpu)" in err
    assert out.startswith("installed\tcpu\t2.13.0")
    assert runtime.state().kind == "installed"
    assert (site / "safetensors").is_dir()


def test_a_cancelled_reinstall_keeps_the_working_runtime(runtime: EngineRuntime, wheelhouse: Path) -> None:
    token = CancelToken()

    def progress(step: InstallProgress) -> None:
        if step.phase == "verify":  # the new environment is complete; its check has started
            token.cancel()

    started = time.monotonic()
    with pytest.raises(RuntimeInstallCancelled):
        runtime.install(CPU_LOCAL, find_links=wheelhouse, progress=progress, cancel=token)
    assert time.monotonic() - started < 60
    assert runtime.state().kind == "installed"
    assert engine_python(runtime) == runtime.python
    assert not _uv_running_for(runtime.partial)


def test_status_and_remove(runtime: EngineRuntime, data: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--data-dir", str(data.root), "runtime", "status"]) == 0
    out = capsys.readouterr().out
    assert "runtime\tinstalled\n" in out
    assert "build\tcpu\n" in out
    assert "detected\t" in out
    assert cli_main(["--data-dir", str(data.root), "runtime", "remove"]) == 0
    assert not runtime.root.exists()
    assert runtime.state().kind == "missing"
