"""The payroll CSV: one row per employee, UTF-8 with a BOM so Excel shows Chinese correctly, money
as exact decimals to the fen, written atomically."""

from __future__ import annotations

import csv
from pathlib import Path

from kpi.core import hookimpl
from kpi.core.errors import ConfigError, Problem
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option

from .files import COLUMNS, DEFAULT_COLUMNS, atomic_file, headers, payroll_row


class PayrollCsv:
    options = {
        "path": Option("str", default="payroll-{period}.csv",
                       help="file name; {period} is replaced; relative paths are under [output] dir"),
        "columns": Option("list", default=DEFAULT_COLUMNS, help=f"any of: {', '.join(COLUMNS)}"),
        "headers": Option("str", default="zh", choices=("zh", "en", "both")),
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        unknown = [c for c in options["columns"] if c not in COLUMNS]
        if unknown:
            raise ConfigError([Problem(site.file, f"exporter.{name}.columns",
                                       f"unknown column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}")])

    def destination(self, period: str) -> Path:
        path = Path(self.opts["path"].replace("{period}", period))
        return path if path.is_absolute() else self.site.output_dir / path

    def export(self, result: RunResult, ledger: Ledger) -> ExportReport:
        path = self.destination(result.period.label)
        columns = self.opts["columns"]
        report = ExportReport(self.name, str(path))
        rows = {card.employee_id: payroll_row(card, result, columns) for card in result.scorecards}
        todo, report.unchanged = ledger.plan({emp: dict(zip(columns, row)) for emp, row in rows.items()}, str(path))
        report.delivered = [d.employee_id for d in todo]
        if ledger.dry_run:
            return report
        # The file is the whole period, rewritten each time; the ledger says which rows are new or changed.
        with atomic_file(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(headers(columns, self.opts["headers"]))
            writer.writerows(rows[emp] for emp in sorted(rows))
        ledger.delivered(todo, str(path))
        return report


@hookimpl
def kpi_register_exporters(register):
    register("payroll_csv", PayrollCsv)
