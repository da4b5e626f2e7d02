"""`kpi scheme show` and `kpi scheme check`: seed 003's mistyped tables are caught with the file,
the key path and the fix; worked examples pass or fail on figures computed by hand; the rule table
reads like the regulation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpi.core.cli import main
from kpi.core.plugins import Registration, make_host

RECYCLING = Path(__file__).resolve().parents[1] / "plugins" / "schemes" / "packs" / "recycling.toml"

HEAD = """
[scheme]
id = "mini"
version = "1"
name = { zh = "小方案", en = "Mini scheme" }

[roles.agent]
name = { zh = "客服专员", en = "Agent" }
"""

# Two dimensions, a flag, grades and pay: small enough to score by hand.
MINI = HEAD + """
[[dimension]]
id = "satisfaction"
name = { zh = "客户满意度", en = "Satisfaction" }
max = 60
  [[dimension.indicator]]
  id = "csat"
  metric = "csat_rate"
  rule = "bands"
  bands = [ { ge = 95, points = 60 }, { ge = 90, lt = 95, points = 48 }, { lt = 90, points = 0 } ]

[[dimension]]
id = "discipline"
max = 40
  [[dimension.indicator]]
  id = "absence"
  metric = "absent_days"
  rule = "per_occurrence"
  start = 40
  each = -10
  floor = 0

[[flag]]
id = "dismissal_review"
metric = "absent_days"
when = { ge = 3 }
message = "absent 3 days or more"

[[grade]]
id = "A"
ge = 90
[[grade]]
id = "B"
ge = 60
lt = 90
[[grade]]
id = "C"
lt = 60

[pay]
base_by_role = { agent = 300 }
percent = [ { ge = 90, percent = 100 }, { lt = 90, percent = 80 } ]
"""

# CSAT 92.5 → 48; 1 day absent → 40 − 10 = 30; total 78 → B, pay 80% of 300 = 240.00.
PASSING = """
[[example]]
name = "CSAT 92.5%, one day absent"
role = "客服专员"
inputs = { csat_rate = "92.5", absent_days = 1 }
  [example.expect]
  total = 78
  grade = "B"
  eligible = true
  pay = 240.00
  pay_percent = 80
  dimensions = { satisfaction = 48, discipline = 30 }
  indicators = { csat = 48, absence = 30 }
  flags = []
"""

# CSAT 96 → 60; 3 days absent → 40 − 30 = 10; total 70, not the 80 written here.
FAILING = """
[[example]]
name = "CSAT 96%, three days absent"
role = "agent"
inputs = { csat_rate = 96, absent_days = 3 }
  [example.expect]
  total = 80
  indicators = { absence = 10 }
  flags = ["dismissal_review"]
"""


def kpi(*args: str):
    return CliRunner().invoke(main, list(args))


def write(tmp_path, text: str, name: str = "scheme.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_seed_003_reply_rate_800_is_refused_with_its_key_path(tmp_path):
    # seed 003's e-commerce table: reply rate Z ≥99% → 100; 97–99 → 800 (a typo for 80); 95–97 → 60; <95 → 0
    path = write(tmp_path, HEAD + """
[[dimension]]
id = "reply"
max = 100
  [[dimension.indicator]]
  id = "reply_rate"
  metric = "reply_rate"
  rule = "bands"
  bands = [ { ge = 99, points = 100 }, { ge = 97, lt = 99, points = 800 }, { ge = 95, lt = 97, points = 60 },
            { lt = 95, points = 0 } ]
""", "reply.toml")
    result = kpi("scheme", "check", path)
    assert result.exit_code == 1
    assert (f"error: {path}: dimension[0].indicator[0]: can give 800 points, more than its dimension's "
            "maximum of 100; is a figure mistyped?") in result.output
    assert "Traceback" not in result.output
    assert result.output.splitlines()[-2:] == ["examples not run: the scheme does not load", "1 error, 0 warnings"]


def test_seed_003_pay_table_written_literally_has_gaps_named_with_the_fix(tmp_path):
    # 绩效工资考核细则: 100 → 100%; 95–99 → 95%; 85–94 → 90%; 75–84 → 80%; ≤74 → 70%
    path = write(tmp_path, MINI.split("[pay]")[0] + """
[pay]
base_by_role = { agent = 300 }
percent = [
  { ge = 100, percent = 100 },
  { ge = 95, le = 99, percent = 95 },
  { ge = 85, le = 94, percent = 90 },
  { ge = 75, le = 84, percent = 80 },
  { le = 74, percent = 70 },
]
""")
    result = kpi("scheme", "check", path, "--json")
    assert result.exit_code == 1
    out = json.loads(result.output)
    assert out["ok"] is False and out["examples"] == []
    gaps = {p["key"]: p["message"] for p in out["problems"] if "gap" in p["message"]}
    # each gap is reported on the band below it: 74–75 on ≤ 74 (percent[4]) … 99–100 on 95–99 (percent[1])
    assert set(gaps) == {"pay.percent[1]", "pay.percent[2]", "pay.percent[3]", "pay.percent[4]"}
    assert gaps["pay.percent[1]"] == ("gap: values from 99 to 100 fall between [95, 99] and ≥ 100; make one band's "
                                      "edge meet the other's (e.g. lt = 100 here and ge = 100 on the next)")
    assert {p["file"] for p in out["problems"]} == {path}


def test_examples_pass_and_fail_on_figures_worked_out_by_hand(tmp_path):
    path = write(tmp_path, MINI + PASSING + FAILING)
    result = kpi("scheme", "check", path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:3] == [
        "ok   example[0] CSAT 92.5%, one day absent",
        "FAIL example[1] CSAT 96%, three days absent",
        "     total: expected 80, got 70 (satisfaction 60 + discipline 10)",
    ]
    assert lines[3:] == ["2 examples: 1 passed, 1 failed", "0 errors, 0 warnings"]


def test_a_wrong_expectation_names_the_line_behind_the_figure(tmp_path):
    wrong = FAILING.replace("total = 80", "total = 70").replace("absence = 10", "absence = 20").replace(
        '["dismissal_review"]', "[]")
    result = kpi("scheme", "check", write(tmp_path, MINI + wrong), "--json")
    assert result.exit_code == 1
    (example,) = json.loads(result.output)["examples"]
    assert example["mismatches"] == [
        "indicators.absence: expected 20, got 10 (40 − 10 × 3 = 10)",
        "flags: expected [], got ['dismissal_review'] (dismissal_review: absent 3 days or more (absent_days = 3))",
    ]


# The three October scorecards tests/test_demo.py works out by hand, as worked examples of a copy
# of the built-in pack, and a person on probation (not appraised).
PROBATION_EXAMPLE = """
[[example]]
name = "on probation until the end of the year"
role = "specialist"
employee = { hire_date = 2026-09-01, probation_end = 2026-12-31 }
inputs = { csat_rate = 96 }
expect = { eligible = false, flags = ["probation"] }
"""


def test_the_demo_hand_computations_pass_as_examples_of_the_builtin_pack(tmp_path):
    # recycling.toml carries the demo's three hand-computed scorecards (tests/test_demo.py) as examples.
    result = kpi("scheme", "check", "recycling")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == ["3 examples: 3 passed, 0 failed", "0 errors, 0 warnings"]
    path = write(tmp_path, RECYCLING.read_text(encoding="utf-8") + PROBATION_EXAMPLE)
    result = kpi("scheme", "check", path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-2:] == ["4 examples: 4 passed, 0 failed", "0 errors, 0 warnings"]


def test_passing_examples_exit_0(tmp_path):
    result = kpi("scheme", "check", write(tmp_path, MINI + PASSING))
    assert result.exit_code == 0, result.output
    assert "1 example: 1 passed, 0 failed" in result.output


def test_mistakes_in_an_example_are_errors_with_key_path_and_did_you_mean(tmp_path):
    bad = PASSING.replace("csat_rate =", "csat_rat =").replace("indicators = { csat = 48", "indicators = { csta = 48")
    path = write(tmp_path, MINI + bad.replace("eligible = true", "eligble = true"))
    result = kpi("scheme", "check", path)
    assert result.exit_code == 1
    out = result.output
    assert (f"error: {path}: example[0].inputs.csat_rat: the scheme reads no metric 'csat_rat'; "
            "did you mean 'csat_rate'?") in out
    assert (f"error: {path}: example[0].expect.indicators.csta: the scheme has no indicator 'csta'; "
            "did you mean 'csat'?") in out
    assert f"error: {path}: example[0].expect.eligble: unknown key; did you mean 'eligible'?" in out
    assert "FAIL example[0] CSAT 92.5%, one day absent\n     not run: the example has errors (above)" in out
    assert "3 errors, 0 warnings" in out


def test_unknown_role_and_dimension_in_an_example(tmp_path):
    bad = PASSING.replace('role = "客服专员"', 'role = "agnet"').replace("satisfaction = 48", "satisfactoin = 48")
    result = kpi("scheme", "check", write(tmp_path, MINI + bad), "--json")
    problems = {p["key"]: p["message"] for p in json.loads(result.output)["problems"]}
    assert problems["example[0].role"] == "unknown role 'agnet'; did you mean 'agent'? (roles: agent)"
    assert problems["example[0].expect.dimensions.satisfactoin"].endswith("did you mean 'satisfaction'? "
                                                                          "(dimensions: satisfaction, discipline)")


def test_unreachable_grade_is_a_warning_and_warnings_alone_pass(tmp_path):
    text = MINI.replace('id = "A"\nge = 90', 'id = "S"\ngt = 100\n[[grade]]\nid = "A"\nge = 90\nle = 100')
    path = write(tmp_path, text)
    result = kpi("scheme", "check", path)
    assert result.exit_code == 0, result.output
    assert (f"warning: {path}: grade[0]: unreachable: no total falls in > 100 (totals run from 0 to 100); "
            "move the grade's edge or remove it") in result.output
    assert "0 errors, 1 warning" in result.output


def test_a_dimension_that_can_never_score_full_marks_is_a_warning(tmp_path):
    path = write(tmp_path, MINI.replace("start = 40", "start = 30"))
    result = kpi("scheme", "check", path)
    assert result.exit_code == 0
    assert (f"warning: {path}: dimension[1]: the dimension can never score full marks: its indicators give at "
            "most 30 of 40") in result.output


def test_show_recycling_prints_the_rule_table():
    result = kpi("scheme", "show", "recycling")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "客户满意度 / Customer satisfaction" in out
    assert "≥ 95 → 30; [90, 95) → 24; [85, 90) → 18; [80, 85) → 12; < 80 → 0" in out
    assert "15, −3 each, floor 0" in out and "7, −2 each, floor 0; 3 or more → item lost" in out
    assert "= 0 → 5, else 0" in out and "value / 5 × 10, cap 10" in out
    assert "[75, 85)   80%" in out and "specialist   300           75%" in out


def test_show_json_has_the_five_dimensions():
    result = kpi("scheme", "show", "recycling", "--json")
    d = json.loads(result.output)
    assert [x["id"] for x in d["dimensions"]] == ["satisfaction", "efficiency", "quality", "compliance", "teamwork"]
    assert d["dimensions"][0]["weights"] == {"specialist": "30", "key_account": "35", "after_sales": "25"}
    assert d["pay"]["percent"][-1] == {"total": "< 75", "percent": "70"}


def test_show_a_file_and_check_the_builtin_pack(tmp_path):
    assert "小方案 / Mini scheme" in kpi("scheme", "show", write(tmp_path, MINI)).output
    result = kpi("scheme", "check", "recycling")
    assert result.exit_code == 0 and result.output.endswith("0 errors, 0 warnings\n")


@pytest.mark.parametrize("arg,message", [
    ("recyclng", "unknown scheme 'recyclng'; did you mean 'recycling'? (installed: "),
    ("missing/scheme.toml", "missing/scheme.toml: no such file"),
])
def test_unknown_scheme_or_missing_file(arg, message):
    for command in ("show", "check"):
        result = kpi("scheme", command, arg)
        assert result.exit_code == 1 and message in result.output
        assert "recycling" in result.output.split("installed: ")[-1] or "installed" not in message


def test_a_scheme_without_show_or_check_says_so(monkeypatch):
    class Bare:  # a scheme written in Python that offers only what scoring needs
        id, version, name = "bare", "1", {"en": "Bare"}

    def host():
        h = make_host()
        h.schemes()["bare"] = Registration("bare", "scheme", Bare(), h.plugins[0])
        return h

    monkeypatch.setattr("kpi.core.cli.make_host", host)
    result = kpi("scheme", "check", "bare")
    assert result.exit_code == 1
    assert (f"scheme 'bare' (plugin '{host().plugins[0].name}') offers no `kpi scheme check`: "
            "it has no lint() or run_examples() method") in result.output
    assert "offers no `kpi scheme show`: it has no describe() method" in kpi("scheme", "show", "bare").output


def test_show_a_file_that_does_not_load_lists_its_problems(tmp_path):
    path = write(tmp_path, MINI.replace("max = 40", "max = 40\nwieght = 40"))
    result = kpi("scheme", "show", path)
    assert result.exit_code == 1
    assert (f"{path} does not load:\nerror: {path}: dimension[1].wieght: unknown key; "
            "did you mean 'weight'?") in result.output


def test_show_a_formula_indicator_a_mean_dimension_and_the_total_factor(tmp_path):
    text = HEAD.replace('version = "1"', 'version = "1"\ntotal_factor = "key_score / 100"') + """
[[dimension]]
id = "bonus"
max = 100
combine = "mean"
  [[dimension.indicator]]
  id = "bonus"
  rule = "formula"
  formula = "tickets_handled / 4"
  floor = 0
  cap = 100
"""
    out = kpi("scheme", "show", write(tmp_path, text)).output
    assert "total 100 × key_score / 100;" in out
    assert "1. bonus  (max 100, combine mean)" in out
    assert "tickets_handled  formula  tickets_handled / 4; floor 0, cap 100" in out


def test_a_metric_no_plugin_defines_is_an_error_with_the_indicator_and_a_suggestion(tmp_path):
    path = write(tmp_path, RECYCLING.read_text(encoding="utf-8").replace('metric = "csat_rate"', 'metric = "csat_rat"'))
    result = kpi("scheme", "check", path)
    assert result.exit_code == 1
    assert (f"error: {path}: dimension[0].indicator[0]: reads the metric 'csat_rat', which no plugin defines and "
            "the scheme does not declare (in [metrics.csat_rat], for a figure a connector supplies); "
            "did you mean 'csat_rate'?") in result.output
