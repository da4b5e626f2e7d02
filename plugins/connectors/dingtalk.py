"""DingTalk (钉钉) attendance: each person's check results from the attendance list API, one
``attendance_day`` record per person and scheduled working day.

    [[connector]]
    name = "dingtalk"
    use = "dingtalk_attendance"
    appkey = "${DINGTALK_APPKEY}"
    appsecret = "${DINGTALK_APPSECRET}"

| option | meaning |
|---|---|
| `appkey`, `appsecret` | the internal app's credentials (both `"${ENV}"` references); the app needs the attendance read permission |
| `url` | the API's base address (default https://oapi.dingtalk.com) |
| `users` | the DingTalk user ids to ask for (default: the roster's ids in the `identity` system, of everyone employed in the period) |
| `serious_late` | what DingTalk's SeriousLate counts as: `late` (default, with its minutes) or `absent` |
| `identity`, `missing_punch`, `leave`, `leave_file`, `leave_columns`, `on_error` | see :mod:`kpi.plugins.connectors.attendance` |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

The token comes from ``GET /gettoken?appkey=…&appsecret=…``; the results from ``POST
/attendance/list?access_token=…`` with ``workDateFrom``/``workDateTo`` at most 7 days apart (the
period is read in windows of 7 days: 1–7, 8–14 … of the month), ``userIdList`` of at most 50 users,
and ``offset``/``limit`` (50) pages while ``hasMore``. Each record is one check (``checkType`` OnDuty
or OffDuty) of a working day (``workDate``); its ``timeResult``: Normal → on time, Late → late by
``userCheckTime − baseCheckTime``, SeriousLate → a serious late (as ``serious_late`` says),
Absenteeism (旷工迟到) → absent, Early → early, NotSigned (未打卡) → missing. A pull stores the days
of its period, upserted by person and day, so reading a month again replaces that month's results.
An errcode other than 0 fails the connector, naming the API and DingTalk's errmsg; nothing from the
pull is stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from kpi.core import hookimpl
from kpi.core.errors import InputError

from .attendance import (ABSENT, ARRIVAL, DEPARTURE, EARLY, LATE, MISSING, OK, SERIOUS, SERIOUS_LATE_OPTION,
                         ApiAttendanceConnector, Check, api_options, batches, windows)

WINDOW_DAYS, USERS_PER_CALL, PAGE = 7, 50, 50
TIME_RESULTS = {"Normal": OK, "Late": LATE, "SeriousLate": SERIOUS, "Absenteeism": ABSENT, "Early": EARLY,
                "NotSigned": MISSING}
CHECK_TYPES = {"OnDuty": ARRIVAL, "OffDuty": DEPARTURE}


class DingTalkAttendance(ApiAttendanceConnector):
    options = {
        **api_options("https://oapi.dingtalk.com", appkey="the DingTalk app's AppKey",
                      appsecret="the DingTalk app's AppSecret"),
        **SERIOUS_LATE_OPTION,
    }
    vendor, token_path, token_query = "DingTalk", "/gettoken", {"appkey": "appkey", "appsecret": "appsecret"}

    def pull(self, period, sink) -> None:
        users = self.users(sink, period)
        checks: dict[tuple[str, date], list[Check]] = defaultdict(list)
        with self.api() as api:
            for first, last in windows(period, WINDOW_DAYS):
                for batch in batches(users, USERS_PER_CALL):
                    body = {"workDateFrom": f"{first} 00:00:00", "workDateTo": f"{last} 00:00:00",
                            "userIdList": batch, "offset": 0, "limit": PAGE}
                    while True:
                        page = api.post("/attendance/list", body)
                        records = page.get("recordresult") or []
                        for record in records:
                            sink.report.rows_read += 1
                            person, day, check = self._check(record)
                            checks[person, day].append(check)
                        if not page.get("hasMore") or not records:  # an empty page ends it, whatever it says
                            break
                        body = {**body, "offset": body["offset"] + PAGE}
        self.store_checks(sink, period, checks)

    def _check(self, record: dict) -> tuple[str, date, Check]:
        what = f"connector {self.name!r}: DingTalk attendance/list record {record.get('id')}"
        end, status = CHECK_TYPES.get(record.get("checkType")), TIME_RESULTS.get(record.get("timeResult"))
        if end is None or status is None or not record.get("userId") or not isinstance(record.get("workDate"), int):
            raise InputError(f"{what}: checkType {record.get('checkType')!r}, timeResult {record.get('timeResult')!r}, "
                             f"userId and workDate (ms) are needed; known checkTypes: {', '.join(CHECK_TYPES)}; "
                             f"timeResults: {', '.join(TIME_RESULTS)}")
        day = datetime.fromtimestamp(record["workDate"] / 1000, self.tz).date()
        minutes = None
        if status in (LATE, SERIOUS) and record.get("userCheckTime") and record.get("baseCheckTime"):
            minutes = max(0, (record["userCheckTime"] - record["baseCheckTime"]) // 60_000)
        return str(record["userId"]), day, Check(end, status, minutes)


@hookimpl
def kpi_register_connectors(register):
    register("dingtalk_attendance", DingTalkAttendance)
