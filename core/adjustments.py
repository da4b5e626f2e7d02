"""Adjustments: recorded overrides that the next run applies — a metric's value (QC corrects a
rating), an indicator's points (an upheld appeal), or a source record left out (a ticket
misattributed, seed 004's anomalies by record). Each has an author, a reason and a time, is in the
audit log, and shows on the scorecard it changes. An adjustment is withdrawn, never deleted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator

from sqlalchemy import Connection, insert, select, update

from . import audit
from .errors import KpiError
from .models import MetricValue
from .scoring import Flag, Scorecard
from .store import schema as s

TARGETS = ("metric", "indicator", "record")


@dataclass(frozen=True)
class Adjustment:
    id: int
    period: str
    employee_id: str
    target: str  # metric, indicator or record
    name: str  # the metric or indicator id, or KIND:SOURCE:SOURCE_ID for a record
    value: Decimal | None  # the new value or points; None for a record left out
    reason: str
    author: str
    appeal_id: int | None

    def describe(self) -> str:
        what = (f"record {self.name} left out" if self.target == "record"
                else f"{self.target} {self.name} set to {format(self.value, 'f')}")
        return f"{what} by {self.author}: {self.reason} (adjustment #{self.id})"


def add(conn: Connection, period: str, employee_id: str, target: str, name: str, value: Decimal | None, reason: str,
        author: str, appeal_id: int | None = None) -> int:
    if target not in TARGETS:
        raise KpiError(f"an adjustment targets a metric, an indicator or a record, not {target!r}")
    if not reason.strip() or not author.strip():
        raise KpiError("an adjustment needs a reason and an author (--reason, --by): they are kept in the audit log")
    if (value is None) != (target == "record"):
        raise KpiError("a metric or indicator adjustment gives a value (NAME=VALUE); a record is only left out")
    if target == "record" and len(name.split(":", 2)) != 3:
        raise KpiError(f"a record is named KIND:SOURCE:SOURCE_ID, e.g. ticket:tickets:T005018; found {name!r}")
    result = conn.execute(insert(s.adjustments).values(
        period=period, employee_id=employee_id, target=target, name=name, value=value, reason=reason, author=author,
        appeal_id=appeal_id, status="active", created_at=int(time.time())))
    adj_id = result.inserted_primary_key[0]
    audit.log(conn, author, "adjustment.add", period, f"{target} {name}", employee_id=employee_id,
              details={"id": adj_id, "value": value, "reason": reason, "appeal_id": appeal_id})
    return adj_id


def withdraw(conn: Connection, adj_id: int, author: str, reason: str) -> Adjustment:
    found = [a for a in _load(conn, select(s.adjustments).where(s.adjustments.c.id == adj_id,
                                                                 s.adjustments.c.status == "active"))]
    if not found:
        raise KpiError(f"no active adjustment #{adj_id}; `kpi adjustments` lists them")
    conn.execute(update(s.adjustments).where(s.adjustments.c.id == adj_id).values(status="withdrawn"))
    audit.log(conn, author, "adjustment.withdraw", found[0].period, f"#{adj_id}", employee_id=found[0].employee_id,
              details={"reason": reason})
    return found[0]


def active(conn: Connection, period: str) -> list[Adjustment]:
    t = s.adjustments
    return _load(conn, select(t).where(t.c.period == period, t.c.status == "active").order_by(t.c.id))


def _load(conn: Connection, query) -> list[Adjustment]:
    return [Adjustment(r["id"], r["period"], r["employee_id"], r["target"], r["name"], r["value"], r["reason"],
                       r["author"], r["appeal_id"]) for r in conn.execute(query).mappings()]


def excluded_records(adjustments: list[Adjustment]) -> dict[str, set[tuple[str, str]]]:
    """Per record kind, the (source, source id) pairs left out."""
    out: dict[str, set[tuple[str, str]]] = {}
    for a in adjustments:
        if a.target == "record":
            kind, source, source_id = a.name.split(":", 2)
            out.setdefault(kind, set()).add((source, source_id))
    return out


def apply_to_metrics(values: Iterable[MetricValue], adjustments: list[Adjustment]) -> Iterator[MetricValue]:
    """Metric values with the metric adjustments applied, as they come; the evidence keeps the
    measured value. An adjustment left unused once all have come is an error."""
    by_key = {(a.employee_id, a.name): a for a in adjustments if a.target == "metric"}
    for v in values:
        a = by_key.pop((v.employee_id, v.metric), None) if by_key else None
        if a is None:
            yield v
            continue
        evidence = dict(v.evidence, measured=None if v.value is None else format(v.value, "f"), adjustment=a.id)
        yield MetricValue(v.employee_id, v.period, v.metric, a.value, f"adjustment #{a.id}", evidence)
    if by_key:  # an adjustment of a metric the scheme does not read, or of someone not appraised
        (emp, metric), a = next(iter(by_key.items()))
        raise KpiError(f"adjustment #{a.id} sets {metric!r} for {emp}, but the run has no such value: the scheme "
                       "reads no such metric or the person is not appraised this period; withdraw it with "
                       f"kpi adjust --withdraw {a.id}")


def indicator_overrides(adjustments: list[Adjustment]) -> dict[str, dict[str, tuple[Decimal, str]]]:
    out: dict[str, dict[str, tuple[Decimal, str]]] = {}
    for a in adjustments:
        if a.target == "indicator":
            out.setdefault(a.employee_id, {})[a.name] = (a.value, a.describe())
    return out


def mark(cards: list[Scorecard], adjustments: list[Adjustment]) -> None:
    """Every adjustment on the scorecard it changes."""
    by_employee: dict[str, list[Adjustment]] = {}
    for a in adjustments:
        by_employee.setdefault(a.employee_id, []).append(a)
    for card in cards:
        for a in by_employee.get(card.employee_id, []):
            card.flags.append(Flag("adjusted", a.describe()))


def as_rows(adjustments: list[Adjustment]) -> list[dict[str, Any]]:
    return [{"id": a.id, "period": a.period, "employee_id": a.employee_id, "target": a.target, "name": a.name,
             "value": None if a.value is None else format(a.value, "f"), "reason": a.reason, "author": a.author,
             "appeal_id": a.appeal_id} for a in adjustments]
