"""Three straight hollow tubes on a soft-tissue background: the simplest image with known W, T and L.

For unit tests of the geometry code only; realistic hands come from ``dxr.training.phantom``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxr.analysis.intake import PixelSpacing, Radiograph, SpacingSource
from dxr.analysis.profiles import hollow_tube_path


@dataclass(frozen=True)
class Tube:
    name: str
    width_mm: float
    thickness_mm: float
    length_mm: float
    centre_mm: tuple[float, float]


DEFAULT_TUBES = (
    Tube("II", 8.0, 2.0, 62.0, (20.0, 45.0)),
    Tube("III", 7.6, 1.8, 58.0, (33.0, 45.0)),
    Tube("IV", 6.6, 1.6, 54.0, (45.0, 47.0)),
)


def three_tubes(
    *,
    spacing_mm: float = 0.15,
    angle_deg: float = 0.0,
    tubes: tuple[Tube, ...] = DEFAULT_TUBES,
    noise: float = 0.01,
    blur_px: float = 1.0,
    seed: int = 0,
    size_mm: tuple[float, float] = (65.0, 90.0),
) -> tuple[Radiograph, np.ndarray]:
    """A bone-bright image and its label map (phantom convention); tubes run along y rotated by angle_deg."""
    rows, columns = round(size_mm[1] / spacing_mm), round(size_mm[0] / spacing_mm)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64) * spacing_mm
    angle = np.deg2rad(angle_deg)
    along_dir = np.array([np.sin(angle), np.cos(angle)])
    across_dir = np.array([np.cos(angle), -np.sin(angle)])
    path = np.zeros((rows, columns))
    labels = np.zeros((rows, columns), np.uint8)
    for index, tube in enumerate(tubes):
        dx, dy = x - tube.centre_mm[0], y - tube.centre_mm[1]
        along = dx * along_dir[0] + dy * along_dir[1]
        across = dx * across_dir[0] + dy * across_dir[1]
        radius, canal = tube.width_mm / 2, tube.width_mm / 2 - tube.thickness_mm
        inside_length = np.abs(along) <= tube.length_mm / 2
        wall = hollow_tube_path(across, -radius, -canal, canal, radius, cell=spacing_mm)
        path += np.where(inside_length, wall, 0.0)
        labels[inside_length & (np.abs(across) <= radius)] = index + 1
        labels[inside_length & (np.abs(across) <= canal) & (np.abs(along) <= 0.4 * tube.length_mm)] = index + 4
    tissue = 0.2 + 0.002 * x
    image = tissue + 0.06 * path
    image = ndimage.gaussian_filter(image, blur_px)
    image += np.random.default_rng(seed).normal(0.0, noise, image.shape)
    radiograph = Radiograph(
        pixels=image.astype(np.float32),
        spacing=PixelSpacing(spacing_mm, spacing_mm, SpacingSource.PIXEL_SPACING),
        source_path="synthetic",
        source_format="synthetic",
        photometric_interpretation="MONOCHROME2",
        photometric_handling=(),
        bits_stored=16,
    )
    return radiograph, labels
