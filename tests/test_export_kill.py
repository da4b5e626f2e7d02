"""An export killed outright (SIGKILL) in the middle of a remote call: after the receiver got one
employee's request and before kpi learnt the answer. The ledger shows that delivery as "sending"
(outcome unknown); `kpi export` then resends only what is needed — the unknown one with the same
idempotency key, so the receiver does not act twice — and afterwards the ledger agrees with what
the receiver holds: the same keys, one record (one payment) per employee.

The run is a real `kpi run` in a child process; the test's HTTP server kills it (by pid) from the
handler of the chosen employee's request, after storing that request as a receiver would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from test_exporters_http import (NO_PAY, PEOPLE, FakeFrappe, WebhookReceiver, add_exporter, correct_e011,
                                 delivered_keys, frappe_section, kpi, ledger, report, serve, webhook_section)
from test_exporters_http import credentials, waits  # noqa: F401  (autouse fixtures: secrets in the environment)
from test_helpdesk_connectors import httpserver, no_proxy  # noqa: F401

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")

VICTIM = "E010"  # the employee whose request is in flight when the export dies


class Killer:
    """Kills the child `kpi run` from inside the server's handler for VICTIM's request."""

    def __init__(self, victim: str = VICTIM):
        self.victim = victim
        self.child: subprocess.Popen | None = None
        self.killed = False

    def __call__(self, employee: str) -> None:
        if employee == self.victim and not self.killed and self.child is not None:
            self.killed = True
            os.kill(self.child.pid, signal.SIGKILL)
            time.sleep(0.5)  # the answer below goes to a dead process

    def run(self, site) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self.child = subprocess.Popen([sys.executable, "-m", "kpi.core.cli", "run", "--config", str(site)],
                                      cwd=site.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True)
        out, err = self.child.communicate(timeout=300)
        return subprocess.CompletedProcess(self.child.args, self.child.returncode, out, err)


def test_webhook_export_killed_mid_request_resends_only_the_unknown_one_with_its_key(demo_site, httpserver):
    receiver, killer = WebhookReceiver(), Killer()
    receiver.on_request = lambda body: killer(body["employee_id"])
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver)))

    child = killer.run(demo_site)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    # The receiver has E001 … E010; the ledger: E001 … E009 delivered, E010 sending (unknown).
    assert [r["body"]["employee_id"] for r in receiver.log] == PEOPLE[:10]
    rows = ledger(demo_site, "hr-webhook")
    last = {r["employee_id"]: r for r in rows}
    assert {e for e, r in last.items() if r["status"] == "delivered"} == set(PEOPLE[:9])
    assert last[VICTIM]["status"] == "sending"
    unknown_key = last[VICTIM]["idempotency_key"]
    assert unknown_key == receiver.sent_for(VICTIM)[0]["idempotency_key"]

    out = kpi("export", "--config", str(demo_site))
    assert (report(out, "hr-webhook")["delivered"], report(out, "hr-webhook")["unchanged"]) == (21, 9)
    resent = [r["body"] for r in receiver.log[10:]]
    assert [b["employee_id"] for b in resent] == PEOPLE[9:]  # the unknown one, then the rest; nothing twice
    assert resent[0]["idempotency_key"] == unknown_key and resent[0]["kind"] == "new"
    assert [r["headers"]["Idempotency-Key"] for r in receiver.log if r["body"]["employee_id"] == VICTIM] == [unknown_key] * 2

    # The ledger agrees with the receiver: the same keys; one record per employee.
    assert delivered_keys(demo_site, "hr-webhook") == set(receiver.accepted)
    assert len(receiver.accepted) == 30 and len(receiver.records) == 30 and receiver.problems == []
    assert report(kpi("export", "--config", str(demo_site)), "hr-webhook")["delivered"] == 0


def test_frappe_export_killed_mid_create_finds_the_record_and_pays_nobody_twice(demo_site, httpserver):
    frappe, killer = FakeFrappe(), Killer()
    frappe.on_create = lambda doc: killer(doc["employee"])  # the kill comes after Frappe stored it
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe)))

    child = killer.run(demo_site)
    assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout, child.stderr)
    made = {d["employee"]: d for d in frappe.salaries.values()}
    assert sorted(made) == PEOPLE[:10]
    last = {r["employee_id"]: r for r in ledger(demo_site, "frappe")}
    assert last[VICTIM]["status"] == "sending" and last[VICTIM]["idempotency_key"] == made[VICTIM]["kpi_idempotency_key"]

    creates_before = len(frappe.calls("POST", "/api/resource/Additional Salary"))
    out = kpi("export", "--config", str(demo_site))
    assert report(out, "frappe")["delivered"] == 21 and report(out, "frappe")["failed"] == {}
    created = [b["employee"] for b in frappe.calls("POST", "/api/resource/Additional Salary")[creates_before:]]
    assert VICTIM not in created and sorted(created) == sorted(set(PEOPLE[10:]) - NO_PAY)

    # One active Additional Salary per paid employee; the ledger's remote ids and keys are Frappe's.
    active = Counter(d["employee"] for d in frappe.salaries.values() if d["docstatus"] == 1)
    assert active == Counter(set(PEOPLE) - NO_PAY)
    rows = [r for r in ledger(demo_site, "frappe") if r["status"] == "delivered"]
    assert {r["remote_id"] for r in rows if r["remote_id"]} == set(frappe.salaries)
    assert {r["idempotency_key"] for r in rows if r["remote_id"]} == \
           {d["kpi_idempotency_key"] for d in frappe.salaries.values()}
    assert frappe.problems == []


# Killed while E011's first result was in flight, then E011's input is corrected before the next
# run: the result sent now is another payload (another key), and the receiver may or may not hold
# the unknown one. It must end up with the corrected one only.

def test_webhook_killed_then_corrected_replaces_the_unknown_delivery(demo_site, httpserver):
    receiver, killer = WebhookReceiver(), Killer("E011")
    receiver.on_request = lambda body: killer(body["employee_id"])
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver)))
    assert killer.run(demo_site).returncode == -signal.SIGKILL
    unknown = {r["employee_id"]: r for r in ledger(demo_site, "hr-webhook")}["E011"]
    assert unknown["status"] == "sending"

    correct_e011(demo_site)
    out = kpi("run", "--config", str(demo_site))
    assert report(out, "hr-webhook")["delivered"] == 20  # E011 (corrected) and E012 … E030
    fix = [b for b in (r["body"] for r in receiver.log[11:]) if b["employee_id"] == "E011"]
    assert len(fix) == 1 and fix[0]["total"] == "33"
    assert (fix[0]["kind"], fix[0]["replaces"]) == ("correction", unknown["idempotency_key"])
    assert receiver.records["hr-webhook", "2026-10", "E011"]["total"] == "33" and len(receiver.records) == 30
    # What the receiver accepted is what the ledger delivered, and the unknown one it replaced.
    assert set(receiver.accepted) == delivered_keys(demo_site, "hr-webhook") | {unknown["idempotency_key"]}


def test_frappe_killed_then_corrected_cancels_the_unknown_record(demo_site, httpserver):
    frappe, killer = FakeFrappe(appraisal_cycle="KPI 2026-10", id_of=str), Killer("E011")
    frappe.on_create = lambda doc: killer(doc["employee"])
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe), appraisal_cycle="KPI {period}"))
    assert killer.run(demo_site).returncode == -signal.SIGKILL
    (unknown,) = [d for d in frappe.salaries.values() if d["employee"] == "E011"]
    assert {r["employee_id"]: r for r in ledger(demo_site, "frappe")}["E011"]["status"] == "sending"

    correct_e011(demo_site)  # the total on the appraisal changes: another payload, another key
    out = kpi("run", "--config", str(demo_site))
    assert report(out, "frappe")["delivered"] == 20 and report(out, "frappe")["failed"] == {}
    assert unknown["docstatus"] == 2  # found by the filters, cancelled before the new one was made
    active = frappe.active("E011")
    assert len(active) == 1 and active[0]["amount"] == "225.00"
    last = {r["employee_id"]: r for r in ledger(demo_site, "frappe")}["E011"]
    assert (last["status"], last["remote_id"]) == ("delivered", active[0]["name"])
    assert active[0]["kpi_idempotency_key"] == last["idempotency_key"] != unknown["kpi_idempotency_key"]
    assert Counter(d["employee"] for d in frappe.salaries.values() if d["docstatus"] == 1) == Counter(set(PEOPLE) - NO_PAY)
