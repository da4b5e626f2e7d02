"""The built-in metrics on hand-built records, aggregated by the real store on every backend (SQLite
always; PostgreSQL and MariaDB when KPI_TEST_POSTGRES_URL / KPI_TEST_MYSQL_URL name a server). Each
expected value is worked out by hand in the test, next to the records it comes from.

Covered: CSAT without the unrated; first reply in calendar and business minutes; resolution times,
one-touch, reopens and SLA breaches; attribution of a reassigned ticket to who acted at the event or
to its last assignee; calls, chat inquiries, orders (an agent's order value against the shop's),
fee collection, violations by type, QC samples, rater evaluations as ITEM@RATER; rates that are
None, not 0, when nothing is in the denominator; supplied values standing in where no record matched."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kpi.core.errors import InputError
from kpi.core.metrics import MetricDefinition, compute
from kpi.core.models import Employee, Metric, Period
from kpi.core.plugins import make_host
from kpi.core.records import BUILTIN_KINDS
from kpi.core.store import Store

HOST = make_host(load_entrypoints=False)
KINDS = {k.name: k for k in BUILTIN_KINDS}
TZ = ZoneInfo("Asia/Shanghai")
PERIOD = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31), timezone="Asia/Shanghai")
PEOPLE = [
    Employee(id="E1", name="王伟", role="agent", external_ids={"helpdesk": "a1", "phone": "801", "shop": "s1"}),
    Employee(id="E2", name="李娜", role="agent", external_ids={"helpdesk": "a2", "phone": "802", "shop": "s2"}),
    Employee(id="E3", name="张敏", role="agent", external_ids={"helpdesk": "a3"}),  # no records at all
]
# What the Sink maps each person id to at ingest.
EMPLOYEE = {"a1": "E1", "a2": "E2", "801": "E1", "802": "E2", "s1": "E1", "s2": "E2", "E1": "E1", "E2": "E2"}


def at(text: str) -> int:
    """Epoch seconds of a local time in October 2026: "02 17:30" is Friday the 2nd at 17:30."""
    return int(datetime.strptime(f"2026-10-{text}", "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp())


def rec(kind: str, source_id: str, person: str | None, **fields) -> tuple[str, dict]:
    """A record as the Sink stores it: the common columns and every field of the kind (blank unless given)."""
    k = KINDS[kind]
    row = {f.name: None for f in k.fields}
    row.update(fields)
    when = row[k.time_field]
    stamp = int(datetime.combine(when, time.min, TZ).timestamp()) if isinstance(when, date) else when
    return kind, {"source": "test", "source_id": source_id, "person_ref": person or "?",
                  "employee_id": EMPLOYEE.get(person), "at": stamp, **row}


@contextmanager
def stored(url: str, records: list[tuple[str, dict]], supplied: list[tuple[str, str, str]] = ()):
    """A store holding the roster, the records and supplied (employee, metric, value) figures."""
    store = Store.open(url, BUILTIN_KINDS)
    try:
        with store.transaction() as conn:
            store.replace_roster(conn, "hr", PEOPLE)
            by_kind: dict[str, list[dict]] = {}
            for kind, row in records:
                by_kind.setdefault(kind, []).append(row)
            for kind, rows in by_kind.items():
                store.write_records(conn, kind, "test", rows, replace=False)
            store.write_input_metrics(conn, "sheet", [
                {"source": "sheet", "period": PERIOD.label, "employee_id": e, "metric": m, "value": Decimal(v), "source_ref": "sheet.csv:2"}
                for e, m, v in supplied], replace_periods=set())
        yield store
    finally:
        store.close()


def values(url: str, records, metrics: list, *, supplied=(), **options) -> dict:
    """{(employee, metric): MetricValue} for the built-in metrics named (or definitions given)."""
    defs = [HOST.metrics.get(m) if isinstance(m, str) else m for m in metrics]
    with stored(url, records, supplied) as store, store.transaction() as conn:
        out = compute(conn, store.record_tables, PERIOD, [p.id for p in PEOPLE], defs, **options)
    return {(v.employee_id, v.metric): v for v in out}


def table(result: dict, metric: str) -> dict[str, Decimal | None]:
    return {e.id: result[(e.id, metric)].value for e in PEOPLE}


def third(n: int) -> Decimal:
    """n / 3 as the store keeps it (10 places)."""
    return (Decimal(n) / 3).quantize(Decimal("1E-10"))


# -- tickets and ratings ------------------------------------------------------------------------------


def test_csat_counts_good_and_bad_and_leaves_the_unrated_out(store_url):
    records = [rec("rating", f"R{i}", "a1", rated_at=at("03 10:00"), good=g)
               for i, g in enumerate([True, True, True, False, None, None])]
    records += [rec("rating", "R9", "a2", rated_at=at("03 10:00"), good=None)]  # offered, never answered
    result = values(store_url, records, ["csat_rate"])
    # E1: 3 good / (3 good + 1 bad) = 75%; the two unrated count nowhere. E2: nothing rated.
    assert table(result, "csat_rate") == {"E1": 75, "E2": None, "E3": None}
    assert result[("E1", "csat_rate")].evidence == {"numerator": 3, "denominator": 4}
    assert result[("E2", "csat_rate")].evidence == {"numerator": 0, "denominator": 0}


def test_first_reply_in_calendar_and_business_minutes(store_url):
    records = [
        # Friday 10:00, replied 30 minutes later: 30 calendar minutes, 30 business minutes.
        rec("ticket", "T1", "a1", created_at=at("02 10:00"), first_reply_at=at("02 10:30"),
            first_reply_business_minutes=30),
        # Friday 17:30, replied Monday 09:30: 64 h = 3840 calendar minutes; in business hours 09:00–18:00
        # on weekdays, 30 minutes on Friday and 30 on Monday = 60 (as the helpdesk reports them).
        rec("ticket", "T2", "a1", created_at=at("02 17:30"), first_reply_at=at("05 09:30"),
            first_reply_business_minutes=60),
        rec("ticket", "T3", "a1", created_at=at("06 09:00")),  # not replied: in neither mean
    ]
    result = values(store_url, records, ["first_reply_minutes", "first_reply_business_minutes"])
    assert table(result, "first_reply_minutes") == {"E1": Decimal(1935), "E2": None, "E3": None}  # (30 + 3840) / 2
    assert table(result, "first_reply_business_minutes") == {"E1": 45, "E2": None, "E3": None}  # (30 + 60) / 2
    assert result[("E1", "first_reply_minutes")].evidence == {"sum": 3870 * 60, "count": 2,
                                                              "attributed_to": "first_reply_by"}


def test_resolution_one_touch_reopens_and_sla(store_url):
    t = at("05 09:00")
    records = [
        # resolved after 2 h with one reply: one-touch; SLA met
        rec("ticket", "T1", "a1", created_at=t, resolved_at=t + 2 * 3600, replies=1, reopens=0, sla_breaches=0,
            full_resolution_business_minutes=120),
        # first resolved after 4 h, reopened, resolved again after 10 h; 3 replies; 2 SLA targets breached
        rec("ticket", "T2", "a1", created_at=t, first_resolved_at=t + 4 * 3600, resolved_at=t + 10 * 3600,
            replies=3, reopens=1, sla_breaches=2, first_resolution_business_minutes=240,
            full_resolution_business_minutes=540),
        # resolved after 6 h with one reply, reopens not reported; 1 SLA breach
        rec("ticket", "T3", "a1", created_at=t, resolved_at=t + 6 * 3600, replies=1, sla_breaches=1),
        # resolved after 3 h, replies not reported, no SLA policy
        rec("ticket", "T4", "a1", created_at=t, resolved_at=t + 3 * 3600, reopens=0),
        # still open, one reply so far: not one-touch (not resolved), not in the resolution times
        rec("ticket", "T5", "a1", created_at=t, replies=1, sla_breaches=0),
    ]
    result = values(store_url, records, [
        "tickets_resolved", "resolution_rate", "first_resolution_hours", "full_resolution_hours",
        "first_resolution_business_hours", "full_resolution_business_hours", "one_touch_rate", "reopened_tickets",
        "reopen_rate", "sla_breached_tickets", "sla_achievement_rate"])
    e1 = {m: v.value for (e, m), v in result.items() if e == "E1"}
    assert e1 == {
        "tickets_resolved": 4,
        "resolution_rate": 80,  # 4 resolved of 5
        "first_resolution_hours": Decimal("3.75"),  # (2 + 4 + 6 + 3) / 4: T2's first resolution, at 4 h
        "full_resolution_hours": Decimal("5.25"),  # (2 + 10 + 6 + 3) / 4
        "first_resolution_business_hours": 4,  # T2 only: 240 / 60
        "full_resolution_business_hours": Decimal("5.5"),  # (120 + 540) / 2 / 60
        "one_touch_rate": third(200),  # T1 and T3 of the three resolved with replies known (T4 unknown)
        "reopened_tickets": 1,
        "reopen_rate": third(100),  # T2 of T1, T2, T4 (T3's reopens unknown)
        "sla_breached_tickets": 2,  # T2, T3
        "sla_achievement_rate": 50,  # T1 and T5 met every target, of T1, T2, T3, T5 under a policy
    }
    assert result[("E1", "sla_breached_tickets")].evidence["records"] == ["T2", "T3"]
    # Nothing resolved for E2 and E3: counts 0, rates and means None.
    for emp in ("E2", "E3"):
        assert result[(emp, "tickets_resolved")].value == 0
        assert result[(emp, "one_touch_rate")].value is None
        assert result[(emp, "sla_achievement_rate")].value is None
        assert result[(emp, "full_resolution_hours")].value is None


def reassigned() -> list:
    t = at("07 09:00")
    return [
        # Reassigned: E1 replied first and resolved it, then it went to E2, its assignee at export.
        rec("ticket", "R1", "a2", created_at=t, first_reply_at=t + 10 * 60, resolved_at=t + 2 * 3600,
            first_reply_by="a1", resolved_by="a1", replies=1),
        # The source does not say who acted: it counts for its assignee E2 either way.
        rec("ticket", "R2", "a2", created_at=t, first_reply_at=t + 20 * 60, resolved_at=t + 1 * 3600, replies=2),
        # E1's ticket, first replied to by someone not in the roster, resolved by E1.
        rec("ticket", "R3", "a1", created_at=t, first_reply_at=t + 40 * 60, resolved_at=t + 4 * 3600,
            first_reply_by="zz", resolved_by="a1", replies=1),
    ]


METRICS = ["first_reply_minutes", "tickets_resolved", "one_touch_rate", "tickets_handled"]


def test_a_reassigned_ticket_counts_for_who_acted_at_the_event(store_url):
    result = values(store_url, reassigned(), METRICS)
    # First reply: R1 by E1 (10 min); R2 falls back to its assignee E2 (20 min); R3 by zz, whom the
    # roster does not know, counts for no one.
    assert table(result, "first_reply_minutes") == {"E1": 10, "E2": 20, "E3": None}
    # Resolution: R1 and R3 by E1; R2 by its assignee E2. One-touch: R1, R3 (one reply) of E1's two.
    assert table(result, "tickets_resolved") == {"E1": 2, "E2": 1, "E3": 0}
    assert table(result, "one_touch_rate") == {"E1": 100, "E2": 0, "E3": None}
    # Ownership counts stay with the assignee.
    assert table(result, "tickets_handled") == {"E1": 1, "E2": 2, "E3": 0}
    assert result[("E1", "one_touch_rate")].evidence == {"numerator": 2, "denominator": 2,
                                                         "attributed_to": "resolved_by"}


def test_an_event_field_a_sample_missed_is_found_by_the_scan_and_grouped_by(store_url, monkeypatch):
    """Whether first_reply_by/resolved_by are filled at all is guessed from the window's first
    records (most sources leave them blank, and grouping by them costs); with an empty sample the
    guess is always "blank", and the scan's own count of them must catch it and scan again."""
    from kpi.core import metrics
    monkeypatch.setattr(metrics, "SAMPLE", 0)
    result = values(store_url, reassigned(), METRICS)
    assert table(result, "first_reply_minutes") == {"E1": 10, "E2": 20, "E3": None}
    assert table(result, "tickets_resolved") == {"E1": 2, "E2": 1, "E3": 0}
    assert table(result, "tickets_handled") == {"E1": 1, "E2": 2, "E3": 0}


def test_a_reassigned_ticket_counts_for_its_last_assignee_when_the_site_says_so(store_url):
    result = values(store_url, reassigned(), METRICS, attribution="last")
    assert table(result, "first_reply_minutes") == {"E1": 40, "E2": 15, "E3": None}  # R3; (10 + 20) / 2
    assert table(result, "tickets_resolved") == {"E1": 1, "E2": 2, "E3": 0}
    assert table(result, "one_touch_rate") == {"E1": 100, "E2": 50, "E3": None}  # R3; R1 of R1, R2
    assert table(result, "tickets_handled") == {"E1": 1, "E2": 2, "E3": 0}
    assert "attributed_to" not in result[("E1", "one_touch_rate")].evidence


def test_an_event_person_who_is_the_tickets_own_counts_for_it_whatever_the_id_system(store_url):
    # A connector that gives tickets by employee id (identity = "employee"): "E2" is no helpdesk id,
    # but it is the ticket's own person, whom the Sink already mapped.
    t = at("07 09:00")
    records = [rec("ticket", "R4", "E2", created_at=t, first_reply_at=t + 5 * 60, first_reply_by="E2")]
    result = values(store_url, records, ["first_reply_minutes"])
    assert table(result, "first_reply_minutes") == {"E1": None, "E2": 5, "E3": None}


def test_an_anomaly_window_is_left_out_under_event_attribution_too(store_url):
    window = {"ticket": [(at("07 00:00"), at("08 00:00"))]}  # every reassigned ticket falls in it
    result = values(store_url, reassigned(), METRICS, excluded=window)
    assert table(result, "tickets_resolved") == {"E1": 0, "E2": 0, "E3": 0}
    assert table(result, "first_reply_minutes") == {"E1": None, "E2": None, "E3": None}


# -- calls, chats and orders --------------------------------------------------------------------------


def test_calls_offered_answered_abandoned_and_transferred(store_url):
    t = at("08 10:00")
    records = [
        rec("call", "C1", "801", started_at=t, answered=True, wait_seconds=10, talk_seconds=120),
        rec("call", "C2", "801", started_at=t, direction="inbound", answered=True, wait_seconds=20, talk_seconds=300,
            transferred=True),
        rec("call", "C3", "801", started_at=t, answered=False, abandoned=True, wait_seconds=45),
        rec("call", "C4", "801", started_at=t, answered=False, abandoned=False),  # rang, went to a colleague
        rec("call", "C5", "801", started_at=t, direction="outbound", answered=True, talk_seconds=60),
        rec("call", "C6", "802", started_at=t, direction="outbound", answered=False),
    ]
    result = values(store_url, records, ["call_volume", "call_answer_rate", "abandonment_rate", "transfer_rate",
                                         "avg_handling_minutes", "call_answer_seconds"])
    e1 = {m: v.value for (e, m), v in result.items() if e == "E1"}
    assert e1 == {"call_volume": 5,
                  "call_answer_rate": 50,  # C1, C2 of the inbound C1–C4
                  "abandonment_rate": 25,  # C3 of C1–C4
                  "transfer_rate": third(100),  # C2 of the answered C1, C2, C5
                  "avg_handling_minutes": (Decimal(480) / 180).quantize(Decimal("1E-10")),  # (120 + 300 + 60) / 3 / 60
                  "call_answer_seconds": 15}  # (10 + 20) / 2
    # E2 made one outbound call, offered none: no answer or abandonment rate.
    assert table(result, "call_volume") == {"E1": 5, "E2": 1, "E3": 0}
    assert table(result, "call_answer_rate") == {"E1": 50, "E2": None, "E3": None}
    assert table(result, "transfer_rate") == {"E1": third(100), "E2": None, "E3": None}


def test_chat_inquiries_conversion_reply_rate_and_response_time(store_url):
    t = at("09 20:00")
    records = [
        rec("chat_inquiry", "Q1", "s1", asked_at=t, replied=True, response_seconds=20, converted=True),
        rec("chat_inquiry", "Q2", "s1", asked_at=t, replied=True, response_seconds=40, converted=False),
        rec("chat_inquiry", "Q3", "s1", asked_at=t, replied=True, converted=False),  # no response time given
        rec("chat_inquiry", "Q4", "s1", asked_at=t, replied=False),
    ]
    result = values(store_url, records, ["inquiry_conversion", "reply_rate", "response_seconds"])
    assert table(result, "inquiry_conversion") == {"E1": 25, "E2": None, "E3": None}  # 1 of 4
    assert table(result, "reply_rate") == {"E1": 75, "E2": None, "E3": None}  # 3 of 4
    assert table(result, "response_seconds") == {"E1": 30, "E2": None, "E3": None}  # (20 + 40) / 2


def test_orders_payment_rate_order_value_against_the_shop_and_refunds(store_url):
    t = at("10 12:00")
    records = [
        rec("order", "O1", "s1", placed_at=t, amount=Decimal("100.00"), paid=True),
        rec("order", "O2", "s1", placed_at=t, amount=Decimal("300.50"), paid=True),
        rec("order", "O3", "s1", placed_at=t, amount=Decimal("50"), paid=False),
        rec("order", "O4", "s2", placed_at=t, amount=Decimal("200.00"), paid=True, refunded_amount=Decimal("20.00"),
            disputes=1),
        rec("order", "O5", None, placed_at=t, amount=Decimal("99.50"), paid=True),  # the shop's, no agent's
    ]
    result = values(store_url, records, ["payment_rate", "order_value_ratio", "paid_amount", "refunded_amount",
                                         "refund_rate", "order_disputes"])
    assert table(result, "payment_rate") == {"E1": third(200), "E2": 100, "E3": None}
    # The shop's mean paid order: (100 + 300.50 + 200 + 99.50) / 4 = 175. E1's: 400.50 / 2 = 200.25.
    assert table(result, "order_value_ratio") == {"E1": Decimal("1.1442857143"),  # 200.25 / 175
                                                  "E2": Decimal("1.1428571429"),  # 200 / 175
                                                  "E3": None}
    assert result[("E1", "order_value_ratio")].evidence == {"sum": "400.5", "count": 2, "everyone_sum": 700,
                                                            "everyone_count": 4}
    assert table(result, "paid_amount") == {"E1": Decimal("400.5"), "E2": 200, "E3": 0}
    assert table(result, "refunded_amount") == {"E1": 0, "E2": 20, "E3": 0}
    assert table(result, "refund_rate") == {"E1": 0, "E2": 100, "E3": None}
    assert table(result, "order_disputes") == {"E1": 0, "E2": 1, "E3": 0}


# -- property, QC and raters --------------------------------------------------------------------------


def test_fee_collection_and_violations_by_type(store_url):
    day = date(2026, 10, 31)
    records = [
        rec("fee_collection", "F1", "E1", day=day, unit="1号楼", households_due=100, households_paid=97,
            amount_due=Decimal("10000.00"), amount_collected=Decimal("9876.54")),
        rec("fee_collection", "F2", "E1", day=day, unit="2号楼", households_due=50, households_paid=45,
            amount_due=Decimal("5000.00"), amount_collected=Decimal("5000.00")),
        rec("violation", "V1", "E1", occurred_on=date(2026, 10, 3), type="discipline"),
        rec("violation", "V2", "E1", occurred_on=date(2026, 10, 9), type="discipline"),
        rec("violation", "V3", "E1", occurred_on=date(2026, 10, 9), type="appearance"),
        rec("violation", "V4", "E2", occurred_on=date(2026, 10, 12), type="cleaning", points=Decimal("1.5")),
        rec("violation", "V5", "E2", occurred_on=date(2026, 10, 20), type="cleaning", points=Decimal("2")),
        rec("violation", "V6", "E2", occurred_on=date(2026, 11, 1), type="cleaning", points=Decimal("2")),  # November
    ]
    result = values(store_url, records, ["fee_collection_rate", "fee_target_share", "discipline_violations",
                                         "appearance_violations", "attitude_violations", "cleaning_lapse_points",
                                         "order_lapse_points"])
    # (97 + 45) / (100 + 50) = 142 / 150; (9876.54 + 5000) / 15000 = 0.99176933…
    assert table(result, "fee_collection_rate") == {"E1": (Decimal(14200) / 150).quantize(Decimal("1E-10")),
                                                    "E2": None, "E3": None}
    assert table(result, "fee_target_share") == {"E1": Decimal("99.1769333333"), "E2": None, "E3": None}
    assert result[("E1", "fee_target_share")].evidence == {"numerator": "14876.54", "denominator": 15000}
    assert table(result, "discipline_violations") == {"E1": 2, "E2": 0, "E3": 0}
    assert table(result, "appearance_violations") == {"E1": 1, "E2": 0, "E3": 0}
    assert table(result, "attitude_violations") == {"E1": 0, "E2": 0, "E3": 0}
    assert table(result, "cleaning_lapse_points") == {"E1": 0, "E2": Decimal("3.5"), "E3": 0}
    assert table(result, "order_lapse_points") == {"E1": 0, "E2": 0, "E3": 0}


def test_qc_samples_and_complaints(store_url):
    t = at("12 15:00")
    records = [rec("qc_sample", f"Q{i}", "a1", checked_at=t, ticket_id=f"T{i}", compliant=c,
                   score=None if s is None else Decimal(s))
               for i, (c, s) in enumerate([(True, "90"), (True, "80.5"), (False, "70"), (None, None)])]
    records += [rec("complaint", "K1", "a1", filed_at=t, valid=True, serious=True),
                rec("complaint", "K2", "a1", filed_at=t, valid=True, serious=False),
                rec("complaint", "K3", "a1", filed_at=t, valid=False, serious=True)]  # not upheld
    result = values(store_url, records, ["qc_sampled_tickets", "qc_compliance_rate", "qc_rate", "valid_complaints",
                                         "serious_complaints"])
    assert table(result, "qc_sampled_tickets") == {"E1": 4, "E2": 0, "E3": 0}
    assert table(result, "qc_compliance_rate") == {"E1": third(200), "E2": None, "E3": None}  # 2 of 3 judged
    assert table(result, "qc_rate") == {"E1": (Decimal("240.5") / 3).quantize(Decimal("1E-10")), "E2": None,
                                        "E3": None}  # (90 + 80.5 + 70) / 3
    assert table(result, "valid_complaints") == {"E1": 2, "E2": 0, "E3": 0}
    assert table(result, "serious_complaints") == {"E1": 1, "E2": 0, "E3": 0}


def rater_metric(item_rater: str) -> MetricDefinition:
    """What the pipeline declares for a rated item's input: a supplied value, unless records give one."""
    return MetricDefinition(Metric(item_rater, "rating", "higher", "a rater's rating"))


def test_evaluations_give_the_rated_rules_item_at_rater_values(store_url):
    day = date(2026, 10, 28)
    records = [
        rec("evaluation", "V1", "E1", rated_on=day, item="script", rater="supervisor", rater_id="M1", score=Decimal(4)),
        rec("evaluation", "V2", "E1", rated_on=day, item="script", rater="supervisor", rater_id="M2", score=Decimal(5)),
        rec("evaluation", "V3", "E1", rated_on=day, item="script", rater="qc", rater_id="Q1", score=Decimal("3.5")),
        rec("evaluation", "V4", "E1", rated_on=day, item="problem_solving", rater="qc", score=Decimal(2)),
    ]
    metrics = [rater_metric(m) for m in ("script@supervisor", "script@qc", "script@hr")]
    result = values(store_url, records, metrics, supplied=[("E1", "script@hr", "4"), ("E2", "script@qc", "3")])
    assert table(result, "script@supervisor") == {"E1": Decimal("4.5"), "E2": None, "E3": None}  # two supervisors
    # No evaluation record for HR's or E2's rating: the spreadsheet's figures stand in.
    assert table(result, "script@qc") == {"E1": Decimal("3.5"), "E2": 3, "E3": None}
    assert table(result, "script@hr") == {"E1": 4, "E2": None, "E3": None}
    assert result[("E1", "script@hr")].source == "sheet"
    assert result[("E1", "script@qc")].source == "records:evaluation"


def test_a_supplied_figure_stands_in_where_no_record_matched_and_a_conflicting_one_stops_the_run(store_url):
    records = [rec("fee_collection", "F1", "E1", day=date(2026, 10, 31), households_due=50, households_paid=49)]
    result = values(store_url, records, ["fee_collection_rate", "discipline_violations"],
                    supplied=[("E1", "fee_collection_rate", "98"), ("E2", "fee_collection_rate", "91"),
                              ("E2", "discipline_violations", "2")])
    # E1: computed 49 / 50 = 98%, the same as supplied: the records' value (with its evidence) is kept.
    assert result[("E1", "fee_collection_rate")].source == "records:fee_collection"
    assert table(result, "fee_collection_rate") == {"E1": 98, "E2": 91, "E3": None}
    assert table(result, "discipline_violations") == {"E1": 0, "E2": 2, "E3": 0}
    with pytest.raises(InputError, match=r"computed from fee_collection records as 98 and supplied by sheet as 90"):
        values(store_url, records, ["fee_collection_rate"], supplied=[("E1", "fee_collection_rate", "90")])


def test_leave_days_come_from_attendance_results(store_url):
    records = [rec("attendance_day", f"D{d}", "E1", day=date(2026, 10, d), result=r)
               for d, r in ((8, "leave"), (9, "leave"), (12, "late"), (13, "normal"))]
    result = values(store_url, records, ["approved_leave_days", "attendance_exceptions"])
    assert table(result, "approved_leave_days") == {"E1": 2, "E2": 0, "E3": 0}
    assert table(result, "attendance_exceptions") == {"E1": 1, "E2": 0, "E3": 0}


# -- without a database -------------------------------------------------------------------------------


def test_an_unknown_attribution_is_refused():
    with pytest.raises(ValueError, match="attribution must be one of event, last"):
        compute(None, {}, PERIOD, [], [], attribution="first")


def test_every_built_in_metric_over_records_names_a_kind_and_fields_that_exist():
    for name in HOST.metrics.names():
        d = HOST.metrics.get(name)
        if d.kind is None:
            continue
        assert d.kind in KINDS, name
        if d.attributed_to is not None:
            assert d.attributed_to.field in {f.name for f in KINDS[d.kind].fields}, name
