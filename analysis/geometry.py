"""Shaft geometry of one metacarpal: axis, length, region of interest, and the fitted cortical edges.

The label map only *locates* the bone (it may come from a network running at 0.4 mm per pixel); every edge
is measured on the image itself by fitting the projected hollow tube (:mod:`dxr.analysis.profiles`) to
intensity profiles sampled perpendicular to the shaft axis at native resolution.

Coordinates are image pixels, ``(x, y) = (column, row)``. Lengths stay in pixels here; converting them to
millimetres is the caller's business, because only it knows whether a spacing exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dxr.analysis.profiles import best_fit, fit_tube_profiles, hollow_tube_path, replace_rows, take_rows

__all__ = [
    "BONE_LABELS",
    "CANAL_LABELS",
    "BoneGeometry",
    "RegionOfInterest",
    "ShaftAxis",
    "bone_region",
    "fit_shaft_axis",
    "measure_shaft",
    "region_of_interest",
]

# The label convention shared by the phantom generator, the network and this module.
BONE_LABELS = {"II": 1, "III": 2, "IV": 3}
CANAL_LABELS = {"II": 4, "III": 5, "IV": 6}

_PROFILE_STEP_PX = 1.0  # sampling step along a profile (cell-averaged model: no finer step needed)
_MIN_PROFILES, _MAX_PROFILES = 110, 160
_SOFT_TISSUE_MARGIN = 0.7  # profile extends this fraction of the shaft radius beyond each outer edge
_MIN_MASK_PIXELS = 30
_TEXTURE_BLOCK, _TEXTURE_GAP = 12, 2  # profiles per block for the porosity texture, and left out at its ends


@dataclass(frozen=True)
class ShaftAxis:
    """A gently curved centre line ``p(s) = centroid + s*direction + t(s)*normal``, t quadratic in s.

    ``s`` runs along the principal direction of the bone's mask; ``start_s``/``end_s`` are the bone's ends.
    """

    centroid_px: np.ndarray
    direction: np.ndarray
    normal: np.ndarray
    curve: np.ndarray  # t(s) = curve[0] + curve[1]*s + curve[2]*s**2
    start_s: float
    end_s: float

    @property
    def length_px(self) -> float:
        """Distance between the ends along the principal direction."""
        return self.end_s - self.start_s

    def point(self, s: np.ndarray | float) -> np.ndarray:
        """Points on the centre line, (..., 2) as (x, y)."""
        s = np.asarray(s, dtype=np.float64)
        t = self.curve[0] + self.curve[1] * s + self.curve[2] * s * s
        return self.centroid_px + s[..., None] * self.direction + t[..., None] * self.normal

    def unit_normal(self, s: np.ndarray | float) -> np.ndarray:
        """Unit vectors perpendicular to the centre line, (..., 2)."""
        s = np.asarray(s, dtype=np.float64)
        slope = self.curve[1] + 2 * self.curve[2] * s
        tangent = self.direction + slope[..., None] * self.normal
        tangent /= np.linalg.norm(tangent, axis=-1, keepdims=True)
        return np.stack([-tangent[..., 1], tangent[..., 0]], axis=-1)

    def end_points(self) -> np.ndarray:
        """(2, 2): the two ends of the bone on the centre line, in the order (start, end)."""
        return self.point(np.array([self.start_s, self.end_s]))


@dataclass(frozen=True)
class RegionOfInterest:
    """The mid-diaphysis segment where profiles are taken, from ``start_fraction`` to ``end_fraction`` of L."""

    start_fraction: float
    end_fraction: float

    def __post_init__(self) -> None:
        if not 0.0 < self.start_fraction < self.end_fraction < 1.0:
            raise ValueError(f"ROI fractions must satisfy 0 < start < end < 1, got {self}")


@dataclass(frozen=True)
class BoneGeometry:
    """Everything measured on one shaft, in pixels, with what is needed to draw it.

    Per profile i (N in all): ``centres_px[i]`` on the axis, ``normals[i]`` its direction, ``edges_px[i]`` the
    four fitted edges (outer left, inner left, inner right, outer right) as offsets along the normal, and
    ``valid[i]`` whether it survived outlier rejection. "Left" is the negative side of the normal;
    ``radial_side`` says which side ("left" or "right") faces the radius (the thumb), when known.
    """

    axis: ShaftAxis
    roi_polygon_px: np.ndarray
    centres_px: np.ndarray
    normals: np.ndarray
    edges_px: np.ndarray
    valid: np.ndarray
    residual_rms: np.ndarray
    amplitude: np.ndarray
    contrast: np.ndarray
    blur_sigma_px: np.ndarray
    radial_side: str | None
    truncated: bool
    saturated_fraction: float
    cortex_texture_variance: float
    cortex_path_px: float
    mask_width_px: float  # the label map's bone (with canal) across the profiles: median over the valid ones
    mask_canal_width_px: float  # the label map's canal, likewise

    @property
    def n_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def width_px(self) -> np.ndarray:
        """Outer width per profile."""
        return self.edges_px[:, 3] - self.edges_px[:, 0]

    @property
    def canal_width_px(self) -> np.ndarray:
        """Inner (endosteal) width per profile."""
        return self.edges_px[:, 2] - self.edges_px[:, 1]

    @property
    def thickness_left_px(self) -> np.ndarray:
        return self.edges_px[:, 1] - self.edges_px[:, 0]

    @property
    def thickness_right_px(self) -> np.ndarray:
        return self.edges_px[:, 3] - self.edges_px[:, 2]

    def edge_points_px(self) -> np.ndarray:
        """(N, 4, 2): the fitted edges as image points (x, y)."""
        return self.centres_px[:, None, :] + self.edges_px[:, :, None] * self.normals[:, None, :]


def fit_shaft_axis(mask: np.ndarray) -> ShaftAxis:
    """Centre line of a bone mask: principal direction, ends, and a quadratic bend fitted to the shaft.

    >>> mask = np.zeros((60, 200), bool); mask[25:35, 20:180] = True
    >>> axis = fit_shaft_axis(mask)
    >>> round(axis.length_px), np.round(np.abs(axis.direction), 3).tolist()
    (159, [1.0, 0.0])
    """
    rows, columns = np.nonzero(mask)
    points = np.stack([columns, rows], axis=1).astype(np.float64)
    centroid = points.mean(axis=0)
    centred = points - centroid
    _, vectors = np.linalg.eigh(centred.T @ centred)
    direction = vectors[:, 1]
    if direction[np.argmax(np.abs(direction))] < 0:  # deterministic sign
        direction = -direction
    normal = np.array([-direction[1], direction[0]])
    s = centred @ direction
    t = centred @ normal
    start_s, end_s = float(s.min()), float(s.max())
    length = end_s - start_s
    # Centre line from the middle 60 % only: heads and bases are asymmetric and would pull it.
    edges = np.linspace(start_s + 0.2 * length, end_s - 0.2 * length, 13)
    index = np.digitize(s, edges)
    bins = [k for k in range(1, len(edges)) if np.any(index == k)]
    mid_s = np.array([(edges[k - 1] + edges[k]) / 2 for k in bins])
    mid_t = np.array([(t[index == k].min() + t[index == k].max()) / 2 for k in bins])
    degree = 2 if len(bins) >= 5 else (1 if len(bins) >= 2 else 0)
    curve = np.zeros(3)
    if degree:
        curve[: degree + 1] = np.polynomial.polynomial.polyfit(mid_s, mid_t, degree)
    elif bins:
        curve[0] = float(mid_t.mean())
    return ShaftAxis(centroid, direction, normal, curve, start_s, end_s)


def region_of_interest(axis: ShaftAxis, roi: RegionOfInterest) -> tuple[float, float]:
    """The ROI's extent in the axis coordinate s.

    >>> axis = ShaftAxis(np.zeros(2), np.array([1.0, 0]), np.array([0, 1.0]), np.zeros(3), -50.0, 50.0)
    >>> region_of_interest(axis, RegionOfInterest(0.35, 0.65))
    (-15.0, 15.0)
    """
    return (
        axis.start_s + roi.start_fraction * axis.length_px,
        axis.start_s + roi.end_fraction * axis.length_px,
    )


def measure_shaft(
    pixels: np.ndarray,
    label_map: np.ndarray,
    bone: str,
    roi: RegionOfInterest,
    *,
    radial_direction: np.ndarray | None = None,
    smoothing_widths_px: tuple[float, ...] = (),
    nonlinear: bool = False,
    max_blur_px: float = 8.0,
    label_boxes: list[tuple[slice, slice] | None] | None = None,
) -> BoneGeometry | None:
    """Fit the shaft of metacarpal ``bone`` ("II", "III" or "IV"); ``None`` when its mask is missing.

    Parameters
    ----------
    pixels
        The radiograph, bone bright.
    label_map
        Labels on the same grid (see :data:`BONE_LABELS`, :data:`CANAL_LABELS`).
    bone
        Which metacarpal.
    roi
        The region of interest as fractions of the bone length.
    radial_direction
        Unit vector (x, y) pointing towards the radial side of the hand, to name the cortices.
    smoothing_widths_px, nonlinear, max_blur_px
        Response terms and blur limit of the profile model (see :func:`dxr.analysis.profiles.fit_tube_profiles`).
    label_boxes
        ``scipy.ndimage.find_objects(label_map, max_label=6)``, when the caller has it already.
    """
    bone_label, canal_label = BONE_LABELS[bone], CANAL_LABELS[bone]
    region = bone_region(label_map, bone, label_boxes)
    if region is None:
        return None
    (top, left), mask = region
    if mask.sum() < _MIN_MASK_PIXELS:
        return None
    mask = _largest_component(mask)
    offset = np.array([left, top], dtype=np.float64)
    local_axis = fit_shaft_axis(mask)
    axis = ShaftAxis(
        local_axis.centroid_px + offset,
        local_axis.direction,
        local_axis.normal,
        local_axis.curve,
        local_axis.start_s,
        local_axis.end_s,
    )
    s0, s1 = region_of_interest(axis, roi)
    n_profiles = int(np.clip(round(s1 - s0), _MIN_PROFILES, _MAX_PROFILES))
    s = np.linspace(s0, s1, n_profiles)
    centres = axis.point(s)
    normals = axis.unit_normal(s)

    half_width = _mask_half_width(mask, centres - offset, normals)
    extent = half_width * (1.0 + _SOFT_TISSUE_MARGIN) + 2.0
    positions = np.arange(-extent, extent + 1e-9, _PROFILE_STEP_PX)
    sample_x = centres[:, 0:1] + positions[None, :] * normals[:, 0:1]
    sample_y = centres[:, 1:2] + positions[None, :] * normals[:, 1:2]
    profiles = ndimage.map_coordinates(pixels, [sample_y, sample_x], order=1, mode="nearest")
    sampled_labels = ndimage.map_coordinates(label_map, [sample_y, sample_x], order=0, mode="constant", cval=-1)
    inside = (sample_x >= 0) & (sample_x <= pixels.shape[1] - 1) & (sample_y >= 0) & (sample_y <= pixels.shape[0] - 1)
    in_canal = sampled_labels == canal_label
    in_bone = in_canal | (sampled_labels == bone_label)
    other_bone = (sampled_labels > 0) & ~in_bone
    weights = (inside & ~other_bone).astype(np.float64)

    initial = _initial_edges(positions, profiles, in_bone, in_canal)
    weights *= _before_neighbours(positions, profiles, initial)
    options = {"smoothing_widths_px": smoothing_widths_px, "nonlinear": nonlinear, "max_sigma_px": max_blur_px}
    fit = fit_tube_profiles(positions, profiles, weights, initial, **options)
    # Second start from the consensus shape (W and T barely change along the ROI) for the profiles that
    # disagree with it: one caught in a local minimum (strong edge enhancement makes some) gets out of it.
    fitted_centres = (fit.edges_px[:, 0] + fit.edges_px[:, 3]) / 2
    offsets = fit.edges_px - fitted_centres[:, None]
    consensus = np.median(offsets, axis=0)
    tolerance = 0.05 * (consensus[3] - consensus[0])
    suspect = np.flatnonzero(
        (np.abs(offsets - consensus).max(axis=1) > tolerance) | (fit.residual_rms > 1.5 * np.median(fit.residual_rms))
    )
    if suspect.size:
        refit = fit_tube_profiles(
            positions,
            profiles[suspect],
            weights[suspect],
            fitted_centres[suspect, None] + consensus,
            initial_sigma_px=float(np.median(fit.blur_sigma_px)),
            **options,
        )
        fit = replace_rows(fit, suspect, best_fit(take_rows(fit, suspect), refit))
    valid = _reject_outliers(
        positions, fit.edges_px, fit.residual_rms, fit.amplitude, fit.blur_sigma_px, weights, extent, max_blur_px
    )

    texture = _texture_statistics(positions, fit.residuals, weights, fit.edges_px, fit.blur_sigma_px, valid)
    # What the label map says of this bone along the same profiles, to check the fit against (quality control).
    rows = valid if valid.any() else slice(None)
    mask_width = float(np.median(in_bone[rows].sum(axis=1))) * _PROFILE_STEP_PX
    mask_canal_width = float(np.median(in_canal[rows].sum(axis=1))) * _PROFILE_STEP_PX
    bone_samples = (positions[None, :] > initial[:, :1]) & (positions[None, :] < initial[:, 3:])
    extreme = (profiles >= pixels.max()) | (profiles <= pixels.min())
    saturated = float(extreme[bone_samples].mean()) if bone_samples.any() else 0.0

    corners_s = np.array([s0, s0, s1, s1])
    corner_side = np.array([-1.0, 1.0, 1.0, -1.0]) * extent
    roi_polygon = axis.point(corners_s) + corner_side[:, None] * axis.unit_normal(corners_s)
    radial_side = None
    if radial_direction is not None:
        radial_side = "right" if float(np.mean(normals @ radial_direction)) > 0 else "left"
    return BoneGeometry(
        axis=axis,
        roi_polygon_px=roi_polygon,
        centres_px=centres,
        normals=normals,
        edges_px=fit.edges_px,
        valid=valid,
        residual_rms=fit.residual_rms,
        amplitude=fit.amplitude,
        contrast=fit.contrast,
        blur_sigma_px=fit.blur_sigma_px,
        radial_side=radial_side,
        truncated=_touches_border(mask, (top, left), label_map.shape)
        or _runs_into_unexposed_field(pixels, axis, half_width),
        saturated_fraction=saturated,
        cortex_texture_variance=texture[0],
        cortex_path_px=texture[1],
        mask_width_px=mask_width,
        mask_canal_width_px=mask_canal_width,
    )


def bone_region(
    label_map: np.ndarray, bone: str, label_boxes: list[tuple[slice, slice] | None] | None = None
) -> tuple[tuple[int, int], np.ndarray] | None:
    """The bone's mask (bone and canal labels) cropped to its bounding box, with the box's (top, left).

    Mask work happens in that box, a fraction of the image. ``label_boxes`` is
    ``scipy.ndimage.find_objects(label_map, max_label=6)`` when the caller has it already. ``None`` when the
    bone has no label at all.

    >>> labels = np.zeros((6, 6), np.uint8); labels[1:4, 2] = 1; labels[2, 3] = 4
    >>> (origin, mask) = bone_region(labels, "II"); origin, mask.astype(int).tolist()
    ((1, 2), [[1, 0], [1, 1], [1, 0]])
    """
    if label_boxes is None:
        label_boxes = ndimage.find_objects(label_map, max_label=6)
    bone_label, canal_label = BONE_LABELS[bone], CANAL_LABELS[bone]
    boxes = [box for box in (label_boxes[bone_label - 1], label_boxes[canal_label - 1]) if box is not None]
    if not boxes:
        return None
    top, left = min(box[0].start for box in boxes), min(box[1].start for box in boxes)
    bottom, right = max(box[0].stop for box in boxes), max(box[1].stop for box in boxes)
    crop = label_map[top:bottom, left:right]
    return (top, left), (crop == bone_label) | (crop == canal_label)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labelled, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, labelled, index=np.arange(1, count + 1))
    return labelled == (int(np.argmax(sizes)) + 1)


def _touches_border(mask: np.ndarray, origin: tuple[int, int], shape: tuple[int, ...], margin: int = 2) -> bool:
    """Whether a mask (cropped at ``origin`` from an image of ``shape``) comes within ``margin`` of its edge."""
    rows, columns = np.nonzero(mask)
    return bool(
        rows.min() + origin[0] < margin
        or columns.min() + origin[1] < margin
        or rows.max() + origin[0] >= shape[0] - margin
        or columns.max() + origin[1] >= shape[1] - margin
    )


def _runs_into_unexposed_field(pixels: np.ndarray, axis: ShaftAxis, half_width: float) -> bool:
    """Whether the bone's mask stops where the collimated (unexposed, blank) field begins.

    A label map can only end a bone at the edge of the exposed field, so the bone may continue under the
    collimator: its length, hence its region of interest, is then unknown. Blank fields are saturated (black or
    white, depending on the vendor); a bone end followed by saturated pixels is such a cut.
    """
    low, high = float(pixels.min()), float(pixels.max())
    tolerance = 0.005 * (high - low)
    for end_s, outward in ((axis.start_s, -1.0), (axis.end_s, 1.0)):
        beyond = end_s + outward * np.arange(2.0, 12.0)
        across = np.linspace(-half_width, half_width, 9)
        points = axis.point(beyond)[:, None, :] + across[None, :, None] * axis.unit_normal(beyond)[:, None, :]
        values = ndimage.map_coordinates(pixels, [points[..., 1].ravel(), points[..., 0].ravel()], order=0, cval=low)
        saturated = (values <= low + tolerance) | (values >= high - tolerance)
        if saturated.mean() > 0.3:
            return True
    return False


def _mask_half_width(mask: np.ndarray, centres: np.ndarray, normals: np.ndarray) -> float:
    """Median half-width of the mask across the ROI, measured along the profile normals."""
    reach = np.arange(0.0, 0.25 * max(mask.shape), 0.5)
    widths = []
    for sign in (-1.0, 1.0):
        x = centres[:, 0:1] + sign * reach[None, :] * normals[:, 0:1]
        y = centres[:, 1:2] + sign * reach[None, :] * normals[:, 1:2]
        inside = ndimage.map_coordinates(mask.astype(np.uint8), [y, x], order=0, mode="constant", cval=0) > 0
        outside = ~inside
        outside[:, -1] = True
        widths.append(reach[np.argmax(outside, axis=1)])
    return float(np.median((widths[0] + widths[1]) / 2.0)) + 0.5


def _initial_edges(
    positions: np.ndarray, profiles: np.ndarray, in_bone: np.ndarray, in_canal: np.ndarray
) -> np.ndarray:
    """Start values: the mask's extent (``in_bone``, ``in_canal`` per sample), moved to the strongest nearby
    intensity step of the image."""
    step = positions[1] - positions[0]
    derivative = ndimage.gaussian_filter1d(profiles, sigma=1.5 / step, axis=1, order=1)
    initial = np.empty((profiles.shape[0], 4))
    for i in range(profiles.shape[0]):
        bone_index = np.flatnonzero(in_bone[i])
        if bone_index.size < 4:
            bone_index = np.array([positions.size // 4, 3 * positions.size // 4])
        left, right = positions[bone_index[0]], positions[bone_index[-1]]
        window = max(3.0, 0.12 * (right - left))
        left = _extremum(positions, derivative[i], left - window, left + window, largest=True)
        right = _extremum(positions, derivative[i], right - window, right + window, largest=False)
        canal_index = np.flatnonzero(in_canal[i])
        if canal_index.size >= 2:
            inner_left, inner_right = positions[canal_index[0]], positions[canal_index[-1]]
        else:
            inner_left, inner_right = left + 0.3 * (right - left), right - 0.3 * (right - left)
        centre = (left + right) / 2
        inner_left = _extremum(positions, derivative[i], left + step, centre, largest=False, near=inner_left)
        inner_right = _extremum(positions, derivative[i], centre, right - step, largest=True, near=inner_right)
        initial[i] = (left, inner_left, inner_right, right)
    return initial


def _before_neighbours(positions: np.ndarray, profiles: np.ndarray, initial: np.ndarray) -> np.ndarray:
    """Weights (N, M) that stop each profile in the valley before an unlabelled neighbouring bone.

    Beyond the shaft the soft tissue is smooth; when the intensity climbs again by more than half of the
    shaft's contrast (an edge-enhancement halo recovers less), another bone (metacarpal I or V, a sesamoid)
    begins there, and the background model must not see it. The profile is cut at the valley's lowest point.
    """
    step = positions[1] - positions[0]
    smooth = ndimage.gaussian_filter1d(profiles, sigma=1.5 / step, axis=1)
    keep = np.ones_like(profiles)
    for i in range(profiles.shape[0]):
        left, right = initial[i, 0], initial[i, 3]
        inside = (positions >= left) & (positions <= right)
        if not inside.any():
            continue
        peak = smooth[i, inside].max()
        for outward in (np.flatnonzero(positions > right + 1.0), np.flatnonzero(positions < left - 1.0)[::-1]):
            if outward.size < 3:
                continue
            values = smooth[i, outward]
            running_min = np.minimum.accumulate(values)
            threshold = 0.5 * max(peak - values.min(), 1e-12)
            climbed = np.flatnonzero(values - running_min > threshold)
            if climbed.size:
                valley = int(np.argmin(values[: climbed[0] + 1]))
                keep[i, outward[valley:]] = 0.0
    return keep


def _extremum(
    positions: np.ndarray,
    values: np.ndarray,
    low: float,
    high: float,
    *,
    largest: bool,
    near: float | None = None,
) -> float:
    """Position of the largest (or smallest) value in [low, high], optionally limited to 40 % around ``near``."""
    if near is not None:
        half = 0.4 * (high - low)
        low, high = max(low, near - half), min(high, near + half)
    selected = np.flatnonzero((positions >= low) & (positions <= high))
    if selected.size == 0:
        return float(np.clip((low + high) / 2, positions[0], positions[-1]))
    chosen = values[selected]
    return float(positions[selected[np.argmax(chosen) if largest else np.argmin(chosen)]])


def _reject_outliers(
    positions: np.ndarray,
    edges: np.ndarray,
    residual_rms: np.ndarray,
    amplitude: np.ndarray,
    blur_sigma: np.ndarray,
    weights: np.ndarray,
    extent: float,
    max_blur_px: float,
) -> np.ndarray:
    """Profiles that failed, fit badly, or disagree with their neighbours are not used."""
    # The shaft and a margin of soft tissue on each side must be fully usable.
    margin = 2.0 * blur_sigma[:, None] + 1.0
    needed = (positions[None, :] > edges[:, :1] - margin) & (positions[None, :] < edges[:, 3:] + margin)
    valid = (amplitude > 0) & np.all((weights > 0) | ~needed, axis=1) & (blur_sigma < 0.99 * max_blur_px)
    valid &= (edges[:, 0] > -extent + 1.0) & (edges[:, 3] < extent - 1.0)
    if valid.sum() < 5:
        return valid
    median_rms = np.median(residual_rms[valid])
    valid &= residual_rms < 2.5 * median_rms
    for quantity in (
        edges[:, 3] - edges[:, 0],
        edges[:, 1] - edges[:, 0],
        edges[:, 3] - edges[:, 2],
        (edges[:, 0] + edges[:, 3]) / 2,
    ):
        local = ndimage.median_filter(quantity, size=15, mode="nearest")
        deviation = np.abs(quantity - local)
        scale = 1.4826 * np.median(deviation[valid]) if valid.any() else 0.0
        valid &= deviation <= max(4.0 * scale, 0.15)
    return valid


def _texture_statistics(
    positions: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    edges: np.ndarray,
    blur_sigma: np.ndarray,
    valid: np.ndarray,
) -> tuple[float, float]:
    """Streak texture of the cortex, for the porosity estimate.

    Pores run along the shaft, so their mark on the fit residuals repeats from one profile to the next,
    while noise does not. The residuals are aligned on each profile's own fitted centre, averaged in short
    blocks along the shaft, high-pass filtered, and the covariance between *neighbouring* blocks (separated
    by a gap, so that no noise is shared) is taken over the two cortices: noise drops out of it, pores
    longer than the block spacing stay. Returns (cortex covariance, mean cortical path
    length in pixels); NaN when too few profiles are valid.
    """
    nan2 = (float("nan"),) * 2
    rows = np.flatnonzero(valid & (weights.mean(axis=1) > 0.99))
    if rows.size < 3 * _TEXTURE_BLOCK:
        return nan2
    step = positions[1] - positions[0]
    centres = (edges[rows, 0] + edges[rows, 3]) / 2
    aligned = np.stack([np.interp(positions + c, positions, residuals[i]) for i, c in zip(rows, centres, strict=True)])
    n_blocks = rows.size // _TEXTURE_BLOCK
    blocks = aligned[: n_blocks * _TEXTURE_BLOCK].reshape(n_blocks, _TEXTURE_BLOCK, -1)
    # Leave out the profiles at each block's end: neighbouring blocks then share no blurred noise.
    means = blocks[:, _TEXTURE_GAP : _TEXTURE_BLOCK - _TEXTURE_GAP].mean(axis=1)
    sigma = float(np.median(blur_sigma[rows]))
    means = means - ndimage.gaussian_filter1d(means, sigma=4.0 * sigma / step, axis=1)
    ol, il, ir, orr = np.median(edges[rows], axis=0) - np.median(centres)
    guard = 1.5 * sigma
    cortex = ((positions > ol + guard) & (positions < il - guard)) | (
        (positions > ir + guard) & (positions < orr - guard)
    )
    tissue = ((positions < ol - 2 * guard) | (positions > orr + 2 * guard)) & (
        np.abs(positions) < positions.max() - 4.0 * sigma - np.abs(centres).max()
    )
    if cortex.sum() < 4 or tissue.sum() < 4:  # without soft tissue beside the bone the high-pass is unreliable
        return nan2
    neighbours = means[:-1] * means[1:]
    path = hollow_tube_path(positions[cortex], ol, il, ir, orr)
    return float(neighbours[:, cortex].mean()), float(path.mean())
