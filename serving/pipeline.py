"""The whole job for one image: intake -> label map -> radiogrammetry -> scores -> result document.

One :class:`Pipeline` per process holds what is loaded once (calibration, reference tables, scoring policy,
precision); the CLI and the services call :meth:`Pipeline.analyze`. A file that cannot be analysed still
gives a document (status "rejected" with its reason): nothing accepted is lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dxr.analysis.densitometry import Calibration
from dxr.analysis.intake import (
    IntakeError,
    Radiograph,
    dicom_metadata,
    read_calibration,
    read_dicom_header,
    read_label_map,
    read_precision,
    read_radiograph,
    read_reference_table,
    read_scoring_policy,
    shipped_reference_tables,
)
from dxr.analysis.measurement import HandMeasurement, measure_hand
from dxr.analysis.reference import ReferenceTable
from dxr.analysis.scores import DEFAULT_POLICY, Examination, Precision, PriorResult, ScoringPolicy, score
from dxr.models.runtime import Segmenter
from dxr.serving.results import prior_result_from_document, refused_document, result_document, scores_document

__all__ = ["AnalysisRequest", "AnalysisResult", "Pipeline"]


@dataclass(frozen=True)
class AnalysisRequest:
    """What the caller says about one image beyond the file itself."""

    pixel_spacing_mm: float | None = None
    acquired_for_dxr: bool = False  # CPT 0750T when the view was taken for DXR-BMD, else 0749T
    priors: tuple[PriorResult, ...] = field(default=())


@dataclass(frozen=True)
class AnalysisResult:
    """The result document of one file, and the image it was measured on (for reports and DICOM outputs)."""

    document: dict[str, Any]
    radiograph: Radiograph | None  # None when intake refused the image file


@dataclass(frozen=True)
class Pipeline:
    """Everything loaded once per process."""

    calibration: Calibration
    tables: tuple[ReferenceTable, ...]
    policy: ScoringPolicy
    precision: Precision
    segmenter: Segmenter | None = None  # without one, every image needs a label map

    @classmethod
    def load(
        cls,
        *,
        calibration: str | Path | None = None,
        reference_tables: Sequence[str | Path] = (),
        scoring_policy: str | Path | None = None,
        precision: str | Path | None = None,
        segmenter: Segmenter | None = None,
    ) -> Pipeline:
        """The shipped configuration, with a site's files added or substituted. Raises ``ValueError``."""
        tables = shipped_reference_tables() + tuple(read_reference_table(path) for path in reference_tables)
        return cls(
            calibration=read_calibration(calibration),
            tables=tables,
            policy=DEFAULT_POLICY if scoring_policy is None else read_scoring_policy(scoring_policy),
            precision=read_precision(precision),
            segmenter=segmenter,
        )

    def analyze(self, path: str | Path, label_map_path: str | Path | None, request: AnalysisRequest) -> AnalysisResult:
        """The result of one file, measured with a given label map or the network's."""
        radiograph = None
        try:
            radiograph = read_radiograph(path, pixel_spacing_mm=request.pixel_spacing_mm)
            if label_map_path is not None:
                label_map = read_label_map(label_map_path, radiograph.shape)
        except IntakeError as error:
            try:
                header = dicom_metadata(read_dicom_header(path))
            except IntakeError:
                header = None
            return AnalysisResult(refused_document(str(path), error, header), radiograph)
        if label_map_path is not None:
            segmentation = {"source": "label_map", "file": str(label_map_path)}
        elif self.segmenter is not None:
            spacing = None if radiograph.spacing is None else radiograph.spacing.mean_mm
            label_map = self.segmenter.segment(radiograph.pixels, spacing)
            segmentation = {"source": "model", "model": self.segmenter.info.as_dict()}
        else:
            raise ValueError("no label map given and no segmentation model loaded")
        return AnalysisResult(
            self.analyze_arrays(radiograph, label_map, request, segmentation=segmentation), radiograph
        )

    def analyze_arrays(
        self,
        radiograph: Radiograph,
        label_map: np.ndarray,
        request: AnalysisRequest,
        *,
        segmentation: dict[str, Any],
    ) -> dict[str, Any]:
        """The result document of an image already in memory."""
        measurement = measure_hand(radiograph, label_map, self.calibration)
        document = result_document(radiograph, measurement, segmentation=segmentation)
        if segmentation.get("model"):
            document["model"] = segmentation["model"]
        if measurement.status == "ok":
            document.update(scores_document(self._score(radiograph, measurement, request)))
        return document

    def _score(self, radiograph: Radiograph, measurement: HandMeasurement, request: AnalysisRequest):
        examination = Examination(
            bmd_g_cm2=float(measurement.dxr_bmd_g_cm2),  # type: ignore[arg-type]
            sex=radiograph.patient_sex,
            age_years=radiograph.age_years,
            date=radiograph.acquisition_date or radiograph.study_date,
            laterality=radiograph.laterality,
            method_id=self.calibration.id,
            method_version=self.calibration.version,
        )
        return score(
            examination,
            self.tables,
            self.policy,
            acquired_for_dxr=request.acquired_for_dxr,
            priors=request.priors,
            precision=self.precision if request.priors else None,
        )


def read_prior(path: str | Path) -> PriorResult:
    """A prior result from an earlier result document; ``ValueError`` naming the file when it cannot be one."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return prior_result_from_document(document)
    except (OSError, json.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: not a usable prior result ({exc})") from None
