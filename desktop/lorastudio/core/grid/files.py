"""Grid files: one PNG per Z value with the labelled cells, each cell as its own PNG with its own
infotext, and the axes in the grid PNG's ``lorastudio-grid`` text chunk so a dropped grid restores
its set-up. The grid PNG also carries the first cell's ``parameters`` (as A1111's grids do), so the
usual image restore brings back the prompt, mix and settings.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.engine.output import build_infotext, infotext_prompt, save_png
from lorastudio.core.errors import InvalidRequest
from lorastudio.core.grid.axes import GridAxisError, GridSpec, spec_from_dict, spec_to_dict
from lorastudio.core.grid.image import GridLayout, compose_grid
from lorastudio.core.grid.run import CellResult
from lorastudio.core.metadata.infotext import Infotext, format_infotext, read_png_text
from lorastudio.core.metadata.untrusted import UntrustedJsonError, loads_json

log = logging.getLogger(__name__)

SETUP_KEY = "lorastudio-grid"
MAX_SETUP_BYTES = 256 * 1024  # three axes of 64 values of at most 1000 characters
MAX_SETUP_DEPTH = 4  # {axes: {values: [...]}}


@dataclass
class GridFiles:
    """What ``write_grid`` wrote: the grid PNGs (one per Z value that has cells) and each cell's PNG."""

    grids: list[Path] = field(default_factory=list)
    layouts: list[GridLayout] = field(default_factory=list)
    cells: dict[tuple[int, int, int], Path] = field(default_factory=dict)


def next_grid_name(folder: Path) -> str:
    numbers = [int(p.name[5:10]) for p in folder.glob("grid-*.png") if p.name[5:10].isdigit()]
    return f"grid-{max(numbers, default=0) + 1:05d}"


def cell_parameters(result: CellResult) -> str:
    """The cell's A1111 ``parameters`` text (what its PNG holds; what the grid view shows)."""
    info = build_infotext(result.cell.request, result.seed)
    return format_infotext(Infotext(infotext_prompt(result.cell.request), info.negative_prompt, info.params))


def _save_atomic(image: Any, path: Path, texts: dict[str, str]) -> None:
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    for key, value in texts.items():
        meta.add_text(key, value)  # Pillow writes iTXt (UTF-8) for text Latin-1 cannot hold
    tmp = path.with_suffix(".png.part")
    try:
        image.save(tmp, format="PNG", pnginfo=meta)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InvalidRequest(f"Could not write {path.name}: {err.strerror or err}.") from None


def write_grid(spec: GridSpec, results: list[CellResult], folder: Path, cells: bool = True) -> GridFiles:
    """Write the grid PNG(s) and (with ``cells``) each cell's PNG into ``folder``.

    A Z value none of whose cells finished (a cancelled grid) gets no grid PNG; missing cells in a
    written grid are grey."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidRequest(f"Could not create the folder {folder.name}: {err.strerror or err}.") from None
    name = next_grid_name(folder)
    files = GridFiles()
    if cells:
        for result in results:
            try:
                files.cells[result.cell.key] = save_png(result.image, result.cell.request, result.seed,
                                                        folder / f"{name}-cells")
            except OSError as err:
                raise InvalidRequest(f"Could not write the grid's cells into {folder.name}: "
                                     f"{err.strerror or err}.") from None
    nz = spec.shape[2]
    for z in range(nz):
        here = sorted((r for r in results if r.cell.z == z), key=lambda r: (r.cell.y, r.cell.x))
        if not here:
            continue
        size = (here[0].cell.request.width, here[0].cell.request.height)
        image, layout = compose_grid(spec, {(r.cell.x, r.cell.y): r.image for r in here}, z, size)
        setup = {**spec_to_dict(spec), "z_index": z}
        path = folder / (f"{name}-z{z + 1}.png" if nz > 1 else f"{name}.png")
        _save_atomic(image, path, {"parameters": cell_parameters(here[0]),
                                   SETUP_KEY: json.dumps(setup, ensure_ascii=False)})
        files.grids.append(path)
        files.layouts.append(layout)
    return files


def read_grid_setup(png_path: Path) -> GridSpec | None:
    """The axes recorded in a grid PNG, or None when it is not a grid PNG or its record is damaged
    (the file is untrusted: size, depth and every value are checked as typed axes are)."""
    try:
        if not Path(png_path).is_file():  # a FIFO named x.png would block the read
            return None
        text = read_png_text(Path(png_path)).text.get(SETUP_KEY)
    except (OSError, ValueError):
        return None
    if not text:
        return None
    try:
        return spec_from_dict(loads_json(text, MAX_SETUP_BYTES, MAX_SETUP_DEPTH))
    except (UntrustedJsonError, GridAxisError) as err:
        log.info("grid set-up in %s not restored: %s", png_path, err)
        return None
