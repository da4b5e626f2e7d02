"""The rule types beyond bands and counts — escalating penalties, rated indicators with rater
weights and calibration, formulas, the total's factor, mean dimensions, indicator caps, exclusions
and pay — each on figures worked out by hand from the seeds (../shared/RULES.md)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from kpi.core.errors import ConfigError
from kpi.core.models import Employee, MetricValue, Period
from kpi.core.scoring import ScoringContext
from kpi.plugins.schemes.declarative import RULE_TYPES
from kpi.plugins.schemes.rules import fmt
from kpi.plugins.schemes.loader import parse_scheme

HEAD = """
[scheme]
id = "t"
version = "1"
[roles.agent]
name = { zh = "客服专员", en = "Agent" }
"""
OCTOBER = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))


def scheme(body: str):
    return parse_scheme(HEAD + body, "t.toml", RULE_TYPES)


def score(s, values: dict, params=None, **emp):
    e = Employee("E1", "张三", "agent", **emp)
    mv = {m: MetricValue("E1", "2026-10", m, None if v is None else Decimal(str(v)), "test") for m, v in values.items()}
    return s.score(ScoringContext(OCTOBER, [e], {"E1": mv}, params or {}))[0]


def points(card) -> dict[str, str]:
    return {line.indicator: fmt(line.points) for line in card.lines}


# -- escalating (seed 003: shift swaps beyond 3 a month cost 5, 10, 15 …) ---------------------------
SWAPS = """
[[dimension]]
id = "discipline"
max = 30
floor = -100
  [[dimension.indicator]]
  id = "swaps"
  metric = "shift_swaps"
  rule = "escalating"
  start = 30
  free = 3
  first = -5
  step = -5
"""


@pytest.mark.parametrize("swaps,expected,text", [
    (0, "30", "0 occurrences, 3 free → 30"),
    (3, "30", "3 occurrences, 3 free → 30"),
    (4, "25", "30 − 5 = 25"),
    (5, "15", "30 − 5 − 10 = 15"),
    (6, "0", "30 − 5 − 10 − 15 = 0"),
    (7, "-20", "30 − 5 − 10 − 15 − 20 = -20"),
])
def test_escalating_penalty_beyond_the_free_occurrences(swaps, expected, text):
    card = score(scheme(SWAPS), {"shift_swaps": swaps})
    assert points(card) == {"swaps": expected}
    assert text in card.lines[0].explanation


def test_escalating_refuses_a_fraction_of_an_occurrence():
    with pytest.raises(ConfigError, match=r"dimension\[0\]\.indicator\[0\].*2\.5 is not a count"):
        score(scheme(SWAPS), {"shift_swaps": "2.5"})


# -- rated indicators (seed 004) -------------------------------------------------------------------
# Seed 004's worked example: quality (40) rated 4 and 5, efficiency (30) 5 and 4, feedback (20) 3 and
# 5, teamwork (10) 3. Each dimension is the mean of its 1-5 items ÷ 5 × weight:
# 4.5/5×40 = 36, 4.5/5×30 = 27, 4/5×20 = 16, 3/5×10 = 6 → 85 (the seed prints 88).
SUPPORT = """
[rating]
raters = { supervisor = 60, qc = 20, hr = 10, customer_rep = 10 }
scale = [1, 5]
calibration = 20

[[dimension]]
id = "quality"
max = 5
weight = 40
combine = "mean"
  [[dimension.indicator]]
  id = "script"
  metric = "script"
  rule = "rated"
  [[dimension.indicator]]
  id = "solving"
  metric = "solving"
  rule = "rated"

[[dimension]]
id = "efficiency"
max = 5
weight = 30
combine = "mean"
  [[dimension.indicator]]
  id = "speed"
  metric = "speed"
  rule = "rated"
  [[dimension.indicator]]
  id = "fcr"
  metric = "fcr"
  rule = "rated"

[[dimension]]
id = "feedback"
max = 5
weight = 20
combine = "mean"
  [[dimension.indicator]]
  id = "csat"
  metric = "csat"
  rule = "rated"
  [[dimension.indicator]]
  id = "complaints"
  metric = "complaints"
  rule = "rated"

[[dimension]]
id = "teamwork"
max = 5
weight = 10
  [[dimension.indicator]]
  id = "teamwork"
  metric = "teamwork"
  rule = "rated"
  raters = { supervisor = 100 }
"""


def test_seed_004_worked_example_totals_85_not_the_printed_88():
    s = scheme(SUPPORT)
    assert "script@supervisor" in s.metrics() and "teamwork@qc" not in s.metrics()
    card = score(s, {"script@supervisor": 4, "solving@supervisor": 5, "speed@supervisor": 5, "fcr@supervisor": 4,
                     "csat@supervisor": 3, "complaints@supervisor": 5, "teamwork@supervisor": 3})
    assert {d.id: format(d.points, "f") for d in card.dimensions} == {
        "quality": "36.00", "efficiency": "27.00", "feedback": "16.00", "teamwork": "6.00"}
    assert card.total == Decimal("85")
    assert "mean of 2 indicators: 9 / 2 = 4.5" in card.dimensions[0].adjustments[0]


def test_rater_weights_and_a_calibration_flag_at_20_percent():
    s = scheme(SUPPORT)
    # supervisor 4 (60), qc 5 (20), hr 3 (10), no customer rep: (240 + 100 + 30) / 90 = 4.1111
    card = score(s, {"script@supervisor": 4, "script@qc": 5, "script@hr": 3, "solving@supervisor": 4})
    script = card.lines[0]
    assert script.value == Decimal("4.1111")
    assert "(supervisor 4 × 60, qc 5 × 20, hr 3 × 10) / 90 = 4.1111" in script.explanation
    assert "not rated by customer_rep" in script.explanation
    # hr 3 and qc 5 differ by 2 ≥ 20% of 5 = 1: a calibration meeting (a flag, not points)
    calibration = [f for f in card.flags if f.code == "calibration"]
    assert len(calibration) == 1 and "hr 3 and qc 5 differ by 2" in calibration[0].message
    # solving had one rater: no calibration; speed had none: no data, scored 0, flagged
    assert any(f.code == "missing_data" and "speed@supervisor" in f.message for f in card.flags)


def test_raters_within_the_threshold_raise_no_flag():
    card = score(scheme(SUPPORT), {"script@supervisor": "4", "script@qc": "4.5"})  # differ by 0.5 < 1
    assert not [f for f in card.flags if f.code == "calibration"]


def test_a_rating_outside_the_scale_is_an_error_naming_the_rater():
    with pytest.raises(ConfigError, match=r"qc's rating 6 of script is outside the scale 1–5"):
        score(scheme(SUPPORT), {"script@supervisor": 4, "script@qc": 6})


# -- formulas (seed 003's game-support bonus) -----------------------------------------------------
GAME_SUPPORT = """
[parameters.workload_base]
type = "money"
default = 300
[parameters.workload_baseline]
type = "int"
default = 400
[parameters.workload_multiplier]
type = "number"
default = 1

[formulas]
workload_bonus = "workload_base - (workload_baseline - tickets_handled) * workload_multiplier"
qc_factor = "if(qc_rate < 70, 1 - (70 - qc_rate) / 100 * 5, if(qc_rate > 80, 1 + (qc_rate - 80) / 100 * 5, 1))"

[[dimension]]
id = "bonus"
max = 500
  [[dimension.indicator]]
  id = "bonus"
  rule = "formula"
  formula = "workload_bonus * qc_factor + contribution"
  floor = 0
  cap = 500
"""


@pytest.mark.parametrize("handled,qc,contribution,bonus", [
    (380, 85, 50, "400"),    # (300 − 20) × (1 + 5% × 5) + 50 = 280 × 1.25 + 50
    (380, 75, 0, "280"),     # QC between 70% and 80%: factor 1
    (380, 60, 0, "140"),     # 280 × (1 − 10% × 5) = 280 × 0.5
    (500, 100, 200, "500"),  # 400 × 2 + 200 = 1000 → capped at 500
    (100, 60, 0, "0"),       # 300 − 300 = 0 → 0
])
def test_game_support_bonus_formula(handled, qc, contribution, bonus):
    s = scheme(GAME_SUPPORT)
    assert s.metrics() == {"tickets_handled", "qc_rate", "contribution"}
    card = score(s, {"tickets_handled": handled, "qc_rate": qc, "contribution": contribution})
    assert points(card) == {"bonus": bonus}
    assert any(n.startswith("qc_factor = ") for n in card.notes)


def test_the_seeds_qc_sign_error_lowers_the_bonus_of_good_qc():
    """The seed writes 1 + (80% − QC) × 5 above 80%: QC 85% would then *cut* the bonus to 0.75×."""
    wrong = GAME_SUPPORT.replace("1 + (qc_rate - 80) / 100 * 5", "1 + (80 - qc_rate) / 100 * 5")
    card = score(scheme(wrong), {"tickets_handled": 380, "qc_rate": 85, "contribution": 0})
    assert points(card) == {"bonus": "210"}  # 280 × 0.75, where the right sign gives 350


def test_a_formula_with_no_cap_is_refused():
    body = GAME_SUPPORT.replace("  floor = 0\n  cap = 500\n", "")
    with pytest.raises(ConfigError, match=r"dimension\[0\]\.indicator\[0\]: has no upper bound.*cap"):
        scheme(body)


def test_formulas_that_read_each_other_in_a_circle_are_refused():
    body = '[formulas]\na = "b + 1"\nb = "a * 2"\n' + SWAPS
    with pytest.raises(ConfigError, match=r"formulas\.a.*circle: a → b → a"):
        scheme(body)


def test_a_formula_cannot_reach_python():
    body = GAME_SUPPORT.replace('"workload_bonus * qc_factor + contribution"', '"__import__(\'os\').system(\'x\')"')
    with pytest.raises(ConfigError, match=r"dimension\[0\]\.indicator\[0\]\.formula"):
        scheme(body)


# -- the total's key-indicator factor (seed 003's department scheme) ---------------------------------
DEPARTMENT = """
[scheme]
total_factor = "key_indicator_score / 100"
""".replace("[scheme]\n", "") + """
[[dimension]]
id = "duties"
max = 100
weight = 30
  [[dimension.indicator]]
  id = "duties"
  metric = "duties_score"
  rule = "pro_rata"
  full_at = 100
  points = 100
[[dimension]]
id = "plan"
max = 100
weight = 30
  [[dimension.indicator]]
  id = "plan"
  metric = "plan_score"
  rule = "pro_rata"
  full_at = 100
  points = 100
[[dimension]]
id = "survey"
max = 100
weight = 20
  [[dimension.indicator]]
  id = "survey"
  metric = "survey_score"
  rule = "pro_rata"
  full_at = 100
  points = 100
"""


def test_department_total_times_the_key_indicator_factor():
    text = HEAD.replace('version = "1"', 'version = "1"\ntotal_factor = "key_indicator_score / 100"') + DEPARTMENT
    s = parse_scheme(text, "t.toml", RULE_TYPES)
    # the seed's weights add up to 80, not 100: a warning, not an error
    assert any("add up to 80" in p.message for p in s.warnings)
    card = score(s, {"duties_score": 90, "plan_score": 80, "survey_score": 70, "key_indicator_score": 90})
    # (90 × 30% + 80 × 30% + 70 × 20%) × 90 / 100 = (27 + 24 + 14) × 0.9 = 58.5
    assert card.total == Decimal("58.5")
    assert "total 65 × factor key_indicator_score / 100 = 0.9" in card.notes[-1]


# -- indicator caps, exclusions, pay ----------------------------------------------------------------
PAY = """
[parameters.pay_days]
type = "number"
default = 21.75

[eligibility]
exclude = [ { metric = "leave_days", when = { gt = 30 }, reason = "absent more than a month: not appraised (seed 003)" } ]

[[dimension]]
id = "score"
max = 100
  [[dimension.indicator]]
  id = "csat"
  metric = "csat_rate"
  rule = "pro_rata"
  full_at = 100
  points = 100
  [[dimension.indicator]]
  id = "bonus"
  metric = "top_workload"
  rule = "condition"
  when = { eq = 1 }
  points = 10
  cap = 5

[[grade]]
id = "良好"
ge = 80
[[grade]]
id = "一般"
lt = 80

[pay]
base_by_role = { agent = 750 }
percent = "total"
coefficient_by_grade = { "良好" = 1.2 }
prorate = { attended = "attended_days", scheduled = "pay_days" }
"""


def test_an_indicator_cap_bounds_its_rule():
    card = score(scheme(PAY), {"csat_rate": 70, "top_workload": 1, "leave_days": 0, "attended_days": 21})
    assert points(card) == {"csat": "70", "bonus": "5"}
    assert card.lines[1].adjustments == ["10 capped at 5"]


def test_pay_is_the_score_as_a_percentage_times_the_grade_coefficient():
    card = score(scheme(PAY), {"csat_rate": 86, "top_workload": 0, "leave_days": 0, "attended_days": 21})
    # 750 × 86% × 1.2 (良好) = 774.00
    assert (card.total, card.grade, card.pay.amount) == (Decimal("86"), "良好", Decimal("774.00"))
    card = score(scheme(PAY), {"csat_rate": 70, "top_workload": 0, "leave_days": 0, "attended_days": 21})
    assert card.pay.amount == Decimal("525.00")  # 750 × 70%, no coefficient for 一般


def test_a_leaver_is_paid_by_days_attended():
    card = score(scheme(PAY), {"csat_rate": 70, "top_workload": 0, "leave_days": 0, "attended_days": 10},
                 leave_date=date(2026, 10, 15))
    # 750 × 70% × 10 / 21.75 = 241.379… → 241.38
    assert card.pay.amount == Decimal("241.38")
    assert "× 10/21.75 days attended" in card.pay.explanation


def test_absent_more_than_a_month_is_not_appraised():
    card = score(scheme(PAY), {"csat_rate": 90, "top_workload": 0, "leave_days": 31, "attended_days": 0})
    assert (card.eligible, card.total, card.pay) == (False, None, None)
    assert card.flags[0].code == "not_appraised" and "leave_days = 31" in card.flags[0].message


# -- a pack's own supplied metrics, through a real run -----------------------------------------------
def test_a_pack_declares_the_supplied_metrics_it_reads_and_a_run_scores_them(tmp_path: Path):
    (tmp_path / "roster.csv").write_text("工号,姓名,岗位\nE1,张三,客服专员\nE2,李四,客服专员\n", encoding="utf-8")
    (tmp_path / "figures.csv").write_text("工号,周期,询单转化率,主管评分,质检评分\n"
                                          "E1,2026-10,76%,4,5\nE2,2026-10,60%,3,3\n", encoding="utf-8")
    (tmp_path / "pack.toml").write_text(HEAD + """
[metrics.inquiry_conversion]
unit = "%"
description = "paying buyers / inquiries × 100 (seed 003)"

[[dimension]]
id = "sales"
max = 100
weight = 70
  [[dimension.indicator]]
  id = "conversion"
  metric = "inquiry_conversion"
  rule = "bands"
  bands = [ { ge = 75, points = 100 }, { ge = 65, lt = 75, points = 80 }, { ge = 50, lt = 65, points = 60 }, { lt = 50, points = 0 } ]
[[dimension]]
id = "attitude"
max = 5
weight = 30
  [[dimension.indicator]]
  id = "attitude"
  metric = "attitude"
  rule = "rated"
  raters = { supervisor = 70, qc = 30 }
  calibration = 20
""", encoding="utf-8")
    (tmp_path / "site.toml").write_text("""
[site]
name = "t"
[period]
default = "2026-10"
[scheme]
file = "pack.toml"
[[connector]]
name = "roster"
use = "csv"
kind = "employee"
path = "roster.csv"
columns = { employee_id = "工号", name = "姓名", role = "岗位" }
[[connector]]
name = "figures"
use = "csv"
kind = "metric_value"
path = "figures.csv"
columns = { person = "工号", period = "周期" }
metrics = { inquiry_conversion = "询单转化率", "attitude@supervisor" = "主管评分", "attitude@qc" = "质检评分" }
""", encoding="utf-8")
    kpi = Path(sys.executable).with_name("kpi")
    proc = subprocess.run([str(kpi), "run", "-c", str(tmp_path / "site.toml"), "--json"], capture_output=True,
                          text=True, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    import json
    cards = {c["employee_id"]: c for c in json.loads(proc.stdout)["scorecards"]}
    # E1: 76% → 100 → 70; attitude (4 × 70 + 5 × 30) / 100 = 4.3 → 4.3/5 × 30 = 25.8; total 95.8;
    #     raters differ by 1 = 20% of 5 → calibration flag.
    # E2: 60% → 60 → 42; attitude 3 → 18; total 60.
    assert (cards["E1"]["total"], cards["E2"]["total"]) == ("95.8", "60")
    assert [f["code"] for f in cards["E1"]["flags"]] == ["calibration"]
    assert cards["E2"]["flags"] == []


# -- streaks over consecutive periods (seed 003's e-commerce elimination and bonus) -------------------
STREAKS = """
[parameters.top_bonus]
type = "money"
default = 200

[[dimension]]
id = "score"
max = 100
  [[dimension.indicator]]
  id = "score"
  metric = "kpi_score"
  rule = "pro_rata"
  full_at = 100
  points = 100

[[streak]]
id = "eliminated"
periods = 2
total = { lt = 35 }
message = "below 35 two months in a row: eliminated"

[[streak]]
id = "last_three"
periods = 3
place = "last"
message = "last place three months in a row: eliminated"

[[streak]]
id = "first_three"
periods = 3
place = "first"
message = "first place three months in a row: extra bonus"
pay_bonus = "top_bonus"

[pay]
base_by_role = { agent = 750 }
percent = "total"
"""


def team_score(s, scores: dict[str, int], history):
    from kpi.core.scoring import standings
    people = [Employee(e, e, "agent") for e in scores]
    values = {e: {"kpi_score": MetricValue(e, "2026-10", "kpi_score", Decimal(v), "test")} for e, v in scores.items()}
    hist = [(label, standings([(e, True, Decimal(t)) for e, t in totals.items()])) for label, totals in history]
    cards = s.score(ScoringContext(OCTOBER, people, values, {}, hist))
    return {c.employee_id: c for c in cards}


def test_streak_rules_read_the_periods_before():
    s = scheme(STREAKS)
    assert s.history_periods() == 2
    history = [("2026-09", {"A": 95, "B": 34, "C": 20}), ("2026-08", {"A": 90, "B": 60, "C": 10})]
    cards = team_score(s, {"A": 99, "B": 30, "C": 10}, history)
    flags = {e: sorted(f.code for f in c.flags) for e, c in cards.items()}
    # A first in Aug, Sep, Oct → bonus; B below 35 in Sep (34) and Oct (30) → eliminated;
    # C below 35 both months and last three months in a row.
    assert flags == {"A": ["first_three"], "B": ["eliminated"], "C": ["eliminated", "last_three"]}
    assert "2026-10: 30, 2026-09: 34" in next(f.message for f in cards["B"].flags)
    # A: 750 × 99% = 742.50, + 200 = 942.50
    assert cards["A"].pay.amount == Decimal("942.50")
    assert cards["A"].pay.explanation.endswith("+ 200 (first_three) = 942.50")


def test_a_streak_needs_every_period_scored():
    s = scheme(STREAKS)
    cards = team_score(s, {"A": 99, "B": 30}, [("2026-09", {"A": 95})])  # B has no September result
    assert [f.code for f in cards["B"].flags] == []
    cards = team_score(s, {"A": 99, "B": 30}, [])  # no history at all
    assert all(not c.flags for c in cards.values())


def test_a_streak_without_a_condition_is_refused():
    with pytest.raises(ConfigError, match=r"streak\[0\]: give one condition"):
        scheme(STREAKS.replace('total = { lt = 35 }\n', ''))


def test_a_formula_indicator_bound_to_a_metric_reads_it_as_value():
    s = scheme(SWAPS.replace('rule = "escalating"\n  start = 30\n  free = 3\n  first = -5\n  step = -5\n',
                             'rule = "formula"\n  formula = "30 - value * 2"\n  cap = 30\n'))
    assert points(score(s, {"shift_swaps": 4})) == {"swaps": "22"}


def test_a_dimension_of_weight_0_for_a_role_is_not_scored():
    s = parse_scheme(HEAD + '[roles.lead]\nname = { en = "Lead" }\n' + SWAPS.replace(
        "floor = -100\n", "floor = -100\nweight = 30\nweight_by_role = { lead = 0 }\n") + """
[[dimension]]
id = "lead_only"
max = 70
weight = 70
weight_by_role = { lead = 100 }
  [[dimension.indicator]]
  id = "plan"
  metric = "plan_rate"
  rule = "pro_rata"
  full_at = 100
  points = 70
""", "t.toml", RULE_TYPES)
    e = Employee("E1", "张三", "lead")
    card = s.score(ScoringContext(OCTOBER, [e], {"E1": {"plan_rate": MetricValue("E1", "2026-10", "plan_rate",
                                                                                  Decimal(90), "t")}}, {}))[0]
    # the lead is scored on plan only: 90/100 × 70 = 63 → 63/70 × 100 = 90; no flag for the swaps nobody counted
    assert [d.id for d in card.dimensions] == ["lead_only"] and card.total == Decimal("90")
    assert card.flags == []


def test_an_indicator_may_score_a_named_formula():
    body = GAME_SUPPORT + """
[[dimension]]
id = "qc"
max = 10
weight = 10
  [[dimension.indicator]]
  id = "qc_band"
  metric = "qc_factor"
  rule = "bands"
  bands = [ { ge = 1, points = 10 }, { lt = 1, points = 0 } ]
"""
    s = scheme(body.replace("max = 500\n", "max = 500\nweight = 90\n", 1))
    assert "qc_factor" not in s.metrics()  # computed, not read from a connector
    card = score(s, {"tickets_handled": 380, "qc_rate": 85, "contribution": 0})
    assert points(card)["qc_band"] == "10" and card.lines[1].value == Decimal("1.25")


# -- roll-ups (seed 003: department 80% for the manager, 20% for staff; a centre from units 4:3:3) ----
ROLLUP_HEAD = HEAD + '[roles.manager]\nname = { zh = "主管", en = "Manager" }\n[eligibility]\nprobation = "not_appraised"\n'
OWN = """
[[dimension]]
id = "own"
max = 100
  [[dimension.indicator]]
  id = "own"
  metric = "own_score"
  rule = "pro_rata"
  full_at = 100
  points = 100
[[grade]]
id = "A"
ge = 80
[[grade]]
id = "B"
lt = 80
"""


def team(s, people: list[tuple[str, str, str, int]], **emp):
    staff = [Employee(e, e, role, team=team, department="客服部", **(emp if e == "C" else {}))
             for e, role, team, _ in people]
    values = {e: {"own_score": MetricValue(e, "2026-10", "own_score", Decimal(v), "t")} for e, _, _, v in people}
    return {c.employee_id: c for c in parse_scheme(s, "t.toml", RULE_TYPES).score(
        ScoringContext(OCTOBER, staff, values, {}))}


def test_department_score_counts_80_percent_for_the_manager_and_20_for_staff():
    s = ROLLUP_HEAD + OWN + """
[[rollup]]
id = "department"
group = "department"
shares = { manager = 80, agent = 20 }
"""
    cards = team(s, [("M", "manager", "", 90), ("A", "agent", "", 80), ("B", "agent", "", 70), ("C", "agent", "", 10)],
                 probation_end=date(2026, 12, 31))
    # department = mean of the appraised 90, 80, 70 = 80 (C is on probation: not appraised, not counted)
    # M: 90 × 20% + 80 × 80% = 82 → A;  A: 80 × 80% + 80 × 20% = 80 → A;  B: 70 × 80% + 80 × 20% = 72 → B
    assert {e: (c.total, c.grade) for e, c in cards.items()} == {
        "M": (Decimal("82"), "A"), "A": (Decimal("80"), "A"), "B": (Decimal("72"), "B"), "C": (None, None)}
    assert "department: own 90 × 20% + department 80 × 80% = 82" in cards["M"].notes
    assert "department 客服部: mean of 3 appraised members' totals = 80" in cards["M"].notes


def test_service_centre_from_its_units_4_3_3():
    s = ROLLUP_HEAD + OWN + """
[[rollup]]
id = "centre"
group = "team"
units = { "服务办" = 4, "环境" = 3, "秩序" = 3 }
shares = { manager = 100 }
"""
    cards = team(s, [("M", "manager", "服务办", 90), ("A", "agent", "服务办", 80), ("B", "agent", "环境", 70),
                     ("C", "agent", "秩序", 60), ("D", "agent", "秩序", 80)])
    # units: 服务办 (90 + 80) / 2 = 85, 环境 70, 秩序 (60 + 80) / 2 = 70
    # centre = (85 × 4 + 70 × 3 + 70 × 3) / 10 = 76; the centre's manager takes it whole; staff keep their own
    assert cards["M"].total == Decimal("76") and cards["A"].total == Decimal("80")
    assert "centre: (85 × 4 + 70 × 3 + 70 × 3) / 10 = 76" in cards["M"].notes


def test_a_rollup_share_for_an_unknown_role_is_refused():
    with pytest.raises(ConfigError, match=r"rollup\[0\]\.shares\.manger: unknown role; did you mean 'manager'"):
        parse_scheme(ROLLUP_HEAD + OWN + '[[rollup]]\nid = "d"\ngroup = "department"\nshares = { manger = 80 }\n',
                     "t.toml", RULE_TYPES)
