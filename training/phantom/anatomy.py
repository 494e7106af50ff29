"""The synthetic hand: bones as analytic solids in a soft-tissue envelope, sampled from adult distributions.

Hand frame
----------
Millimetres, in the detector plane: ``u`` points to the radial (thumb) side, ``v`` distally (to the
fingertips), ``z`` along the beam. The frame always holds a *left* hand seen postero-anterior as it is
displayed (fingers up, thumb on the right); a right hand is its mirror image, applied when the hand is
placed on the detector (:mod:`.projection`). Anatomical names therefore never change with the side:
metacarpal II is the index-finger metacarpal of either hand, and a bone's local ``x`` axis always points
radially.

Solids
------
* :class:`TubeBone`: a long bone (metacarpal, phalanx, radius, ulna). Its axis is a straight segment or a
  gentle circular arc in the detector plane; every cross-section perpendicular to the axis is an ellipse
  (in-plane semi-axis ``a(s)``, AP semi-axis ``b(s)``) with an elliptical endosteal boundary (``a_i(s)``,
  ``b_i(s)``, offset laterally by ``c(s)``). Cortical bone lies between them; inside is marrow in the
  diaphysis and trabecular bone in the ends (fraction ``f(s)``). Because the beam is perpendicular to the
  axis, a ray stays in one cross-section and its path lengths are closed-form chords of ellipses.
* :class:`BlobBone`: a carpal or sesamoid bone, a superellipsoid with a thin cortical shell.
* :class:`SoftTissueEnvelope`: the skin surface, as the union of capsules (fingers, thumb, forearm) and a
  sphere-swept convex polygon (the palm: a slab with rounded edges).

Distributions (DOMAIN.md section 5, adult): metacarpal II length 60.8 ± 7.4 mm (men) / 60.6 ± 8.9 mm
(women), order II > III > IV > V > I; mid-shaft width about 7 mm in women and 8 mm in men (II), cortical
thickness falling with age, faster in women after ~45 years (1.61 mm in women over 50); radial cortex
10-12 % thicker than ulnar; AP width 5-10 % larger than in-plane width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import ConvexHull

from .porosity import PoreSet, sample_pores

__all__ = [
    "LABEL_BONE",
    "LABEL_CANAL",
    "MEASURED_METACARPALS",
    "AnatomyOptions",
    "BlobBone",
    "Capsule",
    "Hand",
    "RoundedSlab",
    "SoftTissueEnvelope",
    "Subject",
    "TubeBone",
    "TubeProfile",
    "TubeShape",
    "build_tube",
    "sample_hand",
    "sample_subject",
]

MEASURED_METACARPALS = ("II", "III", "IV")
LABEL_BONE = {"II": 1, "III": 2, "IV": 3}
LABEL_CANAL = {"II": 4, "III": 5, "IV": 6}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}
_PROFILE_STEP_MM = 0.025


# ------------------------------------------------------------------------------------------------ solids


@dataclass(frozen=True)
class TubeProfile:
    """Cross-section of a tube bone tabulated every ``step_mm`` along its axis (index 0 = base end).

    All lengths in mm. ``outer``/``outer_ap`` are the periosteal semi-axes (in-plane, AP), ``inner``/
    ``inner_ap`` the endosteal ones (0 where the shell is closed), ``canal_offset`` the lateral shift of
    the endosteal ellipse (positive = radial) and ``trabecular_fraction`` how much of the interior is
    trabecular bone rather than marrow.
    """

    step_mm: float
    outer: NDArray[np.float64]
    outer_ap: NDArray[np.float64]
    inner: NDArray[np.float64]
    inner_ap: NDArray[np.float64]
    canal_offset: NDArray[np.float64]
    trabecular_fraction: NDArray[np.float64]

    @property
    def length_mm(self) -> float:
        """Axial length covered by the table."""
        return float((self.outer.size - 1) * self.step_mm)

    def sample(self, s_mm: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        """Linear interpolation of every column at axial positions ``s_mm`` (clipped to the bone).

        Returns ``(outer, outer_ap, inner, inner_ap, canal_offset, trabecular_fraction)``. Between equal
        table entries (the constant mid-diaphysis) the interpolation is exact.
        """
        position = np.clip(np.asarray(s_mm, dtype=np.float64) / self.step_mm, 0.0, self.outer.size - 1.000001)
        index = position.astype(np.int64)
        frac = position - index
        keep = 1.0 - frac
        columns = (self.outer, self.outer_ap, self.inner, self.inner_ap, self.canal_offset, self.trabecular_fraction)
        return tuple(column[index] * keep + column[index + 1] * frac for column in columns)


@dataclass(frozen=True)
class TubeShape:
    """Shape of a long bone relative to its shaft half-width (all fractions are of the bone length).

    Parameters
    ----------
    base_rel, head_rel
        Half-width of the base and of the head divided by the shaft half-width.
    diaphysis
        ``(start, end)`` fractions of length between which the shaft has a constant cross-section.
    base_flare_end, head_flare_start
        Fractions at which the flare reaches ``base_rel`` (near the base) and ``head_rel`` (near the head).
        Between them and the diaphysis the half-width follows ``1 + (rel - 1) q^2`` (a concave, trumpet-like
        metaphysis that joins the shaft with zero slope).
    base_cap_mm, head_cap_mm
        Axial length of the rounded end caps (elliptical profile; a cap as long as the head half-width
        makes a hemispherical head).
    ap_ratio
        AP semi-axis / in-plane semi-axis (1 = circular section).
    cortical_thickness_mm
        Mean cortical thickness T in the diaphysis (mean of the radial and ulnar sides).
    end_cortex_mm
        Cortical thickness at the bone ends (thin subchondral shell).
    canal_offset_mm
        Lateral offset of the canal in the diaphysis (negative = toward ulnar, making the radial cortex
        thicker: radial = T - c, ulnar = T + c).
    flare_exponent
        Exponent p of the flare ``1 + (rel - 1) q^p`` (2: trumpet-like metacarpal; ~1.3: the gradual
        taper of a phalanx).
    """

    base_rel: float
    head_rel: float
    diaphysis: tuple[float, float]
    base_flare_end: float
    head_flare_start: float
    base_cap_mm: float
    head_cap_mm: float
    ap_ratio: float
    cortical_thickness_mm: float
    end_cortex_mm: float
    canal_offset_mm: float = 0.0
    flare_exponent: float = 2.0
    head_flare_exponent: float | None = None  # defaults to flare_exponent


@dataclass
class TubeBone:
    """A long bone: hollow elliptical tube along a straight or circular-arc axis (see module docstring).

    Attributes
    ----------
    name
        ``"MC2"``, ``"PP3"``, ``"radius"``...
    base_uv
        Base end of the axis in the hand frame (mm).
    direction_deg
        Direction of the chord from base to head, degrees from +v toward +u (radial).
    length_mm
        Arc length of the axis.
    curvature_per_mm
        Signed curvature of the axis (0 = straight); positive bows the middle toward radial.
    half_width_mm
        Shaft (mid-diaphysis) in-plane half-width, ``W / 2``.
    shape, profile
        Relative shape and its tabulation along the axis.
    pores
        Cortical pores (metacarpals II-IV only), or ``None``.
    label_bone, label_canal
        Label values painted for this bone (0 = not labelled).
    canal_label_mm
        Axial range where the canal is labelled (cortex a distinct shell), or ``None``.
    """

    name: str
    base_uv: tuple[float, float]
    direction_deg: float
    length_mm: float
    curvature_per_mm: float
    half_width_mm: float
    shape: TubeShape
    profile: TubeProfile
    pores: PoreSet | None = None
    label_bone: int = 0
    label_canal: int = 0
    canal_label_mm: tuple[float, float] | None = None

    # -- axis geometry (hand frame) --------------------------------------------------------------------
    @property
    def direction(self) -> NDArray[np.float64]:
        """Unit vector of the chord, base to head."""
        angle = np.deg2rad(self.direction_deg)
        return np.array([np.sin(angle), np.cos(angle)])

    @property
    def radial_normal(self) -> NDArray[np.float64]:
        """Unit normal to the chord pointing radially (local +x)."""
        d = self.direction
        return np.array([d[1], -d[0]])

    @property
    def chord_length_mm(self) -> float:
        """Straight-line distance between the axis ends."""
        k = self.curvature_per_mm
        if abs(k) < 1e-12:
            return self.length_mm
        return float(2.0 * np.sin(self.length_mm * abs(k) / 2.0) / abs(k))

    @property
    def sagitta_mm(self) -> float:
        """Signed offset of the axis middle from the chord (positive = radial)."""
        k = self.curvature_per_mm
        if abs(k) < 1e-12:
            return 0.0
        return float(np.sign(k) * (1.0 - np.cos(self.length_mm * abs(k) / 2.0)) / abs(k))

    def axis_point(self, s_mm: float | NDArray[np.float64]) -> NDArray[np.float64]:
        """Hand-frame points on the axis at arc length ``s_mm`` (shape ``(..., 2)``)."""
        s = np.asarray(s_mm, dtype=np.float64)
        d, n = self.direction, self.radial_normal
        base = np.asarray(self.base_uv, dtype=np.float64)
        k = self.curvature_per_mm
        if abs(k) < 1e-12:
            return base + s[..., None] * d
        rho = 1.0 / abs(k)
        half_chord = self.chord_length_mm / 2.0
        middle = base + half_chord * d + self.sagitta_mm * n
        towards_middle = np.sign(k) * n  # from the centre of curvature to the middle of the arc
        centre = middle - rho * towards_middle
        psi = (s - self.length_mm / 2.0) / rho
        return centre + rho * (np.cos(psi)[..., None] * towards_middle + np.sin(psi)[..., None] * d)

    def axis_normal(self, s_mm: float | NDArray[np.float64]) -> NDArray[np.float64]:
        """Hand-frame unit normals (toward radial) of the axis at ``s_mm``."""
        s = np.asarray(s_mm, dtype=np.float64)
        d, n = self.direction, self.radial_normal
        k = self.curvature_per_mm
        if abs(k) < 1e-12:
            return np.broadcast_to(n, (*s.shape, 2)).copy()
        psi = (s - self.length_mm / 2.0) * abs(k)
        towards_middle = np.sign(k) * n
        radial_out = np.cos(psi)[..., None] * towards_middle + np.sin(psi)[..., None] * d
        return np.sign(k) * radial_out

    def local_coordinates(
        self, u: NDArray[np.float64], v: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Axial arc length ``s`` and signed lateral distance ``x`` (toward radial) of hand-frame points.

        For a curved axis, ``x`` is the distance from the arc along the radius of curvature and ``s`` the
        arc length of the foot point: the cross-section through a point is the plane spanned by that
        radius and the beam, so the ray through the point stays in it.
        """
        d, n = self.direction, self.radial_normal
        base = np.asarray(self.base_uv, dtype=np.float64)
        k = self.curvature_per_mm
        du = u - base[0]
        dv = v - base[1]
        if abs(k) < 1e-12:
            return du * d[0] + dv * d[1], du * n[0] + dv * n[1]
        rho = 1.0 / abs(k)
        half_chord = self.chord_length_mm / 2.0
        towards_middle = np.sign(k) * n
        centre = half_chord * d + self.sagitta_mm * n - rho * towards_middle  # relative to base
        wu = du - centre[0]
        wv = dv - centre[1]
        along = wu * d[0] + wv * d[1]
        outward = wu * towards_middle[0] + wv * towards_middle[1]
        radius = np.hypot(along, outward)
        s = self.length_mm / 2.0 + rho * np.arctan2(along, outward)
        x = np.sign(k) * (radius - rho)
        return s, x

    def bounding_polygon(self) -> NDArray[np.float64]:
        """Hand-frame corners of a rectangle that contains the whole bone."""
        d, n = self.direction, self.radial_normal
        base = np.asarray(self.base_uv, dtype=np.float64)
        reach = float(self.profile.outer.max()) + abs(self.sagitta_mm) + 0.5
        chord = self.chord_length_mm
        return np.array(
            [
                base - 0.5 * d - reach * n,
                base - 0.5 * d + reach * n,
                base + (chord + 0.5) * d + reach * n,
                base + (chord + 0.5) * d - reach * n,
            ]
        )

    def describe(self) -> dict[str, Any]:
        """Generation parameters for the truth file."""
        shape = self.shape
        return {
            "base_uv_mm": [round(float(c), 4) for c in self.base_uv],
            "direction_deg": round(self.direction_deg, 4),
            "length_mm": round(self.length_mm, 4),
            "curvature_per_mm": round(self.curvature_per_mm, 7),
            "sagitta_mm": round(self.sagitta_mm, 4),
            "shaft_width_mm": round(2.0 * self.half_width_mm, 4),
            "base_width_mm": round(2.0 * self.half_width_mm * shape.base_rel, 4),
            "head_width_mm": round(2.0 * self.half_width_mm * shape.head_rel, 4),
            "diaphysis_fraction": [round(f, 4) for f in shape.diaphysis],
            "ap_ratio": round(shape.ap_ratio, 4),
            "cortical_thickness_mm": round(shape.cortical_thickness_mm, 4),
            "end_cortex_mm": round(shape.end_cortex_mm, 4),
            "canal_offset_mm": round(shape.canal_offset_mm, 4),
        }


def build_tube(
    name: str,
    *,
    base_uv: tuple[float, float],
    direction_deg: float,
    length_mm: float,
    half_width_mm: float,
    shape: TubeShape,
    curvature_per_mm: float = 0.0,
    label_bone: int = 0,
    label_canal: int = 0,
) -> TubeBone:
    """Tabulate a :class:`TubeShape` along the axis and return the bone (without pores).

    The canal is labelled where the interior is mostly marrow (trabecular fraction below one half) and
    the canal is open: the diaphysis and the start of the metaphyses, never the trabecular ends.
    """
    step = _PROFILE_STEP_MM
    n = int(np.ceil(length_mm / step)) + 1
    step = length_mm / (n - 1)
    s = np.arange(n) * step
    t = s / length_mm
    d0, d1 = shape.diaphysis
    # Flare parameter q: 0 in the diaphysis, rising to 1 where the base/head reaches its full width.
    q_base = np.clip((d0 - t) / max(d0 - shape.base_flare_end, 1e-9), 0.0, 1.0) if d0 > 0 else np.zeros(n)
    q_head = np.clip((t - d1) / max(shape.head_flare_start - d1, 1e-9), 0.0, 1.0) if d1 < 1 else np.zeros(n)
    p = shape.flare_exponent
    p_head = p if shape.head_flare_exponent is None else shape.head_flare_exponent
    rel = 1.0 + (shape.base_rel - 1.0) * q_base**p + (shape.head_rel - 1.0) * q_head**p_head
    # Rounded ends: an elliptical cap (circular when the cap is as long as the end is wide).
    cap = np.ones(n)
    if shape.base_cap_mm > 0:
        u = np.clip((shape.base_cap_mm - s) / shape.base_cap_mm, 0.0, 1.0)
        cap *= np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
    if shape.head_cap_mm > 0:
        u = np.clip((s - (length_mm - shape.head_cap_mm)) / shape.head_cap_mm, 0.0, 1.0)
        cap *= np.sqrt(np.clip(1.0 - u**2, 0.0, 1.0))
    outer = half_width_mm * rel * cap
    outer_ap = outer * shape.ap_ratio
    q = np.maximum(q_base, q_head)
    # The cortex thins from T in the diaphysis to a subchondral shell at the ends, faster than the flare.
    thin = q**0.75
    thickness = shape.cortical_thickness_mm + (shape.end_cortex_mm - shape.cortical_thickness_mm) * thin
    inner = np.maximum(outer - thickness, 0.0)
    inner_ap = np.maximum(outer_ap - thickness, 0.0)
    inner_ap[inner == 0.0] = 0.0
    inner[inner_ap == 0.0] = 0.0
    offset = shape.canal_offset_mm * (1.0 - thin)
    # Keep the displaced canal inside the periosteum with at least the end shell on both sides.
    room = np.maximum(outer - shape.end_cortex_mm * 0.5 - inner, 0.0)
    offset = np.clip(offset, -room, room)
    trabecular = _smoothstep(q / 0.7)  # exactly 0 in the diaphysis: pure marrow
    profile = TubeProfile(step, outer, outer_ap, inner, inner_ap, offset, trabecular)
    canal = None
    if label_canal:
        open_canal = (trabecular < 0.5) & (inner > 0.0)
        middle = n // 2
        if open_canal[middle]:
            lo = middle
            while lo > 0 and open_canal[lo - 1]:
                lo -= 1
            hi = middle
            while hi < n - 1 and open_canal[hi + 1]:
                hi += 1
            canal = (float(s[lo]), float(s[hi]))
    return TubeBone(
        name=name,
        base_uv=(float(base_uv[0]), float(base_uv[1])),
        direction_deg=float(direction_deg),
        length_mm=float(length_mm),
        curvature_per_mm=float(curvature_per_mm),
        half_width_mm=float(half_width_mm),
        shape=shape,
        profile=profile,
        label_bone=label_bone,
        label_canal=label_canal,
        canal_label_mm=canal,
    )


def _smoothstep(x: NDArray[np.float64]) -> NDArray[np.float64]:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class BlobBone:
    """A carpal or sesamoid bone: superellipsoid ``(|x/a|^n + |y/b|^n)^(2/n) + (z/c)^2 <= 1``.

    ``x``/``y`` are in-plane coordinates rotated by ``angle_deg`` (the ``b`` axis points ``angle_deg``
    from +v toward +u); a cortical shell of ``shell_mm`` surrounds trabecular bone.
    """

    name: str
    centre_uv: tuple[float, float]
    semi_axes_mm: tuple[float, float]
    half_thickness_mm: float
    angle_deg: float
    exponent: float
    shell_mm: float

    def bounding_polygon(self) -> NDArray[np.float64]:
        """Hand-frame corners of a rectangle containing the bone."""
        r = max(self.semi_axes_mm) * 1.3 + 0.5
        cu, cv = self.centre_uv
        return np.array([[cu - r, cv - r], [cu + r, cv - r], [cu + r, cv + r], [cu - r, cv + r]])

    def describe(self) -> dict[str, Any]:
        """Generation parameters for the truth file."""
        return {
            "centre_uv_mm": [round(c, 4) for c in self.centre_uv],
            "semi_axes_mm": [round(c, 4) for c in self.semi_axes_mm],
            "half_thickness_mm": round(self.half_thickness_mm, 4),
            "angle_deg": round(self.angle_deg, 4),
            "exponent": round(self.exponent, 4),
            "shell_mm": round(self.shell_mm, 4),
        }


@dataclass(frozen=True)
class Capsule:
    """Skin of a finger, the thumb or the forearm: a polyline swept by a sphere of varying radius.

    The section is elliptical: AP half-thickness = ``ap_ratio`` x in-plane half-width.
    """

    name: str
    points_uv: NDArray[np.float64]
    radii_mm: NDArray[np.float64]
    ap_ratio: float


@dataclass(frozen=True)
class RoundedSlab:
    """The palm: a convex polygon swept by a sphere of radius ``radius_mm`` (half the palm thickness)."""

    name: str
    core_uv: NDArray[np.float64]
    radius_mm: float


@dataclass(frozen=True)
class SoftTissueEnvelope:
    """The skin surface as a union of capsules and rounded slabs (the path length is the maximum)."""

    capsules: tuple[Capsule, ...]
    slabs: tuple[RoundedSlab, ...]

    def outline_points(self) -> NDArray[np.float64]:
        """Hand-frame points on or beyond the skin outline (for framing the field of view)."""
        compass = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        points = []
        for capsule in self.capsules:
            points.append((capsule.points_uv[:, None, :] + capsule.radii_mm[:, None, None] * compass).reshape(-1, 2))
        for slab in self.slabs:
            points.append((slab.core_uv[:, None, :] + slab.radius_mm * compass).reshape(-1, 2))
        return np.concatenate(points)


# ------------------------------------------------------------------------------------------------ subject


@dataclass(frozen=True)
class Subject:
    """Who the hand belongs to and the person-level parameters of the skeleton."""

    sex: str  # "F" or "M"
    age_years: float
    metacarpal_ii_length_mm: float
    metacarpal_ii_width_mm: float
    metacarpal_ii_thickness_mm: float
    porosity: float
    trabecular_bone_fraction: float


@dataclass(frozen=True)
class AnatomyOptions:
    """Switches and ranges for the anatomy (see :class:`dxr.training.phantom.dataset.PhantomConfig`)."""

    sex: str = "random"  # "F", "M" or "random"
    age_range_years: tuple[float, float] = (20.0, 90.0)
    porosity: float | None = None  # fixed porosity of MC II-IV, or None for the age-dependent default
    porosity_range: tuple[float, float] | None = None  # uniform porosity range (overrides the default)
    elliptical_rate: float = 0.8  # fraction of hands with AP width 5-10 % larger than in-plane width
    asymmetry_rate: float = 0.8  # fraction with the radial cortex 10-12 % thicker (canal offset)
    curvature_rate: float = 0.5  # fraction with a slightly bowed metacarpal axis
    finger_spread: tuple[float, float] = (0.2, 1.4)  # multiplier of the typical finger abduction


def sample_subject(rng: np.random.Generator, options: AnatomyOptions) -> Subject:
    """Draw sex, age and the metacarpal II dimensions of one adult.

    Cortical thickness: [derived] a peak of 1.95 mm (women) / 2.15 mm (men) that falls by 1.0 %/year after
    45 in women and 0.45 %/year after 50 in men, with 10 % between-person variation. This reproduces the
    1.61 mm of women over 50 (mean age ~65) in DOMAIN.md and the ~13 % male excess of DXR-BMD.
    """
    sex = options.sex if options.sex in ("F", "M") else ("F" if rng.random() < 0.5 else "M")
    age = float(rng.uniform(*options.age_range_years))
    mean_len, sd_len = (60.8, 7.4) if sex == "M" else (60.6, 8.9)
    length = float(np.clip(mean_len + sd_len * _truncated_normal(rng, 2.0), 46.0, 78.0))
    width_mean = 8.1 if sex == "M" else 7.1
    width = float(np.clip(width_mean * (length / 61.0) ** 0.5 * np.exp(rng.normal(0.0, 0.06)), 5.8, 9.6))
    if sex == "F":
        peak, decline, onset = 1.95, 0.010, 45.0
    else:
        peak, decline, onset = 2.15, 0.0045, 50.0
    age_factor = max(0.45, 1.0 - decline * max(0.0, age - onset))
    thickness = peak * age_factor * np.exp(rng.normal(0.0, 0.10)) * (width / width_mean) ** 0.5
    thickness = float(np.clip(thickness, max(0.8, 0.15 * width), min(2.5, 0.40 * width)))
    if options.porosity is not None:
        porosity = float(options.porosity)
    elif options.porosity_range is not None:
        porosity = float(rng.uniform(*options.porosity_range))
    else:
        # DXR porosity ~0.011 in controls (Dhainaut 2013); rising slowly with age.
        porosity = float(np.clip(0.009 * np.exp(rng.normal(0.0, 0.25)) * (1.0 + 0.006 * (age - 40.0)), 0.004, 0.03))
    bvtv = float(np.clip(rng.normal(0.24, 0.03) - 0.0012 * max(0.0, age - 40.0), 0.10, 0.32))
    return Subject(sex, age, length, width, thickness, porosity, bvtv)


def _truncated_normal(rng: np.random.Generator, limit: float) -> float:
    while True:
        value = float(rng.normal())
        if abs(value) <= limit:
            return value


# ------------------------------------------------------------------------------------------------ the hand


@dataclass
class Hand:
    """A sampled hand in the hand frame, with everything needed to project it and to describe it."""

    subject: Subject
    tubes: list[TubeBone]
    blobs: list[BlobBone]
    envelope: SoftTissueEnvelope
    landmarks: dict[str, tuple[float, float]]
    parameters: dict[str, Any] = field(default_factory=dict)

    def tube(self, name: str) -> TubeBone:
        """The tube bone called ``name`` (``"MC2"``...)."""
        for bone in self.tubes:
            if bone.name == name:
                return bone
        raise KeyError(name)

    def metacarpal(self, roman: str) -> TubeBone:
        """Metacarpal ``"II"``, ``"III"``... ."""
        number = {v: k for k, v in _ROMAN.items()}[roman]
        return self.tube(f"MC{number}")


# Typical adult layout in the hand frame, for a metacarpal II of 61 mm (scaled to the sampled hand).
# Metacarpal bases (u, v) and axis directions (degrees toward radial); digit 1 = thumb.
_MC_BASE_UV = {1: (23.5, -6.0), 2: (10.0, -2.0), 3: (0.0, 0.0), 4: (-10.0, 1.0), 5: (-19.0, 1.0)}
_MC_DIRECTION_DEG = {1: 40.0, 2: 7.0, 3: 0.0, 4: -7.0, 5: -14.0}
_MC_LENGTH_REL = {1: (0.68, 0.73), 2: (1.0, 1.0), 3: (0.93, 0.97), 4: (0.83, 0.88), 5: (0.77, 0.82)}
_MC_WIDTH_REL = {1: (1.05, 1.15), 2: (1.0, 1.0), 3: (0.93, 1.0), 4: (0.78, 0.86), 5: (0.82, 0.92)}
_MC_THICKNESS_REL = {1: (0.95, 1.05), 2: (1.0, 1.0), 3: (0.95, 1.05), 4: (0.82, 0.92), 5: (0.85, 0.95)}
# Phalanx lengths and shaft widths relative to metacarpal II (proximal, middle, distal; thumb has none middle).
_PHALANX_LENGTH_REL = {
    1: (0.51, None, 0.36),
    2: (0.66, 0.38, 0.28),
    3: (0.74, 0.44, 0.30),
    4: (0.69, 0.43, 0.30),
    5: (0.54, 0.30, 0.26),
}
_PHALANX_WIDTH_REL = {
    1: (1.0, None, 0.75),
    2: (0.95, 0.80, 0.55),
    3: (1.0, 0.85, 0.60),
    4: (0.92, 0.80, 0.57),
    5: (0.80, 0.68, 0.50),
}
_FINGER_ABDUCTION_DEG = {1: 8.0, 2: 3.0, 3: 0.0, 4: -3.0, 5: -6.0}
# Carpals: centre (u, v), semi-axes (a, b), angle of the b axis (deg toward radial).
_CARPALS = {
    "capitate": ((0.0, -12.5), (7.0, 10.5), 0.0),
    "hamate": ((-13.0, -11.0), (7.0, 9.5), -15.0),
    "trapezoid": ((10.0, -8.0), (5.5, 5.5), 15.0),
    "trapezium": ((19.5, -11.5), (7.0, 7.5), 40.0),
    "scaphoid": ((12.5, -26.5), (6.5, 12.0), 55.0),
    "lunate": ((-0.5, -30.0), (8.0, 7.5), 0.0),
    "triquetrum": ((-13.5, -25.5), (7.0, 6.0), -30.0),
    "pisiform": ((-15.5, -22.0), (5.0, 5.0), 0.0),
}
_JOINT_GAP_MM = 1.6


def sample_hand(rng: np.random.Generator, options: AnatomyOptions, subject: Subject | None = None) -> Hand:
    """Sample a whole adult left hand (hand frame) with known metacarpal geometry.

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    options
        Anatomical switches and ranges.
    subject
        Who to build the hand for; drawn from ``options`` when omitted.
    """
    subject = subject if subject is not None else sample_subject(rng, options)
    scale = subject.metacarpal_ii_length_mm / 61.0  # positions and lengths
    width_scale = subject.metacarpal_ii_width_mm / (8.1 if subject.sex == "M" else 7.1)
    tubes: list[TubeBone] = []
    parameters: dict[str, Any] = {"scale": round(scale, 5), "width_scale": round(width_scale, 5)}
    elliptical = rng.random() < options.elliptical_rate
    asymmetric = rng.random() < options.asymmetry_rate
    curved = rng.random() < options.curvature_rate
    parameters.update(
        {"elliptical": bool(elliptical), "asymmetric_cortex": bool(asymmetric), "curved_axes": bool(curved)}
    )

    def jitter(sd: float) -> float:
        return float(rng.normal(0.0, sd))

    spread = float(rng.uniform(*options.finger_spread))
    parameters["finger_spread"] = round(spread, 4)
    heads: dict[int, NDArray[np.float64]] = {}
    directions: dict[int, float] = {}
    for digit in range(1, 6):
        lo, hi = _MC_LENGTH_REL[digit]
        length = subject.metacarpal_ii_length_mm * float(rng.uniform(lo, hi))
        lo, hi = _MC_WIDTH_REL[digit]
        width = subject.metacarpal_ii_width_mm * float(rng.uniform(lo, hi))
        lo, hi = _MC_THICKNESS_REL[digit]
        thickness = subject.metacarpal_ii_thickness_mm * float(rng.uniform(lo, hi))
        thickness = float(np.clip(thickness, max(0.8, 0.15 * width), min(2.5, 0.40 * width)))
        base = np.array(_MC_BASE_UV[digit]) * scale + (jitter(0.7), jitter(0.7))
        direction = _MC_DIRECTION_DEG[digit] + jitter(1.5 if digit > 1 else 5.0)
        roman = _ROMAN[digit]
        measured = roman in MEASURED_METACARPALS
        ap_ratio = float(rng.uniform(1.05, 1.10)) if elliptical else 1.0
        offset = 0.0
        if asymmetric:
            ratio = float(rng.uniform(1.10, 1.12))  # radial / ulnar cortical thickness
            # radial = T - c, ulnar = T + c with radial/ulnar = ratio  ->  c = -T (ratio - 1) / (ratio + 1)
            offset = -thickness * (ratio - 1.0) / (ratio + 1.0)
        d0 = float(rng.uniform(0.25, 0.29))
        d1 = float(rng.uniform(0.71, 0.75))
        head_rel = float(rng.uniform(1.35, 1.52)) if digit > 1 else float(rng.uniform(1.3, 1.45))
        base_rel = float(rng.uniform(1.5, 1.7)) if digit in (2, 3) else float(rng.uniform(1.4, 1.6))
        head_half = width / 2.0 * head_rel
        head_cap = 1.05 * head_half  # a round head, slightly longer than wide
        shape = TubeShape(
            base_rel=base_rel,
            head_rel=head_rel,
            diaphysis=(d0, d1),
            base_flare_end=0.07,
            head_flare_start=max(d1 + 0.08, 1.0 - 1.1 * head_cap / length),
            base_cap_mm=1.6,
            head_cap_mm=head_cap,
            ap_ratio=ap_ratio,
            cortical_thickness_mm=thickness,
            end_cortex_mm=float(rng.uniform(0.3, 0.45)),
            canal_offset_mm=offset,
            flare_exponent=1.8,
            head_flare_exponent=1.25,
        )
        curvature = 0.0
        if curved:
            sagitta = float(rng.uniform(-0.8, 0.8))
            curvature = 8.0 * sagitta / length**2
        bone = build_tube(
            f"MC{digit}",
            base_uv=(float(base[0]), float(base[1])),
            direction_deg=direction,
            length_mm=length,
            half_width_mm=width / 2.0,
            shape=shape,
            curvature_per_mm=curvature,
            label_bone=LABEL_BONE.get(roman, 0),
            label_canal=LABEL_CANAL.get(roman, 0),
        )
        if measured and subject.porosity > 0:
            bone.pores = _pores_for(rng, bone, subject.porosity)
        tubes.append(bone)
        heads[digit] = bone.axis_point(bone.length_mm)
        directions[digit] = float(np.rad2deg(np.arctan2(*(heads[digit] - bone.axis_point(0.7 * bone.length_mm)))))

    fingertips: dict[int, NDArray[np.float64]] = {}
    finger_axes: dict[int, list[NDArray[np.float64]]] = {}
    finger_widths: dict[int, list[float]] = {}
    for digit in range(1, 6):
        angle = directions[digit] + _FINGER_ABDUCTION_DEG[digit] * spread + jitter(2.0)
        start = heads[digit] + _JOINT_GAP_MM * np.array([np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))])
        joints = [heads[digit]]
        widths = []
        for level, kind in enumerate(("PP", "MP", "DP")):
            rel_len = _PHALANX_LENGTH_REL[digit][level]
            if rel_len is None:
                continue
            length = subject.metacarpal_ii_length_mm * rel_len * float(rng.uniform(0.96, 1.04))
            width = subject.metacarpal_ii_width_mm * _PHALANX_WIDTH_REL[digit][level] * float(rng.uniform(0.94, 1.06))
            bone = build_tube(
                f"{kind}{digit}",
                base_uv=(float(start[0]), float(start[1])),
                direction_deg=angle,
                length_mm=length,
                half_width_mm=width / 2.0,
                shape=_phalanx_shape(rng, kind, width, length),
            )
            tubes.append(bone)
            end = bone.axis_point(bone.length_mm)
            joints.append(end)
            widths.append(width)
            angle += jitter(2.5)
            start = end + _JOINT_GAP_MM * np.array([np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))])
        fingertips[digit] = joints[-1]
        finger_axes[digit] = joints
        finger_widths[digit] = widths

    # Forearm: distal radius and ulna (long tubes reaching far beyond any field of view).
    radius_end = np.array([4.0, -40.0]) * scale + (jitter(0.8), jitter(0.8))
    ulna_end = np.array([-17.5, -39.5 + float(rng.normal(0.0, 1.5))]) * scale + (jitter(0.8), 0.0)
    forearm_len = 230.0
    for name, end, half, head_rel, cap, ap, thick in (
        ("radius", radius_end, 8.0, float(rng.uniform(1.65, 1.85)), 2.5, 0.72, 2.4),
        ("ulna", ulna_end, 5.5, float(rng.uniform(1.35, 1.5)), 4.5, 0.9, 2.0),
    ):
        angle = jitter(2.0)
        d = np.array([np.sin(np.deg2rad(angle)), np.cos(np.deg2rad(angle))])
        half_width = half * width_scale * scale**0.5
        base = end - forearm_len * d
        tubes.append(
            build_tube(
                name,
                base_uv=(float(base[0]), float(base[1])),
                direction_deg=angle,
                length_mm=forearm_len,
                half_width_mm=half_width,
                shape=TubeShape(
                    base_rel=1.0,
                    head_rel=head_rel,
                    diaphysis=(0.0, 0.84),
                    base_flare_end=0.0,
                    head_flare_start=0.985,
                    base_cap_mm=0.0,
                    head_cap_mm=cap,
                    ap_ratio=ap,
                    cortical_thickness_mm=thick * width_scale,
                    end_cortex_mm=0.45,
                ),
            )
        )

    blobs = _carpals(rng, scale, width_scale, jitter)
    mc1 = tubes[0]
    for side in (-1.0, 1.0):  # the two sesamoids at the thumb's metacarpophalangeal joint
        p = mc1.axis_point(mc1.length_mm - 3.0) + side * 3.2 * width_scale * mc1.radial_normal
        blobs.append(
            BlobBone(
                f"sesamoid_{'radial' if side > 0 else 'ulnar'}",
                (float(p[0]), float(p[1])),
                (2.2 * width_scale, 2.8 * width_scale),
                2.0,
                mc1.direction_deg,
                2.0,
                0.35,
            )
        )

    envelope = _envelope(rng, scale, width_scale, tubes, finger_axes, finger_widths, subject, blobs)
    landmarks = {f"fingertip_{d}": (float(p[0]), float(p[1])) for d, p in fingertips.items()}
    for digit in range(1, 6):
        mc = tubes[digit - 1]
        landmarks[f"mc{digit}_base"] = tuple(float(c) for c in mc.axis_point(0.0))
        landmarks[f"mc{digit}_head"] = tuple(float(c) for c in mc.axis_point(mc.length_mm))
    landmarks["wrist"] = (float((radius_end[0] + ulna_end[0]) / 2), float(radius_end[1]))
    return Hand(subject, tubes, blobs, envelope, landmarks, parameters)


def _pores_for(rng: np.random.Generator, bone: TubeBone, porosity: float) -> PoreSet:
    d0, d1 = bone.shape.diaphysis
    s_mid = bone.length_mm / 2.0
    outer, outer_ap, inner, inner_ap, offset, _ = bone.profile.sample(np.array([s_mid]))
    return sample_pores(
        rng,
        porosity=porosity,
        region_mm=(d0 * bone.length_mm, d1 * bone.length_mm),
        outer_mm=float(outer[0]),
        outer_ap_mm=float(outer_ap[0]),
        inner_mm=float(inner[0]),
        inner_ap_mm=float(inner_ap[0]),
        canal_offset_mm=float(offset[0]),
    )


def _phalanx_shape(rng: np.random.Generator, kind: str, width: float, length: float) -> TubeShape:
    half = width / 2.0
    if kind == "DP":
        head_rel = float(rng.uniform(1.0, 1.15))  # the ungual tuft
        return TubeShape(
            base_rel=float(rng.uniform(1.4, 1.55)),
            head_rel=head_rel,
            diaphysis=(0.35, 0.55),
            base_flare_end=0.1,
            head_flare_start=max(0.62, 1.0 - 0.9 * half * head_rel / length),
            base_cap_mm=1.0,
            head_cap_mm=0.9 * half * head_rel,
            ap_ratio=0.7,
            cortical_thickness_mm=0.28 * width,
            end_cortex_mm=0.3,
            flare_exponent=1.4,
        )
    head_rel = float(rng.uniform(1.12, 1.22))
    return TubeShape(
        base_rel=float(rng.uniform(1.3, 1.42)),
        head_rel=head_rel,
        diaphysis=(0.45, 0.6),
        base_flare_end=0.07,
        head_flare_start=max(0.72, 1.0 - 0.75 * half * head_rel / length),
        base_cap_mm=1.0,
        head_cap_mm=0.75 * half * head_rel,
        ap_ratio=0.72,
        cortical_thickness_mm=0.25 * width,
        end_cortex_mm=0.3,
        flare_exponent=1.3,
    )


def _carpals(rng: np.random.Generator, scale: float, width_scale: float, jitter) -> list[BlobBone]:
    blobs = []
    size = (scale * width_scale) ** 0.5
    for name, ((u, v), (a, b), angle) in _CARPALS.items():
        semi = (a * size * float(rng.uniform(0.93, 1.07)), b * size * float(rng.uniform(0.93, 1.07)))
        blobs.append(
            BlobBone(
                name=name,
                centre_uv=(u * scale + jitter(0.6), v * scale + jitter(0.6)),
                semi_axes_mm=semi,
                half_thickness_mm=0.68 * min(semi) * float(rng.uniform(0.9, 1.1)),
                angle_deg=angle + jitter(4.0),
                exponent=float(rng.uniform(2.2, 2.8)),
                shell_mm=float(rng.uniform(0.3, 0.45)),
            )
        )
    return blobs


def _envelope(
    rng: np.random.Generator,
    scale: float,
    width_scale: float,
    tubes: list[TubeBone],
    finger_axes: dict[int, list[NDArray[np.float64]]],
    finger_widths: dict[int, list[float]],
    subject: Subject,
    carpals: list[BlobBone],
) -> SoftTissueEnvelope:
    """Skin: finger and thumb capsules, the palm slab and the forearm."""
    fat = float(rng.uniform(0.9, 1.15)) * (1.04 if subject.sex == "F" else 1.0)  # soft-tissue build
    capsules = []
    for digit in range(2, 6):
        joints = finger_axes[digit]
        widths = finger_widths[digit]
        # Finger half-width: the phalanx plus ~5 mm of skin, tendons and pulp, tapering to the tip.
        radii = [0.5 * widths[0] * 1.45 + 6.0 * fat]
        radii += [0.5 * w * 1.35 + 5.2 * fat for w in widths]
        radii[-1] = 0.5 * widths[-1] * 1.15 + 5.4 * fat
        points = list(joints)
        tip_dir = joints[-1] - joints[-2]
        tip_dir = tip_dir / np.linalg.norm(tip_dir)
        points[-1] = joints[-1] - 1.0 * tip_dir  # the pulp extends ~radius beyond the bone tip
        capsules.append(Capsule(f"finger_{digit}", np.asarray(points), np.asarray(radii), 0.82))
    thumb = finger_axes[1]
    mc1 = tubes[0]
    thumb_start = mc1.axis_point(0.45 * mc1.length_mm)
    tip = thumb[2] - 1.0 * (thumb[2] - thumb[1]) / np.linalg.norm(thumb[2] - thumb[1])
    thumb_points = [thumb_start, thumb[0], thumb[1], tip]
    thumb_radii = [
        12.0 * scale * fat,
        10.5 * width_scale * fat,
        0.5 * finger_widths[1][0] * 1.35 + 5.5 * fat,
        0.5 * finger_widths[1][-1] * 1.15 + 5.8 * fat,
    ]
    capsules.append(Capsule("thumb", np.asarray(thumb_points), np.asarray(thumb_radii), 0.8))
    radius, ulna = tubes[-2], tubes[-1]
    wrist_centre = (radius.axis_point(radius.length_mm) + ulna.axis_point(ulna.length_mm)) / 2.0
    forearm_half = 29.0 * scale**0.5 * width_scale**0.5 * fat
    forearm_axis = wrist_centre + np.array([0.0, 8.0 * scale])
    capsules.append(
        Capsule(
            "forearm",
            np.asarray([forearm_axis, forearm_axis - (0.0, 320.0)]),
            np.asarray([forearm_half, forearm_half * 1.12]),
            0.66,
        )
    )
    # Palm: rounded slab around the metacarpals II-V and the carpus.
    half_thickness = float(rng.uniform(11.0, 13.0)) * scale**0.5 * fat
    points = []
    for digit in range(2, 6):
        mc = tubes[digit - 1]
        inset = -3.0 if digit == 2 else (1.0 if digit == 5 else 0.0)
        for frac in (0.1, 1.0):
            p = mc.axis_point(frac * mc.length_mm - (2.0 if frac == 1.0 else 0.0))
            points.append(p + inset * mc.radial_normal)
    points.append(radius.axis_point(radius.length_mm - 10.0) - np.array([6.0 * scale, 0.0]))
    points.append(ulna.axis_point(ulna.length_mm - 10.0) + np.array([4.0 * scale, 0.0]))
    for blob in carpals:
        if blob.name != "trapezium":
            points.append(np.asarray(blob.centre_uv))
    core = np.asarray(points)
    palm = RoundedSlab("palm", core[ConvexHull(core).vertices], half_thickness)
    # Thenar eminence: a second, thinner slab over the thumb metacarpal and the trapezium. The union of the
    # two convex slabs leaves the concave first web space between thumb and index.
    mc2 = tubes[1]
    thenar_points = np.asarray(
        [
            mc1.axis_point(0.05 * mc1.length_mm),
            mc1.axis_point(0.55 * mc1.length_mm) - 2.5 * scale * mc1.radial_normal,
            mc2.axis_point(0.12 * mc2.length_mm),
            mc2.axis_point(0.3 * mc2.length_mm),
            np.asarray(next(b.centre_uv for b in carpals if b.name == "trapezium")),
            np.asarray(next(b.centre_uv for b in carpals if b.name == "scaphoid")),
        ]
    )
    thenar = RoundedSlab("thenar", thenar_points[ConvexHull(thenar_points).vertices], 0.88 * half_thickness)
    return SoftTissueEnvelope(tuple(capsules), (palm, thenar))
