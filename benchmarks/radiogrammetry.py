"""Accuracy, precision and speed of the geometric post-processor, measured on synthetic hands.

    .venv/bin/python benchmarks/radiogrammetry.py                    # 200 cases, 20 hands x 5 repeats
    .venv/bin/python benchmarks/radiogrammetry.py --cases 40 --hands 6 # a quick look

Accuracy: each phantom (all variations: spacing, rotation, side, DICOM encoding, photometric, compression,
vendor processing, partial views) is written as DICOM, read back through intake, and measured with its true
label map degraded to network resolution (``round_trip_labels``: to the 0.5 mm model grid and back). Errors
are against the truth expressed in the spacing intake reported: an image that carries only
ImagerPixelSpacing is 1-3 % magnified by design, and that is the spacing policy's effect, not the
post-processor's (the script prints it separately).

Precision: the same hand imaged ``--repeats`` times (new positioning, exposure and noise; same site), the
coefficient of variation of DXR-BMD per hand, and its root mean square over the hands, as the field reports
precision (DOMAIN.md section 2).

Speed: wall time of ``measure_hand`` per image, one thread per process.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # "per image on one core": no hidden BLAS threads

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from dxr.analysis.intake import read_calibration, read_radiograph  # noqa: E402
from dxr.analysis.measurement import measure_hand  # noqa: E402
from dxr.models.preprocessing import round_trip_labels  # noqa: E402
from dxr.training.phantom.dataset import PhantomConfig, generate_case  # noqa: E402


def measure_case(job: tuple[int, int, int]) -> dict:
    """Generate, encode, read back and measure one case; errors per bone against the truth."""
    seed, index, repeat = job
    case = generate_case(seed, PhantomConfig(), index=index, repeat=repeat)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "case.dcm"
        case.encoded_dataset().save_as(path, enforce_file_format=True)
        radiograph = read_radiograph(path)
    true_spacing = case.truth["pixel_spacing_mm"]
    scale = radiograph.spacing.row_mm / true_spacing  # what intake's spacing makes of a true millimetre
    labels = round_trip_labels(case.labels, true_spacing)
    started = time.perf_counter()
    measurement = measure_hand(radiograph, labels, read_calibration())
    seconds = time.perf_counter() - started
    bones = []
    for bone in measurement.bones:
        truth = case.truth["bones"][bone.name]
        entry = {"name": bone.name, "status": bone.status, "flags": [flag.code.value for flag in bone.flags]}
        if bone.status == "ok":
            true_vpa = truth["vpa_mm"] * scale
            entry |= {
                "width_error_mm": bone.width_mm - truth["width_mm"] * scale,
                "thickness_error_mm": bone.cortical_thickness_mm - truth["cortical_thickness_mm"] * scale,
                "vpa_relative_error": bone.vpa_mm / true_vpa - 1.0,
                "length_error_mm": bone.length_mm - truth["length_mm"] * scale,
            }
        bones.append(entry)
    return {
        "seed": seed,
        "index": index,
        "repeat": repeat,
        "status": measurement.status,
        "reasons": [flag.code.value for flag in measurement.rejection_reasons],
        "processing": case.truth["processing"]["kind"],
        "magnification_error": scale - 1.0,
        "bmd_g_cm2": measurement.dxr_bmd_g_cm2,
        "bones": bones,
        "seconds": seconds,
        "pixels": radiograph.pixels.size,
    }


def accuracy_report(results: list[dict]) -> None:
    bones = [bone for result in results for bone in result["bones"]]
    ok = [bone for bone in bones if bone["status"] == "ok"]
    print(f"\n== Accuracy: {len(results)} images, {len(bones)} bones, {len(ok)} measured")
    rejected: dict[str, int] = {}
    for bone in bones:
        for flag in bone["flags"]:
            rejected[flag] = rejected.get(flag, 0) + 1
    print("   bone flags:", ", ".join(f"{code} {count}" for code, count in sorted(rejected.items())) or "none")
    by_processing = {kind: [r for r in results if r["processing"] == kind] for kind in ("none", "standard", "strong")}
    for label, group in [("all", results), *by_processing.items()]:
        measured = [bone for result in group for bone in result["bones"] if bone["status"] == "ok"]
        if not measured:
            continue
        thickness = np.array([bone["thickness_error_mm"] for bone in measured])
        width = np.array([bone["width_error_mm"] for bone in measured])
        vpa = np.array([bone["vpa_relative_error"] for bone in measured])
        print(
            f"   {label:9s} n={len(measured):4d}  T: median |e| {np.median(np.abs(thickness)):.4f} mm, "
            f"bias {thickness.mean():+.4f}, max |e| {np.abs(thickness).max():.3f}  |  W: median |e| "
            f"{np.median(np.abs(width)):.4f} mm, bias {width.mean():+.4f}  |  VPA bias {100 * vpa.mean():+.2f} % "
            f"(SD {100 * vpa.std():.2f} %)"
        )
    above = [bone for bone in ok if abs(bone["thickness_error_mm"]) > 0.15]
    print(f"   bones reported ok with |T error| > 0.15 mm: {len(above)}")
    located = [(result, bone) for result in results for bone in result["bones"] if bone["status"] == "ok"]
    located.sort(key=lambda pair: -abs(pair[1]["thickness_error_mm"]))
    for result, bone in located[:5]:
        print(
            f"   worst: seed {result['seed']} index {result['index']} {bone['name']} ({result['processing']}): "
            f"T error {bone['thickness_error_mm']:+.3f} mm, W error {bone['width_error_mm']:+.3f} mm"
        )
    magnified = [r["magnification_error"] for r in results if abs(r["magnification_error"]) > 1e-6]
    if magnified:
        print(
            f"   spacing policy: {len(magnified)} images carry only ImagerPixelSpacing, read "
            f"{100 * min(magnified):.1f}-{100 * max(magnified):.1f} % large (errors above are relative to it)"
        )


def precision_report(results: list[dict], hands: int) -> None:
    by_hand: dict[tuple[int, int], list[float]] = {}
    for result in results:
        if result["bmd_g_cm2"] is not None:
            by_hand.setdefault((result["seed"], result["index"]), []).append(result["bmd_g_cm2"])
    cvs = [statistics.stdev(values) / statistics.fmean(values) for values in by_hand.values() if len(values) >= 3]
    worst = max(
        by_hand.items(),
        key=lambda item: statistics.stdev(item[1]) / statistics.fmean(item[1]) if len(item[1]) >= 3 else 0,
    )
    print(f"   worst hand seed {worst[0][0]} index {worst[0][1]}: BMD " + ", ".join(f"{v:.4f}" for v in worst[1]))
    print(f"\n== Precision: {hands} hands, {len(results)} images, {len(cvs)} hands with >= 3 measured repeats")
    if cvs:
        rms = float(np.sqrt(np.mean(np.square(cvs))))
        print(f"   RMS CV of DXR-BMD {100 * rms:.2f} %  (worst hand {100 * max(cvs):.2f} %; anchors: DXR 0.61-0.68 %)")


def speed_report(results: list[dict]) -> None:
    seconds = np.array([result["seconds"] for result in results])
    megapixels = np.array([result["pixels"] for result in results]) / 1e6
    print(
        f"\n== Speed (measure_hand, one thread): median {np.median(seconds):.3f} s per image, "
        f"90th percentile {np.percentile(seconds, 90):.3f} s (images {np.median(megapixels):.1f} Mpx median)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200, help="accuracy cases (default 200)")
    parser.add_argument("--hands", type=int, default=20, help="precision hands (default 20)")
    parser.add_argument("--repeats", type=int, default=5, help="images per precision hand (default 5)")
    parser.add_argument("--seed", type=int, default=2026, help="phantom seed (accuracy; precision uses seed + 1)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    accuracy_jobs = [(args.seed, index, 0) for index in range(args.cases)]
    precision_jobs = [(args.seed + 1, hand, repeat) for hand in range(args.hands) for repeat in range(args.repeats)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        accuracy = list(pool.map(measure_case, accuracy_jobs, chunksize=2))
        precision = list(pool.map(measure_case, precision_jobs, chunksize=2))
    accuracy_report(accuracy)
    if args.hands:
        precision_report(precision, args.hands)
    speed_report(accuracy + precision)
    print(f"\n({time.perf_counter() - started:.0f} s in all, {args.workers} workers)")


if __name__ == "__main__":
    main()
