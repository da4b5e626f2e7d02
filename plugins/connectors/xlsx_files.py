"""Excel workbooks (.xlsx): rosters, source records and per-employee metric values, read like the
csv connector reads a CSV — same column mapping, kinds and bad-row handling — from one worksheet.

Options (``use = "xlsx"``; needs openpyxl: ``pip install 'kpi[xlsx]'``):

- ``path``, ``kind``, ``columns``, ``ids``, ``metrics``, ``id_from``, ``identity``, ``value_map``,
  ``on_error``: as for the csv connector.
- ``sheet``: the worksheet's name (default: the first sheet).
- ``header_row``: the row holding the headers (default 1); rows above it (a title, a date line)
  are skipped.

Cells Excel has already typed are read as what they are: a date cell is that day (or that local
time, for a date-time field), a number formatted as a percentage is on the 0–100 scale (0.95 shown
as 95% reads as 95), whole numbers have no ".0". Formulas are read as the values Excel last saved
with them. A bad row is named ``file[sheet]:row`` with its column, as a CSV's is ``file:line``.
"""

from __future__ import annotations

import zipfile
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from kpi.core import hookimpl
from kpi.core.errors import InputError, PluginError
from kpi.core.options import Option

from .tabular import PROGRESS_EVERY, TABULAR_OPTIONS, Cells, Reader, load, source_file

SHEET_OPTIONS = {
    "sheet": Option("str", help="the worksheet's name (default: the first sheet)"),
    "header_row": Option("int", default=1, help="the row holding the headers; rows above it are skipped"),
}


def require_openpyxl(connector: str):
    try:
        import openpyxl
    except ImportError:
        raise PluginError(f"connector {connector!r} reads Excel files with openpyxl, which is not installed; "
                          "install it with: pip install 'kpi[xlsx]'") from None
    return openpyxl


def cell_text(value: Any, number_format: str | None = "General") -> str:
    """A typed spreadsheet cell as the text the shared value parsers read the same way as a CSV's."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)  # Excel stores fractions of days
        return value.strftime("%Y-%m-%d") if value.time() == time.min else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if "%" in (number_format or ""):
            number *= 100  # Excel keeps 95% as 0.95
        return format(number.normalize(), "f")
    return str(value)


@contextmanager
def open_sheet(path: Path, sheet: str | None, header_row: int, connector: str,
               on_row=lambda n, total: None) -> Iterator[tuple[str, list[str], Iterator[Cells]]]:
    """Yield a worksheet's title, its headers and its non-blank rows below them as text cells."""
    openpyxl = require_openpyxl(connector)
    if header_row < 1:
        raise InputError(f"connector {connector!r}: header_row must be 1 or more, not {header_row}")
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not readable as an Excel .xlsx workbook ({type(exc).__name__}: {exc}); "
                         "an old .xls file must be saved as .xlsx first") from None
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise InputError(f"{path}: no sheet named {sheet!r}; its sheets are "
                             f"{', '.join(map(repr, book.sheetnames))}")
        total = ws.max_row or 0
        ws.reset_dimensions()  # exporters often write a wrong size; read what is there
        rows = ws.iter_rows()
        header_cells = None
        for n, row in enumerate(rows, 1):
            if n == header_row:
                header_cells = row
                break
        if header_cells is None:
            raise InputError(f"{path}[{ws.title}]: the sheet has no row {header_row} to read headers from; "
                             "set header_row on the connector")
        headers = [cell_text(c.value).strip() for c in header_cells]

        def cells() -> Iterator[Cells]:
            for n, row in enumerate(rows, header_row + 1):
                if n % PROGRESS_EVERY == 0:
                    on_row(n, total)
                texts = [cell_text(c.value, getattr(c, "number_format", None)) for c in row]
                if all(not t.strip() for t in texts):
                    continue  # blank rows are not records
                yield Cells(n, {h: t for h, t in zip(headers, texts) if h})
            on_row(total, total)
        yield ws.title, headers, cells()
    finally:
        book.close()


class XlsxConnector:
    options = {**TABULAR_OPTIONS, **SHEET_OPTIONS}

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        self.roster = options["kind"] == "employee"
        require_openpyxl(name)

    def pull(self, period, sink) -> None:
        path = source_file(self.opts["path"], self.name, sink)
        header_row = self.opts["header_row"]
        with open_sheet(path, self.opts["sheet"], header_row, self.name, sink.progress) as (title, headers, rows):
            reader = Reader(str(path), self.opts, self.site.timezone, sink, sheet=title, header_row=header_row)
            load(reader, headers, rows, sink.store.kinds)


@hookimpl
def kpi_register_connectors(register):
    register("xlsx", XlsxConnector)
