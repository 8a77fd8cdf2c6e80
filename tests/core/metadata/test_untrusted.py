"""The limits every reader of other people's files goes through (core/metadata/untrusted.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lorastudio.core.errors import InvalidRequest
from lorastudio.core.metadata.untrusted import (
    NotRegularFile,
    UntrustedJsonError,
    clean_text,
    finite_float,
    loads_json,
    open_regular,
    parse_int,
    require_float,
    require_int,
    sql_int,
    terminal_text,
)


@pytest.mark.parametrize(
    "text",
    ["[" * 1000 + "]" * 1000, '{"a": NaN}', '{"a": Infinity}', '{"a": 1e400}', "[1,", '"\\ud800"', "x" * 100],
)
def test_hostile_json_is_a_value_error_never_a_crash(text: str) -> None:
    with pytest.raises(UntrustedJsonError):
        loads_json(text, max_bytes=50 if text.startswith("x") else 10_000, max_depth=64)


def test_depth_limit_and_lone_surrogates_on_request() -> None:
    assert loads_json("[[[1]]]", max_bytes=100, max_depth=3) == [[[1]]]
    with pytest.raises(UntrustedJsonError, match="nested more than 2"):
        loads_json("[[[1]]]", max_bytes=100, max_depth=2)
    assert loads_json('{"w": "a\\ud800"}', max_bytes=100, lone_surrogates=True) == {"w": "a\ud800"}
    with pytest.raises(UntrustedJsonError):
        loads_json('{"w": "a\\ud800", "n": NaN}', max_bytes=100, lone_surrogates=True)
    with pytest.raises(UntrustedJsonError):  # 10**400 overflows a double: refused, not an OverflowError
        loads_json("1" * 400, max_bytes=1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("32", 32), (" 8 ", 8), ("²", None), ("1" * 25, None), ("9" * 5000, None), ("-1", None), ("0x10", None),
     (True, None), (12, 12), (10**30, None), ("", None), (None, None)],
)
def test_parse_int(text: object, expected: int | None) -> None:
    assert parse_int(text, 1, 1_000_000) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.5, 1.5), ("2.0", 2.0), (float("nan"), None), ("inf", None), (10**400, None), ("1e400", None), (True, None),
     ("x" * 100, None), (7, 7.0)],
)
def test_finite_float(value: object, expected: float | None) -> None:
    assert finite_float(value, -100, 100) == expected


def test_sql_int_keeps_what_sqlite_holds() -> None:
    assert sql_int(2**63 - 1) == 2**63 - 1
    assert sql_int(2**63) is None
    assert sql_int(10**19) is None
    assert sql_int(None) is None


def test_text_cleaning() -> None:
    assert clean_text("a\ud800b\x1b[31mc\nd") == "a\ufffdb[31mcd"
    assert clean_text("line\nnext\ttab\x00", keep_newlines=True) == "line\nnext\ttab"
    assert clean_text("\u202eevil") == "evil"
    assert terminal_text("name\x1b[2J\n\ud800.safetensors") == "name\\x1b[2J\\n\ufffd.safetensors"
    assert terminal_text("plain") == "plain"


def test_argument_checks_are_one_sentence() -> None:
    with pytest.raises(InvalidRequest, match=r"^Steps must be a whole number from 1 to 500 \(got 0\)\.$"):
        require_int("Steps", 0, 1, 500)
    with pytest.raises(InvalidRequest, match="more than 24 digits"):
        require_int("The seed", 10**5000, 0, 2**64 - 1)
    with pytest.raises(InvalidRequest, match="got nan"):
        require_float("CFG", float("nan"), 0, 100)
    assert require_float("CFG", 7, 0, 100) == 7.0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_open_regular_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile, match="named pipe"):
        open_regular(fifo)
    with pytest.raises(NotRegularFile, match="folder"):
        open_regular(tmp_path)
    (tmp_path / "f").write_bytes(b"abc")
    with open_regular(tmp_path / "f") as f:
        assert f.read() == b"abc"
