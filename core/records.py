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

# Field lists grow: a store made before a field existed gets its column, empty, when opened
# (Store.open adds missing nullable columns to record tables; old rows are kept as they were).

TICKET = RecordKind(
    "ticket",
    "A ticket, work order or customer request. Its person is the assignee the helpdesk reports for it "
    "(the last assignee); first_reply_by and resolved_by name who acted at those events, which the "
    "ticket counts for under event attribution (see kpi.core.metrics). Times are the helpdesk's own: "
    "calendar times as timestamps, business-hours durations as the helpdesk measured them against its "
    "schedule.",
    time_field="created_at",
    fields=(
        Field("created_at", "datetime", True, "when the customer raised it"),
        Field("first_reply_at", "datetime", False, "the agent's first public reply"),
        Field("resolved_at", "datetime", False, "when it was resolved or closed (the last time, if it was "
                                                 "reopened); blank if still open"),
        Field("priority", "text", False, "normal or urgent (the scheme's late rules differ)"),
        Field("channel", "text", False, "phone, chat, email, web …"),
        Field("reopens", "int", False, "times it was reopened after being resolved"),
        Field("first_resolved_at", "datetime", False, "when it was first resolved; blank if it was resolved "
                                                      "only once (then resolved_at is also the first)"),
        Field("first_reply_business_minutes", "int", False,
              "minutes to the first reply within business hours (Zendesk reply_time_in_minutes.business, "
              "Zammad first_response_in_min), or as the connector computed them from the site's schedule"),
        Field("first_resolution_business_minutes", "int", False,
              "business minutes to the first resolution (Zendesk first_resolution_time_in_minutes.business)"),
        Field("full_resolution_business_minutes", "int", False,
              "business minutes to the last resolution (Zendesk full_resolution_time_in_minutes.business, "
              "Zammad close_in_min)"),
        Field("replies", "int", False, "public replies by agents (Zendesk's metric set `replies`); a resolved "
                                       "ticket with one reply is one-touch"),
        Field("sla_breaches", "int", False, "SLA targets the ticket breached (0: all met); blank when no SLA "
                                            "policy applied to it"),
        Field("first_reply_by", "text", False, "who made the first reply: an id in the same system as the "
                                               "ticket's person"),
        Field("resolved_by", "text", False, "who resolved it (the last time): an id in the same system as "
                                            "the ticket's person"),
    ),
)

RATING = RecordKind(
    "rating",
    "A customer satisfaction rating or callback result. CSAT counts good and bad; unrated is excluded.",
    time_field="rated_at",
    fields=(
        Field("rated_at", "datetime", True),
        Field("good", "bool", False, "true for satisfied, false for dissatisfied, blank if not rated"),
        Field("score", "int", False, "the survey's score where it gives one, on its own scale (1–5, 0–100 …)"),
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
        Field("serious", "bool", False, "the department rated it serious (严重投诉)"),
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

ATTENDANCE_PUNCH = RecordKind(
    "attendance_punch",
    "One raw punch on an attendance device (打卡记录), as the device exported it. Day results "
    "(attendance_day) are worked out from punches by a schedule; the punches are kept for evidence.",
    time_field="punched_at",
    identity="attendance",
    fields=(
        Field("punched_at", "datetime", True),
        Field("direction", "text", False, "in or out, where the device records it; blank otherwise"),
        Field("device", "text", False, "the device's name or serial number"),
    ),
)

CALL = RecordKind(
    "call",
    "A phone call from the call centre's call records (呼叫明细), one per call and agent leg. Its person "
    "is the agent it was offered to (inbound) or who dialled it (outbound), by their id in the phone "
    "system.",
    time_field="started_at",
    identity="phone",
    fields=(
        Field("started_at", "datetime", True, "when it reached the agent (inbound) or was dialled (outbound)"),
        Field("direction", "text", False, "inbound (also when blank) or outbound"),
        Field("answered", "bool", False, "answered by the agent (outbound: by the customer)"),
        Field("abandoned", "bool", False, "the caller hung up before an answer"),
        Field("wait_seconds", "int", False, "seconds it rang or queued before the answer"),
        Field("talk_seconds", "int", False, "seconds of conversation"),
        Field("transferred", "bool", False, "the agent transferred it to another agent or line"),
    ),
)

CHAT_INQUIRY = RecordKind(
    "chat_inquiry",
    "A pre-sale inquiry in an e-commerce shop's chat (询单, e.g. 旺旺/千牛): one record per inquiring "
    "customer, as the shop's service analytics report them. Its person is the agent who received it, by "
    "their shop sub-account.",
    time_field="asked_at",
    identity="shop",
    fields=(
        Field("asked_at", "datetime", True, "the customer's first message"),
        Field("customer", "text", False, "the buyer's id or nickname"),
        Field("replied", "bool", False, "the agent replied"),
        Field("response_seconds", "int", False, "seconds from the customer's first message to the agent's reply"),
        Field("converted", "bool", False, "the customer went on to pay (询单→付款)"),
    ),
)

ORDER = RecordKind(
    "order",
    "An order placed in the shop (拍下), credited to the agent who served the buyer, by their shop "
    "sub-account; with its payment, refunds and disputes.",
    time_field="placed_at",
    identity="shop",
    fields=(
        Field("placed_at", "datetime", True),
        Field("amount", "decimal", True, "the order's value"),
        Field("paid", "bool", False, "the buyer paid"),
        Field("refunded_amount", "decimal", False, "refunded to the buyer; blank or 0 if nothing"),
        Field("disputes", "int", False, "disputes and complaints raised on the order (纠纷)"),
        Field("customer", "text", False, "the buyer"),
    ),
)

FEE_COLLECTION = RecordKind(
    "fee_collection",
    "Property-fee collection (物业费收缴) for a building or unit an agent looks after, for one period, as "
    "the finance system reports it; the person is the agent's employee id.",
    time_field="day",
    identity="employee",
    fields=(
        Field("day", "date", True, "a day inside the period the figures are for (e.g. its last day)"),
        Field("unit", "text", False, "the building, block or account"),
        Field("households_due", "int", False, "households that have taken over their homes and owe the fee"),
        Field("households_paid", "int", False, "of those, households that paid"),
        Field("amount_due", "decimal", False, "fees due in the period: the collection target"),
        Field("amount_collected", "decimal", False, "fees collected"),
    ),
)

QC_SAMPLE = RecordKind(
    "qc_sample",
    "A ticket, call or chat that QC sampled and checked (质检抽检): handled to process or not, and QC's "
    "score. Its person is the agent whose work was sampled.",
    time_field="checked_at",
    fields=(
        Field("checked_at", "datetime", True),
        Field("ticket_id", "text", False, "what was sampled"),
        Field("compliant", "bool", False, "handled to process (流程合规)"),
        Field("score", "decimal", False, "QC's score of it, in % (0–100)"),
    ),
)

VIOLATION = RecordKind(
    "violation",
    "A breach of rules or an incident charged to an employee (违规、事件), from a supervisor's or "
    "inspector's form; the person is the employee id. The built-in metrics count these types (a site "
    "maps its own codes with value_map): appearance, discipline, attitude, facility, building, "
    "cleaning, order, process, control.",
    time_field="occurred_on",
    identity="employee",
    fields=(
        Field("occurred_on", "date", True),
        Field("type", "text", True, "its category, e.g. discipline"),
        Field("points", "decimal", False, "points deducted for it, where the form gives them"),
        Field("note", "text", False),
    ),
)

EVALUATION = RecordKind(
    "evaluation",
    "A rater's score of one item of an employee's work (seed 004: supervisor, QC, HR, customer "
    "representative). The metric ITEM@RATER (script@supervisor) is the mean of the scores raters in that "
    "role gave the item in the period: what a scheme's `rated` rule reads. The person is the employee id.",
    time_field="rated_on",
    identity="employee",
    fields=(
        Field("rated_on", "date", True),
        Field("item", "text", True, "the item, as the scheme names it: script, problem_solving …"),
        Field("rater", "text", True, "the rater's role, as the scheme's raters are named: supervisor, qc …"),
        Field("rater_id", "text", False, "who rated, by their own id"),
        Field("score", "decimal", True, "on the scheme's scale (1–5 by default)"),
    ),
)

BUILTIN_KINDS = (TICKET, RATING, COMPLAINT, ATTENDANCE_DAY, ATTENDANCE_PUNCH, CALL, CHAT_INQUIRY, ORDER,
                 FEE_COLLECTION, QC_SAMPLE, VIOLATION, EVALUATION)
