"""The geometric post-processor on images whose W, T and L are known exactly: accuracy, ROI and every flag."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from dxr.analysis.geometry import RegionOfInterest, measure_shaft
from dxr.analysis.intake import PixelSpacing, SpacingSource, read_calibration
from dxr.analysis.measurement import measure_hand
from dxr.analysis.profiles import fit_tube_profiles, tube_profile_model
from dxr.analysis.quality import ReasonCode
from dxr.models.preprocessing import round_trip_labels
from tests.synthetic import DEFAULT_TUBES, Tube, three_tubes

CALIBRATION = read_calibration()


def _codes(flags) -> set[ReasonCode]:
    return {flag.code for flag in flags}


def test_edge_fit_is_unbiased_on_noisy_profiles():
    rng = np.random.default_rng(3)
    x = np.arange(-40.0, 40.0, 0.5)
    truth = np.array([-22.0, -14.5, 13.0, 22.0, np.log(1.4)])
    clean = tube_profile_model(x, np.repeat(truth[None], 200, axis=0), 0.5)
    profiles = 50 + 0.2 * x + 3.0 * clean + rng.normal(0, 3.0, clean.shape)
    start = truth[:4] + rng.normal(0, 1.5, (200, 4))
    fit = fit_tube_profiles(x, profiles, np.ones_like(profiles), start)
    error = fit.edges_px - truth[:4]
    assert np.all(np.abs(error.mean(axis=0)) < 0.03)  # pixels
    assert np.all(error.std(axis=0) < 0.3)
    np.testing.assert_allclose(np.median(fit.blur_sigma_px), 1.4, rtol=0.1)


@pytest.mark.parametrize(("spacing_mm", "angle_deg"), [(0.1, 0.0), (0.15, -23.0), (0.2, 30.0)])
def test_width_thickness_length_recovered_with_coarse_masks(spacing_mm: float, angle_deg: float):
    radiograph, labels = three_tubes(spacing_mm=spacing_mm, angle_deg=angle_deg, size_mm=(75.0, 95.0))
    result = measure_hand(radiograph, round_trip_labels(labels, spacing_mm), CALIBRATION)
    assert result.status == "ok", result.rejection_reasons
    for bone, tube in zip(result.bones, DEFAULT_TUBES, strict=True):
        assert bone.status == "ok", bone.flags
        assert bone.width_mm == pytest.approx(tube.width_mm, abs=0.04)
        assert bone.cortical_thickness_mm == pytest.approx(tube.thickness_mm, abs=0.03)
        assert bone.length_mm == pytest.approx(tube.length_mm, abs=1.2)  # coarse mask ends
        assert bone.n_profiles >= 100
    assert result.bones_used == ("II", "III", "IV")
    assert result.dxr_bmd_g_cm2 == pytest.approx(np.mean([bone.bmd_g_cm2 for bone in result.bones]))


def test_radial_and_ulnar_cortices_are_named_from_bone_order():
    radiograph, labels = three_tubes()
    result = measure_hand(radiograph, labels, CALIBRATION)
    # II lies at smaller x than IV, so the radial side is towards -x: the "left" of a downward-running axis.
    for bone in result.bones:
        normal = bone.geometry.normals.mean(axis=0)
        radial_is_minus_x = (normal[0] < 0) == (bone.geometry.radial_side == "right")
        assert radial_is_minus_x


def test_roi_spans_the_configured_fraction_of_the_length():
    radiograph, labels = three_tubes()
    roi = RegionOfInterest(0.35, 0.65)
    geometry = measure_shaft(radiograph.pixels, labels, "III", roi)
    tube = DEFAULT_TUBES[1]
    along_mm = (geometry.centres_px[:, 1] * 0.15) - tube.centre_mm[1]  # the tube runs along y
    assert along_mm.min() == pytest.approx(-0.15 * tube.length_mm, abs=0.5)
    assert along_mm.max() == pytest.approx(0.15 * tube.length_mm, abs=0.5)
    with pytest.raises(ValueError, match="ROI fractions"):
        RegionOfInterest(0.6, 0.4)


def test_precision_over_repositioned_noisy_images():
    bmd = []
    for seed, angle in enumerate((-12.0, -4.0, 3.0, 9.0, 15.0)):
        radiograph, labels = three_tubes(angle_deg=angle, seed=seed, noise=0.015)
        bmd.append(measure_hand(radiograph, round_trip_labels(labels, 0.15), CALIBRATION).dxr_bmd_g_cm2)
    assert np.std(bmd) / np.mean(bmd) < 0.005


# ------------------------------------------------------------------------------------------- quality flags


def test_spacing_missing_rejects_with_no_numbers():
    radiograph, labels = three_tubes()
    result = measure_hand(dataclasses.replace(radiograph, spacing=None), labels, CALIBRATION)
    assert result.status == "rejected"
    assert _codes(result.rejection_reasons) == {ReasonCode.SPACING_MISSING}
    assert result.dxr_bmd_g_cm2 is None
    assert all(bone.width_mm is None and bone.geometry is not None for bone in result.bones)


def test_anisotropic_spacing_rejected():
    radiograph, labels = three_tubes()
    spacing = PixelSpacing(0.15, 0.16, SpacingSource.PIXEL_SPACING)
    result = measure_hand(dataclasses.replace(radiograph, spacing=spacing), labels, CALIBRATION)
    assert _codes(result.rejection_reasons) == {ReasonCode.SPACING_ANISOTROPIC}


def test_label_map_off_grid_rejected():
    radiograph, labels = three_tubes()
    result = measure_hand(radiograph, labels[:-3], CALIBRATION)
    assert _codes(result.rejection_reasons) == {ReasonCode.LABEL_MAP_MISMATCH}


def test_missing_bone_is_flagged_and_combination_uses_the_other_two():
    radiograph, labels = three_tubes()
    labels[np.isin(labels, (2, 5))] = 0
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert result.status == "ok"
    assert result.bones_used == ("II", "IV")
    assert _codes(result.bones[1].flags) == {ReasonCode.BONE_NOT_FOUND}
    expected = np.mean([result.bones[0].bmd_g_cm2, result.bones[2].bmd_g_cm2])
    assert result.dxr_bmd_g_cm2 == pytest.approx(expected)


@pytest.mark.parametrize("error", ["canal_missed", "outline_too_wide"])
def test_label_map_that_disagrees_with_the_fit_is_flagged(error: str):
    radiograph, labels = three_tubes()
    if error == "canal_missed":  # a network that labelled III's canal as bone
        labels[labels == 5] = 2
    else:  # an outline of III 1.4 times as wide as the bone
        labels[(ndimage.binary_dilation(labels == 2, iterations=10)) & (labels == 0)] = 2
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert ReasonCode.SEGMENTATION_MISMATCH in _codes(result.bones[1].flags)
    assert [bone.status for bone in result.bones] == ["ok", "rejected", "ok"]


def test_one_bone_is_too_few():
    radiograph, labels = three_tubes()
    labels[np.isin(labels, (2, 3, 5, 6))] = 0
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert _codes(result.rejection_reasons) == {ReasonCode.TOO_FEW_BONES}
    assert result.dxr_bmd_g_cm2 is None


def test_bone_cut_by_the_image_edge_is_truncated():
    radiograph, labels = three_tubes()
    cut = 150  # rows (22.5 mm): the top of every tube leaves the image
    radiograph = dataclasses.replace(radiograph, pixels=radiograph.pixels[cut:])
    result = measure_hand(radiograph, labels[cut:], CALIBRATION)
    assert all(ReasonCode.BONE_TRUNCATED in _codes(bone.flags) for bone in result.bones)
    assert _codes(result.rejection_reasons) == {ReasonCode.TOO_FEW_BONES}


def test_implausible_dimensions_flagged():
    tubes = (Tube("II", 14.5, 2.0, 62.0, (18.0, 45.0)), *DEFAULT_TUBES[1:])
    radiograph, labels = three_tubes(tubes=tubes, size_mm=(70.0, 90.0))
    bone = measure_hand(radiograph, labels, CALIBRATION).bones[0]
    assert ReasonCode.IMPLAUSIBLE_WIDTH in _codes(bone.flags)
    assert bone.width_mm is None

    tubes = (Tube("II", 8.0, 0.5, 62.0, (20.0, 45.0)), *DEFAULT_TUBES[1:])
    radiograph, labels = three_tubes(tubes=tubes)
    bone = measure_hand(radiograph, labels, CALIBRATION).bones[0]
    assert ReasonCode.IMPLAUSIBLE_RATIO in _codes(bone.flags)


def test_thin_cortex_flagged_implausible_thickness():
    tubes = (Tube("II", 4.0, 0.35, 62.0, (20.0, 45.0)), *DEFAULT_TUBES[1:])
    radiograph, labels = three_tubes(tubes=tubes, spacing_mm=0.08, noise=0.002)
    bone = measure_hand(radiograph, labels, CALIBRATION).bones[0]
    assert ReasonCode.IMPLAUSIBLE_THICKNESS in _codes(bone.flags)


def test_inconsistent_bone_is_rejected_and_left_out():
    tubes = (DEFAULT_TUBES[0], Tube("III", 7.6, 0.8, 58.0, (33.0, 45.0)), DEFAULT_TUBES[2])
    radiograph, labels = three_tubes(tubes=tubes)
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert ReasonCode.INCONSISTENT_WITH_OTHER_BONES in _codes(result.bones[1].flags)
    assert result.bones_used == ("II", "IV")


def test_two_inconsistent_bones_reject_the_image():
    tubes = (DEFAULT_TUBES[0], Tube("III", 7.6, 0.9, 58.0, (33.0, 45.0)))
    radiograph, labels = three_tubes(tubes=tubes)
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert ReasonCode.BONES_INCONSISTENT in _codes(result.rejection_reasons)
    assert all(bone.bmd_g_cm2 is None for bone in result.bones)


def test_noise_swamping_the_cortex_is_low_contrast():
    radiograph, labels = three_tubes(noise=0.6)
    result = measure_hand(radiograph, labels, CALIBRATION)
    assert result.status == "rejected"
    flagged = set().union(*(_codes(bone.flags) for bone in result.bones))
    assert flagged & {ReasonCode.LOW_CONTRAST, ReasonCode.TOO_FEW_PROFILES}


def test_overexposed_shaft_flagged():
    radiograph, labels = three_tubes()
    clipped = np.minimum(radiograph.pixels, np.percentile(radiograph.pixels, 80))
    result = measure_hand(dataclasses.replace(radiograph, pixels=clipped), labels, CALIBRATION)
    assert all(ReasonCode.OVEREXPOSED in _codes(bone.flags) for bone in result.bones)


@pytest.mark.parametrize("shutter", ["white", "black"])
def test_bone_running_under_the_collimator_is_truncated(shutter: str):
    radiograph, labels = three_tubes()
    pixels = radiograph.pixels.copy()
    blank = pixels.max() if shutter == "white" else pixels.min()
    cut = 120  # rows (18 mm): the tops of II and III are under the blank, unexposed field
    pixels[:cut] = blank
    labels = labels.copy()
    labels[:cut] = 0  # a label map can only follow the bone inside the exposed field
    result = measure_hand(dataclasses.replace(radiograph, pixels=pixels), labels, CALIBRATION)
    truncated = [bone.name for bone in result.bones if ReasonCode.BONE_TRUNCATED in _codes(bone.flags)]
    assert truncated == ["II", "III"]  # IV starts below the cut (its top is at 20 mm)
    assert _codes(result.rejection_reasons) == {ReasonCode.TOO_FEW_BONES}  # IV alone is not enough
