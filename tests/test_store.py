"""The store on every backend: SQLite always, PostgreSQL and MariaDB when KPI_TEST_POSTGRES_URL /
KPI_TEST_MYSQL_URL name a server (see conftest.py; .ci/run sets both). Every test gets an empty
database of its own and checks the rows the real database holds afterwards.

- opening: a new store gets every table and its schema version; a store made by a newer kpi and a
  database that merely has tables named like kpi's are refused and left exactly as they were;
- upgrading: an older store is upgraded by the registered steps, keeping its rows; a missing step
  is refused before anything changes;
- records: upserted by (source, source_id); a replacing pull replaces only its own source's rows;
- runs: the demo gives the same scorecards on every backend as on SQLite; re-runs keep history;
  a run that fails at or inside the commit leaves the previous run current and its scorecards as
  they were, and is itself recorded as failed, naming the phase.

A failing upgrade step leaves SQLite and PostgreSQL stores unchanged; MariaDB commits DDL at once,
so there the store stays at the last complete step and resumes from it. Ids compare exactly on all
three (MariaDB's default collation would not).
"""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from support import DEMO, set_store
import sqlalchemy as sa

from kpi.core import pipeline
from kpi.core.config import load_config
from kpi.core.errors import KpiError, StoreError
from kpi.core.models import Employee
from kpi.core.records import BUILTIN_KINDS, Field, RecordKind
from kpi.core.store import Store
from kpi.core.store import migrations, schema

CORE_TABLES = {"kpi_meta", "employees", "employee_ids", "periods", "runs", "connector_state",
               "input_metric_values", "metric_values", "scorecards", "export_ledger", "audit_log", "adjustments",
               "appeals"}
KIND_TABLES = {f"rec_{k.name}" for k in BUILTIN_KINDS}
PERIOD = "2026-10"




# -- helpers ----------------------------------------------------------------------------------------


@contextmanager
def raw(url: str):
    """A plain SQLAlchemy connection to the database, bypassing kpi's Store."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def snapshot(url: str) -> dict:
    """Everything observable about a database's schema and small tables, to prove it unchanged."""
    with raw(url) as conn:
        insp = sa.inspect(conn)
        tables = sorted(insp.get_table_names())
        out = {"tables": tables,
               "columns": {t: sorted(c["name"] for c in insp.get_columns(t)) for t in tables}}
        for t in ("kpi_meta", "employees", "things"):
            if t in tables:
                out[t] = sorted(tuple(str(v) for v in r) for r in conn.execute(sa.text(f"SELECT * FROM {t}")))
    return out


def meta_rows(url: str) -> list[tuple[str, str]]:
    with raw(url) as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text("SELECT " + _q(conn, "key") + ", value FROM kpi_meta")))


def _q(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


@contextmanager
def opened(url: str, kinds=()):
    store = Store.open(url, kinds)
    try:
        with store.transaction() as conn:
            yield store, conn
    finally:
        store.close()


@pytest.fixture
def extra_kind():
    """A record kind no other test knows. Store tables live in one process-wide MetaData, so its
    table is taken out of it afterwards, lest every later new store in this process get it too."""
    kind = RecordKind(f"probe_{uuid.uuid4().hex[:8]}", "a kind only this test uses", time_field="seen_at",
                      fields=(Field("seen_at", "datetime", True), Field("note", "text")))
    yield kind
    table = schema.metadata.tables.get(f"rec_{kind.name}")
    if table is not None:
        schema.metadata.remove(table)


PEOPLE = [
    Employee(id="E001", name="王伟", role="specialist", team="一组", department="客户服务部",
             hire_date=date(2024, 3, 1), external_ids={"helpdesk": "A01", "attendance": "1001"}),
    Employee(id="E002", name="李娜", role="after_sales", hire_date=date(2025, 7, 15), probation_end=date(2025, 10, 14),
             external_ids={"helpdesk": "A02"}),
    Employee(id="E003", name="张敏", role="key_account", hire_date=date(2023, 1, 9), leave_date=date(2026, 10, 20)),
]


def ticket(source_id: str, *, source: str = "helpdesk", priority: str = "normal", reopens: int = 0,
           at: int = 1_790_000_000, person: str = "A01", employee: str | None = "E001") -> dict:
    return {"source": source, "source_id": source_id, "person_ref": person, "employee_id": employee, "at": at,
            "created_at": at, "first_reply_at": at + 600, "resolved_at": at + 7200, "priority": priority,
            "channel": "chat", "reopens": reopens}


def ticket_rows(url: str) -> dict[tuple[str, str], dict]:
    with raw(url) as conn:
        rows = conn.execute(sa.text("SELECT id, source, source_id, priority, reopens, employee_id FROM rec_ticket"))
        return {(r.source, r.source_id): dict(r._mapping) for r in rows}


def demo_copy(root: Path, url: str | None = None) -> Path:
    site = root / "demo"
    shutil.copytree(DEMO, site, ignore=shutil.ignore_patterns("out", "*.sqlite*", "__pycache__"))
    if url:
        set_store(site / "site.toml", url)
    return site / "site.toml"


def run_demo(site: Path) -> pipeline.RunOutcome:
    return pipeline.run(load_config(site))


def cards_of(store: Store, conn, run_id: int) -> dict[str, dict]:
    """A run's scorecards as stored, by employee, without the run id."""
    return {c["employee_id"]: {k: v for k, v in c.items() if k != "run_id"} for c in store.scorecards(conn, run_id)}


def add_plugin(site: Path, code: str) -> str:
    """Write a local plugin module next to the site's config and list it in [plugins] modules. The
    module name is unique, so this process never reuses a module another test imported."""
    name = f"fault_{uuid.uuid4().hex[:10]}"
    (site.parent / f"{name}.py").write_text(code, encoding="utf-8")
    text = site.read_text(encoding="utf-8")
    assert "[identity]" in text
    site.write_text(text.replace("[identity]", f'[plugins]\nmodules = ["{name}"]\n\n[identity]', 1), encoding="utf-8")
    return name


# -- opening ------------------------------------------------------------------------------------------


def test_new_store_gets_every_table_and_the_schema_version(store_url, extra_kind):
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        assert store.schema_version(conn) == schema.SCHEMA_VERSION
    with raw(store_url) as conn:
        insp = sa.inspect(conn)
        tables = set(insp.get_table_names())
        assert CORE_TABLES | KIND_TABLES <= tables
        ticket_columns = {c["name"] for c in insp.get_columns("rec_ticket")}
        assert {"id", "source", "source_id", "person_ref", "employee_id", "at",
                "created_at", "first_reply_at", "resolved_at", "priority", "channel", "reopens"} <= ticket_columns
        uniques = [u["column_names"] for u in insp.get_unique_constraints("rec_ticket")]
        uniques += [i["column_names"] for i in insp.get_indexes("rec_ticket") if i.get("unique")]
        assert ["source", "source_id"] in uniques
    assert meta_rows(store_url) == [("schema_version", str(schema.SCHEMA_VERSION))]

    # Opening again changes nothing; a kind a plugin added since gets its table, the version stays.
    with opened(store_url, [*BUILTIN_KINDS, extra_kind]):
        pass
    with raw(store_url) as conn:
        assert f"rec_{extra_kind.name}" in sa.inspect(conn).get_table_names()
    assert meta_rows(store_url) == [("schema_version", str(schema.SCHEMA_VERSION))]


def test_store_from_a_newer_kpi_is_refused_and_left_alone(store_url, extra_kind):
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
    newer = schema.SCHEMA_VERSION + 1
    with raw(store_url) as conn:
        conn.execute(sa.text("UPDATE kpi_meta SET value = :v"), {"v": str(newer)})
        conn.commit()
    before = snapshot(store_url)

    # Even with a record kind whose table it would otherwise create.
    with pytest.raises(StoreError) as err:
        Store.open(store_url, [*BUILTIN_KINDS, extra_kind])
    message = str(err.value)
    assert f"schema version {newer}" in message and "newer kpi" in message
    assert "Upgrade kpi" in message and "not changed" in message

    after = snapshot(store_url)
    assert after == before
    assert f"rec_{extra_kind.name}" not in after["tables"]
    assert ("schema_version", str(newer)) in after["kpi_meta"]


def test_database_with_kpi_named_tables_but_no_kpi_meta_is_refused(store_url):
    with raw(store_url) as conn:
        conn.execute(sa.text("CREATE TABLE employees (id VARCHAR(20) PRIMARY KEY, name VARCHAR(50))"))
        conn.execute(sa.text("CREATE TABLE things (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO employees (id, name) VALUES ('x1', 'someone else''s data')"))
        conn.execute(sa.text("INSERT INTO things (id) VALUES (7)"))
        conn.commit()
    before = snapshot(store_url)

    with pytest.raises(StoreError) as err:
        Store.open(store_url, BUILTIN_KINDS)
    message = str(err.value)
    assert "employees" in message and "no kpi_meta" in message and "not a kpi store" in message
    assert "things" not in message

    after = snapshot(store_url)
    assert after == before
    assert after["tables"] == ["employees", "things"]
    assert after["employees"] == [("x1", "someone else's data")]


# -- upgrading ----------------------------------------------------------------------------------------


def _older_store(url: str) -> None:
    """A store at the current schema version with people in it, which the test then makes 'older'
    by raising the code's version."""
    with opened(url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
    with raw(url) as conn:
        conn.execute(sa.text("UPDATE kpi_meta SET value = :v WHERE " + _q(conn, "key") + " = 'schema_version'"),
                     {"v": str(schema.SCHEMA_VERSION)})
        conn.commit()


def _add_nickname(conn) -> None:
    conn.execute(sa.text("ALTER TABLE employees ADD COLUMN nickname VARCHAR(50)"))
    conn.execute(sa.text("UPDATE employees SET nickname = 'nick-' || id" if conn.dialect.name != "mysql"
                         else "UPDATE employees SET nickname = CONCAT('nick-', id)"))


def test_older_store_is_upgraded_keeping_its_rows(store_url, monkeypatch):
    _older_store(store_url)
    old = schema.SCHEMA_VERSION
    applied = []

    def step(conn):
        applied.append(conn.dialect.name)
        _add_nickname(conn)

    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    monkeypatch.setitem(migrations.MIGRATIONS, old + 1, step)

    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        assert store.schema_version(conn) == old + 1
        assert store.employees(conn) == PEOPLE
    assert len(applied) == 1
    assert meta_rows(store_url) == [("schema_version", str(old + 1))]
    with raw(store_url) as conn:
        assert "nickname" in {c["name"] for c in sa.inspect(conn).get_columns("employees")}
        rows = conn.execute(sa.text("SELECT id, name, nickname FROM employees ORDER BY id")).all()
        ids = conn.execute(sa.text("SELECT COUNT(*) FROM employee_ids")).scalar_one()
    assert [tuple(r) for r in rows] == [(e.id, e.name, f"nick-{e.id}") for e in PEOPLE]
    assert ids == 3 + 3  # each person's own id, plus A01, 1001 and A02

    # The upgraded store opens without running the step again.
    with opened(store_url, BUILTIN_KINDS):
        pass
    assert len(applied) == 1


def test_missing_upgrade_step_is_refused_and_the_store_is_unchanged(store_url, monkeypatch):
    _older_store(store_url)
    old = schema.SCHEMA_VERSION
    before = snapshot(store_url)
    # The code is two versions ahead; the first step exists, the second does not.
    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 2)
    monkeypatch.setitem(migrations.MIGRATIONS, old + 1, _add_nickname)
    monkeypatch.delitem(migrations.MIGRATIONS, old + 2, raising=False)

    with pytest.raises(StoreError) as err:
        Store.open(store_url, BUILTIN_KINDS)
    assert f"no upgrade from store schema {old + 1} to {old + 2}" in str(err.value)
    assert "not changed" in str(err.value)

    after = snapshot(store_url)
    assert after == before
    assert "nickname" not in after["columns"]["employees"]
    assert after["kpi_meta"] == [("schema_version", str(old))]


def test_failing_upgrade_step_leaves_the_store_unchanged(store_url, monkeypatch):
    _older_store(store_url)
    old = schema.SCHEMA_VERSION
    before = snapshot(store_url)

    def broken(conn):
        raise RuntimeError("step 2 found data it cannot convert")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 2)
    monkeypatch.setitem(migrations.MIGRATIONS, old + 1, _add_nickname)
    monkeypatch.setitem(migrations.MIGRATIONS, old + 2, broken)
    with pytest.raises(StoreError, match="cannot convert") as err:
        Store.open(store_url, BUILTIN_KINDS)
    assert f"from schema {old + 1} to {old + 2} failed" in str(err.value)

    if store_url.startswith("mysql"):
        # MariaDB commits DDL at once: the first step is kept and recorded, nothing else changed,
        # and opening again with the cause fixed resumes from there.
        after = snapshot(store_url)
        assert after["kpi_meta"] == [("schema_version", str(old + 1))]
        assert "nickname" in after["columns"]["employees"]
        assert after["employees"] and len(after["employees"]) == len(before["employees"])
        resumed = []
        monkeypatch.setitem(migrations.MIGRATIONS, old + 1, lambda conn: resumed.append("step 1 again"))
        monkeypatch.setitem(migrations.MIGRATIONS, old + 2, lambda conn: resumed.append("step 2"))
        with opened(store_url, BUILTIN_KINDS) as (store, conn):
            assert store.schema_version(conn) == old + 2
        assert resumed == ["step 2"]
    else:
        assert snapshot(store_url) == before


def test_version_1_store_is_upgraded_to_exact_ids(store_url):
    """Schema 2 makes ids compare byte for byte on MariaDB; a version-1 store keeps its rows."""
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
        store.write_records(conn, "ticket", "helpdesk", [ticket("T1")], replace=False)
    with raw(store_url) as conn:
        if conn.dialect.name == "mysql":  # make it what schema 1 created there
            for table, col, n, null in (("rec_ticket", "source_id", 191, "NOT NULL"),
                                        ("employees", "id", 64, "NOT NULL"),
                                        ("employee_ids", "external_id", 191, "NOT NULL")):
                conn.execute(sa.text(f"ALTER TABLE {table} MODIFY {col} VARCHAR({n}) CHARACTER SET utf8mb4 "
                                     f"COLLATE utf8mb4_general_ci {null}"))
        conn.execute(sa.text("UPDATE kpi_meta SET value = '1' WHERE " + _q(conn, "key") + " = 'schema_version'"))
        conn.commit()
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        assert store.schema_version(conn) == schema.SCHEMA_VERSION
        assert store.employees(conn) == PEOPLE
        store.write_records(conn, "ticket", "helpdesk", [ticket("t1", priority="urgent")], replace=False)
    assert set(ticket_rows(store_url)) == {("helpdesk", "T1"), ("helpdesk", "t1")}


# -- records ------------------------------------------------------------------------------------------


def test_records_are_upserted_by_source_and_source_id(store_url):
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk", [ticket("T1"), ticket("T2")], replace=False)
        store.write_records(conn, "ticket", "mail", [ticket("T1", source="mail", reopens=5)], replace=False)
    first = ticket_rows(store_url)
    assert set(first) == {("helpdesk", "T1"), ("helpdesk", "T2"), ("mail", "T1")}

    # The same ticket fetched again, in a later pull: one row, the later values, the same row id.
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk",
                            [ticket("T1", priority="urgent", reopens=2, person="A02", employee="E002")], replace=False)
    second = ticket_rows(store_url)
    assert len(second) == 3
    t1 = second[("helpdesk", "T1")]
    assert (t1["priority"], t1["reopens"], t1["employee_id"]) == ("urgent", 2, "E002")
    assert t1["id"] == first[("helpdesk", "T1")]["id"]
    assert second[("helpdesk", "T2")] == first[("helpdesk", "T2")]  # untouched
    assert second[("mail", "T1")] == first[("mail", "T1")]  # same source id, other source: its own row

    # Twice within one write (an API page that repeats a ticket): one row, the later values.
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk",
                            [ticket("T3", reopens=1), ticket("T3", priority="urgent", reopens=4)], replace=False)
        assert store.count_records(conn, "ticket", "helpdesk") == 3
    t3 = ticket_rows(store_url)[("helpdesk", "T3")]
    assert (t3["priority"], t3["reopens"]) == ("urgent", 4)


def test_sink_takes_rows_as_tuples_of_named_fields_as_it_takes_dicts(store_url):
    """The bulk path (a connector naming its fields once, rows as tuples) stores what dict rows
    store; fields it leaves out are blank, and a field list the kind does not have is refused."""
    from kpi.core.connectors import Sink
    from kpi.core.errors import InputError
    dicts = [{"source_id": "T1", "person": "A01", "created_at": 1_790_000_000, "priority": "urgent", "reopens": 2},
             {"source_id": "T2", "person": "A09", "created_at": 1_790_000_600, "priority": None, "reopens": None}]
    fields = ("source_id", "person", "created_at", "priority", "reopens")
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
        Sink(store, conn, "by_dict", "Asia/Shanghai").records("ticket", dicts)
        sink = Sink(store, conn, "by_tuple", "Asia/Shanghai")
        sink.records("ticket", [tuple(d[f] for f in fields) for d in dicts], fields=fields)
        assert sink.report.unmapped == {"A09": 1} and sink.report.accepted == 2
        with pytest.raises(InputError, match=r"must start with source_id, person and include 'created_at' \(unknown: colour\)"):
            Sink(store, conn, "bad", "Asia/Shanghai").records("ticket", [("T3", "A01", 1, "red")],
                                                               fields=("source_id", "person", "created_at", "colour"))
    with raw(store_url) as conn:
        got = conn.execute(sa.text("SELECT source, source_id, person_ref, employee_id, at, created_at, priority, "
                                   "reopens, channel FROM rec_ticket ORDER BY source_id, source")).all()
    assert [tuple(r) for r in got] == [
        ("by_dict", "T1", "A01", "E001", 1_790_000_000, 1_790_000_000, "urgent", 2, None),
        ("by_tuple", "T1", "A01", "E001", 1_790_000_000, 1_790_000_000, "urgent", 2, None),
        ("by_dict", "T2", "A09", None, 1_790_000_600, 1_790_000_600, None, None, None),
        ("by_tuple", "T2", "A09", None, 1_790_000_600, 1_790_000_600, None, None, None),
    ]


def test_a_replacing_pull_repeating_an_id_of_an_earlier_batch_keeps_the_later_row(store_url, monkeypatch):
    """Batches of two: T1 comes again in the third batch. PostgreSQL first inserts each staged
    batch plainly while the next is read; the repeat makes that fail, and that batch and the ones
    after are upserted — one row per id, the later values, on every backend."""
    from kpi.core import connectors
    monkeypatch.setattr(connectors, "BATCH", 2)
    fields = ("source_id", "person", "created_at", "reopens")
    rows = [("T1", "A01", 1_790_000_000, 1), ("T2", "A01", 1_790_000_060, 1), ("T3", "A02", 1_790_000_120, 1),
            ("T4", "A02", 1_790_000_180, 1), ("T1", "A02", 1_790_000_240, 7), ("T5", "A01", 1_790_000_300, 1),
            ("T6", "A01", 1_790_000_360, 1)]
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
        sink = connectors.Sink(store, conn, "helpdesk", "Asia/Shanghai")
        sink.records("ticket", rows, fields=fields)
        assert sink.report.accepted == 7 and sink.report.duplicates == 1
    got = ticket_rows(store_url)
    assert sorted(sid for _, sid in got) == ["T1", "T2", "T3", "T4", "T5", "T6"]
    assert (got[("helpdesk", "T1")]["reopens"], got[("helpdesk", "T1")]["employee_id"]) == (7, "E002")


def ticket_indexes(url: str) -> tuple:
    """rec_ticket's primary key, unique constraints and indexes as the database reports them."""
    engine = sa.create_engine(url)
    try:
        seen = sa.inspect(engine)
        return (tuple(seen.get_pk_constraint("rec_ticket")["constrained_columns"]),
                sorted((u["name"], tuple(u["column_names"])) for u in seen.get_unique_constraints("rec_ticket")),
                sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in seen.get_indexes("rec_ticket")))
    finally:
        engine.dispose()


def test_a_large_replacing_pull_of_the_tables_only_source_keeps_rows_and_indexes(store_url, monkeypatch):
    """Batches of four, a pull 'large' from four rows: on PostgreSQL the table's only source
    empties it with TRUNCATE and loads without its indexes, building them at the end. Every
    backend ends with the same rows (a repeated id within a batch and across batches: the later
    row), the same indexes as before, and a failed pull leaves the previous rows and indexes; with
    a second source in the table, a replacing pull leaves that source's rows."""
    from kpi.core import connectors
    from kpi.core.store import bulk_pg
    monkeypatch.setattr(connectors, "BATCH", 4)
    monkeypatch.setattr(bulk_pg, "BULK_ROWS", 4)
    rebuilt = []  # the pulls that loaded without indexes
    rebuild = bulk_pg.IndexesOff.rebuild
    monkeypatch.setattr(bulk_pg.IndexesOff, "rebuild", lambda self, source: rebuilt.append(source) or rebuild(self, source))
    bulk = store_url.startswith("postgresql")
    fields = ("source_id", "person", "created_at", "reopens")
    first = [(f"T{i}", "A01", 1_790_000_000 + 60 * i, 0) for i in range(1, 11)]
    again = [("T1", "A01", 1_790_000_000, 1), ("T2", "A01", 1_790_000_060, 1), ("T3", "A02", 1_790_000_120, 1),
             ("T3", "A02", 1_790_000_180, 5),  # repeated within the batch
             ("T4", "A01", 1_790_000_240, 1), ("T1", "A02", 1_790_000_300, 7),  # T1 again, a later batch
             ("T5", "A01", 1_790_000_360, 1), ("T6", "A01", 1_790_000_420, 1), ("T7", "A01", 1_790_000_480, 1)]
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.replace_roster(conn, "hr", PEOPLE)
    indexes = ticket_indexes(store_url)
    assert "source_id" in str(indexes) and "at" in str(indexes)

    def pull(rows, source="helpdesk"):
        with opened(store_url, BUILTIN_KINDS) as (store, conn):
            sink = connectors.Sink(store, conn, source, "Asia/Shanghai")
            sink.records("ticket", rows, fields=fields)
            return sink.report

    assert pull(first).accepted == 10
    report = pull(again)
    assert (report.accepted, report.duplicates) == (9, 2)
    got = ticket_rows(store_url)
    assert sorted(sid for _, sid in got) == ["T1", "T2", "T3", "T4", "T5", "T6", "T7"]
    assert (got[("helpdesk", "T1")]["reopens"], got[("helpdesk", "T1")]["employee_id"]) == (7, "E002")
    assert got[("helpdesk", "T3")]["reopens"] == 5
    assert ticket_indexes(store_url) == indexes
    assert rebuilt == (["helpdesk", "helpdesk"] if bulk else [])

    broken = first[:9] + [("T10", None, 1_790_000_600, 0)]  # a NULL person in the third batch
    with pytest.raises(Exception):
        pull(broken)
    assert ticket_rows(store_url) == got and ticket_indexes(store_url) == indexes

    pull([("M1", "A01", 1_790_000_000, 0)], source="mail")
    pull(first)  # not the table's only source now: its own rows are replaced, mail's stay
    assert sorted(ticket_rows(store_url)) == sorted([("helpdesk", f"T{i}") for i in range(1, 11)] + [("mail", "M1")])
    assert ticket_indexes(store_url) == indexes
    assert len(rebuilt) == (2 if bulk else 0)


def test_a_row_the_database_refuses_stops_the_pull_and_stores_nothing(store_url, monkeypatch):
    """A person left blank breaks the records' NOT NULL; on PostgreSQL the batch is COPY'd by a
    thread, whose error is raised in the pull as a StoreError naming the table and source."""
    from kpi.core import connectors
    monkeypatch.setattr(connectors, "BATCH", 2)
    fields = ("source_id", "person", "created_at")
    rows = [("T1", "A01", 1_790_000_000), ("T2", "A01", 1_790_000_060), ("T3", None, 1_790_000_120)]
    with pytest.raises(Exception) as failure:
        with opened(store_url, BUILTIN_KINDS) as (store, conn):
            connectors.Sink(store, conn, "helpdesk", "Asia/Shanghai").records("ticket", rows, fields=fields)
    if store_url.startswith("postgresql"):
        assert failure.type is StoreError and "rec_ticket records of 'helpdesk' failed" in str(failure.value)
        assert "person_ref" in str(failure.value)
    assert ticket_rows(store_url) == {}


def test_source_ids_differing_only_in_case_are_two_records(store_url):
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk", [ticket("T1"), ticket("t1", priority="urgent")], replace=False)
    rows = ticket_rows(store_url)
    assert set(rows) == {("helpdesk", "T1"), ("helpdesk", "t1")}
    assert (rows[("helpdesk", "T1")]["priority"], rows[("helpdesk", "t1")]["priority"]) == ("normal", "urgent")


def test_replace_mode_replaces_only_that_sources_rows(store_url):
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk", [ticket("T1"), ticket("T2"), ticket("T3")], replace=True)
        store.write_records(conn, "ticket", "mail", [ticket("T1", source="mail")], replace=True)
    with opened(store_url, BUILTIN_KINDS) as (store, conn):
        store.write_records(conn, "ticket", "helpdesk", [ticket("T2", reopens=3), ticket("T4")], replace=True)
        assert store.count_records(conn, "ticket", "helpdesk") == 2
        assert store.count_records(conn, "ticket", "mail") == 1
    rows = ticket_rows(store_url)
    assert set(rows) == {("helpdesk", "T2"), ("helpdesk", "T4"), ("mail", "T1")}
    assert rows[("helpdesk", "T2")]["reopens"] == 3

    # A replacing write that fails leaves the source's previous rows (the caller's transaction).
    with pytest.raises(RuntimeError):
        with opened(store_url, BUILTIN_KINDS) as (store, conn):
            store.write_records(conn, "ticket", "helpdesk", [ticket("T9")], replace=True)
            raise RuntimeError("the file was cut off")
    assert set(ticket_rows(store_url)) == {("helpdesk", "T2"), ("helpdesk", "T4"), ("mail", "T1")}


# -- runs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_reference(tmp_path_factory):
    """The demo's scorecards and metric values on SQLite, the reference every backend must match."""
    site = demo_copy(tmp_path_factory.mktemp("reference"))
    outcome = run_demo(site)
    with opened(load_config(site).store_url) as (store, conn):
        return cards_of(store, conn, outcome.run_id), store.metric_values(conn, outcome.run_id)


def _metric_view(values: list[dict]) -> list[tuple]:
    out = []
    for v in values:
        evidence = json.loads(v["evidence"])
        out.append((v["employee_id"], v["metric"], v["value"], v["source"],
                    evidence.get("count"), len(evidence.get("records", []))))
    return out


def test_demo_gives_the_same_scorecards_on_every_backend(store_url, tmp_path, sqlite_reference):
    ref_cards, ref_values = sqlite_reference
    site = demo_copy(tmp_path, store_url)
    outcome = run_demo(site)
    with opened(store_url) as (store, conn):
        cards = cards_of(store, conn, outcome.run_id)
        values = store.metric_values(conn, outcome.run_id)
    assert len(cards) == 30
    summary = {e: (c["eligible"], c["total"], c["grade"], c["pay_amount"], c["flags"]) for e, c in cards.items()}
    ref_summary = {e: (c["eligible"], c["total"], c["grade"], c["pay_amount"], c["flags"]) for e, c in ref_cards.items()}
    assert summary == ref_summary
    # Exact decimals survive every backend: the same digits, not just the same value.
    assert {e: (str(s[1]), str(s[3])) for e, s in summary.items()} == \
           {e: (str(s[1]), str(s[3])) for e, s in ref_summary.items()}
    assert summary["E021"][1:4] == (Decimal("92"), "A", Decimal("360"))
    assert summary["E027"][1:4] == (Decimal("83.17"), "B", Decimal("240"))
    assert cards == ref_cards  # the full breakdown too
    assert _metric_view(values) == _metric_view(ref_values)


def test_rerun_keeps_the_earlier_run_in_history(store_url, tmp_path):
    site = demo_copy(tmp_path, store_url)
    first = run_demo(site)
    second = run_demo(site)
    assert second.run_id != first.run_id
    with opened(store_url) as (store, conn):
        runs = store.runs(conn, PERIOD)
        assert [(r["id"], r["status"], r["is_current"]) for r in runs] == [
            (first.run_id, "succeeded", False), (second.run_id, "succeeded", True)]
        assert store.current_run(conn, PERIOD)["id"] == second.run_id
        assert all(r["finished_at"] and r["error"] is None for r in runs)
        old, new = cards_of(store, conn, first.run_id), cards_of(store, conn, second.run_id)
        assert len(old) == 30 and old == new
        assert len(store.metric_values(conn, first.run_id)) == len(store.metric_values(conn, second.run_id)) > 0
    with raw(store_url) as conn:
        current = conn.execute(sa.text("SELECT id FROM runs WHERE period = :p AND is_current = :t"),
                               {"p": PERIOD, "t": True}).scalars().all()
    assert current == [second.run_id]


FAULT_PLUGIN = '''
"""Fault injection for test_store.py: fails the run at the start of the commit phase, or inside
the commit transaction at its last statement, after the run's metric values and scorecards are
inserted and the previous run is no longer marked current."""
import sqlalchemy as sa
from kpi.core import hookimpl

MODE = {mode!r}
SEEN = []
WRITTEN = []  # rows in metric_values and scorecards as the fault fired, uncommitted ones included


@hookimpl
def kpi_phase_started(run, phase):
    if phase != "commit":
        return
    if MODE == "phase":
        raise RuntimeError("injected fault as the commit began")
    fired = []

    @sa.event.listens_for(run.store.engine, "before_cursor_execute")
    def fail_late(conn, cursor, statement, parameters, context, executemany):
        text = " ".join(statement.split()).lower()
        SEEN.append(" ".join(text.split()[:3]))
        if not fired and text.startswith("update runs set") and "report" in text:
            fired.append(1)
            for table in ("metric_values", "scorecards"):  # COPY (PostgreSQL) is not a statement event
                cursor.execute(f"SELECT count(*) FROM {{table}}")
                WRITTEN.append(cursor.fetchone()[0])
            raise RuntimeError("injected fault inside the commit transaction")
'''


@pytest.mark.parametrize("mode", ["phase", "transaction"])
def test_failed_commit_leaves_the_previous_run_current(store_url, tmp_path, mode):
    site = demo_copy(tmp_path, store_url)
    original = site.read_text(encoding="utf-8")
    first = run_demo(site)
    with opened(store_url) as (store, conn):
        before = cards_of(store, conn, first.run_id)
        values_before = store.metric_values(conn, first.run_id)

    name = add_plugin(site, FAULT_PLUGIN.format(mode=mode))
    with pytest.raises(KpiError) as err:
        run_demo(site)
    assert "failed in commit" in str(err.value) and "previous results are unchanged" in str(err.value)
    if mode == "transaction":
        # The fault came late: the transaction had already written the run's results.
        assert sys.modules[name].WRITTEN == [2 * len(values_before), 2 * len(before)]
        assert "update runs set" in sys.modules[name].SEEN

    with opened(store_url) as (store, conn):
        runs = store.runs(conn, PERIOD)
        assert len(runs) == 2
        ok, failed = runs
        assert (ok["id"], ok["status"], ok["is_current"]) == (first.run_id, "succeeded", True)
        assert (failed["status"], failed["is_current"]) == ("failed", False)
        assert failed["finished_at"] is not None
        assert failed["error"].startswith("failed in commit: ")
        assert "injected fault" in failed["error"]
        assert store.current_run(conn, PERIOD)["id"] == first.run_id
        assert cards_of(store, conn, first.run_id) == before
        assert store.metric_values(conn, first.run_id) == values_before
        assert store.scorecards(conn, failed["id"]) == [] and store.metric_values(conn, failed["id"]) == []

    if mode == "transaction":
        # The store is not wedged: the next clean run succeeds and becomes current.
        site.write_text(original, encoding="utf-8")
        third = run_demo(site)
        with opened(store_url) as (store, conn):
            assert store.current_run(conn, PERIOD)["id"] == third.run_id
            assert [r["status"] for r in store.runs(conn, PERIOD)] == ["succeeded", "failed", "succeeded"]
            assert cards_of(store, conn, third.run_id) == before
