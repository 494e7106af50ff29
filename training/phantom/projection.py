"""Analytic projection of the hand onto the detector grid: path lengths, attenuation line integrals, labels.

The beam is taken as parallel and perpendicular to the detector (at 100 cm source distance the ray through
a 30 mm thick hand is tilted by at most ~7 deg at the field edge; the geometric magnification of the
patient plane is handled in the DICOM spacing, :mod:`.dicom_writer`). Every solid of the hand has
closed-form chords along such rays (:mod:`.anatomy`), so the line integral at a sample point is exact.

Sampling: each bone is evaluated only inside its bounding box, at ``supersample x supersample`` points per
pixel (the detector integrates over the pixel area; the mean of the line integral over the sub-samples is
the pixel value). The soft-tissue envelope, which is smooth except at the skin line, is sampled at pixel
centres. Labels are evaluated at pixel centres.

Pixel convention: pixel ``(row, column)`` has its centre at ``(x, y) = (column, row) * spacing`` mm in the
image plane (x to the right, y down), i.e. integer pixel coordinates are pixel centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .anatomy import BlobBone, Capsule, Hand, RoundedSlab, SoftTissueEnvelope, TubeBone
from .materials import Materials

__all__ = [
    "METAPHYSEAL_CORTEX_LOSS",
    "ImageGrid",
    "Projection",
    "ellipse_chord_mm",
    "envelope_path_mm",
    "hand_to_image_matrix",
    "project_hand",
    "project_tube",
    "tube_path_lengths_mm",
]


METAPHYSEAL_CORTEX_LOSS = 0.4  # density lost by the end cortex where the interior is fully trabecular


def hand_to_image_matrix(*, right_hand: bool, rotation_deg: float) -> NDArray[np.float64]:
    """The 2x2 linear part of the hand-frame -> image-mm mapping.

    The hand frame is a left hand with fingers up (+v) and the thumb at +u; image y points down. A right
    hand mirrors u. ``rotation_deg`` turns the hand counter-clockwise as displayed.
    """
    theta = np.deg2rad(rotation_deg)
    c, s = np.cos(theta), np.sin(theta)
    rotation = np.array([[c, s], [-s, c]])
    flip = np.array([[-1.0 if right_hand else 1.0, 0.0], [0.0, -1.0]])
    return rotation @ flip


@dataclass(frozen=True)
class ImageGrid:
    """The detector pixel grid and where the hand frame lies on it.

    Parameters
    ----------
    rows, columns
        Image size in pixels.
    spacing_mm
        True pixel spacing in the patient (hand) plane, isotropic.
    linear
        2x2 matrix mapping hand-frame mm to image mm (rotation and mirror).
    offset_mm
        Image-mm position of the hand-frame origin.
    """

    rows: int
    columns: int
    spacing_mm: float
    linear: NDArray[np.float64]
    offset_mm: NDArray[np.float64]

    def hand_to_pixel(self, uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Pixel coordinates ``(column, row)`` of hand-frame points (shape ``(..., 2)``)."""
        uv = np.asarray(uv, dtype=np.float64)
        return (uv @ self.linear.T + self.offset_mm) / self.spacing_mm

    def direction_to_pixel(self, direction_uv: NDArray[np.float64]) -> NDArray[np.float64]:
        """Unit image direction ``(dcolumn, drow)`` of a hand-frame direction."""
        d = np.asarray(direction_uv, dtype=np.float64) @ self.linear.T
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    def pixel_to_hand_affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(A, b)`` with ``[u, v] = A @ [column, row] + b``."""
        inverse = np.linalg.inv(self.linear)
        return inverse * self.spacing_mm, -inverse @ self.offset_mm

    def hand_coordinates(
        self, rows: NDArray[np.float64], columns: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Hand-frame ``(u, v)`` on the outer product of pixel ``rows`` x ``columns`` (float64)."""
        a, b = self.pixel_to_hand_affine()
        r = np.asarray(rows, dtype=np.float64)[:, None]
        c = np.asarray(columns, dtype=np.float64)[None, :]
        return a[0, 0] * c + a[0, 1] * r + b[0], a[1, 0] * c + a[1, 1] * r + b[1]

    def pixel_box(self, polygon_uv: NDArray[np.float64], pad: int = 2) -> tuple[int, int, int, int] | None:
        """Pixel index box ``(row0, row1, col0, col1)`` (end-exclusive) covering a hand-frame polygon."""
        pix = self.hand_to_pixel(polygon_uv)
        c0 = max(int(np.floor(pix[:, 0].min())) - pad, 0)
        c1 = min(int(np.ceil(pix[:, 0].max())) + pad + 1, self.columns)
        r0 = max(int(np.floor(pix[:, 1].min())) - pad, 0)
        r1 = min(int(np.ceil(pix[:, 1].max())) + pad + 1, self.rows)
        if c0 >= c1 or r0 >= r1:
            return None
        return r0, r1, c0, c1


@dataclass
class Projection:
    """Per-pixel projection of the hand (float32 images unless noted).

    Attributes
    ----------
    bone_mu_path
        Sum of mu * path over bone materials other than the trabecular interior: cortex (minus pores),
        pores, marrow (dimensionless line integral).
    trabecular_mu_path
        mu * path through trabecular bone (the acquisition adds trabecular texture to it).
    bone_path_mm
        Total path length through bones (the soft tissue they displace).
    soft_tissue_path_mm
        Path length through the skin envelope.
    labels
        uint8 label map (see :mod:`.dataset` for the convention).
    """

    bone_mu_path: NDArray[np.float32]
    trabecular_mu_path: NDArray[np.float32]
    bone_path_mm: NDArray[np.float32]
    soft_tissue_path_mm: NDArray[np.float32]
    labels: NDArray[np.uint8]

    @classmethod
    def empty(cls, rows: int, columns: int) -> Projection:
        """All-zero projection of the given size."""
        return cls(*(np.zeros((rows, columns), np.float32) for _ in range(4)), np.zeros((rows, columns), np.uint8))


# ---------------------------------------------------------------------------------------------- closed forms


def ellipse_chord_mm(
    x_mm: NDArray[np.float64], semi_in_plane_mm: NDArray[np.float64], semi_ap_mm: NDArray[np.float64], centre_mm=0.0
) -> NDArray[np.float64]:
    """Length of the beam-parallel chord through an ellipse at lateral position ``x_mm``.

    ``2 (b / a) sqrt(a^2 - (x - c)^2)`` inside, 0 outside or where ``a = 0``. For a circle (``a = b = R``)
    this is the familiar ``2 sqrt(R^2 - x^2)``.
    """
    a = np.asarray(semi_in_plane_mm, dtype=np.float64)
    b = np.asarray(semi_ap_mm, dtype=np.float64)
    d = np.asarray(x_mm, dtype=np.float64) - centre_mm
    safe = np.where(a > 0.0, a, 1.0)
    return np.where(a > 0.0, 2.0 * (b / safe) * np.sqrt(np.maximum(a * a - d * d, 0.0)), 0.0)


def tube_path_lengths_mm(
    bone: TubeBone, s_mm: NDArray[np.float64], x_mm: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Exact beam path lengths through a tube bone at local coordinates ``(s, x)``.

    Returns
    -------
    outer, inner, trabecular_fraction
        Chord through the periosteal ellipse (whole bone), chord through the endosteal ellipse (canal or
        trabecular interior) and the trabecular fraction of the interior there. The cortical path is
        ``outer - inner`` (minus pores, see :class:`.porosity.PoreSet`).
    """
    s = np.asarray(s_mm, dtype=np.float64)
    x = np.asarray(x_mm, dtype=np.float64)
    outer, outer_ap, inner, inner_ap, offset, trabecular = bone.profile.sample(s)
    within = (s >= 0.0) & (s <= bone.length_mm)
    outer_chord = np.where(within, ellipse_chord_mm(x, outer, outer_ap), 0.0)
    inner_chord = np.where(within, ellipse_chord_mm(x, inner, inner_ap, offset), 0.0)
    return outer_chord, inner_chord, trabecular


# ---------------------------------------------------------------------------------------------- bones


def _subsample_offsets(supersample: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Row and column offsets (pixel units) of the ``supersample^2`` sub-samples of a pixel."""
    o = (np.arange(supersample) + 0.5) / supersample - 0.5
    dr, dc = np.meshgrid(o, o, indexing="ij")
    return dr.ravel(), dc.ravel()


def _near_pixels(
    grid: ImageGrid, box: tuple[int, int, int, int], inside_with_margin
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Pixels of ``box`` whose centre passes ``inside_with_margin(u, v)``, with their hand coordinates."""
    r0, r1, c0, c1 = box
    u, v = grid.hand_coordinates(np.arange(r0, r1), np.arange(c0, c1))
    near = inside_with_margin(u, v)
    rows, cols = np.nonzero(near)
    return rows + r0, cols + c0, u[rows, cols], v[rows, cols]


def _subsample_hand_coordinates(
    grid: ImageGrid, u: NDArray[np.float64], v: NDArray[np.float64], supersample: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Hand coordinates of the sub-samples of pixels centred at ``(u, v)``: shape ``(n, supersample^2)``."""
    a, _ = grid.pixel_to_hand_affine()
    dr, dc = _subsample_offsets(supersample)
    du = a[0, 0] * dc + a[0, 1] * dr
    dv = a[1, 0] * dc + a[1, 1] * dr
    return u[:, None] + du[None, :], v[:, None] + dv[None, :]


def project_tube(
    bone: TubeBone, grid: ImageGrid, materials: Materials, out: Projection, *, supersample: int = 2
) -> None:
    """Add one tube bone to ``out`` (in place), including its labels.

    Pixels are first selected at their centres (within half a pixel diagonal of the bone), then their
    sub-samples are evaluated; the mean over the sub-samples is added to the pixel.
    """
    box = grid.pixel_box(bone.bounding_polygon())
    if box is None:
        return
    reach = float(bone.profile.outer.max())
    margin = 0.75 * grid.spacing_mm

    def near(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.bool_]:
        s, x = bone.local_coordinates(u, v)
        return (s >= -margin) & (s <= bone.length_mm + margin) & (np.abs(x) < reach + margin)

    rows, cols, u, v = _near_pixels(grid, box, near)
    if rows.size == 0:
        return
    uf, vf = _subsample_hand_coordinates(grid, u, v, supersample)
    s, x = bone.local_coordinates(uf, vf)
    outer, inner, trabecular = tube_path_lengths_mm(bone, s, x)
    cortex = outer - inner
    mu_path = materials.marrow_per_mm * (1.0 - trabecular) * inner
    if bone.pores is not None and bone.pores.count:
        pores = bone.pores.mean_path_mm(s, x, grid.spacing_mm / supersample)
        cortex = cortex - pores
        mu_path += materials.pore_per_mm * pores
    # Toward the ends the cortex trabecularises (its inner layers become porous and merge with the
    # trabeculae), so it loses density with the trabecular fraction; in the mid-diaphysis f = 0 and the
    # cortex is compact (the measured region stays exact).
    mu_path += materials.cortical_per_mm * cortex * (1.0 - METAPHYSEAL_CORTEX_LOSS * trabecular)
    out.bone_mu_path[rows, cols] += mu_path.mean(axis=1).astype(np.float32)
    out.trabecular_mu_path[rows, cols] += (
        (materials.trabecular_per_mm * trabecular * inner).mean(axis=1).astype(np.float32)
    )
    out.bone_path_mm[rows, cols] += outer.mean(axis=1).astype(np.float32)
    if bone.label_bone:
        _label_tube(bone, out.labels, rows, cols, u, v)


def _label_tube(
    bone: TubeBone,
    labels: NDArray[np.uint8],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    u: NDArray[np.float64],
    v: NDArray[np.float64],
) -> None:
    """Paint the bone label where the pixel centre is inside the bone, the canal label inside the canal."""
    s, x = bone.local_coordinates(u, v)
    outer, _, inner, _, offset, _ = bone.profile.sample(s)
    in_bone = (s >= 0.0) & (s <= bone.length_mm) & (np.abs(x) < outer)
    labels[rows[in_bone], cols[in_bone]] = bone.label_bone
    if bone.label_canal and bone.canal_label_mm is not None:
        lo, hi = bone.canal_label_mm
        in_canal = in_bone & (s >= lo) & (s <= hi) & (np.abs(x - offset) < inner)
        labels[rows[in_canal], cols[in_canal]] = bone.label_canal


def _blob_local(blob: BlobBone, u: NDArray[np.float64], v: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    angle = np.deg2rad(blob.angle_deg)
    du = u - blob.centre_uv[0]
    dv = v - blob.centre_uv[1]
    return du * np.cos(angle) - dv * np.sin(angle), du * np.sin(angle) + dv * np.cos(angle)


def _blob_chord(blob: BlobBone, along_a: NDArray, along_b: NDArray, shrink: float) -> NDArray[np.float64]:
    a, b = blob.semi_axes_mm
    aa, bb, cc = a - shrink, b - shrink, blob.half_thickness_mm - shrink
    if min(aa, bb, cc) <= 0:
        return np.zeros_like(along_a)
    n = blob.exponent
    rho2 = (np.abs(along_a / aa) ** n + np.abs(along_b / bb) ** n) ** (2.0 / n)
    return 2.0 * cc * np.sqrt(np.maximum(1.0 - rho2, 0.0))


def project_blob(
    blob: BlobBone, grid: ImageGrid, materials: Materials, out: Projection, *, supersample: int = 2
) -> None:
    """Add one carpal/sesamoid superellipsoid to ``out`` (in place)."""
    box = grid.pixel_box(blob.bounding_polygon())
    if box is None:
        return
    margin = 0.75 * grid.spacing_mm
    a, b = blob.semi_axes_mm

    def near(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.bool_]:
        pa, pb = _blob_local(blob, u, v)
        return (np.abs(pa) < a + margin) & (np.abs(pb) < b + margin)

    rows, cols, u, v = _near_pixels(grid, box, near)
    if rows.size == 0:
        return
    uf, vf = _subsample_hand_coordinates(grid, u, v, supersample)
    pa, pb = _blob_local(blob, uf, vf)
    outer = _blob_chord(blob, pa, pb, 0.0)
    inner = _blob_chord(blob, pa, pb, blob.shell_mm)
    out.bone_mu_path[rows, cols] += (materials.cortical_per_mm * (outer - inner)).mean(axis=1).astype(np.float32)
    out.trabecular_mu_path[rows, cols] += (materials.trabecular_per_mm * inner).mean(axis=1).astype(np.float32)
    out.bone_path_mm[rows, cols] += outer.mean(axis=1).astype(np.float32)


# ---------------------------------------------------------------------------------------------- soft tissue


def _capsule_chord(capsule: Capsule, u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    best = np.zeros(np.broadcast(u, v).shape, dtype=u.dtype)
    pts, radii = capsule.points_uv.astype(u.dtype), capsule.radii_mm.astype(u.dtype)
    for i in range(len(pts) - 1):
        a, e = pts[i], pts[i + 1] - pts[i]
        length2 = float(e @ e)
        t = np.clip(((u - a[0]) * e[0] + (v - a[1]) * e[1]) / length2, 0.0, 1.0)
        du = u - (a[0] + t * e[0])
        dv = v - (a[1] + t * e[1])
        r = radii[i] + t * (radii[i + 1] - radii[i])
        chord = 2.0 * capsule.ap_ratio * np.sqrt(np.maximum(r * r - du * du - dv * dv, 0.0))
        np.maximum(best, chord, out=best)
    return best


def _slab_chord(slab: RoundedSlab, u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    core = slab.core_uv.astype(u.dtype)
    # ConvexHull returns counter-clockwise vertices: inside = left of every edge.
    inside = np.ones(np.broadcast(u, v).shape, bool)
    dist2 = np.full(inside.shape, np.inf, dtype=u.dtype)
    for i in range(len(core)):
        a, b = core[i], core[(i + 1) % len(core)]
        e = b - a
        inside &= (e[0] * (v - a[1]) - e[1] * (u - a[0])) >= 0.0
        t = np.clip(((u - a[0]) * e[0] + (v - a[1]) * e[1]) / float(e @ e), 0.0, 1.0)
        np.minimum(dist2, (u - a[0] - t * e[0]) ** 2 + (v - a[1] - t * e[1]) ** 2, out=dist2)
    dist2[inside] = 0.0
    r = slab.radius_mm
    return 2.0 * np.sqrt(np.maximum(r * r - dist2, 0.0))


def envelope_path_mm(envelope: SoftTissueEnvelope, grid: ImageGrid) -> NDArray[np.float32]:
    """Path length through the skin envelope at every pixel centre (union = maximum of the parts)."""
    path = np.zeros((grid.rows, grid.columns), np.float32)
    parts: list[tuple[Capsule | RoundedSlab, NDArray[np.float64]]] = []
    corners = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    for capsule in envelope.capsules:
        reach = float(capsule.radii_mm.max())
        parts.append((capsule, (capsule.points_uv[None, :, :] + reach * corners[:, None, :]).reshape(-1, 2)))
    for slab in envelope.slabs:
        parts.append((slab, (slab.core_uv[None, :, :] + slab.radius_mm * corners[:, None, :]).reshape(-1, 2)))
    for part, poly in parts:
        box = grid.pixel_box(poly)
        if box is None:
            continue
        r0, r1, c0, c1 = box
        u, v = grid.hand_coordinates(np.arange(r0, r1), np.arange(c0, c1))
        # Float32 suffices for the skin (sub-micrometre rounding) and halves the memory traffic.
        u, v = u.astype(np.float32), v.astype(np.float32)
        chord = _capsule_chord(part, u, v) if isinstance(part, Capsule) else _slab_chord(part, u, v)
        np.maximum(path[r0:r1, c0:c1], chord.astype(np.float32), out=path[r0:r1, c0:c1])
    return path


# ---------------------------------------------------------------------------------------------- the hand


def project_hand(hand: Hand, grid: ImageGrid, materials: Materials, *, supersample: int = 2) -> Projection:
    """Project every bone and the skin envelope of ``hand`` onto ``grid``.

    Labels of metacarpals II, III and IV are painted in that order (a pixel where two of them overlap in
    projection, which happens only at the bases, takes the later one).
    """
    out = Projection.empty(grid.rows, grid.columns)
    labelled = sorted((b for b in hand.tubes if b.label_bone), key=lambda b: b.label_bone)
    for bone in [b for b in hand.tubes if not b.label_bone] + labelled:
        project_tube(bone, grid, materials, out, supersample=supersample)
    for blob in hand.blobs:
        project_blob(blob, grid, materials, out, supersample=supersample)
    out.soft_tissue_path_mm[:] = envelope_path_mm(hand.envelope, grid)
    return out
