"""Opening, upgrading and writing the store. SQLAlchemy Core only: rows are tuples and dicts, never
ORM objects (see PERFORMANCE.md: ORM rows cost 5x Core on a large month)."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, inspect, select, update
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from ..errors import StoreError
from ..models import Employee, MetricValue, Period
from ..records import RecordKind
from . import schema as s
from .migrations import MIGRATIONS, add_record_columns

STORE_FILE = "kpi.sqlite"


def default_store_url(config_dir: Path) -> str:
    return f"sqlite:///{(config_dir / STORE_FILE).resolve()}"


def _engine(url: str) -> Engine:
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"store url is not usable: {exc}. Examples: sqlite:///kpi.sqlite, "
                         "postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db") from None
    except ModuleNotFoundError as exc:
        extra = {"postgresql": "postgres", "mysql": "mysql"}.get(url.split("+")[0].split(":")[0], "")
        hint = f" Install it with: pip install 'kpi[{extra}]'" if extra else ""
        raise StoreError(f"the database driver for the store is not installed ({exc.name}).{hint}") from None
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Python's sqlite3 would BEGIN only before DML, so DDL (a schema upgrade) committed at
            # once; with its own transaction handling off, SQLAlchemy's BEGIN below covers both.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the one writer
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN")
    elif engine.dialect.name in ("mysql", "mariadb"):
        @event.listens_for(engine, "connect")
        def _mysql_session(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("SET SESSION group_concat_max_len = 16777216")  # evidence id lists
            cur.close()
    return engine


def upsert(conn: Connection, table, rows: list[dict], keys: tuple[str, ...]) -> None:
    """Insert rows, replacing any row with the same key: the same source record fetched twice is one row."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        mod = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        stmt = mod.insert(table)
        others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and not c.primary_key}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=others) if others else stmt.on_conflict_do_nothing()
    elif dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table)
        others = {c.name: stmt.inserted[c.name] for c in table.columns if c.name not in keys and not c.primary_key}
        stmt = stmt.on_duplicate_key_update(others or {keys[0]: stmt.inserted[keys[0]]})
    else:  # portable fallback: delete then insert, one key at a time
        for row in rows:
            conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
        conn.execute(insert(table), rows)
        return
    conn.execute(stmt, rows)


class Store:
    """A kpi store at a SQLAlchemy URL. `open` creates a new store, upgrades an older one, and
    refuses one made by a newer kpi."""

    def __init__(self, engine: Engine, kinds: Iterable[RecordKind]):
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self.metadata = s.metadata
        self.kinds = {k.name: k for k in kinds}
        self.record_tables = {name: s.record_table(self.metadata, k) for name, k in self.kinds.items()}

    @classmethod
    def open(cls, url: str, kinds: Iterable[RecordKind] = ()) -> "Store":
        store = cls(_engine(url), kinds)
        try:
            store._prepare()
        except OperationalError as exc:
            raise StoreError(f"cannot open the store at {store.url}: {exc.orig}") from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    # -- schema -------------------------------------------------------------------------------
    def schema_version(self, conn: Connection) -> int | None:
        if not inspect(conn).has_table("kpi_meta"):
            return None
        row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema_version")).first()
        return int(row[0]) if row else None

    def _prepare(self) -> None:
        with self.engine.connect() as conn:  # commits below; leaving the block otherwise rolls back
            found = self.schema_version(conn)
            if found is None:
                existing = set(inspect(conn).get_table_names()) & {t.name for t in s.metadata.sorted_tables}
                if existing:
                    raise StoreError(
                        f"the database at {self.url} has tables named like kpi's ({', '.join(sorted(existing))}) "
                        "but no kpi_meta table: it is not a kpi store. Point store.url at an empty database.")
                s.metadata.create_all(conn)
                conn.execute(insert(s.meta), [{"key": "schema_version", "value": str(s.SCHEMA_VERSION)}])
                conn.commit()
                return
            if found > s.SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self.url} has schema version {found}, made by a newer kpi than this one "
                    f"(which knows up to {s.SCHEMA_VERSION}). Upgrade kpi; the store was not changed.")
            self._upgrade(conn, found)
            # Tables for record kinds that plugins added since the store was made, and columns for
            # fields that kinds gained.
            s.metadata.create_all(conn, tables=list(self.record_tables.values()))
            add_record_columns(conn, self.record_tables.values())
            conn.commit()

    def _upgrade(self, conn: Connection, found: int) -> None:
        steps = range(found + 1, s.SCHEMA_VERSION + 1)
        missing = [v for v in steps if v not in MIGRATIONS]
        if missing:  # refused before any step runs
            raise StoreError(f"no upgrade from store schema {missing[0] - 1} to {missing[0]}; the store was not changed")
        # MariaDB/MySQL commit DDL at once: there each step is committed with its version, so a
        # failure leaves a store at a known version that resumes; elsewhere it is all or nothing.
        ddl_commits = conn.dialect.name in ("mysql", "mariadb")
        for version in steps:
            try:
                MIGRATIONS[version](conn)
            except Exception as exc:
                left = version - 1 if ddl_commits else found
                raise StoreError(
                    f"upgrading the store at {self.url} from schema {version - 1} to {version} failed: "
                    f"{type(exc).__name__}: {exc}. The store is at schema {left}, with its data; it is "
                    "upgraded from there when opened again after the cause is fixed") from exc
            conn.execute(update(s.meta).where(s.meta.c.key == "schema_version").values(value=str(version)))
            if ddl_commits:
                conn.commit()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # -- employees ----------------------------------------------------------------------------
    def replace_roster(self, conn: Connection, source: str, people: list[Employee]) -> None:
        """The roster from `source` is a snapshot: it replaces what that source gave before."""
        old_ids = [r[0] for r in conn.execute(select(s.employees.c.id).where(s.employees.c.source == source))]
        new_ids = [e.id for e in people]
        for chunk in _chunks(list(set(old_ids) | set(new_ids)), 500):
            conn.execute(delete(s.employee_ids).where(s.employee_ids.c.employee_id.in_(chunk)))
            conn.execute(delete(s.employees).where(s.employees.c.id.in_(chunk)))
        if not people:
            return
        conn.execute(insert(s.employees), [
            {"id": e.id, "name": e.name, "role": e.role, "team": e.team, "department": e.department,
             "hire_date": e.hire_date, "leave_date": e.leave_date, "probation_end": e.probation_end,
             "external_ids": json.dumps(e.external_ids, ensure_ascii=False, sort_keys=True), "source": source}
            for e in people])
        id_rows = [{"system": "employee", "external_id": e.id, "employee_id": e.id} for e in people]
        id_rows += [{"system": system, "external_id": ext, "employee_id": e.id}
                    for e in people for system, ext in e.external_ids.items() if ext]
        conn.execute(insert(s.employee_ids), id_rows)

    def employees(self, conn: Connection) -> list[Employee]:
        rows = conn.execute(select(s.employees).order_by(s.employees.c.id)).mappings()
        return [Employee(id=r["id"], name=r["name"], role=r["role"], team=r["team"], department=r["department"],
                         hire_date=r["hire_date"], leave_date=r["leave_date"], probation_end=r["probation_end"],
                         external_ids=json.loads(r["external_ids"])) for r in rows]

    def identity_map(self, conn: Connection, system: str) -> dict[str, str]:
        t = s.employee_ids
        return {ext: emp for ext, emp in conn.execute(select(t.c.external_id, t.c.employee_id).where(t.c.system == system))}

    # -- records ------------------------------------------------------------------------------
    def write_records(self, conn: Connection, kind: str, source: str, rows: list[dict], *, replace: bool) -> None:
        """Write one source's records of a kind. `replace` treats the rows as the source's whole
        content (a file export); otherwise they are upserted by source id (an incremental API)."""
        table = self.record_tables[kind]
        if replace:
            conn.execute(delete(table).where(table.c.source == source))
        for chunk in _chunks(rows, 20_000):
            upsert(conn, table, chunk, ("source", "source_id"))

    def count_records(self, conn: Connection, kind: str, source: str) -> int:
        table = self.record_tables[kind]
        return conn.execute(select(func.count()).select_from(table).where(table.c.source == source)).scalar_one()

    def records_in_window(self, conn: Connection, kind: str, lo: int, hi: int) -> int:
        table = self.record_tables[kind]
        return conn.execute(select(func.count()).select_from(table).where(table.c.at >= lo, table.c.at < hi)).scalar_one()

    def write_input_metrics(self, conn: Connection, source: str, rows: list[dict], *, replace_periods: set[str]) -> None:
        t = s.input_metric_values
        for period in replace_periods:
            conn.execute(delete(t).where(t.c.source == source, t.c.period == period))
        for chunk in _chunks(rows, 20_000):
            upsert(conn, t, chunk, ("source", "period", "employee_id", "metric"))

    def connector_state(self, conn: Connection, connector: str) -> dict[str, str]:
        t = s.connector_state
        return {k: v for k, v in conn.execute(select(t.c.key, t.c.value).where(t.c.connector == connector))}

    def save_connector_state(self, conn: Connection, connector: str, state: dict[str, str]) -> None:
        upsert(conn, s.connector_state, [{"connector": connector, "key": k, "value": v} for k, v in state.items()],
               ("connector", "key"))

    # -- periods and runs ---------------------------------------------------------------------
    def ensure_period(self, conn: Connection, period: Period) -> None:
        """The period's row, keeping its status (a run does not unlock or un-review a period)."""
        values = {"start": period.start, "end": period.end, "cycle": period.cycle, "timezone": period.timezone}
        t = s.periods
        if conn.execute(select(t.c.label).where(t.c.label == period.label)).first() is None:
            conn.execute(insert(t).values(label=period.label, status="draft", **values))
        else:
            conn.execute(update(t).where(t.c.label == period.label).values(**values))

    def start_run(self, period: Period, *, site: str, config_hash: str, scheme_id: str, scheme_version: str,
                  plugins: list[dict]) -> int:
        """Record a run as running, in its own committed transaction, so a killed run leaves a trace."""
        with self.engine.begin() as conn:
            self.ensure_period(conn, period)
            stale = (s.runs.c.period == period.label) & (s.runs.c.status == "running")
            result = conn.execute(insert(s.runs).values(
                period=period.label, status="running", is_current=False, started_at=int(time.time()), site=site,
                config_hash=config_hash, scheme_id=scheme_id, scheme_version=scheme_version,
                plugins=json.dumps(plugins, ensure_ascii=False)))
            run_id = result.inserted_primary_key[0]
            conn.execute(update(s.runs).where(stale, s.runs.c.id != run_id).values(
                status="failed", finished_at=int(time.time()),
                error=f"interrupted: still marked running when run {run_id} started"))
        return run_id

    def fail_run(self, run_id: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(
                status="failed", finished_at=int(time.time()), error=error))

    def save_results(self, conn: Connection, run_id: int, period: str, values: list[MetricValue],
                     cards: list[dict], report: dict[str, Any]) -> None:
        """Store a run's metric values and scorecards and make it the period's current run. The
        caller's transaction makes this all-or-nothing."""
        for chunk in _chunks([{"run_id": run_id, "employee_id": v.employee_id, "metric": v.metric, "value": v.value,
                               "source": v.source, "evidence": json.dumps(v.evidence, ensure_ascii=False)}
                              for v in values], 20_000):
            conn.execute(insert(s.metric_values), chunk)
        for chunk in _chunks([{"run_id": run_id, "period": period, **c} for c in cards], 5_000):
            conn.execute(insert(s.scorecards), chunk)
        conn.execute(update(s.runs).where(s.runs.c.period == period, s.runs.c.is_current.is_(True))
                     .values(is_current=False))
        conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(
            status="succeeded", is_current=True, finished_at=int(time.time()),
            report=json.dumps(report, ensure_ascii=False, default=str)))

    def current_run(self, conn: Connection, period: str) -> dict | None:
        row = conn.execute(select(s.runs).where(s.runs.c.period == period, s.runs.c.is_current.is_(True))).mappings().first()
        return dict(row) if row else None

    def runs(self, conn: Connection, period: str | None = None) -> list[dict]:
        q = select(s.runs).order_by(s.runs.c.id)
        if period:
            q = q.where(s.runs.c.period == period)
        return [dict(r) for r in conn.execute(q).mappings()]

    def period_totals(self, conn: Connection, period: str) -> list[tuple[str, bool, Any]] | None:
        """(employee id, eligible, total) of the period's current run; None if it has none."""
        run = self.current_run(conn, period)
        if run is None:
            return None
        t = s.scorecards
        q = select(t.c.employee_id, t.c.eligible, t.c.total).where(t.c.run_id == run["id"]).order_by(t.c.employee_id)
        return [(emp, bool(eligible), total) for emp, eligible, total in conn.execute(q)]

    def scorecards(self, conn: Connection, run_id: int) -> list[dict]:
        q = select(s.scorecards).where(s.scorecards.c.run_id == run_id).order_by(s.scorecards.c.employee_id)
        return [dict(r) for r in conn.execute(q).mappings()]

    def metric_values(self, conn: Connection, run_id: int) -> list[dict]:
        t = s.metric_values
        q = select(t).where(t.c.run_id == run_id).order_by(t.c.employee_id, t.c.metric)
        return [dict(r) for r in conn.execute(q).mappings()]

    # -- export ledger ------------------------------------------------------------------------
    def record_exports(self, conn: Connection, rows: list[dict]) -> None:
        if rows:
            conn.execute(insert(s.export_ledger), rows)

    def ledger(self, conn: Connection, exporter: str, period: str) -> list[dict]:
        t = s.export_ledger
        q = select(t).where(t.c.exporter == exporter, t.c.period == period).order_by(t.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
