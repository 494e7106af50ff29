"""DICOM outputs (SR, SC, encapsulated PDF) of the phantom hand, read back with highdicom and checked with dicom3tools
and dcmtk."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.sr.codedict import codes

from dxr.serving.dicom_outputs import (
    CODES,
    MANUFACTURER,
    annotated_capture,
    encapsulated_report,
    measurement_report,
    write_dicom_outputs,
)
from dxr.serving.pipeline import AnalysisRequest, Pipeline
from tests.dicom_factory import dx_dataset

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOOLS = Path("/usr/bin")
# 51 bytes: odd, so the encapsulated copy carries one padding byte.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
PATIENT_AND_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)


@pytest.fixture(scope="module")
def analysed() -> tuple[dict, pydicom.Dataset]:
    """The phantom's result document (a woman of 64 y: T- and Z-score present) and its DICOM header."""
    document = (
        Pipeline.load()
        .analyze(EXAMPLES / "phantom_hand.dcm", EXAMPLES / "phantom_hand_labels.png", AnalysisRequest())
        .document
    )
    assert document["status"] == "ok"
    return document, pydicom.dcmread(EXAMPLES / "phantom_hand.dcm", stop_before_pixels=True)


@pytest.fixture(scope="module")
def rgb(analysed) -> np.ndarray:
    _, source = analysed
    rows, columns = np.indices((source.Rows, source.Columns))
    return np.stack([rows % 256, columns % 256, (rows + columns) % 256], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def written(analysed, rgb, tmp_path_factory) -> dict[str, Path]:
    document, source = analysed
    paths = write_dicom_outputs(document, source, tmp_path_factory.mktemp("dicom"), "hand", rgb=rgb, pdf=PDF)
    assert [path.name for path in paths] == ["hand_sr.dcm", "hand_sc.dcm", "hand_report_pdf.dcm"]
    return dict(zip(("sr", "sc", "pdf"), paths, strict=True))


def _number(measurement: hd.sr.Measurement) -> tuple[float, float]:
    """The measurement's FloatingPointValue (via highdicom) and its DS text, both as floats."""
    return measurement.value, float(measurement[0].MeasuredValueSequence[0].NumericValue)


def _item_value(measurement: hd.sr.Measurement, name: pydicom.sr.coding.Code) -> object:
    """The value of the one content item called ``name`` directly under the measurement."""
    (item,) = hd.sr.utils.find_content_items(measurement[0], name=name)
    return item.value


def test_sr_carries_every_number_of_the_document_exactly(analysed, written):
    document, source = analysed
    report = hd.sr.srread(written["sr"])
    assert isinstance(report, hd.sr.ComprehensiveSR)
    assert report.ConceptNameCodeSequence[0].CodeValue == "126000"
    assert [item.CodingSchemeDesignator for item in report.CodingSchemeIdentificationSequence] == ["99DXR"]
    groups = {
        group.tracking_identifier.split()[1]: group for group in report.content.get_planar_roi_measurement_groups()
    }
    assert sorted(groups) == ["II", "III", "IV"]
    fields = {
        "width_mm": "width",
        "cortical_thickness_mm": "cortical_thickness",
        "length_mm": "length",
        "vpa_mm": "vpa",
        "bmd_g_cm2": "bmd",
        "n_profiles": "profiles",
    }
    for bone in document["bones"]:
        group = groups[bone["name"]]
        (site,) = group.finding_sites
        assert site.value == CODES["metacarpal"]
        assert site.laterality == codes.SCT.Right == CODES[f"laterality:{document['image']['laterality']}"]
        for field, concept in fields.items():
            (measurement,) = group.get_measurements(name=CODES[concept])
            value = bone[field]
            assert _number(measurement) == (value, value), field
            assert _item_value(measurement, codes.DCM.AlgorithmName) == "dxr-bmd"
            assert _item_value(measurement, codes.DCM.AlgorithmVersion) == document["software"]["version"]
        # SCOORD image coordinates put the centre of the top-left pixel at (0.5, 0.5); the polyline is closed.
        region = group.roi
        assert region.GraphicType == "POLYLINE"
        expected = np.array([*bone["roi_px"], bone["roi_px"][0]]) + 0.5
        np.testing.assert_allclose(region.value, expected, atol=1e-3)
        assert region.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID

    (hand,) = report.content.get_image_measurement_groups()
    assert hand.finding_sites[0].value == CODES["hand"]
    assert hand.source_images[0].referenced_sop_instance_uid == source.SOPInstanceUID
    t_score, z_score = document["t_score"], document["z_score"]
    expected = {
        "bmd": document["dxr_bmd_g_cm2"],
        "bhi": document["bhi"],
        "mci": document["mci"],
        "t_score": t_score["value"],
        "z_score": z_score["value"],
    }
    for concept, value in expected.items():
        (measurement,) = hand.get_measurements(name=CODES[concept])
        assert _number(measurement) == (value, value), concept
    populations = {
        "t_score": (t_score["young_adult_mean_g_cm2"], t_score["young_adult_sd_g_cm2"], "t_score_table"),
        "z_score": (z_score["age_matched_mean_g_cm2"], z_score["age_matched_sd_g_cm2"], "z_score_table"),
    }
    populations["bmd"] = populations["t_score"]  # the T-score is primary for this 64-year-old woman
    for concept, (mean, sd, table_key) in populations.items():
        (measurement,) = hand.get_measurements(name=CODES[concept])
        assert _item_value(measurement, CODES["population_mean"]) == mean
        assert _item_value(measurement, CODES["population_sd"]) == sd
        table = document["reference"][table_key]
        description = _item_value(measurement, codes.DCM.PopulationDescription)
        assert table["population"] in description
        assert f"{table['id']} {table['version']}" in description
        assert _item_value(measurement, codes.DCM.ReferenceAuthority) == "; ".join(table["sources"])
    (category,) = hand.get_qualitative_evaluations(name=CODES["category"])
    assert category.value == CODES[f"category:{document['category']['code']}"]


def _dciodvfy(path: Path) -> list[str]:
    """dciodvfy's findings (it writes them to stderr); the first line is the IOD's name."""
    result = subprocess.run([TOOLS / "dciodvfy", path], capture_output=True, text=True, check=False)
    return [line for line in result.stderr.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize("kind", ["sr", "sc", "pdf"])
def test_objects_pass_dciodvfy_and_dcmtk(written, kind):
    findings = _dciodvfy(written[kind])
    assert not [line for line in findings if line.startswith("Error")], findings
    # The only warning left: dciodvfy knows no private coding scheme (99DXR is declared in the SR's
    # CodingSchemeIdentificationSequence of the SOP Common module).
    assert all("Unrecognized defined term <99DXR>" in line for line in findings), findings
    tools = [["dcmdump", written[kind]]] + ([["dsr2xml", written[kind]]] if kind == "sr" else [])
    for tool, *arguments in tools:
        result = subprocess.run([TOOLS / tool, *arguments], capture_output=True, check=False)
        assert result.returncode == 0, (tool, result.stderr)


def test_patient_study_series_and_equipment(analysed, written):
    document, source = analysed
    datasets = {kind: pydicom.dcmread(path) for kind, path in written.items()}
    for kind, dataset in datasets.items():
        for keyword in PATIENT_AND_STUDY:
            assert str(dataset.get(keyword, "")) == str(source.get(keyword, "")), (kind, keyword)
        assert dataset.SeriesInstanceUID != source.SeriesInstanceUID
        assert "DXR-BMD" in dataset.SeriesDescription
        assert dataset.Manufacturer == MANUFACTURER
        assert dataset.SoftwareVersions == document["software"]["version"]
        ours = [item for item in dataset.ContributingEquipmentSequence if item.Manufacturer == MANUFACTURER]
        assert len(ours) == 1, kind
        assert ours[0].ManufacturerModelName == "dxr-bmd"
        assert ours[0].SoftwareVersions == document["software"]["version"]
        purpose = ours[0].PurposeOfReferenceCodeSequence[0]
        assert (purpose.CodeValue, purpose.CodingSchemeDesignator) == ("109102", "DCM")
    assert len({dataset.SeriesInstanceUID for dataset in datasets.values()}) == 3
    assert [datasets[kind].SeriesNumber for kind in ("sr", "sc", "pdf")] == [9701, 9702, 9703]


def test_encapsulated_pdf_gives_back_the_report(analysed, written):
    document, source = analysed
    dataset = pydicom.dcmread(written["pdf"])
    assert dataset.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    assert dataset.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert dataset.BurnedInAnnotation == "YES"
    assert dataset.DocumentTitle
    assert dataset.ConceptNameCodeSequence[0].CodeValue == "18748-4"
    stored = dataset.EncapsulatedDocument
    assert len(PDF) % 2 == 1
    assert len(stored) == len(PDF) + 1
    assert stored[: len(PDF)] == PDF
    assert stored[-1:] == b"\0"
    assert dataset.EncapsulatedDocumentLength == len(PDF)
    even = PDF + b"\n"
    assert encapsulated_report(document, source, even).EncapsulatedDocument == even


def test_secondary_capture_holds_the_rendering(written, rgb):
    dataset = pydicom.dcmread(written["sc"])
    assert dataset.file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    np.testing.assert_array_equal(dataset.pixel_array, rgb)  # lossless
    assert dataset.BurnedInAnnotation == "YES"
    assert dataset.SeriesDescription == "DXR-BMD annotated radiograph"
    assert dataset.PixelSpacing == [0.2, 0.2]  # same grid as the source


def test_refusals(analysed, rgb, tmp_path):
    document, source = analysed
    rejected = {**copy.deepcopy(document), "status": "rejected"}
    with pytest.raises(ValueError, match="status 'rejected'"):
        measurement_report(rejected, source)
    # A rejected image still gets its capture and report, but no SR.
    paths = write_dicom_outputs(rejected, source, tmp_path, "hand", rgb=rgb[:40, :30], pdf=PDF)
    assert [path.name for path in paths] == ["hand_sc.dcm", "hand_report_pdf.dcm"]
    for bad in (rgb.astype(np.float32), rgb[..., 0], rgb[..., :2], rgb[:0], rgb.tolist()):
        with pytest.raises(ValueError, match="rgb"):
            annotated_capture(document, source, bad)
    for bad_pdf in (b"", b"not a pdf"):
        with pytest.raises(ValueError, match="pdf"):
            encapsulated_report(document, source, bad_pdf)
    other = dx_dataset()
    with pytest.raises(ValueError, match="SOP instance"):
        encapsulated_report(document, other, PDF)


def test_a_sparse_header_and_withheld_scores_still_give_valid_objects(analysed, rgb, tmp_path):
    """A header without accession number, study time, referring physician and study ID (Type 2: left empty), a hand
    of unknown side and no scores (sex unknown): SR without scores or population, SC without laterality."""
    document, _ = analysed
    header = dx_dataset()
    document = {
        **document,
        "image": {**document["image"], "sop_instance_uid": header.SOPInstanceUID, "laterality": None},
        **dict.fromkeys(("t_score", "z_score", "category", "reference")),
    }
    paths = write_dicom_outputs(document, header, tmp_path, "sparse", rgb=rgb[:96, :80], pdf=PDF)
    assert len(paths) == 3
    for path in paths:
        assert not [line for line in _dciodvfy(path) if line.startswith("Error")], path.name
        dataset = pydicom.dcmread(path)
        assert dataset.PatientID == header.PatientID
        assert dataset.AccessionNumber == ""
    (hand,) = hd.sr.srread(paths[0]).content.get_image_measurement_groups()
    assert [m.name for m in hand.get_measurements()] == [CODES["bmd"], CODES["bhi"], CODES["mci"]]
    assert not hd.sr.utils.find_content_items(hand[0], name=CODES["population_mean"], recursive=True)
    assert hand.finding_sites[0].laterality is None
    assert pydicom.dcmread(paths[1]).Laterality == ""


def test_bmd_carries_the_population_of_the_primary_score(analysed, tmp_path):
    """Under 50 y the Z-score is primary (docs/scores.md): the BMD is then read against the age-matched values."""
    document, source = analysed
    document = copy.deepcopy(document)
    document["t_score"]["primary"], document["z_score"]["primary"] = False, True
    (path,) = write_dicom_outputs(document, source, tmp_path, "young", rgb=None, pdf=None)
    (hand,) = hd.sr.srread(path).content.get_image_measurement_groups()
    (bmd,) = hand.get_measurements(name=CODES["bmd"])
    assert _item_value(bmd, CODES["population_mean"]) == document["z_score"]["age_matched_mean_g_cm2"]


def test_malformed_vendor_header_values_are_not_copied(analysed, rgb, tmp_path):
    """A vendor header whose (optional) referring-physician identification has a code without scheme or meaning
    and no institution, as a real DX in our evaluation set has, and values that break their VR: the derived
    objects stay valid without them."""
    document, _ = analysed
    # pydicom agrees that these values are invalid.
    with pytest.warns(UserWarning, match="Invalid value"):
        header = dx_dataset(PatientBirthDate="1952", PatientSex="Q", StudyDate="20171345", PatientAge="0XXY")
    with pytest.warns(UserWarning, match="exceeds the maximum"):
        header.PatientName = "X" * 70 + "^JANE"
    code = pydicom.Dataset()
    code.CodeValue = "1750631149TOC"
    person = pydicom.Dataset()
    person.PersonIdentificationCodeSequence = [code]
    header.ReferringPhysicianIdentificationSequence = [person]
    document = {**document, "image": {**document["image"], "sop_instance_uid": header.SOPInstanceUID}}
    paths = write_dicom_outputs(document, header, tmp_path, "vendor", rgb=rgb[:96, :80], pdf=PDF)
    for path in paths:
        assert not [line for line in _dciodvfy(path) if line.startswith("Error")], path.name
        derived = pydicom.dcmread(path)
        assert "ReferringPhysicianIdentificationSequence" not in derived
        assert (derived.PatientBirthDate, derived.PatientSex, derived.StudyDate, derived.PatientName) == ("",) * 4
        assert derived.PatientID == header.PatientID  # valid values are copied as they are
