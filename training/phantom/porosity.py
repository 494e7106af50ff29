"""Cortical porosity: Haversian-canal-like cylindrical pores inside the cortex of a metacarpal shaft.

Each pore is a thin cylinder of radius ``radius_mm`` parallel to the bone axis, at a fixed position
``(x, z)`` of the cross-section (x in the image plane, positive toward the radial side; z along the beam)
and spanning ``[s_start, s_end]`` along the axis. Pores lie entirely inside the cortical shell and never
overlap one another, so the pore volume is exactly the sum of the cylinders and the porosity (pore volume /
cortical volume of the constant mid-diaphysis) is known exactly.

Projection: a ray at lateral position x crosses pore k over ``2 sqrt(rho^2 - (x - x_k)^2)`` mm. Pores are
much thinner than a pixel, so what a detector pixel sees is the *mean* of that chord over the pixel's
footprint. Its antiderivative is the area of a circular segment, ``F(u) = rho^2 (u sqrt(1-u^2) + asin u +
pi/2)`` with ``u = (x - x_k)/rho``, so the footprint mean is ``(G(x + w/2) - G(x - w/2)) / w`` with ``G``
the sum of the ``F`` of the pores active at that position along the axis. ``G`` is tabulated exactly at the
nodes of a fine lateral grid for every 0.1 mm bin along the axis (pores start and end on bin edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["PoreSet", "pore_radius_for", "sample_pores"]

_BIN_MM = 0.1
_SEGMENT_LENGTH_MM = (2.0, 8.0)


def pore_radius_for(porosity: float) -> float:
    """Pore radius in mm for a target porosity.

    Normal Haversian canals are ~40-60 µm across; in porous (old, osteoporotic) cortex they enlarge and
    merge into resorption spaces of 100 µm and more. Growing the radius with porosity keeps the pore count
    (and generation time) bounded at high porosity.
    """
    return float(np.clip(0.022 + 0.3 * porosity, 0.022, 0.06))


@dataclass(frozen=True)
class PoreSet:
    """The pores of one bone and the exact lookup table of their projected path length.

    Attributes
    ----------
    radius_mm
        Radius of every pore.
    x_mm, z_mm
        Cross-section position of each pore relative to the bone axis (x in-plane toward radial, z along
        the beam).
    s_start_mm, s_end_mm
        Extent of each pore along the axis.
    region_mm
        The axial region (the constant mid-diaphysis) over which the porosity is defined.
    cortical_area_mm2
        Cross-sectional area of the cortex in that region.
    porosity
        Pore volume / cortical volume over the region (exact).
    """

    radius_mm: float
    x_mm: NDArray[np.float64]
    z_mm: NDArray[np.float64]
    s_start_mm: NDArray[np.float64]
    s_end_mm: NDArray[np.float64]
    region_mm: tuple[float, float]
    cortical_area_mm2: float
    porosity: float
    _grid_x0_mm: float
    _grid_dx_mm: float
    _cumulative: NDArray[np.float64]  # (n_bins, n_nodes): G at the lateral grid nodes, per axial bin

    @property
    def count(self) -> int:
        """Number of pores."""
        return int(self.x_mm.size)

    def mean_path_mm(self, s_mm: NDArray[np.float64], x_mm: NDArray[np.float64], footprint_mm: float) -> NDArray:
        """Mean pore path length over a lateral footprint of width ``footprint_mm`` centred at ``x_mm``.

        Parameters
        ----------
        s_mm, x_mm
            Axial and lateral coordinates of the sample points (any matching shapes).
        footprint_mm
            Width of the detector footprint across the bone axis (pixel pitch / supersampling factor).
        """
        s = np.asarray(s_mm, dtype=np.float64)
        x = np.asarray(x_mm, dtype=np.float64)
        out = np.zeros(np.broadcast(s, x).shape, dtype=np.float64)
        if self.count == 0:
            return out
        n_bins, n_nodes = self._cumulative.shape
        k = np.floor((s - self.region_mm[0]) / _BIN_MM).astype(np.int64)
        inside = (k >= 0) & (k < n_bins)
        if not inside.any():
            return out
        k = k[inside]
        xi = x[inside]
        half = footprint_mm / 2.0
        flat = self._cumulative.ravel()

        def cumulative_at(position: NDArray[np.float64]) -> NDArray[np.float64]:
            node = np.clip((position - self._grid_x0_mm) / self._grid_dx_mm, 0.0, n_nodes - 1.000001)
            j = np.floor(node).astype(np.int64)
            frac = node - j
            base = k * n_nodes + j
            return flat[base] * (1.0 - frac) + flat[base + 1] * frac

        out[inside] = (cumulative_at(xi + half) - cumulative_at(xi - half)) / footprint_mm
        return out

    def integrated_path_mm2(self, s_mm: float) -> float:
        """Integral over x of the pore path length at axial position ``s_mm``: the pore cross-section area."""
        active = (self.s_start_mm <= s_mm) & (s_mm < self.s_end_mm)
        return float(np.pi * self.radius_mm**2 * np.count_nonzero(active))


def _segment_area(u: NDArray[np.float64]) -> NDArray[np.float64]:
    """Area of the unit disc left of x = u (u clipped to [-1, 1])."""
    u = np.clip(u, -1.0, 1.0)
    return u * np.sqrt(1.0 - u * u) + np.arcsin(u) + np.pi / 2.0


def sample_pores(
    rng: np.random.Generator,
    *,
    porosity: float,
    region_mm: tuple[float, float],
    outer_mm: float,
    outer_ap_mm: float,
    inner_mm: float,
    inner_ap_mm: float,
    canal_offset_mm: float,
) -> PoreSet:
    """Place non-overlapping pores in the cortical shell until the pore volume reaches ``porosity``.

    Parameters
    ----------
    rng
        Random generator (the only source of randomness).
    porosity
        Target pore volume fraction of the cortex over ``region_mm``; the achieved value is exact and
        stored in :attr:`PoreSet.porosity` (it differs from the target by at most a rounding of one pore).
    region_mm
        Axial extent of the constant-section mid-diaphysis.
    outer_mm, outer_ap_mm, inner_mm, inner_ap_mm
        In-plane and AP semi-axes of the periosteal and endosteal ellipses there.
    canal_offset_mm
        Lateral offset of the endosteal ellipse (positive toward radial).
    """
    s0, s1 = region_mm
    n_bins = max(1, int(np.floor((s1 - s0) / _BIN_MM)))
    s1 = s0 + n_bins * _BIN_MM
    area = float(np.pi * (outer_mm * outer_ap_mm - inner_mm * inner_ap_mm))
    radius = pore_radius_for(porosity)
    target_volume = porosity * area * (s1 - s0)
    xs: list[float] = []
    zs: list[float] = []
    starts: list[float] = []
    ends: list[float] = []
    volume = 0.0
    pore_area = np.pi * radius**2
    margin = 1.25 * radius  # conservative: the shrunken ellipse lies inside the true inward offset curve
    min_gap = 2.0 * radius + 0.002
    # Spatial hash of accepted pores over the cross-section (cells of one exclusion diameter): a new pore
    # only needs checking against the 3 x 3 neighbouring cells.
    cells: dict[tuple[int, int], list[int]] = {}
    bins0: list[int] = []
    bins1: list[int] = []
    attempts = 0
    max_attempts = 400_000
    while volume < target_volume - 0.5 * pore_area * _BIN_MM and attempts < max_attempts:
        batch = 512
        attempts += batch
        cx = rng.uniform(-outer_mm, outer_mm, batch)
        cz = rng.uniform(-outer_ap_mm, outer_ap_mm, batch)
        lengths = rng.uniform(*_SEGMENT_LENGTH_MM, batch)
        centres = rng.uniform(s0, s1, batch)
        in_outer = (cx / (outer_mm - margin)) ** 2 + (cz / (outer_ap_mm - margin)) ** 2 <= 1.0
        out_inner = ((cx - canal_offset_mm) / (inner_mm + margin)) ** 2 + (cz / (inner_ap_mm + margin)) ** 2 >= 1.0
        b0s = np.clip(np.round((centres - lengths / 2 - s0) / _BIN_MM), 0, n_bins - 1).astype(int)
        b1s = np.clip(np.round((centres + lengths / 2 - s0) / _BIN_MM), b0s + 1, n_bins).astype(int)
        for i in np.flatnonzero(in_outer & out_inner).tolist():
            remaining_bins = int(np.ceil((target_volume - volume) / (pore_area * _BIN_MM) - 0.5))
            if remaining_bins <= 0:
                break
            x_i, z_i = float(cx[i]), float(cz[i])
            b0 = int(b0s[i])
            b1 = min(int(b1s[i]), b0 + remaining_bins)
            key = (int(np.floor(x_i / min_gap)), int(np.floor(z_i / min_gap)))
            clash = False
            for dx_cell in (-1, 0, 1):
                for dz_cell in (-1, 0, 1):
                    for j in cells.get((key[0] + dx_cell, key[1] + dz_cell), ()):
                        if bins0[j] < b1 and b0 < bins1[j] and (xs[j] - x_i) ** 2 + (zs[j] - z_i) ** 2 < min_gap**2:
                            clash = True
                            break
                    if clash:
                        break
                if clash:
                    break
            if clash:
                continue
            cells.setdefault(key, []).append(len(xs))
            xs.append(x_i)
            zs.append(z_i)
            bins0.append(b0)
            bins1.append(b1)
            starts.append(s0 + b0 * _BIN_MM)
            ends.append(s0 + b1 * _BIN_MM)
            volume += pore_area * (b1 - b0) * _BIN_MM
    x = np.asarray(xs, dtype=np.float64)
    z = np.asarray(zs, dtype=np.float64)
    starts_arr = np.asarray(starts, dtype=np.float64)
    ends_arr = np.asarray(ends, dtype=np.float64)
    return _build(radius, x, z, starts_arr, ends_arr, (s0, s1), n_bins, outer_mm, area, volume)


def _build(
    radius: float,
    x: NDArray[np.float64],
    z: NDArray[np.float64],
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    region: tuple[float, float],
    n_bins: int,
    outer_mm: float,
    area: float,
    volume: float,
) -> PoreSet:
    dx = radius / 5.0
    x0 = -outer_mm - 2.0 * dx
    n_nodes = int(np.ceil(2.0 * outer_mm / dx)) + 5
    # Per-pore exact increments of G over the few grid cells its disc touches, added at the pore's first
    # axial bin and removed after its last one; cumulative sums over bins and nodes then give G exactly.
    increments = np.zeros((n_bins + 1, n_nodes), dtype=np.float64)
    if x.size:
        cells = int(np.ceil(2.0 * radius / dx)) + 2
        first = np.floor((x - radius - x0) / dx).astype(np.int64)
        j = first[:, None] + np.arange(cells)[None, :]
        left = x0 + j * dx
        values = radius**2 * (
            _segment_area((left + dx - x[:, None]) / radius) - _segment_area((left - x[:, None]) / radius)
        )
        b0 = np.round((starts - region[0]) / _BIN_MM).astype(np.int64)
        b1 = np.round((ends - region[0]) / _BIN_MM).astype(np.int64)
        # Cell j spans nodes j..j+1, so its increment belongs to node j+1 of the cumulative table.
        np.add.at(increments, (np.repeat(b0, cells), (j + 1).ravel()), values.ravel())
        np.add.at(increments, (np.repeat(b1, cells), (j + 1).ravel()), -values.ravel())
    per_bin = np.cumsum(increments[:n_bins], axis=0)
    cumulative = np.cumsum(per_bin, axis=1)
    porosity = volume / (area * (region[1] - region[0])) if area > 0 else 0.0
    return PoreSet(
        radius_mm=radius,
        x_mm=x,
        z_mm=z,
        s_start_mm=starts,
        s_end_mm=ends,
        region_mm=region,
        cortical_area_mm2=area,
        porosity=float(porosity),
        _grid_x0_mm=x0,
        _grid_dx_mm=dx,
        _cumulative=cumulative,
    )
