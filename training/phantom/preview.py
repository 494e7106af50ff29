"""Contact sheets of generated cases (for documentation and visual QA)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dxr.analysis.intake import read_radiograph

__all__ = ["contact_sheet"]


def contact_sheet(
    dicom_paths: Sequence[str | Path],
    out_path: str | Path,
    *,
    columns: int = 4,
    tile_px: tuple[int, int] = (300, 380),
    captions: Sequence[str] | None = None,
) -> Path:
    """Read DICOM files back through the intake and tile them into one 8-bit PNG.

    Each tile is windowed on its own 0.5-99.5 percentiles (as a viewer's auto-window would) and scaled to
    fit ``tile_px`` (width, height) keeping its aspect ratio.
    """
    paths = [Path(p) for p in dicom_paths]
    if not paths:
        raise ValueError("no images for the contact sheet")
    rows = (len(paths) + columns - 1) // columns
    width, height = tile_px
    sheet = Image.new("L", (columns * width, rows * height), 0)
    draw = ImageDraw.Draw(sheet)
    for i, path in enumerate(paths):
        pixels = read_radiograph(path).pixels
        lo, hi = np.percentile(pixels, [0.5, 99.5])
        tile = Image.fromarray(np.rint(np.clip((pixels - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8))
        scale = min((width - 6) / tile.width, (height - 6) / tile.height)
        tile = tile.resize((max(1, round(tile.width * scale)), max(1, round(tile.height * scale))), Image.LANCZOS)
        x = (i % columns) * width + (width - tile.width) // 2
        y = (i // columns) * height + (height - tile.height) // 2
        sheet.paste(tile, (x, y))
        if captions is not None:
            draw.text(((i % columns) * width + 4, (i // columns) * height + 2), captions[i], fill=255)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG", optimize=True)
    return out
