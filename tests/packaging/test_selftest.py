"""``lorastudio --self-test`` from a source/pip install: what the user reads and the exit code.

The same command runs on the frozen bundle and the installed .deb in packaging/test-packaging.sh.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lorastudio.cli import main

CHECKS = ("window imports", "qt platform", "resources", "engine process", "demo model", "generate with LoRA",
          "read back metadata")


@pytest.mark.slow
def test_self_test_passes_on_a_whole_install(capsys: pytest.CaptureFixture[str], torch_threads: None) -> None:
    assert main(["--self-test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in CHECKS:
        assert any(line.startswith(f"ok   {name}: ") for line in lines), (name, lines)
    device = next(line for line in lines if line.startswith("ok   engine process: "))
    assert "CPU — " in device or "CUDA — " in device  # which device, and why
    assert sys.executable in device  # a source checkout: this environment is the engine runtime
    assert lines[-1].startswith("self-test passed: 7 checks")


@pytest.mark.slow
def test_self_test_names_what_is_missing_and_fails(capsys: pytest.CaptureFixture[str], torch_threads: None,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lorastudio.core.paths

    monkeypatch.setattr(lorastudio.core.paths, "resources_dir", lambda: tmp_path / "gone")
    assert main(["--self-test"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert f"FAIL resources: {tmp_path / 'gone'} is missing" in lines
    assert any(line.startswith("ok   read back metadata: ") for line in lines)  # the rest still ran
    assert lines[-1].startswith("self-test FAILED: 1 of 7 checks failed")


def test_without_an_engine_runtime_the_window_half_passes_and_the_engine_half_says_how(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import lorastudio.core.runtime

    monkeypatch.setattr(lorastudio.core.runtime, "engine_python", lambda runtime: None)
    assert main(["--self-test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ok   window imports: PySide6 ") for line in lines), lines
    assert "skip engine process: no engine runtime is set up on this computer (`lorastudio runtime install`)" in lines
    assert not any(line.startswith(("ok   demo model", "FAIL")) for line in lines), lines
    assert lines[-1].startswith("self-test passed: 3 checks, the engine half skipped: 4 checks")
