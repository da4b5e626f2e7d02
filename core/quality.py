"""Data quality around a run: anomaly windows left out of the metrics with their reason on every
scorecard (seed 004: an outage or a traffic surge is marked and excluded, the reason kept), and the
days an attendance source has for some people but not for others."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select

from .config import Anomaly, SiteConfig
from .errors import Problem
from .models import Employee, Period
from .scoring import Flag, Scorecard

ATTENDANCE = "attendance_day"


def check_anomalies(config: SiteConfig, kinds: list[str]) -> list[Problem]:
    """Anomaly windows that name record kinds no plugin registers."""
    from .options import did_you_mean
    return [Problem(config.file, f"anomaly[{i}].kinds", f"unknown record kind {k!r}{did_you_mean(k, kinds)} "
                                                         f"(kinds: {', '.join(kinds)})")
            for i, a in enumerate(config.anomalies) for k in a.kinds if k not in kinds]


def windows(anomalies: list[Anomaly], period: Period, kinds: list[str]) -> dict[str, list[tuple[int, int]]]:
    """The [start, end) windows to leave out of each record kind in the period."""
    lo, hi = period.window()
    out: dict[str, list[tuple[int, int]]] = {}
    for a in anomalies:
        if a.start < hi and a.end > lo:
            for kind in a.kinds or kinds:
                out.setdefault(kind, []).append((a.start, a.end))
    return out


def left_out(conn: Connection, tables: dict, anomalies: list[Anomaly], period: Period,
             kinds: list[str]) -> dict[int, dict[str, int]]:
    """Per anomaly (by its index in the config), how many records of each employee it left out."""
    lo, hi = period.window()
    out: dict[int, dict[str, int]] = {}
    for i, a in enumerate(anomalies):
        if not (a.start < hi and a.end > lo):
            continue
        counts: dict[str, int] = {}
        for kind in a.kinds or kinds:
            t = tables[kind]
            q = (select(t.c.employee_id, func.count()).where(and_(t.c.at >= max(a.start, lo), t.c.at < min(a.end, hi)),
                                                             t.c.employee_id.is_not(None)).group_by(t.c.employee_id))
            for emp, n in conn.execute(q):
                counts[emp] = counts.get(emp, 0) + n
        out[i] = counts
    return out


def mark(cards: list[Scorecard], anomalies: list[Anomaly], counts: dict[int, dict[str, int]]) -> None:
    """The reason for every window on every scorecard of the period, with what it left out of theirs."""
    for i, per_employee in counts.items():
        a = anomalies[i]
        what = ", ".join(a.kinds) if a.kinds else "all"
        for card in cards:
            n = per_employee.get(card.employee_id, 0)
            card.flags.append(Flag("anomaly", f"{a.reason}: {what} records from {a.label} left out "
                                              f"({n} of this person's)"))


def log_anomalies(conn: Connection, config: SiteConfig, period: Period) -> None:
    """Each anomaly window that applies to the period goes into the audit log the first time a run
    applies it (the windows live in the config; the log says when they came into force)."""
    from . import audit
    seen = {(e["subject"], e["details"].get("reason")) for e in audit.entries(conn, period.label)
            if e["action"] == "anomaly.applied"}
    lo, hi = period.window()
    for a in config.anomalies:
        if a.start < hi and a.end > lo and (a.label, a.reason) not in seen:
            audit.log(conn, f"config {config.file}", "anomaly.applied", period.label, a.label,
                      details={"reason": a.reason, "kinds": list(a.kinds) or "all"})


def attendance_gaps(conn: Connection, tables: dict, period: Period, people: list[Employee],
                    timezone: str) -> dict[str, list[str]]:
    """Days the attendance source has for someone but not for this person while employed: a
    missing export or an unmapped device id, not a day off (a day off has a record saying so)."""
    t = tables.get(ATTENDANCE)
    if t is None:
        return {}
    lo, hi = period.window()
    tz = ZoneInfo(timezone)
    seen: dict[str, set[date]] = {}
    days: dict[int, date] = {}  # a record's time -> its local day, worked out once per value
    for emp, at in conn.execute(select(t.c.employee_id, t.c.at).where(t.c.at >= lo, t.c.at < hi,
                                                                     t.c.employee_id.is_not(None))):
        day = days.get(at)
        if day is None:
            day = days[at] = datetime.fromtimestamp(at, tz).date()
        seen.setdefault(emp, set()).add(day)
    covered = sorted(set(days.values()))
    gaps = {}
    for e in people:
        first = max(period.start, e.hire_date or period.start)
        last = min(period.end, e.leave_date or period.end)
        own = seen.get(e.id, ())
        missing = [d for d in covered if first <= d <= last and d not in own]
        if missing:
            gaps[e.id] = [d.isoformat() for d in missing]
    return gaps
