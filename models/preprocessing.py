"""The network's input contract, shared by training and inference (numpy only: no torch here).

The network sees every image at one physical resolution, :data:`MODEL_SPACING_MM` per pixel, whatever the
detector, so a metacarpal is the same size in pixels on every input. Intensities are normalised by robust
percentiles, and the grid is padded to a multiple of 16 (four pooling levels). The label map the network
returns is brought back to the image grid by the exact inverse of the same geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "MODEL_SPACING_MM",
    "ModelGrid",
    "labels_to_image_grid",
    "labels_to_model_grid",
    "model_grid",
    "normalise_intensity",
    "round_trip_labels",
    "to_model_grid",
]

MODEL_SPACING_MM = 0.5
PAD_MULTIPLE = 16
# Without a pixel spacing (research images) the longer side is mapped to this many model pixels: it only
# affects where the network looks, never a measurement (those need a real spacing).
FALLBACK_LONG_SIDE_PX = 480


@dataclass(frozen=True)
class ModelGrid:
    """How an image of ``image_shape`` maps onto the network's grid.

    ``scale`` = image pixels per model pixel (the same along rows and columns); the resampled image occupies
    ``resampled_shape`` at the top-left of the padded ``padded_shape``.
    """

    image_shape: tuple[int, int]
    scale: float
    resampled_shape: tuple[int, int]
    padded_shape: tuple[int, int]


def model_grid(image_shape: tuple[int, int], spacing_mm: float | None) -> ModelGrid:
    """The model grid for an image.

    >>> model_grid((2500, 2000), 0.1)
    ModelGrid(image_shape=(2500, 2000), scale=5.0, resampled_shape=(500, 400), padded_shape=(512, 400))
    """
    scale = max(image_shape) / FALLBACK_LONG_SIDE_PX if spacing_mm is None else MODEL_SPACING_MM / spacing_mm
    resampled = (max(1, round(image_shape[0] / scale)), max(1, round(image_shape[1] / scale)))
    padded = (-(-resampled[0] // PAD_MULTIPLE) * PAD_MULTIPLE, -(-resampled[1] // PAD_MULTIPLE) * PAD_MULTIPLE)
    return ModelGrid(tuple(image_shape), float(scale), resampled, padded)


def normalise_intensity(image: np.ndarray) -> np.ndarray:
    """Map the 1st..99th percentile to 0..1 (vendors' value ranges differ by orders of magnitude).

    >>> np.round(normalise_intensity(np.arange(101.0))[[0, 50, 100]].astype(float), 3).tolist()
    [-0.01, 0.5, 1.01]
    """
    low, high = np.percentile(image, (1.0, 99.0))
    return ((image - low) / max(float(high - low), 1e-6)).astype(np.float32)


def to_model_grid(image: np.ndarray, grid: ModelGrid) -> np.ndarray:
    """Resample (area-averaged when shrinking) and pad an image onto the model grid; float32 (rows, cols).

    Shrinking anti-aliases with a Gaussian of sigma = scale / 2 (as a detector with larger pixels would see
    it): for speed, whole blocks of ``floor(scale)`` pixels are averaged first and the rest of the blur is
    applied on the smaller image; then the remaining fraction of the scale is interpolated bilinearly.
    """
    image = np.asarray(image, dtype=np.float32)
    block = max(int(grid.scale), 1)
    if block > 1:
        rows, columns = (image.shape[0] // block) * block, (image.shape[1] // block) * block
        image = image[:rows, :columns].reshape(rows // block, block, columns // block, block).mean(axis=(1, 3))
    if grid.scale > 1.0:
        # Complete the anti-aliasing to a Gaussian of sigma = scale / 2 (image pixels): the block mean already
        # contributed a variance of block**2 / 12.
        remaining = np.sqrt(max((0.5 * grid.scale) ** 2 - block**2 / 12.0, 0.0)) / block
        image = ndimage.gaussian_filter(image, sigma=remaining, mode="nearest")
    # Model pixel i is centred at (i + 0.5) * scale - 0.5 in the image, i.e. (i + 0.5) * scale / block - 0.5 in
    # the block-averaged image (block j is centred at j * block + (block - 1) / 2).
    rows = (np.arange(grid.resampled_shape[0]) + 0.5) * grid.scale / block - 0.5
    columns = (np.arange(grid.resampled_shape[1]) + 0.5) * grid.scale / block - 0.5
    resampled = ndimage.map_coordinates(
        image, np.meshgrid(rows, columns, indexing="ij"), order=1, mode="nearest"
    ).astype(np.float32)
    padded = np.zeros(grid.padded_shape, dtype=np.float32)
    padded[: grid.resampled_shape[0], : grid.resampled_shape[1]] = normalise_intensity(resampled)
    return padded


def labels_to_model_grid(labels: np.ndarray, grid: ModelGrid) -> np.ndarray:
    """Nearest-label resampling of an image-grid label map onto the (padded) model grid (training targets)."""
    rows = np.clip(((np.arange(grid.resampled_shape[0]) + 0.5) * grid.scale).astype(int), 0, labels.shape[0] - 1)
    columns = np.clip(((np.arange(grid.resampled_shape[1]) + 0.5) * grid.scale).astype(int), 0, labels.shape[1] - 1)
    padded = np.zeros(grid.padded_shape, dtype=np.uint8)
    padded[: grid.resampled_shape[0], : grid.resampled_shape[1]] = labels[np.ix_(rows, columns)]
    return padded


def labels_to_image_grid(model_labels: np.ndarray, grid: ModelGrid) -> np.ndarray:
    """Bring a label map from the padded model grid back to the image grid (nearest model pixel).

    >>> grid = model_grid((10, 6), 0.25)  # 2 image pixels per model pixel
    >>> small = np.zeros(grid.padded_shape, np.uint8); small[1, 2] = 3
    >>> np.argwhere(labels_to_image_grid(small, grid) == 3).tolist()
    [[2, 4], [2, 5], [3, 4], [3, 5]]
    """
    rows = np.minimum((np.arange(grid.image_shape[0]) + 0.5) / grid.scale, grid.resampled_shape[0] - 1)
    columns = np.minimum((np.arange(grid.image_shape[1]) + 0.5) / grid.scale, grid.resampled_shape[1] - 1)
    return model_labels[np.ix_(rows.astype(int), columns.astype(int))]


def round_trip_labels(labels: np.ndarray, spacing_mm: float) -> np.ndarray:
    """An image-grid label map after the trip to the model grid and back: the outline a perfect network returns.

    Benchmarks and tests measure with it to separate the post-processor's accuracy from the network's.

    >>> labels = np.zeros((9, 9), np.uint8); labels[2:7, 3] = 1  # 5 x 1 pixels of 0.25 mm
    >>> int(round_trip_labels(labels, 0.25).sum())  # 4 x 2: whole model pixels of 0.5 mm
    8
    """
    grid = model_grid(labels.shape, spacing_mm)
    return labels_to_image_grid(labels_to_model_grid(labels, grid), grid)
