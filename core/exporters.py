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


class Ledger:
    """The export ledger for one exporter and period."""

    def __init__(self, store, exporter: str, period: str, run_id: int):
        self.store = store
        self.exporter = exporter
        self.period = period
        self.run_id = run_id
        with store.transaction() as conn:
            rows = store.ledger(conn, exporter, period)
        self._last = {r["employee_id"]: r for r in rows if r["status"] == "delivered"}

    def last_delivered(self, employee_id: str) -> dict | None:
        return self._last.get(employee_id)

    def record(self, deliveries: list[tuple[str, str, str, str | None]]) -> None:
        """Record deliveries as (employee id, payload hash, destination, remote id), atomically."""
        now = int(time.time())
        rows = [{"exporter": self.exporter, "period": self.period, "employee_id": emp, "run_id": self.run_id,
                 "payload_hash": h, "destination": dest, "remote_id": remote, "status": "delivered", "sent_at": now}
                for emp, h, dest, remote in deliveries]
        with self.store.transaction() as conn:
            self.store.record_exports(conn, rows)
        for row in rows:
            self._last[row["employee_id"]] = row
