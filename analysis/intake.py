"""Radiograph intake: one file in, one :class:`Radiograph` out, or an :class:`IntakeError` with a reason code.

This is the only module of :mod:`dxr.analysis` that reads files. Whatever the vendor wrote, the result is a
float32 image in which bone is bright, with the metadata the measurement and the report need.

Pixel pipeline (DICOM PS3.3 C.11 grayscale pipeline, DOMAIN.md section 6): stored values -> Modality LUT
(rescale) -> VOI LUT (LUT sequence, else window) -> inversion when the photometric interpretation is
MONOCHROME1. The steps applied are listed in :attr:`Radiograph.photometric_handling`.

Spacing policy (never invented): PixelSpacing (patient plane) if present and valid; else ImagerPixelSpacing
divided by EstimatedRadiographicMagnificationFactor when that is present, else ImagerPixelSpacing as it is;
else none. A spacing given by the user overrides all of these and is recorded as user-supplied.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pydicom
import pydicom.config
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut
from pydicom.uid import UID

from dxr.analysis.densitometry import Calibration
from dxr.analysis.reference import ReferenceTable, reference_table_from_mapping
from dxr.analysis.scores import (
    Precision,
    ScoringPolicy,
    precision_from_mapping,
    scoring_policy_from_mapping,
)

__all__ = [
    "DEFAULT_CALIBRATION",
    "DEFAULT_PRECISION",
    "MAX_PIXELS",
    "MAX_SIDE_PX",
    "PATIENT_SEX_CODES",
    "IntakeError",
    "IntakeErrorCode",
    "PixelSpacing",
    "Radiograph",
    "SpacingSource",
    "age_in_years",
    "dicom_metadata",
    "read_calibration",
    "read_dicom_header",
    "read_label_map",
    "read_precision",
    "read_radiograph",
    "read_reference_table",
    "read_scoring_policy",
    "shipped_reference_tables",
]

PATIENT_SEX_CODES = ("F", "M", "O")  # DICOM Patient's Sex: female, male, other

# A hand radiograph is at most ~43 cm at >= 0.05 mm: 8600 px. These bounds leave room and still refuse a
# header that would make the decoder allocate gigabytes (decompression bomb).
MAX_SIDE_PX = 16384
MAX_PIXELS = 120_000_000
MIN_SIDE_PX = 32

# Plausible physical pixel spacing of a projection radiograph, mm. Outside it a value is a header error.
_SPACING_RANGE_MM = (0.01, 1.0)

_PROJECTION_MODALITIES = frozenset({"DX", "CR", "RG", "OT", "PX"})
_IMAGE_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.1": "Computed Radiography Image Storage",
    "1.2.840.10008.5.1.4.1.1.1.1": "Digital X-Ray Image Storage - For Presentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "Digital X-Ray Image Storage - For Processing",
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture Image Storage",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture Image Storage",
}
# SOP classes that carry no image at all: reports, documents, presentation states, key objects.
_NON_IMAGE_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.88.",  # Structured Reports
    "1.2.840.10008.5.1.4.1.1.104.",  # Encapsulated documents (PDF, CDA, STL...)
    "1.2.840.10008.5.1.4.1.1.11.",  # Presentation states
    "1.2.840.10008.5.1.4.1.1.66",  # Raw data, spatial registration, segmentation...
    "1.2.840.10008.5.1.4.1.1.9.",  # Waveforms
    "1.2.840.10008.5.1.4.1.1.481.",  # Radiotherapy objects
)
_VIEW_PATTERNS = (
    ("OBLIQUE", re.compile(r"\bOBL", re.IGNORECASE)),
    ("LATERAL", re.compile(r"\bLAT", re.IGNORECASE)),
    ("PA", re.compile(r"\bP\.?A\b|\bPOSTERO.?ANTERIOR|\bDORSOPALMAR|\bDP\b", re.IGNORECASE)),
    ("AP", re.compile(r"\bA\.?P\b|\bANTERO.?POSTERIOR|\bPALMODORSAL", re.IGNORECASE)),
)
# Exceptions that are not about the file and must propagate.
_CONTROL_FLOW = (KeyboardInterrupt, SystemExit, GeneratorExit)
_RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})


class IntakeErrorCode(enum.StrEnum):
    """Why a file was refused. The value is the stable reason code written into results."""

    UNREADABLE_FILE = "unreadable_file"
    """The file does not exist or cannot be opened."""
    NOT_DICOM = "not_dicom"
    """Neither a DICOM Part 10 file nor a supported raster image (PNG, JPEG, TIFF, WebP, BMP)."""
    NON_IMAGE_SOP_CLASS = "non_image_sop_class"
    """A DICOM object that holds no image (structured report, encapsulated PDF, presentation state...)."""
    UNSUPPORTED_MODALITY = "unsupported_modality"
    """An image that is not a projection radiograph (CT, MR, US, NM...)."""
    NO_PIXEL_DATA = "no_pixel_data"
    """The object has no Pixel Data element."""
    MULTI_FRAME = "multi_frame"
    """More than one frame: a hand radiograph is a single image."""
    ABSURD_DIMENSIONS = "absurd_dimensions"
    """Rows/Columns missing, tiny or so large that decoding would exhaust memory."""
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported_transfer_syntax"
    """No installed decoder handles the transfer syntax."""
    UNDECODABLE_PIXEL_DATA = "undecodable_pixel_data"
    """The pixel data is truncated or corrupt."""
    INVALID_SPACING = "invalid_spacing"
    """A user-supplied pixel spacing is not a plausible positive number of millimetres."""
    INVALID_LABEL_MAP = "invalid_label_map"
    """A label map that is unreadable, not 2-D integers in 0-6, or not on the image grid."""


class IntakeError(ValueError):
    """A file that cannot become a :class:`Radiograph`. ``str(error)`` is a one-line reason."""

    def __init__(self, code: IntakeErrorCode, reason: str, path: str | os.PathLike[str] | None = None):
        self.code = IntakeErrorCode(code)
        self.reason = " ".join(reason.split())  # one line, whatever a decoder's message looked like
        self.path = None if path is None else str(path)
        super().__init__(f"{code.value}: {self.reason}")


class SpacingSource(enum.StrEnum):
    """Where the pixel spacing came from."""

    PIXEL_SPACING = "PixelSpacing"
    """(0028,0030), calibrated to the patient plane."""
    IMAGER_PIXEL_SPACING_MAGNIFICATION_CORRECTED = "ImagerPixelSpacing/EstimatedRadiographicMagnificationFactor"
    """(0018,1164) divided by (0018,1114)."""
    IMAGER_PIXEL_SPACING = "ImagerPixelSpacing"
    """(0018,1164) at the detector, no magnification factor (hand on the detector: about 1-3 % too big)."""
    USER = "user-supplied"
    """Given explicitly by the operator (``--pixel-spacing``)."""


@dataclass(frozen=True)
class PixelSpacing:
    """Physical size of one pixel.

    Parameters
    ----------
    row_mm, column_mm
        Distance between rows (vertical) and between columns (horizontal) in millimetres.
    source
        Which attribute (or the user) it came from.
    calibration_type
        PixelSpacingCalibrationType (0028,0A02) when PixelSpacing was used, e.g. ``"GEOMETRY"``.
    """

    row_mm: float
    column_mm: float
    source: SpacingSource
    calibration_type: str | None = None

    def __post_init__(self) -> None:
        low, high = _SPACING_RANGE_MM
        for name in ("row_mm", "column_mm"):
            value = getattr(self, name)
            if not (np.isfinite(value) and low <= value <= high):
                raise ValueError(f"{name} must be between {low} and {high} mm, got {value!r}")

    @property
    def mean_mm(self) -> float:
        """The mean of the row and column spacing (they differ only on anisotropic detectors)."""
        return (self.row_mm + self.column_mm) / 2.0


@dataclass(frozen=True)
class Radiograph:
    """A projection radiograph ready for measurement.

    ``pixels`` is float32 (rows, columns) with bone bright, in the units left by the grayscale pipeline
    (only their order and proportions matter to the measurement). ``spacing`` is ``None`` when the file
    gave no usable spacing and none was supplied: millimetre results must then be refused.
    """

    pixels: np.ndarray
    spacing: PixelSpacing | None
    source_path: str
    source_format: str  # "dicom" or the raster format name ("PNG", "JPEG", "TIFF"...)
    photometric_interpretation: str
    photometric_handling: tuple[str, ...]
    bits_stored: int
    transfer_syntax_uid: str | None = None
    modality: str | None = None
    sop_class_uid: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    laterality: str | None = None  # "L" or "R"
    view: str | None = None  # "PA", "AP", "OBLIQUE", "LATERAL"
    view_source: str | None = None
    body_part: str | None = None
    manufacturer: str | None = None
    manufacturer_model: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    patient_sex: str | None = None  # "F", "M" or "O"
    patient_birth_date: dt.date | None = None
    age_years: float | None = None
    age_source: str | None = None
    study_date: dt.date | None = None
    acquisition_date: dt.date | None = None
    accession_number: str | None = None
    institution_name: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (int(self.pixels.shape[0]), int(self.pixels.shape[1]))


def read_radiograph(path: str | os.PathLike[str], *, pixel_spacing_mm: float | None = None) -> Radiograph:
    """Read a DICOM, PNG, JPEG, TIFF, WebP or BMP file into a :class:`Radiograph`.

    Parameters
    ----------
    path
        The file.
    pixel_spacing_mm
        An explicit, isotropic pixel spacing in mm. It overrides whatever the file says and is recorded as
        user-supplied. Raster images (research use) have no spacing without it.

    Raises
    ------
    IntakeError
        With a reason code (:class:`IntakeErrorCode`) and a one-line reason. No other exception escapes.
    """
    path = Path(path)
    user_spacing = _user_spacing(pixel_spacing_mm, path)
    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise IntakeError(IntakeErrorCode.UNREADABLE_FILE, f"cannot open file: {exc.strerror}", path) from None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if head[128:132] == b"DICM":
                radiograph = _read_dicom(path, user_spacing, force=False)
            elif path.suffix.lower() in _RASTER_SUFFIXES or _looks_like_raster(head):
                radiograph = _read_raster(path, user_spacing)
            else:
                # Old files may lack the 128-byte preamble; accept them only if they parse as an image object.
                radiograph = _read_dicom(path, user_spacing, force=True)
        # Reader warnings (non-conformant values and the like) belong with the image, not on stderr.
        header_notes = tuple(dict.fromkeys(" ".join(str(w.message).split())[:200] for w in caught))
        return dataclasses.replace(radiograph, notes=radiograph.notes + header_notes)
    except IntakeError as exc:
        exc.path = str(path)
        raise
    except MemoryError:
        raise IntakeError(IntakeErrorCode.ABSURD_DIMENSIONS, "image too large to decode", path) from None
    except _CONTROL_FLOW:
        raise
    except BaseException as exc:
        raise IntakeError(
            IntakeErrorCode.UNDECODABLE_PIXEL_DATA,
            f"malformed file ({type(exc).__name__}: {exc})"[:300],
            path,
        ) from None


def _user_spacing(pixel_spacing_mm: float | None, path: Path) -> PixelSpacing | None:
    if pixel_spacing_mm is None:
        return None
    try:
        value = float(pixel_spacing_mm)
        return PixelSpacing(value, value, SpacingSource.USER)
    except (TypeError, ValueError) as exc:
        raise IntakeError(
            IntakeErrorCode.INVALID_SPACING, f"--pixel-spacing {pixel_spacing_mm!r}: {exc}", path
        ) from None


def _looks_like_raster(head: bytes) -> bool:
    signatures = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"RIFF", b"BM")
    return head.startswith(signatures)


# --------------------------------------------------------------------------------------------------- DICOM


def _read_dicom(path: Path, user_spacing: PixelSpacing | None, *, force: bool) -> Radiograph:
    try:
        ds = pydicom.dcmread(path, force=force)
    except (InvalidDicomError, EOFError) as exc:
        raise IntakeError(IntakeErrorCode.NOT_DICOM, f"not a DICOM file ({exc})"[:200]) from None
    except Exception as exc:
        code = IntakeErrorCode.NOT_DICOM if force else IntakeErrorCode.UNDECODABLE_PIXEL_DATA
        raise IntakeError(code, f"unreadable DICOM header ({type(exc).__name__}: {exc})"[:300]) from None
    if force and not any(keyword in ds for keyword in ("SOPClassUID", "Rows", "PixelData")):
        raise IntakeError(
            IntakeErrorCode.NOT_DICOM,
            "not a DICOM file (no 'DICM' marker) and not a PNG/JPEG/TIFF/WebP/BMP image",
        )
    _check_object(ds)
    transfer_syntax = _transfer_syntax(ds)
    pixels, handling, photometric = _decode_pixels(ds, transfer_syntax)
    spacing, spacing_notes = _dicom_spacing(ds)
    notes = list(spacing_notes)
    if user_spacing is not None:
        if spacing is not None:
            notes.append(f"user-supplied spacing {user_spacing.row_mm} mm overrides {spacing.source.value}")
        spacing = user_spacing
    return Radiograph(
        pixels=pixels,
        spacing=spacing,
        source_path=str(path),
        source_format="dicom",
        photometric_interpretation=photometric,
        photometric_handling=handling,
        bits_stored=int(ds.get("BitsStored", 8) or 8),
        transfer_syntax_uid=str(transfer_syntax),
        notes=tuple(notes),
        **dicom_metadata(ds),
    )


def read_dicom_header(path: str | os.PathLike[str]) -> Dataset:
    """The header of a DICOM file, without its pixel data (to copy patient and study into derived objects).

    Raises
    ------
    IntakeError
        ``unreadable_file`` or ``not_dicom``.
    """
    path = Path(path)
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except OSError as exc:
        raise IntakeError(IntakeErrorCode.UNREADABLE_FILE, f"cannot open file: {exc.strerror}", path) from None
    except _CONTROL_FLOW:
        raise
    except Exception as exc:
        raise IntakeError(IntakeErrorCode.NOT_DICOM, f"no readable DICOM header ({exc})"[:200], path) from None


def dicom_metadata(ds: Dataset) -> dict[str, Any]:
    """The :class:`Radiograph` fields a DICOM header gives: identity, dates, age, laterality, view, device.

    Also used for files refused after their header was read, so their result still names the patient.
    """
    study_date = _parse_date(ds.get("StudyDate"))
    acquisition_date = _parse_date(ds.get("AcquisitionDate")) or _parse_date(ds.get("ContentDate"))
    birth_date = _parse_date(ds.get("PatientBirthDate"))
    age_years, age_source = age_in_years(
        birth_date=birth_date,
        study_date=study_date or acquisition_date,
        patient_age=_text(ds.get("PatientAge")),
    )
    view, view_source = _view(ds)
    return {
        "modality": _text(ds.get("Modality")),
        "sop_class_uid": _text(ds.get("SOPClassUID")),
        "study_instance_uid": _text(ds.get("StudyInstanceUID")),
        "series_instance_uid": _text(ds.get("SeriesInstanceUID")),
        "sop_instance_uid": _text(ds.get("SOPInstanceUID")),
        "laterality": _laterality(ds),
        "view": view,
        "view_source": view_source,
        "body_part": _text(ds.get("BodyPartExamined")),
        "manufacturer": _text(ds.get("Manufacturer")),
        "manufacturer_model": _text(ds.get("ManufacturerModelName")),
        "patient_name": _text(ds.get("PatientName")),
        "patient_id": _text(ds.get("PatientID")),
        "patient_sex": _sex(ds.get("PatientSex")),
        "patient_birth_date": birth_date,
        "age_years": age_years,
        "age_source": age_source,
        "study_date": study_date,
        "acquisition_date": acquisition_date,
        "accession_number": _text(ds.get("AccessionNumber")),
        "institution_name": _text(ds.get("InstitutionName")),
    }


def _check_object(ds: Dataset) -> None:
    """Refuse objects that are not single-frame projection radiographs, before touching pixel data."""
    sop_class = _text(ds.get("SOPClassUID")) or ""
    if sop_class.startswith(_NON_IMAGE_SOP_PREFIXES):
        name = UID(sop_class).name if UID(sop_class).is_valid else sop_class
        raise IntakeError(IntakeErrorCode.NON_IMAGE_SOP_CLASS, f"{name} ({sop_class}) holds no radiograph")
    modality = (_text(ds.get("Modality")) or "").upper()
    if modality and modality not in _PROJECTION_MODALITIES:
        raise IntakeError(
            IntakeErrorCode.UNSUPPORTED_MODALITY,
            f"modality {modality} is not a projection radiograph (accepted: DX, CR, RG, OT)",
        )
    if not modality and sop_class not in _IMAGE_SOP_CLASSES:
        raise IntakeError(
            IntakeErrorCode.UNSUPPORTED_MODALITY,
            f"no Modality and SOP class {sop_class or '(none)'} is not a radiograph or secondary capture",
        )
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise IntakeError(IntakeErrorCode.NO_PIXEL_DATA, "the object has no Pixel Data (7FE0,0010)")
    if "PixelData" not in ds:
        raise IntakeError(IntakeErrorCode.UNDECODABLE_PIXEL_DATA, "float pixel data is not a radiograph")
    frames = _int(ds.get("NumberOfFrames"), default=1)
    if frames is None or frames > 1:
        raise IntakeError(
            IntakeErrorCode.MULTI_FRAME, f"{ds.get('NumberOfFrames')} frames; a hand radiograph is one image"
        )
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    samples = _int(ds.get("SamplesPerPixel"), default=1)
    _check_dimensions(rows, columns, samples)


def _check_dimensions(rows: int | None, columns: int | None, samples: int | None) -> None:
    if rows is None or columns is None:
        raise IntakeError(IntakeErrorCode.ABSURD_DIMENSIONS, "Rows or Columns missing or not a number")
    if min(rows, columns) < MIN_SIDE_PX:
        raise IntakeError(IntakeErrorCode.ABSURD_DIMENSIONS, f"{columns} x {rows} pixels is too small")
    if max(rows, columns) > MAX_SIDE_PX or rows * columns > MAX_PIXELS:
        raise IntakeError(
            IntakeErrorCode.ABSURD_DIMENSIONS,
            f"{columns} x {rows} pixels exceeds the limit ({MAX_SIDE_PX} per side, {MAX_PIXELS} in all)",
        )
    if samples not in (1, 3):
        raise IntakeError(IntakeErrorCode.ABSURD_DIMENSIONS, f"SamplesPerPixel {samples} is not 1 or 3")


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid is None:
        # pydicom guessed the encoding while reading; that is the syntax the pixel data is in.
        uid = pydicom.uid.ImplicitVRLittleEndian if ds.is_implicit_VR else pydicom.uid.ExplicitVRLittleEndian
    uid = UID(str(uid))
    if not uid.is_valid or not uid.is_transfer_syntax:
        raise IntakeError(IntakeErrorCode.UNSUPPORTED_TRANSFER_SYNTAX, f"unknown transfer syntax {uid}")
    try:
        available = pydicom.pixels.get_decoder(uid).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise IntakeError(
            IntakeErrorCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"no decoder installed for {uid.name} ({uid})",
        )
    return uid


def _decode_pixels(ds: Dataset, transfer_syntax: UID) -> tuple[np.ndarray, tuple[str, ...], str]:
    photometric = (_text(ds.get("PhotometricInterpretation")) or "MONOCHROME2").upper()
    try:
        stored = ds.pixel_array
    except _CONTROL_FLOW:
        raise
    except BaseException as exc:
        raise IntakeError(
            IntakeErrorCode.UNDECODABLE_PIXEL_DATA,
            f"cannot decode {transfer_syntax.name} pixel data ({type(exc).__name__}: {exc})"[:300],
        ) from None
    handling: list[str] = []
    if stored.ndim == 3:
        # Colour secondary capture (pydicom already converted YBR to RGB): luminance, Rec. 601 weights.
        stored = stored[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        handling.append("colour_to_luminance")
        return stored.astype(np.float32), tuple(handling), photometric
    if stored.ndim != 2:
        raise IntakeError(IntakeErrorCode.UNDECODABLE_PIXEL_DATA, f"decoded array has shape {stored.shape}")
    values = apply_modality_lut(stored, ds)
    if "ModalityLUTSequence" in ds:
        handling.append("modality_lut")
    elif "RescaleSlope" in ds or "RescaleIntercept" in ds:
        handling.append("rescale")
    if "VOILUTSequence" in ds or "WindowCenter" in ds:
        values = apply_voi_lut(values, ds)
        handling.append("voi_lut" if "VOILUTSequence" in ds else "voi_window")
    values = np.asarray(values, dtype=np.float32)
    if photometric == "MONOCHROME1":
        # Max + min keeps the values in the same range, so MONOCHROME1 and MONOCHROME2 files agree exactly.
        low, high = _value_range(ds, values, handling)
        values = (high + low) - values
        handling.append("monochrome1_inverted")
    if not np.all(np.isfinite(values)):
        raise IntakeError(IntakeErrorCode.UNDECODABLE_PIXEL_DATA, "pixel values are not finite")
    return values, tuple(handling), photometric


def _value_range(ds: Dataset, values: np.ndarray, handling: list[str]) -> tuple[float, float]:
    """The representable range of ``values`` after the steps in ``handling``."""
    if handling and handling[-1].startswith("voi"):
        if "VOILUTSequence" in ds:
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            return 0.0, float(2**bits - 1)
        return float(values.min()), float(values.max())
    bits = int(ds.get("BitsStored", 16) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    ends = sorted((low * slope + intercept, high * slope + intercept))
    return ends[0], ends[1]


def _dicom_spacing(ds: Dataset) -> tuple[PixelSpacing | None, tuple[str, ...]]:
    notes: list[str] = []
    pixel_spacing = _pair(ds.get("PixelSpacing"))
    if pixel_spacing is not None:
        try:
            return (
                PixelSpacing(
                    *pixel_spacing,
                    source=SpacingSource.PIXEL_SPACING,
                    calibration_type=_text(ds.get("PixelSpacingCalibrationType")),
                ),
                (),
            )
        except ValueError as exc:
            notes.append(f"PixelSpacing ignored: {exc}")
    elif "PixelSpacing" in ds:
        notes.append(f"PixelSpacing ignored: unreadable value {ds['PixelSpacing'].value!r}")
    imager = _pair(ds.get("ImagerPixelSpacing"))
    if imager is None:
        if "ImagerPixelSpacing" in ds:
            notes.append(f"ImagerPixelSpacing ignored: unreadable value {ds['ImagerPixelSpacing'].value!r}")
        notes.append("no pixel spacing in the file: millimetre results need an explicit spacing")
        return None, tuple(notes)
    magnification = _float(ds.get("EstimatedRadiographicMagnificationFactor"))
    source = SpacingSource.IMAGER_PIXEL_SPACING
    if magnification is not None and 1.0 <= magnification <= 2.0:
        imager = (imager[0] / magnification, imager[1] / magnification)
        source = SpacingSource.IMAGER_PIXEL_SPACING_MAGNIFICATION_CORRECTED
    elif magnification is not None:
        notes.append(f"EstimatedRadiographicMagnificationFactor {magnification} ignored (outside 1-2)")
    try:
        return PixelSpacing(*imager, source=source), tuple(notes)
    except ValueError as exc:
        notes.append(f"ImagerPixelSpacing ignored: {exc}")
        notes.append("no usable pixel spacing in the file: millimetre results need an explicit spacing")
        return None, tuple(notes)


def _laterality(ds: Dataset) -> str | None:
    for keyword in ("ImageLaterality", "Laterality"):
        value = (_text(ds.get(keyword)) or "").upper()
        if value in ("L", "R"):
            return value
    return None


def _view(ds: Dataset) -> tuple[str | None, str | None]:
    """ViewPosition when present, else a view named in the descriptions (often the only place it is)."""
    position = (_text(ds.get("ViewPosition")) or "").upper()
    named = {"PA": "PA", "AP": "AP", "LL": "LATERAL", "RL": "LATERAL", "LAT": "LATERAL", "OBL": "OBLIQUE"}
    if position in named:
        return named[position], "ViewPosition"
    for keyword in (
        "SeriesDescription",
        "ProtocolName",
        "AcquisitionDeviceProcessingDescription",
        "StudyDescription",
    ):
        text = _text(ds.get(keyword))
        if not text:
            continue
        for view, pattern in _VIEW_PATTERNS:
            if pattern.search(text):
                return view, keyword
    return None, None


def _sex(value: object) -> str | None:
    text = (_text(value) or "").upper()
    return text if text in PATIENT_SEX_CODES else None


def age_in_years(
    *, birth_date: dt.date | None, study_date: dt.date | None, patient_age: str | None
) -> tuple[float | None, str | None]:
    """Age at the study in years, and where it came from.

    Birth date and study date give the exact age; otherwise the DICOM Age String (``nnnD/W/M/Y``) is used.

    >>> age_in_years(birth_date=dt.date(1980, 3, 1), study_date=dt.date(2024, 3, 1), patient_age=None)
    (44.0, 'PatientBirthDate+StudyDate')
    >>> age_in_years(birth_date=None, study_date=None, patient_age="044Y")
    (44.0, 'PatientAge')
    >>> age_in_years(birth_date=None, study_date=None, patient_age="006M")
    (0.5, 'PatientAge')
    >>> age_in_years(birth_date=None, study_date=None, patient_age="X")
    (None, None)
    """
    if birth_date is not None and study_date is not None and study_date >= birth_date:
        years = study_date.year - birth_date.year
        anniversary_passed = (study_date.month, study_date.day) >= (birth_date.month, birth_date.day)
        if not anniversary_passed:
            years -= 1
        last_birthday = _add_years(birth_date, years)
        next_birthday = _add_years(birth_date, years + 1)
        fraction = (study_date - last_birthday).days / (next_birthday - last_birthday).days
        return round(years + fraction, 4), "PatientBirthDate+StudyDate"
    match = re.fullmatch(r"\s*(\d{1,3})\s*([DWMY])\s*", patient_age or "")
    if match:
        per_year = {"D": 365.25, "W": 365.25 / 7, "M": 12.0, "Y": 1.0}[match.group(2)]
        return round(int(match.group(1)) / per_year, 4), "PatientAge"
    return None, None


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def _parse_date(value: object) -> dt.date | None:
    text = _text(value)
    if not text or not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = value[0] if len(value) else None
        if value is None:
            return None
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _float(value: object) -> float | None:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if np.isfinite(result) else None


def _int(value: object, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _pair(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        items = list(value) if isinstance(value, pydicom.multival.MultiValue | list | tuple) else [value]
        numbers = [float(item) for item in items]
    except (TypeError, ValueError):
        return None
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2 or not all(np.isfinite(numbers)):
        return None
    return numbers[0], numbers[1]


# -------------------------------------------------------------------------------------------------- raster


def _read_raster(path: Path, user_spacing: PixelSpacing | None) -> Radiograph:
    """PNG/JPEG/TIFF/WebP/BMP for research use: assumed bone-bright, no spacing unless supplied."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(path) as image:
            columns, rows = image.size
            _check_dimensions(rows, columns, 1)
            if getattr(image, "n_frames", 1) > 1:
                raise IntakeError(IntakeErrorCode.MULTI_FRAME, f"{image.n_frames} frames in one image file")
            image_format = image.format or path.suffix.lstrip(".").upper()
            mode = image.mode
            image.load()
            if mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                pixels = np.asarray(image, dtype=np.float32)
                handling: tuple[str, ...] = ()
            else:
                pixels = np.asarray(image.convert("RGB"), dtype=np.float32) @ np.array(
                    [0.299, 0.587, 0.114], np.float32
                )
                handling = ("colour_to_luminance",)
    except IntakeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise IntakeError(IntakeErrorCode.NOT_DICOM, f"unreadable image ({exc})"[:200]) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise IntakeError(IntakeErrorCode.UNDECODABLE_PIXEL_DATA, f"truncated or corrupt image ({exc})"[:200]) from None
    notes = () if user_spacing else ("raster image without spacing: millimetre results need --pixel-spacing",)
    bits = 16 if mode.startswith("I") else 8
    return Radiograph(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing=user_spacing,
        source_path=str(path),
        source_format=image_format,
        photometric_interpretation="MONOCHROME2" if not handling else "RGB",
        photometric_handling=handling,
        bits_stored=bits,
        notes=notes,
    )


# ---------------------------------------------------------------------------------- label maps, calibration

_DATA = Path(__file__).parent / "data"
DEFAULT_CALIBRATION = _DATA / "calibration-dxr-2026.1.json"
DEFAULT_PRECISION = _DATA / "precision.json"
_Loaded = TypeVar("_Loaded")


def read_label_map(path: str | os.PathLike[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a label map (8-bit PNG, NPY, or NPZ with one array or an array named ``labels``).

    Labels follow the phantom convention: 0 background, 1-3 metacarpal II-IV outside the canal, 4-6 their
    medullary canals. With ``shape``, the map must be on that image grid (rows, columns).

    Raises
    ------
    IntakeError
        ``invalid_label_map`` with the reason.
    """
    path = Path(path)

    def refuse(reason: str) -> IntakeError:
        return IntakeError(IntakeErrorCode.INVALID_LABEL_MAP, reason, path)

    try:
        if path.suffix.lower() == ".npy":
            labels = np.load(path, allow_pickle=False)
        elif path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                names = archive.files
                key = "labels" if "labels" in names else (names[0] if len(names) == 1 else None)
                if key is None:
                    raise refuse(f"NPZ holds {names}; expected one array or one named 'labels'")
                labels = archive[key]
        else:
            with Image.open(path) as image:
                if image.mode not in ("L", "P", "I", "I;16"):
                    raise refuse(f"PNG mode {image.mode}; expected an 8-bit single-channel label image")
                labels = np.asarray(image)
    except IntakeError:
        raise
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        raise refuse(f"unreadable label map ({exc})"[:200]) from None
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise refuse(f"expected a 2-D integer array, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 6):
        raise refuse(f"labels {int(labels.min())}-{int(labels.max())} outside 0-6")
    if shape is not None and labels.shape != tuple(shape):
        raise refuse(f"label map is {labels.shape[1]} x {labels.shape[0]}, the image {shape[1]} x {shape[0]}")
    return labels.astype(np.uint8)


def _read_data_file(path: Path, what: str, build: Callable[[Any], _Loaded]) -> _Loaded:
    """Parse a JSON data file and validate it with ``build``; every error names the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read {what} ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a {what} is a JSON object")
    try:
        return build(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def read_calibration(path: str | os.PathLike[str] | None = None) -> Calibration:
    """Load a measurement calibration (density constant, ROI, pore radius); the shipped one by default."""
    return _read_data_file(Path(path or DEFAULT_CALIBRATION), "calibration", Calibration.from_mapping)


def read_reference_table(path: str | os.PathLike[str]) -> ReferenceTable:
    """Load and validate a DXR-BMD reference table (format in docs/scores.md)."""
    return _read_data_file(Path(path), "reference table", reference_table_from_mapping)


def shipped_reference_tables() -> tuple[ReferenceTable, ...]:
    """The reference tables shipped in ``analysis/data`` (``reference-*.json``)."""
    return tuple(read_reference_table(path) for path in sorted(_DATA.glob("reference-*.json")))


def read_precision(path: str | os.PathLike[str] | None = None) -> Precision:
    """Load the precision (CV) used for the least significant change; the shipped one by default."""
    return _read_data_file(Path(path or DEFAULT_PRECISION), "precision", precision_from_mapping)


def read_scoring_policy(path: str | os.PathLike[str]) -> ScoringPolicy:
    """Load a site's scoring policy (default tables per sex, male T-score reference)."""
    return _read_data_file(Path(path), "scoring policy", scoring_policy_from_mapping)
