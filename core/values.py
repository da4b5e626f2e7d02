"""Parsing of field values as they arrive from files and APIs. Shared by every connector, so that a
date, a yes/no or a "95%" means the same whichever system it came from."""

from __future__ import annotations

import re

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
)
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日")
_EXCEL_EPOCH = datetime(1899, 12, 30)  # Excel's day 0, after its 1900 leap-year bug

TRUE_WORDS = {"1", "true", "yes", "y", "t", "是", "有效", "对"}
FALSE_WORDS = {"0", "false", "no", "n", "f", "否", "无效", "不"}


class ValueProblem(ValueError):
    """A value that cannot be read as its field's type; the message says what was expected."""


_SIXTY = {f"{n:02d}": n for n in range(60)}
# timezone -> "YYYY-MM-DD HH" -> epoch of the hour's start, or None if the zone's offset changes in it
_HOURS: dict[str, dict[str, int | None]] = {}
_MINUTES: dict[str, dict[str, int]] = {}  # timezone -> "YYYY-MM-DD HH:MM" -> epoch of the minute's start
_CACHE_MAX = 100_000  # hours or minutes kept per zone (a month has 744 and 44,640)


def parse_datetime(text: str, tz: str) -> int:
    """Epoch seconds from a local date-time (naive values are in the site's timezone), an ISO
    value with an offset, or an Excel serial number such as 46299.5.

    The common form, 'YYYY-MM-DD HH:MM:SS' (or with a T), is worked out once per hour of the zone
    and then only adds its minutes and seconds: the zone lookup is most of the cost of a value, and
    a bulk load reads millions. An hour in which the zone's offset changes (a DST switch at a half
    hour) is worked out per value, as every other form is."""
    s = text.strip()
    if len(s) == 19 and s[16] == ":":
        second = _SIXTY.get(s[17:])
        if second is not None:
            minutes = _MINUTES.get(tz)
            start = minutes.get(s[:16]) if minutes is not None else None
            if start is None:
                start = _minute_start(s, tz, text)
            if start is not None:
                return start + second
    return _parse_datetime(s, tz, text)


def datetime_cache(tz: str) -> tuple[dict[str, int], dict[str, int]]:
    """The zone's cache of minutes ('YYYY-MM-DD HH:MM' -> epoch) and the seconds table, for a
    caller that looks up the common form itself before calling parse_datetime (a bulk reader): a
    value of 19 characters whose first 16 are in the cache and whose last three are ':SS' is that
    minute plus SS seconds, exactly what parse_datetime gives."""
    return _MINUTES.setdefault(tz, {}), _SIXTY


def _minute_start(s: str, tz: str, text: str) -> int | None:
    """The epoch of the minute 'YYYY-MM-DD HH:MM' that starts `s`, from its hour's (remembered);
    None if `s` is not of that form or its hour has an offset change."""
    minute = _SIXTY.get(s[14:16])
    if minute is None or s[10] not in " T" or s[13] != ":":
        return None
    hours = _HOURS.setdefault(tz, {})
    key = s[:13]
    if key in hours:
        start = hours[key]
    else:
        start = _parse_datetime(f"{key}:00:00", tz, text)
        if _parse_datetime(f"{key}:59:59", tz, text) - start != 3599:
            start = None  # the offset changes within this hour
        if len(hours) >= _CACHE_MAX:
            hours.clear()
        hours[key] = start
    if start is None:
        return None
    minutes = _MINUTES.setdefault(tz, {})
    if len(minutes) >= _CACHE_MAX:
        minutes.clear()
    minutes[s[:16]] = start = start + minute * 60
    return start


def _parse_datetime(s: str, tz: str, text: str) -> int:
    if re.fullmatch(r"\d{1,5}(\.\d+)?", s):
        naive = _EXCEL_EPOCH + timedelta(days=float(s))
        return int(round(naive.replace(tzinfo=ZoneInfo(tz)).timestamp()))
    try:
        parsed = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueProblem(f"{text!r} is not a date-time; write it as 2026-10-03 09:15:00")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return int(parsed.timestamp())


_DAYS: dict[str, date] = {}  # text -> its day: a file repeats the same few dozen days
_DAYS_MAX = 10_000


def parse_date(text: str) -> date:
    """A calendar day: ISO, 2026/10/03, 20261003, 2026年10月03日, or an Excel serial such as 46299."""
    s = text.strip()
    day = _DAYS.get(s)
    if day is None:
        day = _parse_date(s, text)
        if len(_DAYS) >= _DAYS_MAX:
            _DAYS.clear()
        _DAYS[s] = day
    return day


def _parse_date(s: str, text: str) -> date:
    if re.fullmatch(r"\d{1,5}(\.\d+)?", s):
        return (_EXCEL_EPOCH + timedelta(days=float(s))).date()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueProblem(f"{text!r} is not a date; write it as 2026-10-03")


def parse_bool(text: str) -> bool:
    s = text.strip().lower()
    if s in TRUE_WORDS:
        return True
    if s in FALSE_WORDS:
        return False
    raise ValueProblem(f"{text!r} is not a yes/no value; write true or false (1/0, 是/否 also work)")


def parse_decimal(text: str) -> Decimal:
    """A number; '95%' reads as 95 (percentages are kept on the 0–100 scale, as regulations write them)."""
    s = text.strip().replace(",", "")
    if s.endswith("%"):
        s = s[:-1].strip()
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueProblem(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueProblem(f"{text!r} is not a finite number")
    return value


def parse_int(text: str) -> int:
    s = text.strip()
    if s.isdigit() and s.isascii():  # the common case, without a Decimal
        return int(s)
    value = parse_decimal(text)
    if value != value.to_integral_value():
        raise ValueProblem(f"{text!r} is not a whole number")
    return int(value)


PARSERS = {
    "text": lambda text, tz: text.strip(),
    "int": lambda text, tz: parse_int(text),
    "bool": lambda text, tz: parse_bool(text),
    "decimal": lambda text, tz: parse_decimal(text),
    "date": lambda text, tz: parse_date(text),
    "datetime": parse_datetime,
}


def parse_value(field_type: str, text: str | None, tz: str):
    """Parse `text` as `field_type`; blank text is None (the caller decides whether that is allowed)."""
    if text is None or str(text).strip() == "":
        return None
    return PARSERS[field_type](str(text), tz)


def epoch_to_local(seconds: int, tz: str) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc).astimezone(ZoneInfo(tz))
