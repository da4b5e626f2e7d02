"""The declarative scheme engine: each rule type on figures worked out by hand, the checks that
catch a mistyped regulation, and errors that name the file and the key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kpi.core.errors import ConfigError
from kpi.core.models import Employee, MetricValue, Period
from kpi.core.scoring import ScoringContext
from kpi.plugins.schemes.rules import BUILTIN_RULE_TYPES
from kpi.plugins.schemes.loader import parse_scheme

HEAD = """
[scheme]
id = "t"
version = "1"

[roles.agent]
name = { zh = "客服专员", en = "Agent" }
[roles.lead]
name = { en = "Lead" }
"""

GRADES = """
[[grade]]
id = "A"
gt = 90
[[grade]]
id = "B"
ge = 80
le = 90
[[grade]]
id = "C"
lt = 80
"""


def scheme(body: str, grades: str = GRADES):
    return parse_scheme(HEAD + body + grades, "t.toml", BUILTIN_RULE_TYPES)


def score(s, values: dict[str, str | None], role="agent", params=None, **emp):
    period = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))
    e = Employee("E1", "张三", role, **emp)
    mv = {m: MetricValue("E1", "2026-10", m, None if v is None else Decimal(v), "test") for m, v in values.items()}
    return s.score(ScoringContext(period, [e], {"E1": mv}, params or {}))[0]


CSAT = """
[[dimension]]
id = "sat"
max = 100
  [[dimension.indicator]]
  id = "csat"
  metric = "csat_rate"
  rule = "bands"
  bands = [
    { ge = 95, points = 100 },
    { ge = 90, lt = 95, points = 80 },
    { lt = 90, points = 0 },
  ]
"""


@pytest.mark.parametrize("value,points,matched", [
    ("95", "100", "≥ 95"), ("94.99", "80", "[90, 95)"), ("94.5", "80", "[90, 95)"), ("90", "80", "[90, 95)"),
    ("89.9999", "0", "< 90"),
])
def test_band_edges_are_explicit(value, points, matched):
    card = score(scheme(CSAT), {"csat_rate": value})
    line = card.lines[0]
    assert (line.points, line.matched) == (Decimal(points), matched)


@pytest.mark.parametrize("total,grade", [("90", "B"), ("90.01", "A"), ("80", "B"), ("79.99", "C")])
def test_grade_edges(total, grade):
    body = CSAT.replace("rule = \"bands\"", "rule = \"pro_rata\"\n  full_at = 100\n  points = 100").replace(
        """  bands = [
    { ge = 95, points = 100 },
    { ge = 90, lt = 95, points = 80 },
    { lt = 90, points = 0 },
  ]
""", "")
    assert score(scheme(body), {"csat_rate": total}).grade == grade


def test_gap_between_bands_is_reported_with_the_value_that_falls_in_it():
    body = CSAT.replace("{ ge = 90, lt = 95, points = 80 }", "{ ge = 90, le = 94, points = 80 }")
    with pytest.raises(ConfigError) as err:
        scheme(body)
    msg = str(err.value)
    assert "t.toml: dimension[0].indicator[0].bands[1]" in msg
    assert "gap: values from 94 to 95 fall between [90, 94] and ≥ 95" in msg


def test_overlapping_bands_are_reported():
    body = CSAT.replace("{ ge = 90, lt = 95, points = 80 }", "{ ge = 90, le = 95, points = 80 }")
    with pytest.raises(ConfigError, match=r"bands\[0\]: overlap: \[90, 95\] and ≥ 95 both contain 95"):
        scheme(body)


def test_points_above_the_dimension_maximum_are_refused():
    # seed 003's reply-rate table prints 800 where 80 is meant
    body = CSAT.replace("points = 80 }", "points = 800 }")
    with pytest.raises(ConfigError, match=r"indicator\[0\]: can give 800 points, more than its dimension's maximum of 100"):
        scheme(body)


DEDUCT = """
[[dimension]]
id = "discipline"
max = 12
  [[dimension.indicator]]
  id = "violations"
  metric = "violations"
  rule = "per_occurrence"
  start = 12
  each = -2
  floor = 0
  lost_at = 3
"""


@pytest.mark.parametrize("count,points", [("0", "12"), ("1", "10"), ("2", "8"), ("3", "0"), ("7", "0")])
def test_per_occurrence_with_item_lost_at_three(count, points):
    # seed 003 discipline: 12 points, −2 per violation, 3 or more → the item is lost
    assert score(scheme(DEDUCT), {"violations": count}).lines[0].points == Decimal(points)


COMPLAINTS = """
[parameters.penalty]
type = "number"
default = -10

[[dimension]]
id = "sat"
max = 30
  [[dimension.indicator]]
  id = "bonus"
  metric = "complaints"
  rule = "condition"
  when = { eq = 0 }
  points = 5
  [[dimension.indicator]]
  id = "base"
  metric = "csat_rate"
  rule = "bands"
  bands = [ { ge = 95, points = 30 }, { lt = 95, points = 24 } ]
  [[dimension.indicator]]
  id = "complaints"
  metric = "complaints"
  rule = "per_occurrence"
  each = "penalty"
"""


@pytest.mark.parametrize("csat,complaints,raw,note", [
    ("96", "0", "30", ["35 capped at 30"]),   # 30 + 5, capped at the dimension's 30
    ("92", "0", "29", []),                    # 24 + 5
    ("96", "1", "20", []),                    # 30 − 10
    ("92", "3", "0", ["-6 raised to the floor 0"]),  # 24 − 30: 扣完为止
])
def test_bonus_deduction_floor_and_cap(csat, complaints, raw, note):
    card = score(scheme(COMPLAINTS, grades=""), {"csat_rate": csat, "complaints": complaints})
    assert card.dimensions[0].raw == Decimal(raw)
    assert card.dimensions[0].adjustments == note


def test_parameters_are_overridden_by_the_site_and_checked():
    s = scheme(COMPLAINTS, grades="")
    assert score(s, {"csat_rate": "96", "complaints": "1"}, params={"penalty": -5}).dimensions[0].raw == Decimal(25)
    problems = s.check_parameters({"penalti": -5, }, "scheme.parameters")
    assert [p.key for p in problems] == ["scheme.parameters.penalti"]
    assert "did you mean 'penalty'" in problems[0].message
    assert s.check_parameters({"penalty": "lots"}, "scheme.parameters")[0].message == "expected a number, found 'lots'"


def test_pro_rata_and_role_weights():
    body = """
[[dimension]]
id = "fees"
max = 40
weight_by_role = { lead = 60 }
  [[dimension.indicator]]
  id = "collection"
  metric = "fee_collection_rate"
  rule = "pro_rata"
  full_at = 100
  points = 40
[[dimension]]
id = "other"
max = 60
weight_by_role = { lead = 40 }
  [[dimension.indicator]]
  id = "x"
  metric = "x"
  rule = "pro_rata"
  full_at = 1
  points = 60
"""
    # seed 003 property company: fee collection 40 points pro rata to the share of the target
    agent = score(scheme(body), {"fee_collection_rate": "87.5", "x": "1"})
    assert agent.dimensions[0].points == Decimal("35.00") and agent.total == Decimal("95.00")
    lead = score(scheme(body), {"fee_collection_rate": "87.5", "x": "1"}, role="lead")
    assert lead.dimensions[0].points == Decimal("52.50")  # 35/40 × 60
    assert lead.total == Decimal("92.50")


def test_missing_value_scores_zero_with_a_flag():
    card = score(scheme(CSAT), {"csat_rate": None})
    assert card.lines[0].points == 0 and card.lines[0].matched == "no data"
    assert [f.code for f in card.flags] == ["missing_data"]


def test_roles_match_by_id_or_name_and_unknown_roles_fail():
    s = scheme(CSAT)
    assert score(s, {"csat_rate": "96"}, role="客服专员").role == "agent"
    with pytest.raises(ConfigError, match="roles this scheme does not define: 清洁工"):
        score(s, {"csat_rate": "96"}, role="清洁工")


def test_every_problem_is_reported_with_its_key_path():
    text = HEAD + """
[[dimension]]
id = "d"
max = 10
wieght = 10
  [[dimension.indicator]]
  id = "i"
  metric = "m"
  rule = "band"
[[dimension]]
id = "e"
max = 10
  [[dimension.indicator]]
  id = "j"
  metric = "m"
  rule = "bands"
  bands = [ { ge = 1, points = "unknown_param" } ]
"""
    with pytest.raises(ConfigError) as err:
        parse_scheme(text, "pack.toml", BUILTIN_RULE_TYPES)
    keys = {p.key for p in err.value.problems}
    assert {"dimension[0].wieght", "dimension[0].indicator[0].rule", "dimension[1].indicator[0].bands[0].points"} <= keys
    msg = str(err.value)
    assert "did you mean 'weight'" in msg and "did you mean 'bands'" in msg


def test_weights_that_do_not_add_up_are_a_warning():
    s = scheme(CSAT.replace("max = 100", "max = 100\nweight = 88"))
    assert [(p.level, p.message) for p in s.warnings] == [
        ("warning", "weights by default add up to 88, not the total of 100"),
        ("warning", "weights for role 'agent' add up to 88, not the total of 100"),
        ("warning", "weights for role 'lead' add up to 88, not the total of 100"),
    ]


def test_the_quick_scorecard_writers_give_what_the_general_path_gives(demo_site):
    """Scorecard.to_dict and to_json write the usual card field by field (a run stores tens of
    thousands); they must give exactly the dataclass walk's result — so a field added to a
    scorecard class and not to its writer fails here, instead of going missing from the store."""
    import json
    from dataclasses import replace

    from kpi.core import pipeline, scoring
    from kpi.core.config import load_config
    cards = pipeline.run(load_config(demo_site)).scorecards
    # and one with every optional part filled: flags, notes, adjustments, no pay
    first = cards[0]
    extra = replace(first, pay=None, flags=[scoring.Flag("late", "迟到 \"3\" 次\n")], notes=["注\t1", "-0"],
                    lines=[replace(first.lines[0], adjustments=["appeal 7"], value=Decimal("-0.50"))] + first.lines[1:])
    for card in [*cards, extra]:
        general = scoring._plain_fields(card)
        if card.pay is not None:
            general["pay"]["amount"] = format(card.pay.amount, "f")
        assert card.to_dict() == general
        assert card.to_json() == json.dumps(general, ensure_ascii=False, sort_keys=True)
