"""``lorastudio train CONFIG.toml``: progress lines, the saved files, one line for a bad config."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lorastudio.cli import main
from lorastudio.core.training.config import write_config

from .conftest import tiny_config


def test_train_from_a_toml_file(tiny_model: Path, pictures: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], torch_threads: None) -> None:
    config = replace(tiny_config(tiny_model, pictures, tmp_path / "loras"), epochs=1, max_steps=3)
    write_config(config, tmp_path / "train.toml")
    assert main(["--data-dir", str(tmp_path / "data"), "train", str(tmp_path / "train.toml")]) == 0
    out = capsys.readouterr().out
    assert "step 1/3 · epoch 1/1 · loss " in out
    assert "step 3/3" in out
    assert "sample at step 3: zq disc" in out
    assert f"saved {tmp_path / 'loras' / 'disc.safetensors'}" in out
    assert (tmp_path / "loras" / "disc.safetensors").is_file()


def test_a_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.toml").write_text("[train]\nrank = 0\n", "utf-8")
    assert main(["--data-dir", str(tmp_path / "data"), "train", str(tmp_path / "bad.toml")]) == 1
    err = capsys.readouterr().err
    assert err == "error: The base model is not set.\n"
