"""What one analysed image becomes on disk: the JSON result, and on request the physician report (PDF, HTML) and
the DICOM objects for PACS (measurement SR, annotated Secondary Capture, Encapsulated PDF).

The JSON is written first, so a report that fails to render never loses the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dxr.analysis.intake import IntakeError, read_dicom_header
from dxr.analysis.reference import ReferenceTable
from dxr.serving.dicom_outputs import write_dicom_outputs
from dxr.serving.pipeline import AnalysisResult
from dxr.serving.report import annotated_image, report_html, report_pdf

__all__ = ["REPORT_FORMATS", "WrittenOutputs", "parse_report_formats", "write_outputs"]

REPORT_FORMATS = ("pdf", "html", "dicom")
T = TypeVar("T")


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
    """The files written for one image; ``skipped`` says why a requested output does not apply, ``failed`` why
    one could not be made."""

    paths: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def write_outputs(
    result: AnalysisResult,
    source_path: str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = (),
    tables: Sequence[ReferenceTable] = (),
) -> WrittenOutputs:
    """Write ``<stem>.json`` and the requested ``formats`` (:data:`REPORT_FORMATS`) into ``out_dir`` (which exists).

    Files: ``<stem>.pdf``, ``<stem>.html``, ``<stem>_sr.dcm`` (measured images only), ``<stem>_sc.dcm`` (when the
    image was read) and ``<stem>_report_pdf.dcm``. DICOM outputs need a DICOM source: they copy its patient and
    study. ``tables`` are the reference tables the result may name (for the reference curve). The JSON is written
    first and an ``OSError`` writing it propagates; a format that fails is recorded in ``failed`` and the others
    are still written.
    """
    out_dir = Path(out_dir)
    stem = Path(source_path).stem
    document, radiograph = result.document, result.radiograph
    written = WrittenOutputs()
    target = out_dir / f"{stem}.json"
    target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    written.paths.append(target)
    pixels = None if radiograph is None else radiograph.pixels

    def attempt(name: str, make: Callable[[], T]) -> T | None:
        # Rendering runs Chromium and encoders that can fail in many ways; one failed output must not cost the
        # others, and the reason is reported, not a traceback.
        try:
            return make()
        except Exception as error:
            written.failed.append(f"{name} not written ({type(error).__name__}: {error})"[:400])
            return None

    def save(path: Path, content: bytes) -> list[Path]:
        path.write_bytes(content)
        return [path]

    pdf = None  # rendered once, for the PDF file and for the encapsulated PDF
    if {"pdf", "dicom"} & set(formats):
        pdf = attempt("PDF report", lambda: report_pdf(document, tables=tables, pixels=pixels))
    if "pdf" in formats and pdf is not None:
        written.paths += attempt("PDF report", lambda: save(out_dir / f"{stem}.pdf", pdf)) or []
    if "html" in formats:
        html_path = out_dir / f"{stem}.html"
        written.paths += (
            attempt(
                "HTML report", lambda: save(html_path, report_html(document, tables=tables, pixels=pixels).encode())
            )
            or []
        )
    if "dicom" in formats:
        try:
            source = read_dicom_header(source_path)
        except IntakeError as error:
            written.skipped.append(f"no DICOM outputs: the source is not a readable DICOM file ({error.reason})")
            return written
        rgb = None if pixels is None else attempt("annotated image", lambda: annotated_image(document, pixels))
        # Whatever rendered goes out: the SR needs no rendering; a capture or PDF that failed is left out.
        written.paths += (
            attempt("DICOM outputs", lambda: write_dicom_outputs(document, source, out_dir, stem, rgb=rgb, pdf=pdf))
            or []
        )
    return written
