"""Radiogrammetric indices and DXR-BMD from cortical width and thickness (DOMAIN.md section 1).

All lengths in millimetres unless a name says otherwise. Each formula is a small pure function with a worked
example; the density constant comes from a versioned :class:`Calibration`, never from code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Calibration",
    "barnett_nordin_index",
    "bone_health_index",
    "cortical_area_mm2",
    "cortical_porosity",
    "dxr_bmd_g_cm2",
    "exton_smith_index",
    "metacarpal_index",
    "pore_texture_per_unit_porosity",
    "volume_per_area_mm",
]


def cortical_area_mm2(width_mm: float, cortical_thickness_mm: float) -> float:
    """Cortical cross-sectional area of a hollow cylinder, A = pi*T*(W - T).

    >>> round(cortical_area_mm2(8.0, 2.0), 4)  # pi*2*6
    37.6991
    """
    return math.pi * cortical_thickness_mm * (width_mm - cortical_thickness_mm)


def volume_per_area_mm(width_mm: float, cortical_thickness_mm: float) -> float:
    """Bone volume per projected area, VPA = A/W = pi*T*(1 - T/W) (Thodberg 2010).

    >>> round(volume_per_area_mm(8.0, 2.0), 4)  # pi*2*0.75
    4.7124
    """
    return math.pi * cortical_thickness_mm * (1.0 - cortical_thickness_mm / width_mm)


def metacarpal_index(width_mm: float, cortical_thickness_mm: float) -> float:
    """Metacarpal index in the DXR/BoneXpert sense, MCI = A/W**2.

    >>> round(metacarpal_index(8.0, 2.0), 4)  # 37.6991 / 64
    0.589
    """
    return cortical_area_mm2(width_mm, cortical_thickness_mm) / width_mm**2


def barnett_nordin_index(width_mm: float, cortical_thickness_mm: float) -> float:
    """Barnett-Nordin cortical percentage (W - M)/W = 2T/W, as a fraction.

    >>> barnett_nordin_index(8.0, 2.0)
    0.5
    """
    return 2.0 * cortical_thickness_mm / width_mm


def exton_smith_index(width_mm: float, cortical_thickness_mm: float, length_mm: float) -> float:
    """Exton-Smith index A/(W*L).

    >>> round(exton_smith_index(8.0, 2.0, 60.0), 5)  # 37.6991 / 480
    0.07854
    """
    return cortical_area_mm2(width_mm, cortical_thickness_mm) / (width_mm * length_mm)


def bone_health_index(width_mm: float, cortical_thickness_mm: float, length_mm: float) -> float:
    """Bone Health Index, BHI = pi*T*(1 - T/W) / (L*W)**0.33 (T, W, L in mm; BoneXpert documentation).

    >>> round(bone_health_index(8.0, 2.0, 60.0), 4)  # 4.7124 / 480**0.33 = 4.7124 / 7.670
    0.6144
    """
    return volume_per_area_mm(width_mm, cortical_thickness_mm) / (length_mm * width_mm) ** 0.33


def dxr_bmd_g_cm2(vpa_mm: float, porosity: float, density_constant_g_cm3: float) -> float:
    """DXR-BMD = c * VPA * (1 - p), with VPA converted to cm so that the result is in g/cm**2.

    >>> round(dxr_bmd_g_cm2(3.8945, 0.0109, 1.360), 4)  # Dhainaut 2013 controls: 0.524 g/cm2
    0.5239
    """
    return density_constant_g_cm3 * (vpa_mm / 10.0) * (1.0 - porosity)


def pore_texture_per_unit_porosity(
    *, amplitude: float, cortex_path_px: float, blur_sigma_px: float, pore_radius_px: float
) -> float:
    """Expected streak-texture variance of a cortex per unit porosity, in squared intensity units.

    Pores running along the shaft (Haversian and resorption canals) remove bone from the X-ray path at random
    lateral positions. Pores of radius rho (volume fraction p) crossed by a path of length l form a Poisson
    train of pulses of area pi*rho**2; after a Gaussian blur sigma wider than the pores, Campbell's theorem
    gives the variance ``p * l * sqrt(pi) * rho**2 / (2 * sigma)``, times ``amplitude**2`` in intensity units.

    >>> round(pore_texture_per_unit_porosity(amplitude=1.0, cortex_path_px=10.0, blur_sigma_px=1.0,
    ...                                      pore_radius_px=0.5), 4)  # 10 * 1.7725 * 0.25 / 2
    2.2156
    """
    return cortex_path_px * math.sqrt(math.pi) * pore_radius_px**2 / (2.0 * blur_sigma_px) * amplitude**2


def cortical_porosity(texture_variances: list[float], per_unit_porosity: list[float]) -> float | None:
    """Porosity from the pore texture of one or more cortices (pooled: sum of variances over sum of scales).

    ``None`` when nothing usable was given; clipped to [0, 0.5].

    >>> cortical_porosity([0.02, 0.04], [2.0, 2.0])
    0.015
    >>> cortical_porosity([-0.01], [2.0])
    0.0
    """
    pairs = [(v, s) for v, s in zip(texture_variances, per_unit_porosity, strict=True) if np.isfinite(v + s) and s > 0]
    if not pairs:
        return None
    return float(np.clip(sum(v for v, _ in pairs) / sum(s for _, s in pairs), 0.0, 0.5))


@dataclass(frozen=True)
class Calibration:
    """A versioned measurement method: density constant, region of interest, porosity settings.

    ``bmd_porosity`` says which p enters DXR-BMD = c*VPA*(1 - p): ``"measured"`` (the texture estimate of the
    hand) or ``"reference"`` (``reference_porosity``, a population value), the latter while the texture
    estimate is too imprecise to enter a BMD (see docs/radiogrammetry.md).

    Loaded from a JSON file (``analysis/data/calibration-*.json``) by :func:`dxr.analysis.intake.read_calibration`;
    every result records ``id`` and ``version``. ``derived`` says whether the constant is a modelling choice
    (see ``derivation``) rather than a published value.
    """

    id: str
    version: str
    density_constant_g_cm3: float
    roi_start_fraction: float
    roi_end_fraction: float
    pore_radius_mm: float
    reference_porosity: float
    bmd_porosity: str
    derived: bool
    derivation: str
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.id or not self.version:
            raise ValueError("calibration needs a non-empty id and version")
        if not 0.5 <= self.density_constant_g_cm3 <= 3.0:
            raise ValueError(f"density_constant_g_cm3 {self.density_constant_g_cm3} outside 0.5-3.0 g/cm3")
        if not 0.0 < self.roi_start_fraction < self.roi_end_fraction < 1.0:
            raise ValueError("ROI fractions must satisfy 0 < roi_start_fraction < roi_end_fraction < 1")
        if not 0.0 < self.pore_radius_mm < 1.0:
            raise ValueError(f"pore_radius_mm {self.pore_radius_mm} outside (0, 1) mm")
        if not 0.0 <= self.reference_porosity < 0.5:
            raise ValueError(f"reference_porosity {self.reference_porosity} outside [0, 0.5)")
        if self.bmd_porosity not in ("reference", "measured"):
            raise ValueError(f"bmd_porosity must be 'reference' or 'measured', got {self.bmd_porosity!r}")
        if self.derived and not self.derivation:
            raise ValueError("a derived calibration must say how it was derived")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Calibration:
        """Build from parsed JSON, with a clear error for a missing or mistyped field."""
        try:
            return cls(
                id=str(data["id"]),
                version=str(data["version"]),
                density_constant_g_cm3=float(data["density_constant_g_cm3"]),  # type: ignore[arg-type]
                roi_start_fraction=float(data["roi_start_fraction"]),  # type: ignore[arg-type]
                roi_end_fraction=float(data["roi_end_fraction"]),  # type: ignore[arg-type]
                pore_radius_mm=float(data["pore_radius_mm"]),  # type: ignore[arg-type]
                reference_porosity=float(data["reference_porosity"]),  # type: ignore[arg-type]
                bmd_porosity=str(data["bmd_porosity"]),
                derived=bool(data["derived"]),
                derivation=str(data.get("derivation", "")),
                sources=tuple(str(source) for source in data.get("sources", ())),  # type: ignore[union-attr]
            )
        except KeyError as missing:
            raise ValueError(f"calibration file lacks the field {missing}") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"calibration file has a malformed value: {exc}") from None
