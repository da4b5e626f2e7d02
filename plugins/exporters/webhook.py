"""A generic JSON webhook: one signed POST per employee and period, carrying an idempotency key.

    [[exporter]]
    name = "hr-webhook"
    use = "webhook"
    url = "https://hr.example.com/hooks/kpi"
    secret = "${KPI_WEBHOOK_SECRET}"

| option | meaning |
|---|---|
| `url` | where to POST |
| `secret` | the shared secret the body is signed with (an `"${ENV}"` reference) |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

The body (UTF-8 JSON; money as strings to the fen, scores as exact decimals, never floats)::

    {"exporter": "hr-webhook", "period": "2026-10", "employee_id": "E011", "name": "徐勇",
     "eligible": true, "total": "33", "grade": "D",
     "pay": {"base": "300.00", "percent": "75", "amount": "225.00", "currency": "CNY"},
     "flags": [{"code": "dismissal_review", "message": "…"}],
     "kind": "correction", "idempotency_key": "…", "replaces": "…", "sent_at": 1793000000}

Headers: ``Idempotency-Key`` (the body's key), ``X-KPI-Timestamp`` (``sent_at``, seconds since
1970) and ``X-KPI-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body bytes with the secret
(the timestamp is inside the signed body, so a receiver can refuse old replays).

What a receiver must do:

- **Dedupe by Idempotency-Key.** The same key is the same payload: answer 2xx again and do nothing.
  kpi sends a key again after a timeout, a 5xx or a 429 (the client retries), and after an export
  was killed mid-request or failed (``kpi export`` resends it: the outcome was unknown).
- **Keep one record per (exporter, period, employee_id).** A ``kind: "correction"`` replaces the one
  it holds, never adds to it; ``replaces`` names the key it supersedes (the last delivery, or an
  earlier attempt whose outcome kpi could not learn — the receiver may never have got that one).
- Answer 2xx once it has stored the message; any other answer is a failure for that employee (the
  others are still sent) and the next ``kpi export`` sends it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from kpi.core import hookimpl
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option
from kpi.plugins.connectors.http import HTTP_OPTIONS, client_from_options, safe_url

from .remote import Attempt, check_url, deliver, plan, result_fields


def signature(secret: str, body: bytes) -> str:
    """The X-KPI-Signature value: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Webhook:
    options = {
        "url": Option("str", required=True, help="the receiver's URL (https://…)"),
        "secret": Option("str", required=True, secret=True,
                         help="the HMAC-SHA256 signing secret, as \"${ENV_NAME}\""),
        **HTTP_OPTIONS,
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        check_url(site, name, options["url"])

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        destination = safe_url(self.opts["url"])
        report = ExportReport(self.name, destination)
        payloads = {c.employee_id: result_fields(c) for c in result.scorecards}
        todo = plan(ledger, payloads, destination, report)
        if ledger.dry_run or not todo:
            return report
        secret = self.opts["secret"].reveal()
        with client_from_options(self.name, self.opts["url"], self.opts, secrets=[secret], kind="exporter",
                                 credentials_hint="the receiver's settings") as client:

            def send(attempts: list[Attempt]) -> dict:
                (a,) = attempts
                body = {"exporter": self.name, **a.delivery.payload, "kind": a.kind,
                        "idempotency_key": a.delivery.key, "sent_at": int(time.time())}
                if a.replaces:
                    body["replaces"] = a.replaces
                raw = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
                response = client.request("POST", "", data=raw, headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Idempotency-Key": a.delivery.key,
                    "X-KPI-Timestamp": str(body["sent_at"]),
                    "X-KPI-Signature": signature(secret, raw),
                })  # retried on a timeout, a 5xx or a 429: the same bytes, the same key
                return {a.employee_id: _remote_id(response)}

            return deliver(ledger, destination, todo, send, report)


def _remote_id(response) -> str | None:
    """The receiver's id for the record, if its answer is JSON with an "id"."""
    try:
        data = response.json()
    except ValueError:
        return None
    rid = data.get("id") if isinstance(data, dict) else None
    return None if rid is None else str(rid)


@hookimpl
def kpi_register_exporters(register):
    register("webhook", Webhook)
