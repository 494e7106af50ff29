"""The ``dxr`` command line.

Each subcommand is one function ``_cmd_<name>(args) -> exit status`` registered in :func:`build_parser`.
Errors a user can cause end as one line naming the file and the reason, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

from dxr.analysis.intake import IntakeError, Radiograph, read_radiograph
from dxr.models.runtime import Segmenter
from dxr.serving.outputs import parse_report_formats, write_outputs
from dxr.serving.pipeline import AnalysisRequest, Pipeline, read_prior


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dxr",
        description="Digital X-ray radiogrammetry: bone mineral density from a hand radiograph.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('dxr-bmd')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = commands.add_parser(
        "inspect",
        help="show what intake understood of each file (spacing, laterality, sex/age...) or why it refused",
        description="Read each file as the analysis would and print what was understood. "
        "Exits 1 when any file was refused.",
    )
    inspect.add_argument("files", nargs="+", metavar="FILE", help="DICOM, PNG, JPEG, TIFF, WebP or BMP files")
    _add_spacing_option(inspect)
    inspect.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    inspect.set_defaults(handler=_cmd_inspect)

    analyze = commands.add_parser(
        "analyze",
        help="measure metacarpals II-IV and compute DXR-BMD; writes DIR/<stem>.json per file",
        description="Intake, segmentation (or a given label map), radiogrammetry. Writes one JSON result per "
        "file (docs/result-format.md), and with --report the physician report and the DICOM results (docs/report.md). "
        "Exits 0 when every image was measured and written, 1 when any was rejected or an output could not be "
        "written, 2 when the command line cannot work.",
    )
    analyze.add_argument("files", nargs="+", metavar="FILE", help="radiographs (DICOM, or PNG/JPEG/TIFF for research)")
    analyze.add_argument(
        "--masks",
        action="append",
        metavar="LABELMAP",
        help="label map on the image grid (8-bit PNG, NPY or NPZ; 0 background, 1-3 metacarpal II-IV, 4-6 "
        "their canals) instead of the network: once per FILE in order, or one directory holding "
        "<stem>_labels.png/.npz/.npy (default: the segmentation network finds the bones)",
    )
    analyze.add_argument("--out", required=True, metavar="DIR", help="output directory")
    analyze.add_argument(
        "--report",
        metavar="FORMATS",
        help="also write the physician report and PACS objects, comma-separated: pdf (DIR/<stem>.pdf), html "
        "(DIR/<stem>.html, self-contained), dicom (DIR/<stem>_sr.dcm measurement SR, _sc.dcm annotated image, "
        "_report_pdf.dcm encapsulated PDF; DICOM sources only)",
    )
    analyze.add_argument("--calibration", metavar="JSON", help="measurement calibration file (default: shipped)")
    analyze.add_argument("--model", metavar="ONNX", help="segmentation model (default: the shipped one)")
    _add_spacing_option(analyze)
    analyze.add_argument(
        "--acquired-for-dxr",
        action="store_true",
        help="the hand view was taken for DXR-BMD (CPT 0750T); default: an earlier image, uploaded (0749T)",
    )
    analyze.add_argument(
        "--prior",
        action="append",
        default=[],
        metavar="RESULT_JSON",
        help="an earlier result of the same patient (repeatable): adds change since prior, with significance",
    )
    analyze.add_argument(
        "--reference-table", action="append", default=[], metavar="JSON", help="a site reference table (repeatable)"
    )
    analyze.add_argument("--scoring-policy", metavar="JSON", help="a site scoring policy (default tables, male T)")
    analyze.set_defaults(handler=_cmd_analyze)

    _add_phantom_parser(commands)
    return parser


def _add_spacing_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pixel-spacing",
        type=float,
        metavar="MM",
        help="pixel spacing in mm to use instead of the file's (recorded as user-supplied); "
        "needed for PNG/JPEG/TIFF and for DICOM files without a spacing",
    )


def _add_phantom_parser(commands: argparse._SubParsersAction) -> None:
    from dxr.training.phantom.cli import add_arguments, run

    phantom = commands.add_parser(
        "phantom",
        help="generate synthetic hand radiographs (DICOM) with label maps and exact ground truth",
        description="Generate synthetic PA hand radiographs with exact ground truth.",
    )
    add_arguments(phantom)
    phantom.set_defaults(handler=run)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


def _cmd_inspect(args: argparse.Namespace) -> int:
    refused = 0
    for path in args.files:
        try:
            radiograph = read_radiograph(path, pixel_spacing_mm=args.pixel_spacing)
        except IntakeError as error:
            refused += 1
            if args.json:
                print(json.dumps({"file": path, "status": "refused", "code": error.code.value, "reason": error.reason}))
            else:
                print(f"{path}: REFUSED [{error.code.value}] {error.reason}")
            continue
        summary = describe(radiograph)
        if args.json:
            print(json.dumps({"file": path, "status": "ok", **summary}))
        else:
            print(f"{path}:")
            for key, value in summary.items():
                print(f"  {key:<22} {value if value not in (None, '', []) else '-'}")
    if refused:
        print(f"{refused} of {len(args.files)} file(s) refused", file=sys.stderr)
    return 1 if refused else 0


def _label_map_paths(files: list[str], masks: list[str] | None) -> list[Path | None]:
    """One label map per file; from a directory, ``<stem>_labels.*`` (a missing one is refused per file);
    none at all: the network segments."""
    if not masks:
        return [None] * len(files)
    if len(masks) == 1 and Path(masks[0]).is_dir():
        directory = Path(masks[0])
        found = []
        for file in files:
            stem = Path(file).stem
            candidates = [directory / f"{stem}_labels{suffix}" for suffix in (".png", ".npz", ".npy")]
            found.append(next((path for path in candidates if path.exists()), candidates[0]))
        return found
    if len(masks) != len(files):
        raise _UsageError(f"{len(masks)} --masks for {len(files)} files: give one per file, or a directory")
    return [Path(mask) for mask in masks]


def _output_directory(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _UsageError(f"cannot use --out {out}: {error.strerror or error}") from None
    return out


def _load_segmenter(model: str | None) -> Segmenter:
    try:
        return Segmenter(model)
    except FileNotFoundError as error:
        raise _UsageError(f"{error}; pass --masks LABELMAP to measure with a given label map") from None
    except ImportError:
        raise _UsageError(
            "ONNX Runtime is not installed: install the cpu or gpu extra, or pass --masks LABELMAP"
        ) from None


class _UsageError(Exception):
    """A command line that cannot work; reported in one line with exit status 2."""


def _cmd_analyze(args: argparse.Namespace) -> int:
    try:
        out = _output_directory(args.out)
        label_maps = _label_map_paths(args.files, args.masks)
        segmenter = None if args.masks else _load_segmenter(args.model)
        pipeline = Pipeline.load(
            calibration=args.calibration,
            reference_tables=args.reference_table,
            scoring_policy=args.scoring_policy,
            segmenter=segmenter,
        )
        request = AnalysisRequest(
            pixel_spacing_mm=args.pixel_spacing,
            acquired_for_dxr=args.acquired_for_dxr,
            priors=tuple(read_prior(path) for path in args.prior),
        )
        formats = parse_report_formats(args.report) if args.report else ()
    except (_UsageError, ValueError) as error:
        print(f"dxr analyze: {error}", file=sys.stderr)
        return 2
    rejected = failed = 0
    for file, label_map_path in zip(args.files, label_maps, strict=True):
        result = pipeline.analyze(file, label_map_path, request)
        rejected += result.document["status"] != "ok"
        try:
            written = write_outputs(result, file, out, formats=formats, tables=pipeline.tables)
        except OSError as error:
            failed += 1
            print(f"{file}: result not written to {out}: {error.strerror or error}", file=sys.stderr)
            continue
        print(_summary_line(file, result.document, written.paths[0]))
        for path in written.paths[1:]:
            print(f"  + {path}")
        for note in written.skipped + written.failed:
            print(f"{file}: {note}", file=sys.stderr)
        failed += bool(written.failed)
    if rejected:
        print(f"{rejected} of {len(args.files)} image(s) rejected", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(args.files)} file(s) with outputs missing (see above)", file=sys.stderr)
    return 1 if rejected or failed else 0


def _summary_line(file: str, document: dict, target: Path) -> str:
    if document["status"] != "ok":
        reasons = "; ".join(f"[{r['code']}] {r['message']}" for r in document["rejection_reasons"])
        bone_reasons = "; ".join(
            f"{bone['name']}: " + ", ".join(flag["code"] for flag in bone["flags"])
            for bone in document["bones"]
            if bone["flags"]
        )
        return f"{file}: REJECTED {reasons}{' (' + bone_reasons + ')' if bone_reasons else ''} -> {target}"
    bones = ", ".join(
        f"{bone['name']} W {bone['width_mm']:.2f} T {bone['cortical_thickness_mm']:.2f}"
        for bone in document["bones"]
        if bone["status"] == "ok"
    )
    scores = ""
    if document.get("t_score"):
        scores += f", T {document['t_score']['reported']:+.1f}"
    if document.get("z_score"):
        scores += f", Z {document['z_score']['reported']:+.1f}"
    return f"{file}: DXR-BMD {document['dxr_bmd_g_cm2']:.3f} g/cm2{scores} ({bones} mm) -> {target}"


def describe(radiograph: Radiograph) -> dict[str, object]:
    """What intake understood, as plain values (the ``dxr inspect`` listing)."""
    spacing = radiograph.spacing
    return {
        "format": radiograph.source_format,
        "size_px": f"{radiograph.shape[1]} x {radiograph.shape[0]} (columns x rows)",
        "pixel_spacing_mm": None if spacing is None else [round(spacing.row_mm, 6), round(spacing.column_mm, 6)],
        "spacing_source": None if spacing is None else spacing.source.value,
        "spacing_calibration": None if spacing is None else spacing.calibration_type,
        "photometric": radiograph.photometric_interpretation,
        "photometric_handling": list(radiograph.photometric_handling),
        "bits_stored": radiograph.bits_stored,
        "transfer_syntax": radiograph.transfer_syntax_uid,
        "modality": radiograph.modality,
        "manufacturer": radiograph.manufacturer,
        "laterality": radiograph.laterality,
        "view": None if radiograph.view is None else f"{radiograph.view} (from {radiograph.view_source})",
        "body_part": radiograph.body_part,
        "patient_sex": radiograph.patient_sex,
        "age_years": radiograph.age_years,
        "age_source": radiograph.age_source,
        "study_date": None if radiograph.study_date is None else radiograph.study_date.isoformat(),
        "acquisition_date": None if radiograph.acquisition_date is None else radiograph.acquisition_date.isoformat(),
        "study_instance_uid": radiograph.study_instance_uid,
        "sop_instance_uid": radiograph.sop_instance_uid,
        "notes": list(radiograph.notes),
    }


if __name__ == "__main__":
    sys.exit(main())
