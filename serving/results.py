"""The product's result format: one JSON document per analysed image (documented in docs/result-format.md).

Pixel coordinates are ``[x, y]`` = (column, row) of the input image. Lengths in mm, BMD in g/cm². A value
that could not be trusted is ``null``, and the reasons say why.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any

import numpy as np

from dxr.analysis.intake import IntakeError, Radiograph
from dxr.analysis.measurement import BoneMeasurement, HandMeasurement
from dxr.analysis.reference import ReferenceTable
from dxr.analysis.scores import (
    ISCD_SOURCE,
    TRIAGE_LIKELY_BELOW_T,
    TRIAGE_SOURCE,
    TRIAGE_UNLIKELY_ABOVE_T,
    WHO_SOURCE,
    FractureRisk,
    Monitoring,
    PriorResult,
    Scores,
)

SCHEMA_VERSION = "1.1"
_EDGE_NAMES = ("outer_left", "inner_left", "inner_right", "outer_right")
_IDENTITY_FIELDS = (
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "age_years",
    "study_date",
    "accession_number",
    "institution_name",
)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits) + 0.0  # + 0.0: no "-0.0" in JSON


def _points(array: np.ndarray) -> list[list[float]]:
    return np.round(np.asarray(array, dtype=np.float64), 2).tolist()


def _software() -> dict[str, str]:
    return {"name": "dxr-bmd", "version": version("dxr-bmd")}


def refused_document(path: str, error: IntakeError, header: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The result of a file that intake refused: nothing measured, the reason recorded.

    ``header`` (:func:`~dxr.analysis.intake.dicom_metadata` of the file, when its header was readable) names the
    patient and study, so a refused image can still be traced and retaken.
    """
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "software": _software(),
        "source": {"file": path},
        "status": "rejected",
        "rejection_reasons": [{"code": error.code.value, "message": error.reason}],
    }
    if header is not None:
        document.update(_identity(header))
        document["image"] = {
            key: header[key]
            for key in ("study_instance_uid", "series_instance_uid", "sop_instance_uid", "modality", "laterality")
        }
    document.update(bones=[], dxr_bmd_g_cm2=None)
    return document


def _identity(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Who and which study: the ``patient`` and ``study`` blocks, from :class:`Radiograph` fields."""

    def day(value: dt.date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "patient": {
            "name": fields["patient_name"],
            "id": fields["patient_id"],
            "birth_date": day(fields["patient_birth_date"]),
            "sex": fields["patient_sex"],
            "age_years": _round(fields["age_years"], 2),
        },
        "study": {
            "date": day(fields["study_date"]),
            "accession_number": fields["accession_number"],
            "institution": fields["institution_name"],
        },
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
        **_identity({name: getattr(radiograph, name) for name in _IDENTITY_FIELDS}),
        "calibration": {
            "id": calibration.id,
            "version": calibration.version,
            "density_constant_g_cm3": calibration.density_constant_g_cm3,
            "derived": calibration.derived,
            "roi_fraction_of_length": [calibration.roi_start_fraction, calibration.roi_end_fraction],
            "bmd_porosity": calibration.bmd_porosity,
            "reference_porosity": calibration.reference_porosity,
        },
        "segmentation": segmentation,
        "bones": [_bone(bone) for bone in measurement.bones],
        "bones_used": list(measurement.bones_used),
        "dxr_bmd_g_cm2": _round(measurement.dxr_bmd_g_cm2, 4),
        "bhi": _round(measurement.bhi, 4),
        "mci": _round(measurement.mci, 4),
        "porosity": _round(measurement.porosity, 4),
        "bmd_porosity": _round(measurement.bmd_porosity, 4),
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


# ------------------------------------------------------------------------------------------------ scores


def scores_document(scores: Scores) -> dict[str, Any]:
    """The fields the scores add to the result document of ``dxr analyze`` (shape in docs/scores.md).

    Always present: ``t_score``, ``z_score``, ``category``, ``triage``, ``fracture_risk`` (each ``null`` when
    withheld), ``reference``, ``cpt_code``, ``score_flags``; ``change_since_prior`` only when priors were given.
    """
    t, z = scores.t_score, scores.z_score
    document: dict[str, Any] = {
        "t_score": None
        if t is None
        else {
            "value": _round(t.value, 2),
            "reported": t.reported,
            "primary": t.primary,
            "young_adult_mean_g_cm2": t.young_adult_mean_g_cm2,
            "young_adult_sd_g_cm2": t.young_adult_sd_g_cm2,
            "basis": t.basis,
            "table": f"{t.table.id} {t.table.version}",
        },
        "z_score": None
        if z is None
        else {
            "value": _round(z.value, 2),
            "reported": z.reported,
            "primary": z.primary,
            "age_years": _round(z.age_years, 2),
            "age_matched_mean_g_cm2": _round(z.age_matched_mean_g_cm2, 4),
            "age_matched_sd_g_cm2": _round(z.age_matched_sd_g_cm2, 4),
            "below_expected_range": z.below_expected_range,
            "statement": z.statement,
            "table": f"{z.table.id} {z.table.version}",
            "source": ISCD_SOURCE,
        },
        "category": None
        if scores.category is None
        else {
            "code": scores.category.code.value,
            "label": scores.category.label,
            "t_score_reported": scores.category.t_score_reported,
            "dxr_based": True,
            "source": WHO_SOURCE,
        },
        "triage": None
        if scores.triage is None
        else {
            "band": scores.triage.band.value,
            "advice": scores.triage.advice,
            "t_score_reported": scores.triage.t_score_reported,
            "thresholds": {"unlikely_above": TRIAGE_UNLIKELY_ABOVE_T, "likely_below": TRIAGE_LIKELY_BELOW_T},
            "validated_in": "women aged 50 and over",
            "validated_for_patient": scores.triage.validated_for_patient,
            "source": TRIAGE_SOURCE,
        },
        "fracture_risk": _fracture_risk_document(scores.fracture_risk),
        "reference": {
            "t_score_table": None if scores.t_table is None else _table_document(scores.t_table),
            "z_score_table": None if scores.z_table is None else _table_document(scores.z_table),
            "male_t_score_policy": scores.policy.male_t_score_reference.value,
            "age_rules": (
                "no scores under 20 y; under 50 y (women: proxy for premenopausal) the Z-score is primary, "
                "no WHO category, no triage; 50 y and over the T-score is primary"
            ),
        },
        "cpt_code": {
            "code": scores.cpt.code,
            "description": scores.cpt.description,
            "acquired_for_dxr": scores.cpt.acquired_for_dxr,
            "reason": scores.cpt.reason,
        },
        "score_flags": [flag.as_dict() for flag in scores.flags],
    }
    if scores.monitoring is not None:
        document["change_since_prior"] = _monitoring_document(scores.monitoring)
    return document


def _fracture_risk_document(risk: FractureRisk | None) -> dict[str, Any] | None:
    if risk is None:
        return None
    return {
        "outcome": "hip fracture",
        "relative_risk_vs_age_matched_average": _round(risk.relative_risk, 2),
        "z_score": _round(risk.z_score, 2),
        "hazard_ratio_per_sd": risk.evidence.hazard_ratio_per_sd,
        "auc": risk.evidence.auc,
        "cohort": risk.evidence.cohort,
        "statement": risk.statement,
        "caveats": list(risk.caveats),
        "source": risk.evidence.source,
    }


def _table_document(table: ReferenceTable) -> dict[str, Any]:
    young = table.young_adult
    return {
        "id": table.id,
        "version": table.version,
        "population": table.population,
        "sex": table.sex,
        "age_range_years": list(table.age_range_years),
        "young_adult_mean_g_cm2": young.mean_g_cm2,
        "young_adult_sd_g_cm2": young.sd_g_cm2,
        "young_adult_derived": table.young_adult_derived,
        "age_curve_derived": table.age_curve_derived,
        "derived": table.derived,
        "sources": [text for _, text in table.sources],
    }


def _monitoring_document(monitoring: Monitoring) -> dict[str, Any]:
    precision = monitoring.precision
    return {
        "precision": {
            "id": precision.id,
            "version": precision.version,
            "cv_percent": precision.cv_percent,
            "basis": precision.basis,
            "lsc_percent": _round(precision.lsc_percent, 2),
            "rule": "LSC = 2.77 x CV (95 % confidence, ISCD); significant when |change| >= LSC",
        },
        "comparisons": [
            {
                "prior_result_id": change.prior.result_id,
                "prior_date": change.prior.date.isoformat(),
                "current_date": change.current_date.isoformat(),
                "prior_bmd_g_cm2": _round(change.prior.bmd_g_cm2, 4),
                "current_bmd_g_cm2": _round(change.current_bmd_g_cm2, 4),
                "delta_g_cm2": _round(change.delta_g_cm2, 4),
                "delta_percent": _round(change.delta_percent, 2),
                "interval_years": _round(change.interval_years, 2),
                "annualised_percent_per_year": _round(change.annualised_percent_per_year, 2),
                "lsc_percent": _round(change.lsc_percent, 2),
                "lsc_g_cm2": _round(change.lsc_g_cm2, 4),
                "significant": change.significant,
                "direction": change.direction,
            }
            for change in monitoring.changes
        ],
        "excluded": [
            {"prior_result_id": item.prior.result_id, "prior_date": item.prior.date.isoformat(), **item.flag.as_dict()}
            for item in monitoring.excluded
        ],
    }


def prior_result_from_document(document: Mapping[str, Any]) -> PriorResult:
    """A :class:`PriorResult` from an earlier result document of ``dxr analyze`` (docs/result-format.md).

    Uses ``dxr_bmd_g_cm2``, ``image.acquisition_date`` (else ``study.date``; ISO dates), ``image.laterality``,
    ``calibration.id``/``version`` and ``image.sop_instance_uid`` (else ``source.file``) as the result id.

    Raises
    ------
    ValueError
        The document was rejected, or lacks a BMD or a date.
    """
    if document.get("status") != "ok" or document.get("dxr_bmd_g_cm2") is None:
        raise ValueError("the prior result has no DXR-BMD (rejected image)")
    image = document.get("image") or {}
    calibration = document.get("calibration") or {}
    text = image.get("acquisition_date") or (document.get("study") or {}).get("date")
    if not (isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)):
        raise ValueError(f"the prior result has no acquisition date (got {text!r})")
    return PriorResult(
        date=dt.date.fromisoformat(text),
        bmd_g_cm2=float(document["dxr_bmd_g_cm2"]),
        laterality=image.get("laterality"),
        method_id=calibration.get("id"),
        method_version=calibration.get("version"),
        result_id=image.get("sop_instance_uid") or (document.get("source") or {}).get("file"),
    )
