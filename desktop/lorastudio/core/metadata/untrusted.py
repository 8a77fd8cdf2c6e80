"""Reading what other people wrote: files, JSON, numbers and text, each with limits.

Every model file, sidecar and config in a library comes from somewhere else, so nothing here trusts
its input: only regular files are opened (a FIFO named ``x.safetensors`` would block ``open``
forever), JSON is parsed with a size and depth limit and without ``NaN``/``Infinity``, numbers are
range-checked before they reach SQLite or arithmetic, and text loses lone surrogates and control
characters before it is shown or stored. Failures are ``ValueError``/``OSError`` subclasses that
callers turn into a file's error status.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from lorastudio.core.errors import InvalidRequest

JSON_MAX_DEPTH = 64  # configs and sidecars nest 3-6 levels; 64 leaves room for odd tools
SQL_INT_MAX = 2**63 - 1


class UntrustedJsonError(ValueError):
    """JSON that is too big, too deep, malformed or holds numbers JSON does not have."""


class NotRegularFile(OSError):
    """A path that is a pipe, socket, device or folder where a file was expected."""


# -- files --------------------------------------------------------------------------------------


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, as a user would say it."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: Path | str) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file; raise ``NotRegularFile`` otherwise.

    Opened with ``O_NONBLOCK`` so that a FIFO swapped in after a ``stat`` cannot block the open
    (the flag means nothing for regular files); the type is then checked on the open descriptor.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            what = file_kind(mode)
            raise NotRegularFile(0, f"it is {what}, not a regular file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path | str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (``UntrustedJsonError`` if bigger)."""
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise UntrustedJsonError(f"the file is larger than {limit // 1024} KB")
        return f.read(limit + 1)[:limit]


# -- JSON ---------------------------------------------------------------------------------------


def loads_json(
    data: bytes | str, max_bytes: int, max_depth: int | None = JSON_MAX_DEPTH, lone_surrogates: bool = False
) -> Any:
    """Parse untrusted JSON: at most ``max_bytes``, nested at most ``max_depth`` levels.

    orjson refuses ``NaN``/``Infinity``, numbers that overflow a double, lone surrogates and
    nesting past 1024 levels; integers beyond 64 bits arrive as (finite) floats. ``max_depth=None``
    skips the walk for callers that check the structure they use themselves (the safetensors
    header reader, for speed). ``lone_surrogates=True`` accepts ``"\\ud800"`` escapes (Python's
    ``json.dumps`` writes them; sidecars come from Python tools) for the caller to clean: the
    strings may then hold lone surrogates.
    """
    if len(data) > max_bytes:
        raise UntrustedJsonError(f"it is larger than {max_bytes // 1024} KB")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        reason = str(err).split(":", 1)[0]
        if not (lone_surrogates and "surrogate" in reason):
            raise UntrustedJsonError(f"it is not valid JSON ({reason})") from None
        value = _stdlib_loads(data)
    if max_depth is not None:
        _check_depth(value, max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise UntrustedJsonError(f"it is not valid JSON ({name} is not a JSON number)")


def _stdlib_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise UntrustedJsonError("it is nested too deeply") from None
    except ValueError as err:  # also int() of 5,000 digits
        if isinstance(err, UntrustedJsonError):
            raise
        raise UntrustedJsonError("it is not valid JSON") from None


def _check_depth(value: Any, max_depth: int) -> None:
    # Iterative: the point is to never recurse on attacker-chosen depth.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise UntrustedJsonError(f"it is nested more than {max_depth} levels deep")
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))


# -- numbers ------------------------------------------------------------------------------------

_ASCII_INT = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")


def parse_int(text: object, low: int, high: int) -> int | None:
    """An integer written in ASCII digits within ``[low, high]``, else None.

    ``str.isdigit`` accepts ``"²"`` and ``int()`` refuses 5,000 digits with an exception: neither
    may reach a caller. At most 18 digits, so the value always fits SQLite's 64-bit integers.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if low <= text <= high else None
    if not isinstance(text, str) or len(text) > 40 or not _ASCII_INT.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def finite_float(value: object, low: float = -1e12, high: float = 1e12) -> float | None:
    """A finite number within ``[low, high]`` from a JSON value or metadata text, else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        # float() of a 400-digit int raises OverflowError; compare as ints first.
        return float(value) if low <= value <= high else None
    if isinstance(value, str):
        if len(value) > 64:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, float) or not math.isfinite(value) or not low <= value <= high:
        return None
    return value


def sql_int(value: int | None) -> int | None:
    """``value`` if SQLite can store it as an INTEGER, else None (never an ``OverflowError``)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -SQL_INT_MAX - 1 <= value <= SQL_INT_MAX else None


def require_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` if it is a whole number in ``[low, high]``, else ``InvalidRequest`` with a sentence
    naming the setting (for arguments: steps, sizes, seeds...)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high} (got {_shown(value)}).")
    return value


def require_float(name: str, value: object, low: float, high: float) -> float:
    """``value`` if it is a finite number in ``[low, high]``, else ``InvalidRequest``."""
    number = finite_float(value, low, high) if not isinstance(value, str) else None
    if number is None:
        raise InvalidRequest(f"{name} must be a number from {low:g} to {high:g} (got {_shown(value)}).")
    return number


def _shown(value: object) -> str:
    if isinstance(value, int) and abs(value) > 10**24:  # str() of 5,000 digits raises
        return "a number with more than 24 digits"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


# -- text ---------------------------------------------------------------------------------------

# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_ALL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str, keep_newlines: bool = False) -> str:
    """Text safe to store and show: lone surrogates become U+FFFD, control characters are dropped
    (newlines and tabs survive when ``keep_newlines``, e.g. in a description)."""
    if not text:
        return text
    if text.isascii() and text.isprintable():  # the usual case, fast
        return text
    text = _SURROGATE.sub("\ufffd", text)
    return (_CONTROL if keep_newlines else _CONTROL_ALL).sub("", text)


def terminal_text(text: str) -> str:
    """A one-line form for a terminal: control characters shown as escapes, surrogates as U+FFFD.

    Unlike ``clean_text`` nothing disappears: a file name with a newline prints as ``a\\nb``.
    """
    if text.isascii() and text.isprintable():
        return text
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL_ALL.sub(lambda m: repr(m.group())[1:-1], text)
