"""Bad inputs to ``text train``, ``text merge`` and ``text generate``: refused before any work, in
one sentence; big inputs tokenized in pieces with progress."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lorastudio.cli import main
from lorastudio.core.errors import InvalidRequest, TrainingDataError
from lorastudio.core.text.train import TrainConfig, read_training_texts, text_pieces, tokenize_texts


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


@pytest.mark.parametrize(
    ("out", "words"),
    [("/proc/ad", "not writable"), ("{tmp}/missing/parent/ad", "does not exist"), ("{tmp}/file.txt", "not a folder")],
)
def test_train_checks_the_output_folder_before_loading_anything(
    out: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lorastudio.core.text.engine as text_engine

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded for a run that should have been refused")

    monkeypatch.setattr(text_engine, "load_causal_lm", no_load)
    data = tmp_path / "file.txt"
    data.write_text("hello world " * 100)
    code = main(["text", "train", "--model", str(tmp_path / "no-model"), "--data", str(data),
                 "--out", out.format(tmp=tmp_path)])
    assert code == 1
    assert words in _one_error_line(capsys)
    assert not (tmp_path / "missing").exists()


def test_merge_to_an_unwritable_folder_is_one_sentence(
    tiny_lm: Path, tiny_adapters: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["text", "merge", "--model", str(tiny_lm), "--adapter", f"{tiny_adapters[0]}:0.5",
                 "--out", "/proc/merged"])
    assert code == 1
    assert "not writable" in _one_error_line(capsys)


def test_binary_training_data_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "weights.txt"
    blob.write_bytes(os.urandom(200_000))
    with pytest.raises(TrainingDataError, match="looks like binary data"):
        read_training_texts(blob)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_as_training_data_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "stream.txt")
    with pytest.raises(TrainingDataError, match="named pipe"):
        read_training_texts(tmp_path / "stream.txt")
    folder = tmp_path / "texts"
    folder.mkdir()
    os.mkfifo(folder / "stream.txt")
    (folder / "real.txt").write_text("some real text")
    assert read_training_texts(folder) == ["some real text"]  # the pipe is not waited on


def test_a_long_one_line_text_is_tokenized_in_pieces_with_progress(tiny_lm: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    text = "lorem ipsum dolor sit amet " * 20_000  # 540 KB on one line
    pieces = text_pieces(text)
    assert "".join(pieces) == text
    assert len(pieces) > 5
    assert all(len(p) <= 64 * 1024 for p in pieces)
    seen: list[tuple[int, int]] = []
    ids = tokenize_texts(tokenizer, [text], lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(text), len(text))
    assert len(seen) == len(pieces)
    whole = tokenizer(text[:200_000]).input_ids  # cut at spaces: the same tokens as in one call
    assert ids[: len(whole) - 2] == whole[:-2]


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (TrainConfig(rank=0), "Rank"),
        (TrainConfig(lr=float("nan")), "learning rate"),
        (TrainConfig(dropout=1.5), "Dropout"),
        (TrainConfig(batch_size=-3), "batch size"),
        (TrainConfig(alpha=float("inf")), "Alpha"),
    ],
)
def test_train_config_out_of_range(config: TrainConfig, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        config.validate()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--seed", str(2**64)], "seed"),
        (["--max-new-tokens", "0"], "Max new tokens"),
        (["--temperature", "nan"], "Temperature"),
        (["--top-p", "2"], "Top-p"),
        (["--adapter", "x:inf"], "weight"),
    ],
)
def test_generate_arguments_are_checked_before_the_model_loads(
    args: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["text", "generate", "--model", str(tmp_path / "no-model"), "--prompt", "hi", *args])
    assert code == 1
    assert words in _one_error_line(capsys)
