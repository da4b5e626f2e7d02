"""The record kinds the core knows: each is well formed and says what a connector supplies; a store
made before a kind gained fields gets their columns when opened, on every backend, with its rows
intact; a whole run scores a seed's pack from records of the new kinds read from CSV files with
Chinese headers; business-hours minutes for connectors whose source gives only timestamps."""

from __future__ import annotations

import csv
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import tomli_w

from kpi.core import pipeline
from kpi.core.config import load_config
from kpi.core.metrics import compute
from kpi.core.models import Employee, Period
from kpi.core.plugins import make_host
from kpi.core.records import BUILTIN_KINDS, TICKET, COMPLAINT, RecordKind
from kpi.core.store import Store
from kpi.core.store import schema
from kpi.core.store.migrations import add_record_columns
from kpi.plugins.metrics.business_hours import BusinessHours

TZ = ZoneInfo("Asia/Shanghai")


def test_every_kind_is_well_formed_and_registered():
    names = [k.name for k in BUILTIN_KINDS]
    assert names == ["ticket", "rating", "complaint", "attendance_day", "attendance_punch", "call", "chat_inquiry",
                     "order", "fee_collection", "qc_sample", "violation", "evaluation"]
    for kind in BUILTIN_KINDS:
        kind.validate()
        assert kind.description and kind.field(kind.time_field).required, kind.name
    assert make_host(load_entrypoints=False).record_kinds.names() == sorted(names)
    # Whose ids the person column holds by default (a connector's `identity` says otherwise).
    assert {k.name: k.identity for k in BUILTIN_KINDS if k.identity != "helpdesk"} == {
        "attendance_day": "attendance", "attendance_punch": "attendance", "call": "phone", "chat_inquiry": "shop",
        "order": "shop", "fee_collection": "employee", "violation": "employee", "evaluation": "employee"}


# -- a store made with the kinds' older fields --------------------------------------------------------

OLD_TICKET = RecordKind("ticket", "", "created_at", TICKET.fields[:6])  # the ticket kind before event fields
OLD_COMPLAINT = RecordKind("complaint", "", "filed_at", COMPLAINT.fields[:4])  # before `serious`
OLD_ROW = {"source": "helpdesk", "source_id": "T1", "person_ref": "a1", "employee_id": "E1", "at": 1_790_000_000,
           "created_at": 1_790_000_000, "first_reply_at": 1_790_000_600, "resolved_at": 1_790_007_200,
           "priority": "urgent", "channel": "chat", "reopens": 2}


def make_old_store(url: str) -> None:
    """A store whose ticket and complaint tables have only the fields they had before."""
    Store.open(url, BUILTIN_KINDS).close()
    old = sa.MetaData()
    tables = [schema.record_table(old, OLD_TICKET), schema.record_table(old, OLD_COMPLAINT)]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for t in tables:
                conn.execute(sa.text(f"DROP TABLE {t.name}"))
            old.create_all(conn)
            conn.execute(sa.insert(tables[0]), [OLD_ROW])
            conn.execute(sa.insert(tables[1]), [{"source": "cs", "source_id": "K1", "person_ref": "a1",
                                                 "employee_id": "E1", "at": 1_790_000_000, "filed_at": 1_790_000_000,
                                                 "valid": True, "ticket_id": "T1", "summary": "旧投诉"}])
    finally:
        engine.dispose()


def columns(url: str, table: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [c["name"] for c in sa.inspect(conn).get_columns(table)]
    finally:
        engine.dispose()


def test_opening_an_older_store_adds_the_new_fields_as_empty_columns_and_keeps_its_rows(store_url):
    make_old_store(store_url)
    assert "first_reply_by" not in columns(store_url, "rec_ticket")
    assert "serious" not in columns(store_url, "rec_complaint")

    store = Store.open(store_url, BUILTIN_KINDS)
    try:
        assert set(columns(store_url, "rec_ticket")) == {c.name for c in store.record_tables["ticket"].columns}
        assert "serious" in columns(store_url, "rec_complaint")
        with store.transaction() as conn:
            old = conn.execute(sa.select(store.record_tables["ticket"])).mappings().one()
            assert {k: old[k] for k in OLD_ROW} == OLD_ROW
            assert all(old[f.name] is None for f in TICKET.fields[6:])
            assert add_record_columns(conn, store.record_tables.values()) == []  # nothing left to add
            # New rows use the new columns, next to the old one.
            t = store.record_tables["ticket"]
            new = {**{c.name: None for c in t.columns if c.name != "id"}, **OLD_ROW, "source_id": "T2",
                   "first_reply_by": "a2", "replies": 1, "sla_breaches": 0, "first_reply_business_minutes": 7}
            store.write_records(conn, "ticket", "helpdesk", [new], replace=False)
            k = store.record_tables["complaint"]
            store.write_records(conn, "complaint", "cs", [{"source": "cs", "source_id": "K2", "person_ref": "a1",
                                                           "employee_id": "E1", "at": 1_790_000_000,
                                                           "filed_at": 1_790_000_000, "valid": True, "ticket_id": None,
                                                           "summary": None, "serious": True}], replace=False)
            got = {r.source_id: (r.reopens, r.first_reply_by, r.replies) for r in
                   conn.execute(sa.select(t.c.source_id, t.c.reopens, t.c.first_reply_by, t.c.replies))}
            assert got == {"T1": (2, None, None), "T2": (2, "a2", 1)}
            serious = {r.source_id: r.serious for r in conn.execute(sa.select(k.c.source_id, k.c.serious))}
            assert serious == {"K1": None, "K2": True}
    finally:
        store.close()
    # Opened again: nothing to add, the rows as they were.
    Store.open(store_url, BUILTIN_KINDS).close()
    assert columns(store_url, "rec_ticket").count("first_reply_by") == 1


def test_metrics_read_an_upgraded_store(store_url):
    make_old_store(store_url)
    store = Store.open(store_url, BUILTIN_KINDS)
    host = make_host(load_entrypoints=False)
    try:
        with store.transaction() as conn:
            store.replace_roster(conn, "hr", [Employee(id="E1", name="王伟", role="agent",
                                                       external_ids={"helpdesk": "a1"})])
            day = datetime.fromtimestamp(1_790_000_000, TZ).date()
            period = Period("p", day, day, "custom", "Asia/Shanghai")
            defs = [host.metrics.get(m) for m in ("first_reply_minutes", "serious_complaints", "one_touch_rate")]
            got = {v.metric: v.value for v in compute(conn, store.record_tables, period, ["E1"], defs)}
        # The old ticket: first reply after 10 minutes, counted for its assignee (no first_reply_by);
        # replies unknown, so no one-touch rate. The old complaint was never rated serious.
        assert got == {"first_reply_minutes": 10, "serious_complaints": 0, "one_touch_rate": None}
    finally:
        store.close()


# -- a whole run on records of the new kinds ----------------------------------------------------------


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_the_property_desk_pack_is_scored_from_fee_and_violation_records(tmp_path):
    """The pack declares its figures as supplied; the built-in metrics compute them from records
    instead. The two people are the pack's worked examples 1 and 2, built up from records."""
    write_csv(tmp_path / "roster.csv", ["工号", "姓名", "岗位", "考勤号"],
              [["P01", "赵敏", "desk", "1001"], ["P02", "钱勇", "housekeeper", "1002"]])
    write_csv(tmp_path / "fees.csv", ["工号", "楼栋", "日期", "应缴户数", "已缴户数"],
              [["P01", "1号楼", "2026-10-31", "60", "60"], ["P01", "2号楼", "2026-10-31", "65", "64"],  # 124/125 = 99.2%
               ["P02", "3号楼", "2026-10-31", "200", "179"]])  # 89.5%
    kinds = {"仪容仪表": "appearance", "工作纪律": "discipline", "工作态度": "attitude", "公共设施": "facility",
             "建筑风貌": "building"}
    found = [("P01", "仪容仪表")] + [("P02", k) for k, n in (("仪容仪表", 3), ("工作纪律", 3), ("工作态度", 2),
                                                           ("公共设施", 4), ("建筑风貌", 1)) for _ in range(n)]
    write_csv(tmp_path / "violations.csv", ["编号", "工号", "日期", "类别"],
              [[f"V{i}", who, f"2026-10-{i + 1:02d}", what] for i, (who, what) in enumerate(found)])
    write_csv(tmp_path / "attendance.csv", ["考勤号", "日期", "结果"],
              [["1001", "2026-10-05", "normal"]] + [["1002", f"2026-10-0{d}", "absent"] for d in (5, 6, 7)])
    site = {
        "site": {"name": "物业客服中心"},
        "period": {"default": "2026-10"},
        "scheme": {"use": "property_desk"},
        "connector": [
            {"name": "roster", "use": "csv", "kind": "employee", "path": "roster.csv",
             "columns": {"employee_id": "工号", "name": "姓名", "role": "岗位"}, "ids": {"attendance": "考勤号"}},
            {"name": "fees", "use": "csv", "kind": "fee_collection", "path": "fees.csv", "id_from": ["工号", "楼栋"],
             "columns": {"person": "工号", "unit": "楼栋", "day": "日期", "households_due": "应缴户数",
                         "households_paid": "已缴户数"}},
            {"name": "violations", "use": "csv", "kind": "violation", "path": "violations.csv",
             "columns": {"source_id": "编号", "person": "工号", "occurred_on": "日期", "type": "类别"},
             "value_map": {"type": kinds}},
            {"name": "attendance", "use": "csv", "kind": "attendance_day", "path": "attendance.csv",
             "id_from": ["考勤号", "日期"], "columns": {"person": "考勤号", "day": "日期", "result": "结果"}},
        ],
    }
    (tmp_path / "site.toml").write_text(tomli_w.dumps(site), encoding="utf-8")
    outcome = pipeline.run(load_config(tmp_path / "site.toml"))
    cards = {c.employee_id: c for c in outcome.scorecards}
    # P01: appearance 5 − 1 = 4, fee 99.2% → 20, the rest full: 4 + 12 + 15 + 20 + 12 + 15 = 78; 3000 − 1 × 10.
    assert (cards["P01"].total, format(cards["P01"].pay.amount, "f")) == (78, "2990.00")
    assert cards["P01"].flags == []
    # P02: appearance, discipline, facilities lost at 3 or more; attitude 15 − 4 = 11; fee 89.5% → 0;
    # building 15 − 3 = 12: total 23; 3000 − 56 × 10. Three days absent and a fee rate below 90 flag.
    assert (cards["P02"].total, format(cards["P02"].pay.amount, "f")) == (23, "2440.00")
    assert {f.code for f in cards["P02"].flags} == {"dismissal", "unfit_for_post"}
    engine = sa.create_engine(load_config(tmp_path / "site.toml").store_url)
    with engine.connect() as conn:
        source, evidence = conn.execute(sa.text(
            "SELECT source, evidence FROM metric_values WHERE employee_id = 'P02' AND metric = 'fee_collection_rate' "
            "AND run_id = :r"), {"r": outcome.run_id}).one()
    engine.dispose()
    assert (source, evidence) == ("records:fee_collection", '{"numerator": 179, "denominator": 200}')


# -- business hours -----------------------------------------------------------------------------------


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp())


@pytest.mark.parametrize("since,until,minutes", [
    ("2026-10-02 10:00", "2026-10-02 10:30", 30),      # within a Friday
    ("2026-10-02 17:30", "2026-10-05 09:30", 60),      # Friday 30 + Monday 30; the weekend is not business time
    ("2026-10-03 11:00", "2026-10-04 20:00", 0),       # all on the weekend
    ("2026-10-02 07:00", "2026-10-02 20:00", 540),     # before and after hours count nothing: 09:00–18:00
    ("2026-10-07 17:00", "2026-10-09 10:00", 60 + 60),  # Wednesday 17–18, Thursday a holiday, Friday 9–10
    ("2026-10-05 09:30", "2026-10-05 09:00", 0),       # the end before the start
])
def test_business_minutes_follow_the_schedule_and_holidays(since, until, minutes):
    hours = BusinessHours.of("09:00", "18:00", holidays=[date(2026, 10, 8)])
    assert hours.minutes(epoch(since), epoch(until)) == minutes


def test_business_hours_refuse_a_schedule_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="the end must come after the start"):
        BusinessHours.of("18:00", "09:00")
    assert BusinessHours.of("09:00", "18:00").minutes(None, 5) is None
