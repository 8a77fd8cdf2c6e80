"""Single-file checkpoints (.safetensors as downloaded from model sites), loaded offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lorastudio.core.engine.device import DeviceChoice
from lorastudio.core.errors import ModelLoadError


def load_single_file(path: Path, choice: DeviceChoice) -> Any:
    raise ModelLoadError(f"{path.name}: single-file checkpoints are not supported yet; use a diffusers folder.")
