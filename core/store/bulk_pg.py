"""PostgreSQL: loading a record table without its indexes.

A replacing pull that is the only source in its table empties it with TRUNCATE (a DELETE of last
month's two million rows would leave them all dead) and, once its batches turn out large, drops
the table's indexes and builds them again when the pull ends. Kept while loading, every index
costs the server a WAL record per row: measured with two million tickets, COPY into the table
with its three indexes took 15 s, COPY into the bare table 3-5 s and building the three after it
3.6 s. Everything here is in the run's transaction: a failed or killed run leaves the table, its
rows and its indexes as they were (other sessions wait for the table until the run commits).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ..errors import StoreError

BULK_ROWS = 10_000  # a first batch this large: the pull is worth loading without indexes


def sole_source(conn: Connection, table: str, source: str) -> bool:
    """The table holds no other source's rows (min/max come from the (source, source_id) index)."""
    lo, hi = conn.exec_driver_sql(f"SELECT min(source), max(source) FROM {table}").one()
    return lo is None or lo == hi == source


@dataclass
class _Index:
    name: str
    definition: str  # CREATE INDEX …, or a constraint's definition
    constraint: bool
    unique: bool


class IndexesOff:
    """The table's indexes and key constraints, dropped for a bulk load and built again by rebuild()."""

    def __init__(self, conn: Connection, table: str):
        self.conn, self.table = conn, table
        rows = conn.exec_driver_sql(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), quote_ident(c.conname), "
            "pg_get_constraintdef(c.oid), i.indisunique "
            "FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
            f"WHERE i.indrelid = '{table}'::regclass ORDER BY i.indisprimary DESC, i.indisunique DESC").all()
        self.indexes = [_Index(con or idx, condef if con else idxdef, con is not None, unique)
                        for idx, idxdef, con, condef, unique in rows]
        for ix in self.indexes:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {ix.name}" if ix.constraint
                                 else f"DROP INDEX {ix.name}")

    def rebuild(self, source: str) -> None:
        """Build the indexes again. Rows repeating a source id keep the later one (the earlier
        are deleted when the unique index is refused), as an upsert would."""
        conn = self.conn
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")  # each build one sort in memory
        for ix in self.indexes:
            create = (f"ALTER TABLE {self.table} ADD CONSTRAINT {ix.name} {ix.definition}" if ix.constraint
                      else ix.definition)
            if not ix.unique:
                conn.exec_driver_sql(create)
                continue
            conn.exec_driver_sql("SAVEPOINT kpi_index")
            try:
                conn.exec_driver_sql(create)
            except IntegrityError as exc:
                if getattr(exc.orig, "sqlstate", None) != "23505":  # not a unique_violation
                    raise StoreError(f"rebuilding index {ix.name} of {self.table} failed: {exc.orig}") from exc
                conn.exec_driver_sql("ROLLBACK TO SAVEPOINT kpi_index")
                self._drop_repeats(source)
                conn.exec_driver_sql(create)
            conn.exec_driver_sql("RELEASE SAVEPOINT kpi_index")

    def _drop_repeats(self, source: str) -> None:
        """Delete every row but the last (highest id: ids follow the load's order) of each source id."""
        self.conn.exec_driver_sql(
            f"DELETE FROM {self.table} a USING {self.table} b WHERE a.source = %(s)s AND b.source = %(s)s "
            "AND a.source_id = b.source_id AND a.id < b.id", {"s": source})
