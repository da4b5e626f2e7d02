"""Working days on the mainland Chinese calendar: weekends off, the State Council's public holidays
off, and the adjusted working weekends (调休补班) on. The data comes from the maintained
`chinesecalendar` package, which follows each year's notice; a site can add its own days off and
working days (a company holiday, a year the package does not know yet) in [calendar].

Appeal deadlines count working days from the day after the one something happens: a result received
on Wednesday 2026-09-30, with 3 working days to appeal, may be appealed until Saturday 2026-10-10 (the
National Day week is off, 10-10 is a working Saturday)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from .errors import KpiError

MAX_SPAN = 366  # days searched for the next working day; a longer search means the data is wrong


@dataclass(frozen=True)
class WorkCalendar:
    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off:
            return False
        import chinese_calendar
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            raise KpiError(f"the Chinese holiday calendar (package chinesecalendar) has no data for {day.year} yet: "
                           f"upgrade it (pip install -U chinesecalendar) once the State Council has published "
                           f"{day.year}'s holidays, or list that year's days off and working weekends in [calendar] "
                           "days_off / working_days") from None

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (`start` itself does not count)."""
        if n < 1:
            raise ValueError("count at least one working day")
        day, counted = start, 0
        for _ in range(MAX_SPAN * max(1, n)):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == n:
                    return day
        raise KpiError(f"no {n} working days within a year after {start}: check [calendar] days_off")

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        return sum(1 for k in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=k)))
