"""What one analysed image becomes on disk: the JSON result, and on request the physician report (PDF, HTML) and
the DICOM objects for PACS (measurement SR, annotated Secondary Capture, Encapsulated PDF).

The JSON is written first, so a report that fails to render never loses the result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dxr.analysis.intake import IntakeError, read_dicom_header
from dxr.analysis.reference import ReferenceTable
from dxr.serving.dicom_outputs import write_dicom_outputs
from dxr.serving.pipeline import AnalysisResult
from dxr.serving.report import annotated_image, report_html, report_pdf

__all__ = ["REPORT_FORMATS", "WrittenOutputs", "parse_report_formats", "write_outputs"]

REPORT_FORMATS = ("pdf", "html", "dicom")


def parse_report_formats(text: str) -> tuple[str, ...]:
    """``"pdf,html"`` -> ``("pdf", "html")``; ``ValueError`` naming what is not a format.

    >>> parse_report_formats("dicom, pdf")
    ('dicom', 'pdf')
    """
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    unknown = [name for name in formats if name not in REPORT_FORMATS]
    if unknown or not formats:
        raise ValueError(f"--report {text!r}: choose from {', '.join(REPORT_FORMATS)} (comma-separated)")
    return formats


@dataclass
class WrittenOutputs:
    """The files written for one image, and why any requested output was not."""

    paths: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def write_outputs(
    result: AnalysisResult,
    source_path: str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = (),
    tables: Sequence[ReferenceTable] = (),
) -> WrittenOutputs:
    """Write ``<stem>.json`` and the requested ``formats`` (:data:`REPORT_FORMATS`) into ``out_dir``.

    Files: ``<stem>.pdf``, ``<stem>.html``, ``<stem>_sr.dcm`` (measured images only), ``<stem>_sc.dcm`` (when the
    image was read) and ``<stem>_report_pdf.dcm``. DICOM outputs need a DICOM source: they copy its patient and
    study. ``tables`` are the reference tables the result may name (for the reference curve).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(source_path).stem
    document, radiograph = result.document, result.radiograph
    written = WrittenOutputs()
    target = out_dir / f"{stem}.json"
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    written.paths.append(target)
    pixels = None if radiograph is None else radiograph.pixels
    pdf = report_pdf(document, tables=tables, pixels=pixels) if {"pdf", "dicom"} & set(formats) else None
    if "pdf" in formats:
        written.paths.append(out_dir / f"{stem}.pdf")
        written.paths[-1].write_bytes(pdf)  # type: ignore[arg-type]
    if "html" in formats:
        written.paths.append(out_dir / f"{stem}.html")
        written.paths[-1].write_text(report_html(document, tables=tables, pixels=pixels), encoding="utf-8")
    if "dicom" in formats:
        try:
            source = read_dicom_header(source_path)
        except IntakeError as error:
            written.notes.append(f"no DICOM outputs: the source is not a readable DICOM file ({error.reason})")
            return written
        rgb = None if pixels is None else annotated_image(document, pixels)
        written.paths += write_dicom_outputs(document, source, out_dir, stem, rgb=rgb, pdf=pdf)
    return written
