"""Does the network find metacarpals II, III and IV on real radiographs? (Digital Hand Atlas, with landmarks.)

    .venv/bin/python benchmarks/real_hands.py [--shared ../shared] [--assumed-spacing 0.1] [--overlays DIR]

Reads the 21 Digital Hand Atlas JPEGs beside the project (``../shared/real_hands``; nothing is copied), with
an assumed pixel spacing (they carry none), segments them, and compares each bone's axis with the landmark
axis (base at landmark 16/15/14, head at 21/25/29 for II/III/IV; DHA images are left hands): found, axis
within 10 degrees, mid-point within 15 % of the landmark length. With ``--overlays`` it writes a PNG per
image with the label map drawn on it, to look at.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from PIL import Image

from dxr.analysis.geometry import BONE_LABELS, fit_shaft_axis
from dxr.analysis.intake import read_radiograph
from dxr.models.runtime import Segmenter

LANDMARKS = {"II": (16, 21), "III": (15, 25), "IV": (14, 29)}  # (base, head), 0-based landmark index
COLOURS = {
    1: (230, 60, 60),
    2: (60, 200, 60),
    3: (70, 110, 240),
    4: (255, 170, 170),
    5: (170, 255, 170),
    6: (170, 190, 255),
}


def read_landmarks(path: Path) -> dict[str, np.ndarray]:
    with path.open() as handle:
        return {row[0]: np.array(row[1:], dtype=float).reshape(-1, 2) for row in csv.reader(handle) if row}


def check_bone(labels: np.ndarray, name: str, base: np.ndarray, head: np.ndarray) -> dict:
    label = BONE_LABELS[name]
    mask = np.isin(labels, (label, label + 3))
    if mask.sum() < 50:
        return {"found": False, "angle_deg": None, "midpoint_offset": None, "ok": False}
    axis = fit_shaft_axis(mask)
    ends = axis.end_points()
    truth = head - base
    cosine = abs(float(np.dot(axis.direction, truth) / np.linalg.norm(truth)))
    angle = float(np.degrees(np.arccos(min(cosine, 1.0))))
    offset = float(np.linalg.norm(ends.mean(axis=0) - (base + head) / 2) / np.linalg.norm(truth))
    return {"found": True, "angle_deg": angle, "midpoint_offset": offset, "ok": angle <= 10 and offset <= 0.15}


def overlay(pixels: np.ndarray, labels: np.ndarray) -> Image.Image:
    low, high = np.percentile(pixels, (0.5, 99.5))
    grey = (np.clip((pixels - low) / max(high - low, 1e-6), 0, 1) * 255).astype(np.uint8)
    rgb = np.stack([grey] * 3, axis=-1).astype(np.float32)
    for label, colour in COLOURS.items():
        rgb[labels == label] = 0.5 * rgb[labels == label] + 0.5 * np.array(colour)
    image = Image.fromarray(rgb.astype(np.uint8))
    image.thumbnail((900, 900))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--assumed-spacing", type=float, default=0.1, help="mm per pixel (the JPEGs have none)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--overlays", default=None, help="folder for overlay PNGs")
    args = parser.parse_args()
    folder = Path(args.shared) / "real_hands" / "dha_digital_hand_atlas"
    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: this evaluation needs the shared real radiographs")
    landmarks = read_landmarks(folder / "landmarks_37pt_subset.csv")
    segmenter = Segmenter(args.model)
    out = Path(args.overlays) if args.overlays else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    all_ok = 0
    for image_id, points in sorted(landmarks.items()):
        radiograph = read_radiograph(folder / f"{image_id}.jpg", pixel_spacing_mm=args.assumed_spacing)
        labels = segmenter.segment(radiograph.pixels, args.assumed_spacing)
        results = {name: check_bone(labels, name, points[b], points[h]) for name, (b, h) in LANDMARKS.items()}
        all_ok += all(result["ok"] for result in results.values())
        print(
            f"{image_id}: "
            + "  ".join(
                f"{name} "
                + ("missing" if not r["found"] else f"{r['angle_deg']:4.1f}deg {100 * r['midpoint_offset']:3.0f}%")
                + ("" if r["ok"] else " X")
                for name, r in results.items()
            )
        )
        if out:
            overlay(radiograph.pixels, labels).save(out / f"{image_id}.png")
    print(f"\nII, III and IV all found and placed on {all_ok} of {len(landmarks)} images (target: 19 of 21)")


if __name__ == "__main__":
    main()
