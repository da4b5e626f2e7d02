"""A large CSV file read and parsed in a second process, while this one writes the rows to the store.

Parsing a row (the csv module, then the compiled converter) and storing it (the driver, the
database's indexes) cost about the same; in one process they add up, in two they overlap — a
machine has at least two cores, and Python runs one thread at a time. The worker re-opens the
file and sends the typed rows back in chunks, with the bad rows it met; the pipe holds about one
chunk, so memory stays flat. Used by Reader.records for files of PARALLEL_BYTES and more.

The worker is a plain `python -c` process (not multiprocessing's spawn, which would import this
process's main module — the whole `kpi` command — and start a resource tracker beside it): it reads
its orders, this process's sys.path included, as one pickle on stdin, and writes pickled messages
to its stdout. Messages, worker → reader: ("rows", tuples, [(line, problem)], rows read,
bytes read), ("done",), or ("failed", the InputError's text)."""

from __future__ import annotations

import csv
import io
import pickle
import subprocess
import sys
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


# The worker's first lines: its orders from stdin, the parent's import path, then serve().
BOOT = ("import pickle, sys; orders = pickle.load(sys.stdin.buffer); sys.path[:] = orders['path']; "
        "from kpi.plugins.connectors.csv_worker import serve; serve(orders)")


class _Out:
    """The worker's end of the message pipe: its stdout, which nothing else may write to."""

    def __init__(self):
        self._file = sys.stdout.buffer
        sys.stdout = sys.stderr  # a stray print would corrupt the messages

    def send(self, message) -> None:
        pickle.dump(message, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.flush()

    def close(self) -> None:
        try:
            self._file.close()
        except BrokenPipeError:
            pass


def serve(orders: dict) -> None:
    """The worker process's main: parse the file named in `orders`, sending to stdout."""
    parse(_Out(), *orders["args"])


def records(reader, source: tuple[Path, str, str], headers: tuple[str, ...], spec: list[tuple],
            on_bytes) -> Iterator[tuple]:
    """The typed rows of a CSV file parsed by a worker process; bad rows go to `reader.problem`."""
    path, encoding, delimiter = source
    worker = subprocess.Popen([sys.executable, "-c", BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    receive = worker.stdout
    try:
        try:
            with worker.stdin:
                pickle.dump({"path": sys.path, "args": (str(path), encoding, delimiter, headers, spec,
                                                        reader.timezone)}, worker.stdin)
        except BrokenPipeError:
            pass  # it stopped at once: said below, with its exit code
        while True:
            try:
                message: Any = pickle.load(receive)
            except EOFError:
                worker.wait()
                raise InputError(f"{path}: the process reading it stopped (exit code {worker.returncode}) before "
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
        if worker.poll() is None:
            worker.terminate()
        worker.wait()
