"""What a connector is to the core, and the sink it writes into.

A connector class declares its ``options`` (see :mod:`kpi.core.options`), is built as
``Connector(name, options, site)`` and implements ``pull(period, sink)``. It hands the sink typed
rows; the sink checks them against the record kind, maps each person to an employee through the
roster, counts what it could not use, and writes to the store inside the connector's transaction —
so a connector that fails midway leaves nothing behind."""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import islice
from datetime import date, datetime, time
from typing import Any, ClassVar, Iterable, Protocol, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from .errors import InputError
from .models import Employee, Period
from .options import Option


BATCH = 20_000


class Connector(Protocol):
    options: ClassVar[dict[str, Option]]
    roster: bool  # True if it supplies the roster; such connectors run first

    def pull(self, period: Period, sink: "Sink") -> None: ...


@dataclass
class SourceReport:
    """What one connector brought in, for the run's data-quality report."""

    connector: str
    rows_read: int = 0
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)  # "file:line: reason"
    duplicates: int = 0
    removed: int = 0  # records stored before whose items the source has deleted since
    unmapped: Counter = field(default_factory=Counter)  # person id in the source -> records
    fingerprints: list[str] = field(default_factory=list)  # what the inputs were: a file's sha256, a cursor

    def to_dict(self) -> dict[str, Any]:
        return {"connector": self.connector, "rows_read": self.rows_read, "accepted": self.accepted,
                "rejected": len(self.rejected), "rejections": self.rejected[:200], "duplicates": self.duplicates,
                "removed": self.removed,
                "unmapped_ids": dict(sorted(self.unmapped.items())), "fingerprints": self.fingerprints}


class Sink:
    def __init__(self, store, conn: Connection, connector: str, timezone: str, replace: bool = True,
                 on_progress=lambda connector, done, total: None):
        self.store = store
        self.conn = conn
        self.connector = connector
        self.timezone = timezone
        self.replace = replace  # a file is the source's whole content; an incremental API is not
        self.report = SourceReport(connector)
        self._identity: dict[str, dict[str, str]] = {}
        self._written_kinds: set[str] = set()
        self._metric_periods: set[str] = set()
        self._on_progress = on_progress

    def progress(self, done: int, total: int) -> None:
        """Report how far the pull is (any unit: bytes of a file, pages of an API) for a progress bar."""
        self._on_progress(self.connector, done, total)

    def _map(self, system: str) -> dict[str, str]:
        if system not in self._identity:
            self._identity[system] = self.store.identity_map(self.conn, system)
        return self._identity[system]

    def roster(self, people: list[Employee]) -> None:
        ids = Counter(("employee", e.id) for e in people)
        ids.update((system, ext) for e in people for system, ext in e.external_ids.items() if ext)
        repeated = sorted(key for key, n in ids.items() if n > 1)
        if repeated:
            listed = ", ".join(f"{system} id {ext!r}" for system, ext in repeated[:10])
            raise InputError(f"connector {self.connector!r}: the roster gives {listed} to more than one row"
                             f"{f' (and {len(repeated) - 10} more)' if len(repeated) > 10 else ''}; "
                             "each employee once, each system id to one employee")
        self.store.replace_roster(self.conn, self.connector, people)
        self._identity.clear()
        self.report.accepted += len(people)

    def fingerprint(self, text: str) -> None:
        """Say what this pull read (a file's digest, an API window), for the run's record of its inputs."""
        self.report.fingerprints.append(text)

    def state(self) -> dict[str, str]:
        """What this connector saved on earlier pulls (a cursor, a bookmark)."""
        return self.store.connector_state(self.conn, self.connector)

    def save_state(self, values: dict[str, str]) -> None:
        """Save a cursor or bookmark in the pull's transaction: it is kept only if the pull's records are."""
        self.store.save_connector_state(self.conn, self.connector, values)

    def reject(self, where: str, reason: str) -> None:
        """Record a row the connector skipped (only when the site chose to skip bad rows)."""
        self.report.rejected.append(f"{where}: {reason}")

    def records(self, kind: str, rows: Iterable[dict[str, Any]] | Iterable[tuple], *, identity: str | None = None,
                fields: Sequence[str] | None = None) -> None:
        """Write records of `kind`, streamed in batches. Each row has ``source_id``, ``person`` (the
        person's id in the `identity` system, by default the kind's) and the kind's fields, typed.
        Rows are dicts; or, with `fields` (names starting with ``source_id``, ``person``), tuples of
        those fields' values in that order, source id and person as text — the bulk path, no dict per
        row; fields left out are blank."""
        record_kind = self.store.kinds.get(kind)
        if record_kind is None:
            raise InputError(f"connector {self.connector!r} produced records of unknown kind {kind!r}; "
                             f"known kinds: {', '.join(sorted(self.store.kinds))}")
        if self.replace and kind in self._written_kinds:
            raise InputError(f"connector {self.connector!r} wrote {kind} records twice in one pull; "
                             "hand the sink all of them in one call")
        time_name = record_kind.time_field
        if fields is None:
            fields = ("source_id", "person", *(f.name for f in record_kind.fields))
            names = fields[2:]
            rows = ((str(r["source_id"]), str(r["person"]), *map(r.get, names)) for r in rows)
        else:
            fields = tuple(fields)
            known = {f.name for f in record_kind.fields}
            unknown = [f for f in fields[2:] if f not in known]
            if fields[:2] != ("source_id", "person") or unknown or time_name not in fields:
                raise InputError(f"connector {self.connector!r}: {kind} records given as fields {list(fields)}; "
                                 f"they must start with source_id, person and include {time_name!r}"
                                 + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        tz = ZoneInfo(self.timezone)
        when_at = fields.index(time_name)
        days: dict[date, int] = {}  # a date's local midnight, worked out once per day

        def midnight(day: date) -> int:
            at = days.get(day)
            if at is None:
                at = days[day] = int(datetime.combine(day, time.min, tz).timestamp())
            return at
        at_of = midnight if record_kind.field(time_name).type == "date" else int
        source = self.connector
        person_of = self._map(identity or record_kind.identity).get
        writer = self.store.record_writer(self.conn, kind, source, replace=self.replace, fields=fields[2:])
        written = 0
        rows = iter(rows)
        try:
            # A batch at a time, as tuples in the writer's column order (see RecordWriter): a bulk
            # load is millions of rows, and a dict or SQLAlchemy parameter set per row costs more
            # than the row's own work.
            while chunk := list(islice(rows, BATCH)):
                batch = [(source, person_of(r[1]), at_of(r[when_at]), *r) for r in chunk]
                self.report.unmapped.update([r[4] for r in batch if r[1] is None])
                writer.write(batch)
                written += len(batch)
        except BaseException:
            with suppress(Exception):  # the connection free again for the rollback; the first error stands
                writer.abandon()
            raise
        writer.finish()  # the last batch may still be going in (PostgreSQL)
        self._written_kinds.add(kind)
        self.report.accepted += written
        if self.replace:
            # The same source id twice in one pull is one record (the later row wins, as a re-fetch would).
            self.report.duplicates += written - self.store.count_records(self.conn, kind, self.connector)

    def forget(self, kind: str, source_ids: Iterable[str]) -> None:
        """Remove this connector's records of `kind` with these source ids: items the source has
        deleted (an incremental API reports them) must stop counting. In the pull's transaction."""
        ids = sorted({str(i) for i in source_ids})
        if ids:
            self.report.removed += self.store.delete_records(self.conn, kind, self.connector, ids)

    def metric_values(self, rows: Iterable[dict[str, Any]], *, identity: str = "employee") -> None:
        """Per-employee metric values: rows with ``person``, ``period``, ``metric``, ``value`` and
        optionally ``source_ref`` (e.g. "qc.csv:12")."""
        ids = self._map(identity)
        out = []
        for row in rows:
            person = str(row["person"])
            employee = ids.get(person)
            if employee is None:
                self.report.unmapped[person] += 1
                continue
            out.append({"source": self.connector, "period": row["period"], "employee_id": employee,
                        "metric": row["metric"], "value": row["value"], "source_ref": row.get("source_ref", "")})
        periods = {r["period"] for r in out} if self.replace else set()
        self.store.write_input_metrics(self.conn, self.connector, out, replace_periods=periods - self._metric_periods)
        self._metric_periods |= periods
        self.report.accepted += len(out)


def local_day(day: date, tz: str) -> int:
    return int(datetime.combine(day, time.min, ZoneInfo(tz)).timestamp())
