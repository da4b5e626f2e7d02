"""`kpi explain` traces a demo employee's result from the stored records to the pay: the late
tickets and the complaint by source id (as tests/test_demo.py's hand computation names them)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kpi.core.cli import main


def test_explain_lists_the_late_tickets_complaints_and_absences_by_source_id(demo_site):
    assert CliRunner().invoke(main, ["run", "--config", str(demo_site)]).exit_code == 0
    result = CliRunner().invoke(main, ["explain", "--config", str(demo_site), "E011", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "late_normal_tickets = 2  (records:ticket, count 2)" in out
    assert "tickets:T005018  created_at 2026-10-22 17:34" in out and "tickets:T005026  created_at 2026-10-26 14:55" in out
    assert "complaints:C00019  filed_at 2026-10-21 02:51, valid True" in out
    assert "absent_days = 4" in out and out.count(", result absent") == 4
    assert "csat_rate = 77.4193548387  (records:rating, numerator 24, denominator 31)" in out
    assert "total 31 = 0 + 19 + 8 + 0 + 4 · grade D" in out

    data = json.loads(CliRunner().invoke(main, ["explain", "--config", str(demo_site), "E011", "--json"]).stdout)
    late = next(m for m in data["metrics"] if m["metric"] == "late_normal_tickets")
    assert [r["id"] for r in late["records"]] == ["T005018", "T005026"]
    assert data["scorecard"]["total"] == "31"


def test_explain_names_a_missing_employee_or_period(demo_site):
    missing = CliRunner().invoke(main, ["explain", "--config", str(demo_site), "E011"])
    assert missing.exit_code == 1 and "2026-10 has no stored results; run: kpi run --period 2026-10" in missing.output
    CliRunner().invoke(main, ["run", "--config", str(demo_site)])
    typo = CliRunner().invoke(main, ["explain", "--config", str(demo_site), "E0111"])
    assert typo.exit_code == 1 and "did you mean 'E011'" in typo.output
