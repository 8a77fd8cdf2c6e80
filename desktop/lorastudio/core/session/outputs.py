"""Writing finished images into the outputs folder."""

from __future__ import annotations

import os
from pathlib import Path

from lorastudio.core.engine.output import next_output_path


def write_png(folder: Path, seed: int, png: bytes) -> Path:
    """Write PNG bytes as the next numbered file; atomic, so a crash leaves no broken image."""
    path = next_output_path(folder, seed)
    tmp = path.with_suffix(".png.part")
    tmp.write_bytes(png)
    os.replace(tmp, path)
    return path
