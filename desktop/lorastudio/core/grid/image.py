"""The grid picture: cells in rows and columns with their axis labels, as A1111's X/Y/Z plot draws it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lorastudio.core.grid.axes import GridSpec

BACKGROUND = (255, 255, 255)
EMPTY = (200, 200, 200)  # a cell that was not made (cancelled grid)
INK = (0, 0, 0)


@dataclass(frozen=True)
class GridLayout:
    """Where things are in a grid picture: the label bands and each cell's box."""

    left: int  # width of the row-label band
    top: int  # height of the title and column-label bands
    cell_w: int
    cell_h: int
    gap: int
    columns: int
    rows: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.left + self.columns * (self.cell_w + self.gap),
                self.top + self.rows * (self.cell_h + self.gap))

    def cell_box(self, x: int, y: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of cell (x, y)."""
        x0 = self.left + x * (self.cell_w + self.gap)
        y0 = self.top + y * (self.cell_h + self.gap)
        return (x0, y0, x0 + self.cell_w, y0 + self.cell_h)


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def wrap(text: str, font: Any, width: int) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels: at spaces, or inside a word that is too long."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:  # a word wider than the band (a long file name) breaks where it must
            if line and font.getlength(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines or [""]


def _layout(spec: GridSpec, cell_w: int, cell_h: int, font: Any, line_h: int, title: str
            ) -> tuple[GridLayout, list[list[str]], list[list[str]], list[str]]:
    nx, ny, _ = spec.shape
    gap = max(2, cell_w // 64)
    pad = line_h // 2
    left = max(cell_w * 3 // 4, 6 * line_h) if spec.y is not None else 0
    col_labels = [wrap(spec.x.label(i), font, cell_w - 4) for i in range(nx)]
    row_labels = ([wrap(spec.y.label(j), font, left - 2 * pad) for j in range(ny)]
                  if spec.y is not None else [[] for _ in range(ny)])
    title_lines = wrap(title, font, left + nx * (cell_w + gap) - 2 * pad) if title else []
    title_h = len(title_lines) * line_h + pad if title_lines else 0
    top = title_h + max(len(lines) for lines in col_labels) * line_h + 2 * pad
    return GridLayout(left, top, cell_w, cell_h, gap, nx, ny), col_labels, row_labels, title_lines


def compose_grid(spec: GridSpec, images: Mapping[tuple[int, int], Any], z: int = 0,
                 cell_size: tuple[int, int] | None = None) -> tuple[Any, GridLayout]:
    """One grid picture (PIL RGB) for Z index ``z``: ``images[(x, y)]`` are PIL images; a missing key
    leaves a grey cell. The Z value, when there is a Z axis, is the title."""
    from PIL import Image, ImageDraw

    first = next(iter(images.values()), None)
    if cell_size is None:
        cell_size = first.size if first is not None else (64, 64)
    cell_w, cell_h = cell_size
    size = max(10, min(28, min(cell_w, cell_h) // 8))
    font = _font(size)
    line_h = int(size * 1.3)
    title = spec.z.label(z) if spec.z is not None else ""
    layout, col_labels, row_labels, title_lines = _layout(spec, cell_w, cell_h, font, line_h, title)
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    pad = line_h // 2
    for i, line in enumerate(title_lines):
        draw.text((pad, pad // 2 + i * line_h), line, fill=INK, font=font)
    title_h = len(title_lines) * line_h + pad if title_lines else 0
    label_h = layout.top - title_h
    for x, lines in enumerate(col_labels):
        x0, _, x1, _ = layout.cell_box(x, 0)
        y = title_h + (label_h - len(lines) * line_h) // 2
        for k, line in enumerate(lines):  # centred over the column, bottom-aligned block
            draw.text(((x0 + x1) / 2, y + k * line_h), line, fill=INK, font=font, anchor="ma")
    for y_index, lines in enumerate(row_labels):
        _, y0, _, y1 = layout.cell_box(0, y_index)
        y = (y0 + y1 - len(lines) * line_h) // 2
        for k, line in enumerate(lines):
            draw.text((layout.left / 2, y + k * line_h), line, fill=INK, font=font, anchor="ma")
    for y_index in range(layout.rows):
        for x in range(layout.columns):
            box = layout.cell_box(x, y_index)
            image = images.get((x, y_index))
            if image is None:
                draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=EMPTY)
                continue
            if image.size != cell_size:  # a steps/checkpoint axis never changes size; be safe anyway
                image = image.resize(cell_size)
            canvas.paste(image.convert("RGB"), box[:2])
    return canvas, layout
