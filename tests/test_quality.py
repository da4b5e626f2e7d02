"""Data quality on the demo: an anomaly window's records are left out of every metric, with the
reason on every scorecard; attendance days some people have and others lack are reported; a window
naming an unknown record kind is a config error."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from kpi.core.cli import main

OUTAGE = """
[[anomaly]]
start = 2026-10-21
end = 2026-10-21
reason = "helpdesk outage (系统故障)"
kinds = ["ticket"]
"""


def run(site) -> dict:
    result = CliRunner().invoke(main, ["run", "--config", str(site), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def late_tickets(site, run_id: int) -> dict[str, set[str]]:
    """The late tickets the store's metric evidence names, per employee."""
    import sqlalchemy as sa
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT employee_id, evidence FROM metric_values WHERE run_id = :r AND metric IN "
                                    "('late_normal_tickets', 'late_urgent_tickets')"), {"r": run_id}).all()
    engine.dispose()
    out: dict[str, set[str]] = {}
    for emp, evidence in rows:
        out.setdefault(emp, set()).update(json.loads(evidence)["records"])
    return out


def test_an_outage_leaves_its_tickets_out_and_says_so_on_every_scorecard(demo_site):
    before = run(demo_site)
    late_before = late_tickets(demo_site, before["run_id"])
    with open(demo_site.parent / "data" / "tickets.csv", encoding="utf-8") as f:
        on_21st = {r["ticket_id"]: r["agent_id"] for r in csv.DictReader(f) if r["created_at"].startswith("2026-10-21")}
    assert any(t in on_21st for ts in late_before.values() for t in ts), "the demo has late tickets on the 21st"

    demo_site.write_text(demo_site.read_text(encoding="utf-8") + OUTAGE, encoding="utf-8")
    after = run(demo_site)
    late_after = late_tickets(demo_site, after["run_id"])
    # Exactly the tickets raised on the 21st are gone from the evidence; everything else is as it was.
    assert late_after == {e: {t for t in ts if t not in on_21st} for e, ts in late_before.items()}
    roster = {r["坐席ID"]: r["工号"] for r in csv.DictReader(open(demo_site.parent / "data" / "roster.csv",
                                                                   encoding="utf-8"))}
    for card in after["scorecards"]:
        (flag,) = [f for f in card["flags"] if f["code"] == "anomaly"]
        n = sum(1 for agent in on_21st.values() if roster.get(agent) == card["employee_id"])
        assert flag["message"] == (f"helpdesk outage (系统故障): ticket records from 2026-10-21 to 2026-10-21 left out "
                                   f"({n} of this person's)")


def test_attendance_days_missing_for_one_person_are_reported(demo_site):
    path = demo_site.parent / "data" / "attendance.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(ln for ln in lines if not ln.startswith("00005,2026-10-09")), encoding="utf-8")
    out = run(demo_site)
    assert any("attendance has days for others but not for 1 people (E005: 1 days)" in w for w in out["warnings"])


def test_an_anomaly_naming_an_unknown_record_kind_is_refused(demo_site):
    demo_site.write_text(demo_site.read_text(encoding="utf-8") + OUTAGE.replace('["ticket"]', '["tickets"]'),
                         encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--config", str(demo_site)])
    assert result.exit_code == 1
    assert "anomaly[0].kinds: unknown record kind 'tickets'; did you mean 'ticket'?" in result.output


def test_an_anomaly_window_is_in_the_audit_log_from_the_first_run_that_applies_it(demo_site):
    demo_site.write_text(demo_site.read_text(encoding="utf-8") + OUTAGE, encoding="utf-8")
    run(demo_site)
    run(demo_site)
    result = CliRunner().invoke(main, ["audit", "--config", str(demo_site), "--json"])
    log = json.loads(result.stdout)
    assert [(e["action"], e["subject"], e["details"]["reason"]) for e in log] == [
        ("anomaly.applied", "2026-10-21 to 2026-10-21", "helpdesk outage (系统故障)")]
