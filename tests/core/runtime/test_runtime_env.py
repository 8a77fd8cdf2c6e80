"""The environment handed to the engine runtime's processes: nothing of the window's Python, and a
frozen window's own library path never reaches them (PyInstaller points LD_LIBRARY_PATH at the
bundle's libraries and keeps the user's in LD_LIBRARY_PATH_ORIG)."""

from __future__ import annotations

import sys

import pytest

from lorastudio.core.paths import runtime_env


def test_the_windows_python_settings_stay_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/window/site-packages")
    monkeypatch.setenv("VIRTUAL_ENV", "/window/venv")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    env = runtime_env()
    assert "PYTHONPATH" not in env
    assert "VIRTUAL_ENV" not in env
    assert env["PYTHONNOUSERSITE"] == "1"
    assert env["HF_HUB_OFFLINE"] == "1"  # everything else passes through


def test_a_frozen_windows_library_path_is_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/lorastudio/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/cuda/lib64")
    assert runtime_env()["LD_LIBRARY_PATH"] == "/usr/local/cuda/lib64"
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    assert "LD_LIBRARY_PATH" not in runtime_env()
