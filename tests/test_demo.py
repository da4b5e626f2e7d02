"""The bundled demo, end to end, checked against figures worked out by hand from seed 000's rules
(plugins/schemes/packs/recycling.toml says which parts the seed gives and which are completed).

October 2026, read straight from config/demo/data/*.csv:

E011 徐勇 客服专员 (specialist: weights 30/25/20/15/10)
  ratings 24 good, 7 bad → CSAT 77.42% (< 80) → 0; one valid complaint C00019 → no +5, −10;
  satisfaction −10 → floor 0 (扣完为止).
  late normal tickets T005018 (59.4 h), T005026 (67.0 h) → 15 − 2×3 = 9; no late urgent → 10;
  task completion 92% (90–100) → 0; efficiency 19.
  process compliance 85.7% (80–90) → 8.
  violations 0 → 7; late/early 0 → 8; absent 4 days → −20; compliance −5 → floor 0.
  teamwork rating 2 → 2/5 × 10 = 4.
  total 0 + 19 + 8 + 0 + 4 = 31 → D; pay band < 75 → 70%, frontline floor 75% → 300 × 75% = 225.00;
  flag dismissal_review (absent ≥ 3).

E021 郑刚 大客户专员 (key_account: weights 35/20/20/15/10; site pays a 400 base)
  24 good, 0 bad → 100% → 30; no complaint → +5; raw 35 → cap 30 → 30/30 × 35 = 35.
  no late tickets → 15 + 10; completion 100% → +3; raw 28 → cap 25 → 25/25 × 20 = 20.
  compliance 98.6% → 16. compliance 7 + 8 + 0 = 15. teamwork 3 → 6.
  total 35 + 20 + 16 + 15 + 6 = 92 → A; 85–95 → 90% → 400 × 90% = 360.00.

E027 韩婷 售后专员 (after_sales: weights 25/30/20/15/10)
  28 good, 2 bad → 93.33% → 24; complaint C00023 not valid → +5; raw 29 → 29/30 × 25 = 24.17.
  15 + 10 + 0 (92%) = 25 → 25/25 × 30 = 30. compliance 96.8% → 16.
  1 violation → 7 − 2 = 5; 2 early + 1 late → 8 − 6 = 2; compliance 7. teamwork 3 → 6.
  total 24.17 + 30 + 16 + 7 + 6 = 83.17 → B; 75–85 → 80% → 300 × 80% = 240.00.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kpi.core.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "config" / "demo"

HAND = {
    "E011": {"total": "31", "grade": "D", "pay": "225.00", "flags": {"dismissal_review"},
             "dimensions": {"satisfaction": "0", "efficiency": "19", "quality": "8", "compliance": "0", "teamwork": "4"}},
    "E021": {"total": "92", "grade": "A", "pay": "360.00", "flags": set(),
             "dimensions": {"satisfaction": "35", "efficiency": "20", "quality": "16", "compliance": "15", "teamwork": "6"}},
    "E027": {"total": "83.17", "grade": "B", "pay": "240.00", "flags": set(),
             "dimensions": {"satisfaction": "24.17", "efficiency": "30", "quality": "16", "compliance": "7", "teamwork": "6"}},
}


@pytest.fixture
def demo_run(demo_site):
    result = CliRunner().invoke(main, ["run", "--config", str(demo_site), "--json"])
    assert result.exit_code == 0, result.output
    return demo_site, json.loads(result.stdout)


def test_generator_is_deterministic_and_matches_the_bundled_data(tmp_path):
    subprocess.run([sys.executable, str(DEMO / "generate.py"), "--out", str(tmp_path)], check=True)
    bundled = sorted(p.name for p in (DEMO / "data").glob("*.csv"))
    assert bundled == sorted(p.name for p in tmp_path.glob("*.csv"))
    for name in bundled:
        assert (tmp_path / name).read_bytes() == (DEMO / "data" / name).read_bytes(), name


def test_three_employees_match_the_hand_computation(demo_run):
    _, out = demo_run
    cards = {c["employee_id"]: c for c in out["scorecards"]}
    for emp, want in HAND.items():
        card = cards[emp]
        assert Decimal(card["total"]) == Decimal(want["total"]), emp
        assert card["grade"] == want["grade"], emp
        assert card["pay"]["amount"] == want["pay"], emp
        assert {f["code"] for f in card["flags"]} == want["flags"], emp
        dims = {d["id"]: Decimal(d["points"]) for d in card["dimensions"]}
        assert dims == {k: Decimal(v) for k, v in want["dimensions"].items()}, emp


def test_scorecard_shows_its_arithmetic(demo_run):
    _, out = demo_run
    card = next(c for c in out["scorecards"] if c["employee_id"] == "E011")
    lines = {l["indicator"]: l for l in card["lines"]}
    assert lines["normal_24h"]["value"] == "2"
    assert lines["normal_24h"]["explanation"] == "15 − 3 × 2 = 9"
    assert lines["csat"]["matched"] == "< 80"
    satisfaction = next(d for d in card["dimensions"] if d["id"] == "satisfaction")
    assert satisfaction["adjustments"] == ["-10 raised to the floor 0"]
    assert "raised to the specialist floor of 75%" in card["pay"]["explanation"]


def test_probation_is_not_appraised(demo_run):
    _, out = demo_run
    card = next(c for c in out["scorecards"] if c["employee_id"] == "E013")
    assert card["eligible"] is False and card["total"] is None and card["pay"] is None and card["rank"] is None
    assert [f["code"] for f in card["flags"]] == ["probation"]


def test_late_tickets_are_kept_as_evidence(demo_run):
    site, out = demo_run
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        evidence = conn.execute(sa.text(
            "SELECT evidence FROM metric_values WHERE run_id = :r AND employee_id = 'E011' "
            "AND metric = 'late_normal_tickets'"), {"r": out["run_id"]}).scalar_one()
    assert json.loads(evidence)["records"] == ["T005018", "T005026"]


def test_payroll_file_has_bom_chinese_headers_and_sums_to_the_store(demo_run):
    site, out = demo_run
    path = site.parent / "out" / "payroll-2026-10.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:3] == ["工号", "姓名", "部门"]
    by_id = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert len(by_id) == 30
    assert by_id["E021"]["绩效工资(元)"] == "360.00" and by_id["E021"]["姓名"] == "郑刚"
    assert by_id["E013"]["绩效工资(元)"] == ""  # on probation: nothing to pay
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT pay_amount FROM scorecards WHERE run_id = :r AND pay_amount IS NOT NULL"),
                              {"r": out["run_id"]}).scalars().all()
    file_total = sum(Decimal(r["绩效工资(元)"]) for r in by_id.values() if r["绩效工资(元)"])
    assert file_total == sum(Decimal(v) for v in stored)
    assert out["exports"][0]["delivered"] == 30


def test_rerun_delivers_nothing_new_and_keeps_history(demo_site):
    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["run", "-c", str(demo_site), "--json"]).stdout)
    second = runner.invoke(main, ["run", "-c", str(demo_site), "--json"])
    assert second.exit_code == 0, second.output
    second = json.loads(second.stdout)
    assert second["exports"][0] == {**first["exports"][0], "delivered": 0, "unchanged": 30}
    assert [c["total"] for c in second["scorecards"]] == [c["total"] for c in first["scorecards"]]
    engine = sa.create_engine(f"sqlite:///{demo_site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT id, status, is_current FROM runs ORDER BY id")).all()
    assert [(r.status, bool(r.is_current)) for r in runs] == [("succeeded", False), ("succeeded", True)]


def test_text_summary_lists_everyone(demo_site):
    result = CliRunner().invoke(main, ["run", "-c", str(demo_site)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["rank", "id", "name", "role", "total", "grade", "pay", "flags"]
    assert any(l.split()[:2] == ["1", "E017"] for l in lines)
    assert "source tickets: 6194 rows read, 6194 stored" in result.stdout


def test_a_period_without_data_warns(demo_site):
    result = CliRunner().invoke(main, ["run", "-c", str(demo_site), "--period", "2026-11", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [w.split(" records")[0] for w in out["warnings"]] == ["no attendance_day", "no complaint", "no ticket"]
    card = next(c for c in out["scorecards"] if c["employee_id"] == "E001")
    assert {f["code"] for f in card["flags"]} == {"missing_data"}  # no department figures for November


def test_kpi_scorecard_prints_the_stored_arithmetic(demo_run):
    site, _ = demo_run
    result = CliRunner().invoke(main, ["scorecard", "--config", str(site), "E011", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "E011 徐勇 · specialist · 2026-10" in out
    assert "-10 raised to the floor 0" in out and "0 − 5 × 4 = -20" in out
    assert "total 31 = 0 + 19 + 8 + 0 + 4 · grade D" in out
    assert "pay 225.00 CNY: total 31 in < 75 → 70%, raised to the specialist floor of 75%; 300 × 75% = 225.00" in out
    assert "flag dismissal_review:" in out
    missing = CliRunner().invoke(main, ["scorecard", "--config", str(site), "E0111"])
    assert missing.exit_code == 1 and "no scorecard for 'E0111' in 2026-10" in missing.output
    assert "did you mean 'E011'" in missing.output
