"""Training data: labelled radiographs brought onto the network's grid, cached as small NPZ files.

Dataset format (phantoms and a site's own annotated radiographs alike): a folder of
``NAME.dcm`` (or ``NAME.png``/``.jpg``/``.tif``) with ``NAME_labels.png`` (8-bit, same grid as the image,
labels 0-6 as in docs/phantom.md) and, for images without a DICOM spacing, ``NAME.json`` holding
``{"pixel_spacing_mm": 0.15}``. ``prepare`` reads each pair through intake (the same code that reads images
in service), maps it onto the model grid with :mod:`dxr.models.preprocessing` (the same code inference
uses), and writes ``NAME.npz`` with ``image`` (float16) and ``labels`` (uint8).
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dxr.analysis.intake import IntakeError, read_label_map, read_radiograph
from dxr.models.preprocessing import labels_to_model_grid, model_grid, to_model_grid
from dxr.training.phantom.dataset import PhantomConfig, generate_case

__all__ = ["LabelledImage", "find_labelled_images", "prepare", "prepare_phantoms", "to_training_arrays"]

_IMAGE_SUFFIXES = (".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class LabelledImage:
    """One image of a labelled dataset and its label map (and spacing sidecar, if any)."""

    image: Path
    labels: Path
    sidecar: Path | None


def find_labelled_images(folder: str | Path) -> list[LabelledImage]:
    """Every ``NAME.<image>`` with a ``NAME_labels.png`` in ``folder``, sorted by name.

    Raises
    ------
    ValueError
        The folder holds no labelled image.
    """
    folder = Path(folder)
    found = []
    for image in sorted(folder.iterdir()):
        if image.suffix.lower() not in _IMAGE_SUFFIXES or image.stem.endswith("_labels"):
            continue
        labels = image.with_name(f"{image.stem}_labels.png")
        if labels.exists():
            sidecar = image.with_suffix(".json")
            found.append(LabelledImage(image, labels, sidecar if sidecar.exists() else None))
    if not found:
        raise ValueError(f"{folder}: no NAME.dcm/png/jpg/tif with a NAME_labels.png beside it")
    return found


def to_training_arrays(pixels: np.ndarray, labels: np.ndarray, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(image float16, labels uint8) on the model grid, unpadded."""
    grid = model_grid(pixels.shape, spacing_mm)
    rows, columns = grid.resampled_shape
    image = to_model_grid(pixels, grid)[:rows, :columns]
    return image.astype(np.float16), labels_to_model_grid(labels, grid)[:rows, :columns]


def _prepare_one(job: tuple[LabelledImage, Path]) -> str:
    item, out = job
    spacing = None
    if item.sidecar is not None:
        spacing = float(json.loads(item.sidecar.read_text())["pixel_spacing_mm"])
    try:
        radiograph = read_radiograph(item.image, pixel_spacing_mm=spacing)
        labels = read_label_map(item.labels, radiograph.shape)
    except IntakeError as error:
        return f"skipped {item.image.name}: {error}"
    if radiograph.spacing is None:
        return f"skipped {item.image.name}: no pixel spacing (add {item.image.stem}.json)"
    image, small = to_training_arrays(radiograph.pixels, labels, radiograph.spacing.mean_mm)
    np.savez_compressed(out / f"{item.image.stem}.npz", image=image, labels=small)
    return ""


def prepare(folder: str | Path, out: str | Path, *, workers: int = 1) -> list[str]:
    """Convert a labelled folder into model-grid NPZ files in ``out``; returns the skip messages."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(item, out) for item in find_labelled_images(folder)]
    with ProcessPoolExecutor(workers) as pool:
        return [message for message in pool.map(_prepare_one, jobs) if message]


def _phantom_job(job: tuple[int, int, PhantomConfig, Path]) -> None:
    seed, index, config, out = job
    case = generate_case(seed, config, index=index)
    image, labels = to_training_arrays(case.image, case.labels, case.truth["pixel_spacing_mm"])
    np.savez_compressed(out / f"{case.name}.npz", image=image, labels=labels)


def prepare_phantoms(
    out: str | Path, count: int, seed: int, config: PhantomConfig | None = None, *, start: int = 0, workers: int = 1
) -> None:
    """Generate phantoms in memory straight onto the model grid (no DICOM round trip: faster)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = config or PhantomConfig()
    jobs = [(seed, index, config, out) for index in range(start, start + count)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_phantom_job, jobs, chunksize=4))
