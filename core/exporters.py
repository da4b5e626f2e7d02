"""What an exporter is to the core, and the ledger that keeps an export from being sent twice.

An exporter class declares its ``options``, is built as ``Exporter(name, options, site)`` and
implements ``export(result, ledger)``. For each employee it asks the ledger what was last delivered
(a hash of the payload) and records what it delivers now."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .models import Employee, Period
from .options import Option
from .scoring import Scorecard


@dataclass
class RunResult:
    run_id: int
    period: Period
    site: Any  # the SiteConfig
    scheme: Any
    scorecards: list[Scorecard]
    employees: dict[str, Employee]


@dataclass
class ExportReport:
    exporter: str
    destination: str
    delivered: list[str] = field(default_factory=list)  # employee ids sent this time
    unchanged: list[str] = field(default_factory=list)  # already delivered with the same payload
    failed: dict[str, str] = field(default_factory=dict)  # employee id -> reason

    def to_dict(self) -> dict[str, Any]:
        return {"exporter": self.exporter, "destination": self.destination, "delivered": len(self.delivered),
                "unchanged": len(self.unchanged), "failed": self.failed}


class Exporter(Protocol):
    options: ClassVar[dict[str, Option]]

    def export(self, result: RunResult, ledger: "Ledger") -> ExportReport: ...


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


@dataclass
class Delivery:
    """One employee's payload to send. `key` is the idempotency key: the same exporter, period,
    employee and payload always give the same key, so a receiver that has seen it can ignore a
    resend. `kind` is "new", or "correction" when a different payload was delivered before
    (`previous`): the receiver replaces that one, it is never paid in addition."""

    employee_id: str
    payload: Any
    payload_hash: str
    key: str
    kind: str
    previous: dict | None = None


class Ledger:
    """The export ledger for one exporter and period: what was delivered to whom, so nothing is sent
    twice. An exporter asks `plan()` what to send, records `sending()` before each remote call
    (committed, so a kill mid-call leaves a trace), then `delivered()` or `failed()`. A delivery
    left "sending" by a killed export is planned again with the same key. In a dry run nothing is
    recorded and the exporter sends nothing: `plan()` is the answer."""

    def __init__(self, store, exporter: str, period: str, run_id: int, dry_run: bool = False):
        self.store = store
        self.exporter = exporter
        self.period = period
        self.run_id = run_id
        self.dry_run = dry_run
        self._load()

    def _load(self) -> None:
        with self.store.transaction() as conn:
            rows = self.store.ledger(conn, self.exporter, self.period)
        self._last = {r["employee_id"]: r for r in rows if r["status"] == "delivered"}
        self._pending = {r["employee_id"]: r for r in rows if r["status"] == "sending"
                         and r["id"] > self._last.get(r["employee_id"], {"id": -1})["id"]}
        self._stale = False

    def key(self, employee_id: str, digest: str) -> str:
        return hashlib.sha256(f"{self.exporter}\0{self.period}\0{employee_id}\0{digest}".encode()).hexdigest()[:40]

    def plan(self, payloads: dict[str, Any], destination: str) -> tuple[list[Delivery], list[str]]:
        """The deliveries to make (new, corrections, and resends of unfinished ones) and the
        employees whose payload was already delivered to this destination unchanged."""
        if self._stale:
            self._load()
        todo, unchanged = [], []
        for emp, payload in sorted(payloads.items()):
            digest = payload_hash(payload)
            last = self._last.get(emp)
            if last is not None and last["payload_hash"] == digest and last["destination"] == destination:
                unchanged.append(emp)
                continue
            kind = "new" if last is None or last["destination"] != destination else "correction"
            todo.append(Delivery(emp, payload, digest, self.key(emp, digest), kind, last))
        return todo, unchanged

    def pending(self, employee_id: str) -> dict | None:
        """A delivery of this employee's that a killed export left "sending": its outcome is unknown."""
        return self._pending.get(employee_id)

    def sending(self, deliveries: list[Delivery], destination: str) -> None:
        self._write(deliveries, destination, "sending")

    def delivered(self, deliveries: list[Delivery], destination: str, remote_ids: dict[str, str] | None = None) -> None:
        self._write(deliveries, destination, "delivered", remote_ids=remote_ids or {})

    def failed(self, delivery: Delivery, destination: str, reason: str) -> None:
        self._write([delivery], destination, "failed", error=reason)

    def _write(self, deliveries: list[Delivery], destination: str, status: str, remote_ids=None, error=None) -> None:
        if self.dry_run or not deliveries:
            return
        now = int(time.time())
        with self.store.transaction() as conn:
            for i in range(0, len(deliveries), 1_000):  # a file's 10,000 rows need not be built at once
                self.store.record_exports(conn, [
                    {"exporter": self.exporter, "period": self.period, "employee_id": d.employee_id,
                     "run_id": self.run_id, "payload_hash": d.payload_hash, "destination": destination,
                     "status": status, "sent_at": now, "remote_id": (remote_ids or {}).get(d.employee_id),
                     "idempotency_key": d.key, "kind": d.kind, "error": error} for d in deliveries[i:i + 1_000]])
        if status == "delivered":
            self._stale = True  # a later plan() reads what is now the last delivery of each
            for d in deliveries:
                self._pending.pop(d.employee_id, None)
