"""EngineRuntime without a real install: state from what is on disk, the checks that refuse an
install before it starts, and failures in one sentence."""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from pathlib import Path

import pytest

from lorastudio.core.errors import DriverTooOld, EngineRuntimeError, IndexUnreachable, NotEnoughDiskSpace, UvMissing
from lorastudio.core.runtime import Detection, EngineRuntime, Gpu, Target, engine_python, target
from lorastudio.core.runtime import runtime as runtime_module
from lorastudio.core.runtime.requirements import requirements_digest, requirements_for


def fake_install(root: Path, *, marker: dict | None = None, python: bool = True) -> EngineRuntime:
    runtime = EngineRuntime(root, this_environment=False)
    if python:
        runtime.python.parent.mkdir(parents=True)
        runtime.python.write_text("")
    if marker is not None:
        root.mkdir(parents=True, exist_ok=True)
        runtime.marker.write_text(json.dumps(marker))
    return runtime


def good_marker(**changes: object) -> dict:
    return {"target": "cpu", "requirements": requirements_digest(requirements_for("cpu", platform.system())),
            "versions": {"torch": "2.13.0+cpu"}, "problems": [], **changes}


def test_missing_and_this_environment(tmp_path: Path) -> None:
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False)
    state = runtime.state()
    assert (state.kind, state.python, state.detail) == ("missing", None, "No engine runtime is installed.")
    assert engine_python(runtime) is None
    assert runtime.verify().problems == ("The engine runtime is not installed.",)
    here = EngineRuntime(tmp_path / "runtime", this_environment=True)
    assert here.state().kind == "this-environment"
    assert here.state().torch_version  # this test environment has torch
    assert engine_python(here) == Path(sys.executable)


def test_installed_only_with_a_marker_for_these_pins(tmp_path: Path) -> None:
    installed = fake_install(tmp_path / "a", marker=good_marker())
    state = installed.state()
    assert (state.kind, state.target_key, state.torch_version) == ("installed", "cpu", "2.13.0+cpu")
    assert state.detail == "Installed for CPU only (torch 2.13.0+cpu)."
    assert engine_python(installed) == installed.python

    unfinished = fake_install(tmp_path / "b")  # an environment but no marker: never "installed"
    assert unfinished.state().kind == "broken"
    assert engine_python(unfinished) is None

    outdated = fake_install(tmp_path / "c", marker=good_marker(requirements="0123456789abcdef"))
    assert outdated.state().kind == "broken"
    assert "another version of LoRA Studio" in outdated.state().detail

    failed_check = fake_install(tmp_path / "d", marker=good_marker(problems=["peft is missing or damaged."]))
    assert (failed_check.state().kind, failed_check.state().detail) == ("broken", "peft is missing or damaged.")

    gone = fake_install(tmp_path / "e", marker=good_marker(), python=False)
    assert gone.state().kind == "broken"

    interrupted = EngineRuntime(tmp_path / "f", this_environment=False)
    interrupted.partial.mkdir(parents=True)
    assert interrupted.state().kind == "missing"
    assert "interrupted" in interrupted.state().detail

    garbage = fake_install(tmp_path / "g")
    garbage.marker.write_bytes(b"{" * 100_000)
    assert garbage.state().kind == "broken"


def test_not_enough_disk_refuses_before_anything_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module.shutil, "disk_usage", lambda p: type("U", (), {"free": 300 * 1024**2})())
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False)
    with pytest.raises(NotEnoughDiskSpace) as caught:
        runtime.install(target("cpu"))
    assert str(caught.value).startswith("The engine runtime needs about 1.5 GB of free disk space and ")
    assert str(caught.value).endswith("has 0.3 GB; free some space and install again.")
    assert not runtime.root.exists()


def test_driver_too_old_for_the_chosen_cuda_build(tmp_path: Path) -> None:
    old = Gpu("nvidia", "NVIDIA GeForce RTX 3060", "550.144.03", 12288, "8.6")
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False, system="Linux",
                            detector=lambda: Detection(target("cu126"), "", (old,)))
    with pytest.raises(DriverTooOld) as caught:
        runtime.install(target("cu130"))
    assert str(caught.value) == ("The NVIDIA GPU (CUDA 13.0) build needs NVIDIA driver 580.65.06 or newer and this "
                                 "computer has 550.144.03; update the driver or choose another build.")
    assert not runtime.root.exists()


def test_uv_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uv", None)
    monkeypatch.setattr(runtime_module.shutil, "which", lambda name: None)
    with pytest.raises(UvMissing) as caught:
        runtime_module.uv_binary()
    assert str(caught.value) == "The uv program that installs the engine runtime is missing; reinstall LoRA Studio."


def test_unreachable_index_is_one_sentence_and_nothing_is_installed(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/simple"
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False)
    started = time.monotonic()
    with pytest.raises(IndexUnreachable) as caught:
        runtime.install(Target("cpu", "CPU only", None), index_url=url)
    assert time.monotonic() - started < 60
    assert str(caught.value) == (f"Could not reach the package index ({url}); check the network connection or the "
                                 "index setting, then install again.")
    assert runtime.state().kind == "missing"
    assert "Connection refused" in runtime.install_log.read_text("utf-8")  # the details stay in the log


def test_remove(tmp_path: Path) -> None:
    runtime = fake_install(tmp_path / "runtime", marker=good_marker())
    (runtime.cache / "archive-v0").mkdir(parents=True)
    runtime.remove()
    assert not runtime.root.exists()
    assert runtime.state().kind == "missing"
    runtime.remove()  # nothing there: fine


def test_one_install_at_a_time(tmp_path: Path) -> None:
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False)
    runtime.root.mkdir(parents=True)
    with runtime_module._InstallLock(runtime.root / "install.lock"):  # another install is running
        with pytest.raises(EngineRuntimeError) as caught:
            runtime.install(target("cpu"), find_links=tmp_path)
        assert str(caught.value) == "Another install of the engine runtime is running; wait for it to finish."
        with pytest.raises(EngineRuntimeError):
            runtime.remove()
    assert not runtime.partial.exists()
    runtime.remove()
    assert not runtime.root.exists()


@pytest.mark.slow
def test_verify_this_environment(tmp_path: Path) -> None:
    # A source checkout's environment is the runtime: the same check runs with its interpreter.
    report = EngineRuntime(tmp_path / "runtime", this_environment=True).verify()
    assert report.ok, report.problems
    assert report.device == "cpu"


def test_a_cancelled_verify_stops_its_check_at_once(tmp_path: Path) -> None:
    from lorastudio.core.cancel import CancelToken
    from lorastudio.core.errors import RuntimeInstallCancelled

    cancel = CancelToken()
    cancel.cancel()
    started = time.monotonic()
    with pytest.raises(RuntimeInstallCancelled):
        EngineRuntime(tmp_path / "runtime", this_environment=True).verify(cancel)
    assert time.monotonic() - started < 5  # the check imports torch for seconds; the cancel does not wait


def test_uv_from_the_bundle_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundled = tmp_path / ("uv.exe" if sys.platform == "win32" else "uv")
    bundled.write_text("")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert runtime_module.uv_binary() == bundled
    monkeypatch.delattr(sys, "_MEIPASS")
    assert runtime_module.uv_binary().name.startswith("uv")  # the uv package's binary
