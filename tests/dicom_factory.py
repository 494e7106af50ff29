"""Small, valid DX datasets for intake tests, and encoders that use independent tools (dcmtk, openjpeg)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    generate_uid,
)

DCMTK = Path("/usr/bin")


def bone_image(rows: int = 96, columns: int = 80, bits: int = 12) -> np.ndarray:
    """A stored-value image with a bright hollow 'shaft' on a darker background (MONOCHROME2 sense)."""
    y, x = np.mgrid[0:rows, 0:columns]
    distance = np.abs(x - columns / 2.0)
    outer, inner = columns * 0.2, columns * 0.1
    path = 2 * np.sqrt(np.clip(outer**2 - distance**2, 0, None)) - 2 * np.sqrt(np.clip(inner**2 - distance**2, 0, None))
    top = 2**bits - 1
    image = 0.25 * top + 0.6 * top * path / path.max() + 0.05 * top * np.sin(y / 7.0)
    return np.clip(np.round(image), 0, top).astype(np.uint16)


def dx_dataset(pixels: np.ndarray | None = None, *, bits: int = 12, **attributes: object) -> Dataset:
    """A DX For Presentation dataset (MONOCHROME2, uncompressed) with ``attributes`` set on top."""
    pixels = bone_image(bits=bits) if pixels is None else pixels
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "DX"
    ds.PatientName = "TEST^HAND"
    ds.PatientID = "T-0001"
    ds.PatientSex = "F"
    ds.PatientBirthDate = "19700615"
    ds.StudyDate = "20240301"
    ds.BodyPartExamined = "HAND"
    ds.ImageLaterality = "L"
    ds.ViewPosition = "PA"
    ds.PixelSpacing = [0.1, 0.1]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16 if bits > 8 else 8
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16 if bits > 8 else np.uint8).tobytes()
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def dcmtk(tool: str, *arguments: str | Path) -> None:
    """Run a dcmtk tool (installed by ``make setup``: scripts/install-system-deps.sh)."""
    executable = DCMTK / tool
    if not executable.exists():
        raise FileNotFoundError(f"{executable} missing: run scripts/install-system-deps.sh")
    subprocess.run([str(executable), *map(str, arguments)], check=True, capture_output=True)


def read_back(path: Path) -> Dataset:
    return pydicom.dcmread(path)
