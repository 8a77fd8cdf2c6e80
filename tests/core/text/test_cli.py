"""``lorastudio text generate|train|merge|demo`` end to end on the tiny model."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lorastudio.cli import text as text_cli
from lorastudio.core.errors import IncompatibleLoraError
from lorastudio.core.paths import DataDir


def _run(argv: list[str], root: Path) -> int:
    parser = argparse.ArgumentParser(prog="lorastudio")
    text_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args, DataDir(root)))


def test_adapter_spec() -> None:
    assert text_cli.parse_adapter_spec("a/b:0.5") == ("a/b", 0.5)
    assert text_cli.parse_adapter_spec("a/b") == ("a/b", 1.0)
    assert text_cli.parse_adapter_spec(r"C:\loras\x") == (r"C:\loras\x", 1.0)
    assert text_cli.parse_adapter_spec("x:-1") == ("x", -1.0)


def test_generate_train_merge(tmp_path: Path, tiny_lm: Path, tiny_adapters: tuple[Path, Path],
                              capsys: pytest.CaptureFixture[str]) -> None:
    cats, dogs = tiny_adapters
    assert _run(["text", "generate", "--model", str(tiny_lm), "--adapter", f"{cats}:0.5", "--adapter",
                 str(dogs), "--prompt", "the", "--max-new-tokens", "8", "--seed", "3"], tmp_path) == 0
    out = capsys.readouterr()
    assert out.out.startswith("the")
    assert "seed: 3" in out.err

    data = tmp_path / "d.txt"
    data.write_text("a cat sat on a mat. " * 10)
    assert _run(["text", "train", "--model", str(tiny_lm), "--data", str(data), "--out", str(tmp_path / "new"),
                 "--epochs", "1", "--rank", "2", "--alpha", "4", "--lr", "0.01", "--max-length", "16"],
                tmp_path) == 0
    out = capsys.readouterr()
    assert "perplexity before" in out.out
    assert "perplexity after" in out.out
    assert (tmp_path / "new" / "adapter_model.safetensors").is_file()

    assert _run(["text", "merge", "--model", str(tiny_lm), "--adapter", f"{tmp_path / 'new'}:1.5",
                 "--out", str(tmp_path / "merged")], tmp_path) == 0
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    assert (tmp_path / "merged" / "tokenizer.json").is_file()


def test_generate_refuses_mismatched_adapter(other_lm: Path, tiny_adapters: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    with pytest.raises(IncompatibleLoraError, match="does not fit other-gpt2"):
        _run(["text", "generate", "--model", str(other_lm), "--adapter", str(tiny_adapters[0]),
              "--prompt", "x"], tmp_path)


def test_demo_into_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert _run(["text", "demo", "--no-adapters"], tmp_path) == 0
    assert (DataDir(tmp_path).text_models / "tiny-gpt2-demo" / "model.safetensors").is_file()
    assert _run(["text", "list"], tmp_path) == 0
    assert "tiny-gpt2-demo" in capsys.readouterr().out
