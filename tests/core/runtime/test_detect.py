"""Which PyTorch build detect() picks, from recorded nvidia-smi / rocminfo outputs and platform stubs."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest

from lorastudio.core.errors import LoraStudioError, UnknownRuntimeTarget
from lorastudio.core.runtime import TARGETS, detect, parse_nvidia_smi, target
from lorastudio.core.runtime.detect import NVIDIA_QUERY, NVIDIA_QUERY_OLD, driver_supports

# `nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader,nounits`
RTX_4090_580 = "NVIDIA GeForce RTX 4090, 580.95.05, 24564, 8.9\n"
RTX_3060_550 = "NVIDIA GeForce RTX 3060, 550.144.03, 12288, 8.6\n"
RTX_3060_WIN_566 = "NVIDIA GeForce RTX 3060, 566.36, 12288, 8.6\n"
GTX_1080_580 = "NVIDIA GeForce GTX 1080 Ti, 580.82.09, 11264, 6.1\n"
RTX_5090_575 = "NVIDIA GeForce RTX 5090, 575.64.03, 32607, 12.0\n"
RTX_2070_470 = "NVIDIA GeForce RTX 2070, 470.256.02, 8192, 7.5\n"
TWO_GPUS = ("NVIDIA GeForce RTX 4070, 590.48.01, 12282, 8.9\n"
            "NVIDIA GeForce GTX 1060 6GB, 590.48.01, 6144, 6.1\n")
GTX_780 = "NVIDIA GeForce GTX 780, 535.54.03, 3072, 3.5\n"
# A driver from before compute_cap: the 4-field query fails, the 3-field one answers.
OLD_DRIVER_3_FIELDS = "Tesla K80, 470.82.01, 11441\n"
NO_DRIVER = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
             "Make sure that the latest NVIDIA driver is installed and running.\n")

ROCMINFO = """\
ROCk module is loaded
=====================
HSA System Attributes
=====================
Runtime Version:         1.14
==========
HSA Agents
==========
*******
Agent 1
*******
  Name:                    AMD Ryzen 9 7950X 16-Core Processor
  Marketing Name:          AMD Ryzen 9 7950X 16-Core Processor
  Device Type:             CPU
*******
Agent 2
*******
  Name:                    gfx1100
  Marketing Name:          AMD Radeon RX 7900 XTX
  Device Type:             GPU
*** Done ***
"""


def runner(outputs: dict[str, str | BaseException]):
    """A command runner that answers from recorded outputs, keyed by the command's first word
    (``nvidia-smi-old`` for the 3-field query)."""
    calls: list[tuple[str, ...]] = []

    def run(command: Sequence[str]) -> str:
        calls.append(tuple(command))
        key = command[0] + ("-old" if tuple(command) == NVIDIA_QUERY_OLD else "")
        answer = outputs.get(key, FileNotFoundError(2, "not found", command[0]))
        if isinstance(answer, BaseException):
            raise answer
        return answer

    run.calls = calls  # type: ignore[attr-defined]
    return run


def nvidia(text: str, system: str = "Linux"):
    return detect(system=system, machine="x86_64", run=runner({"nvidia-smi": text}), exists=lambda p: False)


def test_recorded_drivers_map_to_the_newest_build_they_support() -> None:
    assert nvidia(RTX_4090_580).target.key == "cu130"
    assert nvidia(RTX_3060_550).target.key == "cu126"
    assert "predates CUDA 13" in nvidia(RTX_3060_550).reason
    # Windows drivers are numbered differently: 566 runs CUDA 12.x there.
    assert nvidia(RTX_3060_WIN_566, "Windows").target.key == "cu126"
    found = nvidia(RTX_4090_580)
    assert found.gpus[0].name == "NVIDIA GeForce RTX 4090"
    assert found.gpus[0].memory_mb == 24564
    assert "RTX 4090" in found.reason
    assert "580.95.05" in found.reason
    assert target(found.target.key).index_url == "https://download.pytorch.org/whl/cu130"


def test_gpu_generation_decides_between_the_cuda_builds() -> None:
    # CUDA 13 dropped Pascal: a GTX 1080 Ti on the 580 driver gets CUDA 12.6.
    pascal = nvidia(GTX_1080_580)
    assert pascal.target.key == "cu126"
    assert "no longer supports" in pascal.reason
    # Blackwell has no kernels in the CUDA 12.6 build: with a 575 driver, update the driver.
    blackwell = nvidia(RTX_5090_575)
    assert blackwell.target.key == "cpu"
    assert "580.65.06 or newer" in blackwell.reason
    assert "update the driver" in blackwell.reason
    assert nvidia(GTX_780).target.key == "cpu"


def test_driver_too_old_falls_back_to_cpu_with_the_reason() -> None:
    found = nvidia(RTX_2070_470)
    assert found.target.key == "cpu"
    assert found.reason == ("The NVIDIA driver 470.256.02 is too old for PyTorch's CUDA builds (needs 525.60.13 or "
                            "newer): update the driver, until then the engine runs on the CPU.")
    assert found.gpus  # the GPU is still shown


def test_two_gpus_the_first_one_decides() -> None:
    found = nvidia(TWO_GPUS)
    assert [g.name for g in found.gpus] == ["NVIDIA GeForce RTX 4070", "NVIDIA GeForce GTX 1060 6GB"]
    assert found.target.key == "cu130"


def test_old_nvidia_smi_without_compute_cap_is_asked_again() -> None:
    run = runner({"nvidia-smi": subprocess.CalledProcessError(6, "nvidia-smi"),
                  "nvidia-smi-old": OLD_DRIVER_3_FIELDS})
    found = detect(system="Linux", machine="x86_64", run=run, exists=lambda p: False)
    assert run.calls == [NVIDIA_QUERY, NVIDIA_QUERY_OLD]  # type: ignore[attr-defined]
    assert found.gpus[0].compute_capability == ""
    assert found.target.key == "cpu"
    assert "470.82.01 is too old" in found.reason


def test_no_gpu_and_missing_or_failing_nvidia_smi() -> None:
    missing = detect(system="Linux", machine="x86_64", run=runner({}), exists=lambda p: False)
    assert missing.target.key == "cpu"
    assert missing.reason == "No NVIDIA driver was found (nvidia-smi is missing): the engine runs on the CPU."
    assert missing.gpus == ()
    broken = detect(system="Windows", machine="AMD64",
                    run=runner({"nvidia-smi": subprocess.CalledProcessError(9, "nvidia-smi", NO_DRIVER)}),
                    exists=lambda p: False)
    assert broken.target.key == "cpu"
    assert "did not answer" in broken.reason
    empty = nvidia("")
    assert empty.target.key == "cpu"
    assert empty.reason.startswith("No NVIDIA GPU was found")


def test_amd_on_linux_uses_rocm() -> None:
    found = detect(system="Linux", machine="x86_64", run=runner({"rocminfo": ROCMINFO}),
                   exists=lambda p: p in ("/dev/kfd", "/opt/rocm"))
    assert found.target.key == "rocm7.2"
    assert [g.name for g in found.gpus] == ["AMD Radeon RX 7900 XTX"]
    assert "ROCm 7.2" in found.reason
    # The amdgpu compute interface without ROCm's tools still means ROCm wheels will run.
    bare = detect(system="Linux", machine="x86_64", run=runner({}), exists=lambda p: p == "/dev/kfd")
    assert bare.target.key == "rocm7.2"
    # No ROCm on Windows: the CPU build.
    windows = detect(system="Windows", machine="AMD64", run=runner({"rocminfo": ROCMINFO}), exists=lambda p: True)
    assert windows.target.key == "cpu"


def test_macs() -> None:
    arm = detect(system="Darwin", machine="arm64", run=runner({}))
    assert arm.target.key == "mps"
    assert arm.target.index_url is None  # the default PyPI wheels carry MPS
    intel = detect(system="Darwin", machine="x86_64", run=runner({}))
    assert intel.target.key == "cpu"
    assert "Intel Mac" in intel.reason


def test_targets_and_lookup() -> None:
    keys = [t.key for t in TARGETS]
    assert keys == ["cu130", "cu126", "rocm7.2", "mps", "cpu"]
    assert all(t.label for t in TARGETS)
    with pytest.raises(UnknownRuntimeTarget) as caught:
        target("cu999")
    assert isinstance(caught.value, LoraStudioError)
    assert str(caught.value) == "'cu999' is not a known engine build (known: cu130, cu126, rocm7.2, mps, cpu)."


def test_parse_nvidia_smi_skips_garbage_lines() -> None:
    gpus = parse_nvidia_smi("garbage\n\nNVIDIA A100-SXM4-80GB, 535.183.01, 81920, 8.0\n, , \nX, notaversion, 1\n")
    assert len(gpus) == 1
    assert gpus[0].vendor == "nvidia"
    assert gpus[0].driver == "535.183.01"
    assert gpus[0].compute_capability == "8.0"
    assert parse_nvidia_smi("Tesla T4, 525.60.13, [N/A]\n")[0].memory_mb == 0


def test_driver_floors_per_system() -> None:
    assert driver_supports("525.60.13", "cu126", "Linux")
    assert not driver_supports("525.60.12", "cu126", "Linux")
    assert not driver_supports("527.41", "cu126", "Windows")
    assert driver_supports("528.33", "cu126", "Windows")
    assert driver_supports("anything", "cpu", "Linux")
