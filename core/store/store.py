"""Opening, upgrading and writing the store. SQLAlchemy Core only: rows are tuples and dicts, never
ORM objects (see PERFORMANCE.md: ORM rows cost 5x Core on a large month)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, inspect, select, update
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError, SQLAlchemyError

from ..errors import StoreError
from ..models import Employee, MetricValue, Period
from ..records import RecordKind
from . import schema as s
from . import bulk_pg
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
    stmt = _upsert_statement(conn.dialect.name, table, keys)
    if stmt is None:  # portable fallback: delete then insert, one key at a time
        for row in rows:
            conn.execute(delete(table).where(*(table.c[k] == row[k] for k in keys)))
        conn.execute(insert(table), rows)
        return
    conn.execute(stmt, rows)


class RecordWriter:
    """Writes one source's records of one kind, a batch of tuples at a time, upserted by (source,
    source_id): a record fetched again replaces its row, and so does a later row with the same id
    in the same pull (the later wins). The bulk path of every pull, so it skips SQLAlchemy's
    per-row work (see PERFORMANCE.md): statements are compiled once, values go through the columns'
    bind processors only where a type has one (decimals, booleans, dates on SQLite), and rows go to
    the driver as plain tuples. A column blank in the whole batch is left out of the INSERT (it is
    NULL all the same, and binding it cost SQLite as much as the rest of the row) —

    - SQLite, MariaDB/MySQL: INSERT … ON CONFLICT / ON DUPLICATE KEY UPDATE, executemany;
    - PostgreSQL (psycopg), a replacing pull: each batch COPY'd straight into the table by a
      thread while the caller prepares the next (see _BatchCopy); the table's only source empties
      it with TRUNCATE and loads a large pull without its indexes (see bulk_pg), repeats found when
      the unique index is built again. After a batch repeating an id (of its own or an earlier
      batch's), and for an incremental pull: COPY into a temporary table (dropped at commit),
      then one INSERT … SELECT … ON CONFLICT DO UPDATE per batch, run by the server while the
      caller goes on. Duplicates within a batch are collapsed first there (PostgreSQL will not
      update a row twice in one statement), keeping the first position and the later values.
    """

    COMMON = ("source", "employee_id", "at", "source_id", "person_ref")  # given for every row
    ID = 3  # source_id's position in a row

    def __init__(self, conn: Connection, table, kind: RecordKind, source: str, *, replace: bool,
                 fields: Sequence[str] | None = None):
        self.conn = conn
        self.table = table
        self.source = source
        self.columns = [*self.COMMON, *(fields if fields is not None else (f.name for f in kind.fields))]
        dialect = conn.dialect
        self._dialect = dialect
        self._processors = _bind_processors(table, self.columns, dialect)
        self._statements: dict[tuple[int, ...], tuple[str, Any]] = {}
        self._copy = _copies(dialect)
        self._in_flight = False  # PostgreSQL: a batch's insert still running on the server
        self._copying: _BatchCopy | None = None  # PostgreSQL: a batch a thread is COPYing into the table
        self._direct = replace  # PostgreSQL: batches go straight into the table until an id repeats
        self._upsert = None if self._copy else _upsert_statement(dialect.name, table, ("source", "source_id"))
        quote = dialect.identifier_preparer.quote
        self._table_name = quote(table.name)
        self._sole = False  # PostgreSQL, replacing: the source is the table's only one (see bulk_pg)
        self._indexes_off: bulk_pg.IndexesOff | None = None
        if replace:
            self._sole = self._copy and bulk_pg.sole_source(conn, self._table_name, source)
            if self._sole:
                conn.exec_driver_sql(f"TRUNCATE {self._table_name}")
            else:
                conn.execute(delete(table).where(table.c.source == source))
        if self._copy:
            cols = ", ".join(quote(c) for c in self.columns)
            self._stage = quote(f"kpi_stage_{table.name}")
            conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {self._stage} ON COMMIT DROP AS "
                                 f"SELECT {cols} FROM {self._table_name} WITH NO DATA")
            self._merge = (f"INSERT INTO {self._table_name} ({cols}) SELECT {cols} FROM {self._stage} "
                           f"ON CONFLICT (source, source_id) DO UPDATE SET "
                           + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in self.columns if c not in ("source", "source_id")))

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        if self._upsert is None and not self._copy:  # another database: upsert()'s portable way
            upsert(self.conn, self.table, [dict(zip(self.columns, r)) for r in rows], ("source", "source_id"))
            return
        rows = _bound(rows, self._processors)
        sql, pick = self._statement(self._present(rows))
        if pick is not None:
            rows = list(map(pick, rows))
        if not self._copy:
            self.conn.exec_driver_sql(sql, rows)
            return
        self._wait()  # the connection is free once the previous batch is in the table
        if self._sole:  # decided on the first batch: a large pull loads without the indexes
            self._sole = False
            if len(rows) >= bulk_pg.BULK_ROWS:
                self._indexes_off = bulk_pg.IndexesOff(self.conn, self._table_name)
        if self._direct:
            direct = f"COPY {self._table_name}" + sql[len(f"COPY {self._stage}"):]
            self._copying = _BatchCopy(self.conn.connection.driver_connection, direct, rows, sql)
        else:
            self._stage_and_merge(sql, rows)

    def _stage_and_merge(self, sql: str, rows: list[tuple]) -> None:
        """COPY the batch into the stage, and start the upsert from there on the server: the caller
        reads and parses the next batch meanwhile; finish() waits for it."""
        by_key = {r[self.ID]: r for r in rows}  # the source is the writer's own; ON CONFLICT updates a row once
        if len(by_key) != len(rows):
            rows = list(by_key.values())
        _copy_rows(self.conn.connection.driver_connection, sql, rows)
        self.conn.connection.driver_connection.pgconn.send_query(f"{self._merge}; TRUNCATE {self._stage}".encode())
        self._in_flight = True

    def finish(self) -> None:
        """Wait until every batch written is in the table (on PostgreSQL the last one is still
        going in while the caller goes on) and its indexes are built; an error of the database's
        is raised here."""
        self._wait()
        indexes, self._indexes_off = self._indexes_off, None
        if indexes is not None:
            indexes.rebuild(self.source)

    def abandon(self) -> None:
        """After an error: wait for the batch in flight only (the transaction is rolled back)."""
        self._indexes_off = None
        self._wait()

    def _wait(self) -> None:
        """Wait for the batch in flight. A batch repeating an id of an earlier batch is not COPY'd
        into the table (its savepoint undoes it): it is upserted through the stage, as are the
        batches after it."""
        copying, self._copying = self._copying, None
        if copying is not None:
            try:
                written = copying.wait()
            except Exception as exc:
                raise StoreError(f"writing {self.table.name} records of {self.source!r} failed: {exc}") from exc
            if not written:
                self._direct = False  # ids repeat across batches: upsert from here on
                self._stage_and_merge(copying.staged_sql, copying.rows)
        if not self._in_flight:
            return
        self._in_flight = False
        import psycopg
        pgconn = self.conn.connection.driver_connection.pgconn
        failed = None
        while (result := pgconn.get_result()) is not None:
            if result.status == psycopg.pq.ExecStatus.FATAL_ERROR and failed is None:
                failed = result
        if failed is not None:
            error = psycopg.errors.error_from_result(failed, encoding=pgconn.parameter_status(b"client_encoding").decode())
            raise StoreError(f"writing {self.table.name} records of {self.source!r} failed: {error}") from error

    def _present(self, rows: list[tuple]) -> tuple[int, ...]:
        """The columns with a value in some row of the batch."""
        first, n = rows[0], len(rows)
        return tuple(i for i in range(len(self.columns))
                     if i < len(self.COMMON) or first[i] is not None or list(map(itemgetter(i), rows)).count(None) != n)

    def _statement(self, present: tuple[int, ...]) -> tuple[str, Any]:
        """The SQL for a batch with values in the `present` columns, and row -> its parameters
        (None: the row as it is)."""
        found = self._statements.get(present)
        if found is not None:
            return found
        names = [self.columns[i] for i in present]
        quote = self._dialect.identifier_preparer.quote
        if self._copy or self._dialect.name == "sqlite":  # the SQL in the rows' own order: no reordering
            cols = ", ".join(map(quote, names))
            if self._copy:
                sql = f"COPY {self._stage} ({cols}) FROM STDIN"
            else:
                others = [c.name for c in self.table.columns if c.name not in ("source", "source_id") and not c.primary_key]
                sql = (f"INSERT INTO {self._table_name} ({cols}) VALUES ({', '.join('?' * len(names))}) "
                       f"ON CONFLICT (source, source_id) DO UPDATE SET "
                       + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in others))
            pick = None if present == tuple(range(len(self.columns))) else itemgetter(*present)
            found = self._statements[present] = (sql, pick)
            return found
        compiled = self._upsert.compile(dialect=self._dialect, column_keys=names)
        sql = compiled.string
        if not compiled.positional:  # a named paramstyle: a dict per row
            pairs = list(zip(names, present))
            found = self._statements[present] = (sql, lambda r: {name: r[i] for name, i in pairs})
            return found
        order = [present[names.index(name)] for name in compiled.positiontup]
        pick = itemgetter(*order) if len(order) > 1 else (lambda r, i=order[0]: (r[i],))
        found = self._statements[present] = (sql, pick)
        return found


class _BatchCopy:
    """One batch COPY'd straight into its table by a thread, in a savepoint, while the caller
    prepares the next batch (PostgreSQL). Straight in is the server's least work per row (no
    stage), and the thread waits for the server in its place: parsing, formatting and the
    server's insert overlap. The caller uses the connection again only after wait()."""

    def __init__(self, dbapi_conn, sql: str, rows: list[tuple], staged_sql: str):
        self.rows, self.staged_sql = rows, staged_sql
        self.repeated = False  # an id of the batch was in the table already: nothing written
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._copy, args=(dbapi_conn, sql), name="kpi copy", daemon=True)
        self._thread.start()

    def _copy(self, dbapi_conn, sql: str) -> None:
        import psycopg
        try:
            dbapi_conn.execute("SAVEPOINT kpi_batch")
            try:
                _copy_rows(dbapi_conn, sql, self.rows)
            except psycopg.errors.UniqueViolation:
                dbapi_conn.execute("ROLLBACK TO SAVEPOINT kpi_batch")
                self.repeated = True
            dbapi_conn.execute("RELEASE SAVEPOINT kpi_batch")
        except Exception as exc:  # raised in the caller's thread by wait()
            self.error = exc

    def wait(self) -> bool:
        """True once the batch is in the table; False if it repeated an id (nothing written)."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return not self.repeated


def insert_rows(conn: Connection, table, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """A plain INSERT of many rows given as tuples in `columns` order: compiled once per table and
    columns, bound through the columns' processors, sent to the driver's executemany (PostgreSQL: COPY)."""
    if not rows:
        return
    dialect = conn.dialect
    key = (table.name, columns, dialect.name)
    found = _INSERTS.get(key)
    if found is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        processors = _bind_processors(table, columns, dialect)
        if compiled.positional:
            order = [columns.index(name) for name in compiled.positiontup]
            pick = itemgetter(*order) if len(order) > 1 else (lambda r, i=order[0]: (r[i],))
        else:
            pick = lambda r: dict(zip(columns, r))  # noqa: E731
        found = _INSERTS[key] = (compiled.string, processors, pick)
    sql, processors, pick = found
    rows = _bound(rows, processors)
    if _copies(dialect):
        # COPY: psycopg's executemany sends a statement per row (100,000 metric values cost seconds).
        quote = dialect.identifier_preparer.quote
        _copy_rows(conn.connection.driver_connection,
                   f"COPY {quote(table.name)} ({', '.join(map(quote, columns))}) FROM STDIN", rows)
        return
    conn.exec_driver_sql(sql, list(map(pick, rows)))


def _copies(dialect) -> bool:
    """Bulk writes go by COPY: PostgreSQL through psycopg 3."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _copy_rows(dbapi_conn, sql: str, rows) -> None:
    """Rows as tuples through `COPY … FROM STDIN` on a psycopg connection."""
    with dbapi_conn.cursor() as cur:
        with cur.copy(sql) as copy:
            for r in rows:
                copy.write_row(r)


def _bind_processors(table, columns, dialect) -> list[tuple[int, Any]]:
    """(position, the column type's bind processor) for the columns whose type has one."""
    return [(i, p) for i, name in enumerate(columns)
            if (p := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]


def _bound(rows: list[tuple], processors: list[tuple[int, Any]]) -> list[tuple]:
    """The rows with each value put through its column's bind processor (decimals, booleans, dates)."""
    if not processors:
        return rows
    out = []
    for r in rows:
        r = list(r)
        for i, process in processors:
            r[i] = process(r[i])
        out.append(tuple(r))
    return out


_INSERTS: dict[tuple, tuple] = {}
_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps with options makes an encoder per call


def _upsert_statement(dialect: str, table, keys: tuple[str, ...]):
    """INSERT … that replaces the row with the same key, for SQLite, PostgreSQL and MariaDB/MySQL."""
    if dialect in ("sqlite", "postgresql"):
        mod = __import__(f"sqlalchemy.dialects.{dialect}", fromlist=["insert"])
        stmt = mod.insert(table)
        others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys and not c.primary_key}
        return stmt.on_conflict_do_update(index_elements=list(keys), set_=others) if others else stmt.on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(table)
        others = {c.name: stmt.inserted[c.name] for c in table.columns if c.name not in keys and not c.primary_key}
        return stmt.on_duplicate_key_update(others or {keys[0]: stmt.inserted[keys[0]]})
    return None


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
        insert_rows(conn, s.employees, ("id", "name", "role", "team", "department", "hire_date", "leave_date",
                                        "probation_end", "external_ids", "source"), [
            (e.id, e.name, e.role, e.team, e.department, e.hire_date, e.leave_date, e.probation_end,
             json.dumps(e.external_ids, ensure_ascii=False, sort_keys=True), source) for e in people])
        id_rows = [("employee", e.id, e.id) for e in people]
        id_rows += [(system, ext, e.id) for e in people for system, ext in e.external_ids.items() if ext]
        insert_rows(conn, s.employee_ids, ("system", "external_id", "employee_id"), id_rows)

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
        writer = self.record_writer(conn, kind, source, replace=replace)
        for chunk in _chunks(rows, 20_000):
            writer.write([tuple(map(row.get, writer.columns)) for row in chunk])
        writer.finish()

    def record_writer(self, conn: Connection, kind: str, source: str, *, replace: bool,
                      fields: Sequence[str] | None = None) -> "RecordWriter":
        """A writer of one source's records of a kind, in batches of tuples (the bulk path; see
        RecordWriter): `RecordWriter.COMMON` then `fields` (default: all the kind's). `replace`
        deletes the source's rows of that kind first."""
        return RecordWriter(conn, self.record_tables[kind], self.kinds[kind], source, replace=replace, fields=fields)

    def delete_records(self, conn: Connection, kind: str, source: str, source_ids: list[str]) -> int:
        """Remove one source's records of a kind by source id; returns how many there were."""
        table = self.record_tables[kind]
        removed = 0
        for chunk in _chunks(source_ids, 500):
            removed += conn.execute(delete(table).where(table.c.source == source, table.c.source_id.in_(chunk))).rowcount
        return removed

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
    @contextmanager
    def run_lock(self, period: str) -> Iterator["RunLock"]:
        """Hold the store's lock on running `period` for the block: a second `kpi run` of the same
        period, in any process on any machine using this store, raises RunInProgress saying whose
        run it is and since when, instead of pulling and scoring alongside it.

        The lock is a row in kpi_meta (key run_lock:PERIOD) naming the holder: process id, host,
        the process's start time, since when and, once started, the run. A row whose process is
        gone is stale — a run killed with SIGKILL leaves one — and the next run takes it over. On
        PostgreSQL and MariaDB/MySQL the holder also keeps a session lock (pg_advisory_lock,
        GET_LOCK) on a connection of its own for the block: the server drops it when the holder's
        connection dies, so a lock from a dead process on another machine is recognised too. On
        SQLite the holder's process is looked up on this machine (a store file is not shared
        between machines)."""
        key = RUN_LOCK_PREFIX + period
        holder = {"pid": os.getpid(), "host": _HOST, "start": _process_start(os.getpid()), "since": int(time.time()),
                  "token": uuid.uuid4().hex[:12]}
        session = self._session_lock(period, key)
        try:
            value = json.dumps(holder, sort_keys=True)
            for attempt in range(100):
                try:
                    with self.engine.begin() as conn:
                        row = conn.execute(select(s.meta.c.value).where(s.meta.c.key == key)).first()
                        if row is not None:
                            other = _holder(row[0])
                            # With the session lock held, a row is a dead holder's; otherwise ask its process.
                            if session is None and _holder_alive(other) is not False:
                                raise RunInProgress(_in_progress(period, other, key, ask_process=True))
                            conn.execute(delete(s.meta).where(s.meta.c.key == key, s.meta.c.value == row[0]))
                        conn.execute(insert(s.meta).values(key=key, value=value))
                    break
                except IntegrityError:  # another run wrote its row between our look and our insert
                    continue
                except OperationalError:  # SQLite: our read is older than another's write; look again
                    if self.engine.dialect.name != "sqlite" or attempt == 99:
                        raise
                    time.sleep(0.02)
            _HELD.add(holder["token"])
        except BaseException:
            self._session_unlock(session, period)
            raise
        lock = RunLock(self, key, holder, value)
        try:
            yield lock
        finally:
            _HELD.discard(holder["token"])
            try:
                with self.engine.begin() as conn:
                    conn.execute(delete(s.meta).where(s.meta.c.key == key, s.meta.c.value == lock.value))
            except SQLAlchemyError:
                pass  # the row is stale once this process ends (or, here, once the token is gone)
            self._session_unlock(session, period)

    def _session_lock(self, period: str, key: str) -> Connection | None:
        """PostgreSQL, MariaDB/MySQL: a connection holding the server's lock on the period, or
        RunInProgress. A holder killed a moment ago may still have its session on the server: a
        few seconds are given for the server to notice."""
        dialect = self.engine.dialect.name
        if dialect not in ("postgresql", "mysql", "mariadb"):
            return None
        session = self.engine.connect()
        try:
            deadline = time.monotonic() + STALE_SESSION_GRACE
            while True:
                if dialect == "postgresql":
                    got = session.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": _lock_number(period)}).scalar()
                else:
                    got = session.exec_driver_sql("SELECT GET_LOCK(%s, 0)", (_lock_name(session, period),)).scalar() == 1
                session.commit()
                if got:
                    return session
                row = session.execute(select(s.meta.c.value).where(s.meta.c.key == key)).first()
                session.commit()
                other = _holder(row[0]) if row else {}
                if other and _holder_alive(other) is False and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                raise RunInProgress(_in_progress(period, other, key, ask_process=False))
        except BaseException:
            session.close()
            raise

    def _session_unlock(self, session: Connection | None, period: str) -> None:
        if session is None:
            return
        try:
            if self.engine.dialect.name == "postgresql":
                session.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": _lock_number(period)})
            else:
                session.exec_driver_sql("SELECT RELEASE_LOCK(%s)", (_lock_name(session, period),))
            session.commit()
            session.close()
        except SQLAlchemyError:
            session.invalidate()  # closing the server connection releases the lock
            session.close()

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

    def save_results(self, conn: Connection, run_id: int, period: str, cards: Iterable[dict],
                     report: dict[str, Any]) -> None:
        """Store a run's scorecards and make it the period's current run, in the caller's
        transaction, which holds its metric values too (save_metric_values): all or nothing.
        `cards` may be a generator: rows are made and written a chunk at a time, so a large run does
        not hold them all."""
        columns = ("run_id", "period", "employee_id", "eligible", "total", "grade", "pay_amount", "flags", "breakdown")
        chunk: list[tuple] = []
        for c in cards:
            chunk.append((run_id, period, c["employee_id"], c["eligible"], c["total"], c["grade"], c["pay_amount"],
                          c["flags"], c["breakdown"]))
            if len(chunk) == 500:
                insert_rows(conn, s.scorecards, columns, chunk)
                chunk = []
        insert_rows(conn, s.scorecards, columns, chunk)
        conn.execute(update(s.runs).where(s.runs.c.period == period, s.runs.c.is_current.is_(True))
                     .values(is_current=False))
        conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(
            status="succeeded", is_current=True, finished_at=int(time.time()),
            report=json.dumps(report, ensure_ascii=False, default=str)))

    def save_metric_values(self, conn: Connection, run_id: int, values: list[MetricValue]) -> None:
        """A run's metric values with their evidence; current only once save_results commits with them."""
        insert_rows(conn, s.metric_values, ("run_id", "employee_id", "metric", "value", "source", "evidence"),
                    [(run_id, v.employee_id, v.metric, v.value, v.source, _to_json(v.evidence)) for v in values])

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
        """Ledger rows (dicts with the same keys): a payroll file records one per employee."""
        if rows:
            columns = tuple(rows[0])
            insert_rows(conn, s.export_ledger, columns, [tuple(r[c] for c in columns) for r in rows])

    def ledger(self, conn: Connection, exporter: str, period: str) -> list[dict]:
        t = s.export_ledger
        q = select(t).where(t.c.exporter == exporter, t.c.period == period).order_by(t.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]


RUN_LOCK_PREFIX = "run_lock:"
STALE_SESSION_GRACE = 10.0  # seconds the server may take to drop a killed holder's session lock
_HOST = socket.gethostname().encode("ascii", "replace").decode()[:60]
_HELD: set[str] = set()  # tokens of the run locks this process holds


class RunInProgress(StoreError):
    """Another run of the same period holds the store's run lock."""


class RunLock:
    """A held run lock (Store.run_lock); `running` names the run in it once the run has an id."""

    def __init__(self, store: Store, key: str, holder: dict, value: str):
        self.store, self.key, self.holder, self.value = store, key, holder, value

    def running(self, run_id: int) -> None:
        value = json.dumps({**self.holder, "run": run_id}, sort_keys=True)
        with self.store.engine.begin() as conn:
            conn.execute(update(s.meta).where(s.meta.c.key == self.key, s.meta.c.value == self.value).values(value=value))
        self.value = value


def _holder(value: str) -> dict:
    try:
        found = json.loads(value)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _in_progress(period: str, holder: dict, key: str, *, ask_process: bool) -> str:
    if not holder:
        return f"another run of {period} is starting; try again when it finishes"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    who = f"run {holder['run']}" if holder.get("run") else "a run"
    text = (f"{who} of {period} is in progress since {since} (process {holder.get('pid')} on "
            f"{holder.get('host')}); try again when it finishes")
    if ask_process and _holder_alive(holder) is None:
        text += (f". If that run is no longer going (its machine was switched off), remove its lock: "
                 f"DELETE FROM kpi_meta WHERE key = '{key}'")
    return text


def _holder_alive(holder: dict) -> bool | None:
    """Whether a lock's holding process is running; None when it is on another machine (an
    unreadable holder is not running)."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return False
    if holder.get("host") != _HOST:
        return None
    if pid == os.getpid():
        return holder.get("token") in _HELD  # this process: only while it holds it
    if not _pid_running(pid):
        return False
    start = holder.get("start")
    return start is None or _process_start(pid) in (None, start)  # not a new process with a reused id


def _pid_running(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end it on Windows
        import ctypes
        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not yet reaped (a zombie) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux), to tell it from a later one with its id."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _lock_number(period: str) -> int:
    """PostgreSQL's advisory lock key for a period (locks are per database there)."""
    return int.from_bytes(hashlib.sha256(f"kpi-run:{period}".encode()).digest()[:8], "big", signed=True)


def _lock_name(conn: Connection, period: str) -> str:
    """MariaDB/MySQL's lock name for a period: GET_LOCK names are per server, so the database is in it."""
    database = conn.exec_driver_sql("SELECT DATABASE()").scalar() or ""
    return "kpi-run-" + hashlib.sha256(f"{database}\0{period}".encode()).hexdigest()[:40]


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
