"""What one analysed image becomes on disk: the JSON result, and on request the physician report (PDF, HTML) and
the DICOM objects for PACS (measurement SR, annotated Secondary Capture, Encapsulated PDF).

The JSON is written first, so a report that fails to render never loses the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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

    def attempt(name: str, make: Callable[[], list[Path]]) -> None:
        # Rendering runs Chromium and encoders that can fail in many ways; one failed format must not cost the
        # others, and the reason is reported, not a traceback.
        try:
            written.paths.extend(make())
        except Exception as error:
            written.failed.append(f"{name} not written ({type(error).__name__}: {error})"[:400])

    pdf: list[bytes] = []  # rendered once, for the PDF file and the encapsulated PDF

    def pdf_bytes() -> bytes:
        if not pdf:
            pdf.append(report_pdf(document, tables=tables, pixels=pixels))
        return pdf[0]

    def write(path: Path, content: bytes | str) -> list[Path]:
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
        return [path]

    if "pdf" in formats:
        attempt("pdf report", lambda: write(out_dir / f"{stem}.pdf", pdf_bytes()))
    if "html" in formats:
        attempt(
            "html report", lambda: write(out_dir / f"{stem}.html", report_html(document, tables=tables, pixels=pixels))
        )
    if "dicom" in formats:
        try:
            source = read_dicom_header(source_path)
        except IntakeError as error:
            written.skipped.append(f"no DICOM outputs: the source is not a readable DICOM file ({error.reason})")
            return written
        attempt(
            "DICOM outputs",
            lambda: write_dicom_outputs(
                document,
                source,
                out_dir,
                stem,
                rgb=None if pixels is None else annotated_image(document, pixels),
                pdf=pdf_bytes(),
            ),
        )
    return written
