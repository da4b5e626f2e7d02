"""Attendance: one result per person and scheduled working day (the ``attendance_day`` record kind)
from what an attendance system saw at each end of the day. Shared by the punches, DingTalk and WeCom
connectors, so a late arrival, a missing punch or a leave day means the same whichever system saw it.

A day's **checks** are what happened at its start (arrival) and end (departure): on time, late (with
its minutes), seriously late, so late it counts as absence, early, or missing (no punch). The day's
result, in the kind's vocabulary (normal, late, early, absent, leave):

- no punch at all → ``absent``; an approved leave day → ``leave`` whatever was punched;
- an arrival or departure so far off it counts as absence → ``absent``;
- a serious late → what ``serious_late`` says (``late`` with its minutes, the default, or ``absent``);
- late → ``late`` with ``minutes_late`` (the sum, if a day has two shifts); early → ``early``;
  a day both late and early is ``late``;
- one end missing (a forgotten punch, 缺卡) → ``missing_punch``: ``exception`` (the default: a
  missing arrival is ``late`` without minutes, a missing departure ``early``), ``absent``, or
  ``normal`` (judge the day on the punch there is).

Options every attendance connector takes:

| option | meaning |
|---|---|
| `identity` | the roster's id system for the person ids (default `attendance`) |
| `missing_punch` | `exception` (default), `absent` or `normal`, as above |
| `leave` | approved leave: `{ "00001" = ["2026-10-08", "2026-10-12..2026-10-14"] }` (person id → days or spans) |
| `leave_file` | a CSV or XLSX of approved leave, one row per person and day or span |
| `leave_columns` | its headers: `{ person = "考勤号", start = "开始日期", end = "结束日期" }` (without an end column each row is one day) |
| `on_error` | bad rows in the files read: `stop` (default) or `skip` with a report |

The punches connector works the checks out from a work schedule (:class:`Schedule`, its options in
``SCHEDULE_OPTIONS``); DingTalk and WeCom report them, and their codes are mapped here.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

from kpi.core.errors import ConfigError, InputError, Problem
from kpi.core.models import Period
from kpi.core.options import Option, check_section
from kpi.core.records import Field
from kpi.core.values import ValueProblem, parse_date

from .http import HTTP_OPTIONS, HttpClient
from .tabular import open_table

# What a check at one end of the day found.
OK, LATE, SERIOUS, ABSENT, EARLY, MISSING = "ok", "late", "serious_late", "absent", "early", "missing"
ARRIVAL, DEPARTURE = "arrival", "departure"
SAME_PUNCH = timedelta(minutes=1)  # punches closer than this are one press of the button

ATTENDANCE_OPTIONS = {
    "identity": Option("str", default="attendance", help="the roster's id system for this source's person ids"),
    "missing_punch": Option("str", default="exception", choices=("exception", "absent", "normal"),
                            help="a day with one end unpunched: late/early (exception), absent, or judged on "
                                 "the punch there is (normal)"),
    "leave": Option("table", default={}, help='approved leave: person id = ["2026-10-08", "2026-10-12..2026-10-14"]'),
    "leave_file": Option("path", help="a CSV or XLSX of approved leave, one row per person and day or span"),
    "leave_columns": Option("table", default={}, help='the leave file\'s headers: person, start and end (optional), '
                                                      'e.g. { person = "考勤号", start = "开始日期" }'),
    "on_error": Option("str", default="stop", choices=("stop", "skip"),
                       help="bad rows in the files read: stop (listing them all), or skip them with a report"),
}
SERIOUS_LATE_OPTION = {
    "serious_late": Option("str", default="late", choices=("late", "absent"),
                           help="what a serious late counts as: late (with its minutes) or absent"),
}
SCHEDULE_OPTIONS = {
    "start": Option("str", required=True, help="when the working day starts, HH:MM"),
    "end": Option("str", required=True, help="when it ends, HH:MM"),
    "workdays": Option("any", default=[1, 2, 3, 4, 5], help="weekdays worked, 1 = Monday … 7 = Sunday"),
    "late_grace_minutes": Option("int", default=0, help="minutes after start that are not yet late"),
    "early_grace_minutes": Option("int", default=0, help="minutes before end that are not yet early"),
    "serious_late_minutes": Option("int", help="minutes late from which a late is serious"),
    "absent_after_minutes": Option("int", help="arriving later, or leaving earlier, than this counts as absent"),
}
LEAVE_FIELDS = (Field("person", "text", True), Field("start", "date", True), Field("end", "date"))


@dataclass(frozen=True)
class Check:
    """What happened at one end of a working day."""

    end: str  # ARRIVAL or DEPARTURE
    status: str  # OK, LATE, SERIOUS, ABSENT, EARLY or MISSING
    minutes: int | None = None  # minutes late, for a late arrival


def day_result(checks: Iterable[Check], missing_punch: str = "exception",
               serious_late: str = "late") -> tuple[str, int | None]:
    """The day's result and minutes late from its checks (see the module's description)."""
    checks = list(checks)
    present = [c for c in checks if c.status != MISSING]
    missing = {c.end for c in checks if c.status == MISSING}
    if not present or (missing and missing_punch == "absent"):
        return "absent", None
    statuses = {c.status for c in present}
    if ABSENT in statuses or (SERIOUS in statuses and serious_late == "absent"):
        return "absent", None
    late = [c for c in present if c.status in (LATE, SERIOUS)]
    if late:
        minutes = [c.minutes for c in late if c.minutes is not None]
        return "late", sum(minutes) if minutes else None
    if missing_punch == "exception" and ARRIVAL in missing:
        return "late", None
    if EARLY in statuses or (missing_punch == "exception" and DEPARTURE in missing):
        return "early", None
    return "normal", None


def span(text: Any) -> list[date]:
    """Days from "2026-10-03", a TOML date, or a span "2026-10-01..2026-10-07" (both ends included)."""
    if isinstance(text, date):
        return [text]
    first, _, last = str(text).partition("..")
    lo, hi = parse_date(first), parse_date(last) if last else None
    if hi is None:
        return [lo]
    if hi < lo:
        raise ValueProblem(f"{text!r} ends before it starts")
    return [lo + timedelta(days=n) for n in range((hi - lo).days + 1)]


def days_between(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


def windows(period: Period, days: int) -> list[tuple[date, date]]:
    """The period cut into windows of at most `days` days, first and last day included."""
    out, start = [], period.start
    while start <= period.end:
        end = min(start + timedelta(days=days - 1), period.end)
        out.append((start, end))
        start = end + timedelta(days=1)
    return out


def batches(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class Schedule:
    """A fixed working day and week, with holidays and the extra working days that make up for them."""

    start: time
    end: time
    workdays: frozenset[int]
    late_grace: int = 0
    early_grace: int = 0
    serious_late: int | None = None
    absent_after: int | None = None
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def works(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        return day not in self.holidays and day.isoweekday() in self.workdays

    def checks(self, day: date, punches: list[datetime], tz: ZoneInfo) -> list[Check]:
        """Arrival and departure from a working day's punches (aware datetimes, in order): the first
        punch against the start, the last against the end. A single punch (or several within a
        minute) is an arrival before the middle of the day and a departure after it."""
        if not punches:
            return [Check(ARRIVAL, MISSING), Check(DEPARTURE, MISSING)]
        start, end = datetime.combine(day, self.start, tz), datetime.combine(day, self.end, tz)
        first, last = punches[0], punches[-1]
        if last - first >= SAME_PUNCH:
            return [self._arrival(first, start), self._departure(last, end)]
        if first < start + (end - start) / 2:
            return [self._arrival(first, start), Check(DEPARTURE, MISSING)]
        return [Check(ARRIVAL, MISSING), self._departure(last, end)]

    def _arrival(self, at: datetime, start: datetime) -> Check:
        minutes = math.floor((at - start).total_seconds() / 60)
        if minutes <= self.late_grace:
            return Check(ARRIVAL, OK)
        if self.absent_after is not None and minutes > self.absent_after:
            return Check(ARRIVAL, ABSENT, minutes)
        if self.serious_late is not None and minutes >= self.serious_late:
            return Check(ARRIVAL, SERIOUS, minutes)
        return Check(ARRIVAL, LATE, minutes)

    def _departure(self, at: datetime, end: datetime) -> Check:
        minutes = math.ceil((end - at).total_seconds() / 60)
        if minutes <= self.early_grace:
            return Check(DEPARTURE, OK)
        if self.absent_after is not None and minutes > self.absent_after:
            return Check(DEPARTURE, ABSENT)
        return Check(DEPARTURE, EARLY)


class AttendanceConnector:
    """Base of the attendance connectors: leave days, the roster's people, and the day records."""

    roster = False

    def __init__(self, name: str, options: dict[str, Any], site):
        self.name = name
        self.opts = options
        self.site = site
        self.tz = ZoneInfo(site.timezone)
        self.where = next((s.where for s in getattr(site, "connectors", []) if s.name == name), f"connector {name!r}")
        self.leave_table = {(str(person), day) for person, days in options["leave"].items()
                            for day in self.days(f"leave.{person}", days)}

    def config_error(self, key: str, message: str) -> ConfigError:
        return ConfigError([Problem(getattr(self.site, "file", "config"), f"{self.where}.{key}", message)])

    def days(self, key: str, items: Any) -> set[date]:
        """Days listed in the config (dates or spans), with errors naming the key."""
        if isinstance(items, (str, date)):
            items = [items]
        if not isinstance(items, list):
            raise self.config_error(key, f"expected a list of days such as [\"2026-10-01..2026-10-07\"], "
                                         f"found {items!r}")
        try:
            return {d for item in items for d in span(item)}
        except ValueProblem as exc:
            raise self.config_error(key, f"{exc}; write a day as 2026-10-03 or a span as "
                                         "2026-10-01..2026-10-07") from None

    def schedule(self) -> Schedule:
        """The `schedule`, `holidays` and `extra_workdays` options as a Schedule."""
        values, problems = check_section(getattr(self.site, "file", "config"), f"{self.where}.schedule",
                                         self.opts["schedule"], SCHEDULE_OPTIONS)
        if problems:
            raise ConfigError(problems)
        hours = {}
        for key in ("start", "end"):
            try:
                hours[key] = time.fromisoformat(values[key])
            except ValueError:
                raise self.config_error(f"schedule.{key}",
                                        f"{values[key]!r} is not a time of day; write it as 09:00") from None
        if hours["end"] <= hours["start"]:
            raise self.config_error("schedule.end", "the day must end after it starts (night shifts are not supported)")
        workdays = values["workdays"]
        if not (isinstance(workdays, list) and all(isinstance(d, int) and 1 <= d <= 7 for d in workdays)):
            raise self.config_error("schedule.workdays",
                                    f"expected weekday numbers 1 (Monday) to 7 (Sunday), found {workdays!r}")
        return Schedule(hours["start"], hours["end"], frozenset(workdays), values["late_grace_minutes"],
                        values["early_grace_minutes"], values["serious_late_minutes"], values["absent_after_minutes"],
                        frozenset(self.days("holidays", self.opts["holidays"])),
                        frozenset(self.days("extra_workdays", self.opts["extra_workdays"])))

    def leave_days(self, sink) -> set[tuple[str, date]]:
        """(person, day) pairs of approved leave, from the `leave` table and the `leave_file`."""
        path = self.opts["leave_file"]
        if path is None:
            return set(self.leave_table)
        if not path.is_file():
            raise InputError(f"connector {self.name!r}: leave_file {path} does not exist; check its path in the config")
        columns = {"person": "person", "start": "start", "end": "end", **self.opts["leave_columns"]}
        options = {"columns": columns, "value_map": {}, "on_error": self.opts["on_error"]}
        out = set(self.leave_table)
        with open_table(path, options, self.site.timezone, sink, self.name) as (reader, headers, rows):
            fields = LEAVE_FIELDS if columns["end"] in headers else LEAVE_FIELDS[:2]
            reader.check_headers(headers, fields)
            for line, r in reader.typed(rows, fields):
                last = r.get("end") or r["start"]
                if last < r["start"]:
                    reader.problem(line, f"column {columns['end']!r}: {last} is before the start {r['start']}")
                    continue
                out |= {(r["person"], d) for d in days_between(r["start"], last)}
            reader.finish()
        return out

    def people(self, sink, first: date, last: date) -> dict[str, tuple[date, date]]:
        """The roster's people with an id in this source's system, employed some day from `first` to
        `last`: their id there → the first and last of those days they were employed."""
        out = {}
        for e in sink.store.employees(sink.conn):
            person = e.external_ids.get(self.opts["identity"])
            lo, hi = max(first, e.hire_date or first), min(last, e.leave_date or last)
            if person and lo <= hi:
                out[person] = (lo, hi)
        return out

    def store(self, sink, days: Iterable[tuple[str, date, list[Check]]], leave: set[tuple[str, date]]) -> None:
        """Write one attendance_day record per (person, day) from its checks; leave days are leave."""
        missing_punch, serious_late = self.opts["missing_punch"], self.opts.get("serious_late", "late")

        def rows():
            for person, day, checks in days:
                result, minutes = ("leave", None) if (person, day) in leave else day_result(checks, missing_punch,
                                                                                            serious_late)
                yield {"source_id": f"{person}|{day.isoformat()}", "person": person, "day": day, "result": result,
                       "minutes_late": minutes}
        sink.records("attendance_day", rows(), identity=self.opts["identity"])


# -- the vendors' APIs ------------------------------------------------------------------------------

class TokenApi:
    """DingTalk's and WeCom's shape: an access_token from a gettoken call with the app's
    credentials, sent as a query parameter; every answer a JSON body with errcode 0, or errcode and
    errmsg saying what failed."""

    def __init__(self, connector: str, vendor: str, url: str, options: dict[str, Any], credentials: dict[str, Any],
                 credentials_hint: str):
        self.connector, self.vendor, self.hint = connector, vendor, credentials_hint
        self.credentials = {k: v.reveal() for k, v in credentials.items()}
        # These POSTs only read, so the client's retries are safe.
        self.client = HttpClient(connector, url, timeout=options["timeout"], retries=options["retries"],
                                 max_wait=options["max_wait"], credentials_hint=credentials_hint,
                                 secrets=self.credentials.values())
        self.token: str | None = None

    def __enter__(self) -> "TokenApi":
        return self

    def __exit__(self, *exc) -> None:
        self.client.session.close()

    def _answer(self, api: str, data: Any, todo: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise InputError(f"connector {self.connector!r}: {self.vendor} {api} answered {type(data).__name__}, "
                             "not a JSON object; check the url option")
        if data.get("errcode", 0) != 0:
            raise InputError(self.client.scrub(
                f"connector {self.connector!r}: {self.vendor} {api} failed: errcode {data.get('errcode')}: "
                f"{data.get('errmsg', '')}; {todo}"))
        return data

    def get_token(self, path: str) -> None:
        data, _ = self.client.get_json(path, self.credentials)
        data = self._answer(path.strip("/"), data, f"check {self.hint} and the environment variables they name")
        token = data.get("access_token")
        if not token:
            raise InputError(f"connector {self.connector!r}: {self.vendor} {path.strip('/')} sent no access_token")
        self.client.hide(token)
        self.token = token

    def post(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        data, _ = self.client.post_json(api, body, {"access_token": self.token})
        return self._answer(api.strip("/"), data, f"check that the app may read attendance data and that the "
                                                  f"users asked for exist in {self.vendor}")


def api_options(url: str, **credentials: str) -> dict[str, Option]:
    """The options of a vendor's attendance API: its credentials (option name = help), its base
    address, the users asked for, and the shared attendance and HTTP options."""
    return {
        **{name: Option("str", required=True, secret=True, help=help) for name, help in credentials.items()},
        "url": Option("str", default=url, help="the API's base address"),
        "users": Option("list", default=[], help="the user ids to ask for (default: the roster's ids in the "
                                                 "identity system, of everyone employed in the period)"),
        **ATTENDANCE_OPTIONS,
        **HTTP_OPTIONS,
    }


class ApiAttendanceConnector(AttendanceConnector):
    """Base of the DingTalk and WeCom connectors: an API read a period at a time."""

    replace = False  # records are upserted by source id: a pull of one period leaves the others be
    vendor = ""
    token_path = ""
    token_query: dict[str, str] = {}  # gettoken's query parameter → the option holding its value

    @contextmanager
    def api(self) -> Iterator[TokenApi]:
        """The vendor's API, with an access token."""
        hint = f"the {' and '.join(self.token_query.values())} options"
        with TokenApi(self.name, self.vendor, self.opts["url"], self.opts,
                      {param: self.opts[option] for param, option in self.token_query.items()}, hint) as api:
            api.get_token(self.token_path)
            yield api

    def users(self, sink, period: Period) -> list[str]:
        users = self.opts["users"] or sorted(self.people(sink, period.start, period.end))
        if not users:
            raise InputError(f"connector {self.name!r}: nobody to ask about: no one employed in {period.label} has "
                             f"an id in the roster's {self.opts['identity']!r} system; add them to the roster or "
                             "list them in the users option")
        return users

    def store_checks(self, sink, period: Period, checks: dict[tuple[str, date], list[Check]]) -> None:
        """Write the days of the period that the vendor reported checks for."""
        leave = self.leave_days(sink)
        days = ((person, day, found) for (person, day), found in sorted(checks.items()) if period.contains(day))
        self.store(sink, days, leave)
