"""Attendance connectors: device punch exports judged against a work schedule, and the DingTalk and
WeCom APIs served from 127.0.0.1. The demo's attendance.csv (one result per person and working day)
is turned into what each system would hold for the same days — punches, DingTalk check results,
WeCom check-ins — and every connector must store exactly the records the CSV does."""

from __future__ import annotations

import csv
import json
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug import Response

from kpi.core.cli import main
from kpi.plugins.connectors.attendance import (ABSENT, ARRIVAL, DEPARTURE, EARLY, LATE, MISSING, OK, SERIOUS,
                                               Check, Schedule, day_result, windows)

TZ = ZoneInfo("Asia/Shanghai")
SCHEDULE = ('schedule = { start = "09:00", end = "18:00", workdays = [1, 2, 3, 4, 5], late_grace_minutes = 3, '
            'serious_late_minutes = 30, absent_after_minutes = 240 }\nholidays = ["2026-10-01..2026-10-07"]')
RESULTS = {"正常": "normal", "迟到": "late", "早退": "early", "旷工": "absent", "请假": "leave"}
STORED = "SELECT source_id, employee_id, at, day, result, minutes_late FROM rec_attendance_day ORDER BY source_id"


def run(site, *args):
    return CliRunner().invoke(main, ["run", "--config", str(site), "--json", *args])


def stored(site, sql=STORED, **params):
    engine = sa.create_engine(f"sqlite:///{site.parent / 'kpi.sqlite'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        engine.dispose()


def demo_days(site):
    """The demo's attendance.csv: (attendance id, day, result, minutes late)."""
    with open(site.parent / "data" / "attendance.csv", encoding="utf-8", newline="") as f:
        return [(r["考勤号"], date.fromisoformat(r["日期"]), RESULTS[r["结果"]], int(r["迟到分钟"]) if r["迟到分钟"] else None)
                for r in csv.DictReader(f)]


def replace_connector(site, text: str) -> None:
    """The demo with its attendance connector (the last-but-one [[connector]]) replaced by `text`."""
    config = site.read_text(encoding="utf-8")
    head, rest = config.split('[[connector]]\nname = "attendance"', 1)
    tail = rest[rest.index("# Monthly figures"):]
    site.write_text(f"{head}[[connector]]\nname = \"attendance\"\n{text}\n\n{tail}", encoding="utf-8")


def same_as_the_csv(site, options: str, since: str = "2026-08-01") -> dict:
    """Run the demo on its attendance.csv, then with `options` as its attendance connector: the
    attendance records stored for days from `since`, and every scorecard, must be the same.
    Returns the second run's report of the attendance source."""
    first = run(site)
    assert first.exit_code == 0, first.output
    expected = [r for r in stored(site) if str(r.day) >= since]
    replace_connector(site, options)
    second = run(site)
    assert second.exit_code == 0, second.output
    assert stored(site, STORED.replace("ORDER", "WHERE day >= :since ORDER"), since=since) == expected
    assert len(expected) == {"2026-08-01": 1749, "2026-10-01": 510}[since]
    assert json.loads(second.stdout)["scorecards"] == json.loads(first.stdout)["scorecards"]
    source = next(s for s in json.loads(second.stdout)["sources"] if s["connector"] == "attendance")
    assert source["accepted"] == len(expected) and source["rejected"] == 0 and source["unmapped_ids"] == {}
    return source


# -- device exports -----------------------------------------------------------------------------

def punches_for(days, rng: random.Random) -> list[tuple[str, datetime]]:
    """Punches a clock would hold for the demo's results: a normal day arrives within the grace and
    leaves after six (some press twice, some punch at lunch too), a late one N minutes (and a few
    seconds) after nine, an early one leaves at 17:20, an absent one never punches."""
    out = []
    for person, day, result, minutes in days:
        if result == "absent":
            continue
        at = lambda h, m, s=0: datetime.combine(day, time(h, m, s))  # noqa: E731
        arrive = at(9, minutes, rng.randint(0, 59)) if result == "late" else at(8, rng.randint(30, 59), rng.randint(0, 59))
        if result == "normal" and rng.random() < 0.1:
            arrive = at(9, rng.randint(0, 3), rng.randint(0, 59))  # within the 3-minute grace
        leave = at(17, 20) if result == "early" else at(18, rng.randint(0, 40), rng.randint(0, 59))
        out += [(person, arrive), (person, leave)]
        if rng.random() < 0.2:
            out.append((person, arrive + timedelta(seconds=20)))  # pressed twice
        if rng.random() < 0.3:
            out.append((person, at(12, rng.randint(0, 59))))
    rng.shuffle(out)  # exports are not always in order
    return out


def write_export(site, fmt: str, punches) -> str:
    """The punches as a device export; returns the connector's options for it."""
    data = site.parent / "data"
    if fmt == "attlog":  # ZKTeco's attendance log: id, time, verify mode, state, work code, reserved
        lines = [f"{person:>9}\t{at:%Y-%m-%d %H:%M:%S}\t1\t{0 if at.hour < 12 else 1}\t1\t0" for person, at in punches]
        (data / "1_attlog.dat").write_text("\r\n".join(lines) + "\r\n", encoding="ascii")
        return 'path = "data/1_attlog.dat"'
    if fmt == "csv":  # the attendance software's report: GB18030, Chinese headers, day and time apart
        rows = ["人员编号,姓名,日期,时间,状态"] + [f"{p},某人,{at:%Y/%m/%d},{at:%H:%M:%S},上班签到" for p, at in punches]
        (data / "punches.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("gb18030"))
        return 'path = "data/punches.csv"\ncolumns = { person = "人员编号", date = "日期", time = "时间" }'
    book = openpyxl.Workbook()  # the same report saved as Excel, with date-time cells
    ws = book.active
    ws.title = "打卡记录"
    ws.append(["考勤机打卡记录 2026年8-10月"])
    ws.append(["工号", "打卡时间", "设备"])
    for person, at in punches:
        ws.append([person, at, "前台"])
    book.save(data / "punches.xlsx")
    return 'path = "data/punches.xlsx"\nheader_row = 2\ncolumns = { person = "工号", punched_at = "打卡时间" }'


@pytest.mark.parametrize("fmt", ["attlog", "csv", "xlsx"])
def test_device_punches_give_the_records_of_the_day_results(demo_site, fmt):
    options = write_export(demo_site, fmt, punches_for(demo_days(demo_site), random.Random(7)))
    same_as_the_csv(demo_site, f'use = "punches"\n{options}\n{SCHEDULE}')


def test_leave_holidays_extra_workdays_and_missing_punches(demo_site):
    data = demo_site.parent / "data"
    punches = [("00001", "2026-10-09 08:58:00"), ("00001", "2026-10-09 18:01:00"),   # Friday: normal
               ("00001", "2026-10-10 09:40:10"), ("00001", "2026-10-10 18:05:00"),   # Saturday worked (调休): serious late
               ("00001", "2026-10-12 08:59:00"),                                     # only an arrival
               ("00001", "2026-10-13 18:30:00"),                                     # only a departure
               ("00001", "2026-10-14 13:30:00"), ("00001", "2026-10-14 18:00:00"),   # 270 minutes late: absent
               ("00002", "2026-10-09 09:03:59"), ("00002", "2026-10-09 18:00:00"),   # within the grace
               ("00002", "2026-10-13 08:50:00"), ("00002", "2026-10-13 18:00:00"),   # on leave, punched anyway
               ("00099", "2026-10-12 08:00:00"), ("00099", "2026-10-12 18:00:00")]   # not in the roster
    (data / "clock.txt").write_text("".join(f"{p} {t} 15 0\n" for p, t in punches), encoding="utf-8")
    (data / "leave.csv").write_text("考勤号,开始日期,结束日期,类型\n00002,2026/10/12,2026/10/13,年假\n00003,2026-10-09,,病假\n",
                                    encoding="utf-8")
    replace_connector(demo_site, f'use = "punches"\npath = "data/clock.txt"\n{SCHEDULE}\n'
                                 'extra_workdays = ["2026-10-10"]\nserious_late = "absent"\nexpect = "file"\n'
                                 'leave_file = "data/leave.csv"\nleave = { "00099" = ["2026-10-13"] }\n'
                                 'leave_columns = { person = "考勤号", start = "开始日期", end = "结束日期" }')
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    got = {(r.source_id, r.result, r.minutes_late) for r in stored(demo_site)}
    assert got == {
        ("00001|2026-10-09", "normal", None), ("00001|2026-10-10", "absent", None), ("00001|2026-10-12", "early", None),
        ("00001|2026-10-13", "late", None), ("00001|2026-10-14", "absent", None),
        ("00002|2026-10-09", "normal", None), ("00002|2026-10-10", "absent", None),
        ("00002|2026-10-12", "leave", None), ("00002|2026-10-13", "leave", None),
        ("00002|2026-10-14", "absent", None),
        ("00099|2026-10-09", "absent", None), ("00099|2026-10-10", "absent", None), ("00099|2026-10-12", "normal", None),
        ("00099|2026-10-13", "leave", None), ("00099|2026-10-14", "absent", None),
    }  # 00003's leave is not in the file's people (expect = "file"); the weekend of the 11th is off
    source = next(s for s in json.loads(result.stdout)["sources"] if s["connector"] == "attendance")
    assert source["unmapped_ids"] == {"00099": 5}


def test_three_bad_punch_lines_are_named_and_skip_keeps_the_rest(demo_site):
    data = demo_site.parent / "data"
    lines = [f"00001\t2026-10-{d:02d} 08:55:00\t1\t0" for d in (12, 13, 14, 15, 16)]
    lines[1] = "00001\t2026-10-32 08:55:00\t1\t0"   # no such day
    lines.insert(3, "garbage line")
    lines.insert(5, "00002")
    (data / "attlog.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    replace_connector(demo_site, f'use = "punches"\npath = "data/attlog.txt"\nexpect = "file"\n{SCHEDULE}')
    result = run(demo_site)
    assert result.exit_code == 1
    path = data / "attlog.txt"
    bad = [l.strip() for l in result.output.splitlines() if l.strip().startswith(str(path))]
    assert bad == [f"{path}:2: column 'time': '2026-10-32 08:55:00' is not a date-time; write it as 2026-10-03 09:15:00",
                   f"{path}:4: not a punch: expected a user id, then the time as YYYY-MM-DD HH:MM:SS",
                   f"{path}:6: not a punch: expected a user id, then the time as YYYY-MM-DD HH:MM:SS"]
    assert f"3 bad row(s); nothing from {path} was stored" in result.output
    assert stored(demo_site, "SELECT count(*) FROM rec_attendance_day")[0][0] == 0
    replace_connector(demo_site, f'use = "punches"\npath = "data/attlog.txt"\nexpect = "file"\non_error = "skip"\n{SCHEDULE}')
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    source = next(s for s in json.loads(result.stdout)["sources"] if s["connector"] == "attendance")
    assert [r.split(": ")[0] for r in source["rejections"]] == [f"{path}:{n}" for n in (2, 4, 6)]
    assert [(r.source_id, r.result) for r in stored(demo_site)] == [
        ("00001|2026-10-12", "early"), ("00001|2026-10-13", "absent"), ("00001|2026-10-14", "early"),
        ("00001|2026-10-15", "early"), ("00001|2026-10-16", "early")]


def test_schedule_mistakes_name_the_key(demo_site):
    replace_connector(demo_site, 'use = "punches"\npath = "data/attendance.csv"\n'
                                 'schedule = { start = "9am", end = "18:00", late_grace = 5 }')
    result = run(demo_site)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "connector[4].schedule.late_grace: unknown key; did you mean 'late_grace_minutes'?" in result.output
    replace_connector(demo_site, 'use = "punches"\npath = "data/attendance.csv"\n'
                                 'schedule = { start = "9am", end = "18:00" }')
    result = run(demo_site)
    assert "connector[4].schedule.start: '9am' is not a time of day; write it as 09:00" in result.output
    replace_connector(demo_site, 'use = "punches"\npath = "data/attendance.csv"\n'
                                 'schedule = { start = "09:00", end = "18:00" }\nholidays = ["2026-10-01..2026-09-30"]')
    result = run(demo_site)
    assert "connector[4].holidays: '2026-10-01..2026-09-30' ends before it starts" in result.output


# -- the shared rules -----------------------------------------------------------------------------

def test_day_results_from_checks():
    arrive, leave = Check(ARRIVAL, OK), Check(DEPARTURE, OK)
    assert day_result([arrive, leave]) == ("normal", None)
    assert day_result([Check(ARRIVAL, LATE, 12), leave]) == ("late", 12)
    assert day_result([Check(ARRIVAL, LATE, 12), Check(DEPARTURE, EARLY)]) == ("late", 12)
    assert day_result([Check(ARRIVAL, SERIOUS, 45), leave]) == ("late", 45)
    assert day_result([Check(ARRIVAL, SERIOUS, 45), leave], serious_late="absent") == ("absent", None)
    assert day_result([arrive, Check(DEPARTURE, ABSENT)]) == ("absent", None)
    assert day_result([Check(ARRIVAL, MISSING), Check(DEPARTURE, MISSING)]) == ("absent", None)
    assert day_result([arrive, Check(DEPARTURE, MISSING)]) == ("early", None)
    assert day_result([Check(ARRIVAL, MISSING), leave]) == ("late", None)
    assert day_result([Check(ARRIVAL, MISSING), leave], missing_punch="normal") == ("normal", None)
    assert day_result([Check(ARRIVAL, MISSING), leave], missing_punch="absent") == ("absent", None)
    # two shifts in a day: the minutes add up
    assert day_result([Check(ARRIVAL, LATE, 5), leave, Check(ARRIVAL, LATE, 7), leave]) == ("late", 12)


def test_schedule_checks():
    work = Schedule(time(9), time(18), frozenset({1, 2, 3, 4, 5}), late_grace=5, serious_late=30, absent_after=240,
                    holidays=frozenset({date(2026, 10, 1)}), extra_workdays=frozenset({date(2026, 10, 10)}))
    day = date(2026, 10, 12)
    at = lambda h, m, s=0: datetime.combine(day, time(h, m, s), TZ)  # noqa: E731
    assert work.checks(day, [at(9, 5, 59), at(18, 0)], TZ) == [Check(ARRIVAL, OK), Check(DEPARTURE, OK)]
    assert work.checks(day, [at(9, 6), at(17, 59, 30)], TZ) == [Check(ARRIVAL, LATE, 6), Check(DEPARTURE, EARLY)]
    assert work.checks(day, [at(9, 30), at(18, 0)], TZ)[0] == Check(ARRIVAL, SERIOUS, 30)
    assert work.checks(day, [at(13, 1), at(18, 0)], TZ)[0] == Check(ARRIVAL, ABSENT, 241)
    assert work.checks(day, [at(8, 50), at(8, 50, 40)], TZ) == [Check(ARRIVAL, OK), Check(DEPARTURE, MISSING)]
    assert work.checks(day, [at(18, 31)], TZ) == [Check(ARRIVAL, MISSING), Check(DEPARTURE, OK)]
    assert work.checks(day, [at(17, 0)], TZ) == [Check(ARRIVAL, MISSING), Check(DEPARTURE, EARLY)]
    assert work.checks(day, [at(13, 29)], TZ) == [Check(ARRIVAL, ABSENT, 269), Check(DEPARTURE, MISSING)]
    assert work.checks(day, [at(8, 55), at(13, 59)], TZ)[1] == Check(DEPARTURE, ABSENT)  # left 241 minutes early
    assert work.checks(day, [], TZ) == [Check(ARRIVAL, MISSING), Check(DEPARTURE, MISSING)]
    assert [work.works(date(2026, 10, d)) for d in (1, 9, 10, 11)] == [False, True, True, False]


def test_windows_split_a_month_exactly():
    from kpi.core.models import Period
    october = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))
    assert [(a.day, b.day) for a, b in windows(october, 7)] == [(1, 7), (8, 14), (15, 21), (22, 28), (29, 31)]
    assert [(a.day, b.day) for a, b in windows(october, 30)] == [(1, 30), (31, 31)]


# -- DingTalk and WeCom, served on 127.0.0.1 ----------------------------------------------------------
# The responses are built here from the vendors' published API documentation (field names, codes
# and limits), not recorded from a real account.

APPKEY, APPSECRET, CORPID, CORPSECRET = "dingappkey-7f3a", "dingsecret-93kd0s", "ww-corp-5521", "wecom-secret-x81k"
TOKEN = "access-token-4d2b91"


@pytest.fixture
def api(httpserver_ipv4, monkeypatch):
    """pytest-httpserver on 127.0.0.1, the apps' credentials in the environment, no proxy, no waits."""
    for name, value in {"DT_KEY": APPKEY, "DT_SECRET": APPSECRET, "WW_CORP": CORPID, "WW_SECRET": CORPSECRET,
                        "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    return httpserver_ipv4


def ms(day: date, h: int, m: int, s: int = 0) -> int:
    return int(datetime.combine(day, time(h, m, s), TZ).timestamp() * 1000)


def october(site):
    return [d for d in demo_days(site) if d[1].month == 10]


def dingtalk_records(days) -> list[dict]:
    """/attendance/list recordresult items for the demo's day results: one OnDuty and one OffDuty check
    a day, with DingTalk's timeResult (a late of 30 minutes or more is SeriousLate)."""
    out = []
    for n, (person, day, result, minutes) in enumerate(days):
        on = {"Normal": ms(day, 8, 52), "Late": ms(day, 9, minutes or 0, 40), "SeriousLate": ms(day, 9, minutes or 0, 5),
              "Absenteeism": ms(day, 14, 2)}  # 旷工迟到: so late it is absence
        on_result = {"late": "Late" if (minutes or 0) < 30 else "SeriousLate",
                     "absent": "NotSigned" if n % 2 else "Absenteeism"}.get(result, "Normal")
        off_result = {"early": "Early", "absent": "NotSigned" if n % 2 else "Normal"}.get(result, "Normal")
        base = {"userId": person, "workDate": ms(day, 0, 0), "corpId": "ding0001", "groupId": 1, "locationResult": "Normal",
                "sourceType": "ATM"}
        out.append({**base, "id": 2 * n, "checkType": "OnDuty", "timeResult": on_result, "baseCheckTime": ms(day, 9, 0),
                    **({"userCheckTime": on[on_result]} if on_result != "NotSigned" else {})})
        out.append({**base, "id": 2 * n + 1, "checkType": "OffDuty", "timeResult": off_result,
                    "baseCheckTime": ms(day, 18, 0),
                    **({"userCheckTime": ms(day, 17, 20) if off_result == "Early" else ms(day, 18, 3)}
                       if off_result != "NotSigned" else {})})
    return out


def json_response(body) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def serve(server, token_path: str, credentials: dict[str, str], api_path: str, answer):
    """A vendor's gettoken, giving TOKEN for `credentials`, and its API at `api_path`, answered by
    ``answer(request, n)`` for the n-th call once the token checks out. Returns the API's requests."""
    server.expect_request(token_path, method="GET").respond_with_handler(
        lambda r: json_response({"errcode": 0, "errmsg": "ok", "access_token": TOKEN, "expires_in": 7200}
                                if all(r.args.get(k) == v for k, v in credentials.items())
                                else {"errcode": 40001, "errmsg": "invalid credential"}))
    calls = []

    def handler(request):
        calls.append(request)
        if request.args.get("access_token") != TOKEN:
            return json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        return json_response(answer(request, len(calls)))
    server.expect_request(api_path, method="POST").respond_with_handler(handler)
    return calls


def serve_dingtalk(server, records, *, fail_at: int | None = None):
    """DingTalk's attendance/list over `records`, paged by offset/limit; the call numbered `fail_at`
    answers errcode 400002 instead."""
    def attendance_list(request, n):
        if n == fail_at:
            return {"errcode": 400002, "errmsg": "参数错误: userIdList 中有无效的用户"}
        q = request.get_json()
        lo, hi = (ms(date.fromisoformat(q[k][:10]), 0, 0) for k in ("workDateFrom", "workDateTo"))
        match = [r for r in records if r["userId"] in q["userIdList"] and lo <= r["workDate"] <= hi]
        return {"errcode": 0, "errmsg": "ok", "hasMore": q["offset"] + q["limit"] < len(match),
                "recordresult": match[q["offset"]:q["offset"] + q["limit"]]}
    return serve(server, "/gettoken", {"appkey": APPKEY, "appsecret": APPSECRET}, "/attendance/list", attendance_list)


DINGTALK = 'use = "dingtalk_attendance"\nurl = "{url}"\nappkey = "${{DT_KEY}}"\nappsecret = "${{DT_SECRET}}"\nretries = 0'
WECOM = 'use = "wecom_checkin"\nurl = "{url}"\ncorpid = "${{WW_CORP}}"\nsecret = "${{WW_SECRET}}"\nretries = 0'


def test_dingtalk_results_give_the_records_of_the_day_results(demo_site, api):
    records = dingtalk_records(october(demo_site))
    assert {r["timeResult"] for r in records} == {"Normal", "Late", "SeriousLate", "Early", "NotSigned", "Absenteeism"}
    calls = serve_dingtalk(api, records)
    source = same_as_the_csv(demo_site, DINGTALK.format(url=api.url_for("").rstrip("/")), since="2026-10-01")

    # The requests: one token; 7-day windows; the roster's 30 attendance ids in one batch; pages of 50.
    # October 2026 has no working day from the 1st to the 7th (National Day), 5 in each of the next
    # three weeks (30 people × 5 days × 2 checks = 300 records: 6 pages) and 2 from the 29th (120: 3 pages).
    assert len([r for r, _ in api.log if r.path == "/gettoken"]) == 1
    assert all(c.args["access_token"] == TOKEN for c in calls)
    bodies = [c.get_json() for c in calls]
    weeks = [("2026-10-08", "2026-10-14"), ("2026-10-15", "2026-10-21"), ("2026-10-22", "2026-10-28")]
    assert [(b["workDateFrom"], b["workDateTo"], b["offset"]) for b in bodies] == (
        [("2026-10-01 00:00:00", "2026-10-07 00:00:00", 0)]
        + [(f"{lo} 00:00:00", f"{hi} 00:00:00", offset) for lo, hi in weeks for offset in range(0, 300, 50)]
        + [("2026-10-29 00:00:00", "2026-10-31 00:00:00", offset) for offset in (0, 50, 100)])
    assert {b["limit"] for b in bodies} == {50}
    assert {tuple(b["userIdList"]) for b in bodies} == {tuple(f"{n:05d}" for n in range(1, 31))}
    assert source["rows_read"] == len(records)


def test_dingtalk_error_fails_the_connector_naming_the_api_and_stores_nothing(demo_site, api):
    serve_dingtalk(api, dingtalk_records(october(demo_site)), fail_at=3)
    replace_connector(demo_site, DINGTALK.format(url=api.url_for("").rstrip("/")))
    result = run(demo_site)
    assert result.exit_code == 1
    assert ("connector 'attendance': DingTalk attendance/list failed: errcode 400002: 参数错误: userIdList 中有无效的用户"
            in result.output)
    assert stored(demo_site, "SELECT count(*) FROM rec_attendance_day")[0][0] == 0
    error = stored(demo_site, "SELECT error FROM runs")[0][0]
    for secret in (APPKEY, APPSECRET, TOKEN):
        assert secret not in result.output and secret not in error

    api.clear()
    api.expect_request("/gettoken").respond_with_json({"errcode": 40089, "errmsg": "不合法的appkey或appsecret"})
    result = run(demo_site)
    assert "connector 'attendance': DingTalk gettoken failed: errcode 40089: 不合法的appkey或appsecret; check the " \
           "appkey and appsecret options" in result.output
    api.clear()
    api.expect_request("/gettoken").respond_with_data("upstream broke", status=502)
    result = run(demo_site)
    assert "connector 'attendance': GET http://127.0.0.1" in result.output and "HTTP 502" in result.output
    assert "appkey=***" in result.output and "appsecret=***" in result.output
    api.clear()
    api.expect_request("/gettoken").respond_with_json({"errcode": 0, "errmsg": "ok", "access_token": TOKEN})
    api.expect_request("/attendance/list").respond_with_data("internal error", status=500)
    result = run(demo_site)
    assert "connector 'attendance': POST http://127.0.0.1" in result.output and "/attendance/list?access_token=***" \
        in result.output and "HTTP 500" in result.output
    for secret in (APPKEY, APPSECRET, TOKEN):
        assert secret not in result.output


def wecom_records(days) -> list[dict]:
    """getcheckindata checkindata items for the demo's day results: a 上班打卡 and a 下班打卡 a day,
    with exception_type 时间异常 / 未打卡 as WeCom's docs list them, plus what must not change a
    result: a 地点异常, a 外出打卡, a second 上班打卡 later the same morning."""
    out = []
    for n, (person, day, result, minutes) in enumerate(days):
        s = lambda h, m, sec=0: ms(day, h, m, sec) // 1000  # noqa: E731
        base = {"userid": person, "groupname": "客服部打卡", "groupid": 1, "schedule_id": 0, "timeline_id": 1,
                "location_title": "园区A座", "location_detail": "", "wifiname": "", "wifimac": "", "notes": "",
                "mediaids": []}
        arrive = {"checkin_time": s(9, minutes or 0, 30), "exception_type": "时间异常" if n % 2 else "时间异常;地点异常"} \
            if result == "late" else {"checkin_time": s(8, 51), "exception_type": "地点异常" if n % 7 == 0 else ""}
        leave = {"checkin_time": s(17, 20), "exception_type": "时间异常"} if result == "early" else \
            {"checkin_time": s(18, 2), "exception_type": ""}
        if result == "absent":
            arrive = {"checkin_time": s(9, 0), "exception_type": "未打卡"}
            leave = {"checkin_time": s(18, 0), "exception_type": "未打卡"}
        out.append({**base, "checkin_type": "上班打卡", "sch_checkin_time": s(9, 0), **arrive})
        out.append({**base, "checkin_type": "下班打卡", "sch_checkin_time": s(18, 0), **leave})
        if result == "normal" and n % 5 == 0:
            out.append({**base, "checkin_type": "上班打卡", "sch_checkin_time": s(9, 0), "checkin_time": s(9, 40),
                        "exception_type": "时间异常"})
            out.append({**base, "checkin_type": "外出打卡", "checkin_time": s(14, 10), "exception_type": "",
                        "sch_checkin_time": 0})
    return out


def serve_wecom(server, records, *, fail: bool = False):
    """WeCom's checkin/getcheckindata over `records`, by the users and the time span asked for."""
    def checkin_data(request, n):
        if fail:
            return {"errcode": 301023, "errmsg": "request exceeds the time span limit"}
        q = request.get_json()
        return {"errcode": 0, "errmsg": "ok", "checkindata": [
            r for r in records if r["userid"] in q["useridlist"]
            and q["starttime"] <= (r["sch_checkin_time"] or r["checkin_time"]) <= q["endtime"]]}
    return serve(server, "/cgi-bin/gettoken", {"corpid": CORPID, "corpsecret": CORPSECRET},
                 "/cgi-bin/checkin/getcheckindata", checkin_data)


def test_wecom_checkins_give_the_records_of_the_day_results(demo_site, api):
    records = wecom_records(october(demo_site))
    assert {r["exception_type"] for r in records} == {"", "时间异常", "时间异常;地点异常", "地点异常", "未打卡"}
    calls = serve_wecom(api, records)
    source = same_as_the_csv(demo_site, WECOM.format(url=api.url_for("").rstrip("/")), since="2026-10-01")
    assert source["rows_read"] == len(records)
    assert len([r for r, _ in api.log if r.path == "/cgi-bin/gettoken"]) == 1
    oct1, nov1 = (int(datetime(2026, m, 1, tzinfo=TZ).timestamp()) for m in (10, 11))
    oct31 = int(datetime(2026, 10, 31, tzinfo=TZ).timestamp())
    asked = [(c.args["access_token"], c.get_json()) for c in calls]
    assert [(token, q["starttime"], q["endtime"], q["opencheckindatatype"], len(q["useridlist"])) for token, q in asked] \
        == [(TOKEN, oct1, oct31 - 1, 3, 30), (TOKEN, oct31, nov1 - 1, 3, 30)]  # 30 days, then the 31st


def test_wecom_error_fails_the_connector_and_no_secret_is_shown(demo_site, api):
    serve_wecom(api, [], fail=True)
    replace_connector(demo_site, WECOM.format(url=api.url_for("").rstrip("/")))
    result = run(demo_site)
    assert result.exit_code == 1
    assert ("connector 'attendance': WeCom cgi-bin/checkin/getcheckindata failed: errcode 301023: request exceeds the "
            "time span limit") in result.output
    assert stored(demo_site, "SELECT count(*) FROM rec_attendance_day")[0][0] == 0
    api.clear()
    api.expect_request("/cgi-bin/gettoken").respond_with_data("", status=500)
    result = run(demo_site)
    assert "connector 'attendance': GET http://127.0.0.1" in result.output and "HTTP 500" in result.output
    for secret in (CORPID, CORPSECRET, TOKEN):
        assert secret not in result.output
    assert "corpid=***" in result.output and "corpsecret=***" in result.output


@pytest.mark.parametrize("vendor", ["dingtalk", "wecom"])
def test_users_are_asked_for_in_batches(demo_site, api, vendor):
    users = [f"u{n:03d}" for n in range(120)]
    calls = serve_dingtalk(api, []) if vendor == "dingtalk" else serve_wecom(api, [])
    options = (DINGTALK if vendor == "dingtalk" else WECOM).format(url=api.url_for("").rstrip("/"))
    replace_connector(demo_site, f"{options}\nusers = {json.dumps(users)}")
    result = run(demo_site)
    assert result.exit_code == 0, result.output
    key = "userIdList" if vendor == "dingtalk" else "useridlist"
    batches = [c.get_json()[key] for c in calls]
    if vendor == "dingtalk":
        assert batches == [users[:50], users[50:100], users[100:]] * 5
    else:
        assert batches == [users[:100], users[100:]] * 2
