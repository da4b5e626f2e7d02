"""The xlsx connector on real workbooks written with openpyxl: the demo's six CSV files as typed
Excel sheets (date and date-time cells, percentages formatted as %, whole numbers, yes/no cells)
store exactly what their UTF-8 CSV twins and GB18030 copies store; bad rows are named by file,
sheet, row and column."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import DEMO

from kpi.core.cli import main
from kpi.plugins.connectors.xlsx_files import cell_text

# How each demo file's columns are typed in its Excel twin (the rest stay text, so "00001" keeps its zeros).
DAY, MOMENT, WHOLE, PERCENT, YES_NO = "day", "moment", "whole", "percent", "yes_no"
TYPED = {
    "roster.csv": {"入职日期": DAY, "离职日期": DAY, "试用期至": DAY},
    "tickets.csv": {"created_at": MOMENT, "first_reply_at": MOMENT, "resolved_at": MOMENT, "reopens": WHOLE},
    "ratings.csv": {"rated_at": MOMENT},
    "complaints.csv": {"filed_at": MOMENT, "valid": YES_NO},
    "attendance.csv": {"日期": DAY, "迟到分钟": WHOLE},
    "department_figures.csv": {"任务完成率": PERCENT, "流程合规率": PERCENT, "违规次数": WHOLE, "团队协作评分": WHOLE},
}
STORED = {
    "employees": "SELECT id, name, role, team, department, hire_date, leave_date, probation_end, external_ids "
                 "FROM employees ORDER BY id",
    "tickets": "SELECT source, source_id, employee_id, at, created_at, first_reply_at, resolved_at, priority, channel, "
               "reopens FROM rec_ticket ORDER BY source_id",
    "ratings": "SELECT source_id, employee_id, at, rated_at, good, score, ticket_id FROM rec_rating ORDER BY source_id",
    "complaints": "SELECT source_id, employee_id, at, filed_at, valid, ticket_id FROM rec_complaint ORDER BY source_id",
    "attendance": "SELECT source_id, employee_id, at, day, result, minutes_late FROM rec_attendance_day "
                  "ORDER BY source_id",
    "figures": "SELECT period, employee_id, metric, value, source_ref FROM input_metric_values "
               "ORDER BY period, employee_id, metric",
}


def run(site):
    return CliRunner().invoke(main, ["run", "--config", str(site), "--json"])


def stored(site) -> dict[str, list]:
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    try:
        with engine.connect() as conn:
            return {name: conn.execute(sa.text(sql)).all() for name, sql in STORED.items()}
    finally:
        engine.dispose()


def typed(text: str, how: str | None):
    """A CSV cell as Excel would type it; text that is not a valid value stays text, as in a real sheet."""
    if not text or how is None:
        return text or None
    try:
        if how == DAY:
            return date.fromisoformat(text)
        if how == MOMENT:
            return datetime.fromisoformat(text)
        if how == WHOLE:
            return int(text)
        if how == PERCENT:
            return float(text.rstrip("%")) / 100
        return {"是": True, "否": False}[text]
    except (ValueError, KeyError):
        return text


def write_workbook(csv_path, xlsx_path, *, sheet="数据", title: str | None = None, decoy_sheet=False):
    """The CSV as one typed worksheet. `title` puts a title line above the headers; `decoy_sheet`
    puts another sheet first, so the connector must be told which to read."""
    with open(csv_path, encoding="utf-8", newline="") as f:
        lines = list(csv.reader(f))
    headers, body = lines[0], lines[1:]
    kinds = [TYPED[csv_path.name].get(h) for h in headers]
    book = openpyxl.Workbook()
    if decoy_sheet:
        book.active.title = "说明"
        book.active.append(["这张表不是数据"])
        ws = book.create_sheet(sheet)
    else:
        ws = book.active
        ws.title = sheet
    if title:
        ws.append([title])
    ws.append(headers)
    for line in body:
        ws.append([typed(text, how) for text, how in zip(line, kinds)])
    first = 3 if title else 2
    for col, how in enumerate(kinds, 1):
        fmt = {PERCENT: "0.0%", DAY: "yyyy-mm-dd", MOMENT: "yyyy-mm-dd hh:mm:ss"}.get(how)
        if fmt:
            for row in ws.iter_rows(min_row=first, min_col=col, max_col=col):
                row[0].number_format = fmt
    book.save(xlsx_path)


def use_xlsx(site, **extra: str) -> None:
    """Point every csv connector of the demo at its .xlsx twin; `extra` adds options by connector name."""
    text = (DEMO / "site.toml").read_text(encoding="utf-8").replace('use = "csv"', 'use = "xlsx"')
    for stem in ("roster", "tickets", "ratings", "complaints", "attendance", "department_figures"):
        text = text.replace(f'path = "data/{stem}.csv"', f'path = "data/{stem}.xlsx"')
    for name, lines in extra.items():
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\n{lines}\n', 1)
    site.write_text(text, encoding="utf-8")


def test_gb18030_csv_and_excel_store_the_same_records_as_the_utf8_twin(demo_site):
    data = demo_site.parent / "data"
    first = run(demo_site)
    assert first.exit_code == 0, first.output
    utf8 = stored(demo_site)
    assert [len(utf8[k]) for k in STORED] == [30, 6194, 2795, 25, 1749, 352]

    for f in TYPED:  # every CSV re-encoded as GB18030, Chinese headers and all
        path = data / f
        path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    not_utf8 = [f for f in TYPED if b"\xef\xbf\xbd" in (data / f).read_bytes().decode("utf-8", "replace").encode()]
    assert not_utf8 == [f for f in TYPED if f != "tickets.csv"]  # the tickets file is plain ASCII
    second = run(demo_site)
    assert second.exit_code == 0, second.output
    assert stored(demo_site) == utf8

    for f in TYPED:
        path = data / f
        path.write_text(path.read_bytes().decode("gb18030"), encoding="utf-8")
        write_workbook(path, path.with_suffix(".xlsx"), title="2026年10月 花名册" if f == "roster.csv" else None,
                       decoy_sheet=f == "roster.csv")
        path.unlink()  # nothing left to read but the workbooks
    use_xlsx(demo_site, roster='sheet = "数据"\nheader_row = 2')
    third = run(demo_site)
    assert third.exit_code == 0, third.output
    excel = stored(demo_site)
    # The figures' evidence names the sheet; everything else is identical.
    assert {r.source_ref.split(":")[0] for r in excel["figures"]} == {"department_figures.xlsx[数据]"}
    assert [(r.source_ref.split(":")[1]) for r in excel["figures"]] == [r.source_ref.split(":")[1] for r in utf8["figures"]]
    strip = lambda rows: [tuple(r)[:-1] for r in rows]
    assert strip(excel.pop("figures")) == strip(utf8.pop("figures"))
    assert excel == utf8
    assert json.loads(third.stdout)["scorecards"] == json.loads(first.stdout)["scorecards"]


def broken_tickets(demo_site, on_error: str | None = None):
    """The demo with its tickets as a workbook holding exactly three bad rows (sheet rows 11, 21, 31)."""
    data = demo_site.parent / "data"
    tickets = data / "tickets.csv"
    lines = [line.split(",") for line in tickets.read_text(encoding="utf-8").splitlines()]
    lines[10][2] = "2026-13-02 10:00:00"  # created_at: a month that does not exist
    lines[20][7] = "many"                 # reopens: not a number
    lines[30][1] = ""                     # agent_id: empty
    tickets.write_text("\n".join(map(",".join, lines)) + "\n", encoding="utf-8")
    write_workbook(tickets, data / "tickets.xlsx", sheet="工单")
    text = demo_site.read_text(encoding="utf-8").replace(
        'use = "csv"\nkind = "ticket"\npath = "data/tickets.csv"',
        'use = "xlsx"\nkind = "ticket"\npath = "data/tickets.xlsx"' + (f'\non_error = "{on_error}"' if on_error else ""))
    demo_site.write_text(text, encoding="utf-8")
    return data / "tickets.xlsx"


def test_three_bad_rows_are_named_by_file_sheet_row_and_column_and_nothing_is_stored(demo_site):
    book = broken_tickets(demo_site)
    result = run(demo_site)
    assert result.exit_code == 1
    bad = [l.strip() for l in result.output.splitlines() if l.strip().startswith(str(book))]
    assert bad == [
        f"{book}[工单]:11: column 'created_at': '2026-13-02 10:00:00' is not a date-time; write it as 2026-10-03 09:15:00",
        f"{book}[工单]:21: column 'reopens': 'many' is not a number",
        f"{book}[工单]:31: column 'agent_id': is empty but required",
    ]
    assert f"3 bad row(s); nothing from {book} was stored" in result.output
    engine = sa.create_engine(f"sqlite:///{demo_site.parent / 'kpi.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rec_ticket")).scalar_one() == 0
    engine.dispose()


def test_skip_stores_the_rest_and_lists_the_three_rows(demo_site):
    book = broken_tickets(demo_site, on_error="skip")
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    source = next(s for s in json.loads(result.stdout)["sources"] if s["connector"] == "tickets")
    assert source["rows_read"] == 6194 and source["accepted"] == 6191 and source["rejected"] == 3
    assert [r.split(": ")[0] for r in source["rejections"]] == [f"{book}[工单]:{n}" for n in (11, 21, 31)]
    assert len(stored(demo_site)["tickets"]) == 6191


def test_sheet_and_header_problems_say_where(demo_site):
    data = demo_site.parent / "data"
    write_workbook(data / "roster.csv", data / "roster.xlsx", sheet="花名册", title="花名册")
    use_xlsx(demo_site, roster='sheet = "员工"')
    result = run(demo_site)
    assert result.exit_code == 1 and "roster.xlsx: no sheet named '员工'; its sheets are '花名册'" in result.output
    use_xlsx(demo_site, roster='sheet = "花名册"')  # the title row is read as headers
    result = run(demo_site)
    assert result.exit_code == 1
    assert "roster.xlsx: sheet '花名册', row 1: missing column(s) '工号'" in result.output
    (data / "tickets.xlsx").write_text("ticket_id,agent_id\n", encoding="utf-8")  # a CSV named .xlsx
    use_xlsx(demo_site, roster='sheet = "花名册"\nheader_row = 2')
    result = run(demo_site)
    assert result.exit_code == 1 and "tickets.xlsx: not readable as an Excel .xlsx workbook" in result.output
    assert "Traceback" not in result.output


def test_missing_openpyxl_says_how_to_install_it(demo_site, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # what an environment without it gives an import
    use_xlsx(demo_site)
    result = run(demo_site)
    assert result.exit_code == 1
    assert "connector 'roster' reads Excel files with openpyxl, which is not installed" in result.output
    assert "pip install 'kpi[xlsx]'" in result.output


@pytest.mark.parametrize("value, number_format, text", [
    (0.95, "0%", "95"), (0.898, "0.0%", "89.8"), (95, "General", "95"), (3.0, "General", "3"),
    (46298.385416666664, "General", "46298.385416666664"), (True, "General", "true"),
    (datetime(2026, 10, 3, 9, 14, 59, 999_600), "yyyy-mm-dd hh:mm", "2026-10-03 09:15:00"),
    (datetime(2026, 10, 3), "yyyy-mm-dd", "2026-10-03"), (date(2026, 10, 3), "yyyy-mm-dd", "2026-10-03"),
    (None, None, ""), ("00001", "@", "00001"),
])
def test_typed_cells_read_as_their_csv_text(value, number_format, text):
    assert cell_text(value, number_format) == text
