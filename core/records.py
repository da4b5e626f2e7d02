"""Kinds of source record. Each kind is one table in the store, so metrics can aggregate it in SQL.

Every record has a source (the connector that brought it), a source id (unique within the source,
so fetching it twice never counts it twice), the employee it is attributed to, and a time `at`
(epoch seconds) that places it in a period."""

from __future__ import annotations

from dataclasses import dataclass

FIELD_TYPES = ("text", "int", "bool", "decimal", "date", "datetime")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class RecordKind:
    """`time_field` places a record in a period; `identity` is the system whose ids its person
    field holds by default (a site can say otherwise per connector)."""

    name: str
    description: str
    time_field: str
    fields: tuple[Field, ...]
    identity: str = "helpdesk"

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def validate(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"record kind {self.name!r} declares a field twice")
        if self.time_field not in names:
            raise ValueError(f"record kind {self.name!r}: time_field {self.time_field!r} is not one of its fields")
        for f in self.fields:
            if f.type not in FIELD_TYPES:
                raise ValueError(f"record kind {self.name!r}: field {f.name!r} has unknown type {f.type!r}")
            if f.name in COMMON_COLUMNS:
                raise ValueError(f"record kind {self.name!r}: field {f.name!r} clashes with a common column")


# Columns every record table has besides its kind's fields.
COMMON_COLUMNS = ("source", "source_id", "employee_id", "at")

TICKET = RecordKind(
    "ticket",
    "A ticket, work order or customer request handled by an agent.",
    time_field="created_at",
    fields=(
        Field("created_at", "datetime", True, "when the customer raised it"),
        Field("first_reply_at", "datetime", False, "the agent's first public reply"),
        Field("resolved_at", "datetime", False, "when it was resolved or closed; blank if still open"),
        Field("priority", "text", False, "normal or urgent (the scheme's late rules differ)"),
        Field("channel", "text", False, "phone, chat, email, web …"),
        Field("reopens", "int", False, "times it was reopened after being resolved"),
    ),
)

RATING = RecordKind(
    "rating",
    "A customer satisfaction rating or callback result. CSAT counts good and bad; unrated is excluded.",
    time_field="rated_at",
    fields=(
        Field("rated_at", "datetime", True),
        Field("good", "bool", False, "true for satisfied, false for dissatisfied, blank if not rated"),
        Field("score", "int", False, "a 1-5 score where the survey gives one"),
        Field("ticket_id", "text", False, "the ticket rated"),
    ),
)

COMPLAINT = RecordKind(
    "complaint",
    "A customer complaint against an agent; only valid ones (有效投诉) count against them.",
    time_field="filed_at",
    fields=(
        Field("filed_at", "datetime", True),
        Field("valid", "bool", True, "whether the complaint was upheld as valid"),
        Field("ticket_id", "text", False),
        Field("summary", "text", False),
    ),
)

ATTENDANCE_DAY = RecordKind(
    "attendance_day",
    "The attendance system's result for one person and one scheduled working day.",
    time_field="day",
    identity="attendance",
    fields=(
        Field("day", "date", True),
        Field("result", "text", True, "normal, late, early, absent (unauthorised) or leave"),
        Field("minutes_late", "int", False),
    ),
)

BUILTIN_KINDS = (TICKET, RATING, COMPLAINT, ATTENDANCE_DAY)
