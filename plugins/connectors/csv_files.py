"""CSV files: rosters, source records and per-employee metric values, in UTF-8 (with or without a
BOM) or GB18030/GBK, with the column names mapped in the config."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

from kpi.core import hookimpl
from kpi.core.errors import InputError
from kpi.core.options import Option

from .csv_worker import csv_failure, decode_failure
from .tabular import TABULAR_OPTIONS, CsvRows, Reader, load, source_file

SNIFF_BYTES = 1 << 20


def detect_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) if the first megabyte decodes as UTF-8, else GB18030 (a superset of GBK)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(head) == SNIFF_BYTES:  # a character cut by the sniff window
            return "utf-8-sig"
        return "gb18030"


class CsvConnector:
    options = {
        **TABULAR_OPTIONS,
        "encoding": Option("str", default="auto", help="auto, utf-8, utf-8-sig, gb18030 or gbk"),
        "delimiter": Option("str", default=",", help="the field separator"),
    }

    def __init__(self, name: str, options: dict, site):
        self.name = name
        self.opts = options
        self.site = site
        self.roster = options["kind"] == "employee"

    def pull(self, period, sink) -> None:
        path = source_file(self.opts["path"], self.name, sink)
        encoding = self.opts["encoding"]
        if encoding == "auto":
            encoding = detect_encoding(path)
        reader = Reader(str(path), self.opts, self.site.timezone, sink)
        size = path.stat().st_size
        try:
            with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as f:
                rows = csv.reader(f, delimiter=self.opts["delimiter"])
                try:
                    headers = [h.strip() for h in next(rows)]
                except StopIteration:
                    raise InputError(f"{path}: the file is empty; it needs a header row") from None
                cells = CsvRows(rows, headers, reader, lambda: sink.progress(raw.tell(), size),
                                source=(path, encoding, self.opts["delimiter"]),
                                on_bytes=lambda done: sink.progress(done, size))
                load(reader, headers, cells, sink.store.kinds)
                sink.progress(size, size)
        except UnicodeDecodeError as exc:
            raise InputError(decode_failure(path, encoding, exc)) from None
        except csv.Error as exc:
            raise InputError(csv_failure(path, rows.line_num, exc)) from None


@hookimpl
def kpi_register_connectors(register):
    register("csv", CsvConnector)
