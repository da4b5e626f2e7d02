"""DingTalk HRBrain (钉钉智能人事): each employee's result as a performance record, through the
data-integration import ``POST /v1.0/hrbrain/datas/perfRecords/import`` (集成绩效记录).

    [[exporter]]
    name = "hrbrain"
    use = "dingtalk_hrbrain"
    appkey = "${DINGTALK_APPKEY}"
    appsecret = "${DINGTALK_APPSECRET}"
    corp_id = "ding0123456789abcdef"

| option | meaning |
|---|---|
| `appkey`, `appsecret` | the internal app's credentials (`"${ENV}"` references); the app needs Hrbrain.Import.Write |
| `corp_id` | the organisation's corpId (the import's `corpId` query parameter) |
| `url` | the API's base address (default https://api.dingtalk.com) |
| `plan_name` | the record's perfPlanName; `{period}` and `{scheme}` are replaced (default `{scheme} {period}`) |
| `identity` | the roster's id system that holds each person's DingTalk userId (default `dingtalk`; without one, the kpi id) |
| `batch_size` | records per import call (default 50) |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

The access token comes from ``POST /v1.0/oauth2/accessToken`` (``appKey``, ``appSecret``) and goes
in the ``x-acs-dingtalk-access-token`` header. Each import call's body is a list of records::

    {"workNo": "<userId>", "name": "徐勇", "perfPlanName": "…", "period": "2026-10",
     "periodStartDate": "2026-10-01", "periodEndDate": "2026-10-31",
     "score": "D", "perfScore": "33", "comment": "…", "extendInfo": {"kpiIdempotencyKey": "…", …}}

``score`` (绩效结果) is the grade, ``perfScore`` the total, ``comment`` the pay and the flags. People
not appraised this period (probation, too few days: no grade) are not imported.

Exactly once: the import is an upsert — DingTalk keeps one record per workNo, plan and period — so
sending a record again (a retried call, a resend after a killed export, a correction after a
changed input) replaces it and never adds a second. That is why a call is retried on a timeout, a
5xx or a 429, and why a batch whose outcome is unknown is simply sent again. An answer with an
``errcode`` other than 0, or ``success``/``result`` false, fails every record of the batch, naming
DingTalk's message; the other batches still go, and ``kpi export`` sends the failed ones again.
"""

from __future__ import annotations

from kpi.core import hookimpl
from kpi.core.errors import ConfigError, InputError, Problem
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option
from kpi.plugins.connectors.http import HTTP_OPTIONS, client_from_options, safe_url

from .remote import Attempt, check_url, deliver, money, number, plan, remote_id_of

IMPORT = "/v1.0/hrbrain/datas/perfRecords/import"
TOKEN = "/v1.0/oauth2/accessToken"


class DingTalkHrbrain:
    options = {
        "appkey": Option("str", required=True, secret=True, help="the DingTalk app's AppKey, as \"${ENV_NAME}\""),
        "appsecret": Option("str", required=True, secret=True,
                            help="the DingTalk app's AppSecret, as \"${ENV_NAME}\""),
        "corp_id": Option("str", required=True, help="the organisation's corpId"),
        "url": Option("str", default="https://api.dingtalk.com", help="the API's base address"),
        "plan_name": Option("str", default="{scheme} {period}",
                            help="the perfPlanName; {period} and {scheme} are replaced"),
        "identity": Option("str", default="dingtalk",
                           help="the roster's id system holding each person's DingTalk userId (else the kpi id)"),
        "batch_size": Option("int", default=50, help="records per import call"),
        **HTTP_OPTIONS,
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        check_url(site, name, options["url"])
        if options["batch_size"] < 1:
            raise ConfigError([Problem(site.file, f"exporter.{name}.batch_size", "must be 1 or more")])

    def records(self, result: RunResult) -> dict[str, dict]:
        scheme = getattr(result.scheme, "name", None) or getattr(result.scheme, "id", "")
        if isinstance(scheme, dict):  # {"zh": …, "en": …}
            scheme = scheme.get("zh") or scheme.get("en") or getattr(result.scheme, "id", "")
        plan_name = self.opts["plan_name"].replace("{period}", result.period.label).replace("{scheme}", str(scheme))
        out = {}
        for card in result.scorecards:
            if not card.grade:  # not appraised this period: no result to import
                continue
            notes = []
            if card.pay is not None:
                notes.append(f"绩效工资 {money(card.pay.amount)} {card.pay.currency}（系数 {number(card.pay.percent)}%）")
            notes += [f.message for f in card.flags]
            out[card.employee_id] = {
                "workNo": remote_id_of(result.employees.get(card.employee_id), card.employee_id, self.opts["identity"]),
                "name": card.name,
                "perfPlanName": plan_name.strip(),
                "period": result.period.label,
                "periodStartDate": result.period.start.isoformat(),
                "periodEndDate": result.period.end.isoformat(),
                "score": card.grade,
                "perfScore": number(card.total),
                "comment": "；".join(notes),
            }
        return out

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        destination = safe_url(self.opts["url"].rstrip("/") + IMPORT)
        report = ExportReport(self.name, destination)
        todo = plan(ledger, self.records(result), destination, report)
        if ledger.dry_run or not todo:
            return report
        appkey, appsecret = self.opts["appkey"].reveal(), self.opts["appsecret"].reveal()
        with client_from_options(self.name, self.opts["url"], self.opts, secrets=[appkey, appsecret],
                                 kind="exporter", credentials_hint="the appkey and appsecret options") as client:
            try:
                answer, _ = client.post_json(TOKEN, {"appKey": appkey, "appSecret": appsecret})
                token = answer.get("accessToken") if isinstance(answer, dict) else None
                if not token:
                    raise InputError(client.scrub(f"exporter {self.name!r}: DingTalk gave no access token "
                                                  f"({_message(answer)}); check the appkey and appsecret options"))
            except InputError as exc:  # nothing was sent: every record fails with the reason
                report.delivered, report.failed = [], {d.employee_id: str(exc) for d in todo}
                return report
            client.authorize("x-acs-dingtalk-access-token", token)

            def send(attempts: list[Attempt]) -> dict:
                body = [{**a.delivery.payload, "extendInfo": {"kpiIdempotencyKey": a.delivery.key, "kpiKind": a.kind,
                                                              "kpiEmployeeId": a.employee_id}}
                        for a in attempts]
                # An upsert by workNo, plan and period: safe to retry and to resend.
                answer, _ = client.post_json(IMPORT, body, {"corpId": self.opts["corp_id"]})
                failed = _failure(answer)
                if failed:
                    raise InputError(client.scrub(f"exporter {self.name!r}: DingTalk refused the import of "
                                                  f"{len(body)} record(s): {failed}"))
                return {a.employee_id: f"{a.delivery.payload['perfPlanName']}/{a.delivery.payload['period']}/"
                                       f"{a.delivery.payload['workNo']}" for a in attempts}

            return deliver(ledger, destination, todo, send, report, batch_size=self.opts["batch_size"])


def _failure(answer) -> str | None:
    """What is wrong with an import answer, or None if it succeeded."""
    if not isinstance(answer, dict):
        return f"unexpected answer {str(answer)[:200]!r}"
    if answer.get("errcode") not in (None, 0, "0"):
        return f"errcode {answer['errcode']}: {answer.get('errmsg') or 'no errmsg'}"
    if answer.get("success") is False or answer.get("result") is False:
        return _message(answer)
    return None


def _message(answer) -> str:
    if not isinstance(answer, dict):
        return f"answer {str(answer)[:200]!r}"
    for code, text in (("errcode", "errmsg"), ("code", "message")):
        if answer.get(code) not in (None, 0, "0") or answer.get(text):
            return f"{code} {answer.get(code)}: {answer.get(text) or 'no message'}"
    return f"answer {str(answer)[:200]}"


@hookimpl
def kpi_register_exporters(register):
    register("dingtalk_hrbrain", DingTalkHrbrain)
