"""DICOM objects sent back to the PACS for one analysed hand radiograph, built with highdicom.

Three objects, each in a series of its own in the source image's study:

- a TID 1500 Measurement Report (Comprehensive SR): one planar-ROI group (TID 1410) per measured metacarpal, with
  the ROI polygon on the source image, and one image-level group (TID 1501) with the combined DXR-BMD, BHI, MCI,
  T- and Z-score (each score with its reference population) and the WHO category;
- a Secondary Capture of the annotated radiograph the caller rendered;
- an Encapsulated PDF of the physician report.

Patient and study come from the source image's header, never from the JSON document: the header is what the PACS
files them under. Codes are in one table, :data:`CODES`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.multival import MultiValue
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid
from pydicom.valuerep import validate_value

from dxr.analysis.intake import PATIENT_SEX_CODES

MANUFACTURER = "dxr-bmd project"
MODEL_NAME = "dxr-bmd"
PRIVATE_SCHEME = "99DXR"
# UTF-8 for every object: reference-table texts carry names such as "Jørgensen" that ASCII cannot hold.
CHARACTER_SET = "ISO_IR 192"


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# Every code this module writes. Standard codes are looked up by keyword in pydicom's DICOM code dictionaries
# (pydicom.sr.codedict, generated from DICOM PS3.16), so a code that is not in the standard fails at import; the
# comment names the context group (CID) that lists it. UCUM units not in that dictionary are plain UCUM syntax.
# 99DXR codes are this project's, for concepts with no code in those dictionaries (no standard code for DXR-BMD,
# VPA, MCI, BHI, T-score or cortical thickness was found; the individual metacarpals II-IV are not there either,
# only "Metacarpal", so the bone is named by the group's tracking identifier).
CODES: dict[str, Code] = {
    "title": codes.DCM.ImagingMeasurementReport,  # DCM 126000, CID 7021 Measurement Report Document Titles
    "procedure_xr": codes.LN.XRUnspecifiedBodyRegion,  # LN 43468-8, CID 100 Quantitative Diagnostic Imaging Procedures
    "procedure_dxr": _private("DXR", "Digital X-ray radiogrammetry"),
    "pdf_title": codes.LN.DiagnosticImagingReport,  # LN 18748-4, CID 7000 Diagnostic Imaging Report Document Titles
    "processing": codes.DCM.ProcessingEquipment,  # DCM 109102, CID 7005 Contributing Equipment Purposes of Reference
    "hand": codes.SCT.Hand,  # SCT 85562004, CID 4 Anatomic Regions
    "metacarpal": codes.SCT.Metacarpal,  # SCT 36455000, CID 1000/1001/1006/8134
    "laterality:L": codes.SCT.Left,  # SCT 7771000, CID 244 Laterality
    "laterality:R": codes.SCT.Right,  # SCT 24028007, CID 244 Laterality
    "mean": codes.SCT.Mean,  # SCT 373098007, CID 7464 General ROI Measurement Modifiers (derivation)
    "population_mean": codes.SCT.MeanValueOfPopulation,  # SCT 373098007, CID 226 Population Statistical Descriptors
    "population_sd": codes.DCM.StandardDeviationOfPopulation,  # DCM 121414, CID 226
    "width": codes.SCT.Width,  # SCT 103355008, CID 7469 Generic Intensity and Size Measurements
    "length": codes.SCT.Length,  # SCT 410668003, CID 7469
    "z_score": codes.DCM.ZScore,  # DCM 113071, CID 7469
    "cortical_thickness": _private("DXR-CT", "Combined cortical thickness"),
    "vpa": _private("DXR-VPA", "Volume per area"),
    "bmd": _private("DXR-BMD", "DXR-BMD"),
    "profiles": _private("DXR-NPROF", "Number of valid profiles"),
    "mci": _private("DXR-MCI", "Metacarpal index"),
    "bhi": _private("DXR-BHI", "Bone health index"),
    "t_score": _private("DXR-T", "T-score"),
    "category": _private("DXR-WHO", "WHO T-score category (DXR-based)"),
    "category:normal": _private("DXR-WHO-N", "Normal by WHO T-score criteria (DXR-based)"),
    "category:low_bone_mass": _private("DXR-WHO-LBM", "Low bone mass (osteopenia) by WHO T-score criteria (DXR)"),
    "category:osteoporosis": _private("DXR-WHO-OP", "In the osteoporosis range by WHO T-score criteria (DXR)"),
    "mm": codes.UCUM.Millimeter,  # UCUM mm
    "g/cm2": Code("g/cm2", "UCUM", "g/cm2"),
    "1": codes.UCUM.NoUnits,  # UCUM 1, unitless indices and scores
    "{profiles}": Code("{profiles}", "UCUM", "profiles"),
}

# Per bone: (document field, concept, unit).
_BONE_MEASUREMENTS = (
    ("width_mm", "width", "mm"),
    ("cortical_thickness_mm", "cortical_thickness", "mm"),
    ("length_mm", "length", "mm"),
    ("vpa_mm", "vpa", "mm"),
    ("bmd_g_cm2", "bmd", "g/cm2"),
    ("n_profiles", "profiles", "{profiles}"),
)
_BONE_ORDINALS = {"II": "second", "III": "third", "IV": "fourth"}
# Not checked value by value: sequences, binary data, and UIDs (checked as required above; never blanked).
_UNCHECKED_VRS = frozenset({"SQ", "OB", "OW", "OF", "OD", "OL", "OV", "UN", "UI"})
_PERSON_IDENTIFICATIONS = (
    "ReferringPhysicianIdentificationSequence",
    "ConsultingPhysicianIdentificationSequence",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
)
# Patient and study attributes of Type 2 in every IOD here: present, empty when the source lacks them.
_TYPE2_HEADER = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)


def measurement_report(
    document: Mapping[str, Any], source: pydicom.Dataset, *, series_number: int = 9701
) -> hd.sr.ComprehensiveSR:
    """The TID 1500 Measurement Report of an analysed radiograph.

    Comprehensive SR, not Comprehensive 3D SR: the ROIs are 2D image coordinates (SCOORD) on a projection
    radiograph without a frame of reference.

    Parameters
    ----------
    document : Mapping
        The ``dxr analyze`` result document (docs/result-format.md); its ``status`` must be ``"ok"``.
    source : pydicom.Dataset
        Header of the analysed image (``stop_before_pixels=True`` is enough).
    series_number : int
        Series Number of the new SR series.

    Returns
    -------
    highdicom.sr.ComprehensiveSR
        The report, not yet written.

    Raises
    ------
    ValueError
        When the document has no combined result (rejected) or belongs to another image.
    """
    if document.get("status") != "ok":
        raise ValueError(f"no measurement report for a document with status {document.get('status')!r}")
    source = _checked_source(document, source)
    laterality = CODES.get(f"laterality:{document['image'].get('laterality')}")
    algorithm = _algorithm(document)
    groups: list[Any] = []
    for bone in document["bones"]:
        if bone.get("status") != "ok":
            continue
        measurements = [
            _measurement(CODES[concept], bone[field], CODES[unit], algorithm)
            for field, concept, unit in _BONE_MEASUREMENTS
            if bone.get(field) is not None
        ]
        groups.append(
            hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=_tracking(f"Metacarpal {bone['name']} ({_BONE_ORDINALS[bone['name']]})"),
                referenced_region=_region(bone["roi_px"], source),
                # The group's finding site holds for every measurement in it.
                finding_sites=[hd.sr.FindingSite(CODES["metacarpal"], laterality=laterality)],
                measurements=measurements,
            )
        )
    groups.append(_image_group(document, source, laterality, algorithm))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    # A stable UID per software version: the same device reports the same way.
                    uid=generate_uid(entropy_srcs=[MODEL_NAME, _version(document)]),
                    name=MODEL_NAME,
                    manufacturer_name=MANUFACTURER,
                    model_name=MODEL_NAME,
                ),
            )
        ),
        procedure_reported=[CODES["procedure_xr"], CODES["procedure_dxr"]],
        imaging_measurements=groups,
        title=CODES["title"],
    )
    return hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report,
        is_complete=True,  # every measurement of the document is in it; not final: no physician verified it
        coding_schemes=[
            hd.coding_schemes.CodingSchemeIdentificationItem(
                designator=PRIVATE_SCHEME,
                name="DXR-BMD project private codes",
                responsible_organization=MANUFACTURER,
            )
        ],
        contributing_equipment=[_equipment(document)],
        **_series(document, series_number, "DXR-BMD measurements (SR)"),
    )


def annotated_capture(
    document: Mapping[str, Any], source: pydicom.Dataset, rgb: np.ndarray, *, series_number: int = 9702
) -> hd.sc.SCImage:
    """A Secondary Capture of the annotated radiograph.

    Parameters
    ----------
    document : Mapping
        The result document (for the software version and the laterality); any status.
    source : pydicom.Dataset
        Header of the analysed image.
    rgb : numpy.ndarray
        The annotated image, ``uint8`` of shape (rows, columns, 3).
    series_number : int
        Series Number of the new SC series.

    Returns
    -------
    highdicom.sc.SCImage
        The image, not yet written.

    Raises
    ------
    ValueError
        When ``rgb`` is not a non-empty uint8 (rows, columns, 3) array or the document belongs to another image.
    """
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
        raise ValueError(
            f"rgb must be a uint8 (rows, columns, 3) array, got {getattr(rgb, 'dtype', type(rgb))} "
            f"{getattr(rgb, 'shape', '')}"
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"rgb is empty: {rgb.shape}")
    source = _checked_source(document, source)
    # Orientation and spacing hold only for a rendering on the source's pixel grid; otherwise they are unknown and
    # stay empty (PatientOrientation is Type 2C). highdicom insists on an orientation value, so it is set afterwards.
    same_grid = rgb.shape[:2] == (source.get("Rows"), source.get("Columns"))
    orientation = list(source.get("PatientOrientation") or []) if same_grid else []
    spacing = source.get("PixelSpacing") if same_grid else None
    laterality = (document.get("image") or {}).get("laterality")
    # JPEG 2000 lossless with the reversible colour transform: the pixels exactly, at an eighth of the uncompressed
    # size (about 0.8 MB instead of 6 MB for a 1600-pixel-tall rendering). The codec needs 32 pixels a side.
    compress = min(rgb.shape[:2]) >= 32
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="YBR_RCT" if compress else "RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        patient_orientation=tuple(orientation) if len(orientation) == 2 else ("L", "F"),
        pixel_spacing=tuple(float(s) for s in spacing) if spacing else None,
        transfer_syntax_uid=JPEG2000Lossless if compress else ExplicitVRLittleEndian,
        contributing_equipment=[_equipment(document)],
        **_series(document, series_number, "DXR-BMD annotated radiograph"),
    )
    image.PatientOrientation = orientation if len(orientation) == 2 else None
    # Laterality is Type 2C, required for a paired body part: say that the part is the hand, then give the side
    # (empty when unknown).
    image.BodyPartExamined = "HAND"
    image.Laterality = laterality if laterality in ("L", "R") else None
    image.copy_patient_and_study_information(source)
    image.ConversionType = "WSD"  # rendered on this workstation, not digitised from a video or film interface
    image.BurnedInAnnotation = "YES"  # measurements and their ROIs are drawn into the pixels
    image.DerivationDescription = "Source radiograph with the DXR-BMD regions of interest and results drawn in"
    image.SourceImageSequence = [_reference(source)]
    return image


def encapsulated_report(
    document: Mapping[str, Any], source: pydicom.Dataset, pdf: bytes, *, series_number: int = 9703
) -> pydicom.Dataset:
    """An Encapsulated PDF (Encapsulated PDF Storage) of the physician report.

    highdicom has no class for this IOD, so its SOP class base builds the common modules (patient, study,
    series, equipment, SOP common, file meta) and the Encapsulated Document module is added here.

    Parameters
    ----------
    document : Mapping
        The result document (for the software version); any status.
    source : pydicom.Dataset
        Header of the analysed image.
    pdf : bytes
        The report, a PDF file's bytes.
    series_number : int
        Series Number of the new series.

    Returns
    -------
    pydicom.Dataset
        The object (a :class:`highdicom.SOPClass`), not yet written.

    Raises
    ------
    ValueError
        When ``pdf`` is empty or not a PDF, or the document belongs to another image.
    """
    if not isinstance(pdf, bytes | bytearray) or not pdf.startswith(b"%PDF-"):
        raise ValueError("pdf must be the non-empty bytes of a PDF file (starting with %PDF-)")
    source = _checked_source(document, source)
    report = hd.SOPClass(
        study_instance_uid=source.StudyInstanceUID,
        sop_class_uid=EncapsulatedPDFStorage,
        modality="DOC",  # Encapsulated Document Series
        transfer_syntax_uid=ExplicitVRLittleEndian,
        **_series(document, series_number, "DXR-BMD report (PDF)"),
    )
    report.copy_patient_and_study_information(source)
    report.ConversionType = "WSD"  # SC Equipment: produced on a workstation, not converted from paper or film
    report.AcquisitionDateTime = None
    report.BurnedInAnnotation = "YES"  # the document names the patient
    report.SourceInstanceSequence = [_reference(source)]
    report.DocumentTitle = "DXR-BMD report"
    report.ConceptNameCodeSequence = [hd.sr.CodedConcept.from_code(CODES["pdf_title"])]
    report.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB values have even length: an odd PDF gets one NUL byte, and the length attribute says where the PDF ends.
    report.EncapsulatedDocument = bytes(pdf) + b"\0" * (len(pdf) % 2)
    report.EncapsulatedDocumentLength = len(pdf)
    report.ContributingEquipmentSequence = [_equipment(document), hd.ContributingEquipment.for_highdicom()]
    return report


def write_dicom_outputs(
    document: Mapping[str, Any],
    source: pydicom.Dataset,
    out_dir: Path,
    stem: str,
    *,
    rgb: np.ndarray | None,
    pdf: bytes | None,
) -> list[Path]:
    """Write the objects that apply: ``<stem>_sr.dcm`` (status ok), ``<stem>_sc.dcm`` (rgb), ``<stem>_report_pdf.dcm``.

    Every object is built before the first file is written, so a bad input leaves no partial set behind.

    Parameters
    ----------
    document : Mapping
        The result document.
    source : pydicom.Dataset
        Header of the analysed image.
    out_dir : Path
        Directory for the files (created when missing).
    stem : str
        File name stem.
    rgb : numpy.ndarray or None
        Annotated image for the Secondary Capture, or None for none.
    pdf : bytes or None
        Physician report for the Encapsulated PDF, or None for none.

    Returns
    -------
    list of Path
        The files written, in the order SR, SC, PDF.
    """
    objects: list[tuple[str, pydicom.Dataset]] = []
    if document.get("status") == "ok":
        objects.append(("sr", measurement_report(document, source)))
    if rgb is not None:
        objects.append(("sc", annotated_capture(document, source, rgb)))
    if pdf is not None:
        objects.append(("report_pdf", encapsulated_report(document, source, pdf)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, dataset in objects:
        path = out_dir / f"{stem}_{suffix}.dcm"
        dataset.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _checked_source(document: Mapping[str, Any], source: pydicom.Dataset) -> pydicom.Dataset:
    """A copy of the source header with empty Type 2 patient/study attributes where it has none.

    highdicom reads those attributes unconditionally; the document must describe this very image, or the
    measurements would be filed against another one.
    """
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"):
        if not source.get(keyword):
            raise ValueError(f"source header has no {keyword}")
    documented = (document.get("image") or {}).get("sop_instance_uid")
    if documented and documented != source.SOPInstanceUID:
        raise ValueError(f"document is for SOP instance {documented}, source header is {source.SOPInstanceUID}")
    source = copy.deepcopy(source)
    for keyword in _TYPE2_HEADER:
        if keyword not in source:
            setattr(source, keyword, None)
    # Values that break their VR (a birth date "1952", an age "0XXY", a 70-character name) would be copied into every
    # derived object and make it invalid, or stop highdicom: they are left empty, as a conformant reader ignores them.
    for element in source:
        if element.VR in _UNCHECKED_VRS or element.value in (None, "", b""):
            continue
        values = element.value if isinstance(element.value, MultiValue) else [element.value]
        # As text: the validator checks the DS/IS/PN string form, not pydicom's number and name types.
        as_text = element.VR in ("DS", "IS", "PN")
        try:
            for value in values:
                validate_value(element.VR, str(value) if as_text else value, pydicom.config.RAISE)
        except ValueError:
            element.value = None
    if source.get("PatientSex") not in (None, "", *PATIENT_SEX_CODES):
        source.PatientSex = None
    # Optional (Type 3) person identifications that vendors fill incompletely (a code without scheme or meaning,
    # no institution) would make every derived object invalid: drop them rather than copy the error.
    for keyword in _PERSON_IDENTIFICATIONS:
        if keyword in source and not all(_complete_person_identification(item) for item in source[keyword].value):
            del source[keyword]
    return source


def _complete_person_identification(item: pydicom.Dataset) -> bool:
    """A Person Identification Macro item with complete codes and the institution it requires."""
    codes_complete = all(
        code.get("CodeValue") and code.get("CodingSchemeDesignator") and code.get("CodeMeaning")
        for code in item.get("PersonIdentificationCodeSequence", [])
    )
    has_codes = bool(item.get("PersonIdentificationCodeSequence"))
    return has_codes and codes_complete and bool(item.get("InstitutionName") or item.get("InstitutionCodeSequence"))


def _version(document: Mapping[str, Any]) -> str:
    version = (document.get("software") or {}).get("version")
    if not version:
        raise ValueError("document has no software.version")
    return str(version)


def _series(document: Mapping[str, Any], series_number: int, description: str) -> dict[str, Any]:
    """Constructor arguments every object shares: a new series and instance, and this software as manufacturer."""
    return {
        "series_instance_uid": generate_uid(),
        "series_number": series_number,
        "sop_instance_uid": generate_uid(),
        "instance_number": 1,
        "series_description": description,
        "manufacturer": MANUFACTURER,
        "manufacturer_model_name": MODEL_NAME,
        "software_versions": _version(document),
        "specific_character_set": CHARACTER_SET,
    }


def _equipment(document: Mapping[str, Any]) -> hd.ContributingEquipment:
    return hd.ContributingEquipment(
        manufacturer=MANUFACTURER,
        purpose_of_reference=CODES["processing"],
        manufacturer_model_name=MODEL_NAME,
        software_versions=_version(document),
        contribution_description="Digital X-ray radiogrammetry (DXR-BMD) of the source radiograph",
    )


def _reference(source: pydicom.Dataset) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    return item


def _tracking(identifier: str) -> hd.sr.TrackingIdentifier:
    return hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=identifier)


def _algorithm(document: Mapping[str, Any]) -> hd.sr.AlgorithmIdentification:
    parameters = []
    if model := document.get("model"):
        parameters.append(f"segmentation model {model.get('name')} {model.get('version')} sha256:{model.get('sha256')}")
    if calibration := document.get("calibration"):
        parameters.append(f"calibration {calibration.get('id')} {calibration.get('version')}")
    return hd.sr.AlgorithmIdentification(name=MODEL_NAME, version=_version(document), parameters=parameters or None)


def _region(roi_px: list[list[float]], source: pydicom.Dataset) -> hd.sr.ImageRegion:
    """The ROI polygon in SCOORD image coordinates.

    The document's pixel positions have their origin at the centre of the top-left pixel; DICOM image coordinates
    (and highdicom's) at its top-left corner, so the centre of that pixel is (0.5, 0.5). A 2D SCOORD has no
    POLYGON type: a closed POLYLINE (last point = first) is the DICOM way to draw one.
    """
    points = np.asarray(roi_px, dtype=float)
    if points.ndim != 2 or points.shape[0] < 3 or points.shape[1] != 2:
        raise ValueError(f"roi_px must be at least three [x, y] points, got {roi_px!r}")
    points = np.vstack([points, points[:1]]) + 0.5
    return hd.sr.ImageRegion(
        graphic_type=hd.sr.GraphicTypeValues.POLYLINE,
        graphic_data=points,
        source_image=hd.sr.SourceImageForRegion.from_source_image(source),
    )


def _measurement(
    concept: Code,
    value: float,
    unit: Code,
    algorithm: hd.sr.AlgorithmIdentification,
    *,
    derivation: Code | None = None,
    properties: hd.sr.MeasurementProperties | None = None,
) -> hd.sr.Measurement:
    """A TID 300 measurement of a JSON number, kept exact.

    highdicom stores the value as FloatingPointValue (FD, exact) next to the DS NumericValue; the document's
    numbers are already rounded, so the DS text holds every digit as well (a count reads "116.0").
    """
    return hd.sr.Measurement(
        name=concept,
        value=float(value),
        unit=unit,
        derivation=derivation,
        properties=properties,
        algorithm_id=algorithm,
    )


def _population(document: Mapping[str, Any], kind: str) -> hd.sr.MeasurementProperties | None:
    """TID 310/311: the reference population of the T-score (``kind`` "t") or Z-score ("z"); None when withheld.

    The T-score is read against the young-adult mean and SD, the Z-score against those at the patient's age; the
    description names the table (population, id, version), the authority its sources.
    """
    score = document.get(f"{kind}_score")
    if not score:
        return None
    prefix, who = ("young_adult", "young adults") if kind == "t" else ("age_matched", f"age {score['age_years']} y")
    table = (document.get("reference") or {}).get(f"{kind}_score_table") or {}
    values = [
        hd.sr.NumContentItem(
            name=CODES[f"population_{statistic}"],
            value=float(score[f"{prefix}_{statistic}_g_cm2"]),
            unit=CODES["g/cm2"],
            relationship_type=hd.sr.RelationshipTypeValues.HAS_PROPERTIES,
        )
        for statistic in ("mean", "sd")
    ]
    return hd.sr.MeasurementProperties(
        measurement_statistical_properties=hd.sr.MeasurementStatisticalProperties(
            values=values,
            description=f"{who}: {table.get('population')} (reference table {table.get('id')} {table.get('version')})",
            authority="; ".join(table.get("sources") or []) or None,
        )
    )


def _image_group(
    document: Mapping[str, Any],
    source: pydicom.Dataset,
    laterality: Code | None,
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group of the hand: combined values (means over the bones used), scores, category."""
    t_score, z_score = document.get("t_score") or {}, document.get("z_score") or {}
    # The BMD carries the population of the primary score: the one the report is read against.
    primary = next((kind for kind, score in (("t", t_score), ("z", z_score)) if score.get("primary")), None)
    mean = CODES["mean"]
    candidates = [
        ("bmd", document.get("dxr_bmd_g_cm2"), "g/cm2", mean, primary and _population(document, primary)),
        ("bhi", document.get("bhi"), "1", mean, None),
        ("mci", document.get("mci"), "1", mean, None),
        ("t_score", t_score.get("value"), "1", None, _population(document, "t")),
        ("z_score", z_score.get("value"), "1", None, _population(document, "z")),
    ]
    measurements = [
        _measurement(CODES[concept], value, CODES[unit], algorithm, derivation=derivation, properties=properties)
        for concept, value, unit, derivation, properties in candidates
        if value is not None
    ]
    evaluations = []
    if category := document.get("category"):
        value = CODES.get(f"category:{category.get('code')}")
        if value is None:
            raise ValueError(f"no code for category {category.get('code')!r}")
        evaluations.append(hd.sr.QualitativeEvaluation(CODES["category"], value))
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking("Hand (combined DXR-BMD)"),
        finding_sites=[hd.sr.FindingSite(CODES["hand"], laterality=laterality)],
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
    )
