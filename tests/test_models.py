"""The network's input contract and the ONNX Runtime segmenter (with a small hand-built ONNX model)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from dxr.models.preprocessing import labels_to_image_grid, labels_to_model_grid, model_grid, to_model_grid
from dxr.models.runtime import Segmenter
from tests.model_factory import write_threshold_model


def _blocks(shape: tuple[int, int], block: int) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    labels[2 * block : 9 * block, 3 * block : 5 * block] = 1
    labels[4 * block : 7 * block, 4 * block : 5 * block] = 4
    labels[10 * block : 14 * block, 6 * block : 8 * block] = 3
    return labels


def test_label_map_survives_resample_and_padding_exactly_on_whole_model_pixels():
    grid = model_grid((15 * 8, 10 * 8), spacing_mm=0.0625)  # 8 image pixels per model pixel
    assert grid.scale == 8.0
    assert grid.padded_shape == (16, 16)
    labels = _blocks(grid.image_shape, 8)
    small = labels_to_model_grid(labels, grid)
    assert small.shape == grid.padded_shape
    assert not small[grid.resampled_shape[0] :].any()  # padding is background
    np.testing.assert_array_equal(labels_to_image_grid(small, grid), labels)


def test_label_map_round_trip_at_a_fractional_scale_moves_edges_by_under_one_model_pixel():
    grid = model_grid((1000, 800), spacing_mm=0.139)
    labels = _blocks(grid.image_shape, 50)
    back = labels_to_image_grid(labels_to_model_grid(labels, grid), grid)
    assert (back == labels).mean() > 0.97
    # Every changed pixel lies within one model pixel (scale image pixels) of a label edge.
    edge = np.zeros(labels.shape, bool)
    edge[:-1] |= np.diff(labels.astype(int), axis=0) != 0
    edge[:, :-1] |= np.diff(labels.astype(int), axis=1) != 0
    distance_to_edge = ndimage.distance_transform_edt(~edge)
    assert distance_to_edge[back != labels].max() <= grid.scale + 1


def test_model_input_is_normalised_and_padded():
    image = np.random.default_rng(0).normal(1000.0, 50.0, (430, 350)).astype(np.float32)
    grid = model_grid(image.shape, spacing_mm=0.2)
    model_input = to_model_grid(image, grid)
    assert model_input.shape == grid.padded_shape == (176, 144)
    inside = model_input[: grid.resampled_shape[0], : grid.resampled_shape[1]]
    assert -0.2 < np.percentile(inside, 1) < 0.2
    assert 0.8 < np.percentile(inside, 99) < 1.2
    assert not model_input[grid.resampled_shape[0] :].any()


@pytest.fixture(scope="module")
def threshold_model(tmp_path_factory) -> Path:
    return write_threshold_model(tmp_path_factory.mktemp("model"))


def test_segmenter_reports_model_and_provider(threshold_model: Path):
    segmenter = Segmenter(threshold_model, providers=["CPUExecutionProvider"])
    assert segmenter.info.provider == "CPUExecutionProvider"
    assert segmenter.info.sha256 == hashlib.sha256(threshold_model.read_bytes()).hexdigest()
    assert (segmenter.info.name, segmenter.info.version) == ("threshold-test", "0.0.1")


def test_segmenter_labels_on_the_image_grid_keeping_the_largest_component(threshold_model: Path):
    image = np.zeros((600, 500), np.float32)
    image[100:400, 200:300] = 1.0  # the bone
    image[500:520, 50:70] = 1.0  # a smaller bright spot: not the largest component
    segmenter = Segmenter(threshold_model)
    (labels, other) = segmenter.segment_batch([(image, 0.125), (image[:480], 0.125)])
    assert labels.shape == image.shape
    assert other.shape == (480, 500)
    assert set(np.unique(labels)) == {0, 2}
    found = np.argwhere(labels == 2)
    assert abs(found[:, 0].min() - 100) <= 4
    assert abs(found[:, 1].max() - 299) <= 4
    assert not labels[500:520, 50:70].any()


def test_missing_model_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="segmentation model"):
        Segmenter(tmp_path / "absent.onnx")


def test_shipped_model_matches_its_card_and_finds_the_bones_of_the_bundled_example():
    from dxr.analysis.intake import read_label_map, read_radiograph
    from dxr.models.runtime import DEFAULT_MODEL

    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest()
    segmenter = Segmenter()
    assert segmenter.info.version == card["version"]
    example = Path(__file__).resolve().parents[1] / "examples"
    radiograph = read_radiograph(example / "phantom_hand.dcm")
    truth = read_label_map(example / "phantom_hand_labels.png", radiograph.shape)
    labels = segmenter.segment(radiograph.pixels, radiograph.spacing.mean_mm)
    for bone in (1, 2, 3):
        found, expected = np.isin(labels, (bone, bone + 3)), np.isin(truth, (bone, bone + 3))
        assert 2 * (found & expected).sum() / (found.sum() + expected.sum()) > 0.9
