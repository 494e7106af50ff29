"""Intake: every transfer syntax, the grayscale pipeline, the spacing policy, ages, and every refusal."""

from __future__ import annotations

import datetime as dt
import io
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dxr.analysis.intake import (
    IntakeError,
    IntakeErrorCode,
    SpacingSource,
    age_in_years,
    read_radiograph,
)
from tests.dicom_factory import bone_image, dcmtk, dx_dataset, save


@pytest.fixture
def dx_file(tmp_path: Path) -> Path:
    return save(dx_dataset(), tmp_path / "dx.dcm")


def _stored(path: Path) -> np.ndarray:
    return read_radiograph(path).pixels


# ------------------------------------------------------------------------------------- transfer syntaxes

LOSSLESS_DCMTK = [
    ("dcmconv", "+ti", ImplicitVRLittleEndian),
    ("dcmconv", "+tb", ExplicitVRBigEndian),
    ("dcmconv", "+td", DeflatedExplicitVRLittleEndian),
    ("dcmcrle", "", RLELossless),
    ("dcmcjpeg", "+el", JPEGLossless),
    ("dcmcjpeg", "+e1", JPEGLosslessSV1),
    ("dcmcjpls", "+el", JPEGLSLossless),
]


@pytest.mark.parametrize(("tool", "option", "syntax"), LOSSLESS_DCMTK, ids=[s.name for *_, s in LOSSLESS_DCMTK])
def test_lossless_syntaxes_encoded_by_dcmtk_decode_exactly(dx_file: Path, tmp_path: Path, tool, option, syntax):
    encoded = tmp_path / "encoded.dcm"
    dcmtk(tool, *([option] if option else []), dx_file, encoded)
    assert pydicom.dcmread(encoded, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    radiograph = read_radiograph(encoded)
    assert radiograph.transfer_syntax_uid == syntax
    np.testing.assert_array_equal(radiograph.pixels, _stored(dx_file))


@pytest.mark.parametrize(
    ("bits", "options", "syntax", "tolerances"),
    [
        # +sr: dcmtk's default for lossy JPEG rescales min..max to the full range; keep stored values.
        (8, ("+eb", "+sr"), JPEGBaseline8Bit, (1.5, 12)),
        (12, ("+ee", "+sr"), JPEGExtended12Bit, (24, 200)),
        (12, ("+en",), JPEGLSNearLossless, (2, 2)),  # NEAR=2 bounds every pixel's error by 2
    ],
    ids=["JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLSNearLossless"],
)
def test_lossy_syntaxes_encoded_by_dcmtk_decode_close(tmp_path: Path, bits, options, syntax, tolerances):
    source = save(dx_dataset(bone_image(bits=bits), bits=bits), tmp_path / "source.dcm")
    encoded = tmp_path / "encoded.dcm"
    dcmtk("dcmcjpls" if syntax == JPEGLSNearLossless else "dcmcjpeg", *options, source, encoded)
    radiograph = read_radiograph(encoded)
    assert radiograph.transfer_syntax_uid == syntax
    difference = np.abs(radiograph.pixels - _stored(source))
    mean_tolerance, max_tolerance = tolerances
    assert 0 < difference.mean() < mean_tolerance  # lossy, yet close
    assert difference.max() <= max_tolerance


@pytest.mark.parametrize(
    ("syntax", "kwargs"),
    [
        (RLELossless, {}),
        (JPEG2000Lossless, {}),
        (JPEGLSLossless, {}),
        (JPEG2000, {"j2k_psnr": [60]}),
    ],
    ids=["RLELossless-pydicom", "JPEG2000Lossless", "JPEGLSLossless-pyjpegls", "JPEG2000-lossy"],
)
def test_syntaxes_encoded_by_pydicom_plugins(dx_file: Path, tmp_path: Path, syntax, kwargs):
    ds = pydicom.dcmread(dx_file)
    ds.compress(syntax, **kwargs)
    encoded = save(ds, tmp_path / "encoded.dcm")
    radiograph = read_radiograph(encoded)
    assert radiograph.transfer_syntax_uid == syntax
    expected = _stored(dx_file)
    if syntax != JPEG2000:
        np.testing.assert_array_equal(radiograph.pixels, expected)
    else:
        assert np.abs(radiograph.pixels - expected).mean() < 8


# ---------------------------------------------------------------------------------- grayscale pipeline


def test_monochrome1_and_monochrome2_give_the_same_bright_bone_image(tmp_path: Path):
    stored = bone_image(bits=12)
    mono2 = read_radiograph(save(dx_dataset(stored), tmp_path / "m2.dcm"))
    mono1 = read_radiograph(
        save(dx_dataset(4095 - stored, PhotometricInterpretation="MONOCHROME1"), tmp_path / "m1.dcm")
    )
    np.testing.assert_array_equal(mono1.pixels, mono2.pixels)
    assert "monochrome1_inverted" in mono1.photometric_handling
    centre, edge = mono1.pixels[:, 40].mean(), mono1.pixels[:, 2].mean()
    assert centre > edge  # the shaft is bright


def test_rescale_applies_before_monochrome1_inversion(tmp_path: Path):
    stored = bone_image(bits=12)
    ds = dx_dataset(4095 - stored, PhotometricInterpretation="MONOCHROME1", RescaleSlope=2, RescaleIntercept=-100)
    radiograph = read_radiograph(save(ds, tmp_path / "rescaled.dcm"))
    assert radiograph.photometric_handling == ("rescale", "monochrome1_inverted")
    reference = read_radiograph(save(dx_dataset(stored), tmp_path / "plain.dcm")).pixels
    np.testing.assert_allclose(radiograph.pixels, 2 * reference - 100 + 0.0 * reference, atol=1e-3)


def test_voi_window_applied_and_monotonic(tmp_path: Path):
    ds = dx_dataset(WindowCenter=2048, WindowWidth=4096)
    radiograph = read_radiograph(save(ds, tmp_path / "windowed.dcm"))
    assert "voi_window" in radiograph.photometric_handling
    plain = read_radiograph(save(dx_dataset(), tmp_path / "plain.dcm")).pixels
    order = np.argsort(plain.ravel(), kind="stable")
    assert np.all(np.diff(radiograph.pixels.ravel()[order]) >= 0)


# ------------------------------------------------------------------------------------------ spacing policy


def test_pixel_spacing_wins_and_records_calibration(tmp_path: Path):
    ds = dx_dataset(PixelSpacing=[0.15, 0.16], ImagerPixelSpacing=[0.2, 0.2], PixelSpacingCalibrationType="GEOMETRY")
    spacing = read_radiograph(save(ds, tmp_path / "a.dcm")).spacing
    assert (spacing.row_mm, spacing.column_mm) == (0.15, 0.16)
    assert spacing.source is SpacingSource.PIXEL_SPACING
    assert spacing.calibration_type == "GEOMETRY"


def test_imager_spacing_divided_by_magnification(tmp_path: Path):
    ds = dx_dataset(PixelSpacing=None, ImagerPixelSpacing=[0.143, 0.143], EstimatedRadiographicMagnificationFactor=1.1)
    spacing = read_radiograph(save(ds, tmp_path / "a.dcm")).spacing
    assert spacing.row_mm == pytest.approx(0.13)
    assert spacing.source is SpacingSource.IMAGER_PIXEL_SPACING_MAGNIFICATION_CORRECTED


def test_imager_spacing_alone(tmp_path: Path):
    ds = dx_dataset(PixelSpacing=None, ImagerPixelSpacing=[0.139, 0.139])
    spacing = read_radiograph(save(ds, tmp_path / "a.dcm")).spacing
    assert spacing.row_mm == pytest.approx(0.139)
    assert spacing.source is SpacingSource.IMAGER_PIXEL_SPACING


def test_no_spacing_is_none_with_a_note(tmp_path: Path):
    radiograph = read_radiograph(save(dx_dataset(PixelSpacing=None), tmp_path / "a.dcm"))
    assert radiograph.spacing is None
    assert any("no pixel spacing" in note for note in radiograph.notes)


def test_invalid_pixel_spacing_falls_back_to_imager_spacing(tmp_path: Path):
    ds = dx_dataset(PixelSpacing=[0, 0], ImagerPixelSpacing=[0.1, 0.1])
    radiograph = read_radiograph(save(ds, tmp_path / "a.dcm"))
    assert radiograph.spacing.source is SpacingSource.IMAGER_PIXEL_SPACING
    assert any("PixelSpacing ignored" in note for note in radiograph.notes)


def test_user_spacing_overrides_and_is_recorded(tmp_path: Path):
    radiograph = read_radiograph(save(dx_dataset(), tmp_path / "a.dcm"), pixel_spacing_mm=0.2)
    assert radiograph.spacing.row_mm == 0.2
    assert radiograph.spacing.source is SpacingSource.USER
    assert any("overrides PixelSpacing" in note for note in radiograph.notes)


@pytest.mark.parametrize("value", [0.0, -1.0, 5.0, float("nan")])
def test_implausible_user_spacing_is_refused(dx_file: Path, value: float):
    with pytest.raises(IntakeError) as caught:
        read_radiograph(dx_file, pixel_spacing_mm=value)
    assert caught.value.code is IntakeErrorCode.INVALID_SPACING


# -------------------------------------------------------------------------------------- metadata and age


def test_metadata_read(tmp_path: Path):
    ds = dx_dataset(ImageLaterality="R", ViewPosition=None, SeriesDescription="Hand PA", Manufacturer="ACME")
    radiograph = read_radiograph(save(ds, tmp_path / "a.dcm"))
    assert radiograph.laterality == "R"
    assert (radiograph.view, radiograph.view_source) == ("PA", "SeriesDescription")
    assert radiograph.patient_sex == "F"
    assert radiograph.modality == "DX"
    assert radiograph.manufacturer == "ACME"
    assert radiograph.study_date == dt.date(2024, 3, 1)
    assert radiograph.age_years == pytest.approx(53 + (dt.date(2024, 3, 1) - dt.date(2023, 6, 15)).days / 366)


def test_age_from_acquisition_date_when_study_date_missing(tmp_path: Path):
    ds = dx_dataset(StudyDate=None, AcquisitionDate="20200615")
    assert read_radiograph(save(ds, tmp_path / "a.dcm")).age_years == 50.0


def test_age_from_patient_age_when_no_birth_date(tmp_path: Path):
    ds = dx_dataset(PatientBirthDate=None, PatientAge="067Y")
    radiograph = read_radiograph(save(ds, tmp_path / "a.dcm"))
    assert (radiograph.age_years, radiograph.age_source) == (67.0, "PatientAge")


@pytest.mark.parametrize(
    ("birth", "study", "expected"),
    [
        (dt.date(2000, 2, 29), dt.date(2024, 2, 28), 23 + 364 / 365),
        (dt.date(2000, 2, 29), dt.date(2024, 2, 29), 24.0),
        (dt.date(1950, 12, 31), dt.date(2025, 1, 1), 74 + 1 / 365),
    ],
)
def test_age_in_years_exact(birth, study, expected):
    age, source = age_in_years(birth_date=birth, study_date=study, patient_age="099Y")
    assert age == pytest.approx(expected, abs=1e-4)
    assert source == "PatientBirthDate+StudyDate"


def test_birth_after_study_falls_back_to_patient_age():
    assert age_in_years(birth_date=dt.date(2030, 1, 1), study_date=dt.date(2024, 1, 1), patient_age="010W") == (
        pytest.approx(10 * 7 / 365.25, abs=1e-4),
        "PatientAge",
    )


# ------------------------------------------------------------------------------------------- bad input


def _refusal(path: Path, **kwargs) -> IntakeErrorCode:
    with pytest.raises(IntakeError) as caught:
        read_radiograph(path, **kwargs)
    assert str(path) == caught.value.path
    assert "\n" not in str(caught.value)
    return caught.value.code


def test_not_dicom(tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image\n" * 20)
    assert _refusal(path) is IntakeErrorCode.NOT_DICOM


def test_missing_file(tmp_path: Path):
    assert _refusal(tmp_path / "absent.dcm") is IntakeErrorCode.UNREADABLE_FILE


def test_no_pixel_data(tmp_path: Path):
    ds = dx_dataset()
    del ds.PixelData
    assert _refusal(save(ds, tmp_path / "a.dcm")) is IntakeErrorCode.NO_PIXEL_DATA


def test_multi_frame(tmp_path: Path):
    frame = bone_image()
    ds = dx_dataset(np.concatenate([frame, frame]), NumberOfFrames=2)
    ds.Rows = frame.shape[0]
    assert _refusal(save(ds, tmp_path / "a.dcm")) is IntakeErrorCode.MULTI_FRAME


@pytest.mark.parametrize(
    "sop_class",
    ["1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.104.1"],
    ids=["EnhancedSR", "EncapsulatedPDF"],
)
def test_non_image_sop_class(tmp_path: Path, sop_class: str):
    ds = dx_dataset(SOPClassUID=sop_class, Modality="SR" if "88" in sop_class else "DOC")
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    del ds.PixelData
    assert _refusal(save(ds, tmp_path / "a.dcm")) is IntakeErrorCode.NON_IMAGE_SOP_CLASS


@pytest.mark.parametrize("modality", ["CT", "MR", "US", "NM"])
def test_non_projection_modality(tmp_path: Path, modality: str):
    assert _refusal(save(dx_dataset(Modality=modality), tmp_path / "a.dcm")) is IntakeErrorCode.UNSUPPORTED_MODALITY


def test_truncated_pixel_data(tmp_path: Path):
    ds = dx_dataset()
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    assert _refusal(save(ds, tmp_path / "a.dcm")) is IntakeErrorCode.UNDECODABLE_PIXEL_DATA


def test_corrupt_compressed_pixel_data(dx_file: Path, tmp_path: Path):
    ds = pydicom.dcmread(dx_file)
    ds.compress(JPEG2000Lossless)
    frame = bytearray(ds.PixelData)
    frame[len(frame) // 2 :] = b"\x00" * (len(frame) - len(frame) // 2)
    ds.PixelData = bytes(frame)
    assert _refusal(save(ds, tmp_path / "a.dcm")) is IntakeErrorCode.UNDECODABLE_PIXEL_DATA


def test_decompression_bomb_header_is_refused_before_allocating(tmp_path: Path):
    ds = dx_dataset()
    ds.Rows, ds.Columns = 60000, 60000
    path = save(ds, tmp_path / "bomb.dcm")
    tracemalloc.start()
    code = _refusal(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code is IntakeErrorCode.ABSURD_DIMENSIONS
    assert peak < 50e6  # 60000^2 x 2 bytes would be 7.2 GB


def test_unsupported_transfer_syntax(dx_file: Path, tmp_path: Path):
    ds = pydicom.dcmread(dx_file)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2 video
    ds.PixelData = pydicom.encaps.encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    path = tmp_path / "mpeg.dcm"
    ds.save_as(path)
    assert _refusal(path) is IntakeErrorCode.UNSUPPORTED_TRANSFER_SYNTAX


# ------------------------------------------------------------------------------------------------ raster


def test_png_without_spacing_has_none_and_with_spacing_is_user_supplied(tmp_path: Path):
    path = tmp_path / "hand.png"
    Image.fromarray((bone_image(bits=8)).astype(np.uint8)).save(path)
    plain = read_radiograph(path)
    assert plain.spacing is None
    assert plain.source_format == "PNG"
    spaced = read_radiograph(path, pixel_spacing_mm=0.1)
    assert spaced.spacing.source is SpacingSource.USER
    np.testing.assert_array_equal(spaced.pixels, bone_image(bits=8).astype(np.float32))


def test_sixteen_bit_tiff_keeps_its_range(tmp_path: Path):
    path = tmp_path / "hand.tiff"
    Image.fromarray(bone_image(bits=16).astype(np.uint16)).save(path)
    np.testing.assert_array_equal(read_radiograph(path).pixels, bone_image(bits=16).astype(np.float32))


def test_truncated_jpeg(tmp_path: Path):
    buffer = io.BytesIO()
    Image.fromarray(bone_image(bits=8).astype(np.uint8)).save(buffer, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 3])
    assert _refusal(path) is IntakeErrorCode.UNDECODABLE_PIXEL_DATA


# -------------------------------------------------------------------------------------------------- fuzz


def _fuzz_seed_files(tmp_path_factory) -> list[bytes]:
    directory = tmp_path_factory.mktemp("fuzz")
    plain = save(dx_dataset(bone_image(rows=40, columns=36)), directory / "plain.dcm")
    ds = pydicom.dcmread(plain)
    ds.compress(RLELossless)
    rle = save(ds, directory / "rle.dcm")
    ds = pydicom.dcmread(plain)
    ds.compress(JPEG2000Lossless)
    j2k = save(ds, directory / "j2k.dcm")
    return [path.read_bytes() for path in (plain, rle, j2k)]


@pytest.fixture(scope="module")
def fuzz_seeds(tmp_path_factory) -> list[bytes]:
    return _fuzz_seed_files(tmp_path_factory)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(0, 2),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_mutated_dicom_never_crashes(tmp_path: Path, fuzz_seeds, which, flips, cut):
    data = bytearray(fuzz_seeds[which])
    for position, value in flips:
        data[int(position * len(data))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / "mutant.dcm"
    path.write_bytes(bytes(data))
    try:
        radiograph = read_radiograph(path)
    except IntakeError as error:
        refusal = error
    else:
        refusal = None
    if refusal is not None:
        assert isinstance(refusal.code, IntakeErrorCode)
        assert refusal.reason
    else:
        assert radiograph.pixels.dtype == np.float32
        assert radiograph.pixels.ndim == 2
        assert np.all(np.isfinite(radiograph.pixels))
