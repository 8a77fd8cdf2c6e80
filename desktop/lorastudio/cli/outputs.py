"""Where a command will write, checked before it does any work.

A generation or a training run that fails at the very end because its output folder is read-only
(``/proc``), missing, or a file wastes minutes; and a typo must never create a tree of folders the
user did not ask for. So: the folder that will hold the output must already exist and accept a new
file (tested by creating and removing one, which ``os.access`` cannot tell as root or on /proc).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from lorastudio.core.errors import InvalidRequest
from lorastudio.core.library.catalog import display_path
from lorastudio.core.metadata.untrusted import terminal_text


def shown(path: Path) -> str:
    return terminal_text(display_path(path))


def check_writable_folder(folder: Path) -> Path:
    """``folder`` if it exists and a file can be created in it; else ``InvalidRequest``."""
    if not folder.exists():
        raise InvalidRequest(f"{shown(folder)} does not exist; create it first.")
    if not folder.is_dir():
        raise InvalidRequest(f"{shown(folder)} is not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".lorastudio-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise InvalidRequest(f"{shown(folder)} is not writable.") from None
    return folder


def check_png_target(out: Path) -> tuple[Path, Path | None]:
    """(folder for the images, exact file name or None) for ``generate --out``.

    ``--out`` may name an existing folder (the images get their usual names there) or a ``.png``
    file in an existing, writable folder (overwritten if it exists).
    """
    out = out.expanduser().absolute()
    if out.is_dir():
        return check_writable_folder(out), None
    if out.suffix.lower() != ".png":
        raise InvalidRequest(f"--out must name a .png file or an existing folder, not {shown(out)}.")
    if out.exists() and not out.is_file():
        raise InvalidRequest(f"{shown(out)} exists and is not a file.")
    return check_writable_folder(out.parent), out


def check_new_folder(out: Path) -> Path:
    """A folder a command will create and fill (an adapter, a merged model): absent or empty, in an
    existing, writable parent."""
    out = out.expanduser().absolute()
    if out.exists():
        if not out.is_dir():
            raise InvalidRequest(f"{shown(out)} exists and is not a folder.")
        if any(out.iterdir()):
            raise InvalidRequest(f"{shown(out)} already exists and is not empty; choose another name.")
        return check_writable_folder(out)
    check_writable_folder(out.parent)
    return out


def move_to_out(path: Path, out_file: Path) -> Path:
    """Put a saved image at the ``--out`` name the user gave (checked writable before any work)."""
    try:
        path.replace(out_file)
    except OSError as err:
        path.unlink(missing_ok=True)
        raise InvalidRequest(f"Could not write {out_file.name}: {err.strerror or err}.") from None
    return out_file
