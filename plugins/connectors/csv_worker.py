"""A large CSV file read and parsed in a second process, while this one writes the rows to the store.

Parsing a row (the csv module, then the compiled converter) and storing it (the driver, the
database's indexes) cost about the same; in one process they add up, in two they overlap — a
machine has at least two cores, and Python runs one thread at a time. The worker re-opens the
file and sends the typed rows back in chunks, with the bad rows it met; the pipe holds about one
chunk, so memory stays flat. Used by Reader.records for files of PARALLEL_BYTES and more.

Messages, worker → reader: ("rows", tuples, [(line, problem)], rows read, bytes read),
("done",), or ("failed", the InputError's text)."""

from __future__ import annotations

import csv
import io
import multiprocessing
from pathlib import Path
from typing import Any, Iterator

from kpi.core.errors import InputError

PARALLEL_BYTES = 20 << 20  # ~250,000 rows; smaller files are parsed in place (a worker takes ~0.3 s to start)
CHUNK = 20_000


def typed_rows(reader, convert, width: int) -> Iterator[tuple | list]:
    """Each data row of a csv.reader through a compiled converter: its fields as a tuple; or, for a
    bad row, [line, problem, whether it counts as a row read] (a list); blank lines left out."""
    for values in reader:
        out = convert(values)
        if out.__class__ is tuple:
            yield out
        elif not values or not "".join(values).strip():
            continue  # blank lines are not records
        elif out is None:  # not a row of this file's shape: not read as one
            yield [reader.line_num, f"has {len(values)} fields, the header has {width}", False]
        else:
            yield [reader.line_num, out, True]


def csv_failure(path, line: int, exc: csv.Error) -> str:
    return f"{path}: line {line}: {exc}"


def decode_failure(path, encoding: str, exc: UnicodeDecodeError) -> str:
    return (f"{path}: not readable as {encoding} ({exc.reason} at byte {exc.start}); "
            "save the file as UTF-8, or set encoding on the connector")


def parse(send, path: str, encoding: str, delimiter: str, headers: tuple[str, ...], spec: list[tuple],
          timezone: str) -> None:
    """The worker: `spec` is the converter's plan with field types for parsers (a function does
    not cross processes by value)."""
    from .tabular import _row_converter, plan_of
    convert = _row_converter(plan_of(spec), headers, timezone, tuples=True)
    try:
        with open(path, "rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as f:
            reader = csv.reader(f, delimiter=delimiter)
            next(reader, None)  # the header, read by the connector already
            rows: list = []
            problems: list = []
            read = 0
            for item in typed_rows(reader, convert, len(headers)):
                if item.__class__ is tuple:
                    rows.append(item)
                    read += 1
                    if len(rows) == CHUNK:
                        send.send(("rows", rows, problems, read, raw.tell()))
                        rows, problems, read = [], [], 0
                else:
                    line, problem, counted = item
                    problems.append((line, problem))
                    read += counted
            send.send(("rows", rows, problems, read, raw.tell()))
            send.send(("done",))
    except csv.Error as exc:
        send.send(("failed", csv_failure(path, reader.line_num, exc)))
    except UnicodeDecodeError as exc:
        send.send(("failed", decode_failure(path, encoding, exc)))
    except BrokenPipeError:
        pass  # the reader stopped (an error there, or it was killed)
    finally:
        send.close()


def records(reader, source: tuple[Path, str, str], headers: tuple[str, ...], spec: list[tuple],
            on_bytes) -> Iterator[tuple]:
    """The typed rows of a CSV file parsed by a worker process; bad rows go to `reader.problem`."""
    path, encoding, delimiter = source
    context = multiprocessing.get_context("spawn")  # not fork: this process holds database connections
    receive, send = context.Pipe(duplex=False)
    worker = context.Process(target=parse, args=(send, str(path), encoding, delimiter, headers, spec, reader.timezone),
                             daemon=True, name=f"kpi csv {Path(path).name}")
    worker.start()
    send.close()
    try:
        while True:
            try:
                message: Any = receive.recv()
            except EOFError:
                worker.join()
                raise InputError(f"{path}: the process reading it stopped (exit code {worker.exitcode}) before "
                                 "the end; nothing from the file was stored. Run again") from None
            if message[0] == "done":
                return
            if message[0] == "failed":
                raise InputError(message[1])
            _, rows, problems, read, position = message
            for line, problem in problems:
                reader.problem(line, problem)
            reader.lines_read += read
            on_bytes(position)
            yield from rows
    finally:
        receive.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()
