"""The engine runtime's self-check, run BY the runtime's interpreter (which does not hold
lorastudio: ``core.paths.runtime_command`` appends the window's copy to its sys.path) with the
build's key as argument.

It imports what the engine process imports (torch, diffusers, transformers, peft, ... and the
engine's own modules), compares the installed versions with the pins, and runs a small matrix
product on the build's device. The last stdout line is JSON:
``{"problems": [one sentence, ...], "device": "cuda", "versions": {"torch": "2.13.0+cpu", ...}}``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import sys
from typing import Any

from lorastudio.core.runtime.requirements import ENGINE_MODULES, ENGINE_REQUIREMENTS, TORCH_VERSION

# The key for checking the window's own environment (a source checkout: any torch >= 2.10, CPU).
THIS_ENVIRONMENT = "this-environment"
ENGINE_ENTRY_MODULES = ("lorastudio.core.backend.engine_process", "lorastudio.core.engine.engine")


def check(target_key: str) -> dict[str, Any]:
    problems: list[str] = []
    versions: dict[str, str] = {}
    for module, dist in ENGINE_MODULES:
        try:
            importlib.import_module(module)
            versions[dist] = importlib.metadata.version(dist)
        except Exception as err:  # any import failure is what we are looking for
            problems.append(f"{dist} is missing or damaged in the engine runtime ({type(err).__name__}).")
    problems += _version_problems(versions, pinned_torch=target_key != THIS_ENVIRONMENT)
    for module in ENGINE_ENTRY_MODULES:
        try:
            importlib.import_module(module)
        except Exception as err:
            problems.append(f"The engine's module {module} does not load in the runtime ({type(err).__name__}: "
                            f"{str(err)[:120]}).")
    device = ""
    if "torch" in versions:
        device, problem = _device_check(target_key)
        if problem:
            problems.append(problem)
    return {"problems": problems, "device": device, "versions": versions}


def _version_problems(versions: dict[str, str], *, pinned_torch: bool) -> list[str]:
    problems = []
    torch_version = versions.get("torch")
    if pinned_torch and torch_version is not None and torch_version.split("+")[0] != TORCH_VERSION:
        problems.append(f"The engine runtime has torch {torch_version}; LoRA Studio needs {TORCH_VERSION}.")
    for requirement in ENGINE_REQUIREMENTS:
        name, sep, pinned = requirement.partition("==")
        found = versions.get(name)
        if sep and found is not None and found != pinned:
            problems.append(f"The engine runtime has {name} {found}; LoRA Studio needs {pinned}.")
    return problems


def _device_check(target_key: str) -> tuple[str, str]:
    import torch

    if target_key.startswith(("cu", "rocm")):
        device = "cuda"
        if not torch.cuda.is_available():
            return "", "PyTorch sees no usable GPU (torch.cuda.is_available() is False): check the driver."
    elif target_key == "mps":
        device = "mps"
        if not torch.backends.mps.is_available():
            return "", "PyTorch cannot use this Mac's GPU (MPS is not available)."
    else:
        device = "cpu"
    try:
        x = torch.ones((64, 64), device=device)
        value = float((x @ x).sum().item())
    except Exception as err:
        return "", f"A computation on the {device} failed ({type(err).__name__}: {str(err)[:120]})."
    if value != 64.0**3:
        return "", f"A computation on the {device} gave a wrong result."
    return device, ""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv if argv is None else argv
    target_key = args[1] if len(args) > 1 else "cpu"
    print(json.dumps(check(target_key)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
