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


def parse_datetime(text: str, tz: str) -> int:
    """Epoch seconds from a local date-time (naive values are in the site's timezone), an ISO
    value with an offset, or an Excel serial number such as 46299.5."""
    s = text.strip()
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


def parse_date(text: str) -> date:
    """A calendar day: ISO, 2026/10/03, 20261003, 2026年10月03日, or an Excel serial such as 46299."""
    s = text.strip()
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
