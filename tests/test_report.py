"""The physician report: PDF (rendered by kaleido's Chromium, read back with poppler), HTML and the annotated image."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dxr.analysis.intake import IntakeErrorCode
from dxr.analysis.quality import ReasonCode
from dxr.serving.charts import reference_curve_figure
from dxr.serving.cli import main
from dxr.serving.pipeline import AnalysisRequest, AnalysisResult, Pipeline
from dxr.serving.report import (
    PERIPHERAL_STATEMENT,
    RESEARCH_USE_STATEMENT,
    RETAKE_ADVICE,
    annotated_image,
    report_content,
    report_html,
    report_pdf,
)
from dxr.serving.results import prior_result_from_document

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
IMAGE, LABELS = EXAMPLES / "phantom_hand.dcm", EXAMPLES / "phantom_hand_labels.png"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline.load()


@pytest.fixture(scope="module")
def measured(pipeline: Pipeline) -> AnalysisResult:
    """The phantom (a woman of 64 y) measured with its label map, with an earlier result of 2014 to compare."""
    first = pipeline.analyze(IMAGE, LABELS, AnalysisRequest()).document
    prior = dict(first, image={**first["image"], "acquisition_date": "2014-05-01"}, dxr_bmd_g_cm2=0.561)
    result = pipeline.analyze(IMAGE, LABELS, AnalysisRequest(priors=(prior_result_from_document(prior),)))
    assert result.document["status"] == "ok"
    return result


@pytest.fixture(scope="module")
def rejected(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    """The phantom with only metacarpal II in its label map: too few bones, so no DXR-BMD."""
    labels = np.asarray(Image.open(LABELS)).copy()
    labels[~np.isin(labels, (0, 1, 4))] = 0
    path = tmp_path_factory.mktemp("rejected") / "only_ii_labels.png"
    Image.fromarray(labels).save(path)
    result = pipeline.analyze(IMAGE, path, AnalysisRequest())
    assert result.document["status"] == "rejected"
    return result


def pdf_text(pdf: bytes, tmp_path: Path) -> tuple[int, str]:
    """(pages, text with whitespace runs folded to one space) of a PDF, read by poppler."""
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return pages, " ".join(text.split())


def signed(value: float) -> str:
    return f"{value:+.1f}".replace("-", "−")


def test_pdf_of_a_measured_hand_is_one_page_with_the_key_numbers(measured, pipeline, tmp_path):
    document = measured.document
    pdf = report_pdf(document, tables=pipeline.tables, pixels=measured.radiograph.pixels)
    pages, text = pdf_text(pdf, tmp_path)
    assert pages == 1
    expected = [
        "PHANTOM, PH11-00000",
        document["patient"]["id"],
        document["patient"]["birth_date"],
        document["study"]["date"],
        f"DXR-BMD {document['dxr_bmd_g_cm2']:.3f} g/cm²",
        f"T-score {signed(document['t_score']['reported'])}",
        f"Z-score {signed(document['z_score']['reported'])}",
        document["category"]["label"],
        document["triage"]["advice"],
        document["fracture_risk"]["statement"],
        f"BHI {document['bhi']:.2f}",
        f"metacarpal index {document['mci']:.3f}",
        document["cpt_code"]["code"],
        "since 2014-05-01",
        document["reference"]["t_score_table"]["id"],
        document["calibration"]["id"],
        f"Software dxr-bmd {document['software']['version']}",
        "not reviewed by a physician",
        PERIPHERAL_STATEMENT,
        RESEARCH_USE_STATEMENT,
        document["image"]["sop_instance_uid"],
    ]
    expected += [f"{bone['width_mm']:.2f}" for bone in document["bones"]]
    expected += [f"{bone['cortical_thickness_mm']:.2f}" for bone in document["bones"]]
    expected += [f"{bone['bmd_g_cm2']:.3f}" for bone in document["bones"]]
    missing = [item for item in expected if " ".join(item.split()) not in text]
    assert not missing, missing
    (change,) = document["change_since_prior"]["comparisons"]
    verdict = f"significant {change['direction']}" if change["significant"] else "not significant"
    assert verdict in text


def test_rejected_image_report_says_what_why_and_what_to_do(rejected, pipeline, tmp_path):
    document = rejected.document
    pages, text = pdf_text(report_pdf(document, tables=pipeline.tables, pixels=rejected.radiograph.pixels), tmp_path)
    assert pages == 1
    assert "Image rejected: no DXR-BMD" in text
    assert "[too_few_bones]" in text
    assert "[bone_not_found]" in text  # the per-bone reasons behind it
    assert " ".join(RETAKE_ADVICE["too_few_bones"].split()) in text
    assert "T-score" not in text  # no score for an image without a result
    assert "PHANTOM, PH11-00000" in text


def test_refused_file_still_gets_a_report(pipeline, tmp_path):
    junk = tmp_path / "notes.dcm"
    junk.write_text("not an image")
    result = pipeline.analyze(junk, None, AnalysisRequest())
    assert result.radiograph is None
    pages, text = pdf_text(report_pdf(result.document, tables=pipeline.tables), tmp_path)
    assert pages == 1
    assert "[not_dicom]" in text
    assert " ".join(RETAKE_ADVICE["not_dicom"].split()) in text


def test_html_is_self_contained_with_both_charts(measured, pipeline):
    document = measured.document
    page = report_html(document, tables=pipeline.tables, pixels=measured.radiograph.pixels)
    assert page.count("Plotly.newPlot(") == 2  # reference curve and annotated radiograph
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inline: works offline
    assert "this result" in page
    assert "earlier results" in page  # the prior is on the curve
    assert f"{document['dxr_bmd_g_cm2']:.3f} g/cm²" in page
    # The radiograph travels inside the page (Plotly's JSON writes "/" as \u002f).
    assert "data:image\\u002fjpeg;base64," in page


def test_annotated_image_shows_the_whole_radiograph_with_the_regions(measured):
    document, pixels = measured.document, measured.radiograph.pixels
    rgb = annotated_image(document, pixels, height_px=800)
    assert rgb.dtype == np.uint8
    assert rgb.shape[0] == 800
    assert rgb.shape[2] == 3
    assert rgb.shape[1] == pytest.approx(800 * pixels.shape[1] / pixels.shape[0], abs=2)

    def overlay_pixels(image: np.ndarray) -> int:  # the yellow of the regions of interest
        red, green, blue = (image[..., k].astype(int) for k in range(3))
        return int(np.count_nonzero((red > 200) & (green > 170) & (blue < 90)))

    assert overlay_pixels(rgb) > 200
    assert overlay_pixels(annotated_image(dict(document, bones=[]), pixels, height_px=800)) == 0


def test_cli_writes_reports_and_dicom_beside_the_json(tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["analyze", str(IMAGE), "--masks", str(LABELS), "--out", str(out), "--report", "pdf,html,dicom"])
    assert status == 0
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(
        f"phantom_hand{suffix}" for suffix in (".json", ".pdf", ".html", "_sr.dcm", "_sc.dcm", "_report_pdf.dcm")
    )
    document = json.loads((out / "phantom_hand.json").read_text())
    source = pydicom.dcmread(IMAGE, stop_before_pixels=True)
    for name in ("_sr.dcm", "_sc.dcm", "_report_pdf.dcm"):
        derived = pydicom.dcmread(out / f"phantom_hand{name}")
        assert derived.PatientID == source.PatientID == document["patient"]["id"]
        assert derived.StudyInstanceUID == source.StudyInstanceUID
        assert derived.SeriesInstanceUID != source.SeriesInstanceUID
    encapsulated = pydicom.dcmread(out / "phantom_hand_report_pdf.dcm")
    pdf = encapsulated.EncapsulatedDocument[: encapsulated.EncapsulatedDocumentLength]
    assert pdf.startswith(b"%PDF-")
    assert "+ " + str(out / "phantom_hand.pdf") in capsys.readouterr().out


def test_cli_report_options(tmp_path, capsys):
    assert main(["analyze", str(IMAGE), "--masks", str(LABELS), "--out", str(tmp_path), "--report", "pdf,docx"]) == 2
    assert "docx" in capsys.readouterr().err
    png = tmp_path / "hand.png"
    Image.fromarray((np.asarray(Image.open(LABELS)) * 40).astype(np.uint8)).save(png)
    status = main(["analyze", str(png), "--masks", str(LABELS), "--out", str(tmp_path), "--report", "dicom"])
    assert status == 1  # no spacing: rejected, and a PNG has no header to copy into DICOM objects
    assert "no DICOM outputs" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.dcm"))


@pytest.fixture(scope="module")
def man(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> AnalysisResult:
    """The phantom as a man: his T-score is read against the women's young adults (default policy)."""
    dataset = pydicom.dcmread(IMAGE)
    dataset.PatientSex = "M"
    path = tmp_path_factory.mktemp("man") / "man.dcm"
    dataset.save_as(path)
    return pipeline.analyze(path, LABELS, AnalysisRequest())


def test_t_score_line_is_drawn_at_the_t_scores_own_reference(man, pipeline):
    document = man.document
    table = next(t for t in pipeline.tables if f"{t.id} {t.version}" == document["z_score"]["table"])
    assert table.sex == "M"
    t = document["t_score"]
    assert t["young_adult_mean_g_cm2"] != table.young_adult.mean_g_cm2  # the men's curve, the women's T reference
    (line,) = [trace for trace in reference_curve_figure(table, document).data if trace.name == "T-score −2.5"]
    assert list(line.y) == pytest.approx([t["young_adult_mean_g_cm2"] - 2.5 * t["young_adult_sd_g_cm2"]] * 2)


def test_each_withheld_score_says_why(measured):
    document = dict(measured.document, **dict.fromkeys(("t_score", "z_score", "category", "triage", "fracture_risk")))
    document["score_flags"] = [
        {"code": "sex_unknown", "message": "Patient sex not recorded."},
        {"code": "derived_reference", "message": "Derived values."},
    ]
    rows = dict(report_content(document).results.rows)
    for row in ("T-score", "Z-score", "Category", "Triage", "Fracture risk"):
        assert rows[row] == "not reported: Patient sex not recorded.", row


def test_every_rejection_code_has_its_own_advice():
    codes = {code.value for code in IntakeErrorCode} | {code.value for code in ReasonCode}
    assert codes <= set(RETAKE_ADVICE), codes - set(RETAKE_ADVICE)


def test_cli_keeps_the_result_when_an_output_fails(tmp_path, capsys):
    dataset = pydicom.dcmread(IMAGE)
    del dataset.SOPInstanceUID  # readable, measurable, but no derived object can reference it
    image = tmp_path / "no_uid.dcm"
    dataset.save_as(image)
    out = tmp_path / "out"
    status = main(["analyze", str(image), "--masks", str(LABELS), "--out", str(out), "--report", "pdf,dicom"])
    assert status == 1
    assert sorted(path.name for path in out.iterdir()) == ["no_uid.json", "no_uid.pdf"]
    captured = capsys.readouterr()
    assert "DXR-BMD" in captured.out  # the result is still announced
    assert "DICOM outputs not written (ValueError: source header has no SOPInstanceUID)" in captured.err


def test_cli_refuses_an_unusable_output_directory(tmp_path, capsys):
    occupied = tmp_path / "a_file"
    occupied.write_text("")
    assert main(["analyze", str(IMAGE), "--masks", str(LABELS), "--out", str(occupied)]) == 2
    assert "cannot use --out" in capsys.readouterr().err


def test_report_says_when_it_was_generated(measured):
    moment = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    footer = " ".join(report_content(measured.document, generated=moment).footer)
    assert "Report generated 2026-03-04 03:06 UTC" in footer


def test_without_chromium_the_result_and_the_sr_are_still_written(tmp_path):
    """No browser for kaleido (as on a machine without the chromium package): a clear reason for each rendered
    output, and everything that needs no rendering (JSON, HTML, measurement SR) is still written."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "dxr.serving.cli", "analyze", str(IMAGE), "--masks", str(LABELS)]
    command += ["--out", str(out), "--report", "pdf,html,dicom"]
    environment = {**os.environ, "BROWSER_PATH": str(tmp_path / "no-chromium")}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120, check=False)
    assert finished.returncode == 1
    assert sorted(path.name for path in out.iterdir()) == [
        "phantom_hand.html",
        "phantom_hand.json",
        "phantom_hand_sr.dcm",
    ]
    assert "PDF report not written (RenderError: no Chromium to render with" in finished.stderr
    assert "Traceback" not in finished.stderr
