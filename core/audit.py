"""The audit log: every change a person makes to an appraisal — an adjustment, an appeal's steps,
a period reviewed, approved or unlocked — with who, when, why and the details, in the store (seed
000: 考核档案, 全程可追溯 — an archive that makes the whole appraisal traceable). Entries are only
ever added."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Connection, insert, select

from .store import schema as s


def log(conn: Connection, actor: str, action: str, period: str, subject: str, *, employee_id: str | None = None,
        details: dict[str, Any] | None = None) -> None:
    """Add an entry in the caller's transaction, so it is kept exactly when the change it records is."""
    conn.execute(insert(s.audit_log).values(
        at=int(time.time()), actor=actor, action=action, period=period, employee_id=employee_id, subject=subject,
        details=json.dumps(details or {}, ensure_ascii=False, sort_keys=True, default=str)))


def entries(conn: Connection, period: str | None = None) -> list[dict[str, Any]]:
    t = s.audit_log
    q = select(t).order_by(t.c.id)
    if period:
        q = q.where(t.c.period == period)
    return [dict(r, details=json.loads(r["details"])) for r in conn.execute(q).mappings()]
