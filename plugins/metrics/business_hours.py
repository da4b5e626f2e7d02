"""Business-hours durations, for a connector whose source gives only timestamps.

Where the helpdesk measures business time itself (Zendesk's metric sets, Zammad's SLA calendar),
its figure is the one to store: it follows the helpdesk's own schedule and holidays, the ones its
SLAs are judged by. Otherwise a connector works the minutes out at ingest from the site's schedule:

    hours = BusinessHours.of("09:00", "18:00", workdays=[1, 2, 3, 4, 5], holidays=[date(2026, 10, 1)])
    row["first_reply_business_minutes"] = hours.minutes(created_at, first_reply_at)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BusinessHours:
    """Working hours `start`–`end` on ISO weekdays `workdays` (1 = Monday), except `holidays`, in
    the site's time zone."""

    start: time
    end: time
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = frozenset()
    timezone: str = "Asia/Shanghai"

    @classmethod
    def of(cls, start: str, end: str, workdays: Iterable[int] = (1, 2, 3, 4, 5), holidays: Iterable[date] = (),
           timezone: str = "Asia/Shanghai") -> "BusinessHours":
        hours = cls(time.fromisoformat(start), time.fromisoformat(end), frozenset(workdays), frozenset(holidays),
                    timezone)
        if hours.end <= hours.start or not hours.workdays <= set(range(1, 8)):
            raise ValueError(f"business hours {start}–{end} on days {sorted(workdays)}: the end must come after "
                             "the start, and days are 1 (Monday) to 7 (Sunday)")
        return hours

    def minutes(self, since: int | None, until: int | None) -> int | None:
        """Whole business minutes between two epoch-second times; None if either is blank, 0 if
        `until` is not after `since`."""
        if since is None or until is None:
            return None
        tz = ZoneInfo(self.timezone)
        a, b = datetime.fromtimestamp(since, tz), datetime.fromtimestamp(until, tz)
        seconds = 0.0
        day = a.date()
        while day <= b.date():
            if day.isoweekday() in self.workdays and day not in self.holidays:
                lo = max(a, datetime.combine(day, self.start, tz))
                hi = min(b, datetime.combine(day, self.end, tz))
                seconds += max((hi - lo).total_seconds(), 0)
            day += timedelta(days=1)
        return int(seconds // 60)
