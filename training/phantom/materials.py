"""Effective linear attenuation coefficients of the tissues of the hand at a ~50 kVp beam.

A 50 kVp tungsten beam with the usual ~2.5 mm Al total filtration has a mean energy near 31-33 keV once it
has passed a hand, so the generator treats it as monoenergetic at an *effective energy* drawn per image
from 30-36 keV (a proxy for kVp, filtration and beam hardening varying between rooms). Mass attenuation
coefficients come from the NIST tables of Hubbell & Seltzer (NIST Standard Reference Database 126, table 4:
ICRU-44 tissue compositions), log-log interpolated between the tabulated 30 and 40 keV points, times the
ICRU-44 densities. The values were transcribed by hand (to about 1 %) and are documented in
``docs/phantom.md``.

Derived materials: trabecular bone is a volume mix of cortical bone and marrow (bone volume fraction
BV/TV); adult metacarpal marrow is mostly yellow (fatty) marrow, modelled as 70 % adipose + 30 % soft
tissue by volume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MASS_ATTENUATION_CM2_PER_G", "Materials", "linear_attenuation_per_mm"]

# material: (density g/cm^3, mu/rho at 30 keV, mu/rho at 40 keV) in cm^2/g. NIST SRD 126, table 4 (ICRU-44).
MASS_ATTENUATION_CM2_PER_G: dict[str, tuple[float, float, float]] = {
    "cortical_bone": (1.92, 1.331, 0.6655),  # "Bone, Cortical (ICRU-44)"
    "soft_tissue": (1.06, 0.3790, 0.2688),  # "Tissue, Soft (ICRU-44)"
    "adipose": (0.95, 0.3256, 0.2443),  # "Adipose Tissue (ICRU-44)"
}
_TABLE_ENERGIES_KEV = (30.0, 40.0)


def linear_attenuation_per_mm(material: str, energy_kev: float) -> float:
    """Linear attenuation coefficient in 1/mm of a tabulated material at ``energy_kev``.

    Log-log interpolation (attenuation is close to a power law between absorption edges, and no element
    of these tissues has an edge between 30 and 40 keV); mildly extrapolated outside 30-40 keV.

    >>> round(linear_attenuation_per_mm("cortical_bone", 30.0), 4)
    0.2556
    """
    density, mu30, mu40 = MASS_ATTENUATION_CM2_PER_G[material]
    e0, e1 = _TABLE_ENERGIES_KEV
    slope = np.log(mu40 / mu30) / np.log(e1 / e0)
    mass_mu = mu30 * (energy_kev / e0) ** slope
    return float(mass_mu * density / 10.0)  # cm^-1 -> mm^-1


@dataclass(frozen=True)
class Materials:
    """Linear attenuation coefficients (1/mm) used for one image.

    Parameters
    ----------
    cortical_per_mm, soft_tissue_per_mm, marrow_per_mm, trabecular_per_mm
        Effective coefficients of cortical bone, soft tissue (the envelope), fatty marrow (the medullary
        canal) and trabecular bone (bone ends, carpals).
    pore_per_mm
        What fills the cortical pores (Haversian canals: vessels and loose tissue), taken as soft tissue.
    energy_kev
        The effective energy they were computed at (``nan`` when set by hand, e.g. in tests).
    """

    cortical_per_mm: float
    soft_tissue_per_mm: float
    marrow_per_mm: float
    trabecular_per_mm: float
    pore_per_mm: float
    energy_kev: float = float("nan")

    @classmethod
    def at_energy(cls, energy_kev: float, trabecular_bone_fraction: float = 0.22) -> Materials:
        """Coefficients at an effective energy, with trabecular bone of the given BV/TV."""
        cortical = linear_attenuation_per_mm("cortical_bone", energy_kev)
        soft = linear_attenuation_per_mm("soft_tissue", energy_kev)
        adipose = linear_attenuation_per_mm("adipose", energy_kev)
        marrow = 0.7 * adipose + 0.3 * soft
        trabecular = trabecular_bone_fraction * cortical + (1.0 - trabecular_bone_fraction) * marrow
        return cls(
            cortical_per_mm=cortical,
            soft_tissue_per_mm=soft,
            marrow_per_mm=marrow,
            trabecular_per_mm=trabecular,
            pore_per_mm=soft,
            energy_kev=float(energy_kev),
        )

    def as_dict(self) -> dict[str, float]:
        """Plain values for the truth file."""
        return {key: round(float(value), 6) for key, value in asdict(self).items()}
