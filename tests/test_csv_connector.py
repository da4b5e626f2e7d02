"""The CSV connector on real files: encodings, column mapping, bad rows named by line, duplicates
and ids not in the roster."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from kpi.core.cli import main
from kpi.plugins.connectors import csv_worker
from kpi.core.values import parse_date, parse_datetime, parse_decimal


@pytest.fixture(params=["in place", "in a worker process"])
def parsing(request, monkeypatch):
    """A large CSV file is parsed by a second process (csv_worker); every file here is small, so
    the worker's threshold is lowered to 0 to read them that way too: the same records and the
    same reports either way."""
    if request.param != "in place":
        monkeypatch.setattr(csv_worker, "PARALLEL_BYTES", 0)
    return request.param


def run(site, *args):
    return CliRunner().invoke(main, ["run", "--config", str(site), "--json", *args])


def rows(site, sql, **params):
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_gb18030_file_gives_the_same_records_as_its_utf8_twin(demo_site, parsing):
    first = run(demo_site)
    assert first.exit_code == 0, first.output
    before = rows(demo_site, "SELECT source_id, employee_id, at, day, result FROM rec_attendance_day ORDER BY source_id")
    attendance = demo_site.parent / "data" / "attendance.csv"
    attendance.write_bytes(attendance.read_text(encoding="utf-8").encode("gb18030"))
    assert "结果".encode("utf-8") not in attendance.read_bytes()  # really re-encoded
    second = run(demo_site)
    assert second.exit_code == 0, second.output
    after = rows(demo_site, "SELECT source_id, employee_id, at, day, result FROM rec_attendance_day ORDER BY source_id")
    assert after == before and len(after) == 1749
    assert json.loads(second.stdout)["scorecards"] == json.loads(first.stdout)["scorecards"]


def test_three_bad_rows_are_reported_by_line_and_nothing_is_stored(demo_site, parsing):
    assert run(demo_site).exit_code == 0
    tickets = demo_site.parent / "data" / "tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines()
    lines[10] = lines[10].replace("2026-08", "2026-13")           # a month that does not exist
    lines[20] = lines[20].rsplit(",", 1)[0] + ",many"             # reopens is not a number
    lines[30] = ",".join(lines[30].split(",")[:4])               # too few fields
    tickets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 1
    bad = [l.strip() for l in result.output.splitlines() if l.strip().startswith(str(tickets))]
    assert [b.split(": ")[0] for b in bad] == [f"{tickets}:11", f"{tickets}:21", f"{tickets}:31"]
    assert "column 'created_at'" in bad[0] and "column 'reopens'" in bad[1] and "has 4 fields, the header has 8" in bad[2]
    assert "3 bad row(s); nothing from" in result.output and 'on_error = "skip"' in result.output
    # The earlier results stay current and the tickets stored before are untouched.
    runs = rows(demo_site, "SELECT status, is_current, error FROM runs ORDER BY id")
    assert [(r[0], bool(r[1])) for r in runs] == [("succeeded", True), ("failed", False)]
    assert runs[1][2].startswith("failed in pull:")
    assert rows(demo_site, "SELECT count(*) FROM rec_ticket")[0][0] == 6194


def test_skip_mode_reports_the_rejected_rows(demo_site, parsing):
    tickets = demo_site.parent / "data" / "tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("urgent", "urgent").replace(lines[5].split(",")[2], "yesterday")
    lines[9:9] = ["", ",,,,,,,", " "]  # blank lines, one of empty cells: not records, not rows read
    tickets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = demo_site.read_text(encoding="utf-8").replace(
        'path = "data/tickets.csv"', 'path = "data/tickets.csv"\non_error = "skip"')
    demo_site.write_text(text, encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    source = next(s for s in json.loads(result.stdout)["sources"] if s["connector"] == "tickets")
    assert source["rows_read"] == 6194 and source["accepted"] == 6193 and source["rejected"] == 1
    assert source["rejections"] == [f"{tickets}:6: column 'created_at': 'yesterday' is not a date-time; "
                                    "write it as 2026-10-03 09:15:00"]


def test_duplicates_and_unknown_ids_are_counted(demo_site, parsing):
    tickets = demo_site.parent / "data" / "tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines()
    lines.append(lines[-1])                                              # the same ticket twice
    lines.append(lines[-1].replace("T00", "X00").replace("agent-10", "agent-99"))  # an agent not in the roster
    tickets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    source = next(s for s in json.loads(result.stdout)["sources"] if s["connector"] == "tickets")
    assert source["duplicates"] == 1 and source["unmapped_ids"] == {"agent-9930": 1}
    text = demo_site.read_text(encoding="utf-8").replace('unknown = "report"', 'unknown = "fail"')
    demo_site.write_text(text, encoding="utf-8")
    failed = run(demo_site)
    assert failed.exit_code == 1 and "agent-9930" in failed.output


def test_missing_column_names_the_header(demo_site):
    text = demo_site.read_text(encoding="utf-8").replace('person = "agent_id" }', 'person = "坐席" }', 1)
    demo_site.write_text(text, encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 1
    assert "tickets.csv: line 1: missing column(s) '坐席'" in result.output


def test_value_parsing():
    tz = "Asia/Shanghai"
    assert parse_datetime("2026-10-03 09:15:00", tz) == int(datetime(2026, 10, 3, 9, 15, tzinfo=ZoneInfo(tz)).timestamp())
    assert parse_datetime("46298.385416666664", tz) == parse_datetime("2026-10-03 09:15:00", tz)  # Excel serial
    assert parse_datetime("2026-10-03T01:15:00Z", tz) == parse_datetime("2026-10-03 09:15", tz)
    assert parse_date("46298").isoformat() == "2026-10-03" == parse_date("2026年10月03日").isoformat()
    assert str(parse_decimal("95%")) == "95" and str(parse_decimal("1,234.5")) == "1234.5"


def test_a_file_the_csv_module_or_the_encoding_cannot_read_names_the_file_and_line(demo_site, parsing):
    tickets = demo_site.parent / "data" / "tickets.csv"
    original = tickets.read_text(encoding="utf-8")
    lines = original.splitlines()
    cells = lines[40].split(",")
    lines[40] = ",".join(cells[:6] + ["x" * 200_000] + cells[7:])  # a channel over the csv module's field limit
    tickets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 1
    assert f"{tickets}: line 41: field larger than field limit" in result.output

    tickets.write_bytes((original + "T999999,agent-10,2026-10-31 23:00:00,,,0,normal,电话\n").encode("gb18030"))
    text = demo_site.read_text(encoding="utf-8").replace('path = "data/tickets.csv"',
                                                          'path = "data/tickets.csv"\nencoding = "utf-8"')
    demo_site.write_text(text, encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 1
    assert f"{tickets}: not readable as utf-8 (invalid start byte" in result.output
    assert rows(demo_site, "SELECT count(*) FROM rec_ticket")[0][0] == 0  # nothing stored


def test_a_roster_repeating_an_employee_or_a_system_id_is_refused_by_name(demo_site):
    roster = demo_site.parent / "data" / "roster.csv"
    lines = roster.read_text(encoding="utf-8").splitlines()
    lines.append(lines[1])  # the first employee again
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(demo_site)
    assert result.exit_code == 1
    assert "the roster gives attendance id '00001', employee id 'E001', helpdesk id 'agent-1001' to more than one row" in result.output
