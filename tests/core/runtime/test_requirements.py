"""The engine runtime's pins agree with pyproject.toml, and the engine imports nothing window-only."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lorastudio.core.runtime.requirements import (
    ENGINE_MODULES,
    ENGINE_REQUIREMENTS,
    TORCH_VERSION,
    requirements_digest,
    requirements_for,
    torch_requirement,
)

ROOT = Path(__file__).resolve().parents[3]
WINDOW_ONLY = {"pyside6", "pyside6-essentials", "keyring", "websockets", "uv"}


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    lines = list(project["dependencies"])
    for name, extra in project.get("optional-dependencies", {}).items():
        if name != "test":
            lines += extra
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def test_pins_equal_pyprojects() -> None:
    declared = pyproject_requirements()
    ours = {canonicalize_name(r.name): r for r in map(Requirement, ENGINE_REQUIREMENTS)}
    for name, req in ours.items():
        if name in declared:
            assert str(req.specifier) == str(declared[name].specifier), name
    # torch: the runtime pins the version whose CUDA/ROCm builds core.runtime.detect offers.
    assert declared["torch"].specifier.contains(TORCH_VERSION)
    # Everything the project needs besides the window-only packages is in the runtime.
    assert set(declared) - WINDOW_ONLY - {"torch"} <= set(ours)
    assert {canonicalize_name(dist) for _, dist in ENGINE_MODULES} == set(ours) | {"torch"}


def test_torch_pin_per_build() -> None:
    assert torch_requirement("cu130", "Linux") == f"torch=={TORCH_VERSION}+cu130"
    assert torch_requirement("rocm7.2", "Linux") == f"torch=={TORCH_VERSION}+rocm7.2"
    assert torch_requirement("cpu", "Windows") == f"torch=={TORCH_VERSION}+cpu"
    assert torch_requirement("cpu", "Darwin") == f"torch=={TORCH_VERSION}"
    assert torch_requirement("mps", "Darwin") == f"torch=={TORCH_VERSION}"
    assert requirements_digest(requirements_for("cpu", "Linux")) != requirements_digest(requirements_for("cu130",
                                                                                                         "Linux"))


def test_engine_modules_import_nothing_window_only() -> None:
    # In a fresh interpreter (this one has Qt loaded by other tests): the engine process's modules
    # and its job handlers' request types must not pull in PySide6, keyring or websockets, which
    # the runtime does not have.
    code = ("import sys; import lorastudio.core.backend.engine_boot, lorastudio.core.backend.engine_process, "
            "lorastudio.core.runtime.probe; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'keyring', 'websockets'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT / "desktop").stdout
    assert out.strip() == "[]"
