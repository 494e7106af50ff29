"""T- and Z-scores of a DXR-BMD and what they mean: categories, triage, fracture risk, monitoring, billing code.

Dataclasses in, dataclasses out; no file is read here (:mod:`dxr.analysis.intake` reads the reference tables and
the precision file). Every rule and number below comes from DOMAIN.md sections 2, 3 and 7 with its source; the
rules and their defaults are documented in docs/scores.md.

What is stated for whom (ISCD, DOMAIN.md section 3):

- under 20 y, or age or sex unknown: no scores at all (reason code); the tables hold adults only;
- women under 50 (the proxy for premenopausal: menopausal status is not in an image) and men under 50: the
  Z-score is the primary statement, no WHO category, no triage;
- 50 y and over: the T-score is primary, with the WHO category (labelled DXR-based, not a DXA diagnosis) and
  the DXR triage band (validated in women >= 50; applied to men >= 50 with a flag saying so).

T-scores and Z-scores are classified as printed, rounded half away from zero to 0.1 SD, so that the printed
number and its category never disagree.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from dxr.analysis.quality import Flag
from dxr.analysis.reference import ADULT_MIN_AGE_YEARS, ReferenceTable

__all__ = [
    "DEFAULT_POLICY",
    "FRACTURE_RISK_MIN_AGE_YEARS",
    "HIP_FRACTURE_EVIDENCE",
    "LSC_FACTOR",
    "PRECISION_FORMAT",
    "SCORING_POLICY_FORMAT",
    "T_SCORE_MIN_AGE_YEARS",
    "Category",
    "Change",
    "CptCode",
    "Examination",
    "ExcludedPrior",
    "FractureRisk",
    "HipFractureEvidence",
    "MaleTScoreReference",
    "Monitoring",
    "Precision",
    "PriorResult",
    "ScoreCode",
    "Scores",
    "ScoringPolicy",
    "TScore",
    "Triage",
    "TriageBand",
    "WhoCategory",
    "ZScore",
    "compare_with_priors",
    "cpt_code",
    "least_significant_change_percent",
    "precision_from_mapping",
    "relative_hip_fracture_risk",
    "reported_score",
    "score",
    "scoring_policy_from_mapping",
    "t_score",
    "triage_band",
    "who_category",
    "z_score",
]

# ----------------------------------------------------------------------------------- rules and their numbers

# WHO categories on a T-score (DOMAIN.md section 3): normal >= -1.0; osteoporosis <= -2.5; between: low bone mass.
WHO_NORMAL_MIN_T = -1.0
WHO_OSTEOPOROSIS_MAX_T = -2.5
# DXR triage thresholds: 90 % sensitivity / 90 % specificity for femoral-neck DXA osteoporosis in women >= 50
# (J Clin Densitom 2010;13:418).
TRIAGE_UNLIKELY_ABOVE_T = -1.2
TRIAGE_LIKELY_BELOW_T = -2.7
TRIAGE_SOURCE = (
    "J Clin Densitom 2010;13:418: DXR T-score thresholds -1.2 and -2.7 give 90 % sensitivity and 90 % "
    "specificity for femoral-neck DXA osteoporosis in women aged 50 and over"
)
# ISCD: Z <= -2.0 is "below the expected range for age" (DOMAIN.md section 3).
Z_BELOW_EXPECTED_MAX = -2.0
# ISCD: Z-scores, not T-scores, for premenopausal women and men under 50. Menopause is not visible in an image,
# so age < 50 stands in for "premenopausal" in women.
T_SCORE_MIN_AGE_YEARS = 50.0
# The fracture cohort (Wilczek 2013) were aged 40 and over: no risk statement below that age.
FRACTURE_RISK_MIN_AGE_YEARS = 40.0
# Least significant change at 95 % confidence, ISCD convention (DOMAIN.md section 2): LSC = 2.77 x CV.
LSC_FACTOR = 2.77
# A change exactly at the LSC counts as significant; the tolerance keeps float noise from deciding.
_LSC_TOLERANCE_PERCENT = 1e-9
_DAYS_PER_YEAR = 365.25

WHO_SOURCE = (
    "WHO T-score categories (normal >= -1.0, low bone mass between -1.0 and -2.5, osteoporosis <= -2.5); ISCD "
    "(J Clin Densitom 2002;5:S39): WHO criteria are not a diagnosis on peripheral devices"
)
ISCD_SOURCE = (
    "ISCD: Z-scores, not T-scores, for premenopausal women and men under 50; Z <= -2.0 is 'below the expected "
    "range for age'"
)

PRECISION_FORMAT = "dxr-precision/1"
SCORING_POLICY_FORMAT = "dxr-scoring-policy/1"


@dataclass(frozen=True)
class HipFractureEvidence:
    """The published association of DXR-BMD with hip fracture for one sex (DOMAIN.md section 3)."""

    sex: str
    hazard_ratio_per_sd: float
    auc: float
    cohort: str
    source: str


_WILCZEK_2013 = (
    "Wilczek et al. 2013 (Eur Radiol; Swedish population, Sectra DXR): hip-fracture hazard ratio per SD decrease "
    "of DXR-BMD 2.52 in women and 2.08 in men, AUC 0.89 and 0.84; 5,420 women and 2,837 men aged 40 and over"
)
HIP_FRACTURE_EVIDENCE: Mapping[str, HipFractureEvidence] = {
    "F": HipFractureEvidence("F", 2.52, 0.89, "5,420 women aged 40 and over", _WILCZEK_2013),
    "M": HipFractureEvidence("M", 2.08, 0.84, "2,837 men aged 40 and over", _WILCZEK_2013),
}
_MAJOR_FRACTURE_CAVEAT = (
    "Hip fracture only: for major osteoporotic fractures DXR-BMD discriminates less well (AUC about 0.65, "
    "Kälvesten et al., Bone 2016)."
)

_CPT = {
    "0749T": (
        "DXR-BMD analysis using a digital X-ray previously acquired and uploaded (retrieval and transmission of "
        "the image data, BMD, bone strength and fracture-risk assessment, interpretation and report); "
        "Category III code (2023 cycle)"
    ),
    "0750T": (
        "DXR-BMD analysis with a single-view digital X-ray of the hand taken for the purpose of DXR-BMD "
        "(retrieval and transmission of the image data, BMD, bone strength and fracture-risk assessment, "
        "interpretation and report); Category III code (2023 cycle)"
    ),
}


# ------------------------------------------------------------------------------------------ reason codes


class ScoreCode(enum.StrEnum):
    """Stable codes of every score that is withheld or qualified, and of every prior that is not compared."""

    SEX_UNKNOWN = "sex_unknown"
    """Sex not recorded, or neither F nor M: the tables are sex-specific, so no score is given."""
    AGE_UNKNOWN = "age_unknown"
    """Age not recorded: the age rules (and the Z-score) cannot be applied, so no score is given."""
    AGE_UNDER_20 = "age_under_20"
    """Under 20 y: the reference tables hold adults only; no adult score is given."""
    AGE_OUTSIDE_REFERENCE = "age_outside_reference"
    """The age lies outside the range the Z-score table covers: no Z-score, no fracture-risk statement."""
    Z_SCORE_PRIMARY = "z_score_primary"
    """Woman or man under 50: the Z-score is the primary statement; no WHO category, no triage (ISCD)."""
    TRIAGE_NOT_VALIDATED_IN_MEN = "triage_not_validated_in_men"
    """The triage thresholds were validated in women >= 50; in a man they are applied by extension."""
    FRACTURE_RISK_NOT_COVERED = "fracture_risk_not_covered"
    """Under 40 y (the fracture cohort's lower age) or no Z-score: no fracture-risk statement."""
    DERIVED_REFERENCE = "derived_reference"
    """A score rests on derived reference values (modelling choices, not published values)."""
    EXAM_DATE_UNKNOWN = "exam_date_unknown"
    """The current examination has no date: no change can be dated or annualised."""
    LATERALITY_UNKNOWN = "laterality_unknown"
    """The hand (L/R) of the current or the prior image is unknown: same-hand comparison cannot be assured."""
    DIFFERENT_HAND = "different_hand"
    """The prior image is of the other hand."""
    DIFFERENT_METHOD = "different_method"
    """The prior was measured with another method (calibration id or version): values are not comparable."""
    PRIOR_NOT_EARLIER = "prior_not_earlier"
    """The prior is not dated before the current examination."""


# ------------------------------------------------------------------------------------ small pure functions


def t_score(bmd_g_cm2: float, young_adult_mean_g_cm2: float, young_adult_sd_g_cm2: float) -> float:
    """T-score = (BMD - young-adult mean) / young-adult SD (DOMAIN.md section 3).

    >>> round(t_score(0.49, 0.597, 0.050), 4)  # Swedish table, Wilczek's 48-y woman
    -2.14
    >>> round(t_score(0.598, 0.598, 0.034), 4)
    0.0
    """
    return (bmd_g_cm2 - young_adult_mean_g_cm2) / young_adult_sd_g_cm2


def z_score(bmd_g_cm2: float, age_matched_mean_g_cm2: float, age_matched_sd_g_cm2: float) -> float:
    """Z-score = (BMD - age- and sex-matched mean) / SD at that age (DOMAIN.md section 3).

    >>> round(z_score(0.4722, 0.5229, 0.050), 4)  # a 60-y woman 0.0507 g/cm2 below the Swedish age curve
    -1.014
    """
    return (bmd_g_cm2 - age_matched_mean_g_cm2) / age_matched_sd_g_cm2


def reported_score(value: float) -> float:
    """A T- or Z-score as printed: rounded half away from zero to 0.1 SD; categories are decided on this value.

    >>> reported_score(-2.45), reported_score(-2.449), reported_score(1.25), reported_score(-0.04)
    (-2.5, -2.4, 1.3, 0.0)
    """
    # The shortest repr is the decimal the reader would write down, so 2.45 rounds as 2.45 and not 2.4499...
    return float(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)) + 0.0


class WhoCategory(enum.StrEnum):
    """WHO T-score categories, as applied to a DXR (peripheral) T-score."""

    NORMAL = "normal"
    LOW_BONE_MASS = "low_bone_mass"
    OSTEOPOROSIS = "osteoporosis"


_WHO_LABELS = {
    WhoCategory.NORMAL: "Normal by WHO T-score criteria",
    WhoCategory.LOW_BONE_MASS: "Low bone mass (osteopenia) by WHO T-score criteria",
    WhoCategory.OSTEOPOROSIS: "In the osteoporosis range by WHO T-score criteria",
}
_DXR_QUALIFIER = "DXR-based (peripheral) measurement, not a DXA diagnosis"


def who_category(t_score_reported: float) -> WhoCategory:
    """WHO category of a (reported) T-score: normal >= -1.0, osteoporosis <= -2.5, else low bone mass.

    >>> [who_category(t).value for t in (-1.0, -1.1, -2.4, -2.5)]
    ['normal', 'low_bone_mass', 'low_bone_mass', 'osteoporosis']
    """
    if t_score_reported >= WHO_NORMAL_MIN_T:
        return WhoCategory.NORMAL
    if t_score_reported <= WHO_OSTEOPOROSIS_MAX_T:
        return WhoCategory.OSTEOPOROSIS
    return WhoCategory.LOW_BONE_MASS


class TriageBand(enum.StrEnum):
    """DXR triage bands (J Clin Densitom 2010;13:418)."""

    OSTEOPOROSIS_UNLIKELY = "osteoporosis_unlikely"
    REFER_FOR_CENTRAL_DXA = "refer_for_central_dxa"
    OSTEOPOROSIS_LIKELY = "osteoporosis_likely"


_TRIAGE_ADVICE = {
    TriageBand.OSTEOPOROSIS_UNLIKELY: (
        "Osteoporosis at the femoral neck by central DXA is unlikely (DXR T-score above -1.2: the threshold with "
        "90 % sensitivity). Clinical risk factors still apply."
    ),
    TriageBand.REFER_FOR_CENTRAL_DXA: (
        "Indeterminate (DXR T-score from -2.7 to -1.2): refer for central DXA to establish the diagnosis."
    ),
    TriageBand.OSTEOPOROSIS_LIKELY: (
        "Osteoporosis at the femoral neck by central DXA is likely (DXR T-score below -2.7: the threshold with "
        "90 % specificity). Not a diagnosis: confirm by central DXA and clinical assessment."
    ),
}


def triage_band(t_score_reported: float) -> TriageBand:
    """Triage band of a (reported) T-score: above -1.2 unlikely, below -2.7 likely, between (inclusive) refer.

    >>> [triage_band(t).value for t in (-1.1, -1.2, -2.7, -2.8)]
    ['osteoporosis_unlikely', 'refer_for_central_dxa', 'refer_for_central_dxa', 'osteoporosis_likely']
    """
    if t_score_reported > TRIAGE_UNLIKELY_ABOVE_T:
        return TriageBand.OSTEOPOROSIS_UNLIKELY
    if t_score_reported < TRIAGE_LIKELY_BELOW_T:
        return TriageBand.OSTEOPOROSIS_LIKELY
    return TriageBand.REFER_FOR_CENTRAL_DXA


def relative_hip_fracture_risk(z: float, hazard_ratio_per_sd: float) -> float:
    """Hip-fracture risk relative to the age- and sex-matched average: HR per SD decrease raised to -Z.

    >>> round(relative_hip_fracture_risk(-1.0, 2.52), 4), round(relative_hip_fracture_risk(0.5, 2.52), 4)
    (2.52, 0.6299)
    """
    return hazard_ratio_per_sd ** (-z)


def least_significant_change_percent(cv_percent: float) -> float:
    """LSC = 2.77 x precision CV (95 % confidence, ISCD convention; DOMAIN.md section 2).

    >>> round(least_significant_change_percent(0.68), 4)
    1.8836
    """
    return LSC_FACTOR * cv_percent


def cpt_code(acquired_for_dxr: bool = False) -> CptCode:
    """The CPT code of the service: 0750T when a hand view was taken for DXR-BMD, else 0749T (DOMAIN.md 7).

    >>> cpt_code().code, cpt_code(acquired_for_dxr=True).code
    ('0749T', '0750T')
    """
    return CptCode(code="0750T" if acquired_for_dxr else "0749T", acquired_for_dxr=bool(acquired_for_dxr))


# --------------------------------------------------------------------------------------- inputs, policy


@dataclass(frozen=True)
class Examination:
    """The measured examination to score.

    Parameters
    ----------
    bmd_g_cm2
        The combined DXR-BMD (the measurement's ``dxr_bmd_g_cm2``); only a measured value may be scored.
    sex
        ``"F"``, ``"M"``, ``"O"`` or ``None`` (as intake reads PatientSex).
    age_years
        Age at the examination, or ``None``.
    date
        Date of the image (acquisition, else study date); needed only for monitoring.
    laterality
        ``"L"``, ``"R"`` or ``None``; needed only for monitoring (same hand).
    method_id, method_version
        The measurement calibration (``Calibration.id``/``version``); needed only for monitoring.
    """

    bmd_g_cm2: float
    sex: str | None
    age_years: float | None
    date: dt.date | None = None
    laterality: str | None = None
    method_id: str | None = None
    method_version: str | None = None

    def __post_init__(self) -> None:
        _check_bmd(self.bmd_g_cm2, "bmd_g_cm2")
        if self.sex not in ("F", "M", "O", None):
            raise ValueError(f"sex {self.sex!r} must be 'F', 'M', 'O' or None")
        if self.age_years is not None and not (math.isfinite(self.age_years) and 0.0 <= self.age_years < 150.0):
            raise ValueError(f"age_years {self.age_years!r} must be a number of years (0-150) or None")
        _check_laterality(self.laterality)


@dataclass(frozen=True)
class PriorResult:
    """An earlier result of the same patient, for monitoring.

    ``method_id``/``method_version`` name the calibration it was measured with; ``result_id`` identifies it on
    the report (e.g. the SOP Instance UID or the result file).
    """

    date: dt.date
    bmd_g_cm2: float
    laterality: str | None
    method_id: str | None
    method_version: str | None
    result_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date):
            raise ValueError(f"a prior result needs a date, got {self.date!r}")
        _check_bmd(self.bmd_g_cm2, "prior bmd_g_cm2")
        _check_laterality(self.laterality)


def _check_bmd(value: float, name: str) -> None:
    # A DXR-BMD is a few tenths of a g/cm2; outside (0, 2) it is a unit error or an unmeasured value.
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 < value < 2.0):
        raise ValueError(f"{name} {value!r} must be a measured DXR-BMD in g/cm2 (0-2)")


def _check_laterality(value: str | None) -> None:
    if value not in ("L", "R", None):
        raise ValueError(f"laterality {value!r} must be 'L', 'R' or None")


class MaleTScoreReference(enum.StrEnum):
    """Which young-adult reference a man's T-score uses (a per-site policy, printed on the report)."""

    FEMALE_REFERENCE = "female_reference"
    """The female young-adult mean and SD of the policy's female table, as ISCD prescribes for DXA."""
    SEX_MATCHED = "sex_matched"
    """The male table's young-adult mean and SD (derived for the shipped tables)."""


@dataclass(frozen=True)
class ScoringPolicy:
    """The site's choices: the default table per sex and the male T-score reference.

    The defaults are the Swedish tables, the population of the triage thresholds' and of the fracture hazard
    ratios' source, whose SD (0.050) matches the spread of DXR-BMD in that population; and the female
    reference for men's T-scores: it uses only published values and follows ISCD practice for DXA. Men's
    Z-scores always use the male (sex-matched) table.
    """

    female_table_id: str = "se-women-2013"
    male_table_id: str = "se-men-derived"
    male_t_score_reference: MaleTScoreReference = MaleTScoreReference.FEMALE_REFERENCE

    def __post_init__(self) -> None:
        for name in ("female_table_id", "male_table_id"):
            if not (isinstance(getattr(self, name), str) and getattr(self, name)):
                raise ValueError(f"{name} must name a reference table")
        try:
            object.__setattr__(self, "male_t_score_reference", MaleTScoreReference(self.male_t_score_reference))
        except ValueError:
            choices = ", ".join(repr(choice.value) for choice in MaleTScoreReference)
            raise ValueError(
                f"male_t_score_reference {self.male_t_score_reference!r} must be one of {choices}"
            ) from None

    def tables_for(self, sex: str, tables: Mapping[str, ReferenceTable]) -> tuple[ReferenceTable, ReferenceTable]:
        """``(t_score_table, z_score_table)`` for ``sex`` ("F"/"M"); ``ValueError`` if the policy names a missing
        table or one of the wrong sex (a configuration error, not a patient's)."""
        female = self._table(self.female_table_id, "F", tables)
        if sex == "F":
            return female, female
        male = self._table(self.male_table_id, "M", tables)
        t_table = female if self.male_t_score_reference is MaleTScoreReference.FEMALE_REFERENCE else male
        return t_table, male

    @staticmethod
    def _table(table_id: str, sex: str, tables: Mapping[str, ReferenceTable]) -> ReferenceTable:
        if table_id not in tables:
            raise ValueError(f"scoring policy names reference table {table_id!r}; loaded are {sorted(tables)}")
        table = tables[table_id]
        if table.sex != sex:
            raise ValueError(f"reference table {table_id!r} is for sex {table.sex}, the policy uses it for {sex}")
        return table


DEFAULT_POLICY = ScoringPolicy()


def scoring_policy_from_mapping(data: Mapping[str, object]) -> ScoringPolicy:
    """A site's scoring policy from a parsed ``scoring-policy.json`` (docs/scores.md); omitted fields keep defaults.

    >>> scoring_policy_from_mapping({"format": "dxr-scoring-policy/1", "male_t_score_reference": "sex_matched"})
    ... # doctest: +NORMALIZE_WHITESPACE
    ScoringPolicy(female_table_id='se-women-2013', male_table_id='se-men-derived',
                  male_t_score_reference=<MaleTScoreReference.SEX_MATCHED: 'sex_matched'>)
    """
    if not isinstance(data, Mapping):
        raise ValueError("a scoring policy is a JSON object")
    allowed = {"format", "female_table_id", "male_table_id", "male_t_score_reference"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"scoring policy has unknown field(s) {', '.join(map(str, unknown))}")
    if data.get("format") != SCORING_POLICY_FORMAT:
        raise ValueError(f"scoring policy format {data.get('format')!r} is not {SCORING_POLICY_FORMAT!r}")
    choices = {key: data[key] for key in allowed - {"format"} if key in data}
    for key, value in choices.items():
        if not isinstance(value, str):
            raise ValueError(f"scoring policy {key} must be a string, got {value!r}")
    return ScoringPolicy(**choices)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Precision:
    """The short-term precision (CV) of DXR-BMD used for the least significant change.

    ``basis`` is ``"published_anchor"`` (a published CV of the original DXR system, used until this software's
    own precision is measured) or ``"measured"`` (this software's own repeat-image study).
    """

    id: str
    version: str
    cv_percent: float
    basis: str
    derivation: str
    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.id or not self.version:
            raise ValueError("precision needs a non-empty id and version")
        if not (math.isfinite(self.cv_percent) and 0.0 < self.cv_percent <= 10.0):
            raise ValueError(f"cv_percent {self.cv_percent!r} outside (0, 10] %")
        if self.basis not in ("published_anchor", "measured"):
            raise ValueError(f"basis {self.basis!r} must be 'published_anchor' or 'measured'")
        if not self.derivation.strip():
            raise ValueError("precision must say where its CV comes from (derivation)")
        if not self.sources:
            raise ValueError("precision needs at least one source")

    @property
    def lsc_percent(self) -> float:
        """Least significant change, % of the earlier value."""
        return least_significant_change_percent(self.cv_percent)


def precision_from_mapping(data: Mapping[str, object]) -> Precision:
    """Build a :class:`Precision` from a parsed ``precision.json``, with a clear error for a malformed field."""
    if not isinstance(data, Mapping):
        raise ValueError("a precision file is a JSON object")
    allowed = {"format", "id", "version", "cv_percent", "basis", "derivation", "sources"}
    missing, unknown = sorted(allowed - set(data)), sorted(set(data) - allowed)
    if missing or unknown:
        raise ValueError(f"precision file: missing field(s) {missing}, unknown field(s) {unknown}")
    if data["format"] != PRECISION_FORMAT:
        raise ValueError(f"precision format {data['format']!r} is not {PRECISION_FORMAT!r}")
    cv = data["cv_percent"]
    if isinstance(cv, bool) or not isinstance(cv, int | float):
        raise ValueError(f"cv_percent must be a number, got {cv!r}")
    sources = data["sources"]
    if not (isinstance(sources, list) and all(isinstance(source, str) for source in sources)):
        raise ValueError("sources must be a list of strings")
    texts = {key: data[key] for key in ("id", "version", "basis", "derivation")}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, got {value!r}")
    return Precision(cv_percent=float(cv), sources=tuple(sources), **texts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TScore:
    """A T-score against ``table``'s young-adult mean and SD. ``primary``: the statement to lead with."""

    value: float
    young_adult_mean_g_cm2: float
    young_adult_sd_g_cm2: float
    table: ReferenceTable
    basis: str  # "sex_matched" or "female_reference" (a man scored against the female young-adult reference)
    primary: bool

    @property
    def reported(self) -> float:
        return reported_score(self.value)


@dataclass(frozen=True)
class ZScore:
    """A Z-score against ``table``'s age-matched mean and SD at ``age_years``."""

    value: float
    age_years: float
    age_matched_mean_g_cm2: float
    age_matched_sd_g_cm2: float
    table: ReferenceTable
    primary: bool

    @property
    def reported(self) -> float:
        return reported_score(self.value)

    @property
    def below_expected_range(self) -> bool:
        """ISCD: reported Z <= -2.0."""
        return self.reported <= Z_BELOW_EXPECTED_MAX

    @property
    def statement(self) -> str:
        if self.below_expected_range:
            return "Below the expected range for age (Z-score -2.0 or lower)"
        return "Within the expected range for age (Z-score above -2.0)"


@dataclass(frozen=True)
class Category:
    """The WHO category of the reported T-score, always qualified as DXR-based."""

    code: WhoCategory
    t_score_reported: float

    @property
    def label(self) -> str:
        return f"{_WHO_LABELS[self.code]}: {_DXR_QUALIFIER}"


@dataclass(frozen=True)
class Triage:
    """The DXR triage band; ``validated_for_patient`` is False where the thresholds are applied by extension."""

    band: TriageBand
    t_score_reported: float
    validated_for_patient: bool

    @property
    def advice(self) -> str:
        return _TRIAGE_ADVICE[self.band]


@dataclass(frozen=True)
class FractureRisk:
    """Hip-fracture risk relative to the age- and sex-matched average, from the published HR per SD."""

    relative_risk: float
    z_score: float
    evidence: HipFractureEvidence
    z_table: ReferenceTable
    z_sd_g_cm2: float

    @property
    def statement(self) -> str:
        person = "woman" if self.evidence.sex == "F" else "man"
        return (
            f"Hip-fracture risk about {self.relative_risk:.1f} times that of the average {person} of the same age "
            f"(hazard ratio {self.evidence.hazard_ratio_per_sd} per SD decrease of DXR-BMD, Wilczek et al. 2013)."
        )

    @property
    def caveats(self) -> tuple[str, ...]:
        return (
            "Relative to the age- and sex-matched average, not an absolute risk: no fracture probability is given.",
            "The hazard ratio is per SD of the Swedish study population; the Z-score uses the SD of reference "
            f"table {self.z_table.id} ({self.z_sd_g_cm2:.3f} g/cm2), so a table whose SD differs from that "
            "population's rescales this figure.",
            _MAJOR_FRACTURE_CAVEAT,
        )


@dataclass(frozen=True)
class CptCode:
    """The billing code and why it was chosen (DOMAIN.md section 7)."""

    code: str
    acquired_for_dxr: bool

    @property
    def description(self) -> str:
        return _CPT[self.code]

    @property
    def reason(self) -> str:
        if self.acquired_for_dxr:
            return "requested: a single hand view was taken for the purpose of DXR-BMD"
        return "default: image acquired earlier and uploaded for analysis (no request that it was taken for DXR-BMD)"


@dataclass(frozen=True)
class Change:
    """The change from one prior result to the current examination.

    ``delta_percent`` is relative to the prior value; ``annualised_percent_per_year`` is ``delta_percent``
    divided by the interval in years (not compounded); ``significant`` when ``|delta_percent| >= lsc_percent``.
    """

    prior: PriorResult
    current_date: dt.date
    current_bmd_g_cm2: float
    delta_g_cm2: float
    delta_percent: float
    interval_years: float
    annualised_percent_per_year: float
    lsc_percent: float
    lsc_g_cm2: float
    significant: bool

    @property
    def direction(self) -> str:
        """``"decrease"``, ``"increase"`` or ``"no_significant_change"``."""
        if not self.significant:
            return "no_significant_change"
        return "decrease" if self.delta_g_cm2 < 0 else "increase"


@dataclass(frozen=True)
class ExcludedPrior:
    """A prior that was not compared, and why."""

    prior: PriorResult
    flag: Flag


@dataclass(frozen=True)
class Monitoring:
    """Changes since the comparable priors (oldest first), the priors left out, and the precision used."""

    precision: Precision
    changes: tuple[Change, ...]
    excluded: tuple[ExcludedPrior, ...]


@dataclass(frozen=True)
class Scores:
    """Everything the scoring layer states about one examination. A ``None`` score was withheld: see ``flags``."""

    examination: Examination
    policy: ScoringPolicy
    t_table: ReferenceTable | None
    z_table: ReferenceTable | None
    t_score: TScore | None
    z_score: ZScore | None
    category: Category | None
    triage: Triage | None
    fracture_risk: FractureRisk | None
    cpt: CptCode
    monitoring: Monitoring | None
    flags: tuple[Flag, ...]

    @property
    def primary(self) -> str | None:
        """``"t_score"``, ``"z_score"`` or ``None``: which score leads the report."""
        if self.t_score is not None and self.t_score.primary:
            return "t_score"
        if self.z_score is not None and self.z_score.primary:
            return "z_score"
        return None

    def codes(self) -> set[ScoreCode]:
        return {flag.code for flag in self.flags}


# ----------------------------------------------------------------------------------------------- scoring


def score(
    examination: Examination,
    tables: Iterable[ReferenceTable],
    policy: ScoringPolicy = DEFAULT_POLICY,
    *,
    acquired_for_dxr: bool = False,
    priors: Sequence[PriorResult] = (),
    precision: Precision | None = None,
) -> Scores:
    """Score one examination: T, Z, category, triage, fracture risk, CPT code and change since priors.

    Parameters
    ----------
    examination
        The measured DXR-BMD with sex and age (and date, hand and method for monitoring).
    tables
        The loaded reference tables (shipped and site tables); ids must be unique.
    policy
        Default tables per sex and the male T-score reference.
    acquired_for_dxr
        True when a single hand view was taken for the purpose of DXR-BMD (CPT 0750T); else 0749T.
    priors
        Earlier results of the same patient; compared only when same hand and same method.
    precision
        The precision for the least significant change; required when ``priors`` are given.

    Raises
    ------
    ValueError
        A configuration error: duplicate table ids, a policy naming a missing table or one of the wrong sex,
        priors without a precision. Missing patient data never raises: it withholds scores with a flag.
    """
    index = _index(tables)
    if priors and precision is None:
        raise ValueError("monitoring needs a precision (the CV behind the least significant change)")
    # Validate the policy against the tables for both sexes, so a misconfiguration shows on the first image.
    policy.tables_for("M", index)
    monitoring = compare_with_priors(examination, priors, precision) if priors and precision else None
    cpt = cpt_code(acquired_for_dxr)
    sex, age = examination.sex, examination.age_years
    t_table, z_table = policy.tables_for(sex, index) if sex in ("F", "M") else (None, None)
    flags = _withheld(sex, age)
    if flags or t_table is None or z_table is None or age is None:
        return Scores(
            examination, policy, t_table, z_table, None, None, None, None, None, cpt, monitoring, tuple(flags)
        )
    bmd = examination.bmd_g_cm2
    t_primary = age >= T_SCORE_MIN_AGE_YEARS
    young = t_table.young_adult
    basis = "female_reference" if sex == "M" and t_table.sex == "F" else "sex_matched"
    t = TScore(
        t_score(bmd, young.mean_g_cm2, young.sd_g_cm2), young.mean_g_cm2, young.sd_g_cm2, t_table, basis, t_primary
    )
    z = None
    matched = z_table.age_matched(age)
    if matched is None:
        first, last = z_table.age_range_years
        flags.append(
            Flag(
                ScoreCode.AGE_OUTSIDE_REFERENCE,
                f"Age {age:.1f} y lies outside the {first:g}-{last:g} y covered by table {z_table.id}: no Z-score.",
            )
        )
    else:
        mean, sd = matched
        z = ZScore(z_score(bmd, mean, sd), age, mean, sd, z_table, primary=not t_primary)
    category, triage = _interpretation(t, sex, flags)
    risk = _fracture_risk(sex, age, z, flags)
    flags.extend(_derived_flags(t, z))
    return Scores(examination, policy, t_table, z_table, t, z, category, triage, risk, cpt, monitoring, tuple(flags))


def _withheld(sex: str | None, age: float | None) -> list[Flag]:
    """The reasons to give no score at all: unknown sex, unknown age, under 20 y."""
    flags: list[Flag] = []
    if sex not in ("F", "M"):
        detail = "not recorded" if sex is None else f"{sex!r} (the reference tables are for F and M)"
        flags.append(Flag(ScoreCode.SEX_UNKNOWN, f"Patient sex {detail}: no T- or Z-score is given."))
    if age is None:
        flags.append(
            Flag(ScoreCode.AGE_UNKNOWN, "Age not recorded: the age rules cannot be applied; no score is given.")
        )
    elif age < ADULT_MIN_AGE_YEARS:
        flags.append(
            Flag(
                ScoreCode.AGE_UNDER_20,
                f"Age {age:.1f} y: the reference tables hold adults (20 y and over); no adult score is given.",
            )
        )
    return flags


def _interpretation(t: TScore, sex: str, flags: list[Flag]) -> tuple[Category | None, Triage | None]:
    """WHO category and triage band when the T-score is primary (50 y and over); else the ISCD Z-score flag."""
    if not t.primary:
        group = "women under 50 (the proxy for premenopausal)" if sex == "F" else "men under 50"
        flags.append(
            Flag(
                ScoreCode.Z_SCORE_PRIMARY,
                f"ISCD: for {group} the Z-score is the primary statement; no WHO category and no triage.",
            )
        )
        return None, None
    if sex == "M":
        flags.append(
            Flag(
                ScoreCode.TRIAGE_NOT_VALIDATED_IN_MEN,
                "The DXR triage thresholds were validated in women aged 50 and over; in men they are applied "
                "by extension.",
            )
        )
    category = Category(who_category(t.reported), t.reported)
    return category, Triage(triage_band(t.reported), t.reported, validated_for_patient=sex == "F")


def _index(tables: Iterable[ReferenceTable]) -> dict[str, ReferenceTable]:
    index: dict[str, ReferenceTable] = {}
    for table in tables:
        if table.id in index:
            raise ValueError(
                f"two reference tables with id {table.id!r} (versions {index[table.id].version} and "
                f"{table.version}): a site table needs an id of its own"
            )
        index[table.id] = table
    return index


def _fracture_risk(sex: str, age: float, z: ZScore | None, flags: list[Flag]) -> FractureRisk | None:
    if age < FRACTURE_RISK_MIN_AGE_YEARS:
        flags.append(
            Flag(
                ScoreCode.FRACTURE_RISK_NOT_COVERED,
                "No fracture-risk statement under 40 y: the fracture cohort (Wilczek 2013) was aged 40 and over.",
            )
        )
        return None
    if z is None:
        flags.append(
            Flag(
                ScoreCode.FRACTURE_RISK_NOT_COVERED,
                "No fracture-risk statement: it is relative to the age-matched average, and there is no Z-score.",
            )
        )
        return None
    evidence = HIP_FRACTURE_EVIDENCE[sex]
    relative = relative_hip_fracture_risk(z.value, evidence.hazard_ratio_per_sd)
    return FractureRisk(relative, z.value, evidence, z.table, z.age_matched_sd_g_cm2)


def _derived_flags(t: TScore, z: ZScore | None) -> list[Flag]:
    parts = []
    if t.table.young_adult_derived:
        parts.append(f"the T-score's young-adult mean/SD (table {t.table.id} {t.table.version})")
    if z is not None and z.table.age_curve_derived:
        parts.append(f"the Z-score's age curve (table {z.table.id} {z.table.version})")
    if not parts:
        return []
    message = "Derived reference values (modelling choices, not published values) behind " + " and ".join(parts)
    return [Flag(ScoreCode.DERIVED_REFERENCE, message + ": see docs/scores.md.")]


# -------------------------------------------------------------------------------------------- monitoring


def compare_with_priors(examination: Examination, priors: Sequence[PriorResult], precision: Precision) -> Monitoring:
    """Change since each comparable prior (same hand, same method, earlier date), oldest first.

    >>> exam = Examination(0.480, "F", 66.0, dt.date(2026, 1, 1), "L", "dxr-bmd-method", "2026.1")
    >>> prior = PriorResult(dt.date(2024, 1, 1), 0.500, "L", "dxr-bmd-method", "2026.1")
    >>> precision = Precision("p", "1", 0.68, "published_anchor", "anchor", ("Jørgensen 2000",))
    >>> change = compare_with_priors(exam, [prior], precision).changes[0]
    >>> round(change.delta_percent, 2), round(change.annualised_percent_per_year, 2), change.direction
    (-4.0, -2.0, 'decrease')
    """
    changes: list[Change] = []
    excluded: list[ExcludedPrior] = []
    lsc_percent = precision.lsc_percent
    for prior in sorted(priors, key=lambda item: item.date):
        flag = _incomparable(examination, prior)
        if flag is not None:
            excluded.append(ExcludedPrior(prior, flag))
            continue
        assert examination.date is not None  # checked by _incomparable
        delta = examination.bmd_g_cm2 - prior.bmd_g_cm2
        delta_percent = 100.0 * delta / prior.bmd_g_cm2
        years = (examination.date - prior.date).days / _DAYS_PER_YEAR
        changes.append(
            Change(
                prior=prior,
                current_date=examination.date,
                current_bmd_g_cm2=examination.bmd_g_cm2,
                delta_g_cm2=delta,
                delta_percent=delta_percent,
                interval_years=years,
                annualised_percent_per_year=delta_percent / years,
                lsc_percent=lsc_percent,
                lsc_g_cm2=lsc_percent / 100.0 * prior.bmd_g_cm2,
                significant=abs(delta_percent) >= lsc_percent - _LSC_TOLERANCE_PERCENT,
            )
        )
    return Monitoring(precision, tuple(changes), tuple(excluded))


def _incomparable(examination: Examination, prior: PriorResult) -> Flag | None:
    if examination.date is None:
        return Flag(ScoreCode.EXAM_DATE_UNKNOWN, "The current image has no date: changes cannot be dated.")
    if examination.laterality is None or prior.laterality is None:
        which = "current" if examination.laterality is None else "prior"
        return Flag(
            ScoreCode.LATERALITY_UNKNOWN, f"The {which} image's hand is unknown: same-hand comparison not assured."
        )
    if examination.laterality != prior.laterality:
        return Flag(
            ScoreCode.DIFFERENT_HAND,
            f"Prior of the {prior.laterality} hand, current of the {examination.laterality} hand: not compared.",
        )
    current_method = (examination.method_id, examination.method_version)
    prior_method = (prior.method_id, prior.method_version)
    if None in current_method or current_method != prior_method:
        return Flag(
            ScoreCode.DIFFERENT_METHOD,
            f"Prior measured with method {_method_name(prior_method)}, current with {_method_name(current_method)}: "
            "values are not comparable.",
        )
    if prior.date >= examination.date:
        return Flag(
            ScoreCode.PRIOR_NOT_EARLIER,
            f"Prior dated {prior.date.isoformat()}, not before the current {examination.date.isoformat()}.",
        )
    return None


def _method_name(method: tuple[str | None, str | None]) -> str:
    return "unknown" if None in method else f"{method[0]} {method[1]}"
