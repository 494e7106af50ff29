"""Segmentation inference through ONNX Runtime: image in, label map on the image grid out.

Providers are passed explicitly (CUDA first when the GPU package and a GPU are present, else CPU) and the one
actually in use is read back from the session and reported, because ONNX Runtime falls back to the CPU
silently. Pre-processing is :mod:`dxr.models.preprocessing` (the same code training uses); post-processing
keeps the largest connected component of each metacarpal, fills holes, keeps each canal inside its bone,
and brings the map back to the image grid.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from dxr.models.preprocessing import ModelGrid, labels_to_image_grid, model_grid, to_model_grid

__all__ = ["DEFAULT_MODEL", "ModelInfo", "Segmenter", "choose_providers", "clean_label_map"]

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).parent / "metacarpal_unet.onnx"
N_CLASSES = 7  # background, bone II/III/IV outside the canal, canal II/III/IV


@dataclass(frozen=True)
class ModelInfo:
    """What every result records about the network that produced its label map."""

    name: str
    version: str
    sha256: str
    provider: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "provider": self.provider}


def choose_providers(available: Sequence[str]) -> list[str]:
    """CUDA first when ONNX Runtime offers it, the CPU always as the fallback.

    >>> choose_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])
    ['CUDAExecutionProvider', 'CPUExecutionProvider']
    >>> choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"])
    ['CPUExecutionProvider']
    """
    return [name for name in ("CUDAExecutionProvider",) if name in available] + ["CPUExecutionProvider"]


def clean_label_map(labels: np.ndarray) -> np.ndarray:
    """Largest connected component per metacarpal (bone plus canal), holes filled, canals inside their bone.

    >>> labels = np.zeros((9, 9), np.uint8); labels[1:8, 2:7] = 1; labels[3:6, 4] = 4; labels[0, 8] = 1
    >>> cleaned = clean_label_map(labels)
    >>> int(cleaned[0, 8]), int(cleaned[4, 4]), int((cleaned == 1).sum())
    (0, 4, 32)
    """
    cleaned = np.zeros_like(labels)
    for bone in (1, 2, 3):
        whole = np.isin(labels, (bone, bone + 3))
        if not whole.any():
            continue
        components, count = ndimage.label(whole)
        if count > 1:
            sizes = ndimage.sum_labels(whole, components, index=np.arange(1, count + 1))
            whole = components == (int(np.argmax(sizes)) + 1)
        whole = ndimage.binary_fill_holes(whole)
        free = cleaned == 0  # a pixel already given to another bone stays with it
        cleaned[whole & free] = bone
        canal = whole & free & (labels == bone + 3)
        cleaned[canal] = bone + 3
    return cleaned


class Segmenter:
    """A loaded segmentation network. Create once per process; :meth:`segment` is thread-compatible.

    Parameters
    ----------
    model_path
        The ONNX file; the shipped model by default. Its model card (same name, ``.json``) gives name and
        version.
    providers
        ONNX Runtime execution providers in order of preference; chosen by :func:`choose_providers` by default.
    """

    def __init__(self, model_path: str | Path | None = None, *, providers: Sequence[str] | None = None):
        import onnxruntime

        path = Path(model_path) if model_path is not None else DEFAULT_MODEL
        if not path.exists():
            raise FileNotFoundError(f"segmentation model {path} not found")
        data = path.read_bytes()
        requested = (
            list(providers) if providers is not None else choose_providers(onnxruntime.get_available_providers())
        )
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(data, sess_options=options, providers=requested)
        active = self._session.get_providers()[0]
        if active != requested[0]:
            log.warning("ONNX Runtime fell back from %s to %s", requested[0], active)
        log.info("segmentation model %s on %s", path.name, active)
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.exists() else {}
        self.info = ModelInfo(
            name=str(card.get("name", path.stem)),
            version=str(card.get("version", "unversioned")),
            sha256=hashlib.sha256(data).hexdigest(),
            provider=active,
        )
        self._input = self._session.get_inputs()[0].name

    def segment(self, pixels: np.ndarray, spacing_mm: float | None) -> np.ndarray:
        """Label map on the image grid for one bone-bright image."""
        return self.segment_batch([(pixels, spacing_mm)])[0]

    def segment_batch(self, images: Sequence[tuple[np.ndarray, float | None]]) -> list[np.ndarray]:
        """Label maps for several images; images that share a model grid run in one batch."""
        grids = [model_grid(pixels.shape, spacing) for pixels, spacing in images]
        inputs = [to_model_grid(pixels, grid) for (pixels, _), grid in zip(images, grids, strict=True)]
        results: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple[int, int], list[int]] = {}
        for index, grid in enumerate(grids):
            by_shape.setdefault(grid.padded_shape, []).append(index)
        for indices in by_shape.values():
            batch = np.stack([inputs[i] for i in indices])[:, None]
            logits = self._session.run(None, {self._input: batch})[0]
            for i, model_labels in zip(indices, np.argmax(logits, axis=1).astype(np.uint8), strict=True):
                results[i] = self._to_image(model_labels, grids[i])
        return [result for result in results if result is not None]

    @staticmethod
    def _to_image(model_labels: np.ndarray, grid: ModelGrid) -> np.ndarray:
        cleaned = clean_label_map(model_labels[: grid.resampled_shape[0], : grid.resampled_shape[1]])
        padded = np.zeros(grid.padded_shape, np.uint8)
        padded[: grid.resampled_shape[0], : grid.resampled_shape[1]] = cleaned
        return labels_to_image_grid(padded, grid)
