"""Payroll files: one row per employee with the columns a site chooses and Chinese (or English)
headers, money as exact decimals to the fen, written atomically. `payroll_csv` writes UTF-8 with a
BOM, so Excel shows Chinese correctly; `payroll_xlsx` writes a workbook with numbers as numbers."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from kpi.core import hookimpl
from kpi.core.errors import ConfigError, PluginError, Problem
from kpi.core.exporters import ExportReport, Ledger, RunResult
from kpi.core.options import Option

from .files import COLUMNS, DEFAULT_COLUMNS, MONEY_COLUMNS, NUMBER_COLUMNS, atomic_file, headers, output_path, \
    payroll_row


class PayrollFile:
    """What every payroll file does; a format writes the header and rows to an open file."""

    suffix = ""
    options = {
        "path": Option("str", default="payroll-{period}", help="file name; {period} is replaced; relative paths "
                                                                "are under [output] dir (the format's suffix is added)"),
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
        path = output_path(self.opts["path"], period, self.site)
        return path if path.suffix else path.with_name(path.name + self.suffix)

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
        self.write(path, headers(columns, self.opts["headers"]), columns, [rows[emp] for emp in sorted(rows)])
        ledger.delivered(todo, str(path))
        return report

    def write(self, path: Path, header: list[str], columns: list[str], rows: list[list[str]]) -> None:
        raise NotImplementedError


class PayrollCsv(PayrollFile):
    suffix = ".csv"

    def write(self, path, header, columns, rows) -> None:
        with atomic_file(path, "w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)


class PayrollXlsx(PayrollFile):
    suffix = ".xlsx"

    def write(self, path, header, columns, rows) -> None:
        try:
            from openpyxl import Workbook
        except ImportError:
            raise PluginError(f"exporter {self.name!r} writes Excel files with openpyxl, which is not installed; "
                              "install it with: pip install 'kpi[xlsx]'") from None
        book = Workbook()
        sheet = book.active
        sheet.title = "payroll"
        sheet.append(header)
        for row in rows:
            # Numbers as numbers (exact: Excel stores what Decimal gives), so a payroll clerk can sum them.
            sheet.append([Decimal(v) if v != "" and c in NUMBER_COLUMNS else (v or None) for c, v in zip(columns, row)])
        for i, column in enumerate(columns, 1):
            if column in MONEY_COLUMNS:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = "0.00"
        sheet.freeze_panes = "A2"
        with atomic_file(path, "wb") as f:
            book.save(f)


@hookimpl
def kpi_register_exporters(register):
    register("payroll_csv", PayrollCsv)
    register("payroll_xlsx", PayrollXlsx)
