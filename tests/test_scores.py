"""Reference tables, T- and Z-scores and their interpretation, with hand-computed examples (docs/scores.md)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
from pathlib import Path

import pytest

from dxr.analysis.reference import ReferenceTable, reference_table_from_mapping
from dxr.analysis.scores import (
    DEFAULT_POLICY,
    Examination,
    MaleTScoreReference,
    Precision,
    PriorResult,
    ScoreCode,
    ScoringPolicy,
    TriageBand,
    WhoCategory,
    compare_with_priors,
    precision_from_mapping,
    reported_score,
    score,
    scoring_policy_from_mapping,
    triage_band,
    who_category,
)
from dxr.serving.results import prior_result_from_document, scores_document

DATA = Path(__file__).resolve().parents[1] / "analysis" / "data"
TABLE_FILES = sorted(DATA.glob("reference-*.json"))


def _load(path: Path) -> ReferenceTable:
    return reference_table_from_mapping(json.loads(path.read_text(encoding="utf-8")))


TABLES = {table.id: table for table in map(_load, TABLE_FILES)}
SE_WOMEN, SE_MEN = TABLES["se-women-2013"], TABLES["se-men-derived"]
US_WOMEN, US_MEN = TABLES["us-women-black2001"], TABLES["us-men-derived"]
PRECISION = precision_from_mapping(json.loads((DATA / "precision.json").read_text(encoding="utf-8")))
US_POLICY = ScoringPolicy(female_table_id="us-women-black2001", male_table_id="us-men-derived")
METHOD = ("dxr-bmd-method", "2026.1")


def _score(bmd: float, sex: str | None, age: float | None, policy: ScoringPolicy = DEFAULT_POLICY, **kwargs):
    return score(Examination(bmd, sex, age), TABLES.values(), policy, **kwargs)


# ---------------------------------------------------------------------------------------- shipped tables


def test_shipped_tables_load_with_their_published_anchors():
    assert set(TABLES) == {"us-women-black2001", "us-men-derived", "se-women-2013", "se-men-derived"}
    assert (US_WOMEN.young_adult.mean_g_cm2, US_WOMEN.young_adult.sd_g_cm2) == (0.598, 0.034)  # Black 2001
    assert (SE_WOMEN.young_adult.mean_g_cm2, SE_WOMEN.young_adult.sd_g_cm2) == (0.597, 0.050)  # JCD 2013;16:183
    for women in (US_WOMEN, SE_WOMEN):
        assert women.sex == "F"
        assert not women.young_adult_derived  # published
        assert women.age_curve_derived
        assert women.derived
    for men in (US_MEN, SE_MEN):
        assert men.sex == "M"
        assert men.young_adult_derived
        assert men.age_curve_derived
        assert men.derived
    for table in TABLES.values():
        assert table.age_range_years == (20.0, 80.0)
        assert table.version == "2026.1"


@pytest.mark.parametrize(
    ("women", "men"), [("us-women-black2001", "us-men-derived"), ("se-women-2013", "se-men-derived")]
)
def test_derived_curves_follow_the_stated_construction(women: str, men: str):
    female, male = TABLES[women], TABLES[men]
    peak = female.young_adult.mean_g_cm2
    for age in range(20, 81):
        expected = peak if age <= 45 else peak * (1 - 0.0088) ** (age - 45)  # flat to 45 y, then -0.88 %/year
        mean, sd = female.age_matched(age)
        assert mean == pytest.approx(expected, abs=0.0002)
        assert sd == female.young_adult.sd_g_cm2
        male_mean, male_sd = male.age_matched(age)
        assert male_mean == pytest.approx(1.128 * expected, abs=0.0002)  # Böttcher 2006: men +12.8 %
        assert male_sd == sd  # no male SD published: the women's SD, unchanged
    assert male.young_adult.mean_g_cm2 == pytest.approx(1.128 * peak, abs=0.0001)


def test_us_curve_reproduces_the_danish_mean_at_68():
    mean, _ = US_WOMEN.age_matched(68.0)
    assert mean == pytest.approx(0.489, abs=0.0015)  # Jørgensen 2000: 0.489 g/cm2 at mean age 68.2 y


def test_every_provenance_resolves_to_a_text():
    for table in TABLES.values():
        for point in table.age_curve:
            assert table.provenance_text(point.mean_provenance)
            assert table.provenance_text(point.sd_provenance)
        assert table.provenance_text(table.young_adult.mean_provenance)


def test_interpolation_is_linear_and_flat_only_within_the_covered_range():
    data = _site_table()
    data["age_range_years"] = [20, 90]
    data["age_curve"] = [_point(30, 0.60), _point(70, 0.50, sd=0.06)]
    table = reference_table_from_mapping(data)
    assert table.age_matched(50.0) == pytest.approx((0.55, 0.055))
    assert table.age_matched(20.0) == pytest.approx((0.60, 0.05))  # flat below the first knot
    assert table.age_matched(90.0) == pytest.approx((0.50, 0.06))  # flat above the last knot
    assert table.age_matched(19.99) is None
    assert table.age_matched(90.01) is None


# ----------------------------------------------------------------------------- malformed site tables


def _point(age: float, mean: float, sd: float = 0.05, provenance: str = "published:site") -> dict:
    return {
        "age_years": age,
        "mean_g_cm2": mean,
        "sd_g_cm2": sd,
        "mean_provenance": provenance,
        "sd_provenance": provenance,
    }


def _site_table() -> dict:
    return {
        "format": "dxr-reference-table/1",
        "id": "site-women",
        "version": "1",
        "population": "Our clinic's women",
        "sex": "F",
        "age_range_years": [20, 80],
        "young_adult": {
            "mean_g_cm2": 0.60,
            "sd_g_cm2": 0.05,
            "mean_provenance": "published:site",
            "sd_provenance": "published:site",
        },
        "age_curve": [_point(20, 0.60), _point(50, 0.57), _point(80, 0.44)],
        "derived": False,
        "sources": {"site": "Our own normative study, 2026"},
        "derivations": {},
        "notes": "",
    }


def test_a_valid_site_table_loads_and_can_be_the_default():
    site = reference_table_from_mapping(_site_table())
    assert not site.derived
    policy = ScoringPolicy(female_table_id="site-women")
    result = score(Examination(0.55, "F", 60.0), [*TABLES.values(), site], policy)
    assert result.t_table is site
    assert result.z_table is site
    assert result.t_score.value == pytest.approx((0.55 - 0.60) / 0.05)
    assert result.z_score.value == pytest.approx((0.55 - (0.57 - 0.13 / 3)) / 0.05)
    assert ScoreCode.DERIVED_REFERENCE not in result.codes()


def _set(path: str, value):
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if isinstance(target, list) else last] = value

    return mutate


_DELETE = object()

MALFORMED = [
    ("empty_object", lambda data: data.clear(), "lacks the field(s) age_curve, age_range_years"),
    ("missing_field", _set("sources", _DELETE), "lacks the field(s) sources"),
    ("unknown_field", _set("colour", "blue"), "unknown field(s) colour"),
    ("misspelt_point_field", _set("age_curve.1.sd_g_cm", 0.05), "age_curve[1] has unknown field(s) sd_g_cm"),
    ("wrong_format", _set("format", "dxr-reference-table/2"), "is not 'dxr-reference-table/1'"),
    ("bad_id", _set("id", "Site Women"), "id 'Site Women'"),
    ("empty_version", _set("version", ""), "version must be a non-empty string"),
    ("version_with_space", _set("version", "v 1"), "must be a non-empty word"),
    ("empty_population", _set("population", " "), "population must be a non-empty string"),
    ("bad_sex", _set("sex", "W"), "sex 'W' must be 'F' or 'M'"),
    ("range_not_pair", _set("age_range_years", [20]), "age_range_years must be [first, last]"),
    ("range_children", _set("age_range_years", [5, 80]), "adult tables only"),
    ("range_reversed", _set("age_range_years", [80, 20]), "first < last"),
    ("range_text", _set("age_range_years", ["20", 80]), "age_range_years[0] must be a number"),
    ("young_not_object", _set("young_adult", 0.6), "young_adult must be an object"),
    ("young_missing", _set("young_adult.sd_g_cm2", _DELETE), "young_adult lacks the field(s) sd_g_cm2"),
    ("mean_text", _set("young_adult.mean_g_cm2", "0.6"), "young_adult.mean_g_cm2 must be a number, got '0.6'"),
    ("mean_bool", _set("age_curve.0.mean_g_cm2", True), "age_curve[0].mean_g_cm2 must be a number"),
    ("mean_nan", _set("age_curve.0.mean_g_cm2", math.nan), "must be a number"),
    ("mean_in_mg", _set("young_adult.mean_g_cm2", 598), "mean_g_cm2 598.0 outside the plausible"),
    ("sd_zero", _set("age_curve.2.sd_g_cm2", 0), "sd_g_cm2 0.0 outside the plausible"),
    ("sd_negative", _set("young_adult.sd_g_cm2", -0.05), "sd_g_cm2 -0.05 outside the plausible"),
    ("curve_empty", _set("age_curve", []), "at least one point"),
    ("curve_not_list", _set("age_curve", {"20": 0.6}), "age_curve must be a list"),
    ("point_not_object", _set("age_curve.1", [50, 0.57, 0.05]), "age_curve[1] must be an object"),
    ("ages_repeat", _set("age_curve.1.age_years", 20), "ages must strictly increase"),
    ("age_outside_range", _set("age_curve.2.age_years", 85), "outside age_range_years"),
    ("provenance_free_text", _set("age_curve.0.mean_provenance", "Black 2001"), "must read 'published:"),
    ("unknown_source", _set("young_adult.mean_provenance", "published:black2001"), "sources has no key 'black2001'"),
    ("unknown_derivation", _set("age_curve.1.sd_provenance", "derived:constant_sd"), "derivations has no key"),
    ("derived_flag_wrong", _set("derived", True), "derived is true but every value is published"),
    ("derived_not_bool", _set("derived", "no"), "derived must be true or false"),
    ("no_sources", _set("sources", {}), "at least one publication"),
    ("sources_list", _set("sources", ["Our study"]), "sources must be an object"),
    ("source_text_empty", _set("sources.site", ""), "sources.site must be a non-empty string"),
    ("derivation_not_text", _set("derivations", {"x": 1}), "derivations.x must be a non-empty string"),
    ("notes_not_text", _set("notes", ["a"]), "notes must be a string"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_site_table_is_refused_with_a_clear_error(mutate, message: str):
    data = copy.deepcopy(_site_table())
    mutate(data)
    with pytest.raises(ValueError, match=re.escape(message)):
        reference_table_from_mapping(data)


def test_a_table_that_is_not_a_json_object_is_refused():
    with pytest.raises(ValueError, match="a reference table is a JSON object, got list"):
        reference_table_from_mapping([_site_table()])  # type: ignore[arg-type]


def test_derived_values_need_a_derivation_and_the_flag():
    data = _site_table()
    data["age_curve"][2]["mean_provenance"] = "derived:decline"
    data["derivations"] = {"decline": "0.57 x 0.99^(age - 50)"}
    with pytest.raises(ValueError, match="derived is false but some values are derived"):
        reference_table_from_mapping(data)
    data["derived"] = True
    assert reference_table_from_mapping(data).age_curve_derived


# --------------------------------------------------------------------------------------------- T and Z


@pytest.mark.parametrize(
    ("table_id", "sex", "age", "bmd", "t", "z"),
    [
        # Swedish women 0.597/0.050: flat to 45 y, then knots 60 y 0.5229, 65 y 0.5003.
        ("se-women-2013", "F", 30.0, 0.547, (0.547 - 0.597) / 0.05, (0.547 - 0.597) / 0.05),
        ("se-women-2013", "F", 62.5, 0.4617, (0.4617 - 0.597) / 0.05, (0.4617 - 0.5116) / 0.05),
        # US women 0.598/0.034: knot 55 y 0.5474.
        ("us-women-black2001", "F", 55.0, 0.5134, (0.5134 - 0.598) / 0.034, (0.5134 - 0.5474) / 0.034),
        # Men (derived): Z against 1.128 x women; T by default against the female young-adult reference.
        ("se-men-derived", "M", 40.0, 0.5734, (0.5734 - 0.597) / 0.05, (0.5734 - 0.6734) / 0.05),
        ("se-men-derived", "M", 70.0, 0.50, (0.50 - 0.597) / 0.05, (0.50 - 0.5399) / 0.05),
        ("us-men-derived", "M", 65.0, 0.50, (0.50 - 0.598) / 0.034, (0.50 - 0.5652) / 0.034),
    ],
)
def test_t_and_z_scores_by_hand(table_id: str, sex: str, age: float, bmd: float, t: float, z: float):
    policy = US_POLICY if table_id.startswith("us") else DEFAULT_POLICY
    result = _score(bmd, sex, age, policy)
    assert result.z_table.id == table_id
    assert result.t_score.value == pytest.approx(t, abs=1e-9)
    assert result.z_score.value == pytest.approx(z, abs=1e-9)
    assert result.t_score.basis == ("female_reference" if sex == "M" else "sex_matched")


def test_male_t_score_policy_sex_matched_uses_the_male_young_adult_reference():
    policy = ScoringPolicy(male_t_score_reference=MaleTScoreReference.SEX_MATCHED)
    result = _score(0.50, "M", 70.0, policy)
    assert result.t_table.id == "se-men-derived"
    assert result.t_score.value == pytest.approx((0.50 - 0.6734) / 0.05)
    assert result.t_score.basis == "sex_matched"
    assert ScoreCode.DERIVED_REFERENCE in result.codes()
    assert scores_document(result)["reference"]["male_t_score_policy"] == "sex_matched"


def test_reported_scores_round_half_away_from_zero():
    assert [reported_score(v) for v in (-1.15, -1.149, -2.75, -2.749, 0.05, -0.04)] == [
        -1.2,
        -1.1,
        -2.8,
        -2.7,
        0.1,
        0.0,
    ]


# ------------------------------------------------------------------------------ categories and triage


@pytest.mark.parametrize(
    ("t", "category", "band"),
    [
        (0.5, WhoCategory.NORMAL, TriageBand.OSTEOPOROSIS_UNLIKELY),
        (-1.0, WhoCategory.NORMAL, TriageBand.OSTEOPOROSIS_UNLIKELY),
        (-1.1, WhoCategory.LOW_BONE_MASS, TriageBand.OSTEOPOROSIS_UNLIKELY),
        (-1.2, WhoCategory.LOW_BONE_MASS, TriageBand.REFER_FOR_CENTRAL_DXA),  # -1.2 itself: not "> -1.2"
        (-2.4, WhoCategory.LOW_BONE_MASS, TriageBand.REFER_FOR_CENTRAL_DXA),
        (-2.5, WhoCategory.OSTEOPOROSIS, TriageBand.REFER_FOR_CENTRAL_DXA),
        (-2.7, WhoCategory.OSTEOPOROSIS, TriageBand.REFER_FOR_CENTRAL_DXA),  # -2.7 itself: not "< -2.7"
        (-2.8, WhoCategory.OSTEOPOROSIS, TriageBand.OSTEOPOROSIS_LIKELY),
    ],
)
def test_who_categories_and_triage_bands_at_their_boundaries(t: float, category: WhoCategory, band: TriageBand):
    assert who_category(t) is category
    assert triage_band(t) is band
    # The same through score(): a 60-y woman whose BMD gives exactly this T on the Swedish table.
    result = _score(0.597 + t * 0.05, "F", 60.0)
    assert result.t_score.reported == t
    assert result.category.code is category
    assert result.triage.band is band
    assert result.triage.validated_for_patient


def test_category_is_decided_on_the_printed_t_score():
    result = _score(0.597 - 1.15 * 0.05, "F", 60.0)  # T = -1.15, printed -1.2
    assert result.t_score.reported == -1.2
    assert result.triage.band is TriageBand.REFER_FOR_CENTRAL_DXA


def test_category_label_says_dxr_based_not_dxa():
    label = _score(0.45, "F", 70.0).category.label
    assert "DXR-based (peripheral)" in label
    assert "not a DXA diagnosis" in label


# ------------------------------------------------------------------------------------- ISCD age rules


def test_under_20_no_adult_scores():
    result = _score(0.50, "F", 19.9)
    assert (result.t_score, result.z_score, result.category, result.triage, result.fracture_risk) == (None,) * 5
    assert result.codes() == {ScoreCode.AGE_UNDER_20}
    assert result.t_table.id == "se-women-2013"  # the reference that would apply is still recorded
    assert _score(0.50, "F", 20.0).t_score is not None


@pytest.mark.parametrize(("sex", "age"), [("F", 49.9), ("M", 49.0), ("M", 25.0)])
def test_under_50_z_score_is_primary_without_category_or_triage(sex: str, age: float):
    result = _score(0.50, sex, age)
    assert result.primary == "z_score"
    assert result.z_score.primary
    assert not result.t_score.primary
    assert result.category is None
    assert result.triage is None
    assert ScoreCode.Z_SCORE_PRIMARY in result.codes()


def test_z_below_expected_range_at_minus_2():
    at = _score(0.5734, "M", 40.0).z_score  # Z = -2.0 exactly
    assert at.reported == -2.0
    assert at.below_expected_range
    assert at.statement.startswith("Below the expected range for age")
    above = _score(0.5754, "M", 40.0).z_score  # Z = -1.96, printed -2.0: still below
    assert above.below_expected_range
    within = _score(0.5760, "M", 40.0).z_score  # Z = -1.948, printed -1.9
    assert not within.below_expected_range
    assert within.statement.startswith("Within")


@pytest.mark.parametrize("sex", ["F", "M"])
def test_from_50_t_score_is_primary_with_category_and_triage(sex: str):
    result = _score(0.50, sex, 50.0)
    assert result.primary == "t_score"
    assert result.category is not None
    assert result.triage is not None
    assert (ScoreCode.TRIAGE_NOT_VALIDATED_IN_MEN in result.codes()) == (sex == "M")
    assert result.triage.validated_for_patient == (sex == "F")


@pytest.mark.parametrize(
    ("sex", "age", "code"), [(None, 60.0, "sex_unknown"), ("O", 60.0, "sex_unknown"), ("F", None, "age_unknown")]
)
def test_missing_sex_or_age_withholds_every_score(sex, age, code):
    result = _score(0.50, sex, age)
    assert result.t_score is None
    assert result.z_score is None
    assert result.fracture_risk is None
    assert code in {flag.code.value for flag in result.flags}
    assert result.cpt.code == "0749T"  # still recorded


def test_beyond_the_table_t_stands_but_no_z_and_no_risk():
    result = _score(0.45, "F", 85.0)
    assert result.t_score.primary
    assert result.category is not None
    assert result.z_score is None
    assert result.fracture_risk is None
    assert {ScoreCode.AGE_OUTSIDE_REFERENCE, ScoreCode.FRACTURE_RISK_NOT_COVERED} <= result.codes()


# ------------------------------------------------------------------------------------- fracture risk


def test_fracture_risk_is_hr_per_sd_to_the_minus_z():
    woman = _score(0.4617, "F", 62.5).fracture_risk  # Z = -0.998
    assert woman.relative_risk == pytest.approx(2.52**0.998)
    assert woman.evidence.auc == 0.89
    assert "5,420 women" in woman.evidence.cohort
    assert "times that of the average woman of the same age" in woman.statement
    man = _score(0.50, "M", 70.0).fracture_risk  # Z = -0.798
    assert man.relative_risk == pytest.approx(2.08**0.798)
    assert man.evidence.auc == 0.84
    high = _score(0.60, "F", 70.0).fracture_risk  # above the age-matched mean: below-average risk
    assert high.relative_risk < 1


def test_no_fracture_risk_under_40():
    assert _score(0.50, "F", 39.9).fracture_risk is None
    assert ScoreCode.FRACTURE_RISK_NOT_COVERED in _score(0.50, "F", 39.9).codes()
    assert _score(0.50, "F", 40.0).fracture_risk is not None


# --------------------------------------------------------------------------------------- monitoring


def _exam(bmd: float = 0.480, date: dt.date = dt.date(2026, 1, 1), laterality: str | None = "L") -> Examination:
    return Examination(bmd, "F", 66.0, date, laterality, *METHOD)


def _prior(bmd: float = 0.500, date: dt.date = dt.date(2024, 1, 1), laterality: str | None = "L", method=METHOD):
    return PriorResult(date, bmd, laterality, *method, result_id=f"{date}-{laterality}")


def test_lsc_is_2_77_times_cv():
    assert PRECISION.cv_percent == 0.68
    assert PRECISION.basis == "published_anchor"
    assert PRECISION.lsc_percent == pytest.approx(1.8836)


def test_change_in_g_and_percent_annualised():
    change = compare_with_priors(_exam(0.480), [_prior(0.500)], PRECISION).changes[0]
    assert change.delta_g_cm2 == pytest.approx(-0.020)
    assert change.delta_percent == pytest.approx(-4.0)
    assert change.interval_years == pytest.approx(731 / 365.25)
    assert change.annualised_percent_per_year == pytest.approx(-4.0 / (731 / 365.25))
    assert change.lsc_g_cm2 == pytest.approx(0.009418)  # 1.8836 % of 0.500
    assert change.significant
    assert change.direction == "decrease"


@pytest.mark.parametrize(
    ("current", "significant", "direction"),
    [(0.490, True, "decrease"), (0.491, False, "no_significant_change"), (0.510, True, "increase")],
)
def test_significance_against_the_lsc(current: float, significant: bool, direction: str):
    change = compare_with_priors(_exam(current), [_prior(0.500)], PRECISION).changes[0]  # LSC 1.8836 %
    assert change.significant is significant
    assert change.direction == direction


def test_a_change_exactly_at_the_lsc_is_significant():
    precision = Precision("p", "1", 1.0, "measured", "test", ("test",))  # LSC 2.77 %
    change = compare_with_priors(_exam(0.5 * (1 - 0.0277)), [_prior(0.5)], precision).changes[0]
    assert change.delta_percent == pytest.approx(-2.77)
    assert change.significant


def test_only_same_hand_same_method_earlier_priors_are_compared():
    priors = [
        _prior(date=dt.date(2025, 1, 1)),
        _prior(date=dt.date(2023, 1, 1)),
        _prior(laterality="R"),
        _prior(laterality=None),
        _prior(method=("dxr-bmd-method", "2025.9")),
        _prior(date=dt.date(2026, 1, 1)),
    ]
    monitoring = compare_with_priors(_exam(), priors, PRECISION)
    assert [change.prior.date for change in monitoring.changes] == [dt.date(2023, 1, 1), dt.date(2025, 1, 1)]
    assert sorted(item.flag.code.value for item in monitoring.excluded) == [
        "different_hand",
        "different_method",
        "laterality_unknown",
        "prior_not_earlier",
    ]


def test_no_comparison_without_a_date_or_a_hand():
    undated = compare_with_priors(Examination(0.48, "F", 66.0, None, "L", *METHOD), [_prior()], PRECISION)
    assert undated.excluded[0].flag.code is ScoreCode.EXAM_DATE_UNKNOWN
    no_hand = compare_with_priors(_exam(laterality=None), [_prior()], PRECISION)
    assert no_hand.excluded[0].flag.code is ScoreCode.LATERALITY_UNKNOWN


def test_priors_need_a_precision():
    with pytest.raises(ValueError, match="needs a precision"):
        score(_exam(), TABLES.values(), priors=[_prior()])


def test_prior_from_an_earlier_result_document():
    document = {
        "status": "ok",
        "dxr_bmd_g_cm2": 0.5123,
        "image": {"acquisition_date": "2024-05-02", "laterality": "L", "sop_instance_uid": "1.2.3"},
        "calibration": {"id": "dxr-bmd-method", "version": "2026.1"},
    }
    assert prior_result_from_document(document) == PriorResult(dt.date(2024, 5, 2), 0.5123, "L", *METHOD, "1.2.3")
    with pytest.raises(ValueError, match="no acquisition date"):
        prior_result_from_document({**document, "image": {"laterality": "L"}})
    with pytest.raises(ValueError, match="no DXR-BMD"):
        prior_result_from_document({**document, "status": "rejected", "dxr_bmd_g_cm2": None})


# ------------------------------------------------------------------------------- CPT, policy, precision


def test_cpt_code_from_the_request_flag():
    assert _score(0.5, "F", 60.0).cpt.code == "0749T"
    flagged = _score(0.5, "F", 60.0, acquired_for_dxr=True).cpt
    assert flagged.code == "0750T"
    assert "taken for the purpose of DXR-BMD" in flagged.reason


def test_policy_errors_are_configuration_errors():
    with pytest.raises(ValueError, match="names reference table 'nope'"):
        _score(0.5, "F", 60.0, ScoringPolicy(female_table_id="nope"))
    with pytest.raises(ValueError, match="is for sex F, the policy uses it for M"):
        _score(0.5, "F", 60.0, ScoringPolicy(male_table_id="se-women-2013"))
    with pytest.raises(ValueError, match="male_t_score_reference 'men' must be one of"):
        ScoringPolicy(male_t_score_reference="men")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two reference tables with id 'se-women-2013'"):
        score(Examination(0.5, "F", 60.0), [*TABLES.values(), SE_WOMEN])


def test_site_policy_file():
    policy = scoring_policy_from_mapping(
        {"format": "dxr-scoring-policy/1", "female_table_id": "us-women-black2001", "male_table_id": "us-men-derived"}
    )
    assert policy == US_POLICY
    with pytest.raises(ValueError, match="unknown field"):
        scoring_policy_from_mapping({"format": "dxr-scoring-policy/1", "male_policy": "sex_matched"})
    with pytest.raises(ValueError, match="format"):
        scoring_policy_from_mapping({"female_table_id": "x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "x"}, "precision format"),
        ({"cv_percent": "0.68"}, "cv_percent must be a number"),
        ({"cv_percent": 0}, "cv_percent 0.0 outside"),
        ({"basis": "guess"}, "basis 'guess'"),
        ({"derivation": ""}, "where its CV comes from"),
        ({"sources": "Jørgensen"}, "sources must be a list"),
        ({"extra": 1}, "unknown field(s) ['extra']"),
    ],
)
def test_malformed_precision_file(change: dict, message: str):
    data = {**json.loads((DATA / "precision.json").read_text(encoding="utf-8")), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        precision_from_mapping(data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bmd_g_cm2": 0.0}, "bmd_g_cm2 0.0 must be a measured DXR-BMD"),
        ({"bmd_g_cm2": math.nan}, "bmd_g_cm2 nan must be"),
        ({"bmd_g_cm2": 598.0}, "bmd_g_cm2 598.0 must be"),
        ({"sex": "female"}, "sex 'female' must be"),
        ({"age_years": -1.0}, "age_years -1.0 must be"),
        ({"laterality": "left"}, "laterality 'left' must be"),
    ],
)
def test_invalid_examination_is_a_programming_error(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=re.escape(message)):
        Examination(**{"bmd_g_cm2": 0.5, "sex": "F", "age_years": 60.0, **kwargs})


# ---------------------------------------------------------------------- Wilczek 2013 sanity check


@pytest.mark.parametrize(("age", "bmd", "published_t"), [(50, 0.64, 1.18), (48, 0.49, -1.90), (75, 0.41, -3.70)])
def test_wilczek_2013_examples_agree_within_0_4_sd(age: int, bmd: float, published_t: float):
    """A sanity check, not a fit: the published BMDs are rounded to 0.01 g/cm2 (up to 0.1 SD) and the vendor's
    table differs slightly from the published Swedish one. Our T: +0.86, -2.14, -3.74 (docs/scores.md)."""
    result = _score(bmd, "F", age)
    assert result.t_table.id == "se-women-2013"
    assert abs(result.t_score.value - published_t) <= 0.4


# ------------------------------------------------------------------------------------------ document


def test_document_shape_and_json():
    exam = Examination(0.45, "F", 72.0, dt.date(2026, 3, 1), "L", *METHOD)
    result = score(exam, TABLES.values(), priors=[_prior(0.47, dt.date(2024, 3, 1))], precision=PRECISION)
    document = scores_document(result)
    assert set(document) == {
        "t_score",
        "z_score",
        "category",
        "triage",
        "fracture_risk",
        "reference",
        "cpt_code",
        "score_flags",
        "change_since_prior",
    }
    json.dumps(document, allow_nan=False)
    assert document["t_score"]["reported"] == -2.9
    assert document["t_score"]["table"] == "se-women-2013 2026.1"
    assert document["category"]["code"] == "osteoporosis"
    assert document["category"]["dxr_based"] is True
    assert document["triage"]["band"] == "osteoporosis_likely"
    assert document["reference"]["z_score_table"]["id"] == "se-women-2013"
    assert document["reference"]["z_score_table"]["age_curve_derived"] is True
    assert document["reference"]["t_score_table"]["young_adult_derived"] is False
    assert document["cpt_code"]["code"] == "0749T"
    comparison = document["change_since_prior"]["comparisons"][0]
    assert comparison["delta_percent"] == pytest.approx(-4.26)
    assert comparison["significant"] is True
    assert document["change_since_prior"]["precision"]["basis"] == "published_anchor"


def test_document_without_priors_or_scores():
    document = scores_document(_score(0.5, "F", 15.0))
    assert "change_since_prior" not in document
    assert document["t_score"] is None
    assert document["fracture_risk"] is None
    assert document["score_flags"] == [{"code": "age_under_20", "message": document["score_flags"][0]["message"]}]
    assert document["reference"]["t_score_table"]["id"] == "se-women-2013"
