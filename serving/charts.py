"""The report's charts, drawn with Plotly from a result document: the reference curve and the annotated radiograph.

Each ``draw_*`` function adds its traces to a figure on the axes it is given and returns the layout of those
axes, so the same drawing serves the interactive HTML report (one figure per chart), the printed page (all
charts on one A4 figure) and the Secondary Capture for PACS. Series differ in lightness, dash and marker shape,
not in hue alone, so the page prints in greyscale.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from dxr.analysis.reference import ReferenceTable

__all__ = [
    "Axes",
    "draw_radiograph",
    "draw_reference_curve",
    "radiograph_figure",
    "reference_curve_figure",
    "shown_region",
]

FONT = "Arial, Helvetica, sans-serif"
# Greys for bands and lines: distinct when printed without colour.
_BAND_2SD = "rgba(0, 0, 0, 0.10)"
_BAND_1SD = "rgba(0, 0, 0, 0.20)"
# Overlay styles on the radiograph: (colour, dash, width). Light/dark alternation survives greyscale printing.
_OVERLAY = {
    "roi": ("#ffd400", "dash", 1.5),
    "outer": ("#ff3b30", "solid", 1.5),
    "inner": ("#00c8ff", "dot", 1.5),
    "axis": ("#ffffff", "dashdot", 1.0),
}
# The display window of the radiograph: robust percentiles of the pixels, not min/max (markers, collimation).
_WINDOW_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Axes:
    """The Plotly axis pair a chart is drawn on: ``("x", "y")``, ``("x2", "y2")``..."""

    x: str = "x"
    y: str = "y"

    @property
    def layout_keys(self) -> tuple[str, str]:
        """The layout attribute names of the pair (``xaxis2``, ``yaxis2``)."""
        return ("xaxis" + self.x[1:], "yaxis" + self.y[1:])


# ---------------------------------------------------------------------------------------- reference curve


def draw_reference_curve(
    fig: go.Figure,
    table: ReferenceTable,
    document: Mapping[str, Any],
    axes: Axes = Axes(),
) -> dict[str, dict[str, Any]]:
    """Mean, ±1 and ±2 SD of DXR-BMD against age from ``table``, the patient's point and the prior results.

    The T-score −2.5 line is drawn at the young-adult values the document's T-score was computed against, which
    need not be ``table``'s (by default a man's T-score uses the women's young-adult reference). Returns the
    layout of the two axes (titles, ranges) for the caller to place.
    """
    ages = np.array([point.age_years for point in table.age_curve])
    means = np.array([point.mean_g_cm2 for point in table.age_curve])
    sds = np.array([point.sd_g_cm2 for point in table.age_curve])
    common = {"xaxis": axes.x, "yaxis": axes.y, "hoverinfo": "skip"}
    for k, fill, name in ((2, _BAND_2SD, "±2 SD"), (1, _BAND_1SD, "±1 SD")):
        band_x = np.concatenate([ages, ages[::-1]])
        band_y = np.concatenate([means + k * sds, (means - k * sds)[::-1]])
        fig.add_trace(
            go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor=fill, line={"width": 0}, name=name, **common)
        )
    fig.add_trace(go.Scatter(x=ages, y=means, mode="lines", line={"color": "black", "width": 2}, name="mean", **common))
    t_score = document.get("t_score")
    osteoporosis_g_cm2 = None
    if t_score is not None:
        osteoporosis_g_cm2 = t_score["young_adult_mean_g_cm2"] - 2.5 * t_score["young_adult_sd_g_cm2"]
        fig.add_trace(
            go.Scatter(
                x=[ages[0], ages[-1]],
                y=[osteoporosis_g_cm2] * 2,
                mode="lines",
                line={"color": "black", "width": 1, "dash": "dash"},
                name="T-score −2.5",
                **common,
            )
        )
    current = _current_point(document)
    priors = _prior_points(document)
    if current is not None and priors:
        trend = sorted([*priors, current])
        fig.add_trace(
            go.Scatter(
                x=[age for age, _ in trend],
                y=[bmd for _, bmd in trend],
                mode="lines+markers",
                line={"color": "black", "width": 1, "dash": "dot"},
                marker={"symbol": "circle-open", "size": 8, "color": "black"},
                name="earlier results",
                xaxis=axes.x,
                yaxis=axes.y,
            )
        )
    if current is not None:
        fig.add_trace(
            go.Scatter(
                x=[current[0]],
                y=[current[1]],
                mode="markers",
                marker={"symbol": "diamond", "size": 13, "color": "black", "line": {"color": "white", "width": 1.5}},
                name="this result",
                xaxis=axes.x,
                yaxis=axes.y,
                hovertemplate="age %{x:.1f} y<br>DXR-BMD %{y:.3f} g/cm²<extra></extra>",
            )
        )
    points = ([current] if current else []) + priors
    values = [*(means - 2.5 * sds), *(means + 2.5 * sds), *(bmd for _, bmd in points)]
    values += [] if osteoporosis_g_cm2 is None else [osteoporosis_g_cm2]
    low, high = min(values), max(values)
    pad = 0.05 * (high - low)
    # The patient stays on the chart even outside the table's ages (the curve then simply ends).
    ages_shown = [*table.age_range_years, *(age for age, _ in points)]
    return {
        axes.layout_keys[0]: {
            "title": {"text": "age (years)"},
            "range": [min(ages_shown) - 1, max(ages_shown) + 1],
            "showgrid": True,
            "gridcolor": "#dddddd",
        },
        axes.layout_keys[1]: {
            "title": {"text": "DXR-BMD (g/cm²)"},
            "range": [low - pad, high + pad],
            "showgrid": True,
            "gridcolor": "#dddddd",
        },
    }


def _current_point(document: Mapping[str, Any]) -> tuple[float, float] | None:
    age = (document.get("patient") or {}).get("age_years")
    bmd = document.get("dxr_bmd_g_cm2")
    return None if age is None or bmd is None else (float(age), float(bmd))


def _prior_points(document: Mapping[str, Any]) -> list[tuple[float, float]]:
    """Earlier results as (age then, BMD): age now minus the interval between the two examinations."""
    age = (document.get("patient") or {}).get("age_years")
    comparisons = (document.get("change_since_prior") or {}).get("comparisons", [])
    if age is None:
        return []
    return [(float(age) - item["interval_years"], item["prior_bmd_g_cm2"]) for item in comparisons]


def reference_curve_figure(table: ReferenceTable, document: Mapping[str, Any]) -> go.Figure:
    """The reference curve as a figure of its own (HTML report)."""
    fig = go.Figure()
    layout = draw_reference_curve(fig, table, document)
    fig.update_layout(
        **layout,
        title={"text": f"DXR-BMD against age, reference {table.id} {table.version}"},
        template="simple_white",
        font={"family": FONT},
        legend={"orientation": "h", "y": -0.2},
        height=460,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


# ------------------------------------------------------------------------------------------------ radiograph


def draw_radiograph(
    fig: go.Figure,
    pixels: np.ndarray,
    document: Mapping[str, Any],
    axes: Axes = Axes(),
    *,
    max_side_px: int = 900,
    region: tuple[int, int, int, int] | None = None,
    line_scale: float = 1.0,
) -> dict[str, dict[str, Any]]:
    """The radiograph (bone bright) with each bone's axis, region of interest, fitted outer and inner edges
    and its name, in the input image's pixel coordinates.

    ``region`` (x0, y0, x1, y1) is the part shown; by default the metacarpals with a margin (the edges are
    sub-millimetre), see :func:`shown_region`. The image is embedded downsampled to at most ``max_side_px``
    pixels per side; ``line_scale`` thickens lines and labels for large renderings.
    """
    x0, y0, x1, y1 = region or shown_region(document, pixels.shape)
    view = pixels[y0:y1, x0:x1]
    scale = min(1.0, max_side_px / max(view.shape))
    size = (max(1, round(view.shape[1] * scale)), max(1, round(view.shape[0] * scale)))
    # A layout image, not an Image trace: the trace decodes the picture into a canvas for hover values, which
    # costs seconds at Secondary Capture size.
    image = {
        "source": _jpeg_data_uri(_display_window(view), size),
        "xref": axes.x,
        "yref": axes.y,
        "x": x0 - 0.5,  # pixel centres are integers: the first pixel covers from -0.5
        "y": y0 - 0.5,
        "sizex": view.shape[1],
        "sizey": view.shape[0],
        "xanchor": "left",
        "yanchor": "top",
        "sizing": "stretch",
        "layer": "below",
    }
    for bone in document.get("bones", []):
        _draw_bone(fig, bone, axes, line_scale)
    return {
        "images": [image],
        axes.layout_keys[0]: {"visible": False, "range": [x0 - 0.5, x1 - 0.5], "constrain": "domain"},
        axes.layout_keys[1]: {
            "visible": False,
            "range": [y1 - 0.5, y0 - 0.5],  # rows grow downwards
            "scaleanchor": axes.x,
            "constrain": "domain",
        },
    }


def _draw_bone(fig: go.Figure, bone: Mapping[str, Any], axes: Axes, line_scale: float) -> None:
    def line(points: Sequence[Sequence[float]], style: str, name: str, *, closed: bool = False) -> None:
        colour, dash, width = _OVERLAY[style]
        xy = np.asarray(points, dtype=float).reshape(-1, 2)
        if closed:
            xy = np.vstack([xy, xy[:1]])
        fig.add_trace(
            go.Scatter(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="lines",
                line={"color": colour, "dash": dash, "width": width * line_scale},
                name=name,
                legendgroup=style,
                showlegend=False,
                hoverinfo="name",
                xaxis=axes.x,
                yaxis=axes.y,
            )
        )

    if bone.get("axis_px") is None:
        return
    name = bone["name"]
    line(bone["axis_px"], "axis", f"{name} axis")
    if bone.get("roi_px"):
        line(bone["roi_px"], "roi", f"{name} region of interest", closed=True)
    for edge, points in (bone.get("edges_px") or {}).items():
        if len(points) > 1:
            line(points, "outer" if edge.startswith("outer") else "inner", f"{name} {edge.replace('_', ' ')} edge")
    anchor = np.asarray(bone["roi_px"] or bone["axis_px"], dtype=float)
    label = name if bone["status"] == "ok" else f"{name}: not measured"
    fig.add_annotation(
        x=float(anchor[:, 0].mean()),
        y=float(anchor[:, 1].min()),
        text=f"<b>{label}</b>",
        showarrow=False,
        yshift=12 * line_scale,
        font={"color": "black", "size": 12 * line_scale, "family": FONT},
        bgcolor="rgba(255,255,255,0.85)",
        xref=axes.x,
        yref=axes.y,
    )


def shown_region(
    document: Mapping[str, Any], shape: tuple[int, int], *, crop_to_bones: bool = True
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the radiograph to show: with ``crop_to_bones``, the bones' axes and regions with a
    margin of 40 % of their extent; the whole image otherwise, or when no bone was found."""
    rows, columns = shape
    points = [
        np.asarray(bone[key], dtype=float).reshape(-1, 2)
        for bone in document.get("bones", [])
        for key in ("axis_px", "roi_px")
        if bone.get(key)
    ]
    if not crop_to_bones or not points:
        return (0, 0, columns, rows)
    xy = np.vstack(points)
    (left, top), (right, bottom) = xy.min(axis=0), xy.max(axis=0)
    margin = 0.4 * max(right - left, bottom - top)
    return (
        max(0, int(left - margin)),
        max(0, int(top - margin)),
        min(columns, int(np.ceil(right + margin)) + 1),
        min(rows, int(np.ceil(bottom + margin)) + 1),
    )


def _display_window(pixels: np.ndarray) -> np.ndarray:
    low, high = np.percentile(
        pixels[:: max(1, pixels.shape[0] // 512), :: max(1, pixels.shape[1] // 512)], _WINDOW_PERCENTILES
    )
    scaled = (pixels.astype(np.float32) - low) / max(float(high - low), 1e-6)
    return np.clip(np.round(255 * scaled), 0, 255).astype(np.uint8)


def _jpeg_data_uri(grey: np.ndarray, size: tuple[int, int]) -> str:
    # JPEG, not PNG: a fifth of the bytes, and Chromium embeds it in the PDF as it is (half the render time).
    image = Image.fromarray(grey, mode="L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def radiograph_figure(
    pixels: np.ndarray,
    document: Mapping[str, Any],
    *,
    crop_to_bones: bool = True,
    height_px: int = 640,
    min_width_px: int = 64,
) -> go.Figure:
    """The annotated radiograph as a figure of its own, ``height_px`` tall and as wide as the shown region but
    at least ``min_width_px`` (a very tall image is then centred on black). For the HTML report and the
    Secondary Capture."""
    region = shown_region(document, pixels.shape, crop_to_bones=crop_to_bones)
    x0, y0, x1, y1 = region
    width_px = max(min_width_px, round(height_px * (x1 - x0) / (y1 - y0)))
    fig = go.Figure()
    layout = draw_radiograph(
        fig,
        pixels,
        document,
        region=region,
        max_side_px=max(width_px, height_px),  # embedded at the rendered size: no upscaling blur
        line_scale=max(1.0, height_px / 640),
    )
    fig.update_layout(
        **layout,
        font={"family": FONT},
        width=width_px,
        height=height_px,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        paper_bgcolor="black",
        plot_bgcolor="black",
    )
    return fig
