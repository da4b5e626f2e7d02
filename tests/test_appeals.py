"""An appeal walked from filing to a corrected payroll export, a locked period refusing a re-run
until it is unlocked with a reason, and every step in the audit log — on the demo's store."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kpi.core.cli import main


def kpi(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def payroll_line(site, emp: str) -> str:
    text = (site.parent / "out" / "payroll-2026-10.csv").read_text(encoding="utf-8-sig")
    return next(ln for ln in text.splitlines() if ln.startswith(emp + ","))


def test_an_upheld_appeal_becomes_one_correction_and_a_locked_period_refuses_a_rerun(demo_site):
    c = ["--config", str(demo_site)]
    kpi("run", *c)
    assert ",83.17,B,80,300.00,240.00," in payroll_line(demo_site, "E027")

    # E027 contests the teamwork rating (3) on the working day before National Day.
    filed = kpi("appeal", "file", *c, "E027", "--grounds", "the supervisor rated teamwork before my project "
                "hand-over was counted", "--evidence", "hand-over record HO-2026-10-17", "--received", "2026-09-29",
                "--on", "2026-09-30", "--by", "韩婷")
    # review within 3 working days of 09-30: 10-08, 10-09, and the working Saturday 10-10;
    # decision within 5 more: 10-12, 10-13, 10-14, 10-15, 10-16.
    assert "appeal #1 filed for E027 in 2026-10: review due 2026-10-10, decision due 2026-10-16" in filed.output
    kpi("appeal", "review", *c, "1", "--by", "考核小组")
    upheld = kpi("appeal", "resolve", *c, "1", "--uphold", "--metric", "teamwork_rating=5", "--reason",
                 "the hand-over record shows the teamwork the rating missed", "--on", "2026-10-12", "--by", "考核小组")
    assert "appeal #1 upheld: adjustments #1" in upheld.output

    # The next run applies it: teamwork 5 → 10 instead of 6; total 87.17 → [85, 95) → 90% → 270.00.
    rerun = json.loads(kpi("run", *c, "--json").stdout)
    card = next(x for x in rerun["scorecards"] if x["employee_id"] == "E027")
    assert (card["total"], card["grade"], card["pay"]["amount"]) == ("87.17", "B", "270.00")
    assert any(f["code"] == "adjusted" and "teamwork_rating set to 5 by 考核小组" in f["message"] for f in card["flags"])
    payroll = next(e for e in rerun["exports"] if e["exporter"] == "payroll")
    assert (payroll["delivered"], payroll["unchanged"]) == (1, 29)  # one correction, for E027 only
    assert ",87.17,B,90,300.00,270.00," in payroll_line(demo_site, "E027")
    explained = json.loads(kpi("explain", *c, "E027", "--json").stdout)
    teamwork = next(m for m in explained["metrics"] if m["metric"] == "teamwork_rating")
    assert teamwork["value"] == "5" and teamwork["evidence"]["measured"] == "3" and teamwork["source"] == "adjustment #1"

    # Reviewed, approved: locked. A re-run and an adjustment are refused until an unlock with a reason.
    kpi("period", "review", *c, "--by", "主管")
    kpi("period", "approve", *c, "--by", "经理")
    refused = kpi("run", *c, ok=False)
    assert refused.exit_code == 1 and "2026-10 is approved by 经理 and locked: it cannot be scored again" in refused.output
    refused = kpi("adjust", "add", *c, "E011", "--metric", "violations=0", "--reason", "x", "--by", "主管", ok=False)
    assert refused.exit_code == 1 and "locked" in refused.output
    no_reason = kpi("period", "unlock", *c, "--by", "经理", ok=False)
    assert no_reason.exit_code == 1 and "an unlock needs a reason" in no_reason.output
    kpi("period", "unlock", *c, "--by", "经理", "--reason", "payroll found a typo in the roster")
    again = json.loads(kpi("run", *c, "--json").stdout)
    assert next(e for e in again["exports"] if e["exporter"] == "payroll")["delivered"] == 0  # nothing changed

    log = json.loads(kpi("audit", *c, "--period", "2026-10", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in log] == [
        ("appeal.file", "韩婷"), ("appeal.review", "考核小组"), ("adjustment.add", "考核小组"),
        ("appeal.upheld", "考核小组"), ("period.review", "主管"), ("period.approve", "经理"),
        ("period.unlock", "经理")]
    assert log[-1]["details"] == {"reason": "payroll found a typo in the roster"}
    assert log[2]["details"]["appeal_id"] == 1 and log[2]["employee_id"] == "E027"


def test_a_late_appeal_needs_a_reason_and_a_rejected_one_changes_nothing(demo_site):
    c = ["--config", str(demo_site)]
    kpi("run", *c)
    late = kpi("appeal", "file", *c, "E011", "--grounds", "g", "--received", "2026-11-02", "--on", "2026-11-20",
               "--by", "徐勇", ok=False)
    # 5 working days after Monday 11-02: 11-03 … 11-06, 11-09
    assert late.exit_code == 1 and "due within 5 working days, by 2026-11-09" in late.output
    kpi("appeal", "file", *c, "E011", "--grounds", "g", "--received", "2026-11-02", "--on", "2026-11-20",
        "--late-reason", "on sick leave until 11-19", "--by", "徐勇")
    kpi("appeal", "resolve", *c, "1", "--reject", "--reason", "the absences are on the attendance record",
        "--by", "考核小组")
    listed = json.loads(kpi("appeal", "list", *c, "--json").stdout)
    assert [(a["id"], a["state"], a["outcome"]) for a in listed] == [
        (1, "rejected", "the absences are on the attendance record")]
    again = kpi("appeal", "resolve", *c, "1", "--uphold", "--metric", "absent_days=0", "--reason", "r", "--by", "x",
                ok=False)
    assert again.exit_code == 1 and "appeal #1 is rejected: it cannot be decided" in again.output
    unknown = kpi("adjust", "add", *c, "E011", "--metric", "absent_dayz=0", "--reason", "r", "--by", "x", ok=False)
    assert unknown.exit_code == 1 and "the scheme has no metric 'absent_dayz'; did you mean 'absent_days'?" in unknown.output


def test_a_record_left_out_by_adjustment_no_longer_counts(demo_site):
    c = ["--config", str(demo_site)]
    kpi("run", *c)
    kpi("adjust", "add", *c, "E011", "--exclude-record", "ticket:tickets:T005018", "--reason",
        "reassigned to the key-account team on 10-23", "--by", "主管")
    out = json.loads(kpi("run", *c, "--json").stdout)
    card = next(x for x in out["scorecards"] if x["employee_id"] == "E011")
    # one late normal ticket left: 15 − 3 = 12 instead of 9 → efficiency 22, total 34
    assert next(ln for ln in card["lines"] if ln["indicator"] == "normal_24h")["points"] == "12"
    assert card["total"] == "34"
    assert any(f["code"] == "adjusted" and "record ticket:tickets:T005018 left out" in f["message"]
               for f in card["flags"])
    explained = json.loads(kpi("explain", *c, "E011", "--json").stdout)
    late = next(m for m in explained["metrics"] if m["metric"] == "late_normal_tickets")
    assert [r["id"] for r in late["records"]] == ["T005026"]


def test_a_company_day_off_in_the_config_moves_the_deadline(demo_site):
    text = demo_site.read_text(encoding="utf-8")
    demo_site.write_text(text.replace("[identity]", "[calendar]\ndays_off = [2026-10-08]\n\n[identity]", 1),
                         encoding="utf-8")
    c = ["--config", str(demo_site)]
    kpi("run", *c)
    filed = kpi("appeal", "file", *c, "E027", "--grounds", "g", "--received", "2026-09-29", "--on", "2026-09-30",
                "--by", "韩婷")
    # 10-08 is now off too: 10-09, 10-10 (working Saturday), 10-12
    assert "review due 2026-10-12" in filed.output
