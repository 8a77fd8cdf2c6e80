"""One-click install from the Hub into the library, resumable and verified.

Single files (LoRAs, checkpoints) are fetched with huggingface_hub's ``http_get`` into a partial
file of our own under ``DataDir.downloads/partial``. huggingface_hub 2.4 deletes its
``.incomplete`` files on any failure or cancel, in the cache and in ``local_dir`` alike (see
``file_download._download_to_tmp_and_move``), so resuming after a pause, a dropped connection or an
app restart needs a partial file that outlives the call: we keep it and hand its size to
``http_get(resume_size=...)``, which sends ``Range`` and starts over by itself when a server ignores
it. The file is checked against the Hub's sha256 (LFS) or git blob id (etag) and only then moved
into a models folder with ``os.replace``, so a partial or corrupt file is never visible there.

Diffusers pipelines go whole into the shared Hugging Face cache with ``snapshot_download`` (other
tools see them); after verification a link in the checkpoints folder points the library at them.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from lorastudio.core.errors import DownloadCancelled, DownloadError, LoraStudioError
from lorastudio.core.hub import kinds
from lorastudio.core.hub.card import HubFile, ModelPage, fetch_repo_file, model_page
from lorastudio.core.hub.connection import HubConnection, connection, prepare, translate
from lorastudio.core.hub.names import basename, check_name
from lorastudio.core.paths import DataDir

# Progress granularity, also the granularity of pause/cancel (huggingface_hub's default is 10 MiB).
CHUNK_SIZE = 1 << 20
_GENERIC_STEMS = {"pytorch_lora_weights", "diffusion_pytorch_model", "model", "lora", "adapter_model"}


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done``/``total`` bytes of ``filename``; stage is download|verify."""

    filename: str
    done: int
    total: int | None
    stage: str = "download"


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class InstallResult:
    repo_id: str
    paths: tuple[Path, ...]
    already_present: bool
    message: str


class _Stop:
    """A cancel flag: anything with ``is_set()`` or ``cancelled`` works (threading.Event, CancelToken)."""

    def __init__(self, cancel: Any) -> None:
        self._cancel = cancel

    def __call__(self) -> bool:
        if self._cancel is None:
            return False
        if hasattr(self._cancel, "is_set"):
            return bool(self._cancel.is_set())
        return bool(getattr(self._cancel, "cancelled", False))


def _progress_class(filename: str, report: ProgressFn | None, stop: _Stop, snapshot: bool = False) -> type:
    from tqdm.auto import tqdm

    class _Bar(tqdm):  # type: ignore[misc]  # tqdm ships no type hints, so it is Any to mypy
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()  # never write to a terminal
            kwargs["disable"] = False  # a disabled tqdm stops counting
            super().__init__(*args, **kwargs)
            # snapshot_download opens several bars; its byte count is the "Reconstructing" one.
            desc = str(kwargs.get("desc") or "")
            self._counts = not snapshot or desc.startswith("Reconstructing")

        def update(self, n: float | None = 1) -> bool | None:
            if stop():
                raise DownloadCancelled("Download paused.")
            result: bool | None = super().update(n)
            if self._counts and report is not None:
                report(Progress(filename, int(self.n), int(self.total) if self.total else None))
            return result

    return _Bar


# -- partial files ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Partial:
    """A resumable partial download under DataDir.downloads/partial (never in a models folder)."""

    data: Path
    meta: Path

    @staticmethod
    def of(data_dir: DataDir, repo_id: str, filename: str) -> Partial:
        key = hashlib.sha1(f"{repo_id}\n{filename}".encode()).hexdigest()[:20]
        folder = data_dir.downloads / "partial"
        return Partial(folder / f"{key}.part", folder / f"{key}.json")

    def size(self) -> int:
        try:
            return self.data.stat().st_size
        except OSError:
            return 0

    def read_meta(self) -> dict[str, Any]:
        try:
            raw = json.loads(self.meta.read_text("utf-8"))
            return raw if isinstance(raw, dict) else {}
        except (OSError, ValueError):
            return {}

    def discard(self) -> None:
        self.data.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)


def discard_partials(data_dir: DataDir, repo_id: str, filenames: list[str]) -> None:
    """Forget resumable data (the user cancelled rather than paused)."""
    for name in filenames:
        Partial.of(data_dir, repo_id, name).discard()


# -- verification ------------------------------------------------------------------------------------

def sha256_of(path: Path, report: ProgressFn | None = None, label: str = "", stop: _Stop | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE * 4):
            digest.update(chunk)
            done += len(chunk)
            if stop is not None and stop():
                raise DownloadCancelled("Download paused.")
            if report is not None:
                report(Progress(label, done, total, "verify"))
    return digest.hexdigest()


def git_blob_sha1_of(path: Path) -> str:
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, hub_file: HubFile, etag: str | None, report: ProgressFn | None, stop: _Stop) -> str:
    """Return the file's sha256 when it matches what the Hub says, else raise."""
    sha256 = sha256_of(path, report, hub_file.path, stop)
    expected_sha = hub_file.sha256 or (etag if etag and len(etag) == 64 else None)
    if expected_sha:
        ok = sha256 == expected_sha.lower()
    else:
        expected_blob = hub_file.blob_id or etag
        ok = expected_blob is not None and git_blob_sha1_of(path) == expected_blob.lower()
    if not ok:
        raise DownloadError(f"{hub_file.path} did not match the Hub's checksum, so it was discarded; "
                            "try again later.")
    return sha256


# -- single files ------------------------------------------------------------------------------------

def target_folder(data_dir: DataDir, page: ModelPage, filename: str) -> Path:
    if page.kind == kinds.LORA or "lora" in filename.lower():
        return data_dir.loras
    return data_dir.checkpoints


def _local_name(page: ModelPage, filename: str) -> str:
    """The name in the models folder; generic names get the repo's name so they stay telling."""
    name = basename(filename)
    stem, dot, ext = name.rpartition(".")
    if stem.lower() in _GENERIC_STEMS:
        repo = page.summary.repo_id.split("/")[-1]
        name = f"{repo}.{ext}" if stem.lower() != "diffusion_pytorch_model" else f"{repo}-{stem}{dot}{ext}"
    check_name(name)
    return name


def find_installed(folder: Path, sha256: str, size: int | None) -> Path | None:
    """A file already in ``folder`` with this content (sidecar sha256 first, else hash same-size files)."""
    if not folder.is_dir():
        return None
    for sidecar in folder.glob("*.hf.json"):
        try:
            meta = json.loads(sidecar.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        candidate = sidecar.with_name(sidecar.name.removesuffix(".hf.json"))
        if isinstance(meta, dict) and meta.get("sha256") == sha256 and candidate.is_file():
            return candidate
    if size is None:
        return None
    for candidate in folder.iterdir():
        if candidate.is_file() and candidate.suffix == ".safetensors" and candidate.stat().st_size == size \
                and sha256_of(candidate) == sha256:
            return candidate
    return None


def _unique(folder: Path, name: str) -> Path:
    target = folder / name
    stem, suffix = target.stem, target.suffix
    n = 2
    while target.exists() or target.is_symlink():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def _write_json_atomic(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2), "utf-8")
    os.replace(tmp, path)


def _sidecar(page: ModelPage, filename: str, sha256: str, **extra: Any) -> dict[str, Any]:
    return {"repo_id": page.summary.repo_id, "revision": page.revision, "commit": page.commit,
            "filename": filename, "sha256": sha256,
            "downloaded_at": datetime.now(UTC).isoformat(timespec="seconds"), **extra}


def _fetch_preview(page: ModelPage, model_path: Path, conn: HubConnection) -> None:
    """Copy the repo's preview image next to the model as ``<stem>.preview.<ext>``; best effort."""
    if not page.preview_file:
        return
    try:
        src = fetch_repo_file(page, page.preview_file, conn=conn)
        ext = PurePosixPath(page.preview_file).suffix.lower()
        stem = model_path.name if model_path.is_dir() else model_path.stem
        dest = model_path.with_name(f"{stem}.preview{ext}")
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    except (LoraStudioError, OSError):
        pass  # a missing thumbnail is not worth failing an install for


def install_file(data_dir: DataDir, page: ModelPage, filename: str, *, conn: HubConnection,
                 on_progress: ProgressFn | None = None, cancel: Any = None) -> tuple[Path, bool]:
    """Download, verify and place one file. Returns (path, already_present)."""
    from huggingface_hub import constants as hub_constants
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # public, lazily re-exported

    check_name(filename)
    hub_file = page.file(filename)
    if hub_file is None:
        raise DownloadError(f"{page.summary.repo_id} has no file named {filename!r}.")
    folder = target_folder(data_dir, page, filename)
    stop = _Stop(cancel)
    if hub_file.sha256:
        existing = find_installed(folder, hub_file.sha256, hub_file.size)
        if existing is not None:
            return existing, True

    prepare(conn)
    url = hf_hub_url(page.summary.repo_id, filename, revision=page.commit or page.revision,
                     endpoint=conn.endpoint)
    what = f"{page.summary.repo_id}/{filename}"
    try:
        meta = get_hf_file_metadata(url, token=conn.token_for(url) or False, endpoint=conn.endpoint)
    except Exception as error:
        raise translate(error, what) from error

    partial = Partial.of(data_dir, page.summary.repo_id, filename)
    partial.data.parent.mkdir(parents=True, exist_ok=True)
    saved = partial.read_meta()
    if saved.get("etag") != meta.etag or partial.size() > (meta.size or hub_file.size or 0):
        partial.discard()  # the file changed on the Hub (or the partial is junk): start over
    _write_json_atomic(partial.meta, {"repo_id": page.summary.repo_id, "filename": filename,
                                      "etag": meta.etag, "commit": meta.commit_hash, "size": meta.size})
    resume = partial.size()
    # Token only to the configured endpoint; a CDN redirect gets none (as hf_hub_download does).
    headers = build_hf_headers(token=conn.token_for(meta.location) or False)
    headers["Accept-Encoding"] = "identity"
    hub_constants.DOWNLOAD_CHUNK_SIZE = CHUNK_SIZE
    bar = _progress_class(filename, on_progress, stop)
    try:
        with partial.data.open("r+b" if resume else "wb") as f:
            f.seek(resume)
            http_get(meta.location, f, resume_size=resume, headers=headers,
                     expected_size=meta.size or hub_file.size, displayed_filename=filename, tqdm_class=bar)
    except DownloadCancelled:
        raise
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DownloadError(f"The disk is full while downloading {filename}: free some space and "
                                "resume; nothing was added to the library.") from error
        if "Consistency check failed" in str(error):
            partial.discard()
            raise DownloadError(f"{filename} arrived with the wrong size, so it was discarded; "
                                "try again.") from error
        raise translate(error, what) from error
    except Exception as error:
        raise translate(error, what) from error

    try:
        sha256 = _verify(partial.data, hub_file, meta.etag, on_progress, stop)
    except DownloadError:
        partial.discard()
        raise
    existing = find_installed(folder, sha256, partial.size())
    if existing is not None:
        partial.discard()
        return existing, True
    folder.mkdir(parents=True, exist_ok=True)
    dest = _unique(folder, _local_name(page, filename))
    # Sidecar first: when the model file appears, the scanner finds its source right away.
    _write_json_atomic(dest.with_name(dest.name + ".hf.json"), _sidecar(page, filename, sha256))
    try:
        _move_into_place(partial.data, dest)
    except OSError as error:
        dest.with_name(dest.name + ".hf.json").unlink(missing_ok=True)
        if error.errno == errno.ENOSPC:
            raise DownloadError(f"The disk is full while installing {filename}: free some space and "
                                "resume; nothing was added to the library.") from error
        raise DownloadError(f"Could not move {filename} into the library: {error.strerror}.") from error
    partial.meta.unlink(missing_ok=True)
    _fetch_preview(page, dest, conn)
    return dest, False


def _move_into_place(src: Path, dest: Path) -> None:
    try:
        os.replace(src, dest)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        # Another volume: copy under a hidden name, then rename atomically on the target volume.
        tmp = dest.with_name(f".{dest.name}.incoming")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        src.unlink(missing_ok=True)


# -- pipelines -----------------------------------------------------------------------------------------

def install_pipeline(data_dir: DataDir, page: ModelPage, *, conn: HubConnection,
                     on_progress: ProgressFn | None = None, cancel: Any = None) -> tuple[Path, bool]:
    """Snapshot a diffusers pipeline into the shared HF cache, verify it, link it into checkpoints."""
    from huggingface_hub import snapshot_download

    repo_id = page.summary.repo_id
    for f in page.files:
        if f.unsafe:
            check_name(f.path)  # raises with the reason
    link = data_dir.checkpoints / repo_id.replace("/", "--")
    sidecar = link.with_name(link.name + ".hf.json")
    if link.exists():
        try:
            if json.loads(sidecar.read_text("utf-8")).get("commit") == page.commit:
                return link, True
        except (OSError, ValueError):
            pass
    prepare(conn)
    stop = _Stop(cancel)
    wanted = [f.path for f in page.files if f.relevant]
    try:
        folder = Path(snapshot_download(
            repo_id, revision=page.commit or page.revision, cache_dir=conn.cache_dir, endpoint=conn.endpoint,
            token=conn.token or False, allow_patterns=wanted, max_workers=2,
            tqdm_class=_progress_class(repo_id, on_progress, stop, snapshot=True)))
    except DownloadCancelled:
        raise
    except Exception as error:
        raise translate(error, repo_id) from error
    for name in wanted:
        hub_file = page.file(name)
        path = folder / name
        assert hub_file is not None
        try:
            _verify(path.resolve(), hub_file, None, on_progress, stop)
        except DownloadError:
            # Drop the bad blob from the shared cache so the next try downloads it again.
            blob = path.resolve()
            path.unlink(missing_ok=True)
            blob.unlink(missing_ok=True)
            raise
    data_dir.checkpoints.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(sidecar, _sidecar(page, "", "", kind="pipeline", path=str(folder)))
    tmp = link.with_name(f".{link.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.symlink(folder, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        # No symlinks here (Windows without developer mode): the sidecar's "path" says where it is.
        tmp.unlink(missing_ok=True)
        return folder, False
    _fetch_preview(page, link, conn)
    return link, False


# -- one click ---------------------------------------------------------------------------------------------

def install(data_dir: DataDir, repo_id: str, revision: str = "main", files: list[str] | None = None, *,
            conn: HubConnection | None = None, on_progress: ProgressFn | None = None,
            cancel: Any = None, page: ModelPage | None = None) -> InstallResult:
    """Install a repo's model into the library: its main weights file(s) or the whole pipeline."""
    conn = conn or connection()
    page = page or model_page(repo_id, revision, conn=conn)
    if page.is_pipeline and not files:
        path, present = install_pipeline(data_dir, page, conn=conn, on_progress=on_progress, cancel=cancel)
        paths: tuple[Path, ...] = (path,)
        presents = [present]
    else:
        names = files or page.default_install()
        if not names:
            raise DownloadError(f"{repo_id} has no .safetensors weights to install.")
        done = [install_file(data_dir, page, n, conn=conn, on_progress=on_progress, cancel=cancel)
                for n in names]
        paths = tuple(p for p, _ in done)
        presents = [present for _, present in done]
    if all(presents):
        message = f"{repo_id} is already in your library ({', '.join(p.name for p in paths)})."
    else:
        message = f"Installed {repo_id}: {', '.join(p.name for p in paths)}."
    return InstallResult(repo_id, paths, all(presents), message)


class RateMeter:
    """Speed (bytes/s, smoothed) and ETA for one transfer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, int] | None = None
        self.speed = 0.0
        self._lock = threading.Lock()

    def update(self, done: int) -> float:
        now = self._clock()
        with self._lock:
            if self._last is not None and now > self._last[0]:
                dt, db = now - self._last[0], done - self._last[1]
                if db >= 0 and dt > 0.05:
                    rate = db / dt
                    self.speed = rate if self.speed == 0 else 0.7 * self.speed + 0.3 * rate
                    self._last = (now, done)
            elif self._last is None or done < self._last[1]:
                self._last = (now, done)
            return self.speed

    def eta(self, done: int, total: int | None) -> float | None:
        if not total or self.speed <= 0:
            return None
        return max(total - done, 0) / self.speed
