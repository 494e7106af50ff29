"""DICOM output covering what real sites send (DOMAIN.md section 6).

Variants: DX (Digital X-Ray Image Storage - For Presentation) or CR SOP class; the spacing as PixelSpacing,
as ImagerPixelSpacing alone (detector plane: the intake then over-reads sizes by the magnification, as in
real life), or as ImagerPixelSpacing with EstimatedRadiographicMagnificationFactor; 10-16 bits stored;
MONOCHROME1 or MONOCHROME2; uncompressed, RLE, JPEG-LS lossless or JPEG 2000 lossless; with or without a
VOI window and rescale. Patient and acquisition tags are sometimes missing or wrong, at a controlled rate;
what was written is recorded beside the truth.

MONOCHROME1 stores ``2^bits - 1 - value``. When a window is written it spans exactly the stored data
(centre ``(min + max + 1) / 2``, width ``max - min + 1``); that rule gives the mirrored window for the
inverted data, so MONOCHROME1 and MONOCHROME2 files of one image read back to the same pixels.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

__all__ = [
    "COMPRESSIONS",
    "SOP_CLASSES",
    "SPACING_TAGS",
    "DicomVariant",
    "WrittenMetadata",
    "age_between",
    "build_dataset",
    "dataset_to_json",
    "deterministic_uid",
    "encode",
    "expected_intake",
    "quantize",
    "sample_metadata",
    "sample_variant",
    "stored_values",
]

SOP_CLASSES = {
    "DX": UID("1.2.840.10008.5.1.4.1.1.1.1"),  # Digital X-Ray Image Storage - For Presentation
    "CR": UID("1.2.840.10008.5.1.4.1.1.1"),  # Computed Radiography Image Storage
}
SPACING_TAGS = ("pixel", "imager", "imager_magnification")
COMPRESSIONS = {
    "none": ExplicitVRLittleEndian,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
}
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
BITS_CHOICES = (10, 12, 14, 16)
MANUFACTURER = "DXR-BMD phantom"
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/dxr-bmd/phantom")


def deterministic_uid(entropy: list[str]) -> UID:
    """A ``2.25.<uuid>`` UID from a name-based (version 5) UUID of ``entropy``.

    pydicom's ``generate_uid(prefix=None, entropy_srcs=...)`` ignores the entropy and returns a random
    UUID4, which would break byte-identical output per seed; a UUID5 is deterministic and still a valid
    UUID for the 2.25 root (ITU-T X.667).

    >>> deterministic_uid(["a"]) == deterministic_uid(["a"]) != deterministic_uid(["b"])
    True
    """
    return UID(f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(31).join(entropy)).int}")


def _generator_version() -> str:
    try:
        return version("dxr-bmd")
    except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
        return "0"


@dataclass(frozen=True)
class DicomVariant:
    """How one image is encoded.

    Parameters
    ----------
    sop_class
        ``"DX"`` or ``"CR"``.
    spacing_tag
        ``"pixel"`` (PixelSpacing, true patient-plane spacing), ``"imager"`` (ImagerPixelSpacing only, at
        the detector = true x magnification) or ``"imager_magnification"`` (ImagerPixelSpacing and
        EstimatedRadiographicMagnificationFactor).
    photometric
        ``"MONOCHROME1"`` or ``"MONOCHROME2"``.
    bits_stored
        10 to 16.
    compression
        ``"none"``, ``"rle"``, ``"jpegls"`` or ``"j2k"`` (all lossless).
    window
        Whether WindowCenter/WindowWidth are written.
    rescale
        Whether RescaleSlope/RescaleIntercept are written (always for DX, where they are required).
    """

    sop_class: str = "DX"
    spacing_tag: str = "pixel"
    photometric: str = "MONOCHROME2"
    bits_stored: int = 12
    compression: str = "none"
    window: bool = True
    rescale: bool = True

    def __post_init__(self) -> None:
        if self.sop_class not in SOP_CLASSES:
            raise ValueError(f"sop_class must be one of {sorted(SOP_CLASSES)}")
        if self.spacing_tag not in SPACING_TAGS:
            raise ValueError(f"spacing_tag must be one of {SPACING_TAGS}")
        if self.photometric not in PHOTOMETRICS:
            raise ValueError(f"photometric must be one of {PHOTOMETRICS}")
        if not 8 <= self.bits_stored <= 16:
            raise ValueError("bits_stored must be 8-16")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}")

    @property
    def transfer_syntax(self) -> UID:
        """The transfer syntax UID of the file."""
        return COMPRESSIONS[self.compression]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the truth file."""
        return asdict(self)


def sample_variant(
    rng: np.random.Generator,
    *,
    sop_class: str = "random",
    spacing_tag: str = "random",
    photometric: str = "random",
    bits_stored: int | str = "random",
    compression: str = "random",
) -> DicomVariant:
    """Draw an encoding; any argument other than ``"random"`` fixes that choice."""
    sop = str(rng.choice(["DX", "CR"], p=[0.65, 0.35])) if sop_class == "random" else sop_class
    tag = str(rng.choice(SPACING_TAGS, p=[0.5, 0.25, 0.25])) if spacing_tag == "random" else spacing_tag
    default_photometric = ["MONOCHROME1", "MONOCHROME2"]
    photo_p = [0.5, 0.5] if sop == "CR" else [0.2, 0.8]
    photo = str(rng.choice(default_photometric, p=photo_p)) if photometric == "random" else photometric
    bits = int(rng.choice(BITS_CHOICES, p=[0.15, 0.5, 0.2, 0.15])) if bits_stored == "random" else int(bits_stored)
    comp = str(rng.choice(list(COMPRESSIONS), p=[0.4, 0.15, 0.2, 0.25])) if compression == "random" else compression
    window = bool(rng.random() < 0.7)
    rescale = True if sop == "DX" else bool(rng.random() < 0.5)
    return DicomVariant(sop, tag, photo, bits, comp, window, rescale)


def quantize(image: NDArray[np.floating], bits_stored: int) -> NDArray[np.uint16]:
    """Presentation image in [0, 1] (bone bright) -> integer values 0 .. 2^bits - 1 (MONOCHROME2 sense)."""
    top = 2**bits_stored - 1
    return np.rint(np.clip(image, 0.0, 1.0) * top).astype(np.uint16)


def stored_values(image: NDArray[np.floating], variant: DicomVariant) -> NDArray[np.uint16]:
    """The pixel values as stored in the file (inverted for MONOCHROME1)."""
    values = quantize(image, variant.bits_stored)
    if variant.photometric == "MONOCHROME1":
        values = (2**variant.bits_stored - 1 - values).astype(np.uint16)
    return values


# ------------------------------------------------------------------------------------------------ metadata


@dataclass(frozen=True)
class WrittenMetadata:
    """Patient and acquisition attributes as written (``None`` = attribute absent).

    ``errors`` names the deliberate deviations from the truth (missing or wrong values).
    """

    patient_sex: str | None
    patient_birth_date: dt.date | None
    patient_age: str | None
    study_date: dt.date
    study_time: str
    image_laterality: str | None
    view_position: str | None
    series_description: str | None
    body_part: str | None
    errors: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the truth file."""
        d = asdict(self)
        for key in ("patient_birth_date", "study_date"):
            d[key] = None if d[key] is None else d[key].isoformat()
        d["errors"] = list(self.errors)
        return d


def age_between(birth: dt.date, day: dt.date) -> float:
    """Age in years on ``day``: whole years since ``birth`` plus the elapsed fraction of the current year.

    >>> age_between(dt.date(1980, 3, 1), dt.date(2024, 3, 1))
    44.0
    """
    years = day.year - birth.year - (1 if (day.month, day.day) < (birth.month, birth.day) else 0)
    last = _add_years(birth, years)
    following = _add_years(birth, years + 1)
    return round(years + (day - last).days / (following - last).days, 4)


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def sample_metadata(
    rng: np.random.Generator,
    *,
    sex: str,
    birth_date: dt.date,
    study_date: dt.date,
    laterality: str,
    error_rate: float,
) -> WrittenMetadata:
    """What the modality writes for a PA hand: the truth, except for deliberate errors at ``error_rate``.

    Error kinds (each drawn independently): laterality missing or swapped, view missing, only in the
    series description, or wrong ("AP"), sex missing, birth date missing (age only as PatientAge) or all
    age information missing, body part "FINGER"/"WRIST"/absent.
    """
    errors: list[str] = []

    def happens(rate: float) -> bool:
        return bool(rng.random() < rate)

    written_sex: str | None = sex
    if happens(error_rate):
        written_sex = None
        errors.append("sex_missing")
    written_birth: dt.date | None = birth_date
    age_years = int(age_between(birth_date, study_date))
    written_age: str | None = f"{age_years:03d}Y" if happens(0.5) else None
    if happens(error_rate):
        written_birth = None
        written_age = f"{age_years:03d}Y"
        errors.append("birth_date_missing")
    elif happens(error_rate / 2):
        written_birth = None
        written_age = None
        errors.append("age_missing")
    written_laterality: str | None = laterality
    if happens(error_rate):
        written_laterality = None
        errors.append("laterality_missing")
    elif happens(error_rate / 2):
        written_laterality = "R" if laterality == "L" else "L"
        errors.append("laterality_wrong")
    view: str | None = "PA"
    description: str | None = str(rng.choice(["HAND PA", "PA", "Hand PA", "HAND"]))
    if happens(error_rate):
        view = None
        description = "HAND"
        errors.append("view_missing")
    elif happens(error_rate):
        view = None
        description = "PA"
        errors.append("view_in_description_only")
    elif happens(error_rate / 2):
        view = "AP"
        errors.append("view_wrong")
    body_part: str | None = "HAND"
    if happens(error_rate):
        body_part = str(rng.choice(["FINGER", "WRIST", ""])) or None
        errors.append("body_part_unusual")
    seconds = int(rng.integers(7 * 3600, 19 * 3600))
    study_time = f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}{seconds % 60:02d}"
    return WrittenMetadata(
        patient_sex=written_sex,
        patient_birth_date=written_birth,
        patient_age=written_age,
        study_date=study_date,
        study_time=study_time,
        image_laterality=written_laterality,
        view_position=view,
        series_description=description,
        body_part=body_part,
        errors=tuple(errors),
    )


# ------------------------------------------------------------------------------------------------ dataset


def _ds_number(value: float) -> str:
    """A Decimal String of at most 16 characters."""
    text = f"{value:.10g}"
    return text if len(text) <= 16 else f"{value:.8g}"


def build_dataset(
    stored: NDArray[np.uint16],
    variant: DicomVariant,
    metadata: WrittenMetadata,
    *,
    pixel_spacing_mm: float,
    magnification: float,
    source_detector_mm: float,
    uid_entropy: list[str],
    patient_id: str,
    acquisition: dict[str, float] | None = None,
) -> Dataset:
    """A valid, uncompressed DICOM dataset (call :func:`encode` to compress it).

    Parameters
    ----------
    stored
        Stored pixel values (see :func:`stored_values`).
    variant
        Encoding choices.
    metadata
        Patient/acquisition attributes to write.
    pixel_spacing_mm
        True spacing in the patient plane.
    magnification
        Geometric magnification of the patient plane at the detector (source-detector / source-object).
    source_detector_mm
        Source to detector distance.
    uid_entropy
        Strings that make the UIDs unique and deterministic (e.g. the seed and case index).
    patient_id
        Patient ID (and name) to write.
    acquisition
        ``{"kvp", "mas"}`` to write as KVP and Exposure in mAs.
    """
    sop_class = SOP_CLASSES[variant.sop_class]
    study_uid = deterministic_uid([*uid_entropy, "study"])
    series_uid = deterministic_uid([*uid_entropy, "series"])
    instance_uid = deterministic_uid([*uid_entropy, "instance"])

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "DXR_PHANTOM"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = instance_uid
    date = metadata.study_date.strftime("%Y%m%d")
    ds.StudyDate = date
    ds.SeriesDate = date
    ds.ContentDate = date
    ds.StudyTime = metadata.study_time
    ds.SeriesTime = metadata.study_time
    ds.ContentTime = metadata.study_time
    ds.AccessionNumber = ""
    ds.Modality = variant.sop_class
    if variant.sop_class == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = "Synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "HAND"
    if metadata.series_description is not None:
        ds.SeriesDescription = metadata.series_description
    ds.ManufacturerModelName = "dxr.training.phantom"
    ds.PatientName = f"PHANTOM^{patient_id}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "" if metadata.patient_birth_date is None else metadata.patient_birth_date.strftime("%Y%m%d")
    ds.PatientSex = metadata.patient_sex or ""
    if metadata.patient_age is not None:
        ds.PatientAge = metadata.patient_age
    if metadata.body_part is not None:
        ds.BodyPartExamined = metadata.body_part
    if acquisition:
        ds.KVP = _ds_number(acquisition["kvp"])
        ds.ExposureInmAs = float(acquisition["mas"])
    ds.DistanceSourceToDetector = _ds_number(source_detector_mm)
    ds.DistanceSourceToPatient = _ds_number(source_detector_mm / magnification)
    ds.SoftwareVersions = f"dxr-bmd {_generator_version()}"
    if metadata.view_position is not None:
        ds.ViewPosition = metadata.view_position
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"
    ds.PatientOrientation = ""
    if metadata.image_laterality is not None:
        ds.ImageLaterality = metadata.image_laterality
    if variant.sop_class == "DX":
        ds.DetectorType = "SCINTILLATOR"

    imager = _ds_number(pixel_spacing_mm * magnification)
    if variant.spacing_tag == "pixel":
        ds.PixelSpacing = [_ds_number(pixel_spacing_mm)] * 2
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        if variant.sop_class == "DX":  # ImagerPixelSpacing is Type 1 in the DX Detector module
            ds.ImagerPixelSpacing = [imager] * 2
            ds.EstimatedRadiographicMagnificationFactor = _ds_number(magnification)
    else:
        ds.ImagerPixelSpacing = [imager] * 2
        if variant.spacing_tag == "imager_magnification":
            ds.EstimatedRadiographicMagnificationFactor = _ds_number(magnification)

    rows, columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = variant.photometric
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = variant.bits_stored
    ds.HighBit = variant.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    # +1: lower values = less beam intensity. Bone (little intensity) is bright in MONOCHROME2 (high
    # values), so the sign is -1 there and +1 for the inverted MONOCHROME1 values.
    ds.PixelIntensityRelationshipSign = -1 if variant.photometric == "MONOCHROME2" else 1
    if variant.rescale:
        ds.RescaleIntercept = "0"
        ds.RescaleSlope = "1"
        ds.RescaleType = "US"
    if variant.window:
        low, high = int(stored.min()), int(stored.max())
        ds.WindowCenter = _ds_number((low + high + 1) / 2.0)
        ds.WindowWidth = _ds_number(max(high - low + 1, 2))
    if variant.sop_class == "DX":
        ds.PresentationLUTShape = "IDENTITY" if variant.photometric == "MONOCHROME2" else "INVERSE"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PixelData = np.ascontiguousarray(stored, dtype="<u2").tobytes()
    return ds


def encode(ds: Dataset, variant: DicomVariant) -> Dataset:
    """Compress ``ds`` in place to the variant's transfer syntax (lossless) and return it."""
    if variant.compression != "none":
        ds.compress(variant.transfer_syntax, generate_instance_uid=False)  # keep the deterministic UID
    return ds


def write_dicom(ds: Dataset, path: str | Path) -> None:
    """Write a Part 10 file (preamble, file meta, dataset)."""
    ds.save_as(path, enforce_file_format=True)


def dataset_to_json(ds: Dataset) -> dict[str, Any]:
    """Every attribute written (except the pixel data), keyword -> plain value, file meta included."""
    out: dict[str, Any] = {}
    for source in (ds.file_meta, ds):
        for element in source:
            if element.keyword in ("PixelData", "") or element.VR == "SQ":
                continue
            out[element.keyword] = _plain(element.value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, pydicom.multival.MultiValue | list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return value if isinstance(value, int | str) else float(value)
    return str(value)


def expected_intake(ds: Dataset) -> dict[str, Any]:
    """What :func:`dxr.analysis.intake.read_radiograph` should report for this dataset.

    Derived from the written attributes with the DICOM rules, independently of the intake code: spacing
    from PixelSpacing, else ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor, else
    ImagerPixelSpacing; age from birth date and study date, else PatientAge.
    """
    if "PixelSpacing" in ds:
        spacing = [float(v) for v in ds.PixelSpacing]
        source = "PixelSpacing"
    else:
        spacing = [float(v) for v in ds.ImagerPixelSpacing]
        source = "ImagerPixelSpacing"
        if "EstimatedRadiographicMagnificationFactor" in ds:
            factor = float(ds.EstimatedRadiographicMagnificationFactor)
            spacing = [v / factor for v in spacing]
            source = "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    birth = ds.get("PatientBirthDate") or ""
    age: float | None = None
    if birth:
        age = age_between(
            dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:8])),
            dt.date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:8])),
        )
    elif ds.get("PatientAge"):
        age = float(int(str(ds.PatientAge)[:3]))
    view = ds.get("ViewPosition") or None
    if view is None:
        description = str(ds.get("SeriesDescription") or "")
        view = "PA" if "PA" in description.upper().split() else None
    return {
        "spacing_mm": spacing,
        "spacing_source": source,
        "patient_sex": ds.get("PatientSex") or None,
        "age_years": age,
        "laterality": ds.get("ImageLaterality") or None,
        "view": view,
    }
