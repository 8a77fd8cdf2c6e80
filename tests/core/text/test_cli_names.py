"""`text generate` takes the names `text list` prints; no transformers warning leaks (issue 16, item 15)."""

from __future__ import annotations

import argparse
import shutil
import warnings
from pathlib import Path

import pytest

from lorastudio.cli import text as text_cli
from lorastudio.core.errors import LoraLoadError, ModelLoadError
from lorastudio.core.paths import DataDir


def _run(argv: list[str], root: Path) -> int:
    parser = argparse.ArgumentParser(prog="lorastudio")
    text_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args, DataDir(root)))


@pytest.fixture
def data_root(tmp_path: Path, tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> Path:
    data = DataDir(tmp_path / "data").ensure()
    shutil.copytree(tiny_lm, data.text_models / "tiny-gpt2-demo")
    shutil.copytree(tiny_adapters[0], data.text_adapters / "tiny-cats")
    return data.root


def test_generate_takes_the_names_text_list_prints(data_root: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert _run(["text", "list"], data_root) == 0
    listed = {line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert {"tiny-gpt2-demo", "tiny-cats"} <= listed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _run(["text", "generate", "--model", "tiny-gpt2-demo", "--adapter", "tiny-cats:0.7",
                     "--prompt", "the", "--max-new-tokens", "4", "--seed", "1"], data_root) == 0
    assert capsys.readouterr().out.startswith("the")
    leaked = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert not leaked, leaked
    assert _run(["text", "list", "--model", "TINY-GPT2-DEMO"], data_root) == 0  # names are case-blind
    listing = capsys.readouterr().out
    assert "tiny-cats" in listing
    assert "does not fit" not in listing


def test_unknown_names_are_one_sentence(data_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError, match=r"^No language model named nope: .*text list"):
        _run(["text", "generate", "--model", "nope", "--prompt", "x"], data_root)
    with pytest.raises(LoraLoadError, match=r"^No text adapter named tiny-dogs: "):
        _run(["text", "generate", "--model", "tiny-gpt2-demo", "--adapter", "tiny-dogs", "--prompt", "x"], data_root)
