"""Normative reference tables of DXR-BMD: the young-adult and age-matched means and SDs behind T- and Z-scores.

A table is a versioned data file (``analysis/data/reference-*.json``, format in docs/scores.md) turned into a
validated :class:`ReferenceTable` by :func:`reference_table_from_mapping`. Every value carries its provenance,
``"published:<source key>"`` or ``"derived:<derivation key>"``, and the key must name an entry of the table's
``sources`` or ``derivations``: a number without a stated origin cannot be loaded (DOMAIN.md: numbers marked
[derived] must say so in the output). No file is read here; :mod:`dxr.analysis.intake` reads the files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ADULT_MIN_AGE_YEARS",
    "REFERENCE_TABLE_FORMAT",
    "CurvePoint",
    "ReferenceTable",
    "YoungAdultReference",
    "provenance_kind",
    "reference_table_from_mapping",
]

REFERENCE_TABLE_FORMAT = "dxr-reference-table/1"

# The normative cohorts start at 20 y (Black 2001; J Clin Densitom 2013;16:183): there is no DXR reference for
# children here, so no table may claim to cover younger ages.
ADULT_MIN_AGE_YEARS = 20.0
_MAX_AGE_YEARS = 110.0
# Plausibility bounds, wide around every published DXR-BMD mean (0.489-0.675 g/cm2) and SD (0.034-0.050): a
# value outside them is a unit or typing error (mg/cm2, a T-score in the mean column...), not a population.
_MEAN_RANGE_G_CM2 = (0.1, 1.5)
_SD_RANGE_G_CM2 = (0.005, 0.3)
_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")
_PROVENANCE_PATTERN = re.compile(r"(published|derived):([A-Za-z0-9_.-]+)")

_TABLE_FIELDS = frozenset(
    {
        "format",
        "id",
        "version",
        "population",
        "sex",
        "age_range_years",
        "young_adult",
        "age_curve",
        "derived",
        "sources",
        "derivations",
        "notes",
    }
)
_OPTIONAL_TABLE_FIELDS = frozenset({"derivations", "notes"})
_YOUNG_ADULT_FIELDS = frozenset({"mean_g_cm2", "sd_g_cm2", "mean_provenance", "sd_provenance"})
_POINT_FIELDS = _YOUNG_ADULT_FIELDS | {"age_years"}


def provenance_kind(provenance: str) -> str:
    """``"published"`` or ``"derived"``: the kind of a provenance reference.

    >>> provenance_kind("published:black2001")
    'published'
    >>> provenance_kind("derived:male_factor")
    'derived'
    """
    match = _PROVENANCE_PATTERN.fullmatch(provenance)
    if match is None:
        raise ValueError(f"provenance {provenance!r} must read 'published:<source key>' or 'derived:<derivation key>'")
    return match.group(1)


def _check_mean_sd(mean_g_cm2: float, sd_g_cm2: float, where: str) -> None:
    low, high = _MEAN_RANGE_G_CM2
    if not (math.isfinite(mean_g_cm2) and low <= mean_g_cm2 <= high):
        raise ValueError(f"{where}: mean_g_cm2 {mean_g_cm2!r} outside the plausible {low}-{high} g/cm2")
    low, high = _SD_RANGE_G_CM2
    if not (math.isfinite(sd_g_cm2) and low <= sd_g_cm2 <= high):
        raise ValueError(f"{where}: sd_g_cm2 {sd_g_cm2!r} outside the plausible {low}-{high} g/cm2")


@dataclass(frozen=True)
class YoungAdultReference:
    """The young-adult mean and SD of a table: the reference of the T-score.

    ``mean_provenance`` and ``sd_provenance`` are ``"published:<source key>"`` or ``"derived:<derivation key>"``.
    """

    mean_g_cm2: float
    sd_g_cm2: float
    mean_provenance: str
    sd_provenance: str

    def __post_init__(self) -> None:
        _check_mean_sd(self.mean_g_cm2, self.sd_g_cm2, "young_adult")
        provenance_kind(self.mean_provenance)
        provenance_kind(self.sd_provenance)


@dataclass(frozen=True)
class CurvePoint:
    """One knot of the age curve: the age-matched mean and SD at ``age_years``, each with its provenance."""

    age_years: float
    mean_g_cm2: float
    sd_g_cm2: float
    mean_provenance: str
    sd_provenance: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.age_years):
            raise ValueError(f"age curve point: age_years {self.age_years!r} is not a number")
        _check_mean_sd(self.mean_g_cm2, self.sd_g_cm2, f"age curve point at {self.age_years} y")
        provenance_kind(self.mean_provenance)
        provenance_kind(self.sd_provenance)


@dataclass(frozen=True)
class ReferenceTable:
    """A versioned normative table of DXR-BMD for one sex and population.

    Parameters
    ----------
    id, version
        Identify the table in every result. ``id`` is lower case (letters, digits, ``.``, ``_``, ``-``).
    population
        Who the table describes, in words (printed on the report).
    sex
        ``"F"`` or ``"M"``.
    age_range_years
        ``(first, last)``: the ages the table covers, inclusive; at least 20 y (no paediatric reference).
        Outside it there is no age-matched value (no Z-score).
    young_adult
        Mean and SD of young adults, the T-score reference.
    age_curve
        Knots of the age-matched mean and SD, in strictly increasing age, all within ``age_range_years``.
        Linear interpolation between knots; between the range ends and the outer knots the outer value is
        held (flat), and never beyond the covered range.
    derived
        True when any value is derived (must agree with the provenances).
    sources, derivations
        ``(key, text)`` pairs: the publications, and how each derived value was obtained. Every provenance
        must name one of them.
    notes
        Free text for the reader.
    """

    id: str
    version: str
    population: str
    sex: str
    age_range_years: tuple[float, float]
    young_adult: YoungAdultReference
    age_curve: tuple[CurvePoint, ...]
    derived: bool
    sources: tuple[tuple[str, str], ...]
    derivations: tuple[tuple[str, str], ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        if not (isinstance(self.id, str) and _ID_PATTERN.fullmatch(self.id)):
            raise ValueError(f"id {self.id!r}: use lower-case letters, digits, '.', '_' or '-' (not empty)")
        if not (isinstance(self.version, str) and self.version.strip() and not re.search(r"\s", self.version)):
            raise ValueError(f"table {self.id}: version {self.version!r} must be a non-empty word")
        if not (isinstance(self.population, str) and self.population.strip()):
            raise ValueError(f"table {self.id}: population must say who the table describes")
        if self.sex not in ("F", "M"):
            raise ValueError(f"table {self.id}: sex {self.sex!r} must be 'F' or 'M'")
        self._check_age_range()
        self._check_curve()
        self._check_provenance()

    def _check_age_range(self) -> None:
        first, last = self.age_range_years
        if not (ADULT_MIN_AGE_YEARS <= first < last <= _MAX_AGE_YEARS):
            raise ValueError(
                f"table {self.id}: age_range_years {list(self.age_range_years)} must satisfy "
                f"{ADULT_MIN_AGE_YEARS:g} <= first < last <= {_MAX_AGE_YEARS:g} (adult tables only)"
            )

    def _check_curve(self) -> None:
        if not self.age_curve:
            raise ValueError(f"table {self.id}: age_curve needs at least one point")
        first, last = self.age_range_years
        previous = -math.inf
        for index, point in enumerate(self.age_curve):
            if point.age_years <= previous:
                raise ValueError(
                    f"table {self.id}: age_curve[{index}] at {point.age_years} y: ages must strictly increase "
                    f"(previous {previous} y)"
                )
            if not first <= point.age_years <= last:
                raise ValueError(
                    f"table {self.id}: age_curve[{index}] at {point.age_years} y lies outside age_range_years "
                    f"{list(self.age_range_years)}"
                )
            previous = point.age_years

    def _check_provenance(self) -> None:
        for kind, pairs in (("sources", self.sources), ("derivations", self.derivations)):
            keys = [key for key, _ in pairs]
            if len(set(keys)) != len(keys):
                raise ValueError(f"table {self.id}: duplicate keys in {kind}")
            for key, text in pairs:
                if not (_KEY_PATTERN.fullmatch(key) and isinstance(text, str) and text.strip()):
                    raise ValueError(f"table {self.id}: {kind} entry {key!r} needs a key and a non-empty text")
        if not self.sources:
            raise ValueError(f"table {self.id}: sources must name at least one publication")
        source_keys = {key for key, _ in self.sources}
        derivation_keys = {key for key, _ in self.derivations}
        any_derived = False
        for where, provenance in self._provenances():
            kind = provenance_kind(provenance)
            key = provenance.split(":", 1)[1]
            known = source_keys if kind == "published" else derivation_keys
            if key not in known:
                listing = "sources" if kind == "published" else "derivations"
                raise ValueError(f"table {self.id}: {where} cites {provenance!r}, but {listing} has no key {key!r}")
            any_derived |= kind == "derived"
        if self.derived != any_derived:
            raise ValueError(
                f"table {self.id}: derived is {str(self.derived).lower()} but "
                + ("some values are derived" if any_derived else "every value is published")
            )

    def _provenances(self) -> list[tuple[str, str]]:
        items = [
            ("young_adult.mean_provenance", self.young_adult.mean_provenance),
            ("young_adult.sd_provenance", self.young_adult.sd_provenance),
        ]
        for index, point in enumerate(self.age_curve):
            items.append((f"age_curve[{index}].mean_provenance", point.mean_provenance))
            items.append((f"age_curve[{index}].sd_provenance", point.sd_provenance))
        return items

    @property
    def young_adult_derived(self) -> bool:
        """Whether the T-score reference (young-adult mean or SD) is derived."""
        young = self.young_adult
        return "derived" in (provenance_kind(young.mean_provenance), provenance_kind(young.sd_provenance))

    @property
    def age_curve_derived(self) -> bool:
        """Whether any age-matched value (the Z-score reference) is derived."""
        return any(
            provenance_kind(provenance) == "derived"
            for point in self.age_curve
            for provenance in (point.mean_provenance, point.sd_provenance)
        )

    def covers_age(self, age_years: float) -> bool:
        """Whether the table has an age-matched value at ``age_years`` (inclusive range)."""
        first, last = self.age_range_years
        return first <= age_years <= last

    def age_matched(self, age_years: float) -> tuple[float, float] | None:
        """The age-matched ``(mean_g_cm2, sd_g_cm2)``, or ``None`` outside the covered range.

        Linear interpolation between knots; flat beyond the outer knots, but only within ``age_range_years``.
        """
        if not self.covers_age(age_years):
            return None
        ages = [point.age_years for point in self.age_curve]
        mean = float(np.interp(age_years, ages, [point.mean_g_cm2 for point in self.age_curve]))
        sd = float(np.interp(age_years, ages, [point.sd_g_cm2 for point in self.age_curve]))
        return mean, sd

    def provenance_text(self, provenance: str) -> str:
        """The source or derivation text a provenance reference points to."""
        kind = provenance_kind(provenance)
        key = provenance.split(":", 1)[1]
        return dict(self.sources if kind == "published" else self.derivations)[key]


# ------------------------------------------------------------------------------------ from parsed JSON


def reference_table_from_mapping(data: Mapping[str, object]) -> ReferenceTable:
    """Build and validate a :class:`ReferenceTable` from a parsed table file (docs/scores.md).

    Every problem raises ``ValueError`` with a message naming the field: a missing or unknown field, a value of
    the wrong type (numbers must be JSON numbers, not strings), an implausible mean or SD, ages out of order
    or outside the covered range, a provenance that names no source or derivation, or a ``derived`` flag
    that contradicts the provenances.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a reference table is a JSON object, got {type(data).__name__}")
    _check_fields(data, _TABLE_FIELDS, _OPTIONAL_TABLE_FIELDS, "reference table")
    if data["format"] != REFERENCE_TABLE_FORMAT:
        raise ValueError(f"format {data['format']!r} is not {REFERENCE_TABLE_FORMAT!r}")
    age_range = data["age_range_years"]
    if not (isinstance(age_range, Sequence) and not isinstance(age_range, str) and len(age_range) == 2):
        raise ValueError(f"age_range_years must be [first, last], got {age_range!r}")
    young = data["young_adult"]
    if not isinstance(young, Mapping):
        raise ValueError("young_adult must be an object with mean_g_cm2, sd_g_cm2, mean_provenance, sd_provenance")
    _check_fields(young, _YOUNG_ADULT_FIELDS, frozenset(), "young_adult")
    curve = data["age_curve"]
    if not (isinstance(curve, Sequence) and not isinstance(curve, str)):
        raise ValueError("age_curve must be a list of points")
    points = []
    for index, point in enumerate(curve):
        where = f"age_curve[{index}]"
        if not isinstance(point, Mapping):
            raise ValueError(f"{where} must be an object")
        _check_fields(point, _POINT_FIELDS, frozenset(), where)
        points.append(
            CurvePoint(
                age_years=_number(point["age_years"], f"{where}.age_years"),
                mean_g_cm2=_number(point["mean_g_cm2"], f"{where}.mean_g_cm2"),
                sd_g_cm2=_number(point["sd_g_cm2"], f"{where}.sd_g_cm2"),
                mean_provenance=_text(point["mean_provenance"], f"{where}.mean_provenance"),
                sd_provenance=_text(point["sd_provenance"], f"{where}.sd_provenance"),
            )
        )
    derived = data["derived"]
    if not isinstance(derived, bool):
        raise ValueError(f"derived must be true or false, got {derived!r}")
    return ReferenceTable(
        id=_text(data["id"], "id"),
        version=_text(data["version"], "version"),
        population=_text(data["population"], "population"),
        sex=_text(data["sex"], "sex"),
        age_range_years=(
            _number(age_range[0], "age_range_years[0]"),
            _number(age_range[1], "age_range_years[1]"),
        ),
        young_adult=YoungAdultReference(
            mean_g_cm2=_number(young["mean_g_cm2"], "young_adult.mean_g_cm2"),
            sd_g_cm2=_number(young["sd_g_cm2"], "young_adult.sd_g_cm2"),
            mean_provenance=_text(young["mean_provenance"], "young_adult.mean_provenance"),
            sd_provenance=_text(young["sd_provenance"], "young_adult.sd_provenance"),
        ),
        age_curve=tuple(points),
        derived=derived,
        sources=_pairs(data["sources"], "sources"),
        derivations=_pairs(data.get("derivations", {}), "derivations"),
        notes=_text(data.get("notes", ""), "notes", allow_empty=True),
    )


def _check_fields(data: Mapping[str, object], allowed: frozenset[str], optional: frozenset[str], where: str) -> None:
    missing = sorted(allowed - optional - set(data))
    if missing:
        raise ValueError(f"{where} lacks the field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        # A misspelt field would otherwise be silently ignored.
        raise ValueError(f"{where} has unknown field(s) {', '.join(map(str, unknown))}")


def _number(value: object, where: str) -> float:
    """A JSON number (not a string, not a boolean), finite.

    >>> _number(0.5, "x")
    0.5
    >>> _number("0.5", "x")
    Traceback (most recent call last):
    ...
    ValueError: x must be a number, got '0.5'
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} must be a number, got {value!r}")
    return float(value)


def _text(value: object, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise ValueError(f"{where} must be a {'' if allow_empty else 'non-empty '}string, got {value!r}")
    return value


def _pairs(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object of key: text")
    return tuple((str(key), _text(text, f"{where}.{key}")) for key, text in value.items())
