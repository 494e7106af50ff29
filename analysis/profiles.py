"""The projected hollow tube and its fit to intensity profiles across a metacarpal shaft.

A shaft is a hollow cylinder. Across it, the X-ray path length through cortical bone at lateral position x is
``2*sqrt(R**2 - (x - c)**2) - 2*sqrt(r**2 - (x - c_i)**2)`` (outer radius R centred at c, canal radius r
centred at c_i; each root is zero outside its circle). On a radiograph in which bone is bright, a profile
across the shaft is that path length, blurred by the system response, scaled, on a smooth soft-tissue
background. Fitting this model to each profile gives the four edges (periosteal and endosteal, both sides)
to a fraction of a pixel; edges are never read off a mask or a gradient threshold.

The fit is batched: all profiles of a bone are fitted at once with a projected Levenberg-Marquardt on the
four edge positions and the blur width; the amplitude and a quadratic background are solved linearly for
every trial (variable projection), so the nonlinear search has five parameters per profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

__all__ = [
    "TubeProfileFit",
    "best_fit",
    "chord_integral",
    "fit_tube_profiles",
    "hollow_tube_path",
    "replace_rows",
    "take_rows",
    "tube_profile_model",
]

_MIN_GAP_PX = 0.3  # smallest cortex or canal the fit may shrink to, in pixels
_MIN_SIGMA_PX = 0.25


def best_fit(first: TubeProfileFit, second: TubeProfileFit) -> TubeProfileFit:
    """Per profile, whichever of two fits of the same profiles left the smaller residual."""
    second_wins = second.residual_rms < first.residual_rms

    def pick(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(second_wins.reshape(-1, *([1] * (a.ndim - 1))), b, a)

    return TubeProfileFit(
        **{name: pick(getattr(first, name), getattr(second, name)) for name in TubeProfileFit.__dataclass_fields__}
    )


def take_rows(fit: TubeProfileFit, rows: np.ndarray) -> TubeProfileFit:
    """The fit of the profiles ``rows`` only."""
    return TubeProfileFit(**{name: getattr(fit, name)[rows] for name in TubeProfileFit.__dataclass_fields__})


def replace_rows(fit: TubeProfileFit, rows: np.ndarray, new: TubeProfileFit) -> TubeProfileFit:
    """``fit`` with the profiles ``rows`` replaced by ``new``."""
    fields = {}
    for name in TubeProfileFit.__dataclass_fields__:
        values = getattr(fit, name).copy()
        values[rows] = getattr(new, name)
        fields[name] = values
    return TubeProfileFit(**fields)


def chord_integral(x: np.ndarray, radius: np.ndarray | float) -> np.ndarray:
    """Integral from -inf to ``x`` of the chord length ``2*sqrt(radius**2 - t**2)`` of a disc at the origin.

    It is the cross-sectional area of the disc left of ``x``: 0 left of the disc, ``pi*radius**2`` right of it.

    >>> float(chord_integral(np.array(0.0), 1.0))  # half the unit disc
    1.5707963267948966
    >>> float(chord_integral(np.array(5.0), 2.0))  # the whole disc
    12.566370614359172
    """
    radius = np.asarray(radius, dtype=np.float64)
    safe = np.maximum(radius, 1e-12)
    t = np.clip(x / safe, -1.0, 1.0)
    return safe**2 * (t * np.sqrt(1.0 - t * t) + np.arcsin(t) + np.pi / 2)


def hollow_tube_path(
    x: np.ndarray,
    outer_left: np.ndarray | float,
    inner_left: np.ndarray | float,
    inner_right: np.ndarray | float,
    outer_right: np.ndarray | float,
    *,
    cell: float = 0.0,
) -> np.ndarray:
    """Path length through the wall of a hollow tube whose projected edges are given (same units as ``x``).

    With ``cell > 0`` the path is averaged over a cell of that width centred on each ``x`` (exactly, through
    :func:`chord_integral`), as a detector element or an interpolated sample sees it.

    >>> x = np.array([0.0, 1.5, 3.5])
    >>> hollow_tube_path(x, -4.0, -2.0, 2.0, 4.0)  # R = 4, r = 2: 2*4 - 2*2 at the centre
    array([4.        , 4.77044718, 3.87298335])
    """
    x = np.asarray(x, dtype=np.float64)
    centre = (np.asarray(outer_left) + np.asarray(outer_right)) / 2.0
    radius = (np.asarray(outer_right) - np.asarray(outer_left)) / 2.0
    canal_centre = (np.asarray(inner_left) + np.asarray(inner_right)) / 2.0
    canal_radius = (np.asarray(inner_right) - np.asarray(inner_left)) / 2.0
    if cell > 0:
        half = cell / 2.0

        def averaged(position: np.ndarray, r: np.ndarray) -> np.ndarray:
            return (chord_integral(position + half, r) - chord_integral(position - half, r)) / cell

        return averaged(x - centre, radius) - averaged(x - canal_centre, canal_radius)
    outer = 2.0 * np.sqrt(np.clip(radius**2 - (x - centre) ** 2, 0.0, None))
    inner = 2.0 * np.sqrt(np.clip(canal_radius**2 - (x - canal_centre) ** 2, 0.0, None))
    return outer - inner


@dataclass(frozen=True)
class TubeProfileFit:
    """Fitted edges of N profiles, in the profile's own coordinate (pixels from the profile centre).

    ``edges_px`` is (N, 4): outer left, inner left, inner right, outer right ("left" is the negative end of
    the profile). ``amplitude`` is the intensity per pixel of path length, ``residual_rms`` the weighted
    root-mean-square residual in image intensity units, ``noise_rms`` the same residual far from the edges.
    """

    edges_px: np.ndarray
    blur_sigma_px: np.ndarray
    amplitude: np.ndarray
    contrast: np.ndarray
    residual_rms: np.ndarray
    residuals: np.ndarray


def tube_profile_model(positions_px: np.ndarray, parameters: np.ndarray, step_px: float) -> np.ndarray:
    """Blurred hollow-tube path length, (N, M), for parameters (N, 5): four edges and log(sigma).

    The blur is Gaussian, applied in the Fourier domain so that every profile can have its own width.
    """
    return _model_terms(positions_px, parameters, step_px, ())[:, 0]


def _model_terms(
    positions_px: np.ndarray, parameters: np.ndarray, step_px: float, smoothing_samples: tuple[float, ...]
) -> np.ndarray:
    """(N, 1 + len(smoothing_samples), M): the blurred path, then the same smoothed further by each width."""
    edges = parameters[:, :4]
    sigma_samples = np.exp(parameters[:, 4]) / step_px
    # Cell-averaged path (exact): chord integrals at the M+1 cell boundaries, differenced.
    boundaries = np.append(positions_px - step_px / 2, positions_px[-1] + step_px / 2)[None, :]
    centre = (edges[:, 0:1] + edges[:, 3:4]) / 2
    canal_centre = (edges[:, 1:2] + edges[:, 2:3]) / 2
    area = chord_integral(boundaries - centre, (edges[:, 3:4] - edges[:, 0:1]) / 2) - chord_integral(
        boundaries - canal_centre, (edges[:, 2:3] - edges[:, 1:2]) / 2
    )
    path = np.diff(area, axis=1) / step_px
    m = positions_px.size
    widest = max((float(sigma_samples.max()), *smoothing_samples))
    padded = scipy.fft.next_fast_len(int(np.ceil(m + 4 * widest)), real=True)  # 4 widths: wrap-around < 1e-3
    spectrum = scipy.fft.rfft(path, n=padded, axis=1)
    squared_frequency = (np.pi * scipy.fft.rfftfreq(padded)) ** 2
    spectrum *= np.exp(-2.0 * squared_frequency[None, :] * sigma_samples[:, None] ** 2)
    spectra = [spectrum] + [spectrum * np.exp(-2.0 * squared_frequency * width**2) for width in smoothing_samples]
    return scipy.fft.irfft(np.stack(spectra, axis=1), n=padded, axis=2)[:, :, :m]


def _background_basis(positions_px: np.ndarray) -> np.ndarray:
    u = positions_px / max(float(np.abs(positions_px).max()), 1e-9)
    return np.stack([np.ones_like(u), u, u * u], axis=0)  # (3, M)


def _solve(basis: np.ndarray, profiles: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares per profile: (coefficients (N, K), fitted (N, M))."""
    size = basis.shape[1]
    weighted = basis * weights[:, None, :]
    normal = weighted @ basis.transpose(0, 2, 1)
    normal += np.eye(size)[None] * (1e-9 * np.trace(normal, axis1=1, axis2=2)[:, None, None] + 1e-12)
    rhs = weighted @ profiles[:, :, None]
    coefficients = np.linalg.solve(normal, rhs)[..., 0]
    return coefficients, (coefficients[:, None, :] @ basis)[:, 0]


def _project(
    terms: np.ndarray, background: np.ndarray, profiles: np.ndarray, weights: np.ndarray, nonlinear: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best linear combination of the response terms and the background for each profile.

    ``terms`` is (N, K, M) from :func:`_model_terms`. With ``nonlinear``, a grey-scale curve applied after
    everything else (log, gamma, a vendor's tone curve) is modelled as a quadratic of the linear fit: the linear
    fit S is made first, then S**2 (normalised) joins the basis. Returns (coefficients, residuals,
    response (N, M): the fitted profile less its linear background); coefficient 0 is the path's amplitude.
    """
    n = terms.shape[0]
    background = np.broadcast_to(background, (n, *background.shape))
    basis = np.concatenate([terms, background], axis=1)
    coefficients, fitted = _solve(basis, profiles, weights)
    if nonlinear:
        low = fitted.min(axis=1, keepdims=True)
        scaled = (fitted - low) / np.maximum(fitted.max(axis=1, keepdims=True) - low, 1e-12)
        basis = np.concatenate([terms, scaled[:, None] ** 2, background], axis=1)
        coefficients, fitted = _solve(basis, profiles, weights)
    response = fitted - np.einsum("nk,nkm->nm", coefficients[:, -3:], background)
    return coefficients, profiles - fitted, response


def _cost(residuals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.sum(weights * residuals**2, axis=1)


def _constrain(parameters: np.ndarray, limit_px: float, max_sigma_px: float) -> np.ndarray:
    p = parameters.copy()
    p[:, 0] = np.clip(p[:, 0], -limit_px, limit_px - 3 * _MIN_GAP_PX)
    p[:, 1] = np.maximum(p[:, 1], p[:, 0] + _MIN_GAP_PX)
    p[:, 2] = np.maximum(p[:, 2], p[:, 1] + _MIN_GAP_PX)
    p[:, 3] = np.clip(np.maximum(p[:, 3], p[:, 2] + _MIN_GAP_PX), None, limit_px)
    p[:, 2] = np.minimum(p[:, 2], p[:, 3] - _MIN_GAP_PX)
    p[:, 1] = np.minimum(p[:, 1], p[:, 2] - _MIN_GAP_PX)
    p[:, 4] = np.clip(p[:, 4], np.log(_MIN_SIGMA_PX), np.log(max_sigma_px))
    return p


def fit_tube_profiles(
    positions_px: np.ndarray,
    profiles: np.ndarray,
    weights: np.ndarray,
    initial_edges_px: np.ndarray,
    *,
    initial_sigma_px: float = 1.0,
    smoothing_widths_px: tuple[float, ...] = (),
    nonlinear: bool = False,
    max_sigma_px: float = 8.0,
    iterations: int = 40,
) -> TubeProfileFit:
    """Fit the blurred hollow-tube model to each profile.

    Parameters
    ----------
    positions_px
        (M,) equally spaced sample positions along the profiles, in pixels, centred near the shaft.
    profiles
        (N, M) intensities (bone bright).
    weights
        (N, M) sample weights; 0 excludes a sample (outside the image, on a neighbouring bone).
    initial_edges_px
        (N, 4) starting edges: outer left, inner left, inner right, outer right.
    initial_sigma_px
        Starting blur width.
    smoothing_widths_px
        Widths of extra response terms: the model smoothed further by each, with free coefficients. A
        vendor's unsharp masking, ``(1 + g)*I - g*G*I``, is exactly such a combination along a straight shaft.
    nonlinear
        Model a smooth grey-scale curve applied to the whole profile (see :func:`_project`).
    max_sigma_px
        Largest blur the system can have. Keep it below the smoothing widths: a blur as wide as a smoothing
        term could trade off against it (thin cortex, wide blur) and the edges would be ambiguous.
    iterations
        Levenberg-Marquardt iterations.

    Examples
    --------
    A tube with R = 20 px, r = 12 px, blurred by 1.2 px, on a sloping background, is recovered exactly:

    >>> x = np.arange(-40.0, 40.0, 0.5)
    >>> truth = np.array([[-20.0, -12.0, 12.0, 20.0, np.log(1.2)]])
    >>> y = 100 + 0.3 * x + 2.0 * tube_profile_model(x, truth, 0.5)
    >>> fit = fit_tube_profiles(x, y, np.ones_like(y), np.array([[-21.0, -10.5, 13.0, 19.0]]))
    >>> np.round(fit.edges_px, 3)
    array([[-20., -12.,  12.,  20.]])
    """
    positions_px = np.asarray(positions_px, dtype=np.float64)
    profiles = np.asarray(profiles, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    step_px = float(positions_px[1] - positions_px[0])
    limit_px = float(np.abs(positions_px).max())
    background = _background_basis(positions_px)
    n = profiles.shape[0]
    parameters = np.concatenate(
        [np.asarray(initial_edges_px, dtype=np.float64), np.full((n, 1), np.log(initial_sigma_px))], axis=1
    )
    parameters = _constrain(parameters, limit_px, max_sigma_px)

    smoothing_samples = tuple(width / step_px for width in smoothing_widths_px)

    def project(trial: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        terms = _model_terms(positions_px, trial, step_px, smoothing_samples)
        return _project(terms, background, profiles[rows], weights[rows], nonlinear)

    def residuals_of(trial: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return project(trial, rows)[1]

    everything = np.arange(n)
    residuals = residuals_of(parameters, everything)
    cost = _cost(residuals, weights)
    damping = np.full(n, 1e-2)
    deltas = np.array([0.02, 0.02, 0.02, 0.02, 0.01])
    active = np.ones(n, dtype=bool)  # profiles still moving; converged ones are left alone
    for _ in range(iterations):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        p, r, w = parameters[rows], residuals[rows], weights[rows]
        jacobian = np.empty((rows.size, 5, profiles.shape[1]))
        for k in range(5):
            shifted = p.copy()
            shifted[:, k] += deltas[k]
            jacobian[:, k, :] = (residuals_of(shifted, rows) - r) / deltas[k]
        weighted_jacobian = jacobian * w[:, None, :]
        hessian = np.einsum("nkm,nlm->nkl", weighted_jacobian, jacobian)
        gradient = np.einsum("nkm,nm->nk", weighted_jacobian, r)
        diagonal = np.einsum("nkk->nk", hessian) + 1e-9
        accepted = np.zeros(rows.size, dtype=bool)
        largest_step = np.zeros(rows.size)
        for _attempt in range(4):
            pending = ~accepted
            system = hessian + damping[rows, None, None] * np.einsum("nk,kl->nkl", diagonal, np.eye(5))
            step = -np.linalg.solve(system, gradient[..., None])[..., 0]
            trial = _constrain(p + step, limit_px, max_sigma_px)
            trial_residuals = residuals_of(trial, rows)
            trial_cost = _cost(trial_residuals, w)
            better = pending & (trial_cost < cost[rows])
            parameters[rows[better]] = trial[better]
            residuals[rows[better]] = trial_residuals[better]
            cost[rows[better]] = trial_cost[better]
            largest_step[better] = np.abs(trial[better] - p[better]).max(axis=1)
            damping[rows] = np.where(better, np.maximum(damping[rows] / 3.0, 1e-7), damping[rows] * 4.0)
            accepted |= better
            if accepted.all():
                break
        # Converged: no improvement left at any damping, or the accepted step is negligible.
        active[rows] = accepted & (largest_step > 5e-3)
    coefficients, residuals, response = project(parameters, everything)
    weight_sum = np.maximum(weights.sum(axis=1), 1.0)
    return TubeProfileFit(
        edges_px=parameters[:, :4],
        blur_sigma_px=np.exp(parameters[:, 4]),
        amplitude=coefficients[:, 0],
        contrast=np.ptp(response, axis=1),
        residual_rms=np.sqrt(_cost(residuals, weights) / weight_sum),
        residuals=residuals,
    )
