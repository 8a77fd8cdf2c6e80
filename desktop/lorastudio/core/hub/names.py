"""Hub file names are untrusted: refuse any that could write outside the library folder."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from lorastudio.core.errors import DownloadError

_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f<>:\"|?*]")


def unsafe_reason(name: str) -> str | None:
    """Why a repo-relative file name is unsafe to write, or None when it is fine."""
    if not name or len(name) > 1000:
        return "empty or too long"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return "leaves its folder"
        if _CONTROL.search(part):
            return "contains characters Windows cannot store"
        if part.split(".")[0].upper().rstrip(" ") in _RESERVED:
            return "uses a name Windows reserves"
        if part != part.rstrip(" ."):
            return "ends with a dot or space"
    return None


def check_name(name: str) -> str:
    """Return the name when safe, else raise a DownloadError that says why."""
    reason = unsafe_reason(name)
    if reason:
        raise DownloadError(f"Refused the Hub file name {name!r}: it {reason}, so nothing was written.")
    return name


def basename(name: str) -> str:
    return PurePosixPath(check_name(name)).name
