"""The core's data shapes: employees, periods, metrics and metric values."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .errors import KpiError

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Employee:
    """A person appraised; `external_ids` maps a system name (helpdesk, attendance …) to their id there."""

    id: str
    name: str
    role: str
    team: str = ""
    department: str = ""
    hire_date: date | None = None
    leave_date: date | None = None
    probation_end: date | None = None
    external_ids: dict[str, str] = field(default_factory=dict)

    def on_probation(self, on: date) -> bool:
        return self.probation_end is not None and on <= self.probation_end

    def employed_days(self, period: "Period") -> int:
        """Calendar days of the period during which the person was employed."""
        first = max(period.start, self.hire_date or period.start)
        last = min(period.end, self.leave_date or period.end)
        return max(0, (last - first).days + 1)


@dataclass(frozen=True)
class Period:
    """An appraisal period: whole local days from `start` to `end`, both inclusive."""

    label: str
    start: date
    end: date
    cycle: str = "monthly"
    timezone: str = DEFAULT_TIMEZONE

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def window(self) -> tuple[int, int]:
        """[start, end) in epoch seconds: local midnight of `start` to local midnight after `end`."""
        tz = ZoneInfo(self.timezone)
        lo = datetime.combine(self.start, time.min, tz)
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tz)
        return int(lo.timestamp()), int(hi.timestamp())

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class PeriodCycle:
    """How a site cuts time into periods: monthly (optionally from a start day such as the 26th),
    quarterly, annual, or a custom list of named periods."""

    kind: str = "monthly"
    start_day: int = 1
    timezone: str = DEFAULT_TIMEZONE
    custom: tuple[Period, ...] = ()

    def period(self, label: str) -> Period:
        """The period a label names: '2026-10', '2026-Q3', '2026' or a custom label."""
        if self.kind == "custom":
            for p in self.custom:
                if p.label == label:
                    return p
            known = ", ".join(p.label for p in self.custom) or "none"
            raise KpiError(f"period {label!r} is not among the custom periods in the config ({known})")
        if self.kind == "monthly":
            m = re.fullmatch(r"(\d{4})-(\d{2})", label)
            if not m or not 1 <= int(m[2]) <= 12:
                raise KpiError(f"period {label!r}: a monthly period is written YYYY-MM, e.g. 2026-10")
            year, month = int(m[1]), int(m[2])
            if self.start_day == 1:
                last = calendar.monthrange(year, month)[1]
                return Period(label, date(year, month, 1), date(year, month, last), "monthly", self.timezone)
            # A period named by the month it ends in: 2026-10 runs 2026-09-26 .. 2026-10-25.
            prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
            start = date(prev_year, prev_month, min(self.start_day, calendar.monthrange(prev_year, prev_month)[1]))
            end = date(year, month, min(self.start_day, calendar.monthrange(year, month)[1])) - timedelta(days=1)
            return Period(label, start, end, "monthly", self.timezone)
        if self.kind == "quarterly":
            m = re.fullmatch(r"(\d{4})-Q([1-4])", label)
            if not m:
                raise KpiError(f"period {label!r}: a quarterly period is written YYYY-Qn, e.g. 2026-Q3")
            year, q = int(m[1]), int(m[2])
            end_month = q * 3
            return Period(label, date(year, end_month - 2, 1),
                          date(year, end_month, calendar.monthrange(year, end_month)[1]), "quarterly", self.timezone)
        if self.kind == "annual":
            if not re.fullmatch(r"\d{4}", label):
                raise KpiError(f"period {label!r}: an annual period is written YYYY, e.g. 2026")
            year = int(label)
            return Period(label, date(year, 1, 1), date(year, 12, 31), "annual", self.timezone)
        raise KpiError(f"unknown period cycle {self.kind!r}")

    def containing(self, day: date) -> Period:
        """The period that a local calendar day falls in."""
        if self.kind == "custom":
            for p in self.custom:
                if p.contains(day):
                    return p
            raise KpiError(f"no custom period in the config contains {day.isoformat()}")
        if self.kind == "monthly":
            year, month = day.year, day.month
            if self.start_day != 1 and day.day >= self.start_day:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            return self.period(f"{year:04d}-{month:02d}")
        if self.kind == "quarterly":
            return self.period(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")
        return self.period(f"{day.year:04d}")

    def previous(self, today: date) -> Period:
        """The last complete period before the one containing `today` (what ops usually run)."""
        current = self.containing(today)
        return self.containing(current.start - timedelta(days=1))


@dataclass(frozen=True)
class Metric:
    """A measurable quantity per employee and period. `direction` is 'higher' or 'lower' (is better)."""

    id: str
    unit: str
    direction: str
    description: str


@dataclass(frozen=True)
class MetricValue:
    """A metric's value for one employee and period, where it came from, and the records behind it.

    `value` is None when there was nothing to measure (a rate with no denominator), never a made-up 0.
    `evidence` holds the source ids of the records that produced the value, and for rates the
    numerator and denominator."""

    employee_id: str
    period: str
    metric: str
    value: Decimal | None
    source: str
    evidence: dict[str, Any] = field(default_factory=dict)
