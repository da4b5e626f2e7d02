"""The HTTP exporters — the signed JSON webhook, Frappe HRMS and DingTalk HRBrain — through the
real pipeline on the demo site, against real HTTP servers on 127.0.0.1 that check every request
(signature, token, fields, money as strings) and keep what a receiver would keep: a webhook
receiver that dedupes by Idempotency-Key, a Frappe that holds Additional Salaries and Appraisals,
a DingTalk that upserts performance records.

What is checked: the same results exported twice are delivered once; one employee's corrected
input sends exactly one correction, for that employee, that replaces (never adds); a failure is
that employee's only and `kpi export` resends only it, with the same key; a dry run sends nothing;
a missing secret is a config error; no credential appears in an error or a log line."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug import Request, Response

from kpi.core.cli import main
from kpi.plugins.connectors import http

# Fixtures shared with the connectors' tests: httpserver on 127.0.0.1, no proxy for it.
from test_helpdesk_connectors import httpserver, no_proxy  # noqa: F401

SECRET = "whsec-Sup3r-s3cret-value"
FRAPPE_KEY, FRAPPE_SECRET = "frappe-api-key-1234", "frappe-api-secret-5678"
APPKEY, APPSECRET, DING_TOKEN = "ding-appkey-abc", "ding-appsecret-xyz", "ding-access-token-789"
CREDENTIALS = (SECRET, FRAPPE_KEY, FRAPPE_SECRET, APPKEY, APPSECRET, DING_TOKEN)
PEOPLE = [f"E{n:03d}" for n in range(1, 31)]
NO_PAY = {"E013"}  # on probation in 2026-10: not appraised, no grade, no pay


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("KPI_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FRAPPE_API_KEY", FRAPPE_KEY)
    monkeypatch.setenv("FRAPPE_API_SECRET", FRAPPE_SECRET)
    monkeypatch.setenv("DINGTALK_APPKEY", APPKEY)
    monkeypatch.setenv("DINGTALK_APPSECRET", APPSECRET)


@pytest.fixture(autouse=True)
def waits(monkeypatch):
    """The waits the HTTP client asks for between retries (recorded instead of slept)."""
    asked: list[float] = []
    monkeypatch.setattr(http, "SLEEP", asked.append)
    return asked


# --- the site ------------------------------------------------------------------------------------

def add_exporter(site: Path, toml: str) -> None:
    site.write_text(site.read_text(encoding="utf-8").replace("[output]", toml.strip() + "\n\n[output]", 1),
                    encoding="utf-8")


def webhook_section(url: str, **extra) -> str:
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
    return f'[[exporter]]\nname = "hr-webhook"\nuse = "webhook"\nurl = "{url}"\nsecret = "${{KPI_WEBHOOK_SECRET}}"\n{lines}'


def frappe_section(url: str, **extra) -> str:
    lines = "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in extra.items())
    return (f'[[exporter]]\nname = "frappe"\nuse = "frappe_hrms"\nurl = "{url}"\n'
            f'api_key = "${{FRAPPE_API_KEY}}"\napi_secret = "${{FRAPPE_API_SECRET}}"\n'
            f'company = "绿源再生资源有限公司"\nsalary_component = "Performance Pay"\n{lines}')


def dingtalk_section(url: str, **extra) -> str:
    lines = "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in extra.items())
    return (f'[[exporter]]\nname = "hrbrain"\nuse = "dingtalk_hrbrain"\nurl = "{url}"\n'
            f'appkey = "${{DINGTALK_APPKEY}}"\nappsecret = "${{DINGTALK_APPSECRET}}"\ncorp_id = "ding-corp-1"\n{lines}')


def with_hr_ids(site: Path) -> None:
    """Give the roster a column of Frappe Employee ids (HR-EMP-000NN) and map it as the `frappe` ids."""
    roster = site.parent / "data" / "roster.csv"
    lines = roster.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",HR编号"] + [f"{ln},HR-EMP-{ln[1:4].rjust(5, '0')}" for ln in lines[1:]]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    site.write_text(site.read_text(encoding="utf-8").replace(
        'ids = { helpdesk = "坐席ID", attendance = "考勤号" }',
        'ids = { helpdesk = "坐席ID", attendance = "考勤号", frappe = "HR编号" }'), encoding="utf-8")


def correct_e011(site: Path) -> None:
    """QC corrects E011's teamwork rating from 2 to 3: total 31 → 33, still D, pay still 225.00."""
    figures = site.parent / "data" / "department_figures.csv"
    text = figures.read_text(encoding="utf-8")
    assert "E011,2026-10,92%,85.7%,0,2" in text
    figures.write_text(text.replace("E011,2026-10,92%,85.7%,0,2", "E011,2026-10,92%,85.7%,0,3"), encoding="utf-8")


def kpi(*args: str, ok: bool = True) -> dict:
    result = CliRunner().invoke(main, [*args, "--json"])
    assert (result.exit_code == 0) == ok, result.output
    return json.loads(result.stdout)


def report(out: dict, name: str) -> dict:
    return next(e for e in out["exports"] if e["exporter"] == name)


def ledger(site: Path, exporter: str) -> list[dict]:
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT employee_id, run_id, status, kind, idempotency_key, remote_id, error "
                                    "FROM export_ledger WHERE exporter = :e ORDER BY id"), {"e": exporter}).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


def delivered_keys(site: Path, exporter: str) -> set[str]:
    return {r["idempotency_key"] for r in ledger(site, exporter) if r["status"] == "delivered"}


# --- the receivers -------------------------------------------------------------------------------

class WebhookReceiver:
    """A webhook receiver as the webhook's doc asks for: checks the signature and headers, dedupes by
    Idempotency-Key, keeps one record per (exporter, period, employee), a correction replacing it.
    `on_request(body)` may answer instead (a Response) or act (kill the sender)."""

    def __init__(self, secret: str = SECRET):
        self.secret = secret
        self.lock = threading.Lock()
        self.log: list[dict] = []  # every request: headers and body
        self.accepted: dict[str, dict] = {}  # key -> body, first time seen
        self.records: dict[tuple, dict] = {}  # (exporter, period, employee) -> body
        self.problems: list[str] = []
        self.fail: set[str] = set()  # employees answered with a 500
        self.on_request = None

    def __call__(self, request: Request) -> Response:
        raw = request.get_data()
        body = json.loads(raw)
        h = request.headers
        with self.lock:
            self.log.append({"headers": dict(h), "body": body})
            expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(h.get("X-KPI-Signature", ""), expected):
                self.problems.append(f"bad signature for {body.get('employee_id')}")
                return Response("bad signature", status=401)
            if h.get("Idempotency-Key") != body["idempotency_key"] or h.get("X-KPI-Timestamp") != str(body["sent_at"]):
                self.problems.append(f"headers and body disagree for {body['employee_id']}")
            if not h.get("Content-Type", "").startswith("application/json"):
                self.problems.append("not JSON")
            if body["employee_id"] in self.fail:
                return Response("database is down", status=500)
            key = body["idempotency_key"]
            if key not in self.accepted:
                self.accepted[key] = body
                self.records[body["exporter"], body["period"], body["employee_id"]] = body
            if self.on_request is not None:
                answer = self.on_request(body)
                if answer is not None:
                    return answer
            return Response(json.dumps({"id": f"rec-{key[:8]}"}), content_type="application/json")

    def sent_for(self, employee: str) -> list[dict]:
        return [r["body"] for r in self.log if r["body"]["employee_id"] == employee]


class FakeFrappe:
    """A Frappe site's REST API, enough for Additional Salary and Appraisal: token auth, list with
    filters, create (docstatus 1 submits), get, cancel, update. Fields not on the doctype (custom
    fields included) are dropped, as Frappe does."""

    SALARY_FIELDS = {"employee", "company", "salary_component", "amount", "currency", "payroll_date",
                     "overwrite_salary_structure_amount", "docstatus", "kpi_idempotency_key"}

    def __init__(self, appraisal_cycle: str | None = None, employees=PEOPLE, id_of=None):
        self.lock = threading.Lock()
        self.log: list[tuple[str, str, object]] = []  # (method, path, body)
        self.salaries: dict[str, dict] = {}
        self.appraisals: dict[str, dict] = {}
        self.numbers = itertools.count(1)
        self.problems: list[str] = []
        self.fail_create: set[str] = set()
        self.on_create = None
        if appraisal_cycle:
            for n, emp in enumerate(employees, 1):
                name = f"HR-APR-2026-{n:05d}"
                self.appraisals[name] = {"name": name, "employee": (id_of or hr_id)(emp), "appraisal_cycle": appraisal_cycle,
                                         "docstatus": 0}

    def __call__(self, request: Request) -> Response:
        with self.lock:
            body = json.loads(request.get_data()) if request.get_data() else None
            self.log.append((request.method, request.path, body if body is not None else request.args.get("filters")))
            if request.headers.get("Authorization") != f"token {FRAPPE_KEY}:{FRAPPE_SECRET}":
                return Response(json.dumps({"exc_type": "AuthenticationError",
                                            "message": f"bad token {request.headers.get('Authorization')}"}),
                                status=401, content_type="application/json")
            return self.route(request, body)

    def route(self, request: Request, body) -> Response:
        path, method = request.path, request.method
        if path == "/api/resource/Additional Salary" and method == "GET":
            return ok(self.listing(self.salaries, request))
        if path == "/api/resource/Appraisal" and method == "GET":
            return ok(self.listing(self.appraisals, request))
        if path == "/api/resource/Additional Salary" and method == "POST":
            return self.create(body)
        m = re.fullmatch(r"/api/resource/Additional Salary/(.+)", path)
        if m and method == "GET":
            doc = self.salaries.get(m.group(1))
            return ok(doc) if doc else Response('{"exc_type": "DoesNotExistError"}', status=404)
        m = re.fullmatch(r"/api/resource/Appraisal/(.+)", path)
        if m and method == "PUT":
            self.appraisals[m.group(1)].update(body)
            return ok(self.appraisals[m.group(1)])
        if path == "/api/method/frappe.client.cancel" and method == "POST":
            doc = self.salaries[body["name"]]
            if doc["docstatus"] != 1:
                return Response('{"exc_type": "ValidationError", "message": "Cannot cancel: not submitted"}', status=417)
            doc["docstatus"] = 2
            return Response(json.dumps({"message": None}), content_type="application/json")
        self.problems.append(f"unexpected {method} {path}")
        return Response("no such endpoint", status=404)

    def create(self, body: dict) -> Response:
        for field in ("employee", "company", "salary_component", "amount", "payroll_date", "currency"):
            if body.get(field) in (None, ""):
                return Response(json.dumps({"exc_type": "MandatoryError", "message": field}), status=417)
        if not isinstance(body["amount"], str) or not re.fullmatch(r"\d+\.\d\d", body["amount"]):
            self.problems.append(f"amount not a string to the fen: {body['amount']!r}")
        if body["employee"] in self.fail_create:
            return Response("Internal Server Error", status=500)
        clash = [d for d in self.salaries.values() if d["docstatus"] == 1 and d["employee"] == body["employee"]
                 and d["payroll_date"] == body["payroll_date"] and d["salary_component"] == body["salary_component"]
                 and d["overwrite_salary_structure_amount"]]
        if clash:
            return Response(json.dumps({"exc_type": "ValidationError", "message": "Additional Salary with overwrite "
                                        f"already exists: {clash[0]['name']}"}), status=417)
        name = f"HR-ADS-26-10-{next(self.numbers):05d}"
        doc = {k: v for k, v in body.items() if k in self.SALARY_FIELDS}
        doc.update(name=name, docstatus=body.get("docstatus", 0))
        self.salaries[name] = doc
        if self.on_create is not None:
            self.on_create(doc)
        return ok(doc)

    @staticmethod
    def listing(docs: dict, request: Request) -> list[dict]:
        filters = json.loads(request.args.get("filters", "[]"))
        fields = json.loads(request.args.get("fields", '["name"]'))

        def match(doc, f):
            field, op, value = f
            have = doc.get(field)
            return {"=": have == value, "!=": have != value, "<": have is not None and have < value,
                    "is": bool(have) if value == "set" else not have}[op]

        return [{k: d.get(k) for k in fields} for d in docs.values() if all(match(d, f) for f in filters)]

    def active(self, employee: str) -> list[dict]:
        return [d for d in self.salaries.values() if d["employee"] == employee and d["docstatus"] == 1]

    def calls(self, method: str, path: str) -> list:
        """The bodies (for a GET: the filters) of the requests to `path`."""
        return [b for m, p, b in self.log if m == method and p == path]


def ok(data) -> Response:
    return Response(json.dumps({"data": data}, ensure_ascii=False), content_type="application/json")


def hr_id(emp: str) -> str:
    return f"HR-EMP-{emp[1:].rjust(5, '0')}"


class FakeDingTalk:
    """DingTalk's token endpoint and HRBrain's perfRecords/import: an upsert by workNo, plan and period."""

    def __init__(self):
        self.lock = threading.Lock()
        self.log: list[tuple[str, dict, object]] = []  # (path, query, body)
        self.records: dict[tuple, dict] = {}
        self.problems: list[str] = []
        self.refuse: set[str] = set()  # workNos whose batch gets errcode 60011

    def __call__(self, request: Request) -> Response:
        with self.lock:
            body = json.loads(request.get_data())
            self.log.append((request.path, dict(request.args), body))
            if request.path == "/v1.0/oauth2/accessToken":
                if body != {"appKey": APPKEY, "appSecret": APPSECRET}:
                    return Response(json.dumps({"code": "invalidClientSecret", "message": f"bad secret {body}"}),
                                    status=400, content_type="application/json")
                return Response(json.dumps({"accessToken": DING_TOKEN, "expireIn": 7200}), content_type="application/json")
            if request.headers.get("x-acs-dingtalk-access-token") != DING_TOKEN:
                self.problems.append("no token")
                return Response('{"code": "InvalidAuthentication"}', status=401)
            if request.args.get("corpId") != "ding-corp-1" or not isinstance(body, list):
                self.problems.append(f"bad import call {dict(request.args)} {type(body)}")
            if any(r["workNo"] in self.refuse for r in body):
                return Response(json.dumps({"errcode": 60011, "errmsg": "无权限导入该员工的绩效"}),
                                content_type="application/json")
            for r in body:
                missing = {"name", "workNo", "perfPlanName", "period", "periodStartDate", "periodEndDate",
                           "score"} - {k for k, v in r.items() if v}
                if missing:
                    self.problems.append(f"{r.get('workNo')}: missing {sorted(missing)}")
                self.records[r["workNo"], r["perfPlanName"], r["period"]] = r
            return Response(json.dumps({"result": True, "success": True, "requestId": "req-1"}),
                            content_type="application/json")

    def imports(self) -> list[list[dict]]:
        return [b for p, _, b in self.log if p.endswith("perfRecords/import")]


def serve(httpserver, handler) -> str:
    httpserver.expect_request(re.compile(r"^/.*")).respond_with_handler(handler)
    return httpserver.url_for("/")


# --- the webhook ---------------------------------------------------------------------------------

def test_webhook_delivers_once_and_a_corrected_input_once_as_a_correction(demo_site, httpserver):
    receiver = WebhookReceiver()
    url = serve(httpserver, receiver) + "hooks/kpi"
    add_exporter(demo_site, webhook_section(url))

    first = kpi("run", "--config", str(demo_site))
    assert (report(first, "hr-webhook")["delivered"], report(first, "hr-webhook")["failed"]) == (30, {})
    assert len(receiver.log) == 30 and receiver.problems == []
    assert sorted(r["body"]["employee_id"] for r in receiver.log) == PEOPLE
    e011 = receiver.sent_for("E011")[0]
    assert {k: e011[k] for k in ("exporter", "period", "employee_id", "name", "total", "grade", "pay", "kind")} == {
        "exporter": "hr-webhook", "period": "2026-10", "employee_id": "E011", "name": "徐勇", "total": "31",
        "grade": "D", "pay": {"base": "300.00", "percent": "75", "amount": "225.00", "currency": "CNY"}, "kind": "new"}
    assert "replaces" not in e011 and [f["code"] for f in e011["flags"]] == ["dismissal_review"]
    raw = [r for r in receiver.log if r["body"]["employee_id"] == "E017"][0]
    assert raw["body"]["pay"]["amount"] == "400.00" and raw["body"]["total"] == "100"
    probation = receiver.sent_for("E013")[0]
    assert (probation["eligible"], probation["total"], probation["grade"], probation["pay"]) == (False, None, None, None)
    # Every request went to the configured path; the ledger holds "sending" then "delivered" for each.
    assert {r[0].path for r in httpserver.log} == {"/hooks/kpi"}
    rows = ledger(demo_site, "hr-webhook")
    assert [r["status"] for r in rows] == ["sending", "delivered"] * 30
    assert delivered_keys(demo_site, "hr-webhook") == set(receiver.accepted)
    assert {r["remote_id"] for r in rows if r["status"] == "delivered" and r["employee_id"] == "E011"} == \
           {f"rec-{e011['idempotency_key'][:8]}"}

    # The same results again — by a re-run and by `kpi export` — send nothing.
    again = kpi("run", "--config", str(demo_site))
    assert (report(again, "hr-webhook")["delivered"], report(again, "hr-webhook")["unchanged"]) == (0, 30)
    resent = kpi("export", "--config", str(demo_site))
    assert report(resent, "hr-webhook")["delivered"] == 0
    assert len(receiver.log) == 30

    # A corrected input: exactly one request, for E011, a correction replacing the first key.
    correct_e011(demo_site)
    corrected = kpi("run", "--config", str(demo_site))
    assert (report(corrected, "hr-webhook")["delivered"], report(corrected, "hr-webhook")["unchanged"]) == (1, 29)
    assert len(receiver.log) == 31
    fix = receiver.log[-1]["body"]
    assert (fix["employee_id"], fix["kind"], fix["replaces"], fix["total"], fix["pay"]["amount"]) == \
           ("E011", "correction", e011["idempotency_key"], "33", "225.00")
    assert fix["idempotency_key"] != e011["idempotency_key"]
    # The receiver holds one record per employee, E011's the corrected one; the ledger agrees.
    assert len(receiver.records) == 30 and receiver.records["hr-webhook", "2026-10", "E011"]["total"] == "33"
    assert delivered_keys(demo_site, "hr-webhook") == set(receiver.accepted)
    assert [r["kind"] for r in ledger(demo_site, "hr-webhook")[-2:]] == ["correction", "correction"]
    assert receiver.problems == []


def test_a_500_for_one_employee_fails_only_that_one_and_kpi_export_resends_only_it(demo_site, httpserver, waits,
                                                                                    caplog):
    receiver = WebhookReceiver()
    receiver.fail = {"E005"}
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver), retries=2))
    caplog.set_level(logging.DEBUG)

    out = kpi("run", "--config", str(demo_site), ok=False)
    hook = report(out, "hr-webhook")
    assert hook["delivered"] == 29 and list(hook["failed"]) == ["E005"]
    reason = hook["failed"]["E005"]
    assert "exporter 'hr-webhook': POST" in reason and "HTTP 500 (the server said: database is down) on all 3 attempts" in reason
    tries = receiver.sent_for("E005")
    assert len(tries) == 3 and len({t["idempotency_key"] for t in tries}) == 1  # retried: same key, same bytes
    assert waits == [1, 2]
    rows = [r for r in ledger(demo_site, "hr-webhook") if r["employee_id"] == "E005"]
    assert [r["status"] for r in rows] == ["sending", "failed"] and "HTTP 500" in rows[1]["error"]

    # The receiver is back: `kpi export` sends E005 only, with the same key.
    receiver.fail = set()
    before = len(receiver.log)
    resumed = kpi("export", "--config", str(demo_site))
    assert (report(resumed, "hr-webhook")["delivered"], report(resumed, "hr-webhook")["unchanged"]) == (1, 29)
    assert [r["body"]["employee_id"] for r in receiver.log[before:]] == ["E005"]
    assert receiver.log[-1]["body"]["idempotency_key"] == tries[0]["idempotency_key"]
    assert delivered_keys(demo_site, "hr-webhook") == set(receiver.accepted) and len(receiver.records) == 30
    # No credential anywhere: not in the report, the ledger's errors or the log.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    for text in (json.dumps(out, ensure_ascii=False), logged, json.dumps(ledger(demo_site, "hr-webhook"))):
        assert SECRET not in text


def test_a_receiver_that_is_down_is_not_tried_for_everyone(demo_site, httpserver, waits):
    receiver = WebhookReceiver()
    receiver.fail = set(PEOPLE)
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver), retries=0))
    out = kpi("run", "--config", str(demo_site), ok=False)
    failed = report(out, "hr-webhook")["failed"]
    assert len(failed) == 30 and len(receiver.log) == 3  # three failures in a row: the rest are not tried
    assert failed["E004"].startswith("not sent: the 3 deliveries before it failed (E001 … E003, the receiver seems down)")
    assert not delivered_keys(demo_site, "hr-webhook")
    receiver.fail = set()
    assert report(kpi("export", "--config", str(demo_site)), "hr-webhook")["delivered"] == 30
    assert len(receiver.records) == 30


def test_a_dry_run_sends_nothing_and_says_what_would_be_sent(demo_site, httpserver):
    kpi("run", "--config", str(demo_site))  # stored results, delivered to the file exporters only
    receiver = WebhookReceiver()
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver)))
    dry = kpi("export", "--config", str(demo_site), "--dry-run", "--exporter", "hr-webhook")
    assert dry["dry_run"] and report(dry, "hr-webhook")["delivered"] == 30
    assert len(httpserver.log) == 0 and ledger(demo_site, "hr-webhook") == []
    text = CliRunner().invoke(main, ["export", "--config", str(demo_site), "--dry-run"]).output
    assert "export hr-webhook (run 1): 30 would send, 0 unchanged" in text and len(httpserver.log) == 0
    assert report(kpi("export", "--config", str(demo_site)), "hr-webhook")["delivered"] == 30
    assert len(receiver.log) == 30


def test_a_missing_secret_is_a_config_error_naming_the_option_and_the_variable(demo_site, httpserver, monkeypatch):
    receiver = WebhookReceiver()
    add_exporter(demo_site, webhook_section(serve(httpserver, receiver)))
    where = f"exporter[{demo_site.read_text(encoding='utf-8').count('[[exporter]]') - 1}].secret"
    monkeypatch.delenv("KPI_WEBHOOK_SECRET")
    result = CliRunner().invoke(main, ["run", "--config", str(demo_site)])
    assert result.exit_code == 1
    assert f"{where}: environment variable KPI_WEBHOOK_SECRET is not set" in result.output
    assert len(httpserver.log) == 0
    # Written in the config instead: refused, and not echoed.
    site = demo_site.read_text(encoding="utf-8").replace('"${KPI_WEBHOOK_SECRET}"', f'"{SECRET}"')
    demo_site.write_text(site, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--config", str(demo_site)])
    assert result.exit_code == 1 and f"{where}: a credential must not be written in the config" in result.output
    assert SECRET not in result.output


def test_a_url_that_is_not_http_is_a_config_error(demo_site):
    add_exporter(demo_site, webhook_section("hr.example.com/hooks"))
    result = CliRunner().invoke(main, ["run", "--config", str(demo_site)])
    assert result.exit_code == 1
    assert "exporter.hr-webhook.url: 'hr.example.com/hooks' is not an http(s) address" in result.output


# --- Frappe HRMS ---------------------------------------------------------------------------------

def test_frappe_pays_once_and_a_correction_cancels_and_replaces(demo_site, httpserver):
    frappe = FakeFrappe(appraisal_cycle="KPI 2026-10")
    with_hr_ids(demo_site)
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe), appraisal_cycle="KPI {period}"))

    first = kpi("run", "--config", str(demo_site))
    assert (report(first, "frappe")["delivered"], report(first, "frappe")["failed"]) == (30, {})
    creates = frappe.calls("POST", "/api/resource/Additional Salary")
    assert len(creates) == 29 and frappe.problems == []  # E013 has no pay this period: no Additional Salary
    e011 = next(c for c in creates if c["employee"] == "HR-EMP-00011")
    assert e011 == {"employee": "HR-EMP-00011", "company": "绿源再生资源有限公司", "salary_component": "Performance Pay",
                    "amount": "225.00", "currency": "CNY", "payroll_date": "2026-10-31",
                    "overwrite_salary_structure_amount": 1, "docstatus": 1,
                    "kpi_idempotency_key": e011["kpi_idempotency_key"]}
    assert all(len(frappe.active(hr_id(e))) == (0 if e in NO_PAY else 1) for e in PEOPLE)
    # The score and grade on each appraisal of the cycle (E013, not appraised, keeps none).
    scores = {a["employee"]: (a.get("kpi_score"), a.get("kpi_grade")) for a in frappe.appraisals.values()}
    assert scores["HR-EMP-00011"] == ("31", "D") and scores["HR-EMP-00017"] == ("100", "A")
    assert scores["HR-EMP-00013"] == (None, None)
    rows = ledger(demo_site, "frappe")
    remote = {r["employee_id"]: r["remote_id"] for r in rows if r["status"] == "delivered"}
    assert remote["E011"] == next(d["name"] for d in frappe.active("HR-EMP-00011")) and remote.get("E013") is None

    count = len(frappe.log)
    again = kpi("run", "--config", str(demo_site))
    assert report(again, "frappe")["unchanged"] == 30 and len(frappe.log) == count
    assert report(kpi("export", "--config", str(demo_site)), "frappe")["delivered"] == 0 and len(frappe.log) == count

    correct_e011(demo_site)
    corrected = kpi("run", "--config", str(demo_site))
    assert (report(corrected, "frappe")["delivered"], report(corrected, "frappe")["unchanged"]) == (1, 29)
    new = frappe.log[count:]
    touched = {json.dumps(b, ensure_ascii=False) for _, _, b in new if b} | {m + p for m, p, _ in new}
    assert not any(hr_id(e) in t for t in touched for e in PEOPLE if e != "E011")  # nobody else touched
    assert [(m, p) for m, p, _ in new if m != "GET"] == [
        ("PUT", "/api/resource/Appraisal/HR-APR-2026-00011"),
        ("POST", "/api/method/frappe.client.cancel"),
        ("POST", "/api/resource/Additional Salary")]
    active = frappe.active("HR-EMP-00011")
    assert len(active) == 1 and active[0]["amount"] == "225.00" and active[0]["name"] != remote["E011"]
    assert frappe.salaries[remote["E011"]]["docstatus"] == 2  # the first one cancelled, not deleted
    assert scores_of(frappe)["HR-EMP-00011"] == ("33", "D")
    last = [r for r in ledger(demo_site, "frappe") if r["employee_id"] == "E011"][-1]
    assert (last["status"], last["kind"], last["remote_id"]) == ("delivered", "correction", active[0]["name"])
    assert active[0]["kpi_idempotency_key"] == last["idempotency_key"]


def scores_of(frappe: FakeFrappe) -> dict:
    return {a["employee"]: (a.get("kpi_score"), a.get("kpi_grade")) for a in frappe.appraisals.values()}


def test_frappe_without_the_appraisal_sends_nothing_for_a_score_only_change(demo_site, httpserver):
    frappe = FakeFrappe()
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe), payroll_date="next"))
    kpi("run", "--config", str(demo_site))
    assert {c["payroll_date"] for c in frappe.calls("POST", "/api/resource/Additional Salary")} == {"2026-11-01"}
    assert {c["employee"] for c in frappe.calls("POST", "/api/resource/Additional Salary")} == set(PEOPLE) - NO_PAY
    count = len(frappe.log)
    correct_e011(demo_site)  # E011's total changes, the pay does not: nothing in Frappe changes
    out = kpi("run", "--config", str(demo_site))
    assert report(out, "frappe")["unchanged"] == 30 and len(frappe.log) == count


def test_frappe_a_failed_create_is_not_retried_blindly_and_resumes_by_looking_it_up(demo_site, httpserver, caplog):
    frappe = FakeFrappe()
    frappe.fail_create = {"E007"}
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe)))
    caplog.set_level(logging.DEBUG)
    out = kpi("run", "--config", str(demo_site), ok=False)
    assert list(report(out, "frappe")["failed"]) == ["E007"] and report(out, "frappe")["delivered"] == 29
    assert "HTTP 500" in report(out, "frappe")["failed"]["E007"]
    assert "not retried" in report(out, "frappe")["failed"]["E007"]
    assert len([c for c in frappe.calls("POST", "/api/resource/Additional Salary") if c["employee"] == "E007"]) == 1

    # Now the create goes through but its answer is lost (a proxy answers 502): kpi looks it up by
    # its key instead of creating it again, and records it delivered.
    frappe.fail_create = set()
    lost = {}
    frappe.on_create = lambda doc: lost.setdefault("doc", doc)
    original = frappe.create

    def create_then_500(body):
        original(body)
        return Response("proxy timeout", status=502)

    frappe.create = create_then_500
    resumed = kpi("export", "--config", str(demo_site))
    assert report(resumed, "frappe")["delivered"] == 1
    assert len(frappe.active("E007")) == 1 and lost["doc"]["employee"] == "E007"
    last = ledger(demo_site, "frappe")[-1]
    assert (last["employee_id"], last["status"], last["remote_id"]) == ("E007", "delivered", lost["doc"]["name"])
    assert report(kpi("export", "--config", str(demo_site)), "frappe")["delivered"] == 0
    assert all(len(frappe.active(e)) == (0 if e in NO_PAY else 1) for e in PEOPLE)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    for secret in (FRAPPE_KEY, FRAPPE_SECRET):
        assert secret not in json.dumps(out) and secret not in logged


def test_frappe_refused_credentials_never_appear(demo_site, httpserver, monkeypatch, caplog):
    frappe = FakeFrappe()  # echoes the Authorization header it got, as some error pages do
    add_exporter(demo_site, frappe_section(serve(httpserver, frappe)))
    monkeypatch.setenv("FRAPPE_API_SECRET", "a-wrong-secret-value")
    caplog.set_level(logging.DEBUG)
    out = kpi("run", "--config", str(demo_site), ok=False)
    failed = report(out, "frappe")["failed"]
    assert len(failed) == 30 and "HTTP 401" in failed["E001"] and "check the api_key and api_secret options" in failed["E001"]
    assert len(frappe.log) == 30  # a refusal is not retried
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    text = json.dumps(out, ensure_ascii=False) + logged + json.dumps(ledger(demo_site, "frappe"), ensure_ascii=False)
    assert "a-wrong-secret-value" not in text and FRAPPE_KEY not in text and "bad token ***" in failed["E001"]


# --- DingTalk HRBrain ----------------------------------------------------------------------------

def test_dingtalk_imports_records_once_in_batches_and_reimports_a_correction(demo_site, httpserver):
    ding = FakeDingTalk()
    add_exporter(demo_site, dingtalk_section(serve(httpserver, ding), identity="attendance", batch_size=10,
                                             plan_name="客服部月度考核 {period}"))
    first = kpi("run", "--config", str(demo_site))
    assert (report(first, "hrbrain")["delivered"], report(first, "hrbrain")["failed"]) == (29, {})
    assert [p for p, _, _ in ding.log] == ["/v1.0/oauth2/accessToken"] + ["/v1.0/hrbrain/datas/perfRecords/import"] * 3
    assert [len(b) for b in ding.imports()] == [10, 10, 9] and ding.problems == []
    e011 = ding.records["00011", "客服部月度考核 2026-10", "2026-10"]
    assert {k: v for k, v in e011.items() if k != "extendInfo"} == {
        "workNo": "00011", "name": "徐勇", "perfPlanName": "客服部月度考核 2026-10", "period": "2026-10",
        "periodStartDate": "2026-10-01", "periodEndDate": "2026-10-31", "score": "D", "perfScore": "31",
        "comment": e011["comment"]}
    assert e011["comment"].startswith("绩效工资 225.00 CNY（系数 75%）") and e011["extendInfo"]["kpiKind"] == "new"
    assert len(ding.records) == 29  # E013, not appraised, is not imported

    count = len(ding.log)
    assert report(kpi("run", "--config", str(demo_site)), "hrbrain")["unchanged"] == 29 and len(ding.log) == count
    assert report(kpi("export", "--config", str(demo_site)), "hrbrain")["delivered"] == 0 and len(ding.log) == count

    correct_e011(demo_site)
    out = kpi("run", "--config", str(demo_site))
    assert (report(out, "hrbrain")["delivered"], report(out, "hrbrain")["unchanged"]) == (1, 28)
    assert [len(b) for b in ding.imports()[3:]] == [1]
    (fix,) = ding.imports()[-1]
    assert (fix["workNo"], fix["perfScore"], fix["extendInfo"]["kpiKind"]) == ("00011", "33", "correction")
    assert len(ding.records) == 29 and ding.records["00011", "客服部月度考核 2026-10", "2026-10"]["perfScore"] == "33"


def test_dingtalk_an_errcode_fails_that_batch_naming_errmsg(demo_site, httpserver, caplog):
    ding = FakeDingTalk()
    ding.refuse = {"E005"}
    add_exporter(demo_site, dingtalk_section(serve(httpserver, ding), batch_size=5))
    caplog.set_level(logging.DEBUG)
    out = kpi("run", "--config", str(demo_site), ok=False)
    failed = report(out, "hrbrain")["failed"]
    assert sorted(failed) == ["E001", "E002", "E003", "E004", "E005"] and report(out, "hrbrain")["delivered"] == 24
    assert "errcode 60011: 无权限导入该员工的绩效" in failed["E005"]
    ding.refuse = set()
    resumed = kpi("export", "--config", str(demo_site))
    assert report(resumed, "hrbrain")["delivered"] == 5
    assert [r["workNo"] for r in ding.imports()[-1]] == ["E001", "E002", "E003", "E004", "E005"]
    assert len(ding.records) == 29
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    for secret in (APPKEY, APPSECRET, DING_TOKEN):
        assert secret not in logged and secret not in json.dumps(out, ensure_ascii=False)


def test_dingtalk_refused_app_credentials_fail_every_record_without_echoing_them(demo_site, httpserver, monkeypatch):
    ding = FakeDingTalk()  # echoes the body it got in its error, secret included
    add_exporter(demo_site, dingtalk_section(serve(httpserver, ding)))
    monkeypatch.setenv("DINGTALK_APPSECRET", "wrong-app-secret-000")
    out = kpi("run", "--config", str(demo_site), ok=False)
    failed = report(out, "hrbrain")["failed"]
    assert len(failed) == 29 and "accessToken failed: HTTP 400" in failed["E001"] and "'appSecret': '***'" in failed["E001"]
    assert "wrong-app-secret-000" not in json.dumps(out, ensure_ascii=False) and APPKEY not in json.dumps(out)
    assert ding.imports() == [] and ledger(demo_site, "hrbrain") == []
