"""Upgrades from older store schemas. Each step takes a connection inside the upgrade's transaction
and moves the schema from version N-1 to N without dropping data. A store newer than this code is
refused, never touched.

On SQLite and PostgreSQL the whole upgrade is one transaction: a failing step leaves the store as it
was. MariaDB/MySQL commit every DDL statement at once, so there each finished step records its
version before the next one starts: a failure leaves the store at the last complete version, and
opening it again resumes from there. Write each step so that it either completes or changes nothing
(one DDL statement, or statements that can run again).
"""

from __future__ import annotations

from typing import Callable, Iterable

from sqlalchemy import Connection, Table, inspect

from ..errors import StoreError
from . import schema as s


def _exact_ids(conn: Connection) -> None:
    """Schema 2: ids compare byte for byte on MariaDB/MySQL (elsewhere they already did)."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        return
    insp = inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    for table in insp.get_table_names():
        if table != "employees" and not table.startswith("rec_") and table not in s.metadata.tables:
            continue  # not kpi's
        for col in insp.get_columns(table):
            length = s.EXACT_ID_COLUMNS.get(col["name"])
            if length is None or getattr(col["type"], "length", None) != length:
                continue  # an integer row id, or not an id column
            null = "NULL" if col["nullable"] else "NOT NULL"
            conn.exec_driver_sql(f"ALTER TABLE {quote(table)} MODIFY {quote(col['name'])} VARCHAR({length}) "
                                 f"CHARACTER SET utf8mb4 COLLATE {s.BINARY_COLLATION} {null}")


def _ledger_keys(conn: Connection) -> None:
    """Schema 3: the export ledger records idempotency keys, corrections and failures. Each column is
    added only if missing, so on MariaDB (where each ALTER commits) a step cut short can run again."""
    have = {c["name"] for c in inspect(conn).get_columns("export_ledger")}
    quote = conn.dialect.identifier_preparer.quote
    for name, sql_type in (("idempotency_key", "VARCHAR(64)"), ("kind", "VARCHAR(16)"), ("error", "TEXT")):
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE export_ledger ADD COLUMN {quote(name)} {sql_type}")


def _workflow_tables(conn: Connection) -> None:
    """Schema 4: the audit log, adjustments and appeals, new tables (created only if missing)."""
    s.metadata.create_all(conn, tables=[s.audit_log, s.adjustments, s.appeals])


# version reached -> step; a new schema version adds its step here and bumps schema.SCHEMA_VERSION.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _exact_ids, 3: _ledger_keys, 4: _workflow_tables}


def add_record_columns(conn: Connection, tables: Iterable[Table]) -> list[str]:
    """Fields a record kind gained since its table was made (a newer kpi, an upgraded plugin) become
    columns, nullable and empty: the existing rows are kept as they were. This is not a schema
    version, as the kinds come from plugins; it runs on every open and adds only what is missing,
    one ALTER per column, so a pass cut short on MariaDB (where each ALTER commits) is finished on
    the next open. Returns the columns added, as table.column."""
    insp = inspect(conn)
    quote = conn.dialect.identifier_preparer.quote
    existing = set(insp.get_table_names())
    added = []
    for table in tables:
        if table.name not in existing:
            continue
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                continue
            if not col.nullable:
                raise StoreError(f"the store's table {table.name} has no column {col.name}, which cannot be added to "
                                 "existing rows: it may not be empty. A record kind's fields are columns that may be empty")
            conn.exec_driver_sql(f"ALTER TABLE {quote(table.name)} ADD COLUMN {quote(col.name)} "
                                 f"{col.type.compile(dialect=conn.dialect)}")
            added.append(f"{table.name}.{col.name}")
    return added
