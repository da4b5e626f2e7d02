"""A period's lifecycle: draft → reviewed → approved. An approved period is locked: it cannot be
scored again, adjusted or have an appeal upheld until someone unlocks it, with a reason — and every
step is in the audit log. Re-scoring a reviewed period sends it back to draft (the review was of
other figures)."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from . import audit
from .errors import KpiError
from .store import schema as s

DRAFT, REVIEWED, APPROVED = "draft", "reviewed", "approved"
STEPS = {"review": ({DRAFT}, REVIEWED), "approve": ({REVIEWED}, APPROVED), "unlock": ({REVIEWED, APPROVED}, DRAFT)}


def status(conn: Connection, period: str) -> str:
    row = conn.execute(select(s.periods.c.status).where(s.periods.c.label == period)).first()
    return row[0] if row else DRAFT


def require_open(conn: Connection, period: str, doing: str) -> None:
    """Refuse a change to an approved period, saying how to unlock it."""
    if status(conn, period) == APPROVED:
        last = [e for e in audit.entries(conn, period) if e["action"] == "period.approve"]
        by = f" by {last[-1]['actor']}" if last else ""
        raise KpiError(f"{period} is approved{by} and locked: it cannot be {doing}. To change it, unlock it first: "
                       f"kpi period unlock --period {period} --by NAME --reason \"why\" (the unlock is recorded)")


def step(conn: Connection, period: str, action: str, actor: str, reason: str = "") -> str:
    """Move the period one step (review, approve, unlock); returns the new status."""
    allowed, target = STEPS[action]
    now = status(conn, period)
    if conn.execute(select(s.periods.c.label).where(s.periods.c.label == period)).first() is None:
        raise KpiError(f"{period} has never been scored; run: kpi run --period {period}")
    if now not in allowed:
        raise KpiError(f"{period} is {now}: it can be {action}ed only when {' or '.join(sorted(allowed))}")
    if action == "unlock" and not reason.strip():
        raise KpiError("an unlock needs a reason (--reason): it is kept in the audit log")
    conn.execute(update(s.periods).where(s.periods.c.label == period).values(status=target))
    audit.log(conn, actor, f"period.{action}", period, f"{now} → {target}", details={"reason": reason} if reason else {})
    return target


def rescored(conn: Connection, period: str, run_id: int) -> None:
    """A new run of a reviewed period returns it to draft, on the record."""
    if status(conn, period) == REVIEWED:
        conn.execute(update(s.periods).where(s.periods.c.label == period).values(status=DRAFT))
        audit.log(conn, "kpi", "period.rescored", period, f"{REVIEWED} → {DRAFT}", details={"run_id": run_id})
