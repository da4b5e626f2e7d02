"""Frappe HRMS: each employee's performance pay as a submitted Additional Salary for a salary
component, and (optionally) the score and grade on their Appraisal, through Frappe's REST API.

    [[exporter]]
    name = "frappe"
    use = "frappe_hrms"
    url = "https://hr.example.com"
    api_key = "${FRAPPE_API_KEY}"
    api_secret = "${FRAPPE_API_SECRET}"
    company = "绿源再生资源有限公司"
    salary_component = "Performance Pay"
    appraisal_cycle = "KPI {period}"        # optional

| option | meaning |
|---|---|
| `url` | the Frappe site's address |
| `api_key`, `api_secret` | an API user's key and secret (`"${ENV}"` references), sent as ``Authorization: token key:secret``; the user needs to create, submit and cancel Additional Salary (and write Appraisal) |
| `company`, `salary_component` | the Additional Salary's company and salary component |
| `payroll_date` | `end` (default: the period's last day), `start`, or `next` (the day after the period: next month's payroll) |
| `overwrite_salary_structure_amount` | the Additional Salary's flag of that name (default true) |
| `key_field` | the Additional Salary field that holds kpi's idempotency key (default `kpi_idempotency_key`) |
| `identity` | the roster's id system holding each person's Frappe Employee id (default `frappe`; without one, the kpi id) |
| `appraisal_cycle` | the Appraisal Cycle whose Appraisals get the score (`{period}` replaced); empty (default): no appraisal is written |
| `score_field`, `grade_field` | the Appraisal fields for the total and the grade (default `kpi_score`, `kpi_grade`; `grade_field = ""` leaves the grade out) |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

**Setup in Frappe.** Additional Salary has no field for a reference of ours, so add a Custom Field
(Data) ``kpi_idempotency_key`` to it (Customize Form), or name another Data field in `key_field`.
For the appraisal, Appraisal's own scores (goal, feedback, self, final: out of 5) are computed by
HRMS and cannot be written, so the score goes into Custom Fields ``kpi_score`` (Float) and
``kpi_grade`` (Data) — tick "Allow on Submit" if Appraisals are submitted before kpi runs. A missing
field shows up as Frappe's error on the first employee, before anything is paid.

**Exactly once.** For each employee kpi first lists the active (submitted) Additional Salaries it
made for that employee, component and payroll date (those with a key), then:

- one with *this* payload's key exists → it is kept and nothing is created: a resend after a
  killed or failed export (outcome unknown), or a lost ledger, never pays twice;
- ones with another key (the previous delivery after a changed result, or an unconfirmed attempt
  with another payload) are cancelled (docstatus 2) *before* the new one is created, so at no
  moment are two active — a correction replaces, never adds;
- otherwise the Additional Salary is created and submitted in one request (``docstatus: 1``). That
  request is never retried blindly: if it fails, kpi looks it up by the key to learn whether it
  went through, and else reports the employee failed (the next ``kpi export`` looks again first).

Reads, the cancel check and the appraisal update (a PUT of the same values) are safe to repeat and
are retried on a timeout, a 5xx or a 429. Someone without pay this period (not appraised) gets no
Additional Salary (one delivered earlier is cancelled). A refusal (Frappe's message quoted) fails
that employee only; the others are still sent.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

from kpi.core import hookimpl
from kpi.core.errors import InputError
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option
from kpi.plugins.connectors.http import HTTP_OPTIONS, HttpClient, client_from_options, safe_url

from .remote import Attempt, check_url, deliver, money, number, plan, remote_id_of

SALARY = "Additional Salary"
APPRAISAL = "Appraisal"


def resource(doctype: str, name: str | None = None) -> str:
    return f"/api/resource/{quote(doctype)}" + (f"/{quote(name, safe='')}" if name else "")


class FrappeHrms:
    options = {
        "url": Option("str", required=True, help="the Frappe site's address (https://…)"),
        "api_key": Option("str", required=True, secret=True, help="the API user's key, as \"${ENV_NAME}\""),
        "api_secret": Option("str", required=True, secret=True, help="the API user's secret, as \"${ENV_NAME}\""),
        "company": Option("str", required=True, help="the Additional Salary's company"),
        "salary_component": Option("str", required=True, help="the salary component performance pay is paid as"),
        "payroll_date": Option("str", default="end", choices=("end", "start", "next"),
                               help="the period's last day, its first, or the day after it"),
        "overwrite_salary_structure_amount": Option("bool", default=True,
                                                    help="the Additional Salary's flag of that name"),
        "key_field": Option("str", default="kpi_idempotency_key",
                            help="the Additional Salary (custom) field that holds kpi's idempotency key"),
        "identity": Option("str", default="frappe",
                           help="the roster's id system holding each person's Frappe Employee id (else the kpi id)"),
        "appraisal_cycle": Option("str", default="",
                                  help="the Appraisal Cycle whose Appraisals get the score ({period} replaced); "
                                       "empty: none"),
        "score_field": Option("str", default="kpi_score", help="the Appraisal field for the total"),
        "grade_field": Option("str", default="kpi_grade", help="the Appraisal field for the grade (\"\": none)"),
        **HTTP_OPTIONS,
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        check_url(site, name, options["url"])

    def payloads(self, result: RunResult) -> dict[str, dict]:
        period = result.period
        day = {"end": period.end, "start": period.start, "next": period.end + timedelta(days=1)}[self.opts["payroll_date"]]
        cycle = self.opts["appraisal_cycle"].replace("{period}", period.label)
        out = {}
        for card in result.scorecards:
            payload = {
                "employee": remote_id_of(result.employees.get(card.employee_id), card.employee_id,
                                         self.opts["identity"]),
                "period": period.label,
                "company": self.opts["company"],
                "salary_component": self.opts["salary_component"],
                "payroll_date": day.isoformat(),
                "amount": money(card.pay.amount) if card.pay else None,
                "currency": card.pay.currency if card.pay else None,
                "overwrite_salary_structure_amount": self.opts["overwrite_salary_structure_amount"],
            }
            if cycle:  # the score only matters to Frappe when it is written to the appraisal
                payload.update(appraisal_cycle=cycle, total=number(card.total), grade=card.grade)
            out[card.employee_id] = payload
        return out

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        destination = f"{safe_url(self.opts['url'].rstrip('/'))}{resource(SALARY)} ({self.opts['salary_component']})"
        report = ExportReport(self.name, destination)
        todo = plan(ledger, self.payloads(result), destination, report)
        if ledger.dry_run or not todo:
            return report
        key, secret = self.opts["api_key"].reveal(), self.opts["api_secret"].reveal()
        with client_from_options(self.name, self.opts["url"], self.opts, headers={"Authorization": f"token {key}:{secret}"},
                                 secrets=[key, secret], kind="exporter",
                                 credentials_hint="the api_key and api_secret options") as client:
            sender = _Sender(self, client)
            return deliver(ledger, destination, todo, sender.send, report)


class _Sender:
    def __init__(self, exporter: FrappeHrms, client: HttpClient):
        self.opts = exporter.opts
        self.name = exporter.name
        self.client = client
        self.key_field = exporter.opts["key_field"]

    def send(self, attempts: list[Attempt]) -> dict:
        (a,) = attempts
        p = a.delivery.payload
        if p.get("appraisal_cycle") and p.get("total") is not None:
            self.appraisal(p)
        active = self.active(p)
        keep = next((r for r in active if r.get(self.key_field) == a.delivery.key), None)
        # Cancel first: never two active at once (Frappe refuses a second overwriting one anyway).
        for r in active:
            if r is not keep:
                self.cancel(r["name"])
        previous = (a.delivery.previous or {}).get("remote_id")
        if previous and previous not in {r["name"] for r in active}:
            self.cancel_if_active(previous)  # made for another payroll date, say
        if p["amount"] is None:
            return {a.employee_id: None}
        if keep is not None:  # sent before, outcome unknown until now: it went through
            return {a.employee_id: keep["name"]}
        return {a.employee_id: self.create(p, a.delivery.key)}

    def appraisal(self, p: dict) -> None:
        filters = [["employee", "=", p["employee"]], ["appraisal_cycle", "=", p["appraisal_cycle"]],
                   ["docstatus", "<", 2]]
        found = self.list(APPRAISAL, filters, ["name"])
        if not found:
            raise InputError(f"exporter {self.name!r}: Frappe has no Appraisal for employee {p['employee']} in "
                             f"the appraisal cycle {p['appraisal_cycle']!r}; create the cycle's appraisals first, "
                             "or leave appraisal_cycle empty")
        values = {self.opts["score_field"]: p["total"]}
        if self.opts["grade_field"]:
            values[self.opts["grade_field"]] = p["grade"]
        self.client.request_json("PUT", resource(APPRAISAL, found[0]["name"]), json=values)  # same values: safe to repeat

    def active(self, p: dict) -> list[dict]:
        """The submitted Additional Salaries kpi made for this employee, component and date."""
        filters = [["employee", "=", p["employee"]], ["salary_component", "=", p["salary_component"]],
                   ["payroll_date", "=", p["payroll_date"]], ["docstatus", "=", 1], [self.key_field, "is", "set"]]
        return self.list(SALARY, filters, ["name", self.key_field, "amount"])

    def list(self, doctype: str, filters: list, fields: list[str]) -> list[dict]:
        data, _ = self.client.get_json(resource(doctype), {"filters": json.dumps(filters), "fields": json.dumps(fields),
                                                          "limit_page_length": 100})
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise InputError(f"exporter {self.name!r}: Frappe's list of {doctype} has no \"data\" list; "
                             "check the url option (the site's address)")
        return rows

    def create(self, p: dict, key: str) -> str:
        doc = {"employee": p["employee"], "company": p["company"], "salary_component": p["salary_component"],
               "amount": p["amount"], "currency": p["currency"], "payroll_date": p["payroll_date"],
               "overwrite_salary_structure_amount": 1 if p["overwrite_salary_structure_amount"] else 0,
               self.key_field: key, "docstatus": 1}
        try:
            data, _ = self.client.request_json("POST", resource(SALARY), json=doc, retry=False)
        except InputError:
            found = [r for r in self.active(p) if r.get(self.key_field) == key]
            if found:  # the create went through; only its answer was lost
                return found[0]["name"]
            raise
        made = data.get("data") if isinstance(data, dict) else None
        if not isinstance(made, dict) or not made.get("name"):
            raise InputError(f"exporter {self.name!r}: Frappe's answer to creating an Additional Salary has no "
                             "data.name; check the url option")
        if made.get(self.key_field) != key:  # the field does not exist: Frappe dropped the key
            self.cancel(made["name"])
            raise InputError(f"exporter {self.name!r}: Frappe did not keep the field {self.key_field!r} on "
                             f"Additional Salary (so a resend could not be recognised; {made['name']} was "
                             f"cancelled again); add it as a Custom Field (Data), or set key_field to one that exists")
        return made["name"]

    def cancel(self, name: str) -> None:
        """Cancel a submitted Additional Salary. Tried once; if that fails, its state says whether it happened."""
        try:
            self.client.request_json("POST", "/api/method/frappe.client.cancel",
                                     json={"doctype": SALARY, "name": name}, retry=False)
        except InputError:
            if self.docstatus(name) != 2:
                raise

    def cancel_if_active(self, name: str) -> None:
        try:
            status = self.docstatus(name)
        except InputError as exc:
            if getattr(exc, "status", None) == 404:  # deleted in Frappe: nothing of it to cancel
                return
            raise
        if status == 1:
            self.cancel(name)

    def docstatus(self, name: str) -> int | None:
        data, _ = self.client.get_json(resource(SALARY, name))
        doc = data.get("data") if isinstance(data, dict) else None
        return doc.get("docstatus") if isinstance(doc, dict) else None


@hookimpl
def kpi_register_exporters(register):
    register("frappe_hrms", FrappeHrms)
