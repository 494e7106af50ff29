"""The physician report of one result: a one-page PDF and a self-contained HTML page, both from the result document.

Every number printed comes from the result document (docs/result-format.md), the reference table it names and
the image; this module only formats them. :func:`report_content` decides *what* the report says (one place, so
the PDF and the HTML cannot disagree); :func:`report_pdf` and :func:`report_html` decide how it looks. The PDF
is one A4 Plotly figure rendered by kaleido's persistent Chromium (offline: plotly.js from the plotly package,
no MathJax), so a warm process renders a report in well under a second.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import textwrap
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import kaleido
import numpy as np
import plotly.graph_objects as go
from kaleido.errors import ChromeNotFoundError
from PIL import Image

from dxr.analysis.reference import ReferenceTable
from dxr.analysis.scores import ScoreCode
from dxr.serving.charts import (
    FONT,
    Axes,
    draw_radiograph,
    draw_reference_curve,
    radiograph_figure,
    reference_curve_figure,
)

__all__ = [
    "PERIPHERAL_STATEMENT",
    "RESEARCH_USE_STATEMENT",
    "RenderError",
    "ReportContent",
    "Section",
    "annotated_image",
    "render",
    "report_content",
    "report_figure",
    "report_html",
    "report_pdf",
]

PERIPHERAL_STATEMENT = "DXR-BMD is a peripheral measurement; WHO categories are not a DXA diagnosis."
RESEARCH_USE_STATEMENT = (
    "For research use only: this software has not been validated clinically and must not be the sole basis "
    "of a diagnosis or treatment decision."
)
TITLE = "DXR-BMD report"
SUBTITLE = "Digital X-ray radiogrammetry of metacarpals II, III and IV"

# What a site can do about each rejection reason (intake codes, then quality-control codes).
RETAKE_ADVICE: dict[str, str] = {
    "unreadable_file": "Re-send the file: it could not be opened.",
    "not_dicom": "Send the radiograph as a DICOM file (PNG/JPEG/TIFF only for research, with --pixel-spacing).",
    "non_image_sop_class": "Send the hand radiograph itself, not a report, presentation state or document.",
    "unsupported_modality": "Send a projection radiograph of the hand (DX or CR); other modalities cannot be used.",
    "no_pixel_data": "Re-send the image from the modality or PACS: the file holds no pixel data.",
    "multi_frame": "Send a single-frame radiograph of one hand.",
    "absurd_dimensions": "Re-export the image: its dimensions are not those of a radiograph.",
    "unsupported_transfer_syntax": "Re-send uncompressed or with JPEG, JPEG-LS, JPEG 2000 or RLE compression.",
    "undecodable_pixel_data": "Re-send the image: its pixel data is truncated or corrupt.",
    "invalid_spacing": "Give the pixel spacing as a positive number of millimetres (e.g. 0.1).",
    "invalid_label_map": "Supply a label map on the image grid with labels 0-6, or let the network segment.",
    "spacing_missing": "Re-send with PixelSpacing or ImagerPixelSpacing in the header, or state the spacing.",
    "spacing_anisotropic": "Re-export with square pixels.",
    "label_map_mismatch": "Supply a label map on the image grid with labels 0-6.",
    "bone_not_found": "Check that this is a PA view of the hand; retake with metacarpals II-IV in the field.",
    "bone_truncated": "Retake with the whole hand, wrist to fingertips, inside the field and the collimation.",
    "too_few_profiles": "Retake: hand flat on the detector, no motion, fingers slightly spread.",
    "implausible_width": "Check the pixel spacing and the view (PA, hand flat); retake if the hand was rotated.",
    "implausible_thickness": "Check the pixel spacing and the view (PA, hand flat); retake if the hand was rotated.",
    "implausible_ratio": "Check the view (PA, hand flat); retake if the hand was rotated.",
    "low_contrast": "Retake with standard hand exposure; heavy noise or processing hides the cortex.",
    "overexposed": "Retake with lower exposure: the cortex is saturated.",
    "segmentation_mismatch": "Check the drawn outline; supply a corrected label map (--masks) or retake the image.",
    "inconsistent_with_other_bones": "Check for a fracture, implant or rotation of that bone; retake PA if rotated.",
    "bones_inconsistent": "Check for rotation, fractures or implants; retake PA with the hand flat.",
    "too_few_bones": "Retake a PA view with the whole hand flat in the field, fingers slightly spread.",
}
_GENERIC_ADVICE = "Check the image and send it again; keep this report with the result file for support."


@dataclass(frozen=True)
class Section:
    """A titled list of (label, value) rows."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReportContent:
    """What the report says, as text; the renderers only lay it out."""

    headline: str
    identity: Section
    identifiers: tuple[str, ...]  # UIDs and file, in small print
    results: Section  # the measurement and its interpretation; for a rejection: what, why, what to do
    bone_columns: tuple[str, ...]
    bone_rows: tuple[tuple[str, ...], ...]
    footer: tuple[str, ...]


# ------------------------------------------------------------------------------------------------ content


def _number(value: float | None, digits: int, unit: str = "") -> str:
    """``0.526 g/cm²``; a missing value is a dash, never a zero."""
    if value is None:
        return "–"
    return f"{value:.{digits}f}{' ' + unit if unit else ''}"


def _signed(value: float | None, digits: int = 1) -> str:
    """A score with its sign and a true minus sign: ``+0.4``, ``−1.4``."""
    return "–" if value is None else f"{value:+.{digits}f}".replace("-", "−")


def _person_name(name: str | None) -> str:
    """A DICOM person name (family^given^middle^prefix^suffix; its alphabetic form) as reports print it.

    >>> _person_name("DOE^JANE^Q^DR^JR"), _person_name("PHANTOM^PH11-00000"), _person_name("SOLO"), _person_name(None)
    ('DOE, DR JANE Q JR', 'PHANTOM, PH11-00000', 'SOLO', '–')
    """
    family, given, middle, prefix, suffix = ([*(name or "").split("=")[0].split("^"), "", "", "", ""])[:5]
    rest = " ".join(part for part in (prefix, given, middle, suffix) if part)
    return ", ".join(part for part in (family, rest) if part) or "–"


def report_content(document: Mapping[str, Any], *, generated: dt.datetime | None = None) -> ReportContent:
    """The text of the report of one result document (``ok`` or ``rejected``), created at ``generated`` (now)."""
    patient = document.get("patient") or {}
    study = document.get("study") or {}
    image = document.get("image") or {}
    sex = {"F": "female", "M": "male", "O": "other"}.get(patient.get("sex") or "", "not stated")
    identity = Section(
        "Patient and study",
        (
            ("Patient", _person_name(patient.get("name"))),
            ("Patient ID", patient.get("id") or "–"),
            ("Sex", sex),
            ("Birth date", patient.get("birth_date") or "–"),
            ("Age", _number(patient.get("age_years"), 1, "years")),
            ("Study date", study.get("date") or "–"),
            ("Accession", study.get("accession_number") or "–"),
            ("Institution", study.get("institution") or "–"),
            ("Hand", {"L": "left", "R": "right"}.get(image.get("laterality") or "", "not stated")),
            ("View", image.get("view") or "not stated"),
        ),
    )
    identifiers = tuple(
        f"{label} {value}"
        for label, value in (
            ("Study UID", image.get("study_instance_uid")),
            ("Series UID", image.get("series_instance_uid")),
            ("SOP Instance UID", image.get("sop_instance_uid")),
            ("File", (document.get("source") or {}).get("file")),
        )
        if value
    )
    if document.get("status") == "ok":
        headline, results = _ok_results(document)
    else:
        headline, results = _rejection(document)
    columns, rows = _bone_table(document)
    return ReportContent(
        headline=headline,
        identity=identity,
        identifiers=identifiers,
        results=results,
        bone_columns=columns,
        bone_rows=rows,
        footer=_footer(document, generated or dt.datetime.now(dt.UTC)),
    )


# The score flags that explain why a row of the result is withheld (codes of dxr.analysis.scores.ScoreCode).
_NO_SCORE = (ScoreCode.SEX_UNKNOWN, ScoreCode.AGE_UNKNOWN, ScoreCode.AGE_UNDER_20)
_WITHHELD_BY = {
    "T-score": _NO_SCORE,
    "Z-score": (*_NO_SCORE, ScoreCode.AGE_OUTSIDE_REFERENCE),
    "Category": (*_NO_SCORE, ScoreCode.Z_SCORE_PRIMARY),
    "Triage": (*_NO_SCORE, ScoreCode.Z_SCORE_PRIMARY),
    "Fracture risk": (*_NO_SCORE, ScoreCode.AGE_OUTSIDE_REFERENCE, ScoreCode.FRACTURE_RISK_NOT_COVERED),
}


def _withheld(document: Mapping[str, Any], row: str) -> str:
    reasons = [flag["message"] for flag in document.get("score_flags", []) if flag["code"] in _WITHHELD_BY[row]]
    return "not reported" + (": " + " ".join(reasons) if reasons else "")


def _ok_results(document: Mapping[str, Any]) -> tuple[str, Section]:
    t, z = document.get("t_score"), document.get("z_score")
    category, triage, risk = document.get("category"), document.get("triage"), document.get("fracture_risk")
    bones = ", ".join(document.get("bones_used", []))
    rows: list[tuple[str, str]] = [
        ("DXR-BMD", f"{_number(document['dxr_bmd_g_cm2'], 3, 'g/cm²')} (mean of metacarpals {bones})"),
        (
            "T-score",
            _withheld(document, "T-score")
            if t is None
            else f"{_signed(t['reported'])} vs young adults, table {t['table']}"
            + (" (primary)" if t["primary"] else ""),
        ),
        (
            "Z-score",
            _withheld(document, "Z-score")
            if z is None
            else f"{_signed(z['reported'])} vs age {z['age_years']:.0f}, table {z['table']}"
            + (" (primary)" if z["primary"] else "")
            + f". {z['statement']}",
        ),
        ("Category", _withheld(document, "Category") if category is None else category["label"]),
    ]
    if triage is None:
        rows.append(("Triage", _withheld(document, "Triage")))
    else:
        note = "" if triage["validated_for_patient"] else f" (thresholds validated in {triage['validated_in']} only)"
        rows.append(("Triage", triage["advice"] + note))
    rows.append(("Fracture risk", _withheld(document, "Fracture risk") if risk is None else risk["statement"]))
    rows.append(
        (
            "Bone indices",
            f"BHI {_number(document.get('bhi'), 2)}, metacarpal index {_number(document.get('mci'), 3)}, "
            f"cortical thickness {_number(document.get('cortical_thickness_mm'), 2, 'mm')}, "
            f"width {_number(document.get('width_mm'), 2, 'mm')}",
        )
    )
    rows.extend(_change_rows(document.get("change_since_prior")))
    cpt = document.get("cpt_code")
    if cpt:
        rows.append(("CPT code", f"{cpt['code']}: {cpt['reason']}"))
    headline = f"DXR-BMD {_number(document['dxr_bmd_g_cm2'], 3, 'g/cm²')}"
    if t is not None:
        headline += f"   T-score {_signed(t['reported'])}"
    if z is not None:
        headline += f"   Z-score {_signed(z['reported'])}"
    return headline, Section("Result", tuple(rows))


def _change_rows(monitoring: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not monitoring:
        return []
    rows = []
    for item in monitoring["comparisons"]:
        verdict = f"significant {item['direction']}" if item["significant"] else "not significant"
        rows.append(
            (
                "Change",
                f"since {item['prior_date']} ({_number(item['prior_bmd_g_cm2'], 3, 'g/cm²')}): "
                f"{_signed(item['delta_percent'], 1)} % ({_signed(item['annualised_percent_per_year'], 1)} %/year); "
                f"least significant change {item['lsc_percent']:.1f} %: {verdict}",
            )
        )
    for item in monitoring["excluded"]:
        rows.append(("Change", f"not compared with {item['prior_date']}: {item['message']}"))
    return rows


def _rejection(document: Mapping[str, Any]) -> tuple[str, Section]:
    reasons = list(document.get("rejection_reasons", []))
    reasons += [
        {"code": flag["code"], "message": f"metacarpal {bone['name']}: {flag['message']}"}
        for bone in document.get("bones", [])
        for flag in bone.get("flags", [])
    ]
    advice = list(dict.fromkeys(RETAKE_ADVICE.get(reason["code"], _GENERIC_ADVICE) for reason in reasons))
    source = document.get("source") or {}
    rows = [
        ("Rejected", f"{source.get('file', 'the image')}: no DXR-BMD was computed and no score is reported."),
        *(("Why", f"{reason['message']} [{reason['code']}]") for reason in reasons),
        *(("What to do", text) for text in advice or [_GENERIC_ADVICE]),
    ]
    return "Image rejected: no DXR-BMD", Section("Rejected image", tuple(rows))


def _bone_table(document: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    columns = ("Bone", "Status", "W (mm)", "T (mm)", "L (mm)", "VPA (mm)", "BMD (g/cm²)", "Profiles (out)")
    rows = tuple(
        (
            f"Metacarpal {bone['name']}",
            bone["status"] if bone["status"] == "ok" else ", ".join(flag["code"] for flag in bone["flags"]),
            _number(bone["width_mm"], 2),
            _number(bone["cortical_thickness_mm"], 2),
            _number(bone["length_mm"], 1),
            _number(bone["vpa_mm"], 2),
            _number(bone["bmd_g_cm2"], 3),
            f"{bone['n_profiles']} ({bone['n_profiles_rejected']})",
        )
        for bone in document.get("bones", [])
    )
    return columns, rows


def _footer(document: Mapping[str, Any], generated: dt.datetime) -> tuple[str, ...]:
    lines = []
    reference = document.get("reference") or {}
    tables = {}
    for key in ("t_score_table", "z_score_table"):
        if reference.get(key):
            tables[(reference[key]["id"], reference[key]["version"])] = reference[key]
    for table in tables.values():
        derived = " (contains derived values, marked in the table)" if table["derived"] else ""
        lines.append(f"Reference table {table['id']} {table['version']}: {table['population']}{derived}.")
        lines.extend(f"Source: {source}" for source in table["sources"])
    model = document.get("model")
    segmentation = document.get("segmentation") or {}
    if model:
        lines.append(
            f"Segmentation model {model['name']} {model['version']}, sha256 {model['sha256']} ({model['provider']})."
        )
    elif segmentation.get("source") == "label_map":
        lines.append(f"Bones outlined by a supplied label map ({segmentation.get('file')}), not by the network.")
    software = document.get("software") or {}
    calibration = document.get("calibration")
    text = (
        f"Report generated {generated.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC, automatically, not reviewed by a "
        f"physician. Software {software.get('name', 'dxr-bmd')} {software.get('version', '')}"
    )
    if calibration:
        text += (
            f"; calibration {calibration['id']} {calibration['version']}, c = {calibration['density_constant_g_cm3']}"
            f" g/cm³{' (derived)' if calibration['derived'] else ''}, porosity term {calibration['bmd_porosity']}"
        )
    lines.append(text + ".")
    flags = [f"{flag['code']}: {flag['message']}" for flag in document.get("score_flags", [])]
    flags += [f"{bone['name']} {flag['code']}" for bone in document.get("bones", []) for flag in bone.get("flags", [])]
    lines.append("Quality flags: " + ("; ".join(flag.rstrip(".") for flag in flags) if flags else "none") + ".")
    lines.append(PERIPHERAL_STATEMENT)
    lines.append(RESEARCH_USE_STATEMENT)
    return tuple(lines)


def _curve_table(document: Mapping[str, Any], tables: Sequence[ReferenceTable]) -> ReferenceTable | None:
    """The table of the Z-score (age curve of the patient's sex), else the T-score's; ``None`` without scores."""
    reference = document.get("reference") or {}
    for key in ("z_score_table", "t_score_table"):
        named = reference.get(key)
        if named:
            for table in tables:
                if (table.id, table.version) == (named["id"], named["version"]):
                    return table
    return None


# ---------------------------------------------------------------------------------------------------- HTML


def report_html(
    document: Mapping[str, Any], *, tables: Sequence[ReferenceTable], pixels: np.ndarray | None = None
) -> str:
    """A self-contained HTML page (plotly.js inline, works offline) with interactive charts."""
    content = report_content(document)
    figures = []
    table = _curve_table(document, tables)
    if table is not None:
        figures.append(reference_curve_figure(table, document))
    if pixels is not None:
        figures.append(radiograph_figure(pixels, document))
    charts = "".join(
        '<div class="chart">'
        + figure.to_html(full_html=False, include_plotlyjs=k == 0, config={"displaylogo": False})
        + "</div>"
        for k, figure in enumerate(figures)
    )

    def rows(section: Section) -> str:
        body = "".join(f"<tr><th>{_esc(label)}</th><td>{_esc(value)}</td></tr>" for label, value in section.rows)
        return f"<h2>{_esc(section.title)}</h2><table class='rows'>{body}</table>"

    bones = "<tr>" + "".join(f"<th>{_esc(c)}</th>" for c in content.bone_columns) + "</tr>"
    bones += "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in content.bone_rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(TITLE)}: {_esc(content.identity.rows[0][1])}</title>
<style>
body {{ font-family: {FONT}; max-width: 60rem; margin: 1.5rem auto; color: #000; padding: 0 1rem; }}
.banner {{ border: 2px solid #000; padding: .4rem .6rem; font-weight: bold; }}
.headline {{ font-size: 1.5rem; font-weight: bold; margin: .8rem 0; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: .2rem .6rem .2rem 0; vertical-align: top; }}
table.bones td, table.bones th {{ border-bottom: 1px solid #999; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1rem; }} .chart {{ flex: 1 1 26rem; }}
.small {{ font-size: .75rem; color: #333; }}
</style></head><body>
<h1>{_esc(TITLE)}</h1><p>{_esc(SUBTITLE)}</p>
<p class="banner">{_esc(RESEARCH_USE_STATEMENT)}</p>
{rows(content.identity)}
<p class="small">{"<br>".join(_esc(line) for line in content.identifiers)}</p>
<p class="headline">{_esc(content.headline)}</p>
{rows(content.results)}
<div class="charts">{charts}</div>
<h2>Per bone</h2><table class="bones">{bones}</table>
<footer class="small"><p>{"</p><p>".join(_esc(line) for line in content.footer)}</p></footer>
</body></html>
"""


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


# ----------------------------------------------------------------------------------------------------- PDF

PAGE_WIDTH_PX, PAGE_HEIGHT_PX = 794, 1123  # A4 at 96 px per inch: kaleido prints the figure at this size
_MARGIN_PX = 40
_CHAR_EM = 0.5  # mean Arial character width in em, to wrap text that Plotly will not wrap itself
_LINE_EM = 1.3  # Plotly's line height in annotations


def _wrap(text: str, width_px: float, size: float) -> list[str]:
    return textwrap.wrap(text, max(6, int(width_px / (_CHAR_EM * size)))) or [""]


class _Page:
    """Lays text out top to bottom on one Plotly figure in page pixels (Plotly annotations do not flow).

    A table is one annotation per column, its rows padded to equal line counts: each annotation costs
    render time, so a page of a few dozen rows stays a few dozen milliseconds.
    """

    def __init__(self) -> None:
        self.fig = go.Figure()
        # Collected as plain dicts and set once: Plotly re-validates the whole layout on every add_annotation.
        self.annotations: list[dict[str, Any]] = []
        self.shapes: list[dict[str, Any]] = []
        self.y_px = float(_MARGIN_PX)

    def _annotation(self, x_px: float, lines: Sequence[str], size: float, bold: bool, colour: str, align: str) -> None:
        body = "<br>".join(html.escape(line, quote=False) for line in lines)
        self.annotations.append(
            {
                "x": x_px / PAGE_WIDTH_PX,
                "y": 1 - self.y_px / PAGE_HEIGHT_PX,
                "xref": "paper",
                "yref": "paper",
                "xanchor": align,
                "yanchor": "top",
                "align": align,
                "showarrow": False,
                "text": f"<b>{body}</b>" if bold else body,
                "font": {"size": size, "color": colour, "family": FONT},
            }
        )

    def text(
        self,
        x_px: float,
        text: str | Sequence[str],
        *,
        size: float = 10,
        bold: bool = False,
        colour: str = "black",
        advance: bool = True,
        align: str = "left",
    ) -> None:
        """Write ``text`` (one paragraph, or several) from ``x_px`` to the right margin (or, right-aligned, to
        ``x_px``) at the cursor."""
        width_px = x_px - _MARGIN_PX if align == "right" else PAGE_WIDTH_PX - _MARGIN_PX - x_px
        lines = [
            line
            for paragraph in ([text] if isinstance(text, str) else text)
            for line in _wrap(paragraph, width_px, size)
        ]
        self._annotation(x_px, lines, size, bold, colour, align)
        if advance:
            self.y_px += len(lines) * size * _LINE_EM

    def table(
        self,
        rows: Sequence[Sequence[str]],
        columns_px: Sequence[tuple[float, float]],
        *,
        size: float = 9.5,
        bold_columns: Sequence[int] = (),
        bold_first_row: bool = False,
    ) -> None:
        """Rows of cells; ``columns_px`` gives each column's (left, width)."""
        cells = [
            [_wrap(cell, width - 6, size) for cell, (_, width) in zip(row, columns_px, strict=True)] for row in rows
        ]
        column_lines: list[list[str]] = [[] for _ in columns_px]
        for row in cells:
            height = max(len(cell) for cell in row)
            for lines, cell in zip(column_lines, row, strict=True):
                lines.extend(cell + [""] * (height - len(cell)))
        header_lines = max(len(cell) for cell in cells[0]) if bold_first_row and cells else 0
        for k, ((left, _), lines) in enumerate(zip(columns_px, column_lines, strict=True)):
            if header_lines:
                self._annotation(left, lines[:header_lines], size, True, "black", "left")
                self.y_px += header_lines * size * _LINE_EM
                self._annotation(left, lines[header_lines:], size, k in bold_columns, "black", "left")
                self.y_px -= header_lines * size * _LINE_EM
            else:
                self._annotation(left, lines, size, k in bold_columns, "black", "left")
        self.y_px += len(column_lines[0]) * size * _LINE_EM

    def section(self, section: Section, *, label_px: float, pairs_per_line: int = 1, size: float = 9.5) -> None:
        """A titled section of label/value rows, ``pairs_per_line`` pairs side by side."""
        self.text(_MARGIN_PX, section.title, size=12, bold=True)
        self.y_px += 2
        pair_px = (PAGE_WIDTH_PX - 2 * _MARGIN_PX) / pairs_per_line
        columns = [
            column
            for k in range(pairs_per_line)
            for column in (
                (_MARGIN_PX + k * pair_px, label_px),
                (_MARGIN_PX + k * pair_px + label_px, pair_px - label_px),
            )
        ]
        cells = [cell for row in section.rows for cell in row]
        cells += [""] * (-len(cells) % len(columns))
        rows = [cells[k : k + len(columns)] for k in range(0, len(cells), len(columns))]
        self.table(rows, columns, size=size, bold_columns=range(0, len(columns), 2))

    def rule(self) -> None:
        y = 1 - (self.y_px + 4) / PAGE_HEIGHT_PX
        self.shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "yref": "paper",
                "x0": _MARGIN_PX / PAGE_WIDTH_PX,
                "x1": 1 - _MARGIN_PX / PAGE_WIDTH_PX,
                "y0": y,
                "y1": y,
                "line": {"color": "black", "width": 1},
            }
        )
        self.y_px += 10

    def box(self, height_px: float) -> tuple[float, float]:
        """Reserve ``height_px`` for charts: the (bottom, top) of the band in paper coordinates."""
        top = 1 - self.y_px / PAGE_HEIGHT_PX
        self.y_px += height_px
        return (1 - self.y_px / PAGE_HEIGHT_PX, top)


def report_figure(
    document: Mapping[str, Any], *, tables: Sequence[ReferenceTable], pixels: np.ndarray | None = None
) -> go.Figure:
    """The report page as one A4 Plotly figure (what :func:`report_pdf` prints)."""
    content = report_content(document)
    page = _Page()
    page.text(_MARGIN_PX, TITLE, size=20, bold=True, advance=False)
    page.text(
        PAGE_WIDTH_PX - _MARGIN_PX,
        "RESEARCH USE ONLY: not validated clinically",
        size=10,
        bold=True,
        align="right",
        advance=False,
    )
    page.y_px += 28
    page.text(_MARGIN_PX, SUBTITLE, size=10, colour="#333333")
    page.rule()
    page.section(content.identity, label_px=80, pairs_per_line=2)
    page.y_px += 2
    page.text(_MARGIN_PX, "   ".join(content.identifiers), size=7, colour="#444444")
    page.rule()
    page.text(_MARGIN_PX, content.headline, size=16, bold=True)
    page.y_px += 4
    page.section(content.results, label_px=95)
    page.y_px += 8
    table = _curve_table(document, tables)
    # Empty default axes would otherwise be drawn under a page without charts.
    layout: dict[str, Any] = {"xaxis": {"visible": False}, "yaxis": {"visible": False}}
    if table is not None or pixels is not None:
        bottom, top = page.box(380)
        page.y_px += 8
    if table is not None:
        curve_axes = Axes("x", "y")
        layout.update(draw_reference_curve(page.fig, table, document, curve_axes))
        layout[curve_axes.layout_keys[0]]["domain"] = [(_MARGIN_PX + 50) / PAGE_WIDTH_PX, 0.58]
        layout[curve_axes.layout_keys[1]]["domain"] = [bottom + 0.04, top]
        layout["legend"] = {
            "x": 0.58,
            "xanchor": "right",
            "y": top,
            "yanchor": "top",
            "font": {"size": 8},
            "bgcolor": "rgba(255,255,255,0.8)",
        }
    if pixels is not None:
        image_axes = Axes("x2", "y2")
        layout.update(draw_radiograph(page.fig, pixels, document, image_axes, max_side_px=560))
        layout[image_axes.layout_keys[0]]["domain"] = [0.62, 1 - _MARGIN_PX / PAGE_WIDTH_PX] if table else [0.25, 0.75]
        layout[image_axes.layout_keys[1]]["domain"] = [bottom, top]
    if content.bone_rows:
        page.text(_MARGIN_PX, "Per bone (mid-shaft region, 35-65 % of the bone's length)", size=12, bold=True)
        page.y_px += 2
        narrow_px = (PAGE_WIDTH_PX - 2 * _MARGIN_PX - 200) / (len(content.bone_columns) - 2)
        columns = [(_MARGIN_PX, 90.0), (_MARGIN_PX + 90, 110.0)]
        columns += [(_MARGIN_PX + 200 + k * narrow_px, narrow_px) for k in range(len(content.bone_columns) - 2)]
        page.table([content.bone_columns, *content.bone_rows], columns, size=9, bold_first_row=True)
    page.rule()
    page.text(_MARGIN_PX, content.footer, size=7.5, colour="#222222")
    height = max(PAGE_HEIGHT_PX, page.y_px + _MARGIN_PX)  # an unusually long report grows the page, never clips
    page.fig.update_layout(
        **layout,
        annotations=[*page.fig.layout.annotations, *page.annotations],  # keep the charts' own labels
        shapes=page.shapes,
        width=PAGE_WIDTH_PX,
        height=height,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        template="simple_white",
        font={"family": FONT, "size": 9},
        showlegend=table is not None,
    )
    return page.fig


class RenderError(RuntimeError):
    """Chromium, which renders the report and the annotated image, is missing or stopped answering."""


RENDER_TIMEOUT_S = 60.0
# Set once a render timed out: kaleido's server pairs requests and answers in order, so after a lost answer a
# later call could receive an earlier figure. Rendering stays off until the process restarts.
_stalled: list[str] = []


@cache
def _start_kaleido() -> None:
    # One persistent Chromium per process: the first render pays its start, the following ones do not. kaleido's
    # server thread dies silently when it finds no browser, and every call would then wait forever: look for the
    # browser first (constructing Kaleido only locates it).
    try:
        kaleido.Kaleido(mathjax=False)
    except ChromeNotFoundError as error:
        raise RenderError(f"no Chromium to render with ({error}); on Debian: apt-get install chromium") from None
    kaleido.start_sync_server(mathjax=False, silence_warnings=True)


def render(fig: go.Figure, format: str) -> bytes:
    """The figure as PDF/PNG/SVG bytes at its layout size, through the process's kaleido server.

    Raises
    ------
    RenderError
        No browser, or no answer within :data:`RENDER_TIMEOUT_S`.
    """
    if _stalled:
        raise RenderError(_stalled[0])
    _start_kaleido()
    options = {"format": format, "width": fig.layout.width, "height": fig.layout.height}
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["bytes"] = kaleido.calc_fig_sync(fig, opts=options)
        except Exception as error:
            outcome["error"] = error

    worker = threading.Thread(target=call, name="kaleido render", daemon=True)
    worker.start()
    worker.join(RENDER_TIMEOUT_S)
    if worker.is_alive():
        _stalled.append(f"Chromium gave no answer within {RENDER_TIMEOUT_S:.0f} s; restart to render again")
        raise RenderError(_stalled[0])
    if "error" in outcome:
        raise outcome["error"]
    return outcome["bytes"]


def report_pdf(
    document: Mapping[str, Any], *, tables: Sequence[ReferenceTable], pixels: np.ndarray | None = None
) -> bytes:
    """The report as a one-page PDF (A4, text selectable)."""
    return render(report_figure(document, tables=tables, pixels=pixels), "pdf")


def annotated_image(document: Mapping[str, Any], pixels: np.ndarray, *, height_px: int = 1600) -> np.ndarray:
    """The whole radiograph with the measured regions drawn on it and the result in its top line, as RGB
    (rows, columns, 3) uint8: the image a PACS viewer shows (Secondary Capture)."""
    # At least 0.62 x the height wide, so the headline fits above a very tall image.
    fig = radiograph_figure(
        pixels, document, crop_to_bones=False, height_px=height_px, min_width_px=round(0.62 * height_px)
    )
    fig.add_annotation(
        x=0.01,
        y=0.99,
        xref="paper",
        yref="paper",
        xanchor="left",
        yanchor="top",
        showarrow=False,
        align="left",
        text=f"<b>{html.escape(report_content(document).headline)}</b><br>{html.escape(TITLE)}, research use only",
        font={"size": max(12, height_px // 60), "color": "white", "family": FONT},
        bgcolor="rgba(0,0,0,0.7)",
    )
    return np.asarray(Image.open(io.BytesIO(render(fig, "png"))).convert("RGB"))
