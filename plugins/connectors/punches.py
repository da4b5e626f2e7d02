"""Attendance-machine exports (ZKTeco and alike): raw punches judged against the site's work
schedule, one ``attendance_day`` record per person and working day.

    [[connector]]
    name = "clock"
    use = "punches"
    path = "data/1_attlog.dat"
    schedule = { start = "09:00", end = "18:00", workdays = [1, 2, 3, 4, 5], late_grace_minutes = 5,
                 serious_late_minutes = 30, absent_after_minutes = 240 }
    holidays = ["2026-10-01..2026-10-07"]
    extra_workdays = ["2026-09-28", "2026-10-11"]
    leave_file = "data/leave.xlsx"
    leave_columns = { person = "考勤号", start = "开始日期", end = "结束日期" }

The file is either the device's attendance log (``format = "attlog"``: one punch a line, the user id,
then the time ``YYYY-MM-DD HH:MM:SS``, then verify mode, punch state and work code, separated by
tabs or spaces) or a table with a header row, CSV or XLSX, as the attendance software exports it
(``format = "table"``); ``auto`` (the default) tells them apart by the first line.

| option | meaning |
|---|---|
| `path` | the export, relative to the config |
| `format` | `auto`, `attlog` or `table` |
| `columns` | a table's headers: `{ person = "工号", punched_at = "打卡时间" }`, or with the day and the time in two columns `{ person = "工号", date = "日期", time = "时间" }` |
| `encoding`, `delimiter` | a CSV's or a log's encoding (`auto`: UTF-8, else GB18030) and a CSV's separator |
| `sheet`, `header_row` | an XLSX's worksheet (default the first) and header row (default 1) |
| `schedule` | `start`, `end` (HH:MM, required); `workdays` (1 = Monday … 7, default Monday to Friday); `late_grace_minutes`, `early_grace_minutes` (default 0); `serious_late_minutes`; `absent_after_minutes` (arriving later or leaving earlier than this is absence) |
| `holidays`, `extra_workdays` | days off that are normally worked, and days worked that are normally off (调休): `"2026-10-03"` or spans `"2026-10-01..2026-10-07"` |
| `expect` | who is expected on each working day: `roster` (default: everyone in the roster with an id in the `identity` system while employed, and anyone in the file) or `file` (only people who punched at least once in the file) |
| `serious_late` | what a serious late counts as: `late` (default) or `absent` |
| `identity`, `missing_punch`, `leave`, `leave_file`, `leave_columns`, `on_error` | see :mod:`kpi.plugins.connectors.attendance` |

The days judged run from the first to the last day with a punch in the file (a file is the source's
whole content: records from an earlier copy of it are replaced). Only working days get a record: on
each, the first punch against the start (late by whole minutes after it, beyond the grace) and the
last against the end (early); a single punch is an arrival before the middle of the day and a
departure after it, the other end missing; no punch is absence unless it is a leave day. The punch
state a device records (check-in, check-out …) is not used: people press the wrong key, and the
first and last punch of the day are what count. Shifts across midnight are not supported.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator

from kpi.core import hookimpl
from kpi.core.errors import InputError
from kpi.core.options import Option
from kpi.core.records import Field

from .attendance import ATTENDANCE_OPTIONS, SERIOUS_LATE_OPTION, AttendanceConnector, days_between
from .tabular import SHEET_SUFFIXES, Cells, Reader, decode, open_table
from .xlsx_files import SHEET_OPTIONS

PUNCH_FIELDS = (Field("person", "text", True), Field("punched_at", "datetime", True))
ATTLOG = re.compile(r"\s*(\S+)[ \t]+(\d{4}[-/]\d{1,2}[-/]\d{1,2}[ T]\d{1,2}:\d{2}(?::\d{2})?)(?:\s|$)")
ATTLOG_HEADERS = {"person": "user id", "punched_at": "time"}  # how an attlog line's fields are named in errors


class PunchesConnector(AttendanceConnector):
    options = {
        "path": Option("path", required=True, help="the device's export: an attlog .txt/.dat, a CSV or an XLSX"),
        "format": Option("str", default="auto", choices=("auto", "attlog", "table"),
                         help="attlog (user id, time, … a line) or table (a header row); auto tells them apart"),
        "columns": Option("table", default={},
                          help="a table's headers: person and punched_at, or person, date and time"),
        "encoding": Option("str", default="auto", help="auto (UTF-8, else GB18030), or a codec name"),
        "delimiter": Option("str", default=",", help="a CSV's field separator"),
        **SHEET_OPTIONS,
        "schedule": Option("table", required=True, help='the working day: { start = "09:00", end = "18:00", … }'),
        "holidays": Option("any", default=[], help='days off that are normally worked: ["2026-10-01..2026-10-07"]'),
        "extra_workdays": Option("any", default=[], help="days worked that are normally off (调休)"),
        "expect": Option("str", default="roster", choices=("roster", "file"),
                         help="who is expected each working day: the roster's people with an id, or those in the file"),
        **ATTENDANCE_OPTIONS,
        **SERIOUS_LATE_OPTION,
    }

    def __init__(self, name: str, options: dict[str, Any], site):
        super().__init__(name, options, site)
        self.work = self.schedule()  # config mistakes show before anything is read

    def pull(self, period, sink) -> None:
        path: Path = self.opts["path"]
        if not path.is_file():
            raise InputError(f"connector {self.name!r}: {path} does not exist; check its path in the config")
        punches = self._punches(path, sink)
        if not punches:
            raise InputError(f"{path}: no punches in the file; nothing to judge attendance from")
        first = min(day for days in punches.values() for day in days)
        last = max(day for days in punches.values() for day in days)
        expected = {person: (first, last) for person in punches}
        if self.opts["expect"] == "roster":
            expected.update(self.people(sink, first, last))
        leave = self.leave_days(sink)

        def days():
            for person, (lo, hi) in sorted(expected.items()):
                punched = punches.get(person, {})
                for day in days_between(lo, hi):
                    if self.work.works(day):
                        yield person, day, self.work.checks(day, sorted(punched.get(day, [])), self.tz)
        self.store(sink, days(), leave)

    def _punches(self, path: Path, sink) -> dict[str, dict[date, list[datetime]]]:
        """Every punch in the file, by person and local day; bad lines stop the pull or are skipped."""
        fmt = self.opts["format"]
        text = None
        if fmt == "auto":
            if path.suffix.lower() in SHEET_SUFFIXES:
                fmt = "table"
            else:
                text = decode(path, self.opts["encoding"])
                first = next((line for line in text.splitlines() if line.strip()), "")
                fmt = "attlog" if ATTLOG.match(first) else "table"
        if fmt == "attlog":
            reader = Reader(str(path), {**self.opts, "columns": ATTLOG_HEADERS, "value_map": {}}, self.site.timezone,
                            sink)
            text = decode(path, self.opts["encoding"]) if text is None else text
            return self._collect(reader, _attlog_cells(text, reader))
        columns = dict(self.opts["columns"])
        split = [columns.get(k) for k in ("date", "time")]
        if any(split):
            if not all(split):
                raise self.config_error("columns", "name both the date and the time headers, or one punched_at header")
            columns["punched_at"] = " + ".join(split)
        with open_table(path, {**self.opts, "columns": columns, "value_map": {}}, self.site.timezone, sink,
                        self.name) as (reader, headers, rows):
            reader.check_headers(headers, PUNCH_FIELDS[:1] if any(split) else PUNCH_FIELDS, [h for h in split if h])
            if any(split):
                rows = _joined(rows, *split, columns["punched_at"])
            return self._collect(reader, rows)

    def _collect(self, reader: Reader, rows) -> dict[str, dict[date, list[datetime]]]:
        punches: dict[str, dict[date, list[datetime]]] = defaultdict(lambda: defaultdict(list))
        for _, r in reader.typed(rows, PUNCH_FIELDS):
            at = datetime.fromtimestamp(r["punched_at"], self.tz)
            punches[r["person"]][at.date()].append(at)
        reader.finish()
        return punches


def _attlog_cells(text: str, reader: Reader) -> Iterator[Cells]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = ATTLOG.match(line)
        if m is None:
            reader.problem(n, "not a punch: expected a user id, then the time as YYYY-MM-DD HH:MM:SS")
            continue
        yield Cells(n, {ATTLOG_HEADERS["person"]: m.group(1), ATTLOG_HEADERS["punched_at"]: m.group(2)})


def _joined(rows, date_header: str, time_header: str, joined: str) -> Iterator[Cells]:
    """Rows whose day and time of day are in two columns, with the two joined into one."""
    for row in rows:
        day, clock = row.cells.get(date_header, "").strip(), row.cells.get(time_header, "").strip()
        yield Cells(row.line, {**row.cells, joined: f"{day} {clock}" if day and clock else ""})


@hookimpl
def kpi_register_connectors(register):
    register("punches", PunchesConnector)
