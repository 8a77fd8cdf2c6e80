"""Which PyTorch build fits this machine: NVIDIA CUDA, AMD ROCm, Apple MPS or CPU.

The engine runtime pins torch 2.13.0 (core.runtime.requirements). Its builds (PyTorch's release
matrix): CUDA 12.6 and 13.0 stable (13.2 experimental, not offered), ROCm 7.2 on Linux, the default
PyPI wheels on macOS arm64 (MPS), CPU everywhere else.

An NVIDIA driver runs a CUDA build when it meets the CUDA major's floor for minor-version
compatibility (NVIDIA's CUDA compatibility guide; the PyTorch wheels carry their own CUDA
runtime): 12.x needs 525.60.13 on Linux / 528.33 on Windows, 13.x needs 580.65.06 / 580.88.
The GPU matters too: CUDA 13 builds dropped GPUs before Turing (compute capability < 7.5), and the
CUDA 12.6 build has no kernels for Blackwell (compute capability >= 10.0).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lorastudio.core.errors import UnknownRuntimeTarget

TORCH_INDEX = "https://download.pytorch.org/whl"


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "nvidia" | "amd" | "apple"
    name: str
    driver: str  # "" when unknown
    memory_mb: int  # 0 when unknown
    compute_capability: str = ""  # NVIDIA "8.6"; "" when unknown


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    index_url: str | None  # the PyTorch wheel index; None: torch comes from the default index


@dataclass(frozen=True)
class Detection:
    target: Target
    reason: str  # one sentence: what was found and why this build
    gpus: tuple[Gpu, ...]


TARGETS: tuple[Target, ...] = (
    Target("cu130", "NVIDIA GPU (CUDA 13.0)", f"{TORCH_INDEX}/cu130"),
    Target("cu126", "NVIDIA GPU, older card or driver (CUDA 12.6)", f"{TORCH_INDEX}/cu126"),
    Target("rocm7.2", "AMD GPU on Linux (ROCm 7.2)", f"{TORCH_INDEX}/rocm7.2"),
    Target("mps", "Apple silicon (Metal)", None),
    Target("cpu", "CPU only", f"{TORCH_INDEX}/cpu"),
)

# CUDA build -> (CUDA major's driver floor on Linux, on Windows).
_DRIVER_FLOOR: dict[str, tuple[str, str]] = {
    "cu130": ("580.65.06", "580.88"),
    "cu126": ("525.60.13", "528.33"),
}
_CUDA_LABEL = {"cu130": "CUDA 13.0", "cu126": "CUDA 12.6"}
_MIN_CAPABILITY = {"cu130": (7, 5), "cu126": (5, 0)}
_BLACKWELL = (10, 0)
# nvidia-smi too old to know compute_cap: recognise the generations that decide the build by name.
_BLACKWELL_NAMES = re.compile(r"\bRTX 50\d0\b|Blackwell|\bG?B[123]00\b", re.IGNORECASE)
_PRE_TURING_NAMES = re.compile(r"\bGTX (9\d0|10\d0)\b|\bTITAN (X|V|Xp)\b|\b[PV]100\b|\bP40\b|\bP4\b|\bQuadro P",
                               re.IGNORECASE)

NVIDIA_QUERY = ("nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                "--format=csv,noheader,nounits")
NVIDIA_QUERY_OLD = ("nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits")
COMMAND_TIMEOUT = 15.0

Runner = Callable[[Sequence[str]], str]
"""Runs a command and returns its stdout; raises OSError when the command is missing and
subprocess.CalledProcessError / TimeoutExpired when it fails."""


def target(key: str) -> Target:
    """The build for ``key``; raises UnknownRuntimeTarget for a key not in TARGETS."""
    for candidate in TARGETS:
        if candidate.key == key:
            return candidate
    known = ", ".join(t.key for t in TARGETS)
    raise UnknownRuntimeTarget(f"'{key[:40]}' is not a known engine build (known: {known}).")


def parse_nvidia_smi(csv_text: str) -> tuple[Gpu, ...]:
    """GPUs from ``nvidia-smi --query-gpu=name,driver_version,memory.total[,compute_cap]
    --format=csv,noheader,nounits``; lines that do not parse are skipped."""
    gpus = []
    for line in csv_text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 3 or not cells[0] or not _version_tuple(cells[1]):
            continue
        try:
            memory = int(float(cells[2]))
        except ValueError:
            memory = 0
        capability = cells[3] if len(cells) > 3 and re.fullmatch(r"\d+\.\d+", cells[3]) else ""
        gpus.append(Gpu("nvidia", cells[0][:120], cells[1], memory, capability))
    return tuple(gpus)


def detect(*, system: str | None = None, machine: str | None = None, run: Runner | None = None,
           exists: Callable[[str], bool] | None = None) -> Detection:
    """The build for this machine, with the reason in one sentence.

    ``system``/``machine`` default to ``platform.system()``/``platform.machine()``; ``run`` and
    ``exists`` replace running commands and checking paths (tests feed recorded outputs).
    """
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    run = run or _run
    exists = exists or os.path.exists
    if system == "Darwin":
        if machine in ("arm64", "aarch64"):
            return Detection(target("mps"), "This Mac has Apple silicon: PyTorch uses its GPU through Metal (MPS).",
                             (Gpu("apple", "Apple silicon", "", 0),))
        return Detection(target("cpu"), "This is an Intel Mac: the engine runs on the CPU "
                                         "(PyTorch publishes no GPU build for Intel Macs).", ())
    found = _nvidia(run)
    if isinstance(found, str):
        nvidia_note = found
    elif found:
        return _choose_cuda(found, system)
    else:
        nvidia_note = "No NVIDIA GPU was found"
    if system == "Linux":
        amd = _amd(run, exists)
        if amd is not None:
            names = ", ".join(g.name for g in amd) or "an AMD GPU"
            return Detection(target("rocm7.2"), f"Found {names} with the amdgpu driver: using the ROCm 7.2 build.",
                             amd)
    return Detection(target("cpu"), f"{nvidia_note}: the engine runs on the CPU.", ())


def minimum_driver(key: str, system: str) -> str | None:
    """The oldest NVIDIA driver the CUDA build ``key`` runs on, on ``system``; None: not CUDA."""
    floor = _DRIVER_FLOOR.get(key)
    if floor is None:
        return None
    return floor[1] if system == "Windows" else floor[0]


def driver_supports(driver: str, key: str, system: str) -> bool:
    """Whether an NVIDIA ``driver`` version runs the CUDA build ``key`` (True for non-CUDA keys)."""
    floor = minimum_driver(key, system)
    return floor is None or _version_tuple(driver) >= _version_tuple(floor)


def _choose_cuda(gpus: tuple[Gpu, ...], system: str) -> Detection:
    # The engine runs on cuda:0, so the first GPU decides.
    gpu = gpus[0]
    name = gpu.name
    capability = _capability(gpu)
    blackwell = capability >= _BLACKWELL if capability else bool(_BLACKWELL_NAMES.search(name))
    pre_turing = capability < _MIN_CAPABILITY["cu130"] if capability else bool(_PRE_TURING_NAMES.search(name))
    if capability and capability < _MIN_CAPABILITY["cu126"]:
        return Detection(target("cpu"), f"The {name} is too old for PyTorch's CUDA builds: "
                                        "the engine runs on the CPU.", gpus)
    if not pre_turing and driver_supports(gpu.driver, "cu130", system):
        return Detection(target("cu130"), f"Found {name} with driver {gpu.driver}: using the CUDA 13.0 build.", gpus)
    if blackwell:
        need = minimum_driver("cu130", system)
        return Detection(target("cpu"), f"The {name} needs NVIDIA driver {need} or newer for CUDA 13.0 and this "
                                        f"computer has {gpu.driver}: update the driver, until then the engine "
                                        "runs on the CPU.", gpus)
    if driver_supports(gpu.driver, "cu126", system):
        why = "CUDA 13 no longer supports this GPU" if pre_turing else f"driver {gpu.driver} predates CUDA 13"
        return Detection(target("cu126"), f"Found {name} ({why}): using the CUDA 12.6 build.", gpus)
    need = minimum_driver("cu126", system)
    return Detection(target("cpu"), f"The NVIDIA driver {gpu.driver} is too old for PyTorch's CUDA builds "
                                    f"(needs {need} or newer): update the driver, until then the engine runs on "
                                    "the CPU.", gpus)


def _nvidia(run: Runner) -> tuple[Gpu, ...] | str:
    """NVIDIA GPUs, or a sentence fragment saying why nvidia-smi gave none."""
    try:
        out = run(NVIDIA_QUERY)
    except OSError:
        return "No NVIDIA driver was found (nvidia-smi is missing)"
    except subprocess.TimeoutExpired:
        return "The NVIDIA driver did not answer (nvidia-smi timed out)"
    except subprocess.CalledProcessError:
        # Drivers before compute_cap existed refuse the field: ask again without it.
        try:
            out = run(NVIDIA_QUERY_OLD)
        except (OSError, subprocess.SubprocessError):
            return "The NVIDIA driver did not answer (nvidia-smi failed)"
    return parse_nvidia_smi(out)


def _amd(run: Runner, exists: Callable[[str], bool]) -> tuple[Gpu, ...] | None:
    """AMD GPUs that ROCm can use: the amdgpu compute interface (/dev/kfd) or a ROCm install."""
    if not (exists("/dev/kfd") or exists("/opt/rocm")):
        return None
    try:
        out = run(("rocminfo",))
    except (OSError, subprocess.SubprocessError):
        out = ""
    gpus = tuple(Gpu("amd", name, "", 0) for name in _rocminfo_gpus(out))
    if gpus or exists("/dev/kfd"):
        return gpus
    return None


def _rocminfo_gpus(text: str) -> list[str]:
    """GPU agents' marketing names from ``rocminfo`` output (CPU agents are listed there too)."""
    names: list[str] = []
    for agent in re.split(r"\n\*{5,}\s*\n", text):
        if not re.search(r"Device Type:\s*GPU", agent):
            continue
        match = re.search(r"Marketing Name:\s*(.+)", agent) or re.search(r"\bName:\s*(gfx\w+)", agent)
        if match:
            names.append(match.group(1).strip()[:120])
    return names


def _capability(gpu: Gpu) -> tuple[int, ...]:
    return _version_tuple(gpu.compute_capability) if gpu.compute_capability else ()


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = text.strip().split(".")
    if not all(p.isdigit() for p in parts):
        return ()
    return tuple(int(p) for p in parts)


def _run(command: Sequence[str]) -> str:
    # No console window flashing up from the window's process on Windows.
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    return subprocess.run(list(command), capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT,
                          creationflags=flags).stdout
