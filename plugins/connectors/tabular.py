"""Turning rows of text cells (from a CSV or a spreadsheet) into typed records, rosters or metric
values, with column mapping and errors that name the file, line and column. Shared by every
file-based connector so they read the same way."""

from __future__ import annotations

import csv
import hashlib
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from kpi.core.errors import InputError
from kpi.core.models import Employee
from kpi.core.options import Option
from kpi.core.records import Field
from kpi.core.values import FALSE_WORDS, PARSERS, TRUE_WORDS, ValueProblem, datetime_cache, parse_datetime

from . import csv_worker

_TEXT, _INT, _BOOL = PARSERS["text"], PARSERS["int"], PARSERS["bool"]

MAX_LISTED = 50  # bad rows listed in one error; the count says how many more
PROGRESS_EVERY = 10_000  # rows between progress reports

# Options every file-based connector takes, whatever the file format.
TABULAR_OPTIONS = {
    "path": Option("path", required=True, help="the file, relative to the config"),
    "kind": Option("str", required=True, help="employee, metric_value, or a record kind such as ticket"),
    "columns": Option("table", default={}, help="field = \"header in the file\" where they differ"),
    "ids": Option("table", default={}, help="for kind = employee: system = \"header\", e.g. helpdesk = \"坐席ID\""),
    "metrics": Option("table", default={}, help="for kind = metric_value in wide form: metric = \"header\""),
    "id_from": Option("list", default=[], help="headers whose values together identify a row, where the file has no id"),
    "identity": Option("str", help="the system whose ids the person column holds (default: the kind's)"),
    "value_map": Option("table", default={}, help="field = { \"迟到\" = \"late\" } to translate codes"),
    "on_error": Option("str", default="stop", choices=("stop", "skip"),
                       help="stop at bad rows (listing them all), or skip them with a report"),
}

EMPLOYEE_FIELDS = (
    Field("employee_id", "text", True), Field("name", "text", True), Field("role", "text", True),
    Field("team", "text"), Field("department", "text"), Field("hire_date", "date"), Field("leave_date", "date"),
    Field("probation_end", "date"),
)
METRIC_FIELDS = (Field("person", "text", True), Field("period", "text", True), Field("metric", "text", True),
                 Field("value", "decimal", True))
WIDE_METRIC_FIELDS = (Field("person", "text", True), Field("period", "text", True))


class Cells:
    """One row of a file: where it is, and its cells by header. A CSV row keeps the values as the
    csv reader gave them, with the file's headers (the same tuple for every row of the file), and
    makes the dict only if asked: Reader.typed reads them by position (a bulk load is millions of
    rows)."""

    __slots__ = ("line", "_cells", "values", "headers")

    def __init__(self, line: int, cells: dict[str, str] | None = None, *, values: list[str] | None = None,
                 headers: tuple[str, ...] | None = None):
        self.line = line
        self._cells = cells
        self.values = values
        self.headers = headers

    @property
    def cells(self) -> dict[str, str]:
        if self._cells is None:
            self._cells = dict(zip(self.headers, self.values))
        return self._cells

    def __repr__(self) -> str:
        return f"Cells({self.line}, {self.cells!r})"


class Reader:
    """Typed rows out of a file's rows, collecting bad rows instead of stopping at the first."""

    def __init__(self, file: str, options: dict[str, Any], timezone: str, sink, *, sheet: str | None = None,
                 header_row: int = 1):
        self.file = file
        self.options = options
        self.timezone = timezone
        self.sink = sink
        self.sheet = sheet  # a spreadsheet's worksheet: rows are then named file[sheet]:row
        self.header_row = header_row
        self.bad: list[str] = []
        self.lines_read = 0
        self._last_line = None

    def _header(self, field: str) -> str:
        return self.options["columns"].get(field, field)

    def where(self, line: int) -> str:
        return f"{self.file}[{self.sheet}]:{line}" if self.sheet is not None else f"{self.file}:{line}"

    def check_headers(self, headers: Iterable[str], fields: Iterable[Field], extra: Iterable[str] = ()) -> None:
        present = set(headers)
        wanted = [self._header(f.name) for f in fields if f.required] + list(extra)
        missing = [h for h in wanted if h not in present]
        if missing:
            place = (f"sheet {self.sheet!r}, row {self.header_row}" if self.sheet is not None
                     else f"line {self.header_row}")
            raise InputError(f"{self.file}: {place}: missing column(s) {', '.join(map(repr, missing))}; the header row "
                             f"has {', '.join(map(repr, headers))}. Rename the column or map it in the "
                             f"connector's columns table")

    def typed(self, rows: Iterable[Cells], fields: Iterable[Field]) -> Iterator[tuple[int, dict[str, Any]]]:
        tz = self.timezone
        plan = self._plan(fields)  # once per file: a bulk load reads millions of cells
        known, convert = None, None
        for row in rows:
            line = row.line
            if line != self._last_line:
                self.lines_read += 1
                self._last_line = line
            if row.headers is not known:  # a file's rows: its columns looked up once
                known = row.headers
                convert = None if known is None else _row_converter(plan, known, tz)
            if convert is None:
                out, problem = self._typed_cells(row.cells, plan, tz)
            else:
                out, problem = convert(row.values)
            if problem:
                self.problem(line, problem)
                continue
            yield line, out

    def records(self, rows: Iterable[Cells], fields: tuple[Field, ...]) -> tuple[tuple[str, ...], Iterator[tuple]]:
        """The bulk path of a records file: the names of the fields it has a column for (or every
        field, for rows that are not a CSV's) and its typed rows as tuples of those, in that order —
        what Sink.records takes without a dict per row."""
        if not isinstance(rows, CsvRows):
            names = tuple(f.name for f in fields)
            return names, (tuple(map(out.get, names)) for _, out in self.typed(rows, fields))
        present = [f for f in fields if f.required or self._header(f.name) in rows.headers]
        convert = _row_converter(self._plan(present), rows.headers, self.timezone, tuples=True)
        if convert is None:  # a required column is missing: each row says so
            return self.records(iter(rows), fields)
        names = tuple(f.name for f in present)
        if rows.source is not None and rows.source[0].stat().st_size >= csv_worker.PARALLEL_BYTES:
            return names, csv_worker.records(self, rows.source, rows.headers, self._spec(present), rows.on_bytes)
        return names, self._csv_records(rows, convert)

    def _csv_records(self, rows: "CsvRows", convert) -> Iterator[tuple]:
        """A CSV file's rows as tuples, parsed here (see csv_worker for a large file)."""
        read, next_report = 0, PROGRESS_EVERY
        try:
            for item in csv_worker.typed_rows(rows.rows, convert, len(rows.headers)):
                if item.__class__ is tuple:
                    read += 1
                    yield item
                else:
                    line, problem, counted = item
                    read += counted
                    self.problem(line, problem)
                if read >= next_report:
                    next_report += PROGRESS_EVERY
                    rows.report_progress()
        finally:
            self.lines_read += read

    def _spec(self, fields: Iterable[Field]) -> list[tuple]:
        """Per field: its name, header, value map, type and whether it is required (what a worker
        process is sent to parse a file the same way)."""
        value_map = self.options["value_map"]
        return [(f.name, self._header(f.name), value_map.get(f.name), f.type, f.required) for f in fields]

    def _plan(self, fields: Iterable[Field]) -> list[tuple]:
        """The converter's plan, once per file: _spec with each type's parser."""
        return plan_of(self._spec(fields))

    @staticmethod
    def _typed_cells(cells: dict[str, Any], plan: list, tz: str) -> tuple[dict[str, Any], str | None]:
        """One row's fields from its cells by header; (values, None) or (partial, the problem)."""
        out = {}
        for name, header, mapping, parse, required in plan:
            text = cells.get(header)
            if text is not None:
                if mapping is not None:
                    text = mapping.get(text.strip(), text)
                if text.__class__ is not str:
                    text = str(text)
            # As parse_value: blank is None, the rest parsed as the field's type.
            if text is None or not text.strip():
                if required:
                    return out, f"column {header!r}: is empty but required"
                out[name] = None
                continue
            try:
                out[name] = parse(text, tz)
            except ValueProblem as exc:
                return out, f"column {header!r}: {exc}"
        return out, None

    def problem(self, line: int, reason: str) -> None:
        where = self.where(line)
        if self.options["on_error"] == "skip":
            self.sink.reject(where, reason)
        else:
            self.bad.append(f"{where}: {reason}")

    def finish(self) -> None:
        """Raise once for all bad rows; the connector's transaction then writes nothing."""
        self.sink.report.rows_read += self.lines_read
        if self.bad:
            listed = "\n  ".join(self.bad[:MAX_LISTED])
            more = f"\n  … and {len(self.bad) - MAX_LISTED} more" if len(self.bad) > MAX_LISTED else ""
            raise InputError(f"{len(self.bad)} bad row(s); nothing from {self.file} was stored:\n  {listed}{more}\n"
                             "Fix the rows, or set on_error = \"skip\" on the connector to score without them "
                             "(they are listed in the run report).")


_SMALL_INTS = {str(n): n for n in range(1000)}  # most int cells (counts, minutes) without int()
_BOOL_WORDS = {**{w: True for w in TRUE_WORDS}, **{w: False for w in FALSE_WORDS}}


def plan_of(spec: list[tuple]) -> list[tuple]:
    """A field spec (see Reader._spec) with each type replaced by its parser: _row_converter's plan."""
    return [(name, header, mapping, PARSERS[kind], required) for name, header, mapping, kind, required in spec]


def _row_converter(plan: list, headers: tuple[str, ...], tz: str, *, tuples: bool = False):
    """For a file's rows as lists of text in `headers` order: a function doing what
    Reader._typed_cells does by header, compiled for the file's columns (a bulk load reads millions
    of rows; a loop over fields costs more than the parsing). It gives (fields, None) or (None, the
    problem); with `tuples`, the fields' values as a tuple in `plan` order, or the problem as a str,
    or None for a row without as many cells as the header (the caller says which).
    None when a required field has no column (then each row says so, as _typed_cells does).
    The generated code holds only positions; names, headers, parsers and maps are passed in."""
    position = {h: i for i, h in enumerate(headers)}  # a repeated header: the last one, as a dict keeps
    if any(required and header not in position for _, header, _, _, required in plan):
        return None
    minutes, sixty = datetime_cache(tz)
    env: dict[str, Any] = {"TZ": tz, "ValueProblem": ValueProblem, "MINUTES": minutes, "SIXTY": sixty,
                           "INTS": _SMALL_INTS, "BOOLS": _BOOL_WORDS}
    fail = (lambda text: f"return {text}") if tuples else (lambda text: f"return None, {text}")
    body = [f"    if len(values) != {len(headers)}:", "        return None"] if tuples else []
    items = []
    for n, (name, header, mapping, parse, required) in enumerate(plan):
        env[f"K{n}"], env[f"H{n}"], env[f"P{n}"], env[f"M{n}"] = name, header, parse, mapping
        env[f"R{n}"] = f"column {header!r}: is empty but required"
        items.append(f"v{n}" if tuples else f"K{n}: v{n}")
        if header not in position:
            body.append(f"    v{n} = None")
            continue
        body.append(f"    t = values[{position[header]}]")
        if mapping is not None:
            body += [f"    t = M{n}.get(t.strip(), t)", "    if t.__class__ is not str:", "        t = str(t)"]
        if parse is parse_datetime:  # the common form straight from the zone's cache of minutes
            body += ["    if len(t) == 19 and (m := MINUTES.get(t[:16])) is not None and t[16] == ':' "
                     "and (x := SIXTY.get(t[17:])) is not None:", f"        v{n} = m + x", "    elif s := t.strip():"]
        elif parse is _INT or parse is _BOOL:  # the common cells by lookup; the rest parsed
            table = "INTS" if parse is _INT else "BOOLS"
            body += [f"    if (x := {table}.get(t)) is not None:", f"        v{n} = x", "    elif s := t.strip():"]
        else:
            body += ["    s = t.strip()", "    if s:"]
        if parse is _TEXT:
            body.append(f"        v{n} = s")
        else:
            problem = f"f'column {{H{n}!r}}: {{exc}}'"
            body += ["        try:", f"            v{n} = P{n}(t, TZ)", "        except ValueProblem as exc:",
                     f"            {fail(problem)}"]
        body.append("    else:")
        body.append(f"        {fail(f'R{n}')}" if required else f"        v{n} = None")
    done = ("    return (" + ", ".join(items) + ",)\n") if tuples else ("    return {" + ", ".join(items) + "}, None\n")
    source = "def convert(values):\n" + "\n".join(body) + "\n" + done
    exec(compile(source, "<kpi row converter>", "exec"), env)  # noqa: S102 - code made above from positions only
    return env["convert"]


def load(reader: Reader, headers: list[str], rows: Iterable[Cells], store_kinds: dict) -> None:
    """Read one file's rows as the connector's kind and hand them to the sink."""
    kind = reader.options["kind"]
    sink = reader.sink
    if kind == "employee":
        ids = reader.options["ids"]
        reader.check_headers(headers, EMPLOYEE_FIELDS, ids.values())
        people = []
        for line, r in reader.typed(_with_ids(rows, ids), EMPLOYEE_FIELDS + tuple(Field(f"id:{s}", "text") for s in ids)):
            people.append(Employee(r["employee_id"], r["name"], r["role"], r["team"] or "", r["department"] or "",
                                   r["hire_date"], r["leave_date"], r["probation_end"],
                                   {s: r[f"id:{s}"] for s in ids if r[f"id:{s}"]}))
        reader.finish()
        sink.roster(people)
    elif kind == "metric_value":
        wide = reader.options["metrics"]
        fields = WIDE_METRIC_FIELDS if wide else METRIC_FIELDS
        reader.check_headers(headers, fields, wide.values())

        def values():
            for line, r in reader.typed(_long(rows, wide, reader), fields if not wide else METRIC_FIELDS):
                yield {**r, "source_ref": reader.where(line).rsplit('/', 1)[-1]}
        sink.metric_values(values(), identity=reader.options.get("identity") or "employee")
        reader.finish()
    else:
        record_kind = store_kinds.get(kind)
        if record_kind is None:
            raise InputError(f"{reader.file}: kind {kind!r} is not a record kind; known: employee, metric_value, "
                             f"{', '.join(sorted(store_kinds))}")
        fields = (Field("source_id", "text", True), Field("person", "text", True)) + record_kind.fields
        id_from = reader.options["id_from"]
        if id_from:
            reader.check_headers(headers, fields[1:], id_from)
            rows = _with_composite_id(rows, id_from, reader._header("source_id"))
        else:
            reader.check_headers(headers, fields)
        names, records = reader.records(rows, fields)
        sink.records(kind, records, identity=reader.options.get("identity"), fields=names)
        reader.finish()


def _with_composite_id(rows: Iterable[Cells], id_from: list[str], header: str) -> Iterator[Cells]:
    for row in rows:
        yield Cells(row.line, {**row.cells, header: "|".join(row.cells.get(h, "").strip() for h in id_from)})


def _with_ids(rows: Iterable[Cells], ids: dict[str, str]) -> Iterator[Cells]:
    for row in rows:
        yield Cells(row.line, {**row.cells, **{f"id:{s}": row.cells.get(h, "") for s, h in ids.items()}})


def _long(rows: Iterable[Cells], wide: dict[str, str], reader: Reader) -> Iterator[Cells]:
    """Wide metric sheets (one column per metric) as long rows; blank cells are no value."""
    if not wide:
        yield from rows
        return
    person_h, period_h = reader._header("person"), reader._header("period")
    for row in rows:
        for metric, header in wide.items():
            text = row.cells.get(header, "")
            if text.strip():
                yield Cells(row.line, {reader._header("person"): row.cells.get(person_h, ""),
                                       reader._header("period"): row.cells.get(period_h, ""),
                                       reader._header("metric"): metric, reader._header("value"): text})


SHEET_SUFFIXES = (".xlsx", ".xlsm")


def decode(path: Path, encoding: str = "auto") -> str:
    """A whole text file, in `encoding` or (auto) UTF-8 with or without a BOM, else GB18030."""
    from .csv_files import detect_encoding
    codec = detect_encoding(path) if encoding == "auto" else encoding
    try:
        return path.read_bytes().decode(codec)
    except LookupError:
        raise InputError(f"{path}: {codec!r} is not an encoding; use utf-8, utf-8-sig, gb18030 or gbk") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not readable as {codec} ({exc.reason} at byte {exc.start}); "
                         "save the file as UTF-8, or set encoding on the connector") from None


@contextmanager
def open_table(path: Path, options: dict[str, Any], timezone: str, sink,
               connector: str) -> Iterator[tuple[Reader, list[str], Iterator[Cells]]]:
    """A side file a connector reads whole (a leave list, a device export) — a CSV, or an Excel sheet
    by its suffix — as a Reader, its headers and its rows. `options` are the Reader's, plus
    optionally encoding and delimiter (CSV) or sheet and header_row (Excel)."""
    if path.suffix.lower() in SHEET_SUFFIXES:
        from .xlsx_files import open_sheet
        header_row = options.get("header_row") or 1
        with open_sheet(path, options.get("sheet"), header_row, connector) as (title, headers, rows):
            yield Reader(str(path), options, timezone, sink, sheet=title, header_row=header_row), headers, rows
        return
    rows = csv.reader(io.StringIO(decode(path, options.get("encoding") or "auto"), newline=""),
                      delimiter=options.get("delimiter") or ",")
    try:
        headers = [h.strip() for h in next(rows, [])]
        if not headers:
            raise InputError(f"{path}: the file is empty; it needs a header row")
        reader = Reader(str(path), options, timezone, sink)
        yield reader, headers, CsvRows(rows, headers, reader, lambda: None)
    except csv.Error as exc:
        raise InputError(csv_worker.csv_failure(path, rows.line_num, exc)) from None


class CsvRows:
    """The data rows of a csv.reader as Cells, each with its line; blank lines skipped, a row with
    the wrong number of fields reported to the reader. It also lets Reader.records read the
    csv.reader directly (the bulk path, no Cells per row)."""

    def __init__(self, rows, headers: list[str], reader: Reader, report_progress, *,
                 source: tuple[Path, str, str] | None = None, on_bytes=lambda done: None):
        self.rows, self.headers, self.reader, self.report_progress = rows, tuple(headers), reader, report_progress
        self.source = source  # (path, encoding, delimiter): a file a worker process may read again
        self.on_bytes = on_bytes  # progress in bytes of the file, as a worker reports it

    def __iter__(self) -> Iterator[Cells]:
        rows, names, width = self.rows, self.headers, len(self.headers)
        for n, cells in enumerate(rows, 1):
            if n % PROGRESS_EVERY == 0:
                self.report_progress()
            if not cells or not "".join(cells).strip():
                continue  # blank lines are not records
            if len(cells) != width:
                self.reader.problem(rows.line_num, f"has {len(cells)} fields, the header has {width}")
                continue
            yield Cells(rows.line_num, values=cells, headers=names)



def source_file(path: Path, connector: str, sink) -> Path:
    """The file a connector reads, checked to exist; its sha256 goes into the run's record of inputs."""
    if not path.is_file():
        raise InputError(f"connector {connector!r}: {path} does not exist; check its path in the config")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    sink.fingerprint(f"{path.name} sha256:{digest.hexdigest()}")
    return path
