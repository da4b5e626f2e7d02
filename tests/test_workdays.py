"""Working days on the Chinese calendar, for appeal deadlines (seeds 001 and 004)."""

from __future__ import annotations

from datetime import date

import pytest

from kpi.core.errors import KpiError
from kpi.core.workdays import WorkCalendar


def test_a_deadline_across_national_day_lands_on_the_working_saturday_after_it():
    cal = WorkCalendar()
    # Received Wednesday 2026-09-30, the working day before National Day (10-01 to 10-07 off).
    # 1: Thu 10-08, 2: Fri 10-09, 3: Sat 10-10 (an adjusted working day, 调休补班).
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 10)
    # 5 working days: then Sun 10-11 is off again → Mon 10-12 (4), Tue 10-13 (5).
    assert cal.add_working_days(date(2026, 9, 30), 5) == date(2026, 10, 13)


def test_weekends_and_the_mid_autumn_festival_are_off_and_a_working_sunday_is_on():
    cal = WorkCalendar()
    assert not cal.is_working_day(date(2026, 9, 25))  # Mid-Autumn Festival, a Friday
    assert cal.is_working_day(date(2026, 9, 20))  # a Sunday worked for National Day
    assert cal.working_days_between(date(2026, 9, 24), date(2026, 9, 30)) == 3  # 28, 29, 30


def test_a_sites_own_days_and_a_year_the_package_does_not_know():
    cal = WorkCalendar(extra_days_off=frozenset({date(2026, 10, 8)}))  # a company day off
    assert cal.add_working_days(date(2026, 9, 30), 3) == date(2026, 10, 12)
    with pytest.raises(KpiError, match=r"no data for 2031 yet: upgrade it .* \[calendar\]"):
        WorkCalendar().add_working_days(date(2031, 6, 1), 1)
    own = WorkCalendar(extra_working_days=frozenset({date(2031, 6, 2)}))
    assert own.add_working_days(date(2031, 6, 1), 1) == date(2031, 6, 2)
