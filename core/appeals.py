"""Appeals (申诉, seeds 001 and 004): an employee contests a result with grounds and evidence within
the scheme's working days of receiving it; the panel reviews and decides within its working days.
An upheld appeal becomes adjustments, which the next run applies and the export ledger sends on as
a correction. Every step is in the audit log; deadlines count working days on the Chinese calendar.

    filed → under_review → upheld | rejected
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from . import adjustments, audit, periods
from .errors import KpiError
from .store import schema as s
from .workdays import WorkCalendar

FILED, REVIEW, UPHELD, REJECTED = "filed", "under_review", "upheld", "rejected"
# Working days, where the scheme says nothing (seed 004: a review within 3 working days).
DEFAULT_DEADLINES = {"file_within": 5, "review_within": 3, "decide_within": 5}


@dataclass(frozen=True)
class Deadlines:
    file_within: int
    review_within: int
    decide_within: int


def file(conn: Connection, cal: WorkCalendar, deadlines: Deadlines, period: str, employee_id: str, *, by: str,
         grounds: str, evidence: str, received_on: date, filed_on: date, late_reason: str = "") -> dict[str, Any]:
    if not grounds.strip():
        raise KpiError("an appeal states its grounds (--grounds): what is wrong with the result and why")
    last_day = cal.add_working_days(received_on, deadlines.file_within)
    if filed_on > last_day and not late_reason.strip():
        raise KpiError(f"the result was received on {received_on}: an appeal was due within {deadlines.file_within} "
                       f"working days, by {last_day}. To accept it late, give --late-reason (it is recorded)")
    review_due = cal.add_working_days(filed_on, deadlines.review_within)
    decision_due = cal.add_working_days(review_due, deadlines.decide_within)
    row = {"period": period, "employee_id": employee_id, "state": FILED, "grounds": grounds, "evidence": evidence,
           "filed_by": by, "filed_on": filed_on, "received_on": received_on, "file_deadline": last_day,
           "review_due": review_due, "decision_due": decision_due, "created_at": int(time.time())}
    appeal_id = conn.execute(insert(s.appeals).values(**row)).inserted_primary_key[0]
    audit.log(conn, by, "appeal.file", period, f"appeal #{appeal_id}", employee_id=employee_id,
              details={"grounds": grounds, "evidence": evidence, "filed_on": filed_on, "file_deadline": last_day,
                       "review_due": review_due, "decision_due": decision_due, "late_reason": late_reason})
    return dict(row, id=appeal_id)


def get(conn: Connection, appeal_id: int) -> dict[str, Any]:
    row = conn.execute(select(s.appeals).where(s.appeals.c.id == appeal_id)).mappings().first()
    if row is None:
        raise KpiError(f"no appeal #{appeal_id}; `kpi appeal list` lists them")
    return dict(row)


def listed(conn: Connection, period: str | None = None) -> list[dict[str, Any]]:
    q = select(s.appeals).order_by(s.appeals.c.id)
    if period:
        q = q.where(s.appeals.c.period == period)
    return [dict(r) for r in conn.execute(q).mappings()]


def review(conn: Connection, appeal_id: int, by: str) -> None:
    a = _in_state(conn, appeal_id, {FILED}, "taken into review")
    conn.execute(update(s.appeals).where(s.appeals.c.id == appeal_id).values(state=REVIEW))
    audit.log(conn, by, "appeal.review", a["period"], f"appeal #{appeal_id}", employee_id=a["employee_id"])


def resolve(conn: Connection, appeal_id: int, *, by: str, upheld: bool, reason: str, decided_on: date,
            changes: list[tuple[str, str, Decimal | None]] = ()) -> list[int]:
    """Decide an appeal. Upheld, each change (target, name, value) becomes an adjustment; returns
    their ids. The period must not be locked."""
    a = _in_state(conn, appeal_id, {FILED, REVIEW}, "decided")
    if not reason.strip():
        raise KpiError("a decision gives its reason (--reason): it is kept with the appeal")
    if upheld and not changes:
        raise KpiError("an upheld appeal says what changes: --metric NAME=VALUE, --indicator ID=POINTS or "
                       "--exclude-record KIND:SOURCE:ID")
    if upheld:
        periods.require_open(conn, a["period"], "changed by an upheld appeal")
    ids = [adjustments.add(conn, a["period"], a["employee_id"], target, name, value,
                           f"appeal #{appeal_id} upheld: {reason}", by, appeal_id) for target, name, value in changes]
    state = UPHELD if upheld else REJECTED
    conn.execute(update(s.appeals).where(s.appeals.c.id == appeal_id).values(
        state=state, outcome=reason, decided_by=by, decided_on=decided_on))
    audit.log(conn, by, f"appeal.{state}", a["period"], f"appeal #{appeal_id}", employee_id=a["employee_id"],
              details={"reason": reason, "adjustments": ids, "decided_on": decided_on,
                       "late": decided_on > a["decision_due"]})
    return ids


def _in_state(conn: Connection, appeal_id: int, states: set[str], doing: str) -> dict[str, Any]:
    a = get(conn, appeal_id)
    if a["state"] not in states:
        raise KpiError(f"appeal #{appeal_id} is {a['state'].replace('_', ' ')}: it cannot be {doing}")
    return a
