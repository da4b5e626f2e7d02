"""WeCom (企业微信) check-ins: each person's check-in records from the check-in data API, one
``attendance_day`` record per person and scheduled working day.

    [[connector]]
    name = "wecom"
    use = "wecom_checkin"
    corpid = "${WECOM_CORPID}"
    secret = "${WECOM_CHECKIN_SECRET}"

| option | meaning |
|---|---|
| `corpid`, `secret` | the company's id and the secret of an app allowed to read check-ins (打卡 → 可调用接口的应用); both `"${ENV}"` references |
| `url` | the API's base address (default https://qyapi.weixin.qq.com) |
| `users` | the WeCom userids to ask for (default: the roster's ids in the `identity` system, of everyone employed in the period) |
| `identity`, `missing_punch`, `leave`, `leave_file`, `leave_columns`, `on_error` | see :mod:`kpi.plugins.connectors.attendance` |
| `timeout`, `retries`, `max_wait` | see :mod:`kpi.plugins.connectors.http` |

The token comes from ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…``; the check-ins from ``POST
/cgi-bin/checkin/getcheckindata?access_token=…`` with ``opencheckindatatype`` 3 (all), ``starttime``
and ``endtime`` at most 30 days apart (the period is read in windows of 30 days: 1–30, then 31),
and ``useridlist`` of at most 100 users. A 上班打卡 is the arrival, a 下班打卡 the departure (外出打卡,
a check-in away from the office, is neither). Its ``exception_type`` (several are joined by ";"):
未打卡 → missing; 时间异常 → late (by ``checkin_time − sch_checkin_time``) for an arrival, early for a
departure; 地点异常, wifi异常, 非常用设备 (place, Wi-Fi, device) do not change the day's result; none →
on time. Where WeCom lists several check-ins for the same scheduled time, the earliest arrival and
the latest departure count. WeCom reports no serious late. The day is the local day of the
scheduled check-in time. A pull stores the days of its period, upserted by person and day. An
errcode other than 0 fails the connector, naming the API and WeCom's errmsg; nothing from the pull
is stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from kpi.core import hookimpl
from kpi.core.errors import InputError

from .attendance import (ARRIVAL, DEPARTURE, EARLY, LATE, MISSING, OK, ApiAttendanceConnector, Check, api_options,
                         batches, windows)

WINDOW_DAYS, USERS_PER_CALL = 30, 100
CHECKIN_TYPES = {"上班打卡": ARRIVAL, "下班打卡": DEPARTURE, "外出打卡": None}


class WeComCheckin(ApiAttendanceConnector):
    options = api_options("https://qyapi.weixin.qq.com", corpid="the company's WeCom corpid",
                          secret="the secret of an app allowed to read check-ins")
    vendor, token_path, token_query = "WeCom", "/cgi-bin/gettoken", {"corpid": "corpid", "corpsecret": "secret"}

    def pull(self, period, sink) -> None:
        users = self.users(sink, period)
        found: dict[tuple[str, date, str, int], list[dict]] = defaultdict(list)
        with self.api() as api:
            for first, last in windows(period, WINDOW_DAYS):
                start = int(datetime.combine(first, time.min, self.tz).timestamp())
                end = int(datetime.combine(last + timedelta(days=1), time.min, self.tz).timestamp()) - 1
                for batch in batches(users, USERS_PER_CALL):
                    page = api.post("/cgi-bin/checkin/getcheckindata", {
                        "opencheckindatatype": 3, "starttime": start, "endtime": end, "useridlist": batch})
                    for record in page.get("checkindata") or []:
                        sink.report.rows_read += 1
                        slot = self._slot(record)
                        if slot is not None:
                            found[slot].append(record)
        checks: dict[tuple[str, date], list[Check]] = defaultdict(list)
        for (person, day, end, _), records in found.items():
            checks[person, day].append(self._check(end, records))
        self.store_checks(sink, period, checks)

    def _slot(self, record: dict) -> tuple[str, date, str, int] | None:
        """(person, day, arrival or departure, scheduled time) of a check-in; None for one away from the office."""
        kind = record.get("checkin_type")
        when = record.get("sch_checkin_time") or record.get("checkin_time")
        if kind not in CHECKIN_TYPES or not record.get("userid") or not isinstance(when, int):
            raise InputError(f"connector {self.name!r}: WeCom checkin/getcheckindata record {record!r:.200}: "
                             f"checkin_type ({', '.join(CHECKIN_TYPES)}), userid and checkin_time are needed")
        end = CHECKIN_TYPES[kind]
        if end is None:
            return None
        return str(record["userid"]), datetime.fromtimestamp(when, self.tz).date(), end, when

    @staticmethod
    def _check(end: str, records: list[dict]) -> Check:
        """The check at one end of a scheduled time from its check-ins: a real one over 未打卡, then
        the earliest arrival or the latest departure."""
        punched = [r for r in records if "未打卡" not in (r.get("exception_type") or "")]
        if not punched:
            return Check(end, MISSING)
        pick = min if end == ARRIVAL else max
        record = pick(punched, key=lambda r: r.get("checkin_time") or 0)
        if "时间异常" not in (record.get("exception_type") or ""):
            return Check(end, OK)
        if end == DEPARTURE:
            return Check(end, EARLY)
        scheduled, actual = record.get("sch_checkin_time"), record.get("checkin_time")
        return Check(end, LATE, max(0, (actual - scheduled) // 60) if scheduled and actual else None)


@hookimpl
def kpi_register_connectors(register):
    register("wecom_checkin", WeComCheckin)
