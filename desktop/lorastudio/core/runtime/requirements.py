"""What the engine runtime holds: exactly the distributions the engine process imports.

Pins equal pyproject.toml's (a test checks they agree). The window-only dependencies (PySide6,
keyring, websockets) stay out: nothing on the engine's job paths imports them, and the runtime's
check (core.runtime.probe) would fail if something started to.
"""

from __future__ import annotations

import hashlib

# The CUDA/ROCm builds in core.runtime.detect are the ones PyTorch published for this version.
TORCH_VERSION = "2.13.0"
PYTHON_VERSION = "3.11"

ENGINE_REQUIREMENTS: tuple[str, ...] = (
    "diffusers==0.42.1",
    "transformers==5.23.0",
    "peft==0.21.2",
    "accelerate==1.15.0",
    "safetensors==0.8.0",
    "huggingface_hub==2.4.0",
    "pillow>=11",
    "numpy",
    "platformdirs>=4",
    "orjson>=3.10",
)

# Import names the runtime check loads, with their distribution names.
ENGINE_MODULES: tuple[tuple[str, str], ...] = (
    ("torch", "torch"),
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("peft", "peft"),
    ("accelerate", "accelerate"),
    ("safetensors", "safetensors"),
    ("huggingface_hub", "huggingface_hub"),
    ("PIL", "pillow"),
    ("numpy", "numpy"),
    ("platformdirs", "platformdirs"),
    ("orjson", "orjson"),
)

# About how much disk a runtime of each build takes (the environment plus uv's cache, which
# shares its files through hard links): measured for cpu (see the #18 note), from the wheels'
# unpacked sizes for the GPU builds. The install refuses to start below this.
DISK_NEEDED_MB: dict[str, int] = {
    "cpu": 1_500,
    "mps": 1_500,
    "cu126": 8_000,
    "cu130": 8_000,
    "rocm7.2": 20_000,
}


def torch_requirement(key: str, system: str) -> str:
    """The torch pin for a build: its local version tag picks the wheel from the build's index
    (Linux and Windows CPU wheels are ``+cpu``; macOS wheels, CPU or MPS, carry no tag)."""
    if key == "mps" or (key == "cpu" and system == "Darwin"):
        return f"torch=={TORCH_VERSION}"
    return f"torch=={TORCH_VERSION}+{key}"


def requirements_for(key: str, system: str) -> tuple[str, ...]:
    return (torch_requirement(key, system), *ENGINE_REQUIREMENTS)


def requirements_digest(requirements: tuple[str, ...]) -> str:
    """A short fingerprint of the pins: a runtime made for other pins is out of date."""
    return hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:16]
