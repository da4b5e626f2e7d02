"""Runs, their differences and what-if: `kpi runs`, `kpi diff`, `kpi simulate` on the demo store,
and the same inputs giving byte-identical scorecards."""

from __future__ import annotations

import json
from pathlib import Path
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from click.testing import CliRunner

from kpi.core.cli import main

PACK = Path(__file__).resolve().parents[1] / "plugins" / "schemes" / "packs" / "recycling.toml"


def kpi(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def breakdowns(site, run_id: int) -> dict[str, str]:
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT employee_id, breakdown FROM scorecards WHERE run_id = :r"), {"r": run_id})
        out = dict(rows.all())
    engine.dispose()
    return out


def test_the_same_inputs_give_byte_identical_scorecards_and_diff_names_the_cause(demo_site):
    c = ["--config", str(demo_site)]
    kpi("run", *c)
    kpi("run", *c)
    assert breakdowns(demo_site, 1) == breakdowns(demo_site, 2)
    runs = json.loads(kpi("runs", *c, "--json"))
    assert [(r["id"], r["status"], r["current"]) for r in runs] == [(1, "succeeded", False), (2, "succeeded", True)]
    assert any(f.startswith("roster.csv sha256:") for f in runs[1]["inputs"])
    assert runs[0]["scheme_digest"] == runs[1]["scheme_digest"] != ""

    kpi("adjust", "add", *c, "E027", "--metric", "teamwork_rating=5", "--reason", "QC re-rated", "--by", "质检")
    kpi("run", *c)
    diff = json.loads(kpi("diff", *c, "2", "3", "--json"))
    assert [p["employee_id"] for p in diff["changed"]] == ["E027"] and diff["causes"] == []
    (e027,) = diff["changed"]
    assert (e027["before"]["total"], e027["after"]["total"], e027["after"]["pay"]) == ("83.17", "87.17", "270")
    assert e027["why"][0] == "teamwork_rating 3 → 5 (adjustment #1)"
    text = kpi("diff", *c, "2", "3")
    assert "E027: total 83.17 → 87.17, grade B → B, pay 240.00 → 270.00" in text


def test_simulate_reports_gains_losses_and_pay_without_touching_the_official_results(demo_site):
    c = ["--config", str(demo_site)]
    official = json.loads(kpi("run", *c, "--json"))
    before = breakdowns(demo_site, 1)
    result = json.loads(kpi("simulate", *c, "--set", "pay_base_specialist=320", "--json"))
    # Only specialists' pay moves: each appraised specialist's percentage of 320 instead of 300.
    want = Decimal(0)
    for card in official["scorecards"]:
        pay = card["pay"]
        if pay is None:
            continue
        base = Decimal(320) if card["role"] == "specialist" else Decimal(pay["base"])
        want += (base * Decimal(pay["percent"]) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert Decimal(result["new_pay"]) == want and Decimal(result["pay"]) == sum(
        Decimal(x["pay"]["amount"]) for x in official["scorecards"] if x["pay"])
    assert (result["gain"], result["lose"], result["grades"]) == (0, 0, result["new_grades"])
    assert breakdowns(demo_site, 1) == before and len(json.loads(kpi("runs", *c, "--json"))) == 1

    # A stricter grade A (above 95, not 90) in a scheme file: the A count follows the official totals.
    stricter = demo_site.parent / "stricter.toml"
    stricter.write_text(PACK.read_text(encoding="utf-8").replace('id = "A"\ngt = 90', 'id = "A"\ngt = 95')
                        .replace('ge = 80\nle = 90', 'ge = 80\nle = 95'), encoding="utf-8")
    what_if = json.loads(kpi("simulate", *c, "--scheme", str(stricter), "--set", "pay_base_key_account=400", "--json"))
    totals = [Decimal(x["total"]) for x in official["scorecards"] if x["total"] is not None]
    assert what_if["new_grades"]["A"] == sum(1 for t in totals if t > 95)
    assert what_if["new_grades"]["B"] == sum(1 for t in totals if 80 <= t <= 95)
    assert what_if["new_pay"] == what_if["pay"]  # grades do not set pay in this scheme
    assert breakdowns(demo_site, 1) == before
