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

from dxr.analysis.intake import IntakeError, Radiograph, read_radiograph


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
                print(
                    json.dumps(
                        {"file": path, "status": "refused", "code": error.code.value, "reason": error.reason}
                    )
                )
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


def describe(radiograph: Radiograph) -> dict[str, object]:
    """What intake understood, as plain values (the ``dxr inspect`` listing)."""
    spacing = radiograph.spacing
    return {
        "format": radiograph.source_format,
        "size_px": f"{radiograph.shape[1]} x {radiograph.shape[0]} (columns x rows)",
        "pixel_spacing_mm": None
        if spacing is None
        else [round(spacing.row_mm, 6), round(spacing.column_mm, 6)],
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
        "acquisition_date": None
        if radiograph.acquisition_date is None
        else radiograph.acquisition_date.isoformat(),
        "study_instance_uid": radiograph.study_instance_uid,
        "sop_instance_uid": radiograph.sop_instance_uid,
        "notes": list(radiograph.notes),
    }


if __name__ == "__main__":
    sys.exit(main())
