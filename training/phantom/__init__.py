"""Synthetic PA hand radiographs with exact ground truth (``dxr phantom``).

Public API
----------
:func:`generate_case`
    One case in memory: presentation image, label map, truth dictionary, DICOM dataset.
:func:`write_case`
    Write a case as ``NAME.dcm``, ``NAME_labels.png`` and ``NAME_truth.json``.
:func:`generate_dataset`
    Generate and write N cases (optionally in parallel) plus ``manifest.json``.
:class:`PhantomConfig`
    What varies between cases and how.

See ``docs/phantom.md`` for the model, the label convention and the truth file.
"""

from .dataset import (
    LABELS,
    DatasetSummary,
    PhantomCase,
    PhantomConfig,
    case_name,
    generate_case,
    generate_dataset,
    write_case,
)
from .dicom_writer import DicomVariant

__all__ = [
    "LABELS",
    "DatasetSummary",
    "DicomVariant",
    "PhantomCase",
    "PhantomConfig",
    "case_name",
    "generate_case",
    "generate_dataset",
    "write_case",
]
