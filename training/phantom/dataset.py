"""One synthetic case in memory (:func:`generate_case`) and datasets of them on disk (:func:`generate_dataset`).

Label convention (the contract between generator, network and geometry code), on the image grid:

====  =====================================================================================
0     background: soft tissue, air, every other bone (MC I and V, phalanges, carpus, forearm)
1-3   metacarpal II, III, IV: bone outside the medullary canal (whole bone, head and base)
4-6   the medullary canal of II, III, IV along the diaphysis (inside the endosteal border, only
      where the cortex is a distinct shell, never in the trabecular ends)
====  =====================================================================================

Labels are evaluated at pixel centres and are 0 outside the collimated (exposed) field.
Files per case: ``NAME.dcm``, ``NAME_labels.png`` (8-bit; or ``NAME_labels.npz``), ``NAME_truth.json``
and, on request, ``NAME_preview.png``. Everything is a deterministic function of ``(seed, index)``.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import math
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset

from . import dicom_writer
from .acquisition import (
    FieldOfView,
    MarkerParams,
    apply_processing,
    expose,
    marker_mu_path,
    sample_acquisition,
    sample_processing,
)
from .anatomy import LABEL_BONE, LABEL_CANAL, MEASURED_METACARPALS, AnatomyOptions, Hand, TubeBone, sample_hand
from .materials import Materials
from .projection import ImageGrid, hand_to_image_matrix, project_hand

__all__ = [
    "LABELS",
    "SPACING_CHOICES_MM",
    "DatasetSummary",
    "PhantomCase",
    "PhantomConfig",
    "generate_case",
    "generate_dataset",
    "write_case",
]

TRUTH_SCHEMA = "dxr-phantom-truth/1"
LABELS = {
    0: "background",
    1: "metacarpal II bone (outside the medullary canal)",
    2: "metacarpal III bone (outside the medullary canal)",
    3: "metacarpal IV bone (outside the medullary canal)",
    4: "metacarpal II medullary canal (diaphysis)",
    5: "metacarpal III medullary canal (diaphysis)",
    6: "metacarpal IV medullary canal (diaphysis)",
}
# Detector pixel pitches seen in practice (DOMAIN.md: typically 129-140 µm, range 76-175 µm; CR to 200 µm).
SPACING_CHOICES_MM = (0.08, 0.1, 0.125, 0.139, 0.143, 0.148, 0.15, 0.16, 0.175, 0.2)
_SPACING_WEIGHTS = (0.03, 0.12, 0.1, 0.12, 0.12, 0.08, 0.15, 0.08, 0.12, 0.08)
PARTIAL_KINDS = ("fingers_cropped", "wrist", "narrow")


@dataclass(frozen=True)
class PhantomConfig:
    """What varies between cases and how. ``"random"`` draws the choice per case.

    Parameters
    ----------
    spacing_mm
        True pixel spacing; ``None`` draws from :data:`SPACING_CHOICES_MM`.
    rotation_deg
        Maximum absolute in-plane rotation of the hand.
    side
        ``"left"``, ``"right"`` or ``"random"``.
    sex, age_range_years
        Subject sampling (``sex``: ``"F"``, ``"M"`` or ``"random"``).
    porosity, porosity_range
        Fixed cortical porosity of MC II-IV, or a uniform range; both ``None``: the age-dependent default
        around the DXR value 0.01.
    partial_rate
        Fraction of cases with partial inclusion (cropped fingers, wrist view, narrow finger-centred field).
    processing
        ``"none"``, ``"standard"``, ``"strong"`` or ``"random"``.
    noise
        Simulate quantum and electronic noise.
    compression, photometric, sop_class, spacing_tag, bits_stored
        DICOM encoding choices (see :mod:`.dicom_writer`).
    metadata_error_rate
        Rate of each kind of missing/wrong patient or acquisition attribute.
    marker_rate
        Fraction of images with a lead side marker.
    elliptical_rate, asymmetry_rate, curvature_rate
        Fractions of hands with elliptical metacarpal sections, radial/ulnar cortex asymmetry, bowed axes.
    supersample
        Sub-samples per pixel side for the bones.
    labels_format
        ``"png"`` or ``"npz"``.
    """

    spacing_mm: float | None = None
    rotation_deg: float = 20.0
    side: str = "random"
    sex: str = "random"
    age_range_years: tuple[float, float] = (20.0, 90.0)
    porosity: float | None = None
    porosity_range: tuple[float, float] | None = None
    partial_rate: float = 0.15
    processing: str = "random"
    noise: bool = True
    compression: str = "random"
    photometric: str = "random"
    sop_class: str = "random"
    spacing_tag: str = "random"
    bits_stored: int | str = "random"
    metadata_error_rate: float = 0.05
    marker_rate: float = 0.9
    elliptical_rate: float = 0.8
    asymmetry_rate: float = 0.8
    curvature_rate: float = 0.5
    supersample: int = 2
    labels_format: str = "png"

    def __post_init__(self) -> None:
        if self.spacing_mm is not None and not 0.05 <= self.spacing_mm <= 0.5:
            raise ValueError("spacing_mm must be between 0.05 and 0.5")
        if self.side not in ("left", "right", "random"):
            raise ValueError("side must be left, right or random")
        if not 0.0 <= self.partial_rate <= 1.0 or not 0.0 <= self.metadata_error_rate <= 1.0:
            raise ValueError("rates must be between 0 and 1")
        if self.porosity is not None and not 0.0 <= self.porosity <= 0.3:
            raise ValueError("porosity must be between 0 and 0.3")
        if self.supersample < 1:
            raise ValueError("supersample must be >= 1")
        if self.labels_format not in ("png", "npz"):
            raise ValueError("labels_format must be png or npz")

    def anatomy_options(self) -> AnatomyOptions:
        """The anatomical part of the configuration."""
        return AnatomyOptions(
            sex=self.sex,
            age_range_years=tuple(self.age_range_years),
            porosity=self.porosity,
            porosity_range=None if self.porosity_range is None else tuple(self.porosity_range),
            elliptical_rate=self.elliptical_rate,
            asymmetry_rate=self.asymmetry_rate,
            curvature_rate=self.curvature_rate,
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for the truth file and the manifest)."""
        d = asdict(self)
        for key in ("age_range_years", "porosity_range"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d


@dataclass
class PhantomCase:
    """One generated case, in memory.

    Attributes
    ----------
    name
        File stem.
    image
        Presentation image, float32 in [0, 1], bone bright (what the DICOM holds, before quantisation).
    labels
        uint8 label map on the same grid (see the module docstring).
    truth
        The truth dictionary (what ``NAME_truth.json`` holds).
    dataset
        The DICOM dataset, uncompressed (compression is applied on writing).
    variant
        The DICOM encoding.
    attenuation
        Ideal total line integral (float32), before scatter, noise and blur.
    """

    name: str
    image: NDArray[np.float32]
    labels: NDArray[np.uint8]
    truth: dict[str, Any]
    dataset: Dataset
    variant: dicom_writer.DicomVariant
    attenuation: NDArray[np.float32] = field(repr=False)

    def stored_pixels(self) -> NDArray[np.uint16]:
        """Pixel values as stored in the DICOM file."""
        return dicom_writer.stored_values(self.image, self.variant)

    def encoded_dataset(self, variant: dicom_writer.DicomVariant | None = None) -> Dataset:
        """The dataset encoded as ``variant`` (default: the case's own), ready to write."""
        if variant is None or variant == self.variant:
            return dicom_writer.encode(copy.deepcopy(self.dataset), self.variant)
        meta = self.truth["dicom"]["metadata"]
        ds = dicom_writer.build_dataset(
            dicom_writer.stored_values(self.image, variant),
            variant,
            _metadata_from_truth(meta),
            pixel_spacing_mm=self.truth["pixel_spacing_mm"],
            magnification=self.truth["geometry"]["magnification"],
            source_detector_mm=self.truth["geometry"]["source_detector_mm"],
            uid_entropy=[*self.truth["dicom"]["uid_entropy"], json.dumps(variant.as_dict(), sort_keys=True)],
            patient_id=self.truth["dicom"]["patient_id"],
            acquisition=self.truth["dicom"]["nominal_exposure"],
        )
        return dicom_writer.encode(ds, variant)


def _metadata_from_truth(meta: dict[str, Any]) -> dicom_writer.WrittenMetadata:
    def day(text: str | None) -> dt.date | None:
        return None if text is None else dt.date.fromisoformat(text)

    return dicom_writer.WrittenMetadata(
        patient_sex=meta["patient_sex"],
        patient_birth_date=day(meta["patient_birth_date"]),
        patient_age=meta["patient_age"],
        study_date=day(meta["study_date"]),
        study_time=meta["study_time"],
        image_laterality=meta["image_laterality"],
        view_position=meta["view_position"],
        series_description=meta["series_description"],
        body_part=meta["body_part"],
        errors=tuple(meta["errors"]),
    )


# ------------------------------------------------------------------------------------------------ framing


@dataclass(frozen=True)
class _Framing:
    grid: ImageGrid
    field: FieldOfView
    right_hand: bool
    rotation_deg: float
    partial: str
    details: dict[str, Any]


def _frame(hand: Hand, rng: np.random.Generator, config: PhantomConfig, spacing: float) -> _Framing:
    """Choose side, rotation, partial inclusion, collimation and image extent."""
    right = config.side == "right" or (config.side == "random" and bool(rng.random() < 0.5))
    rotation = float(rng.uniform(-config.rotation_deg, config.rotation_deg))
    partial = "full"
    if rng.random() < config.partial_rate:
        partial = str(rng.choice(PARTIAL_KINDS, p=[0.4, 0.35, 0.25]))
    outline = hand.envelope.outline_points()
    lm = hand.landmarks
    wrist_v = lm["wrist"][1]
    v_bottom = wrist_v - float(rng.uniform(15.0, 50.0))
    tips_v = max(lm[f"fingertip_{d}"][1] for d in range(1, 6))
    heads_v = max(lm[f"mc{d}_head"][1] for d in range(2, 6))
    v_top = tips_v + 8.0
    u_lo, u_hi = float(outline[:, 0].min()), float(outline[:, 0].max())
    margin_range = (3.0, 15.0)
    if partial == "fingers_cropped":
        v_top = float(rng.uniform(heads_v + 14.0, lm["fingertip_3"][1] - 25.0))
        margin_range = (1.0, 8.0)
    elif partial == "wrist":
        base_v = lm["mc3_base"][1]
        v_top = float(rng.uniform(base_v + 12.0, base_v + 40.0))
        v_bottom = wrist_v - float(rng.uniform(40.0, 80.0))
        margin_range = (1.0, 8.0)
    elif partial == "narrow":
        digit = int(rng.choice([2, 3, 4]))
        centre_u = (lm[f"mc{digit}_head"][0] + lm[f"fingertip_{digit}"][0]) / 2.0
        half = float(rng.uniform(22.0, 35.0))
        u_lo, u_hi = centre_u - half, centre_u + half
        margin_range = (0.5, 4.0)
    band = (outline[:, 1] >= v_bottom) & (outline[:, 1] <= v_top)
    if partial != "narrow" and band.any():
        u_lo, u_hi = float(outline[band, 0].min()), float(outline[band, 0].max())
    roi = np.array([[u_lo, v_bottom], [u_hi, v_bottom], [u_hi, v_top], [u_lo, v_top]])
    linear = hand_to_image_matrix(right_hand=right, rotation_deg=rotation)
    corners = roi @ linear.T
    if partial == "narrow" and abs(rotation) < 12.0:
        tilt = -rotation + float(rng.normal(0.0, 1.0))  # collimator turned to follow the finger
    else:
        tilt = float(rng.uniform(-3.0, 3.0)) if rng.random() < 0.3 else 0.0
    t = np.deg2rad(tilt)
    to_field = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    in_field = corners @ to_field.T
    lo = in_field.min(axis=0) - rng.uniform(*margin_range, 2)
    hi = in_field.max(axis=0) + rng.uniform(*margin_range, 2)
    centre_field = (lo + hi) / 2.0
    half_size = (hi - lo) / 2.0
    centre = to_field.T @ centre_field
    field_corners = np.array([[sx * half_size[0], sy * half_size[1]] for sx in (-1, 1) for sy in (-1, 1)])
    field_corners = field_corners @ to_field + centre  # field frame -> image mm (to_field is orthogonal)
    border = np.where(rng.random(4) < 0.45, 0.0, rng.uniform(2.0, 12.0, 4))
    img_lo = field_corners.min(axis=0) - border[:2]
    img_hi = field_corners.max(axis=0) + border[2:]
    if border.max() == 0.0:
        # Cropped to the collimation: keep a sliver of penumbra inside rather than cutting exactly on it.
        img_lo, img_hi = img_lo + 0.5, img_hi - 0.5
    columns = int(np.ceil((img_hi[0] - img_lo[0]) / spacing)) + 1
    rows = int(np.ceil((img_hi[1] - img_lo[1]) / spacing)) + 1
    offset = -img_lo
    grid = ImageGrid(rows, columns, spacing, linear, offset)
    fov = FieldOfView(
        (float(centre[0] + offset[0]), float(centre[1] + offset[1])), (float(half_size[0]), float(half_size[1])), tilt
    )
    details = {
        "roi_hand_frame_mm": {"u": [round(u_lo, 3), round(u_hi, 3)], "v": [round(v_bottom, 3), round(v_top, 3)]},
        "unexposed_border_mm": [round(float(b), 3) for b in border],
    }
    return _Framing(grid, fov, right, rotation, partial, details)


def _place_marker(
    rng: np.random.Generator, framing: _Framing, soft_path: NDArray[np.float32], letter: str
) -> MarkerParams:
    """Put the marker in the field corner with the least tissue under it."""
    height = float(rng.uniform(9.0, 14.0))
    angle = framing.field.tilt_deg + float(rng.normal(0.0, 4.0))
    if rng.random() < 0.1:
        angle += float(rng.choice([-90.0, 90.0]))
    probe = MarkerParams(letter, (0.0, 0.0), height, angle)
    hw, hh = probe.holder_half_size_mm
    reach = float(np.hypot(hw, hh))
    t = np.deg2rad(framing.field.tilt_deg)
    to_field = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    half = np.asarray(framing.field.half_size_mm)
    inset = reach + float(rng.uniform(2.0, 8.0))
    best, best_load = None, math.inf
    sp = framing.grid.spacing_mm
    for sx in (-1, 1):
        for sy in (-1, 1):
            local = np.array([sx * max(half[0] - inset, 0.0), sy * max(half[1] - inset, 0.0)])
            centre = local @ to_field + np.asarray(framing.field.centre_mm)
            c0, c1 = int((centre[0] - reach) / sp), int((centre[0] + reach) / sp) + 1
            r0, r1 = int((centre[1] - reach) / sp), int((centre[1] + reach) / sp) + 1
            patch = soft_path[max(r0, 0) : max(r1, 0), max(c0, 0) : max(c1, 0)]
            load = float(patch.sum()) if patch.size else math.inf
            if load < best_load:
                best, best_load = centre, load
    assert best is not None
    return MarkerParams(letter, (float(best[0]), float(best[1])), height, angle)


# ------------------------------------------------------------------------------------------------ truth


def _bone_truth(bone: TubeBone, grid: ImageGrid, exposed: NDArray[np.float32]) -> dict[str, Any]:
    """Ground truth of one measured metacarpal, in the words of the measurement."""
    s_mid = bone.length_mm / 2.0
    outer, outer_ap, inner, inner_ap, offset, _ = (float(v[0]) for v in bone.profile.sample(np.array([s_mid])))
    width = 2.0 * outer
    thickness = outer - inner
    radial = outer - (inner + offset)
    ulnar = outer + offset - inner
    fractions = np.linspace(0.0, 1.0, 21)
    centreline = grid.hand_to_pixel(bone.axis_point(fractions * bone.length_mm))
    normal_mid = grid.direction_to_pixel(bone.axis_normal(s_mid))
    # Inclusion: sample the outline of the bone and test it against the image and the exposed field.
    s = np.linspace(0.0, bone.length_mm, 80)
    outline_outer = bone.profile.sample(s)[0]
    points = []
    for sign in (-1.0, 1.0):
        points.append(bone.axis_point(s) + sign * outline_outer[:, None] * bone.axis_normal(s))
    pix = grid.hand_to_pixel(np.concatenate(points))
    col = np.rint(pix[:, 0]).astype(int)
    row = np.rint(pix[:, 1]).astype(int)
    in_image = (col >= 0) & (col < grid.columns) & (row >= 0) & (row < grid.rows)
    visible = np.zeros(col.shape, bool)
    visible[in_image] = exposed[row[in_image], col[in_image]] > 0.5
    axis_pix = grid.hand_to_pixel(bone.axis_point(s))
    ac, ar = np.rint(axis_pix[:, 0]).astype(int), np.rint(axis_pix[:, 1]).astype(int)
    axis_in = (ac >= 0) & (ac < grid.columns) & (ar >= 0) & (ar < grid.rows)
    axis_visible = np.zeros(ac.shape, bool)
    axis_visible[axis_in] = exposed[ar[axis_in], ac[axis_in]] > 0.5
    d0, d1 = bone.shape.diaphysis
    pores = bone.pores
    canal = bone.canal_label_mm
    return {
        "width_mm": round(width, 6),
        "cortical_thickness_mm": round(thickness, 6),
        "cortical_thickness_radial_mm": round(radial, 6),
        "cortical_thickness_ulnar_mm": round(ulnar, 6),
        "length_mm": round(bone.length_mm, 6),
        "porosity": round(pores.porosity if pores is not None else 0.0, 6),
        "axis_px": [[round(float(c), 4) for c in centreline[0]], [round(float(c), 4) for c in centreline[-1]]],
        "vpa_mm": round(math.pi * thickness * (1.0 - thickness / width), 6),
        "ap_width_mm": round(2.0 * outer_ap, 6),
        "medullary_width_mm": round(2.0 * inner, 6),
        "canal_offset_mm": round(offset, 6),
        "cortical_area_mm2": round(math.pi * (outer * outer_ap - inner * inner_ap), 6),
        "cortical_area_circular_model_mm2": round(math.pi * thickness * (width - thickness), 6),
        "mid_diaphysis_fraction": [round(d0, 6), round(d1, 6)],
        "canal_label_fraction": None if canal is None else [round(c / bone.length_mm, 6) for c in canal],
        "centreline_px": [[round(float(c), 4) for c in p] for p in centreline],
        "centreline_fractions": [round(float(f), 4) for f in fractions],
        "mid_point_px": [round(float(c), 4) for c in grid.hand_to_pixel(bone.axis_point(s_mid))],
        "radial_direction_px": [round(float(c), 6) for c in normal_mid],
        "curvature_per_mm": round(bone.curvature_per_mm, 8),
        "sagitta_mm": round(bone.sagitta_mm, 6),
        "pore_count": 0 if pores is None else pores.count,
        "pore_radius_mm": None if pores is None else round(pores.radius_mm, 6),
        "fully_included": bool(visible.all()),
        "visible_axis_fraction": round(float(axis_visible.mean()), 4),
        "label_bone": bone.label_bone,
        "label_canal": bone.label_canal,
        "shape": bone.describe(),
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    return value


# ------------------------------------------------------------------------------------------------ one case


def case_name(seed: int, index: int, repeat: int = 0) -> str:
    """File stem of case ``index`` of the dataset with ``seed`` (and of its ``repeat``-th re-imaging)."""
    return f"phantom_{seed}_{index:05d}" + (f"_r{repeat}" if repeat else "")


def generate_case(seed: int, config: PhantomConfig | None = None, *, index: int = 0, repeat: int = 0) -> PhantomCase:
    """Generate one case in memory: image, label map, truth and DICOM dataset.

    Parameters
    ----------
    seed
        Dataset seed (non-negative integer).
    config
        Variation settings (defaults: :class:`PhantomConfig`).
    index
        Case index within the dataset; case ``(seed, index)`` is the same whatever else is generated.
    repeat
        0 for the case itself; k > 0 images the same hand again at the same site (spacing, processing,
        DICOM encoding and patient unchanged) with new positioning (rotation, translation), exposure
        (dose x 0.7-1.4, beam energy +/- 3 %) and noise: the repeated images of a precision study.

    Returns
    -------
    PhantomCase
    """
    config = config or PhantomConfig()
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    if repeat < 0:
        raise ValueError("repeat must be non-negative")
    streams = np.random.SeedSequence(entropy=seed, spawn_key=(index,)).spawn(7)
    rng_anatomy, rng_frame, rng_acq, rng_texture, rng_noise, rng_dicom, rng_marker = (
        np.random.default_rng(s) for s in streams
    )
    rng_pose, rng_exposure = rng_frame, rng_acq
    if repeat:
        again = np.random.SeedSequence(entropy=seed, spawn_key=(index, repeat)).spawn(4)
        rng_pose, rng_exposure, rng_texture, rng_noise = (np.random.default_rng(s) for s in again)
    hand = sample_hand(rng_anatomy, config.anatomy_options())
    if config.spacing_mm is not None:
        spacing = float(config.spacing_mm)
    else:
        spacing = float(rng_frame.choice(SPACING_CHOICES_MM, p=_SPACING_WEIGHTS))
    framing = _frame(hand, rng_pose, config, spacing)
    grid = framing.grid
    acquisition = sample_acquisition(rng_acq, noise=config.noise)
    processing = sample_processing(rng_acq, config.processing)
    source_detector = float(rng_acq.uniform(1000.0, 1150.0))
    object_detector = float(rng_acq.uniform(12.0, 25.0))  # metacarpal mid-plane above the detector
    if repeat:
        acquisition = replace(
            acquisition,
            photons_per_mm2=acquisition.photons_per_mm2 * float(rng_exposure.uniform(0.7, 1.4)),
            energy_kev=acquisition.energy_kev * float(rng_exposure.uniform(0.97, 1.03)),
        )
    magnification = round(source_detector / (source_detector - object_detector), 6)
    materials = Materials.at_energy(acquisition.energy_kev, hand.subject.trabecular_bone_fraction)

    projection = project_hand(hand, grid, materials, supersample=config.supersample)
    exposed = framing.field.exposed(grid, acquisition.penumbra_mm)
    side_letter = "R" if framing.right_hand else "L"
    marker = None
    marker_path = np.zeros_like(exposed)
    if rng_marker.random() < config.marker_rate:
        marker = _place_marker(rng_marker, framing, projection.soft_tissue_path_mm, side_letter)
        marker_path = marker_mu_path(marker, grid)
    log_image, attenuation = expose(
        projection, grid, materials, acquisition, exposed, marker_path, texture_rng=rng_texture, noise_rng=rng_noise
    )
    image = apply_processing(log_image, exposed, marker_path > 1.0, processing, spacing)
    labels = projection.labels
    labels[exposed < 0.5] = 0

    # ---- DICOM metadata and encoding
    subject = hand.subject
    study_date = dt.date(2010, 1, 1) + dt.timedelta(days=int(rng_dicom.integers(0, 16 * 365)))
    birth_date = study_date - dt.timedelta(days=round(subject.age_years * 365.2425))
    variant = dicom_writer.sample_variant(
        rng_dicom,
        sop_class=config.sop_class,
        spacing_tag=config.spacing_tag,
        photometric=config.photometric,
        bits_stored=config.bits_stored,
        compression=config.compression,
    )
    metadata = dicom_writer.sample_metadata(
        rng_dicom,
        sex=subject.sex,
        birth_date=birth_date,
        study_date=study_date,
        laterality=side_letter,
        error_rate=config.metadata_error_rate,
    )
    name = case_name(seed, index, repeat)
    patient_id = f"PH{seed}-{index:05d}"
    uid_entropy = ["dxr-bmd phantom", str(seed), str(index)] + ([f"repeat {repeat}"] if repeat else [])
    nominal = {
        "kvp": float(round(acquisition.energy_kev / 0.64)),
        "mas": round(2.5 * acquisition.photons_per_mm2 / 4e5, 2),
    }
    stored = dicom_writer.stored_values(image, variant)
    dataset = dicom_writer.build_dataset(
        stored,
        variant,
        metadata,
        pixel_spacing_mm=spacing,
        magnification=magnification,
        source_detector_mm=source_detector,
        uid_entropy=uid_entropy,
        patient_id=patient_id,
        acquisition=nominal,
    )

    bones = {roman: _bone_truth(hand.metacarpal(roman), grid, exposed) for roman in MEASURED_METACARPALS}
    truth = {
        "schema": TRUTH_SCHEMA,
        "name": name,
        "seed": seed,
        "index": index,
        "repeat": repeat,
        "files": _file_names(name, config.labels_format),
        "pixel_spacing_mm": spacing,
        "image": {
            "rows": grid.rows,
            "columns": grid.columns,
            "pixel_convention": "integer (column, row) = pixel centre; x = column, y = row",
            "bone_bright": True,
        },
        "labels": {str(k): v for k, v in LABELS.items()},
        "label_values": {"bone": LABEL_BONE, "canal": LABEL_CANAL},
        "bones": bones,
        "subject": {
            "sex": subject.sex,
            "age_years": dicom_writer.age_between(birth_date, study_date),
            "birth_date": birth_date.isoformat(),
            "study_date": study_date.isoformat(),
            "hand_side": side_letter,
            "view": "PA",
        },
        "pose": {
            "right_hand": framing.right_hand,
            "rotation_deg": round(framing.rotation_deg, 6),
            "hand_to_image_linear": [[round(float(c), 9) for c in row] for row in grid.linear],
            "hand_to_image_offset_mm": [round(float(c), 6) for c in grid.offset_mm],
            "partial": framing.partial,
            **framing.details,
        },
        "field": framing.field.as_dict(spacing),
        "marker": None if marker is None else marker.as_dict(spacing),
        "geometry": {
            "source_detector_mm": round(source_detector, 4),
            "object_detector_mm": round(object_detector, 4),
            "magnification": magnification,
        },
        "materials_per_mm": materials.as_dict(),
        "materials_basis": "NIST SRD 126 (Hubbell & Seltzer), ICRU-44 tissues, log-log interpolated at energy_kev",
        "acquisition": acquisition.as_dict(),
        "processing": processing.as_dict(),
        "anatomy": {
            "subject": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(subject).items()},
            "parameters": hand.parameters,
            "tubes": {bone.name: bone.describe() for bone in hand.tubes},
            "blobs": {blob.name: blob.describe() for blob in hand.blobs},
        },
        "dicom": {
            "variant": variant.as_dict(),
            "metadata": metadata.as_dict(),
            "metadata_errors": list(metadata.errors),
            "written": dicom_writer.dataset_to_json(dataset),
            "expected_intake": dicom_writer.expected_intake(dataset),
            "uid_entropy": uid_entropy,
            "patient_id": patient_id,
            "nominal_exposure": nominal,
        },
        "config": config.as_dict(),
        "generator": {"module": "dxr.training.phantom", "version": dicom_writer._generator_version()},
    }
    return PhantomCase(name, image, labels, _json_ready(truth), dataset, variant, attenuation)


def _file_names(name: str, labels_format: str) -> dict[str, str]:
    return {
        "dicom": f"{name}.dcm",
        "labels": f"{name}_labels.{labels_format}",
        "truth": f"{name}_truth.json",
    }


# ------------------------------------------------------------------------------------------------ writing


def _write_npz(path: Path, labels: NDArray[np.uint8]) -> None:
    """A deterministic .npz (numpy's own writer stamps the current time into the zip)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(labels), allow_pickle=False)
    info = zipfile.ZipInfo("labels.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(info, buffer.getvalue())


def preview_image(image: NDArray[np.float32], max_side: int = 1024) -> Image.Image:
    """8-bit, downsampled rendering of a presentation image."""
    pil = Image.fromarray(np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8))
    scale = max_side / max(pil.size)
    if scale < 1.0:
        pil = pil.resize((max(1, round(pil.size[0] * scale)), max(1, round(pil.size[1] * scale))), Image.LANCZOS)
    return pil


def write_case(case: PhantomCase, out_dir: str | Path, *, preview: bool = False) -> dict[str, Path]:
    """Write ``NAME.dcm``, the label map and ``NAME_truth.json`` (and ``NAME_preview.png``) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {key: out / value for key, value in case.truth["files"].items()}
    dicom_writer.write_dicom(case.encoded_dataset(), files["dicom"])
    if files["labels"].suffix == ".npz":
        _write_npz(files["labels"], case.labels)
    else:
        Image.fromarray(case.labels).save(files["labels"], format="PNG", compress_level=6)
    files["truth"].write_text(json.dumps(case.truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if preview:
        files["preview"] = out / f"{case.name}_preview.png"
        preview_image(case.image).save(files["preview"], format="PNG")
    return files


# ------------------------------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class DatasetSummary:
    """What :func:`generate_dataset` wrote."""

    out_dir: Path
    names: tuple[str, ...]
    seconds: float

    @property
    def count(self) -> int:
        """Number of cases written."""
        return len(self.names)

    @property
    def images_per_second(self) -> float:
        """Generation rate, including writing."""
        return self.count / self.seconds if self.seconds > 0 else float("inf")


def _generate_and_write(job: tuple[int, int, PhantomConfig, str, bool]) -> str:
    seed, index, config, out_dir, preview = job
    case = generate_case(seed, config, index=index)
    write_case(case, out_dir, preview=preview)
    return case.name


def generate_dataset(
    out_dir: str | Path,
    count: int,
    seed: int,
    config: PhantomConfig | None = None,
    *,
    start_index: int = 0,
    workers: int = 1,
    preview: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetSummary:
    """Generate and write ``count`` cases (indices ``start_index ..``) plus a ``manifest.json``.

    Parameters
    ----------
    out_dir
        Destination folder (created).
    count, seed
        Number of cases and dataset seed; the bytes of every file depend only on ``(seed, index, config)``.
    config
        Variation settings.
    start_index
        Index of the first case (to extend a dataset).
    workers
        Processes to use (cases are independent; the output does not depend on this).
    preview
        Also write 8-bit ``NAME_preview.png`` renderings.
    progress
        Called as ``progress(done, count)`` after each case.
    """
    config = config or PhantomConfig()
    if count < 0:
        raise ValueError("count must be non-negative")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(seed, start_index + i, config, str(out), preview) for i in range(count)]
    started = time.perf_counter()
    names: list[str] = []
    if workers <= 1 or count <= 1:
        for job in jobs:
            names.append(_generate_and_write(job))
            if progress:
                progress(len(names), count)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for name in pool.map(_generate_and_write, jobs):
                names.append(name)
                if progress:
                    progress(len(names), count)
    seconds = time.perf_counter() - started
    manifest = {
        "schema": "dxr-phantom-manifest/1",
        "seed": seed,
        "start_index": start_index,
        "count": count,
        "config": config.as_dict(),
        "labels": {str(k): v for k, v in LABELS.items()},
        "cases": names,
    }
    manifest_name = "manifest.json" if start_index == 0 else f"manifest_{start_index:05d}.json"
    (out / manifest_name).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return DatasetSummary(out, tuple(names), seconds)


def with_overrides(config: PhantomConfig, **changes: Any) -> PhantomConfig:
    """A copy of ``config`` with some fields changed (convenience for tests and scripts)."""
    return replace(config, **changes)
