"""The product's result format: one JSON document per analysed image (documented in docs/result-format.md).

Pixel coordinates are ``[x, y]`` = (column, row) of the input image. Lengths in mm, BMD in g/cm². A value
that could not be trusted is ``null``, and the reasons say why.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np

from dxr.analysis.intake import IntakeError, Radiograph
from dxr.analysis.measurement import BoneMeasurement, HandMeasurement

SCHEMA_VERSION = "1.0"
_EDGE_NAMES = ("outer_left", "inner_left", "inner_right", "outer_right")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _points(array: np.ndarray) -> list[list[float]]:
    return np.round(np.asarray(array, dtype=np.float64), 2).tolist()


def _software() -> dict[str, str]:
    return {"name": "dxr-bmd", "version": version("dxr-bmd")}


def refused_document(path: str, error: IntakeError) -> dict[str, Any]:
    """The result of a file that intake refused: nothing measured, the reason recorded."""
    return {
        "schema_version": SCHEMA_VERSION,
        "software": _software(),
        "source": {"file": path},
        "status": "rejected",
        "rejection_reasons": [{"code": error.code.value, "message": error.reason}],
        "bones": [],
        "dxr_bmd_g_cm2": None,
    }


def result_document(
    radiograph: Radiograph, measurement: HandMeasurement, *, segmentation: dict[str, Any]
) -> dict[str, Any]:
    """The full result of an analysed image."""
    spacing = radiograph.spacing
    calibration = measurement.calibration
    return {
        "schema_version": SCHEMA_VERSION,
        "software": _software(),
        "source": {"file": radiograph.source_path, "format": radiograph.source_format},
        "status": measurement.status,
        "rejection_reasons": [flag.as_dict() for flag in measurement.rejection_reasons],
        "image": {
            "study_instance_uid": radiograph.study_instance_uid,
            "series_instance_uid": radiograph.series_instance_uid,
            "sop_instance_uid": radiograph.sop_instance_uid,
            "modality": radiograph.modality,
            "manufacturer": radiograph.manufacturer,
            "laterality": radiograph.laterality,
            "view": radiograph.view,
            "rows": radiograph.shape[0],
            "columns": radiograph.shape[1],
            "pixel_spacing_mm": None if spacing is None else [spacing.row_mm, spacing.column_mm],
            "spacing_source": None if spacing is None else spacing.source.value,
            "acquisition_date": None
            if radiograph.acquisition_date is None
            else radiograph.acquisition_date.isoformat(),
            "notes": list(radiograph.notes),
        },
        "patient": {"sex": radiograph.patient_sex, "age_years": _round(radiograph.age_years, 2)},
        "calibration": {
            "id": calibration.id,
            "version": calibration.version,
            "density_constant_g_cm3": calibration.density_constant_g_cm3,
            "derived": calibration.derived,
            "roi_fraction_of_length": [calibration.roi_start_fraction, calibration.roi_end_fraction],
        },
        "segmentation": segmentation,
        "bones": [_bone(bone) for bone in measurement.bones],
        "bones_used": list(measurement.bones_used),
        "dxr_bmd_g_cm2": _round(measurement.dxr_bmd_g_cm2, 4),
        "bhi": _round(measurement.bhi, 4),
        "mci": _round(measurement.mci, 4),
        "porosity": _round(measurement.porosity, 4),
        "cortical_thickness_mm": _round(measurement.cortical_thickness_mm, 4),
        "width_mm": _round(measurement.width_mm, 4),
    }


def _bone(bone: BoneMeasurement) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": bone.name,
        "status": bone.status,
        "flags": [flag.as_dict() for flag in bone.flags],
        "width_mm": _round(bone.width_mm, 4),
        "cortical_thickness_mm": _round(bone.cortical_thickness_mm, 4),
        "cortical_thickness_radial_mm": _round(bone.cortical_thickness_radial_mm, 4),
        "cortical_thickness_ulnar_mm": _round(bone.cortical_thickness_ulnar_mm, 4),
        "length_mm": _round(bone.length_mm, 2),
        "vpa_mm": _round(bone.vpa_mm, 4),
        "porosity": _round(bone.porosity, 4),
        "bmd_g_cm2": _round(bone.bmd_g_cm2, 4),
        "mci": _round(bone.mci, 4),
        "barnett_nordin_index": _round(bone.barnett_nordin_index, 4),
        "exton_smith_index": _round(bone.exton_smith_index, 5),
        "bhi": _round(bone.bhi, 4),
        "n_profiles": bone.n_profiles,
        "n_profiles_rejected": bone.n_profiles_rejected,
        "axis_px": None,
        "roi_px": None,
        "radial_side": None,
        "edges_px": None,
    }
    geometry = bone.geometry
    if geometry is not None:
        points = geometry.edge_points_px()[geometry.valid]
        document.update(
            axis_px=_points(geometry.axis.end_points()),
            roi_px=_points(geometry.roi_polygon_px),
            radial_side=geometry.radial_side,
            edges_px={name: _points(points[:, k]) for k, name in enumerate(_EDGE_NAMES)},
        )
    return document
