"""``dxr phantom``: write synthetic hand radiographs with label maps and exact ground truth.

Wired into the ``dxr`` command by :mod:`dxr.serving.cli` through :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .dataset import PhantomConfig, generate_dataset


def _porosity(text: str) -> tuple[float, float] | float:
    """``0.02`` (fixed) or ``0.005:0.1`` (uniform range)."""
    try:
        if ":" in text:
            lo, hi = (float(part) for part in text.split(":", 1))
            if not 0.0 <= lo <= hi <= 0.3:
                raise ValueError
            return (lo, hi)
        value = float(text)
        if not 0.0 <= value <= 0.3:
            raise ValueError
        return value
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a porosity 0-0.3 or a range MIN:MAX") from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a rate must be between 0 and 1")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``dxr phantom``."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (created)")
    parser.add_argument("--count", type=_non_negative, default=10, metavar="N", help="number of cases (default 10)")
    parser.add_argument(
        "--seed",
        type=_non_negative,
        default=0,
        metavar="S",
        help="dataset seed; the same seed, index and options give identical files (default 0)",
    )
    parser.add_argument(
        "--start-index",
        type=_non_negative,
        default=0,
        metavar="I",
        help="index of the first case, to extend a dataset (default 0)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="W",
        help="parallel processes; output does not depend on it (default 1)",
    )
    anatomy = parser.add_argument_group("anatomy and positioning")
    anatomy.add_argument(
        "--spacing-mm",
        type=float,
        metavar="MM",
        help="true pixel spacing (default: drawn from 0.08-0.20 mm detector pitches)",
    )
    anatomy.add_argument(
        "--rotation-deg",
        type=float,
        default=20.0,
        metavar="DEG",
        help="maximum in-plane rotation of the hand (default 20)",
    )
    anatomy.add_argument("--side", choices=("left", "right", "random"), default="random")
    anatomy.add_argument("--sex", choices=("F", "M", "random"), default="random")
    anatomy.add_argument(
        "--age-range",
        nargs=2,
        type=float,
        default=(20.0, 90.0),
        metavar=("MIN", "MAX"),
        help="subject age range in years (default 20 90)",
    )
    anatomy.add_argument(
        "--porosity",
        type=_porosity,
        metavar="P|MIN:MAX",
        help="cortical porosity of MC II-IV, fixed or a uniform range (default: ~0.01, by age)",
    )
    anatomy.add_argument(
        "--partial-rate",
        type=_rate,
        default=0.15,
        metavar="R",
        help="fraction of wrist views / cropped fingers / narrow fields (default 0.15)",
    )
    anatomy.add_argument(
        "--marker-rate",
        type=_rate,
        default=0.9,
        metavar="R",
        help="fraction of images with a lead L/R marker (default 0.9)",
    )
    physics = parser.add_argument_group("acquisition and processing")
    physics.add_argument(
        "--processing",
        choices=("random", "none", "standard", "strong"),
        default="random",
        help="vendor processing (none = log image, linear window)",
    )
    physics.add_argument("--no-noise", action="store_true", help="no quantum or electronic noise")
    physics.add_argument(
        "--supersample", type=int, default=2, metavar="K", help="bone sub-samples per pixel side (default 2)"
    )
    dicom = parser.add_argument_group("DICOM encoding")
    dicom.add_argument("--compression", choices=("random", "none", "rle", "jpegls", "j2k"), default="random")
    dicom.add_argument("--photometric", choices=("random", "MONOCHROME1", "MONOCHROME2"), default="random")
    dicom.add_argument("--sop-class", choices=("random", "DX", "CR"), default="random")
    dicom.add_argument(
        "--spacing-tag",
        choices=("random", "pixel", "imager", "imager_magnification"),
        default="random",
        help="PixelSpacing, ImagerPixelSpacing alone, or ImagerPixelSpacing + magnification factor",
    )
    dicom.add_argument("--bits-stored", choices=("random", "10", "12", "14", "16"), default="random")
    dicom.add_argument(
        "--metadata-error-rate",
        type=_rate,
        default=0.05,
        metavar="R",
        help="rate of each kind of missing/wrong tag (laterality, view, sex, age...) (default 0.05)",
    )
    output = parser.add_argument_group("output")
    output.add_argument("--labels", choices=("png", "npz"), default="png", help="label map format (default png)")
    output.add_argument("--preview", action="store_true", help="also write NAME_preview.png (8-bit)")
    output.add_argument(
        "--contact-sheet", type=Path, metavar="PNG", help="also tile the first 12 generated images into this PNG"
    )
    output.add_argument("--quiet", action="store_true", help="no progress output")


def config_from_args(args: argparse.Namespace) -> PhantomConfig:
    """The :class:`PhantomConfig` the options describe (raises ``ValueError`` on inconsistent values)."""
    porosity = args.porosity
    return PhantomConfig(
        spacing_mm=args.spacing_mm,
        rotation_deg=args.rotation_deg,
        side=args.side,
        sex=args.sex,
        age_range_years=(float(args.age_range[0]), float(args.age_range[1])),
        porosity=porosity if isinstance(porosity, float) else None,
        porosity_range=porosity if isinstance(porosity, tuple) else None,
        partial_rate=args.partial_rate,
        processing=args.processing,
        noise=not args.no_noise,
        compression=args.compression,
        photometric=args.photometric,
        sop_class=args.sop_class,
        spacing_tag=args.spacing_tag,
        bits_stored=args.bits_stored if args.bits_stored == "random" else int(args.bits_stored),
        metadata_error_rate=args.metadata_error_rate,
        marker_rate=args.marker_rate,
        supersample=args.supersample,
        labels_format=args.labels,
    )


def run(args: argparse.Namespace) -> int:
    """Generate the dataset and print a summary; 0 on success, 2 on invalid options."""
    try:
        config = config_from_args(args)
        if not 0.0 <= config.rotation_deg <= 180.0:
            raise ValueError("--rotation-deg must be between 0 and 180")
        if args.age_range[0] > args.age_range[1] or args.age_range[0] < 18:
            raise ValueError("--age-range must be MIN <= MAX with MIN >= 18 (adult anatomy)")
    except ValueError as exc:
        print(f"dxr phantom: {exc}", file=sys.stderr)
        return 2
    workers = max(1, min(args.workers, os.cpu_count() or 1, max(args.count, 1)))

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % max(1, total // 10) == 0):
            print(f"  {done}/{total}", file=sys.stderr, flush=True)

    summary = generate_dataset(
        args.out,
        args.count,
        args.seed,
        config,
        start_index=args.start_index,
        workers=workers,
        preview=args.preview,
        progress=progress,
    )
    rate = summary.images_per_second
    print(
        f"dxr phantom: wrote {summary.count} case(s) to {summary.out_dir} "
        f"in {summary.seconds:.1f} s ({rate:.2f} images/s, {workers} worker(s), seed {args.seed})"
    )
    print("  per case: NAME.dcm, NAME_labels." + config.labels_format + ", NAME_truth.json; index: manifest.json")
    if args.contact_sheet is not None and summary.count:
        from .preview import contact_sheet

        names = summary.names[:12]
        truths = [json.loads((summary.out_dir / f"{n}_truth.json").read_text()) for n in names]
        captions = [
            f"{t['subject']['sex']} {t['subject']['age_years']:.0f}y {t['subject']['hand_side']} "
            f"{t['pixel_spacing_mm']}mm {t['processing']['kind']}"
            for t in truths
        ]
        sheet = contact_sheet([summary.out_dir / f"{n}.dcm" for n in names], args.contact_sheet, captions=captions)
        print(f"  contact sheet: {sheet}")
    return 0
