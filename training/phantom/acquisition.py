"""From line integrals to a presentation image: exposure, scatter, detector, noise, vendor processing.

Signal chain (per pixel, in detected X-ray quanta):

1. Incident fluence ``N0 * heel(x, y)`` inside the collimated field, a small leakage outside it, with a
   penumbra at the field edge.
2. Primary: Beer-Lambert ``N_in * exp(-sum mu_i l_i)`` with the line integral of soft tissue (the envelope
   minus the bones it contains, with a mild low-frequency fat/muscle texture), bone (cortex, marrow, pores),
   trabecular bone (with a trabecular texture) and the lead side marker.
3. Scatter (no grid in hand radiography): a fraction of the photons removed from the primary beam reaches
   the detector, spread by a wide Gaussian.
4. Quantum noise: Gaussian with variance equal to the mean (Poisson statistics at these counts).
5. Detector MTF: a Gaussian core (scintillator light spread, sigma 0.5-1 px) plus a wide low-amplitude
   glare tail (a Gaussian/Lorentzian-like mix); it correlates the quantum noise as in real detectors.
6. Electronic noise, then the log transform ``ln(N0 / signal)`` (bone bright, as in "For Presentation"
   images with Pixel Intensity Relationship LOG).
7. Vendor processing: histogram-based windowing, optional dynamic-range compression (subtracting part of
   a large-scale blur), unsharp masking (edge enhancement), a tone curve, and the handling of the area
   outside the collimation (left as exposed, or masked black or white).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from .materials import Materials
from .projection import ImageGrid, Projection

__all__ = [
    "AcquisitionParams",
    "FieldOfView",
    "MarkerParams",
    "ProcessingParams",
    "apply_processing",
    "blur",
    "expose",
    "marker_mu_path",
    "sample_acquisition",
    "sample_processing",
]

PROCESSING_KINDS = ("none", "standard", "strong")
SHUTTER_MODES = ("natural", "black", "white")


@dataclass(frozen=True)
class AcquisitionParams:
    """Physics of one exposure.

    Parameters
    ----------
    energy_kev
        Effective (mean) photon energy of the ~50 kVp beam behind the hand.
    photons_per_mm2
        Detected quanta per mm^2 in the direct beam (fluence x detector efficiency). At 50 kVp, 2.5 mAs,
        100 cm the air kerma is ~80 µGy, i.e. ~1e6 photons/mm^2, of which a CsI/GOS detector absorbs ~50 %.
    scatter_fraction, scatter_sigma_mm
        Fraction of the photons removed from the primary beam that reach the detector as scatter, and the
        width of the scatter kernel.
    heel_gradient, heel_axis_deg
        Relative change of the incident fluence across the field (anode heel effect) and its direction in
        the image (0 = along columns, i.e. top to bottom).
    blur_sigma_px, glare_fraction, glare_sigma_px
        Detector MTF: Gaussian core and a wide tail carrying ``glare_fraction`` of the signal.
    electronic_noise
        Standard deviation of the additive readout noise, in quanta.
    noise
        Whether quantum and electronic noise are simulated.
    leakage
        Transmission outside the collimated field.
    penumbra_mm
        Width (sigma) of the collimator edge.
    trabecular_texture, soft_tissue_texture
        Relative amplitude of the trabecular pattern and of the soft-tissue inhomogeneity.
    """

    energy_kev: float
    photons_per_mm2: float
    scatter_fraction: float
    scatter_sigma_mm: float
    heel_gradient: float
    heel_axis_deg: float
    blur_sigma_px: float
    glare_fraction: float
    glare_sigma_px: float
    electronic_noise: float
    noise: bool
    leakage: float
    penumbra_mm: float
    trabecular_texture: float
    soft_tissue_texture: float

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the truth file."""
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_acquisition(rng: np.random.Generator, *, noise: bool = True) -> AcquisitionParams:
    """Draw the exposure and detector parameters of one image."""
    return AcquisitionParams(
        energy_kev=float(rng.uniform(30.0, 36.0)),
        photons_per_mm2=float(np.exp(rng.uniform(np.log(0.5e5), np.log(3.0e5)))),
        scatter_fraction=float(rng.uniform(0.04, 0.14)),
        scatter_sigma_mm=float(rng.uniform(8.0, 25.0)),
        heel_gradient=float(rng.uniform(-0.08, 0.08)),
        heel_axis_deg=float(rng.choice([0.0, 90.0, 180.0, 270.0], p=[0.4, 0.1, 0.4, 0.1]) + rng.normal(0.0, 5.0)),
        blur_sigma_px=float(rng.uniform(0.5, 1.0)),
        glare_fraction=float(rng.uniform(0.0, 0.08)),
        glare_sigma_px=float(rng.uniform(3.0, 10.0)),
        electronic_noise=float(rng.uniform(1.0, 6.0)),
        noise=bool(noise),
        leakage=float(rng.uniform(0.002, 0.01)),
        penumbra_mm=float(rng.uniform(0.3, 1.2)),
        trabecular_texture=float(rng.uniform(0.1, 0.2)),
        soft_tissue_texture=float(rng.uniform(0.01, 0.04)),
    )


@dataclass(frozen=True)
class ProcessingParams:
    """Vendor image processing of one image (``kind="none"``: log image, linearly windowed).

    Parameters
    ----------
    kind
        ``"none"``, ``"standard"`` or ``"strong"``.
    equalization, equalization_sigma_mm
        Dynamic-range compression: ``z - e * max(blur(z) - reference, 0)`` (dense regions only).
    unsharp_gain, unsharp_sigma_mm
        Edge enhancement: ``z + g * (z - blur(z))``.
    midtone_lift
        Tone curve ``1 - (1 - z)^k`` applied to the windowed image (k = 1: linear; k > 1 brightens the
        soft tissue while keeping the background dark and the bone near the top).
    background_level
        Display value of the direct-exposure background (0 = black).
    shutter
        What the area outside the collimation shows: ``"natural"`` (unexposed = white after the log
        transform), ``"black"`` or ``"white"`` (electronic shutter).
    """

    kind: str
    equalization: float
    equalization_sigma_mm: float
    unsharp_gain: float
    unsharp_sigma_mm: float
    midtone_lift: float
    background_level: float
    shutter: str

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the truth file."""
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_processing(rng: np.random.Generator, kind: str = "random") -> ProcessingParams:
    """Draw vendor processing parameters; ``kind`` is ``"random"`` or one of :data:`PROCESSING_KINDS`."""
    if kind == "random":
        kind = str(rng.choice(PROCESSING_KINDS, p=[0.2, 0.5, 0.3]))
    shutter = str(rng.choice(SHUTTER_MODES, p=[0.4, 0.45, 0.15]))
    if kind == "none":
        return ProcessingParams("none", 0.0, 10.0, 0.0, 1.0, 1.0, float(rng.uniform(0.0, 0.05)), shutter)
    strong = kind == "strong"
    # Calibrated on a real processed DX hand (docs/phantom.md): direct background at ~0.2 of the range,
    # soft tissue ~0.6, cortex ~0.9; vendors keep the soft tissue visible, so the large-scale compression
    # is moderate and the tone curve lifts the mid-tones.
    return ProcessingParams(
        kind=kind,
        equalization=float(rng.uniform(0.2, 0.45) if strong else rng.uniform(0.0, 0.2)),
        equalization_sigma_mm=float(rng.uniform(6.0, 20.0)),
        unsharp_gain=float(rng.uniform(0.8, 1.6) if strong else rng.uniform(0.2, 0.8)),
        unsharp_sigma_mm=float(rng.uniform(0.4, 2.0)),
        midtone_lift=float(rng.uniform(1.3, 2.0) if strong else rng.uniform(1.0, 1.6)),
        background_level=float(rng.uniform(0.02, 0.22)),
        shutter=shutter,
    )


@dataclass(frozen=True)
class FieldOfView:
    """The collimated (exposed) rectangle on the image, in image mm.

    Parameters
    ----------
    centre_mm
        Centre ``(x, y)``.
    half_size_mm
        Half width and half height.
    tilt_deg
        Rotation of the collimator relative to the detector.
    """

    centre_mm: tuple[float, float]
    half_size_mm: tuple[float, float]
    tilt_deg: float

    def exposed(self, grid: ImageGrid, penumbra_mm: float) -> NDArray[np.float32]:
        """Fraction of the full fluence reaching each pixel (1 inside, 0 far outside, smooth edge).

        Each pair of collimator blades casts an edge blurred by the focal spot (an error-function
        penumbra); the two pairs act independently, so the field is the product of the two profiles.
        """
        from scipy.special import ndtr

        sigma = max(penumbra_mm, 1e-3)
        y = (np.arange(grid.rows, dtype=np.float32)[:, None] * grid.spacing_mm - self.centre_mm[1]).astype(np.float32)
        x = (np.arange(grid.columns, dtype=np.float32)[None, :] * grid.spacing_mm - self.centre_mm[0]).astype(
            np.float32
        )
        t = np.deg2rad(self.tilt_deg)
        if abs(t) < 1e-9:
            across = ndtr((self.half_size_mm[0] - np.abs(x)) / sigma).astype(np.float32)
            along = ndtr((self.half_size_mm[1] - np.abs(y)) / sigma).astype(np.float32)
            return along * across
        c, s = np.float32(np.cos(t)), np.float32(np.sin(t))
        xr = x * c + y * s
        yr = y * c - x * s
        return (
            ndtr((self.half_size_mm[0] - np.abs(xr)) / sigma) * ndtr((self.half_size_mm[1] - np.abs(yr)) / sigma)
        ).astype(np.float32)

    def as_dict(self, spacing_mm: float) -> dict[str, Any]:
        """Field description (mm and pixels) for the truth file."""
        return {
            "centre_px": [round(c / spacing_mm, 3) for c in self.centre_mm],
            "half_size_px": [round(c / spacing_mm, 3) for c in self.half_size_mm],
            "tilt_deg": round(self.tilt_deg, 4),
        }


# ---------------------------------------------------------------------------------------------- helpers


def blur(image: NDArray[np.float32], sigma_px: float) -> NDArray[np.float32]:
    """Gaussian blur; large kernels run on a block-averaged copy (they only carry low frequencies)."""
    image = np.asarray(image, dtype=np.float32)
    if sigma_px <= 0:
        return image.copy()
    if sigma_px < 8.0:
        return ndimage.gaussian_filter(image, sigma_px, mode="nearest", truncate=3.5)
    factor = int(sigma_px // 4.0)
    rows, cols = image.shape
    pr, pc = (-rows) % factor, (-cols) % factor
    padded = np.pad(image, ((0, pr), (0, pc)), mode="edge")
    small = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor).mean(axis=(1, 3))
    # Block averaging already blurred by a box of width `factor` (variance factor^2/12 per axis).
    residual = np.sqrt(max(sigma_px**2 - factor**2 / 12.0, 0.0)) / factor
    small = ndimage.gaussian_filter(small, residual, mode="nearest", truncate=3.5)
    return _upsample_linear(small, factor, rows, cols)


def _upsample_linear(small: NDArray[np.float32], factor: int, rows: int, cols: int) -> NDArray[np.float32]:
    """Separable linear interpolation of a block-averaged image back to ``rows x cols`` pixels."""

    def weights(n: int, n_small: int) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        # Block k is centred on pixel (k + 0.5) * factor - 0.5.
        position = np.clip((np.arange(n) + 0.5) / factor - 0.5, 0.0, n_small - 1.0)
        lo = np.minimum(position.astype(np.int64), n_small - 1)
        hi = np.minimum(lo + 1, n_small - 1)
        return lo, hi, (position - lo).astype(np.float32)

    lo, hi, w = weights(rows, small.shape[0])
    tall = small[lo] * (1.0 - w)[:, None] + small[hi] * w[:, None]
    lo, hi, w = weights(cols, small.shape[1])
    return np.ascontiguousarray(tall[:, lo] * (1.0 - w)[None, :] + tall[:, hi] * w[None, :], dtype=np.float32)


_TEXTURE_TILE_PX = 640


def _trabecular_pattern(rng: np.random.Generator, shape: tuple[int, int], spacing_mm: float) -> NDArray[np.float32]:
    """Zero-mean, unit-variance network of strands at the scale of trabeculae (~0.2-0.8 mm).

    The zero crossings of band-passed noise form a connected web of lines; a narrow bump of that noise
    around zero turns the web into bright strands on a darker background. The pattern is made on one
    periodic tile (wrap-around filtering, so it tiles seamlessly) and repeated with a random offset: at
    ~0.1 m per tile a repetition is never side by side in one bone, and it costs a fraction of a
    full-image synthesis.
    """
    tile = _TEXTURE_TILE_PX
    white = rng.standard_normal((tile, tile), dtype=np.float32)
    fine = max(0.2 / spacing_mm, 0.5)
    coarse = max(0.8 / spacing_mm, 1.5)
    band = ndimage.gaussian_filter(white, fine, mode="wrap", truncate=3.0) - ndimage.gaussian_filter(
        white, coarse, mode="wrap", truncate=3.0
    )
    band /= band.std() + 1e-12
    strands = np.exp(-((band / 0.5) ** 2))
    strands = ((strands - strands.mean()) / (strands.std() + 1e-12)).astype(np.float32)
    dr, dc = (int(v) for v in rng.integers(0, tile, 2))
    rows = (np.arange(shape[0]) + dr) % tile
    cols = (np.arange(shape[1]) + dc) % tile
    return strands[rows[:, None], cols[None, :]]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> NDArray[np.float32]:
    """Unit-variance Gaussian random field with correlation length ~``sigma_px``, made on a coarse grid."""
    factor = max(1, int(sigma_px // 4.0))
    small_shape = (-(-shape[0] // factor), -(-shape[1] // factor))
    white = rng.standard_normal(small_shape, dtype=np.float32)
    small = ndimage.gaussian_filter(white, sigma_px / factor, mode="nearest", truncate=3.0)
    smooth = _upsample_linear(small, factor, shape[0], shape[1]) if factor > 1 else small
    return (smooth / (smooth.std() + 1e-12)).astype(np.float32)


# ---------------------------------------------------------------------------------------------- marker


@dataclass(frozen=True)
class MarkerParams:
    """A lead side marker (letter in a plastic holder) lying on the detector.

    Parameters
    ----------
    letter
        ``"L"`` or ``"R"``.
    centre_mm
        Centre of the holder in image mm.
    letter_height_mm
        Height of the letter.
    angle_deg
        Rotation of the marker (counter-clockwise as displayed).
    """

    letter: str
    centre_mm: tuple[float, float]
    letter_height_mm: float
    angle_deg: float

    @property
    def holder_half_size_mm(self) -> tuple[float, float]:
        """Half width and half height of the plastic holder."""
        return 0.62 * self.letter_height_mm, 0.8 * self.letter_height_mm

    def as_dict(self, spacing_mm: float) -> dict[str, Any]:
        """For the truth file."""
        return {
            "letter": self.letter,
            "centre_px": [round(c / spacing_mm, 3) for c in self.centre_mm],
            "letter_height_mm": round(self.letter_height_mm, 3),
            "angle_deg": round(self.angle_deg, 3),
        }


_LEAD_MU_PATH = 7.0  # ~1 mm of lead at 30-35 keV is opaque; 7 keeps the log image finite
_HOLDER_MU_PATH = 0.22  # ~8 mm of acrylic


def _glyph(letter: str, p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Stroke mask of a sans-serif capital in letter units (height 1, origin bottom-left)."""
    w = 0.2
    stem = (p >= 0.0) & (p <= w) & (q >= 0.0) & (q <= 1.0)
    if letter == "L":
        return stem | ((p >= 0.0) & (p <= 0.68) & (q >= 0.0) & (q <= w))
    centre_p, centre_q, radius = 0.36, 0.73, 0.27
    r = np.hypot(p - centre_p, q - centre_q)
    bowl = (p >= centre_p) & (r <= radius) & (r >= radius - w)
    bars = (p >= 0.0) & (p <= centre_p) & (((q >= 1.0 - w) & (q <= 1.0)) | ((q >= 0.46) & (q <= 0.46 + w)))
    # Leg: a stroke from the bowl's lower end to the baseline.
    a = np.array([0.34, 0.5])
    e = np.array([0.72, 0.0]) - a
    t = np.clip(((p - a[0]) * e[0] + (q - a[1]) * e[1]) / float(e @ e), 0.0, 1.0)
    leg = np.hypot(p - a[0] - t * e[0], q - a[1] - t * e[1]) <= w / 2.0
    return stem | bowl | bars | (leg & (q >= 0.0))


def marker_mu_path(marker: MarkerParams, grid: ImageGrid, supersample: int = 3) -> NDArray[np.float32]:
    """Line integral image of the side marker (zero away from it)."""
    out = np.zeros((grid.rows, grid.columns), np.float32)
    hw, hh = marker.holder_half_size_mm
    reach = np.hypot(hw, hh) + 1.0
    cx, cy = marker.centre_mm
    sp = grid.spacing_mm
    c0, c1 = max(int((cx - reach) / sp), 0), min(int((cx + reach) / sp) + 2, grid.columns)
    r0, r1 = max(int((cy - reach) / sp), 0), min(int((cy + reach) / sp) + 2, grid.rows)
    if c0 >= c1 or r0 >= r1:
        return out
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    ys = ((np.arange(r0, r1)[:, None] + offsets).ravel() * sp - cy)[:, None]
    xs = ((np.arange(c0, c1)[:, None] + offsets).ravel() * sp - cx)[None, :]
    t = np.deg2rad(marker.angle_deg)
    # Marker frame: a right, b up (as displayed); image y points down.
    a = xs * np.cos(t) - ys * np.sin(t)
    b = -xs * np.sin(t) - ys * np.cos(t)
    holder = (np.abs(a) <= hw) & (np.abs(b) <= hh)
    h = marker.letter_height_mm
    letter = _glyph(marker.letter, (a + 0.36 * h) / h, (b + 0.5 * h) / h)
    fine = holder * _HOLDER_MU_PATH + letter * _LEAD_MU_PATH
    nr, nc = r1 - r0, c1 - c0
    out[r0:r1, c0:c1] = fine.reshape(nr, supersample, nc, supersample).mean(axis=(1, 3))
    return out


# ---------------------------------------------------------------------------------------------- physics


def expose(
    projection: Projection,
    grid: ImageGrid,
    materials: Materials,
    acquisition: AcquisitionParams,
    exposed: NDArray[np.float32],
    marker: NDArray[np.float32],
    *,
    texture_rng: np.random.Generator,
    noise_rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Simulate the exposure and the detector.

    Returns
    -------
    log_image, attenuation
        ``ln(N0 / detected)`` (float32, bone bright; ~0 in the direct beam) and the ideal total line
        integral ``sum mu l`` (without noise, blur or scatter).
    """
    shape = (grid.rows, grid.columns)
    sp = grid.spacing_mm
    soft = np.maximum(projection.soft_tissue_path_mm - projection.bone_path_mm, 0.0)
    soft_texture = 1.0 + acquisition.soft_tissue_texture * _smooth_noise(texture_rng, shape, 4.0 / sp)
    trabecular = projection.trabecular_mu_path
    if acquisition.trabecular_texture > 0 and np.any(trabecular > 0):
        pattern = _trabecular_pattern(texture_rng, shape, sp)
        trabecular = trabecular * np.maximum(1.0 + acquisition.trabecular_texture * pattern, 0.0)
    elif acquisition.trabecular_texture > 0:
        _trabecular_pattern(texture_rng, (1, 1), sp)  # keep the texture stream aligned
    attenuation = (
        materials.soft_tissue_per_mm * soft * soft_texture + projection.bone_mu_path + trabecular + marker
    ).astype(np.float32)

    n0 = acquisition.photons_per_mm2 * sp * sp
    heel_angle = np.deg2rad(acquisition.heel_axis_deg)
    ys = (np.arange(grid.rows)[:, None] / max(grid.rows - 1, 1) - 0.5) * np.cos(heel_angle)
    xs = (np.arange(grid.columns)[None, :] / max(grid.columns - 1, 1) - 0.5) * np.sin(heel_angle)
    heel = (1.0 + acquisition.heel_gradient * (ys + xs)).astype(np.float32)
    incident = n0 * heel * (exposed + acquisition.leakage * (1.0 - exposed))
    primary = incident * np.exp(-attenuation)
    scatter = acquisition.scatter_fraction * blur(incident - primary, acquisition.scatter_sigma_mm / sp)
    expected = primary + scatter
    if acquisition.noise:
        detected = expected + np.sqrt(np.maximum(expected, 0.0)) * noise_rng.standard_normal(shape, dtype=np.float32)
    else:
        detected = expected
    core = ndimage.gaussian_filter(detected, acquisition.blur_sigma_px, mode="nearest", truncate=4.0)
    if acquisition.glare_fraction > 0:
        detected = (1.0 - acquisition.glare_fraction) * core + acquisition.glare_fraction * blur(
            detected, acquisition.glare_sigma_px
        )
    else:
        detected = core
    if acquisition.noise:
        detected = detected + acquisition.electronic_noise * noise_rng.standard_normal(shape, dtype=np.float32)
    log_image = np.log(n0 / np.maximum(detected, 0.5)).astype(np.float32)
    return log_image, attenuation


def apply_processing(
    log_image: NDArray[np.float32],
    exposed: NDArray[np.float32],
    ignore: NDArray[np.bool_],
    processing: ProcessingParams,
    spacing_mm: float,
) -> NDArray[np.float32]:
    """Turn the log image into a presentation image in [0, 1] (bone bright), as a vendor would.

    ``ignore`` marks pixels left out of the histogram analysis (the lead marker).
    """
    field = exposed > 0.5
    analysed = field & ~ignore
    # Histogram analysis on every other row and column: the percentiles of ~10^6 pixels do not change.
    values = log_image[::2, ::2][analysed[::2, ::2]] if analysed.any() else log_image.ravel()
    low = float(np.percentile(values, 0.5))
    high = float(np.percentile(values, 99.7))
    z = (log_image - low) / max(high - low, 1e-3)
    if processing.equalization > 0:
        # Normalised convolution: the large-scale level is estimated from the exposed field only, so the
        # collimated border does not leak a halo into the image.
        weight = field.astype(np.float32)
        sigma = processing.equalization_sigma_mm / spacing_mm
        clipped = np.clip(z, -0.2, 1.2) * weight
        level = blur(clipped, sigma) / np.maximum(blur(weight, sigma), 1e-3)
        # Latitude compression pulls down the large-scale level of dense regions (carpus, thick palm) and
        # leaves the direct background alone, so no halo lifts the background next to the hand.
        reference = float(np.percentile(level[analysed], 40.0)) if analysed.any() else 0.5
        z = z - processing.equalization * np.maximum(level - reference, 0.0)
    if processing.unsharp_gain > 0:
        z = z + processing.unsharp_gain * (z - blur(z, processing.unsharp_sigma_mm / spacing_mm))
    if processing.kind != "none":
        # Re-window after the filters so the bone still reaches the top of the range. The floor is the
        # median of the direct-exposure background when there is one (so it lands on background_level
        # whatever the heel gradient and the noise), else a low percentile of the field.
        values = z[::2, ::2][analysed[::2, ::2]] if analysed.any() else z.ravel()
        hi = float(np.percentile(values, 99.8))
        background = analysed & (log_image < low + 0.08 * (high - low))
        has_background = background.sum() > 2000
        lo = float(np.median(z[background]) if has_background else np.percentile(values, 2.0))
        z = (z - lo) / max(hi - lo, 1e-3)
    tone = 1.0 - (1.0 - np.clip(z, 0.0, 1.0)) ** processing.midtone_lift
    image = processing.background_level + (1.0 - processing.background_level) * tone
    image = np.where(z < 0.0, processing.background_level * np.clip(1.0 + z * 4.0, 0.0, 1.0), image)
    if processing.shutter == "black":
        image = np.where(exposed < 0.5, 0.0, image)
    elif processing.shutter == "white":
        image = np.where(exposed < 0.5, 1.0, image)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
