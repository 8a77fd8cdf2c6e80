"""Install model files and folders into the data dir's models folder.

The user picks copy, move or link (a hard link where the filesystem allows, else a symbolic link,
else a copy, and the result says which). The destination folder follows the detected kind, a
name collision never overwrites (``name (2).safetensors``), and bytes already in the library
(same SHA-256) are not installed twice. Pickle files (.ckpt/.pt/.bin/.pth) are only installed by
converting them to safetensors with ``torch.load(weights_only=True)``; a file that needs more
than plain tensors is refused, never unpickled in full.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import BadModelFile
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.metadata.detect import FileInfo, inspect_file, inspect_path
from lorastudio.core.metadata.hashes import FileHashes, embedded_hash_matches, hash_file
from lorastudio.core.metadata.sidecars import PREVIEW_SUFFIXES
from lorastudio.core.metadata.untrusted import clean_text, file_kind, open_regular
from lorastudio.core.paths import DataDir, runtime_command, runtime_env
from lorastudio.core.types import ModelKind

log = logging.getLogger(__name__)

CopyProgress = Callable[[int, int], None]  # bytes done, bytes total
_SIDECAR_SUFFIXES = (
    *(f".preview{s}" for s in PREVIEW_SUFFIXES),
    *PREVIEW_SUFFIXES,
    ".thumb.jpg",
    ".civitai.info",
    ".json",
    ".txt",
    ".description.txt",
)


class ImportMode(StrEnum):
    COPY = "copy"
    MOVE = "move"
    LINK = "link"


@dataclass(frozen=True)
class ImportResult:
    source: Path
    destination: Path
    action: str  # "copied", "moved", "hard-linked", "symlinked", "converted", "duplicate"
    message: str
    info: FileInfo | None = None


def _name(path: Path) -> str:
    """A file name fit for a message: no control characters or lone surrogates."""
    return clean_text(path.name)


def destination_folder(data: DataDir, kind: ModelKind) -> Path:
    folders = {
        ModelKind.CHECKPOINT: data.checkpoints,
        ModelKind.PIPELINE: data.checkpoints,
        ModelKind.LORA: data.loras,
        ModelKind.LYCORIS: data.loras,
        ModelKind.VAE: data.vae,
        ModelKind.EMBEDDING: data.embeddings,
        ModelKind.TEXT_MODEL: data.text_models,
        ModelKind.PEFT_ADAPTER: data.text_adapters,
    }
    if kind not in folders:
        raise BadModelFile("LoRA Studio cannot tell what kind of model this is, so it was not installed.")
    return folders[kind]


def unique_destination(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext`` ... when taken."""
    candidate = folder / name
    if not os.path.lexists(candidate):
        return candidate
    p = Path(name)
    stem, suffix = (name, "") if candidate.is_dir() else (p.stem, p.suffix)
    for i in range(2, 10_000):
        candidate = folder / f"{stem} ({i}){suffix}"
        if not os.path.lexists(candidate):
            return candidate
    raise BadModelFile(f"Too many files named {name} already.")


def _place_no_overwrite(tmp: Path, folder: Path, name: str) -> Path:
    """Give ``tmp`` its final name without ever replacing an existing file (link() fails if taken)."""
    for _ in range(100):
        dest = unique_destination(folder, name)
        try:
            os.link(tmp, dest)
        except FileExistsError:
            continue  # someone took the name in between: pick the next one
        except OSError:
            if os.path.lexists(dest):
                continue
            os.replace(tmp, dest)  # no hard links here (FAT, some network drives)
            return dest
        os.unlink(tmp)
        return dest
    raise BadModelFile(f"Could not find a free name for {name}.")


def _copy(source: Path, tmp: Path, cancel: CancelToken | None, progress: CopyProgress | None) -> None:
    total = source.stat().st_size
    done = 0
    try:
        with open_regular(source) as src, open(tmp, "xb") as dst:
            while chunk := src.read(4 * 1024 * 1024):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        shutil.copystat(source, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _duplicate_of(catalog: Catalog, folder: Path, source: Path, hashes: FileHashes) -> Path | None:
    for record in catalog.find_by_sha256(hashes.sha256):
        if not record.missing and record.path.exists() and record.path.resolve() != source.resolve():
            return record.path
    size = source.stat().st_size
    for path, _size in catalog.unhashed(size=size):  # same size, not hashed yet: hash them now
        if path.resolve() == source.resolve():
            continue
        try:
            known = hash_file(path)
        except (OSError, BadModelFile):
            continue
        known_record = catalog.get(path)
        catalog.set_hashes(
            path, known, embedded_hash_matches(known_record.info.metadata if known_record else {}, known)
        )
        if known.sha256 == hashes.sha256:
            return path
    try:
        neighbours = [p for p in folder.iterdir() if p.is_file() and p.stat().st_size == size]
    except OSError:
        neighbours = []
    for p in neighbours:  # files already there but not in the catalog yet
        if p.resolve() != source.resolve():
            try:
                if hash_file(p).sha256 == hashes.sha256:
                    return p
            except (OSError, BadModelFile):
                continue
    return None


def convert_pickle(source: Path, dest: Path, python: Path | None = None) -> None:
    """Write ``source`` (a torch pickle) as safetensors, loading it with ``weights_only=True`` only.

    ``python``: do it in a child process of that interpreter (the engine runtime's): the window's
    process never imports torch (#13), and an installed window has none (#18)."""
    if python is not None:
        _convert_in_child(python, source, dest)
        return
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError:  # an installed window without its engine runtime
        raise BadModelFile(f"{_name(source)} can be converted once the engine runtime is set up "
                           "(File ▸ Engine runtime…); nothing was installed.") from None

    try:
        # open_regular: a FIFO swapped in after the checks would block torch.load's open() forever.
        with warnings.catch_warnings(), open_regular(source) as f:  # torch warns about old pickle protocols
            warnings.simplefilter("ignore")
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except OSError as err:
        raise BadModelFile(f"{_name(source)} could not be read: {err.strerror or err}.") from None
    except Exception as err:
        # (IndexError on an empty stack, KeyError, struct.error...): every one is a refusal.
        first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
        # torch's weights_only refusal is a paragraph about its own defaults: the first sentence says it all.
        first = clean_text(first.split(". ")[0])[:160].rstrip(".")
        raise BadModelFile(
            f"{_name(source)} was refused: it needs more than plain tensors to load ({first})."
        ) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj:
        raise BadModelFile(f"{_name(source)} was refused: it does not hold a dictionary of tensors.")
    tensors = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            continue  # step counters and the like carry no weights
        tensors[k] = v.detach().clone().contiguous()  # clone: shared storage cannot be saved
    if not tensors:
        raise BadModelFile(f"{_name(source)} was refused: it holds no tensors.")
    save_file(tensors, str(dest), metadata={"format": "pt", "converted_from": source.name[:200]})


_CHILD_REFUSED = 3  # exit code of convert_pickle's child: a refusal, its sentence last on stderr


def _convert_in_child(python: Path, source: Path, dest: Path) -> None:
    command = runtime_command(python, "lorastudio.core.library.importer", str(source), str(dest))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=runtime_env())
    except OSError as err:
        raise BadModelFile(f"{_name(source)} could not be converted: the engine runtime's Python did not start "
                           f"({err.strerror or err}).") from None
    except subprocess.TimeoutExpired:
        raise BadModelFile(f"{_name(source)} could not be converted within an hour.") from None
    if done.returncode == 0:
        return
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    log.warning("Converting %s failed (exit %s): %s", source, done.returncode, done.stderr[-2000:])
    if done.returncode == _CHILD_REFUSED and lines:
        raise BadModelFile(clean_text(lines[-1])[:400])
    raise BadModelFile(f"{_name(source)} could not be converted (exit code {done.returncode}); "
                       "the details are in the log file.")


def main() -> None:
    """The child of ``convert_pickle(python=...)``: ``SOURCE DEST`` on the command line."""
    source, dest = (Path(a) for a in sys.argv[1:3])
    try:
        convert_pickle(source, dest)
    except BadModelFile as err:
        print(err, file=sys.stderr)
        sys.exit(_CHILD_REFUSED)


def import_path(
    data: DataDir,
    catalog: Catalog,
    source: Path,
    mode: ImportMode = ImportMode.COPY,
    convert_pickles: bool = False,
    cancel: CancelToken | None = None,
    progress: CopyProgress | None = None,
    python: Path | None = None,
) -> ImportResult:
    """Install one file or model folder; raises ``BadModelFile`` with the reason when refused.
    ``python``: the interpreter that converts pickles (see convert_pickle)."""
    source = Path(source)
    try:
        st = source.stat()
    except OSError:
        raise BadModelFile(f"{_name(source)} does not exist.") from None
    if stat.S_ISDIR(st.st_mode):
        return _import_folder(data, catalog, source, mode)
    if not stat.S_ISREG(st.st_mode):
        raise BadModelFile(
            f"{_name(source)} is {file_kind(st.st_mode)}, not a model file; nothing was installed."
        )
    info = inspect_path(source, full=True)  # every tensor entry checked before anything is installed
    if info.status == "pickle":
        if not convert_pickles:
            raise BadModelFile(
                f"{_name(source)} is a pickle file; LoRA Studio installs it only by converting it to safetensors."
            )
        return _import_pickle(data, catalog, source, python)
    if info.status != "ok":
        raise BadModelFile(info.error or f"{_name(source)} cannot be read.")
    folder = destination_folder(data, info.kind)
    folder.mkdir(parents=True, exist_ok=True)
    hashes = hash_file(source, cancel=cancel)
    dup = _duplicate_of(catalog, folder, source, hashes)
    if dup is not None:
        message = f"{_name(source)} is already in the library as {_name(dup)}."
        return ImportResult(source, dup, "duplicate", message, info)
    dest, action = _place(source, folder, mode, cancel, progress)
    _carry_sidecars(source, dest, move=mode is ImportMode.MOVE)
    final = _register(data, catalog, dest, hashes)
    return ImportResult(source, dest, action, f"{_name(source)} {action} to {_name(dest.parent)}/{_name(dest)}.", final)


def _place(
    source: Path, folder: Path, mode: ImportMode, cancel: CancelToken | None, progress: CopyProgress | None
) -> tuple[Path, str]:
    if mode is ImportMode.LINK:
        dest = unique_destination(folder, source.name)
        try:
            os.link(source, dest)
            return dest, "hard-linked"
        except OSError:
            pass
        try:
            os.symlink(source.resolve(), dest)
            return dest, "symlinked"
        except OSError:
            pass  # no links at all here: fall through to a copy, and say so
    if mode is ImportMode.MOVE:
        dest = unique_destination(folder, source.name)
        try:
            os.link(source, dest)  # same filesystem: atomic, cannot overwrite
            os.unlink(source)
            return dest, "moved"
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
    tmp = folder / f".{_name(source)}.partial"
    tmp.unlink(missing_ok=True)
    _copy(source, tmp, cancel, progress)
    dest = _place_no_overwrite(tmp, folder, source.name)
    if mode is ImportMode.MOVE:
        os.unlink(source)
        return dest, "moved"
    return dest, "copied"


def _carry_sidecars(source: Path, dest: Path, move: bool) -> None:
    """Previews and info files travel with the model, renamed to its new stem."""
    for suffix in (*_SIDECAR_SUFFIXES, ".hf.json"):
        side = source.parent / ((source.name if suffix == ".hf.json" else source.stem) + suffix)
        if not side.is_file():
            continue
        target = dest.parent / ((dest.name if suffix == ".hf.json" else dest.stem) + suffix)
        if target.exists():
            continue
        try:
            if move:
                shutil.move(str(side), target)
            else:
                shutil.copy2(side, target)
        except OSError:
            continue  # a sidecar is a nicety: the model itself is installed


def _register(data: DataDir, catalog: Catalog, dest: Path, hashes: FileHashes | None) -> FileInfo:
    info = inspect_path(dest)
    catalog.upsert_many([(info, data.models, os.stat(dest).st_mtime_ns)])
    if hashes is not None:
        catalog.set_hashes(dest, hashes, embedded_hash_matches(info.metadata, hashes))
    return info


def _import_pickle(data: DataDir, catalog: Catalog, source: Path, python: Path | None) -> ImportResult:
    data.downloads.mkdir(parents=True, exist_ok=True)
    tmp = data.downloads / f".{source.stem}.converting.safetensors"
    tmp.unlink(missing_ok=True)
    try:
        convert_pickle(source, tmp, python)
        info = inspect_file(tmp, full=True)
        if info.status != "ok":
            raise BadModelFile(info.error)
        folder = destination_folder(data, info.kind)
        folder.mkdir(parents=True, exist_ok=True)
        hashes = hash_file(tmp)
        dup = _duplicate_of(catalog, folder, tmp, hashes)
        if dup is not None:
            return ImportResult(
                source, dup, "duplicate", f"{_name(source)} is already in the library as {_name(dup)}.", info
            )
        dest = _place_no_overwrite(tmp, folder, source.stem + ".safetensors")
    finally:
        tmp.unlink(missing_ok=True)
    _carry_sidecars(source, dest, move=False)
    final = _register(data, catalog, dest, hashes)
    return ImportResult(source, dest, "converted", f"{_name(source)} converted to safetensors as {_name(dest)}.", final)


def _special_files(folder: Path, limit: int = 100_000) -> list[str]:
    """Relative paths of what is neither a file, a folder nor a link to one inside ``folder``."""
    found: list[str] = []
    seen = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            seen += 1
            try:
                mode = os.stat(os.path.join(root, name)).st_mode
            except OSError:
                continue  # a dangling link: copytree copies the link itself
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                found.append(os.path.relpath(os.path.join(root, name), folder))
        if seen > limit:
            break
    return found


def _import_folder(data: DataDir, catalog: Catalog, source: Path, mode: ImportMode) -> ImportResult:
    info = inspect_path(source)
    if info.status != "ok":
        raise BadModelFile(info.error or f"{_name(source)} is not a model folder.")
    folder = destination_folder(data, info.kind)
    folder.mkdir(parents=True, exist_ok=True)
    dest = unique_destination(folder, source.name)
    specials = _special_files(source)
    if specials:  # copytree would block on a FIFO, or fail half-way on a socket
        raise BadModelFile(
            f"{_name(source)} holds {len(specials)} special file(s) (pipes, sockets or devices, "
            f"e.g. {clean_text(specials[0])}), so it was not installed."
        )
    if mode is ImportMode.MOVE:
        shutil.move(str(source), dest)
        action = "moved"
    elif mode is ImportMode.LINK:

        def link_or_copy(src: str, dst: str) -> object:
            try:
                os.link(src, dst)
                return dst
            except OSError:
                return shutil.copy2(src, dst)

        shutil.copytree(source, dest, copy_function=link_or_copy)
        action = "hard-linked"
    else:
        shutil.copytree(source, dest)
        action = "copied"
    final = _register(data, catalog, dest, None)
    return ImportResult(source, dest, action, f"{_name(source)} {action} to {_name(dest.parent)}/{_name(dest)}.", final)
