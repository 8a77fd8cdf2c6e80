"""A local wheel folder for the engine runtime, made without a network.

The torch wheel comes from /opt/wheels (where pip finds it on these machines); every other
distribution the runtime needs is repacked from this test environment's installed files: a wheel
is a zip of the files its RECORD lists plus its ``.dist-info`` (WHEEL tags kept, a fresh RECORD;
files installed outside site-packages, ``../`` entries such as console scripts, are left out).
The folder is cached across runs in ~/.cache/lorastudio-tests/wheelhouse-<hash of the versions>.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lorastudio.core.runtime.requirements import ENGINE_REQUIREMENTS, TORCH_VERSION

TORCH_WHEELS = Path(os.environ.get("LORASTUDIO_TEST_TORCH_WHEELS", "/opt/wheels"))
CACHE = Path(os.environ.get("LORASTUDIO_TEST_CACHE", Path.home() / ".cache" / "lorastudio-tests"))
FORMAT = "1"  # bump when the repacking changes
_SKIP_META = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def torch_wheel() -> Path:
    """The CPU torch wheel for this Python; skips the test when the machine has none."""
    found = sorted(TORCH_WHEELS.glob(f"torch-{TORCH_VERSION}+cpu-cp311-*.whl"))
    if not found:
        pytest.skip(f"no torch {TORCH_VERSION}+cpu wheel for cp311 in {TORCH_WHEELS}")
    return found[0]


def runtime_closure() -> dict[str, md.Distribution]:
    """The installed distributions the runtime requirements pull in (markers and extras applied
    for this interpreter), torch excluded: it comes as a real wheel."""
    todo = [(Requirement(r).name, frozenset(Requirement(r).extras)) for r in ENGINE_REQUIREMENTS]
    todo.append(("torch", frozenset()))
    seen: set[tuple[str, frozenset[str]]] = set()
    found: dict[str, md.Distribution] = {}
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as err:
            raise RuntimeError(f"{name} is needed by the engine runtime but not installed here") from err
        found[key] = dist
        environments = [{"extra": ""}] + [{"extra": e} for e in extras]
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                todo.append((req.name, frozenset(req.extras)))
    found.pop("torch", None)
    return found


def build_wheelhouse() -> Path:
    """The wheel folder (built once, then reused)."""
    torch = torch_wheel()
    dists = runtime_closure()
    pins = sorted(f"{name}=={dist.version}" for name, dist in dists.items())
    digest = hashlib.sha256("\n".join([FORMAT, torch.name, *pins]).encode()).hexdigest()[:12]
    folder = CACHE / f"wheelhouse-{digest}"
    if (folder / ".complete").exists():
        return folder
    work = CACHE / f"wheelhouse-{digest}.tmp-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for dist in dists.values():
        repack(dist, work)
    try:
        os.link(torch, work / torch.name)
    except OSError:
        shutil.copy2(torch, work / torch.name)
    (work / ".complete").write_text("\n".join(pins) + "\n", "utf-8")
    try:
        os.replace(work, folder)
    except OSError:  # another run finished the same folder first
        shutil.rmtree(work, ignore_errors=True)
    return folder


def repack(dist: md.Distribution, folder: Path) -> Path:
    """A wheel of an installed distribution, written into ``folder``."""
    files = [f for f in dist.files or [] if not str(f).startswith("..") and "__pycache__" not in f.parts]
    info = next(f for f in dist.files or [] if f.parts[0].endswith(".dist-info"))
    info_dir = info.parts[0]
    wheel_meta = Path(str(dist.locate_file(f"{info_dir}/WHEEL"))).read_text("utf-8")
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    target = folder / f"{name}-{dist.version}-{_compressed(tags)}.whl"
    record = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as wheel:
        for entry in files:
            arcname = str(entry).replace(os.sep, "/")
            if entry.parts[0] == info_dir and entry.name in _SKIP_META:
                continue
            data = Path(str(dist.locate_file(entry))).read_bytes()
            wheel.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arcname},sha256={digest},{len(data)}")
        record.append(f"{info_dir}/RECORD,,")
        wheel.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return target


def _compressed(tags: list[str]) -> str:
    """``cp311-cp311-manylinux_2_17_x86_64`` + ``...-manylinux2014_x86_64`` ->
    ``cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`` (the wheel file name's tag part)."""
    parts: list[list[str]] = [[], [], []]
    for tag in tags or ["py3-none-any"]:
        for i, piece in enumerate(tag.split("-")):
            if piece not in parts[i]:
                parts[i].append(piece)
    return "-".join(".".join(p) for p in parts)


if __name__ == "__main__":  # packaging/test-packaging.sh: print the folder (built on first use)
    print(build_wheelhouse())
