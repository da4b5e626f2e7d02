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
        """The period a label names: '2026-10', '2026-Q3', '2026' or a custom label. Any cycle but
        custom accepts all three forms, so a monthly site can also score a quarter or a year (from
        its months, where the scheme says so); quarters and years are made of the site's months."""
        if self.kind == "custom":
            for p in self.custom:
                if p.label == label:
                    return p
            known = ", ".join(p.label for p in self.custom) or "none"
            raise KpiError(f"period {label!r} is not among the custom periods in the config ({known})")
        if m := re.fullmatch(r"(\d{4})-(\d{2})", label):
            if not 1 <= int(m[2]) <= 12:
                raise KpiError(f"period {label!r}: the month must be 01 to 12")
            return self._month(int(m[1]), int(m[2]))
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", label):
            year, q = int(m[1]), int(m[2])
            return self._span(label, "quarterly", [self._month(year, q * 3 - 2), self._month(year, q * 3)])
        if re.fullmatch(r"\d{4}", label):
            return self._span(label, "annual", [self._month(int(label), 1), self._month(int(label), 12)])
        raise KpiError(f"period {label!r}: write a month as YYYY-MM (2026-10), a quarter as YYYY-Qn (2026-Q3) "
                       "or a year as YYYY (2026)")

    def _month(self, year: int, month: int) -> Period:
        label = f"{year:04d}-{month:02d}"
        if self.start_day == 1:
            return Period(label, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]),
                          "monthly", self.timezone)
        # A period named by the month it ends in: 2026-10 runs 2026-09-26 .. 2026-10-25.
        prev_year, prev_month = (year - 1, 12) if month == 1 else (year, month - 1)
        start = date(prev_year, prev_month, min(self.start_day, calendar.monthrange(prev_year, prev_month)[1]))
        end = date(year, month, min(self.start_day, calendar.monthrange(year, month)[1])) - timedelta(days=1)
        return Period(label, start, end, "monthly", self.timezone)

    def _span(self, label: str, cycle: str, ends: list[Period]) -> Period:
        return Period(label, ends[0].start, ends[-1].end, cycle, self.timezone)

    def months(self, period: Period) -> list[Period]:
        """The months a quarter or a year is made of (none for a month or a custom period)."""
        if period.cycle not in ("quarterly", "annual") or self.kind == "custom":
            return []
        year = int(period.label[:4])
        first = 1 if period.cycle == "annual" else int(period.label[-1]) * 3 - 2
        last = 12 if period.cycle == "annual" else first + 2
        return [self._month(year, m) for m in range(first, last + 1)]

    def of_kind(self, kind: str) -> "PeriodCycle":
        """The same site's cycle of another kind (its quarters, its years)."""
        return PeriodCycle(kind, self.start_day, self.timezone, self.custom)

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
        month = self.of_kind("monthly").containing(day)  # quarters and years are made of the site's months
        year, m = int(month.label[:4]), int(month.label[5:])
        if self.kind == "quarterly":
            return self.period(f"{year:04d}-Q{(m - 1) // 3 + 1}")
        return self.period(f"{year:04d}")

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


@dataclass(frozen=True, slots=True)  # a large run holds one per employee and metric
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
