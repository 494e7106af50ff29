"""Tests of the synthetic hand radiograph generator (dxr.training.phantom).

Each test checks a property that a wrong generator would violate: exact projection geometry, labels that
agree with the truth, DICOM variants that read back with what was written, determinism, realistic anatomy.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dxr.analysis.intake import SpacingSource, read_radiograph
from dxr.serving.cli import main as dxr_main
from dxr.training.phantom import DicomVariant, PhantomConfig, generate_case, generate_dataset, write_case
from dxr.training.phantom.anatomy import AnatomyOptions, TubeShape, build_tube, sample_hand
from dxr.training.phantom.dicom_writer import quantize
from dxr.training.phantom.materials import Materials
from dxr.training.phantom.porosity import sample_pores
from dxr.training.phantom.projection import (
    ImageGrid,
    Projection,
    ellipse_chord_mm,
    hand_to_image_matrix,
    project_tube,
    tube_path_lengths_mm,
)

# A small, fast configuration: coarse pixels, whole hand in the field.
FAST = PhantomConfig(spacing_mm=0.2, partial_rate=0.0, metadata_error_rate=0.0, compression="none")


@pytest.fixture(scope="module")
def clean_case():
    """A noise-free, unprocessed case (exact physics visible in the pixels)."""
    config = PhantomConfig(
        spacing_mm=0.2, partial_rate=0.0, metadata_error_rate=0.0, noise=False, processing="none", marker_rate=0.0
    )
    return generate_case(11, config)


@pytest.fixture(scope="module")
def dicom_case():
    return generate_case(3, FAST)


# ------------------------------------------------------------------------------------------ geometry


def _straight_tube(ap_ratio: float = 1.0, offset: float = 0.0):
    shape = TubeShape(
        base_rel=1.6,
        head_rel=1.5,
        diaphysis=(0.25, 0.75),
        base_flare_end=0.07,
        head_flare_start=0.9,
        base_cap_mm=1.5,
        head_cap_mm=5.0,
        ap_ratio=ap_ratio,
        cortical_thickness_mm=1.6,
        end_cortex_mm=0.4,
        canal_offset_mm=offset,
    )
    return build_tube("MC3", base_uv=(3.0, -1.0), direction_deg=8.0, length_mm=60.0, half_width_mm=3.6, shape=shape)


def test_projected_path_length_matches_closed_form_in_the_mid_shaft():
    """Rendered on a rotated grid at pixel centres, the path lengths equal 2√(R²−x²) − 2√(r²−x²)."""
    bone = _straight_tube()
    spacing = 0.15
    linear = hand_to_image_matrix(right_hand=True, rotation_deg=17.3)
    grid = ImageGrid(700, 700, spacing, linear, np.array([50.0, 80.0]))
    cortex_only = Materials(
        cortical_per_mm=1.0, soft_tissue_per_mm=0.0, marrow_per_mm=0.0, trabecular_per_mm=0.0, pore_per_mm=0.0
    )
    whole_bone = Materials(
        cortical_per_mm=1.0, soft_tissue_per_mm=0.0, marrow_per_mm=1.0, trabecular_per_mm=1.0, pore_per_mm=1.0
    )
    rendered = {}
    for name, materials in (("cortex", cortex_only), ("whole", whole_bone)):
        out = Projection.empty(grid.rows, grid.columns)
        project_tube(bone, grid, materials, out, supersample=1)
        rendered[name] = out.bone_mu_path.astype(np.float64)

    # Independent geometry: distance of each pixel centre from the axis, computed in pixel units.
    p0 = grid.hand_to_pixel(bone.axis_point(0.0))
    p1 = grid.hand_to_pixel(bone.axis_point(bone.length_mm))
    axis = (p1 - p0) / np.linalg.norm(p1 - p0)
    rows, cols = np.mgrid[0 : grid.rows, 0 : grid.columns]
    rel = np.stack([cols - p0[0], rows - p0[1]], axis=-1)
    along_mm = (rel @ axis) * spacing
    x_mm = np.abs(rel[..., 0] * axis[1] - rel[..., 1] * axis[0]) * spacing
    mid = (along_mm > 0.3 * bone.length_mm) & (along_mm < 0.7 * bone.length_mm)
    big_r, small_r = 3.6, 3.6 - 1.6
    outer = 2.0 * np.sqrt(np.maximum(big_r**2 - x_mm**2, 0.0))
    inner = 2.0 * np.sqrt(np.maximum(small_r**2 - x_mm**2, 0.0))
    tolerance = 1e-3 * spacing  # 1e-3 of a pixel-equivalent path
    in_canal = mid & (x_mm < small_r)
    in_cortex_only = mid & (x_mm >= small_r) & (x_mm < big_r)
    assert in_canal.sum() > 500
    assert in_cortex_only.sum() > 500
    assert np.abs(rendered["cortex"][in_canal] - (outer - inner)[in_canal]).max() < tolerance
    assert np.abs(rendered["cortex"][in_cortex_only] - outer[in_cortex_only]).max() < tolerance
    assert np.abs(rendered["whole"][mid] - outer[mid]).max() < tolerance
    assert np.all(rendered["whole"][mid & (x_mm > big_r + 0.01)] == 0.0)


def test_elliptical_offset_section_has_closed_form_chords():
    """Elliptical section with an off-centre canal: chords are those of the two ellipses."""
    bone = _straight_tube(ap_ratio=1.08, offset=-0.08)
    s = np.full(2001, bone.length_mm / 2)
    x = np.linspace(-4.0, 4.0, 2001)
    outer, inner, trabecular = tube_path_lengths_mm(bone, s, x)
    a, b = 3.6, 3.6 * 1.08
    ai, bi = a - 1.6, b - 1.6
    np.testing.assert_allclose(outer, 2 * (b / a) * np.sqrt(np.maximum(a * a - x * x, 0)), atol=1e-12)
    np.testing.assert_allclose(inner, 2 * (bi / ai) * np.sqrt(np.maximum(ai * ai - (x + 0.08) ** 2, 0)), atol=1e-12)
    assert np.all(trabecular == 0.0)
    np.testing.assert_allclose(ellipse_chord_mm(np.array([0.0, 3.0]), 5.0, 5.0), [10.0, 8.0])


def test_pores_are_inside_the_cortex_disjoint_and_exactly_accounted():
    rng = np.random.default_rng(0)
    a, b, ai, bi, c = 3.6, 3.9, 2.0, 2.3, -0.08
    pores = sample_pores(
        rng,
        porosity=0.05,
        region_mm=(15.0, 45.0),
        outer_mm=a,
        outer_ap_mm=b,
        inner_mm=ai,
        inner_ap_mm=bi,
        canal_offset_mm=c,
    )
    rho = pores.radius_mm
    assert abs(pores.porosity - 0.05) < 0.002
    volume = math.pi * rho**2 * np.sum(pores.s_end_mm - pores.s_start_mm)
    assert volume / (pores.cortical_area_mm2 * 30.0) == pytest.approx(pores.porosity, rel=1e-9)
    # Every pore disc inside the outer ellipse and outside the canal (checked on the disc's rim).
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    rim_x = pores.x_mm[:, None] + rho * np.cos(angles)
    rim_z = pores.z_mm[:, None] + rho * np.sin(angles)
    assert np.all((rim_x / a) ** 2 + (rim_z / b) ** 2 < 1.0)
    assert np.all(((rim_x - c) / ai) ** 2 + (rim_z / bi) ** 2 > 1.0)
    # No two pores that share an axial stretch overlap.
    for i in range(0, pores.count, 7):
        share = (pores.s_start_mm < pores.s_end_mm[i]) & (pores.s_start_mm[i] < pores.s_end_mm)
        share[i] = False
        d = np.hypot(pores.x_mm[share] - pores.x_mm[i], pores.z_mm[share] - pores.z_mm[i])
        assert np.all(d >= 2 * rho)
    # The footprint-averaged pore path integrates to the pore cross-section at that axial position.
    for s in (20.05, 30.05, 40.05):
        x = np.arange(-5.0, 5.0, 0.01) + 0.005
        integral = pores.mean_path_mm(np.full(x.size, s), x, 0.15).sum() * 0.01
        assert integral == pytest.approx(pores.integrated_path_mm2(s), rel=1e-6, abs=1e-9)


# ------------------------------------------------------------------------------------------ labels and truth


def _profile(labels: np.ndarray, centre: np.ndarray, direction: np.ndarray, half_px: float) -> tuple:
    t = np.arange(-half_px, half_px, 0.02)
    pts = centre[None, :] + t[:, None] * direction[None, :]
    cols, rows = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
    return t, labels[rows, cols]


def test_label_boundaries_agree_with_the_true_radii(clean_case):
    truth, labels = clean_case.truth, clean_case.labels
    spacing = truth["pixel_spacing_mm"]
    for roman, bone in truth["bones"].items():
        assert bone["fully_included"]
        line = np.asarray(bone["centreline_px"])
        fractions = np.asarray(bone["centreline_fractions"])
        for f in (0.4, 0.5, 0.6):
            k = int(np.argmin(np.abs(fractions - f)))
            tangent = line[k + 1] - line[k - 1]
            tangent /= np.linalg.norm(tangent)
            radial = np.array([-tangent[1], tangent[0]])
            if radial @ np.asarray(bone["radial_direction_px"]) < 0:
                radial = -radial
            half = bone["width_mm"] / spacing
            t, values = _profile(labels, line[k], radial, half + 4)
            in_bone = np.isin(values, [bone["label_bone"], bone["label_canal"]])
            in_canal = values == bone["label_canal"]
            outer_lo, outer_hi = t[in_bone].min(), t[in_bone].max()
            inner_lo, inner_hi = t[in_canal].min(), t[in_canal].max()
            w = bone["width_mm"] / spacing
            ulnar_edge = (-bone["width_mm"] / 2 + bone["cortical_thickness_ulnar_mm"]) / spacing
            radial_edge = (bone["width_mm"] / 2 - bone["cortical_thickness_radial_mm"]) / spacing
            assert abs(outer_lo + w / 2) < 1.0, roman
            assert abs(outer_hi - w / 2) < 1.0, roman
            assert abs(inner_lo - ulnar_edge) < 1.0, roman
            assert abs(inner_hi - radial_edge) < 1.0, roman
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 4, 5, 6}
    assert {1, 2, 3, 4, 5, 6} <= set(np.unique(labels))


def test_truth_is_consistent_with_the_anatomy(clean_case):
    truth = clean_case.truth
    for bone in truth["bones"].values():
        w, t = bone["width_mm"], bone["cortical_thickness_mm"]
        assert bone["vpa_mm"] == pytest.approx(math.pi * t * (1 - t / w), rel=1e-6)
        assert (bone["cortical_thickness_radial_mm"] + bone["cortical_thickness_ulnar_mm"]) / 2 == pytest.approx(t)
        assert 0.15 <= t / w <= 0.40
        (x0, y0), (x1, y1) = bone["axis_px"]
        chord_px = math.hypot(x1 - x0, y1 - y0)
        assert chord_px * truth["pixel_spacing_mm"] == pytest.approx(bone["length_mm"], rel=2e-3)
        d0, d1 = bone["mid_diaphysis_fraction"]
        assert d0 <= 0.30
        assert d1 >= 0.70
    params = truth["anatomy"]["parameters"]
    radial = [b["cortical_thickness_radial_mm"] / b["cortical_thickness_ulnar_mm"] for b in truth["bones"].values()]
    if params["asymmetric_cortex"]:
        assert all(1.10 - 1e-6 <= r <= 1.12 + 1e-6 for r in radial)
    ap = [b["ap_width_mm"] / b["width_mm"] for b in truth["bones"].values()]
    if params["elliptical"]:
        assert all(1.05 - 1e-6 <= r <= 1.10 + 1e-6 for r in ap)


def test_pixels_show_cortex_brighter_than_canal_brighter_than_soft_tissue(clean_case, tmp_path):
    path = tmp_path / "clean.dcm"
    pydicom.dcmwrite(path, clean_case.encoded_dataset(), enforce_file_format=True)
    pixels = read_radiograph(path).pixels
    bone = clean_case.truth["bones"]["III"]
    spacing = clean_case.truth["pixel_spacing_mm"]
    centre = np.asarray(bone["mid_point_px"])
    radial = np.asarray(bone["radial_direction_px"])
    t, values = _profile(pixels, centre, radial, bone["width_mm"] / spacing + 6)
    half = bone["width_mm"] / 2 / spacing
    # The projected cortex is longest where the ray grazes the endosteal border (x = r).
    endosteal = bone["medullary_width_mm"] / 2 / spacing
    offset = bone["canal_offset_mm"] / spacing
    canal = values[np.abs(t - offset) < 1.0].mean()
    cortex = values[np.abs(np.abs(t - offset) - endosteal) < 0.6].mean()
    soft = values[np.abs(np.abs(t) - (half + 4)) < 1.0].mean()
    background = np.percentile(pixels, 1)
    assert cortex > canal > soft > background


def test_anatomy_follows_adult_distributions():
    rng = np.random.default_rng(123)
    options = AnatomyOptions(porosity=0.0)
    lengths, widths, ratios, young_f, old_f, men_w, women_w = [], [], [], [], [], [], []
    for _ in range(200):
        hand = sample_hand(rng, options)
        mc = {r: hand.metacarpal(r) for r in ("I", "II", "III", "IV", "V")}
        ls = [mc[r].length_mm for r in ("II", "III", "IV", "V", "I")]
        assert ls == sorted(ls, reverse=True), "length order II > III > IV > V > I"
        mc2 = mc["II"]
        w, t = 2 * mc2.half_width_mm, mc2.shape.cortical_thickness_mm
        lengths.append(mc2.length_mm)
        widths.append(w)
        ratios.append(t / w)
        subject = hand.subject
        (men_w if subject.sex == "M" else women_w).append(w)
        if subject.sex == "F" and subject.age_years < 45:
            young_f.append(t)
        if subject.sex == "F" and subject.age_years > 65:
            old_f.append(t)
        for r in ("II", "III", "IV"):
            bone = mc[r]
            assert 0.8 <= bone.shape.cortical_thickness_mm <= 2.5
            assert 0.15 <= bone.shape.cortical_thickness_mm / (2 * bone.half_width_mm) <= 0.40
    assert 59.0 < np.mean(lengths) < 63.0
    assert 5.0 < np.std(lengths) < 9.5
    assert 6.0 < np.mean(widths) < 9.0
    assert np.mean(men_w) > np.mean(women_w) + 0.5
    assert np.mean(young_f) > np.mean(old_f) + 0.2


# ------------------------------------------------------------------------------------------ DICOM


VARIANTS = [
    DicomVariant("DX", "pixel", "MONOCHROME2", 12, "none", True, True),
    DicomVariant("DX", "pixel", "MONOCHROME1", 12, "none", True, True),
    DicomVariant("DX", "imager", "MONOCHROME2", 10, "rle", False, True),
    DicomVariant("DX", "imager_magnification", "MONOCHROME1", 16, "jpegls", True, True),
    DicomVariant("DX", "imager_magnification", "MONOCHROME2", 14, "j2k", False, True),
    DicomVariant("CR", "pixel", "MONOCHROME1", 10, "j2k", True, False),
    DicomVariant("CR", "pixel", "MONOCHROME2", 10, "j2k", True, False),
    DicomVariant("CR", "imager", "MONOCHROME1", 16, "none", False, True),
    DicomVariant("CR", "imager_magnification", "MONOCHROME2", 12, "jpegls", True, False),
    DicomVariant("CR", "imager", "MONOCHROME2", 16, "rle", True, True),
    DicomVariant("DX", "pixel", "MONOCHROME2", 16, "jpegls", False, True),
    DicomVariant("DX", "pixel", "MONOCHROME1", 16, "jpegls", False, True),
]


def test_every_dicom_variant_reads_back_through_intake(dicom_case, tmp_path):
    truth = dicom_case.truth
    true_spacing = truth["pixel_spacing_mm"]
    magnification = truth["geometry"]["magnification"]
    subject = truth["subject"]
    read = {}
    for i, variant in enumerate(VARIANTS):
        ds = dicom_case.encoded_dataset(variant)
        path = tmp_path / f"v{i}.dcm"
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        radiograph = read_radiograph(path)
        assert str(ds.file_meta.TransferSyntaxUID) == str(variant.transfer_syntax)
        assert radiograph.modality == variant.sop_class
        assert radiograph.sop_class_uid == str(ds.SOPClassUID)
        assert radiograph.photometric_interpretation == variant.photometric
        assert radiograph.bits_stored == variant.bits_stored
        spacing = radiograph.spacing
        if variant.spacing_tag == "imager":
            assert spacing.source == SpacingSource.IMAGER_PIXEL_SPACING
            expected = true_spacing * magnification
        elif variant.spacing_tag == "imager_magnification":
            assert spacing.source == SpacingSource.IMAGER_PIXEL_SPACING_MAGNIFICATION_CORRECTED
            expected = true_spacing
        else:
            assert spacing.source == SpacingSource.PIXEL_SPACING
            expected = true_spacing
        assert spacing.row_mm == pytest.approx(expected, rel=1e-7)
        assert spacing.column_mm == pytest.approx(expected, rel=1e-7)
        assert radiograph.patient_sex == subject["sex"]
        assert radiograph.age_years == pytest.approx(subject["age_years"], abs=1e-3)
        assert radiograph.laterality == subject["hand_side"]
        assert radiograph.view == "PA"
        assert radiograph.manufacturer == "DXR-BMD phantom"
        assert radiograph.shape == dicom_case.image.shape
        read[i] = radiograph.pixels
    # Same bits, MONOCHROME1 vs MONOCHROME2 (with and without a window): identical intake pixels.
    for mono2, mono1 in ((0, 1), (6, 5), (10, 11)):
        np.testing.assert_allclose(read[mono1], read[mono2], rtol=0, atol=1e-6 * float(read[mono2].max()))
    # Without a window the intake pixels are the stored MONOCHROME2 values of the case.
    np.testing.assert_array_equal(read[10], quantize(dicom_case.image, 16).astype(np.float32))


def test_written_metadata_errors_are_recorded_and_read_back(tmp_path):
    config = PhantomConfig(spacing_mm=0.2, partial_rate=0.0, metadata_error_rate=1.0, compression="none")
    kinds = set()
    for seed in (1, 2):
        case = generate_case(seed, config)
        path = tmp_path / f"{seed}.dcm"
        pydicom.dcmwrite(path, case.encoded_dataset(), enforce_file_format=True)
        radiograph = read_radiograph(path)
        expected = case.truth["dicom"]["expected_intake"]
        kinds.update(case.truth["dicom"]["metadata_errors"])
        assert radiograph.patient_sex == expected["patient_sex"]
        assert radiograph.laterality == expected["laterality"]
        assert radiograph.view == expected["view"]
        if expected["age_years"] is None:
            assert radiograph.age_years is None
        else:
            assert radiograph.age_years == pytest.approx(expected["age_years"], abs=1e-3)
        assert [radiograph.spacing.row_mm] * 2 == pytest.approx(expected["spacing_mm"], rel=1e-9)
        # The truth keeps what really was, beside what was written.
        assert case.truth["subject"]["hand_side"] in ("L", "R")
        assert case.truth["subject"]["sex"] in ("F", "M")
    assert {"sex_missing", "laterality_missing"} <= kinds


# ------------------------------------------------------------------------------------------ datasets and CLI


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_cli_writes_the_dataset_and_same_seed_gives_identical_bytes(tmp_path, capsys):
    out_cli = tmp_path / "cli"
    status = dxr_main(
        [
            "phantom",
            "--out",
            str(out_cli),
            "--count",
            "2",
            "--seed",
            "5",
            "--spacing-mm",
            "0.2",
            "--quiet",
            "--workers",
            "2",
        ]
    )
    assert status == 0
    assert "wrote 2 case(s)" in capsys.readouterr().out
    files = _files(out_cli)
    names = json.loads(files["manifest.json"])["cases"]
    assert names == ["phantom_5_00000", "phantom_5_00001"]
    for name in names:
        assert {f"{name}.dcm", f"{name}_labels.png", f"{name}_truth.json"} <= set(files)
        truth = json.loads(files[f"{name}_truth.json"])
        assert truth["seed"] == 5
        assert truth["pixel_spacing_mm"] == 0.2
        assert set(truth["bones"]) == {"II", "III", "IV"}
        assert read_radiograph(out_cli / f"{name}.dcm").shape == (truth["image"]["rows"], truth["image"]["columns"])
    # The library, one process, same seed and options: byte-identical files.
    again = tmp_path / "api"
    generate_dataset(again, 2, 5, PhantomConfig(spacing_mm=0.2), workers=1)
    assert _files(again) == files
    # Another seed: different images and truth.
    other = tmp_path / "other"
    generate_dataset(other, 1, 6, PhantomConfig(spacing_mm=0.2))
    other_files = _files(other)
    assert other_files["phantom_6_00000.dcm"] != files["phantom_5_00000.dcm"]
    first = json.loads(files["phantom_5_00000_truth.json"])["bones"]["II"]
    assert json.loads(other_files["phantom_6_00000_truth.json"])["bones"]["II"] != first


def test_cli_rejects_invalid_options(tmp_path, capsys):
    assert dxr_main(["phantom", "--out", str(tmp_path), "--count", "1", "--age-range", "60", "30"]) == 2
    assert "age-range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dxr_main(["phantom", "--out", str(tmp_path), "--porosity", "0.9"])


@pytest.mark.parametrize("compression", ["j2k", "jpegls", "rle"])
def test_compressed_files_are_byte_identical_for_the_same_seed(tmp_path, compression):
    config = PhantomConfig(spacing_mm=0.2, compression=compression, partial_rate=0.0)
    first = write_case(generate_case(3, config), tmp_path / "first")
    second = write_case(generate_case(3, config), tmp_path / "second")
    assert first["dicom"].read_bytes() == second["dicom"].read_bytes()
