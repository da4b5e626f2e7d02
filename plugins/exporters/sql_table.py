"""Results into a table of another database (an HR data warehouse, a payroll system's staging
table), given by a SQLAlchemy URL. One row per site, period and employee: a correction replaces the
row, never adds one, so the table always holds the period's current results.

| option | meaning |
|---|---|
| `url` | the database, e.g. `postgresql+psycopg://kpi@hr-db/hr` (no password in it) |
| `password` | `"${ENV_NAME}"`: the password, from the environment |
| `table` | the table (default `kpi_results`), created if missing |

Columns: site, period, employee_id, name, role, total, grade, pay_percent, pay_amount, currency,
flags, run_id, exported_at. Rows go in one transaction; the ledger records them after it commits,
so a crash in between only means the same rows are written again."""

from __future__ import annotations

import time

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, String, Table, Text, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from kpi.core import hookimpl
from kpi.core.errors import KpiError
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option
from kpi.core.store.schema import ExactDecimal
from kpi.core.store.store import upsert

KEY = ("site", "period", "employee_id")


def results_table(name: str) -> Table:
    return Table(
        name, MetaData(),
        Column("site", String(200), primary_key=True),
        Column("period", String(32), primary_key=True),
        Column("employee_id", String(64), primary_key=True),
        Column("name", String(200), nullable=False),
        Column("role", String(64), nullable=False),
        Column("eligible", Boolean, nullable=False),
        Column("total", ExactDecimal),  # exact on every backend (SQLite has no decimal type: text there)
        Column("grade", String(32)),
        Column("pay_percent", ExactDecimal),
        Column("pay_amount", ExactDecimal),
        Column("currency", String(8)),
        Column("flags", Text, nullable=False),
        Column("run_id", Integer, nullable=False),
        Column("exported_at", BigInteger, nullable=False),
    )


class SqlTable:
    options = {
        "url": Option("str", required=True, help="a SQLAlchemy URL of the target database, without a password"),
        "password": Option("str", secret=True, help="the database password, as \"${ENV_NAME}\""),
        "table": Option("str", default="kpi_results", help="the table, created if missing"),
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        try:
            url = make_url(options["url"])
        except ArgumentError as exc:
            raise KpiError(f"exporter {name!r}: url is not a database URL ({exc}); e.g. "
                           "postgresql+psycopg://user@host/db") from None
        if url.password:
            raise KpiError(f"exporter {name!r}: url has a password in it; give it as password = \"${{ENV_NAME}}\"")
        self.url = url.set(password=options["password"].reveal()) if options.get("password") else url
        self.shown = url.render_as_string(hide_password=True)

    def payload(self, card, result: RunResult) -> dict:
        return {"site": self.site.name, "period": card.period, "employee_id": card.employee_id, "name": card.name,
                "role": card.role, "eligible": card.eligible, "total": card.total, "grade": card.grade,
                "pay_percent": card.pay.percent if card.pay else None,
                "pay_amount": card.pay.amount if card.pay else None,
                "currency": card.pay.currency if card.pay else None,
                "flags": ", ".join(f.code for f in card.flags)}

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        destination = f"{self.shown} table {self.opts['table']}"
        report = ExportReport(self.name, destination)
        payloads = {c.employee_id: self.payload(c, result) for c in result.scorecards}
        todo, report.unchanged = ledger.plan(payloads, destination)
        report.delivered = [d.employee_id for d in todo]
        if ledger.dry_run or not todo:
            return report
        table = results_table(self.opts["table"])
        now = int(time.time())
        rows = [dict(d.payload, run_id=result.run_id, exported_at=now) for d in todo]
        try:
            engine = create_engine(self.url)
        except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
            raise KpiError(f"exporter {self.name!r}: cannot use {self.shown}: {exc}") from None
        try:
            with engine.begin() as conn:
                table.create(conn, checkfirst=True)
                upsert(conn, table, rows, KEY)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            if self.opts.get("password"):
                reason = reason.replace(self.opts["password"].reveal(), "***")
            raise KpiError(f"exporter {self.name!r}: writing to {destination} failed: {reason}; nothing was "
                           "written there, and `kpi export` tries again") from None
        finally:
            engine.dispose()
        ledger.delivered(todo, destination)
        return report


@hookimpl
def kpi_register_exporters(register):
    register("sql_table", SqlTable)
