"""The segmentation network on held-out phantoms: Dice on the image grid, the full pipeline's accuracy, speed.

    .venv/bin/python benchmarks/segmentation.py                 # 200 held-out phantoms (seed 2028)
    .venv/bin/python benchmarks/segmentation.py --cases 20

Each phantom (all variations) is written as DICOM and read back through intake; the shipped model segments
it; Dice is computed per bone's whole area (bone + canal) and per canal against the true label map on the
image grid; then the whole pipeline (``dxr analyze`` without ``--masks``) is compared with the truth as in
benchmarks/radiogrammetry.py. Speed: segmentation and the whole analysis of one 2000 x 2500 uncompressed DX
with the model already loaded.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dxr.analysis.intake import read_calibration, read_radiograph
from dxr.analysis.measurement import measure_hand
from dxr.models.runtime import Segmenter
from dxr.serving.pipeline import AnalysisRequest, Pipeline
from dxr.training.phantom.dataset import PhantomConfig, generate_case

BONES = {"II": 1, "III": 2, "IV": 3}


def dice(a: np.ndarray, b: np.ndarray) -> float | None:
    total = a.sum() + b.sum()
    return None if total == 0 else float(2 * (a & b).sum() / total)


def evaluate(segmenter: Segmenter, cases: int, seed: int) -> None:
    whole: dict[str, list[float]] = {name: [] for name in BONES}
    canal: dict[str, list[float]] = {name: [] for name in BONES}
    thickness_errors, vpa_errors, seconds = [], [], []
    calibration = read_calibration()
    for index in range(cases):
        case = generate_case(seed, PhantomConfig(), index=index)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "case.dcm"
            case.encoded_dataset().save_as(path, enforce_file_format=True)
            radiograph = read_radiograph(path)
        started = time.perf_counter()
        labels = segmenter.segment(radiograph.pixels, radiograph.spacing.mean_mm)
        seconds.append(time.perf_counter() - started)
        for name, label in BONES.items():
            truth_whole = np.isin(case.labels, (label, label + 3))
            found = dice(np.isin(labels, (label, label + 3)), truth_whole)
            if truth_whole.any() and found is not None:
                whole[name].append(found)
            found = dice(labels == label + 3, case.labels == label + 3)
            if (case.labels == label + 3).any() and found is not None:
                canal[name].append(found)
        scale = radiograph.spacing.row_mm / case.truth["pixel_spacing_mm"]
        for bone in measure_hand(radiograph, labels, calibration).bones:
            if bone.status == "ok":
                truth = case.truth["bones"][bone.name]
                thickness_errors.append(bone.cortical_thickness_mm - truth["cortical_thickness_mm"] * scale)
                vpa_errors.append(bone.vpa_mm / (truth["vpa_mm"] * scale) - 1)
    print(f"== Dice on the image grid, {cases} held-out phantoms (seed {seed})")
    for name in BONES:
        print(
            f"   {name:4s} whole bone: mean {np.mean(whole[name]):.3f} (n={len(whole[name])}, min "
            f"{np.min(whole[name]):.3f})   canal: mean {np.mean(canal[name]):.3f} (n={len(canal[name])})"
        )
    errors = np.abs(thickness_errors)
    print(
        f"== Full pipeline: {len(errors)} bones measured, median |T error| {np.median(errors):.4f} mm, "
        f"max {errors.max():.3f} mm, VPA bias {100 * np.mean(vpa_errors):+.2f} %"
    )
    print(f"   segmentation time per image: median {np.median(seconds):.3f} s")


def speed(segmenter: Segmenter) -> None:
    case = generate_case(7, PhantomConfig(spacing_mm=0.1, compression="none", partial_rate=0.0))
    pipeline = Pipeline.load(segmenter=segmenter)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "large.dcm"
        case.encoded_dataset().save_as(path, enforce_file_format=True)
        radiograph = read_radiograph(path)
        segmenter.segment(radiograph.pixels, 0.1)  # warm up
        started = time.perf_counter()
        segmenter.segment(radiograph.pixels, 0.1)
        segmentation = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.analyze(path, None, AnalysisRequest())
        whole = time.perf_counter() - started
    rows, columns = radiograph.shape
    print(
        f"== Speed on a {columns} x {rows} uncompressed DX ({segmenter.info.provider}): segmentation "
        f"{segmentation:.3f} s, whole analyze (intake to JSON) {whole:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2028)
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    args = parser.parse_args()
    segmenter = Segmenter(args.model)
    print(f"model {segmenter.info.name} {segmenter.info.version} on {segmenter.info.provider}")
    evaluate(segmenter, args.cases, args.seed)
    speed(segmenter)


if __name__ == "__main__":
    main()
