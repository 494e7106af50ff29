"""Measuring a hand: metacarpals II-IV from a radiograph and a label map to per-bone and combined results.

Rule for the combined values: they are the mean over the bones that passed quality control, and need at
least two of the three. A bone whose VPA deviates from the median of the three by more than
``LIMITS.max_vpa_deviation`` is rejected as inconsistent; if only two bones were measured and they disagree
that much, the image is rejected, since neither can be singled out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxr.analysis.densitometry import (
    Calibration,
    barnett_nordin_index,
    bone_health_index,
    cortical_porosity,
    dxr_bmd_g_cm2,
    exton_smith_index,
    metacarpal_index,
    pore_texture_per_unit_porosity,
    volume_per_area_mm,
)
from dxr.analysis.geometry import BONE_LABELS, BoneGeometry, RegionOfInterest, bone_region, measure_shaft
from dxr.analysis.intake import Radiograph
from dxr.analysis.quality import LIMITS, Flag, ReasonCode

__all__ = ["BoneMeasurement", "HandMeasurement", "measure_hand"]

BONE_NAMES = ("II", "III", "IV")
# The profile model's extra response terms (see profiles.fit_tube_profiles): vendors' edge enhancement and
# grey-scale curves change the profile shape; the tube model plus the model smoothed by these widths and
# the squared model span what unsharp masking and smooth LUTs do. Chosen on phantoms (benchmarks/).
RESPONSE_SMOOTHING_MM = (0.7, 2.0)
# Detector and focal-spot blur of hand radiography (sigma): well under the smoothing widths above.
MAX_SYSTEM_BLUR_MM = 0.3
_NOMINAL_SPACING_MM = 0.15  # only to size the smoothing when an image has no spacing (no mm output then)


@dataclass(frozen=True)
class BoneMeasurement:
    """One metacarpal. Numbers are ``None`` when they cannot be trusted (see ``flags``)."""

    name: str
    status: str  # "ok" or "rejected"
    flags: tuple[Flag, ...]
    n_profiles: int
    n_profiles_rejected: int
    width_mm: float | None = None
    cortical_thickness_mm: float | None = None
    cortical_thickness_radial_mm: float | None = None
    cortical_thickness_ulnar_mm: float | None = None
    length_mm: float | None = None
    vpa_mm: float | None = None
    porosity: float | None = None  # texture estimate of this bone alone (experimental)
    bmd_g_cm2: float | None = None
    mci: float | None = None
    barnett_nordin_index: float | None = None
    exton_smith_index: float | None = None
    bhi: float | None = None
    geometry: BoneGeometry | None = None


@dataclass(frozen=True)
class HandMeasurement:
    """The measured hand: per-bone results and the combined values over the accepted bones."""

    status: str  # "ok" or "rejected"
    rejection_reasons: tuple[Flag, ...]
    bones: tuple[BoneMeasurement, ...]
    bones_used: tuple[str, ...]
    calibration: Calibration
    dxr_bmd_g_cm2: float | None = None
    bhi: float | None = None
    mci: float | None = None
    porosity: float | None = None  # texture estimate pooled over the accepted bones (experimental)
    bmd_porosity: float | None = None  # the p that entered DXR-BMD (calibration.bmd_porosity says which)
    cortical_thickness_mm: float | None = None
    width_mm: float | None = None


def measure_hand(radiograph: Radiograph, label_map: np.ndarray, calibration: Calibration) -> HandMeasurement:
    """Measure metacarpals II, III and IV and combine them into DXR-BMD.

    Parameters
    ----------
    radiograph
        From :func:`dxr.analysis.intake.read_radiograph`.
    label_map
        Integer labels on the image grid: 0 background, 1-3 metacarpal II-IV outside the canal, 4-6 their
        medullary canals (a coarse map is enough: it only locates the bones).
    calibration
        The measurement method (density constant, ROI, pore radius).
    """
    image_flags: list[Flag] = []
    if label_map.shape != radiograph.shape or label_map.min() < 0 or label_map.max() > 6:
        flag = Flag(
            ReasonCode.LABEL_MAP_MISMATCH,
            f"label map {label_map.shape} with labels {int(label_map.min())}-{int(label_map.max())} does not fit "
            f"the image {radiograph.shape} (expected labels 0-6)",
        )
        return HandMeasurement("rejected", (flag,), (), (), calibration)
    spacing = radiograph.spacing
    if spacing is None:
        image_flags.append(
            Flag(ReasonCode.SPACING_MISSING, "no pixel spacing: supply one (--pixel-spacing) to get mm and BMD")
        )
    elif abs(spacing.row_mm - spacing.column_mm) > LIMITS.max_anisotropy * spacing.mean_mm:
        image_flags.append(
            Flag(ReasonCode.SPACING_ANISOTROPIC, f"row {spacing.row_mm} mm vs column {spacing.column_mm} mm")
        )
    mm_per_px = None if image_flags else spacing.mean_mm  # type: ignore[union-attr]

    roi = RegionOfInterest(calibration.roi_start_fraction, calibration.roi_end_fraction)
    label_boxes = ndimage.find_objects(label_map, max_label=6)  # one pass over the map, shared by all bones
    radial = _radial_direction(label_map, label_boxes)
    bones = tuple(
        _measure_bone(radiograph.pixels, label_map, label_boxes, name, roi, radial, mm_per_px, calibration)
        for name in BONE_NAMES
    )
    bones = _reject_inconsistent(bones, image_flags)
    accepted = [bone for bone in bones if bone.status == "ok"]
    if mm_per_px is not None and len(accepted) < 2 and not image_flags:
        found = ", ".join(bone.name for bone in accepted) or "none"
        image_flags.append(
            Flag(ReasonCode.TOO_FEW_BONES, f"measurable metacarpals: {found}; at least two of II-IV are needed")
        )
    if image_flags:
        return HandMeasurement("rejected", tuple(image_flags), bones, (), calibration)

    # Porosity of the hand: the texture of all accepted cortices pooled (one estimate is too noisy).
    hand_porosity = cortical_porosity(
        [bone.geometry.cortex_texture_variance for bone in accepted],  # type: ignore[union-attr]
        [_pore_scale(bone.geometry, calibration, mm_per_px) for bone in accepted],  # type: ignore[arg-type]
    )
    if calibration.bmd_porosity == "measured" and hand_porosity is not None:
        bmd_porosity = hand_porosity
    else:
        bmd_porosity = calibration.reference_porosity
    bones = tuple(
        dataclasses.replace(
            bone, bmd_g_cm2=dxr_bmd_g_cm2(bone.vpa_mm, bmd_porosity, calibration.density_constant_g_cm3)
        )
        if bone.status == "ok"
        else bone
        for bone in bones
    )
    accepted = [bone for bone in bones if bone.status == "ok"]

    def mean(field: str) -> float:
        return float(np.mean([getattr(bone, field) for bone in accepted]))

    return HandMeasurement(
        status="ok",
        rejection_reasons=(),
        bones=bones,
        bones_used=tuple(bone.name for bone in accepted),
        calibration=calibration,
        dxr_bmd_g_cm2=mean("bmd_g_cm2"),
        bhi=mean("bhi"),
        mci=mean("mci"),
        porosity=hand_porosity,
        bmd_porosity=bmd_porosity,
        cortical_thickness_mm=mean("cortical_thickness_mm"),
        width_mm=mean("width_mm"),
    )


def _radial_direction(label_map: np.ndarray, boxes: list) -> np.ndarray | None:
    """Unit vector from metacarpal IV towards II (towards the thumb), from the label centroids."""
    centroids = {}
    for name in BONE_LABELS:
        region = bone_region(label_map, name, boxes)
        if region is not None:
            (top, left), mask = region
            rows, columns = np.nonzero(mask)
            centroids[name] = np.array([columns.mean() + left, rows.mean() + top])
    for ulnar, radial in (("IV", "II"), ("III", "II"), ("IV", "III")):
        if ulnar in centroids and radial in centroids:
            vector = centroids[radial] - centroids[ulnar]
            norm = np.linalg.norm(vector)
            if norm > 0:
                return vector / norm
    return None


def _measure_bone(
    pixels: np.ndarray,
    label_map: np.ndarray,
    label_boxes: list,
    name: str,
    roi: RegionOfInterest,
    radial_direction: np.ndarray | None,
    mm_per_px: float | None,
    calibration: Calibration,
) -> BoneMeasurement:
    scale_mm = mm_per_px or _NOMINAL_SPACING_MM
    geometry = measure_shaft(
        pixels,
        label_map,
        name,
        roi,
        radial_direction=radial_direction,
        smoothing_widths_px=tuple(width / scale_mm for width in RESPONSE_SMOOTHING_MM),
        nonlinear=True,
        max_blur_px=max(MAX_SYSTEM_BLUR_MM / scale_mm, 1.5),
        label_boxes=label_boxes,
    )
    if geometry is None:
        flag = Flag(ReasonCode.BONE_NOT_FOUND, f"metacarpal {name} is not in the label map")
        return BoneMeasurement(name, "rejected", (flag,), 0, 0)
    n_valid = geometry.n_valid
    n_rejected = int(geometry.valid.size - n_valid)
    flags: list[Flag] = []
    if geometry.truncated:
        flags.append(Flag(ReasonCode.BONE_TRUNCATED, f"metacarpal {name} reaches the image edge"))
    if n_valid < max(LIMITS.min_valid_profiles, LIMITS.min_valid_fraction * geometry.valid.size):
        flags.append(Flag(ReasonCode.TOO_FEW_PROFILES, f"{n_valid} of {geometry.valid.size} profiles valid"))
    if geometry.saturated_fraction > LIMITS.max_saturated_fraction:
        flags.append(
            Flag(ReasonCode.OVEREXPOSED, f"{100 * geometry.saturated_fraction:.1f} % of the shaft is saturated")
        )
    if n_valid < 5 or mm_per_px is None:
        return BoneMeasurement(name, "rejected", tuple(flags), n_valid, n_rejected, geometry=geometry)

    valid = geometry.valid
    width_px = float(geometry.width_px[valid].mean())
    left_px = float(geometry.thickness_left_px[valid].mean())
    right_px = float(geometry.thickness_right_px[valid].mean())
    thickness_px = (left_px + right_px) / 2
    noise = float(np.median(geometry.residual_rms[valid]))
    contrast = float(np.median(geometry.contrast[valid]))
    if noise > 0 and contrast / noise < LIMITS.min_contrast_to_noise:
        flags.append(Flag(ReasonCode.LOW_CONTRAST, f"contrast-to-noise {contrast / noise:.1f}"))

    width_mm = width_px * mm_per_px
    thickness_mm = thickness_px * mm_per_px
    length_mm = geometry.axis.length_px * mm_per_px
    radial_px, ulnar_px = {"left": (left_px, right_px), "right": (right_px, left_px)}.get(
        geometry.radial_side or "", (None, None)
    )
    low, high = LIMITS.width_mm
    if not low <= width_mm <= high:
        flags.append(Flag(ReasonCode.IMPLAUSIBLE_WIDTH, f"W = {width_mm:.2f} mm outside {low}-{high} mm"))
    low, high = LIMITS.cortical_thickness_mm
    if not low <= thickness_mm <= high:
        flags.append(Flag(ReasonCode.IMPLAUSIBLE_THICKNESS, f"T = {thickness_mm:.2f} mm outside {low}-{high} mm"))
    low, high = LIMITS.thickness_to_width
    if not low <= thickness_mm / width_mm <= high:
        flags.append(Flag(ReasonCode.IMPLAUSIBLE_RATIO, f"T/W = {thickness_mm / width_mm:.3f} outside {low}-{high}"))

    flags += _segmentation_agreement(geometry)

    porosity = cortical_porosity([geometry.cortex_texture_variance], [_pore_scale(geometry, calibration, mm_per_px)])
    if flags:
        return BoneMeasurement(name, "rejected", tuple(flags), n_valid, n_rejected, geometry=geometry)
    vpa = volume_per_area_mm(width_mm, thickness_mm)
    return BoneMeasurement(
        name=name,
        status="ok",
        flags=(),
        n_profiles=n_valid,
        n_profiles_rejected=n_rejected,
        width_mm=width_mm,
        cortical_thickness_mm=thickness_mm,
        cortical_thickness_radial_mm=None if radial_px is None else radial_px * mm_per_px,
        cortical_thickness_ulnar_mm=None if ulnar_px is None else ulnar_px * mm_per_px,
        length_mm=length_mm,
        vpa_mm=vpa,
        porosity=porosity,
        mci=metacarpal_index(width_mm, thickness_mm),
        barnett_nordin_index=barnett_nordin_index(width_mm, thickness_mm),
        exton_smith_index=exton_smith_index(width_mm, thickness_mm, length_mm),
        bhi=bone_health_index(width_mm, thickness_mm, length_mm),
        geometry=geometry,
    )


def _segmentation_agreement(geometry: BoneGeometry) -> list[Flag]:
    """A flag when the fit and the label map disagree on the bone's width or its canal's.

    A fit that locked onto the wrong edges (a neighbour, soft tissue) and a label map that missed the canal or
    strayed into another bone both show here; either way the number cannot be trusted.
    """
    valid = geometry.valid
    outer_ratio = float(np.median(geometry.width_px[valid])) / max(geometry.mask_width_px, 1.0)
    canal_ratio = float(np.median(geometry.canal_width_px[valid])) / max(geometry.mask_canal_width_px, 1.0)
    (outer_low, outer_high), (canal_low, canal_high) = LIMITS.mask_width_ratio, LIMITS.mask_canal_ratio
    if outer_low <= outer_ratio <= outer_high and canal_low <= canal_ratio <= canal_high:
        return []
    message = (
        f"fitted widths vs the label map's: outer {outer_ratio:.2f} (allowed {outer_low}-{outer_high}), "
        f"canal {canal_ratio:.2f} (allowed {canal_low}-{canal_high})"
    )
    return [Flag(ReasonCode.SEGMENTATION_MISMATCH, message)]


def _pore_scale(geometry: BoneGeometry, calibration: Calibration, mm_per_px: float) -> float:
    valid = geometry.valid
    return pore_texture_per_unit_porosity(
        amplitude=float(np.median(geometry.amplitude[valid])),
        cortex_path_px=geometry.cortex_path_px,
        blur_sigma_px=float(np.median(geometry.blur_sigma_px[valid])),
        pore_radius_px=calibration.pore_radius_mm / mm_per_px,
    )


def _reject_inconsistent(bones: tuple[BoneMeasurement, ...], image_flags: list[Flag]) -> tuple[BoneMeasurement, ...]:
    accepted = [bone for bone in bones if bone.status == "ok"]
    if len(accepted) < 2:
        return bones
    vpa = {bone.name: bone.vpa_mm for bone in accepted}
    limit = LIMITS.max_vpa_deviation
    if len(accepted) == 2:
        a, b = vpa.values()
        if abs(a - b) / min(a, b) <= limit:
            return bones
        flag = Flag(ReasonCode.BONES_INCONSISTENT, f"VPA {a:.2f} vs {b:.2f} mm differ by more than {limit:.0%}")
        image_flags.append(flag)
        return tuple(_rejected(bone, flag) if bone.status == "ok" else bone for bone in bones)
    reference = float(np.median(list(vpa.values())))
    deviations = {name: abs(value - reference) / reference for name, value in vpa.items()}
    worst = max(deviations, key=deviations.__getitem__)
    if deviations[worst] <= limit:
        return bones
    flag = Flag(
        ReasonCode.INCONSISTENT_WITH_OTHER_BONES,
        f"VPA of {worst} deviates {deviations[worst]:.0%} from the median of the metacarpals",
    )
    return tuple(_rejected(bone, flag) if bone.name == worst else bone for bone in bones)


def _rejected(bone: BoneMeasurement, flag: Flag) -> BoneMeasurement:
    """The bone rejected for ``flag``: its numbers are withdrawn, its geometry kept for drawing."""
    return BoneMeasurement(
        bone.name,
        "rejected",
        (*bone.flags, flag),
        bone.n_profiles,
        bone.n_profiles_rejected,
        geometry=bone.geometry,
    )
