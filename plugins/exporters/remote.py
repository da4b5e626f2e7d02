"""What the exporters that send results over HTTP share: the figures as exact strings, the plan and
the dry run, and the loop that delivers through the ledger one employee (or one batch) at a time.

The loop, for each batch of deliveries the ledger planned:

1. note, per employee, any earlier attempt a killed or failed export left unfinished
   (``ledger.pending``): its outcome is unknown, so the receiver may already have it;
2. record "sending" in the ledger (committed) *before* the remote call, so a kill during the call
   leaves a trace;
3. call the exporter's ``send(attempts)``, which must be safe to repeat for a resend (the same
   idempotency key, a look-up before a create, or an upsert);
4. record "delivered" with the remote ids, or "failed" with the reason. A failure is reported per
   employee and the others go on; after :data:`GIVE_UP_AFTER` transient failures in a row (the
   receiver is down) the rest are reported as not sent, without trying each in turn.

``kpi export`` resumes: what was not delivered is planned again, with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import urlsplit

from kpi.core.decimals import tidy
from kpi.core.errors import ConfigError, KpiError, Problem
from kpi.core.exporters import Delivery, ExportReport, Ledger
from kpi.core.models import Employee
from kpi.core.scoring import Scorecard
from kpi.plugins.connectors.http import safe_url

from .files import FEN

GIVE_UP_AFTER = 3  # transient failures in a row after which the rest of an export is not attempted


def money(value: Decimal | None) -> str | None:
    """Money as a string to the fen ("225.00"): never a float."""
    return None if value is None else format(value.quantize(FEN), "f")


def number(value: Decimal | None) -> str | None:
    """A score or percentage as people write it ("33", "92.5"), the same however it was stored."""
    return None if value is None else format(tidy(value), "f")


def result_fields(card: Scorecard) -> dict[str, Any]:
    """One employee's result in the shape every HTTP exporter starts from: figures as strings."""
    pay = card.pay
    return {
        "employee_id": card.employee_id,
        "name": card.name,
        "period": card.period,
        "eligible": card.eligible,
        "total": number(card.total),
        "grade": card.grade,
        "pay": None if pay is None else {"base": money(pay.base), "percent": number(pay.percent),
                                         "amount": money(pay.amount), "currency": pay.currency},
        "flags": [{"code": f.code, "message": f.message} for f in card.flags],
    }


def remote_id_of(employee: Employee | None, employee_id: str, system: str) -> str:
    """The person's id in `system` (the roster's ids, e.g. ``ids = { frappe = "HR ID" }``), else the kpi id."""
    return (employee.external_ids.get(system) if employee else None) or employee_id


def plan(ledger: Ledger, payloads: dict[str, Any], destination: str, report: ExportReport) -> list[Delivery]:
    """What to send; fills the report's unchanged and (what will be or would be) delivered lists."""
    todo, report.unchanged = ledger.plan(payloads, destination)
    report.delivered = [d.employee_id for d in todo]
    return todo


@dataclass
class Attempt:
    """One delivery about to be sent, with what the ledger knows of an unfinished earlier attempt."""

    delivery: Delivery
    pending: dict | None  # a ledger row left "sending" (killed, or failed since): the receiver may have it

    @property
    def employee_id(self) -> str:
        return self.delivery.employee_id

    @property
    def resend(self) -> bool:
        """The same payload was sent before with an unknown outcome: the receiver must not act twice."""
        return self.pending is not None and self.pending.get("idempotency_key") == self.delivery.key

    @property
    def replaces(self) -> str | None:
        """The key of what the receiver may hold for this employee and period, that this one replaces:
        an unconfirmed attempt with another payload, else the last delivery if this is a correction."""
        if self.pending is not None and self.pending.get("idempotency_key") not in (None, self.delivery.key):
            return self.pending["idempotency_key"]
        if self.delivery.kind == "correction" and self.delivery.previous:
            return self.delivery.previous.get("idempotency_key")
        return None

    @property
    def kind(self) -> str:
        return "correction" if self.replaces else self.delivery.kind


# send(attempts) -> {employee id: remote id}; raises KpiError (an InputError from the HTTP client) on failure
Send = Callable[[list[Attempt]], dict[str, str | None] | None]


def deliver(ledger: Ledger, destination: str, todo: list[Delivery], send: Send, report: ExportReport,
            batch_size: int = 1) -> ExportReport:
    """Send `todo` in batches through the ledger (see the module's doc); returns `report`, whose
    delivered list becomes what was really delivered, and failed what was not, with the reason."""
    report.delivered = []
    batches = [todo[i:i + max(1, batch_size)] for i in range(0, len(todo), max(1, batch_size))]
    in_a_row = 0
    for n, batch in enumerate(batches):
        attempts = [Attempt(d, ledger.pending(d.employee_id)) for d in batch]
        ledger.sending(batch, destination)
        try:
            remote = send(attempts) or {}
        except KpiError as exc:
            reason = str(exc)
            for d in batch:
                ledger.failed(d, destination, reason)
                report.failed[d.employee_id] = reason
            in_a_row = in_a_row + 1 if getattr(exc, "transient", False) else 0
            if in_a_row >= GIVE_UP_AFTER:
                first = batches[n - in_a_row + 1][0].employee_id
                for rest in batches[n + 1:]:
                    for d in rest:
                        report.failed[d.employee_id] = (f"not sent: the {in_a_row} deliveries before it failed "
                                                        f"({first} … {batch[-1].employee_id}, the receiver seems "
                                                        "down); run `kpi export` when it is back")
                break
            continue
        in_a_row = 0
        ledger.delivered(batch, destination, {emp: rid for emp, rid in remote.items() if rid is not None})
        report.delivered += [d.employee_id for d in batch]
    return report


def check_url(site, name: str, url: str, key: str = "url") -> None:
    """A config error, before anything runs, if `url` is not an http(s) address."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ConfigError([Problem(site.file, f"exporter.{name}.{key}",
                                   f"{safe_url(url)!r} is not an http(s) address; write it as https://host/…")])
