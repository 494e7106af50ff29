"""Training pipeline: the labelled-dataset loader, a short training run that learns, and the ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dxr.models.network import build_network
from dxr.models.preprocessing import model_grid
from dxr.training.data import find_labelled_images, prepare, prepare_phantoms
from dxr.training.export import export_onnx, max_difference_torch_vs_onnx
from dxr.training.phantom.dataset import PhantomConfig, generate_case, write_case
from dxr.training.train import TrainingConfig, train

FAST = PhantomConfig(spacing_mm=0.25, partial_rate=0.0, compression="none")


def test_labelled_folder_with_dicom_and_png_becomes_model_grid_arrays(tmp_path: Path):
    source = tmp_path / "labelled"
    case = generate_case(1, FAST)
    write_case(case, source)
    # A site's own PNG with a spacing sidecar, and an image without labels (ignored).
    Image.fromarray((case.image * 255).astype(np.uint8)).save(source / "site_hand.png")
    Image.fromarray(case.labels).save(source / "site_hand_labels.png")
    (source / "site_hand.json").write_text(json.dumps({"pixel_spacing_mm": 0.25}))
    Image.fromarray((case.image * 255).astype(np.uint8)).save(source / "unlabelled.png")
    Image.fromarray((case.image * 255).astype(np.uint8)).save(source / "nospacing.png")
    Image.fromarray(case.labels).save(source / "nospacing_labels.png")
    assert [item.image.name for item in find_labelled_images(source)] == [
        "nospacing.png",
        f"{case.name}.dcm",
        "site_hand.png",
    ]
    skipped = prepare(source, tmp_path / "npz")
    assert len(skipped) == 1
    assert "nospacing.png" in skipped[0]
    grid = model_grid(case.labels.shape, 0.25)
    for name in (case.name, "site_hand"):
        with np.load(tmp_path / "npz" / f"{name}.npz") as arrays:
            assert arrays["image"].shape == arrays["labels"].shape == grid.resampled_shape
            assert set(np.unique(arrays["labels"])) <= set(range(7))
            assert (arrays["labels"] == 5).any()  # the canal of III survives at 0.5 mm


def test_empty_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ValueError, match=r"no NAME\.dcm"):
        find_labelled_images(tmp_path)


def test_short_training_run_lowers_the_loss_and_keeps_the_best(tmp_path: Path):
    prepare_phantoms(tmp_path / "data", 4, 5, FAST)
    config = TrainingConfig(
        data=[str(tmp_path / "data")],
        out=str(tmp_path / "run"),
        epochs=6,
        batch_size=2,
        crop_px=160,
        learning_rate=3e-3,
        validation_fraction=0.25,
        seed=1,
    )
    best = train(config)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 6
    assert lines[-1]["loss"] < lines[0]["loss"]
    assert best["mean_dice"] == max(line["mean_dice"] for line in lines)
    assert (tmp_path / "run" / "best.pt").exists()


def test_onnx_export_reproduces_pytorch(tmp_path: Path):
    torch.manual_seed(0)
    network = build_network()
    path = tmp_path / "net.onnx"
    export_onnx(network, path)
    assert not list(tmp_path.glob("*.data"))  # no external data file
    assert max_difference_torch_vs_onnx(network, path, shape=(160, 128)) < 1e-4
    assert max_difference_torch_vs_onnx(network, path, shape=(224, 176)) < 1e-4  # another size
