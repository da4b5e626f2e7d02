"""Metric definitions and their computation in the database.

An aggregated metric reads one record kind; all the metrics a scheme needs from one kind are
computed in a single GROUP BY scan of that kind's table (one scan per table, see PERFORMANCE.md).
Counts and sums come back from SQL as integers; rates are then formed exactly in Decimal, so a
band edge such as 95% is compared without float error.

**Attribution.** A record counts for its person: for a ticket, the assignee the helpdesk reports
(the last assignee). A metric about an event — a ticket's first reply, its resolution — can name
the field that says who acted at that event (:class:`ByEvent`). Under the run's attribution
``"event"`` (the default) the record then counts for that person, mapped to an employee through
the roster's ids in the field's system; where the field is blank or names the record's own person
it counts for the record's employee; a person the roster does not know gets it for no one. Under
``"last"`` every record counts for its own person, as most helpdesk reports count it. The scan
stays one: it groups by the record's employee and each event field the metrics need, and each
metric adds up the groups of its own key in Python (counts and sums add exactly; evidence lists
are joined) — as many groups as distinct (assignee, event person) pairs, not records.

**Supplied and computed.** A metric computed from records takes the value a connector supplies
for it (a department's spreadsheet) where no record matched for that employee; a supplied value
that differs from what the records give stops the run, as two sources that disagree do.

A rated item's metric ``ITEM@RATER`` (what the ``rated`` rule reads) is the mean score of the
``evaluation`` records of that item by raters in that role, when the store has that kind."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator

from sqlalchemy import BigInteger, Connection, String, Table, and_, case, cast, func, literal_column, null, or_, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from .decimals import tidy
from .errors import InputError
from .models import Metric, MetricValue, Period
from .store import schema as s

ATTRIBUTIONS = ("event", "last")
RATED_KIND = "evaluation"


@dataclass(frozen=True)
class Window:
    """The period being measured, in epoch seconds [start, end)."""

    start: int
    end: int


Condition = Callable[[Table, Window], ColumnElement]
Expression = Callable[[Table, Window], ColumnElement]


@dataclass(frozen=True)
class Count:
    """How many records match `where`; their source ids are kept as evidence."""

    where: Condition | None = None
    evidence: bool = True


@dataclass(frozen=True)
class Ratio:
    """numerator / denominator × scale (100 gives a percentage), counting records. None when the
    denominator is empty."""

    numerator: Condition
    denominator: Condition | None = None
    scale: int = 100


@dataclass(frozen=True)
class Mean:
    """The mean of a numeric expression over matching records; blanks (such as a difference with
    a blank time) are skipped, None when none. `places`: see :class:`Sum`."""

    value: Expression
    where: Condition | None = None
    divisor: int = 1  # e.g. 60 to report seconds summed in SQL as minutes
    places: int = 0


@dataclass(frozen=True)
class Sum:
    """The total of a numeric expression over matching records (blanks skipped); 0 when none.
    `places` keeps a decimal field exact: SQL adds value × 10^places rounded to an integer (SQLite
    keeps decimals as text and would add them as floats), e.g. 2 for money."""

    value: Expression
    where: Condition | None = None
    places: int = 0


@dataclass(frozen=True)
class SumRatio:
    """Σ numerator / Σ denominator × scale over matching records (households paid / households
    due). None when the denominator adds up to 0. `places`: see :class:`Sum`."""

    numerator: Expression
    denominator: Expression
    where: Condition | None = None
    scale: int = 100
    places: int = 0


@dataclass(frozen=True)
class RelativeMean:
    """The employee's mean of an expression / everyone's mean over the same records in the period
    (every record of the kind that matches, attributed to anyone or no one): an agent's average
    order value against the shop's. None when either has no records or everyone's mean is 0."""

    value: Expression
    where: Condition | None = None
    places: int = 0


Aggregate = Count | Ratio | Mean | Sum | SumRatio | RelativeMean


@dataclass(frozen=True)
class ByEvent:
    """Who a record counts for under event attribution: the person in `field` (an id in `system`,
    mapped to an employee through the roster), or the record's own person where `field` is blank."""

    field: str
    system: str = "helpdesk"


@dataclass(frozen=True)
class MetricDefinition:
    """A metric and how it is measured: an aggregate over one record kind, or (kind None) values
    that a connector supplies per employee and period. `attributed_to` makes a metric about an
    event count for who acted at it (see the module's description)."""

    metric: Metric
    kind: str | None = None
    aggregate: Aggregate | None = None
    attributed_to: ByEvent | None = None

    @property
    def id(self) -> str:
        return self.metric.id

    def validate(self) -> None:
        if (self.kind is None) != (self.aggregate is None):
            raise ValueError(f"metric {self.id!r}: give both a record kind and an aggregate, or neither")
        if self.metric.direction not in ("higher", "lower"):
            raise ValueError(f"metric {self.id!r}: direction must be 'higher' or 'lower'")
        if self.attributed_to is not None and self.kind is None:
            raise ValueError(f"metric {self.id!r}: only a metric over records can be attributed to an event")


def _when(cond: ColumnElement | None, then, otherwise=None):
    if cond is None:
        return then
    return case((cond, then), else_=otherwise)


def scaled(expr: ColumnElement, places: int) -> ColumnElement:
    """The expression × 10^places as an integer, so SQL adds and compares a decimal field exactly on
    every backend (SQLite keeps decimals as text: `amount > 0` would compare strings there)."""
    if not places:
        return expr
    return cast(func.round(expr * literal_column(str(10 ** places))), BigInteger)


def _unscaled(total: Any, places: int) -> Decimal:
    return Decimal(int(total)) / 10 ** places if places else Decimal(str(total))


def _plain(d: Decimal) -> int | str:
    """A figure for the evidence (JSON): an int when whole, else its exact text."""
    d = tidy(d)
    return int(d) if d == d.to_integral_value() else str(d)


@dataclass
class _Plan:
    """The SQL columns one definition contributes to its kind's scan, and how to finish the value
    from them (and, for `totals`, from the same columns added over every group)."""

    columns: list[ColumnElement]
    finish: Callable[[list[Any], list[Any] | None], tuple[Decimal | None, dict]]
    totals: bool = False


def _plan(defn: MetricDefinition, t: Table, w: Window) -> _Plan:
    agg = defn.aggregate
    where = getattr(agg, "where", None)
    cond = where(t, w) if where else None
    if isinstance(agg, Count):
        if agg.evidence:  # the ids alone: their number is the count (one condition per row, not two)
            def listed(vals, _):
                ids = sorted(vals[0].split(",")) if vals[0] else []
                return Decimal(len(ids)), {"count": len(ids), "records": ids}
            return _Plan([func.aggregate_strings(_when(cond, t.c.source_id), ",")], listed)

        def counted(vals, _):
            n = int(vals[0] or 0)
            return Decimal(n), {"count": n}
        return _Plan([func.sum(_when(cond, 1, 0))], counted)
    if isinstance(agg, Ratio):
        den = agg.denominator(t, w) if agg.denominator else None
        num = agg.numerator(t, w)
        num = and_(num, den) if den is not None else num
        cols = [func.sum(_when(num, 1, 0)), func.sum(_when(den, 1, 0))]

        def finish(vals, _):
            n, d = int(vals[0] or 0), int(vals[1] or 0)
            value = Decimal(n) * agg.scale / Decimal(d) if d else None
            return value, {"numerator": n, "denominator": d}
        return _Plan(cols, finish)
    if isinstance(agg, (Mean, Sum, RelativeMean)):
        expr = agg.value(t, w)
        cols = [func.sum(_when(cond, scaled(expr, agg.places))), func.count(_when(cond, expr))]

        def finish(vals, totals):
            n = int(vals[1] or 0)
            total = _unscaled(vals[0], agg.places) if n else Decimal(0)
            if isinstance(agg, Sum):
                return total, {"sum": _plain(total), "count": n}
            if not n:
                return None, {"count": 0}
            if isinstance(agg, Mean):
                return total / n / agg.divisor, {"sum": _plain(total), "count": n}
            everyone_n = int(totals[1] or 0)
            everyone = _unscaled(totals[0], agg.places) if everyone_n else Decimal(0)
            ev = {"sum": _plain(total), "count": n, "everyone_sum": _plain(everyone), "everyone_count": everyone_n}
            return (total * everyone_n / (n * everyone) if everyone else None), ev
        return _Plan(cols, finish, totals=isinstance(agg, RelativeMean))
    if isinstance(agg, SumRatio):
        cols = [func.sum(_when(cond, scaled(agg.numerator(t, w), agg.places))),
                func.sum(_when(cond, scaled(agg.denominator(t, w), agg.places)))]

        def finish(vals, _):
            num = _unscaled(vals[0] or 0, agg.places)
            den = _unscaled(vals[1] or 0, agg.places)
            return (num * agg.scale / den if den else None), {"numerator": _plain(num), "denominator": _plain(den)}
        return _Plan(cols, finish)
    raise TypeError(f"metric {defn.id!r}: unknown aggregate {agg!r}")


_PLACES = Decimal(1).scaleb(-s.DECIMAL_PLACES)


def _exact(value: Decimal | None) -> Decimal | None:
    """Rounded to the store's places, so what is scored is exactly what is stored."""
    return None if value is None else tidy(value.quantize(_PLACES))


def _empty_value(defn: MetricDefinition) -> tuple[Decimal | None, dict]:
    agg = defn.aggregate
    if isinstance(agg, Count):
        return Decimal(0), ({"count": 0, "records": []} if agg.evidence else {"count": 0})
    if isinstance(agg, (Ratio, SumRatio)):
        return None, {"numerator": 0, "denominator": 0}
    if isinstance(agg, Sum):
        return Decimal(0), {"sum": 0, "count": 0}
    return None, {"count": 0}


def _none_matched(defn: MetricDefinition, value: Decimal | None) -> bool:
    """The records gave no figure: a rate or mean without records, a count or sum of nothing."""
    return value is None or (isinstance(defn.aggregate, (Count, Sum)) and value == 0)


def _merge(acc: list[Any] | None, vals, text: list[bool]) -> list[Any]:
    """Columns of one more group added in: sums and counts added, evidence lists (text) joined."""
    if acc is None:
        return list(vals)
    return [(f"{a},{b}" if a and b else a or b) if is_text else (a or 0) + (b or 0)
            for a, b, is_text in zip(acc, vals, text)]


def rated_definition(metric: Metric) -> MetricDefinition:
    """ITEM@RATER as the mean score of `evaluation` records of ITEM by raters in the role RATER."""
    item, rater = metric.id.split("@", 1)
    return MetricDefinition(metric, RATED_KIND, Mean(lambda t, w: t.c.score,
                                                     lambda t, w: and_(t.c.item == item, t.c.rater == rater), places=4))


def compute(conn: Connection, record_tables: dict[str, Table], period: Period, employee_ids: list[str],
            definitions: list[MetricDefinition],
            excluded: dict[str, list[tuple[int, int]]] | None = None, *,
            attribution: str = "event",
            left_out: dict[str, set[tuple[str, str]]] | None = None) -> list[MetricValue]:
    """Every requested metric for every listed employee in the period. An employee with no
    records gets 0 for a count or sum and None for a rate or mean, with the evidence saying so.
    `excluded` maps a record kind to [start, end) windows whose records are left out (anomalies);
    `attribution` is "event" or "last" (see the module's description); `left_out` maps a record kind
    to (source, source id) pairs left out by adjustment."""
    values = each(conn, record_tables, period, employee_ids, definitions, excluded, attribution=attribution,
                  left_out=left_out)
    return sorted(values, key=by_person)


def by_person(v: MetricValue) -> tuple[str, str]:
    """The order compute() gives values in: by employee, then metric."""
    return v.employee_id, v.metric


def each(conn: Connection, record_tables: dict[str, Table], period: Period, employee_ids: list[str],
         definitions: list[MetricDefinition], excluded: dict[str, list[tuple[int, int]]] | None = None, *,
         attribution: str = "event", left_out: dict[str, set[tuple[str, str]]] | None = None) -> Iterator[MetricValue]:
    """compute()'s values one at a time, a kind's scan after another (in no particular order): a
    caller storing them as they come holds no more than one scan's groups."""
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"attribution must be one of {', '.join(ATTRIBUTIONS)}, not {attribution!r}")
    definitions = [rated_definition(d.metric) if d.kind is None and "@" in d.id and RATED_KIND in record_tables
                   else d for d in definitions]
    if conn.dialect.name == "postgresql":
        # A scan's groups (10,000 people, their evidence ids) outgrow the default 4 MB and the
        # aggregate spills to disk; the setting ends with this transaction.
        conn.exec_driver_sql("SET LOCAL work_mem = '128MB'")
    supplied = _supplied(conn, definitions, period.label, employee_ids)
    by_kind: dict[str, list[MetricDefinition]] = {}
    for d in definitions:
        if d.kind is not None:
            by_kind.setdefault(d.kind, []).append(d)
    for kind, defs in by_kind.items():
        scanned = _scan(conn, kind, record_tables[kind], period, employee_ids, defs,
                        (excluded or {}).get(kind, []), attribution, (left_out or {}).get(kind, set()))
        computed = {d.id: d for d in defs}
        for v in scanned:
            rows = supplied.pop((v.employee_id, v.metric), None)
            yield v if rows is None else _settle(v.employee_id, v.metric, period.label, computed[v.metric], v, rows)
    for d in definitions:
        if d.kind is None:
            for emp in employee_ids:
                rows = supplied.pop((emp, d.id), None)
                yield (MetricValue(emp, period.label, d.id, None, "supplied", {"missing": "no source supplied a value"})
                       if rows is None else _settle(emp, d.id, period.label, None, None, rows))


SAMPLE = 10_000  # records looked at to guess whether an event field is filled at all


def _attribution_keys(conn: Connection, t: Table, defs: list[MetricDefinition], attribution: str,
                      in_window: list[ColumnElement], sample: bool):
    """What a scan groups by — the record's employee, then each event field the metrics count for,
    as the person ids the source gave — which of those each metric counts for, per event field
    the roster's map from its system's ids to employees (applied to the groups, not in SQL: a join
    would be planned blind on a table just loaded), and the event fields taken for blank unseen.

    An event field blank in every record of the window is no key (each record counts for its own
    person then; grouping by it costs a scan half as much again). With `sample`, a field blank in
    the window's first SAMPLE records is taken for blank, and the scan checks it (see _scan); else
    every record is looked at."""
    keys: list[ColumnElement] = [t.c.employee_id]
    key_of: list[int] = []
    by_event: dict[ByEvent, int] = {}
    fields = sorted({d.attributed_to.field for d in defs if d.attributed_to is not None}) if attribution == "event" else []

    def any_filled(names: list[str]) -> bool:
        look = select(*(t.c[f] for f in names)).where(*in_window)
        look = look.limit(SAMPLE).subquery() if sample else look.subquery()
        some = or_(*(look.c[f].is_not(None) for f in names))
        return conn.execute(select(literal_column("1")).select_from(look).where(some).limit(1)).first() is not None
    # One look for all (the usual answer: none is filled), then one each.
    filled = {f: len(fields) == 1 or any_filled([f]) for f in fields} if fields and any_filled(fields) else {}
    unseen = [f for f in fields if not filled.get(f)] if sample else []
    for d in defs:
        by = d.attributed_to if attribution == "event" else None
        if by is not None and not filled.get(by.field):
            by = None
        if by is not None and by not in by_event:
            by_event[by] = len(keys)
            # Blank where it is the record's own person, who is mapped already (and fewer groups).
            keys.append(case((t.c[by.field] == t.c.person_ref, null()), else_=t.c[by.field]))
        key_of.append(by_event[by] if by is not None else 0)
    ids = s.employee_ids.c
    maps = {k: dict(conn.execute(select(ids.external_id, ids.employee_id).where(ids.system == by.system)).all())
            for by, k in by_event.items()}
    return keys, key_of, maps, unseen


def _by_time_index(conn: Connection, t: Table, lo: int, hi: int) -> bool:
    """Whether to find the window's records through the time index. Not on SQLite when the window
    holds most of the table (a store of one month): reading the table straight through is then
    faster than an index lookup per row (both counts are cheap there)."""
    if conn.dialect.name != "sqlite":
        return True
    everything = conn.execute(select(func.count()).select_from(t)).scalar_one()
    return 2 * conn.execute(select(func.count()).select_from(t).where(t.c.at >= lo, t.c.at < hi)).scalar_one() < everything


def _scan(conn: Connection, kind: str, t: Table, period: Period, employee_ids: list[str],
          defs: list[MetricDefinition], skip: list[tuple[int, int]], attribution: str,
          skip_records: set[tuple[str, str]], sample: bool = True) -> Iterator[MetricValue]:
    """One GROUP BY scan of a kind's table for all its requested metrics (two, when an event field
    a sample took for blank turns out filled); the values come once the scan is read."""
    lo, hi = period.window()
    w = Window(lo, hi)
    wanted = set(employee_ids)
    plans = [_plan(d, t, w) for d in defs]
    at = t.c.at if _by_time_index(conn, t, lo, hi) else t.c.at + 0  # an expression is not looked up in an index
    in_window = [at >= lo, at < hi]
    keys, key_of, maps, unseen = _attribution_keys(conn, t, defs, attribution, in_window, sample)
    # The metrics' columns in one block per key, so a group row is added in once per key.
    cols: list[ColumnElement] = []
    offset: dict[int, int] = {}  # metric -> where its columns start in its key's block
    spans: dict[int, tuple[int, int]] = {}  # key -> its block's [start, end) in the row
    for i in sorted(range(len(plans)), key=key_of.__getitem__):
        start = spans.get(key_of[i], (len(keys) + len(cols),))[0]
        offset[i] = len(keys) + len(cols) - start
        cols += plans[i].columns
        spans[key_of[i]] = (start, len(keys) + len(cols))
    text = [False] * len(keys) + [isinstance(c.type, String) for c in cols]
    blocks = [(k, a, b, text[a:b]) for k, (a, b) in sorted(spans.items())]
    with_totals = {key_of[i] for i, p in enumerate(plans) if p.totals}

    conditions = [*in_window, *(~and_(t.c.at >= a, t.c.at < b) for a, b in skip)]
    if skip_records:
        conditions.append(~tuple_(t.c.source, t.c.source_id).in_(sorted(skip_records)))
    if len(keys) == 1 and not with_totals and not unseen:
        conditions.append(t.c.employee_id.is_not(None))  # nothing reads unattributed records
    checks = [func.count(t.c[f]) for f in unseen]  # the fields taken for blank, counted over every record
    q = select(*keys, *cols, *checks).where(*conditions).group_by(*keys)
    groups: dict[tuple[str, int], list] = {}
    totals: dict[int, list] = {}
    filled = 0
    for row in conn.execute(q):
        if checks:
            filled += sum(row[len(row) - len(checks):])
        for k, a, b, flags in blocks:
            if k in with_totals:
                totals[k] = _merge(totals.get(k), row[a:b], flags)
            # The employee the group counts for: the record's own where the event's person is blank.
            emp = row[0] if not k or row[k] is None else maps[k].get(row[k])
            if emp in wanted:
                groups[(emp, k)] = _merge(groups.get((emp, k)), row[a:b], flags)

    if filled:  # an event field is filled after all, past the sample: group by it
        yield from _scan(conn, kind, t, period, employee_ids, defs, skip, attribution, skip_records, sample=False)
        return
    source = f"records:{kind}"
    same: dict[tuple[Decimal, bool], Decimal] = {}  # one object per figure: 100,000 values hold some 13,000
    for i, (d, p) in enumerate(zip(defs, plans)):
        k, o, n = key_of[i], offset[i], len(p.columns)
        by_event = d.attributed_to.field if attribution == "event" and d.attributed_to is not None else None
        everyone = totals[k][o:o + n] if k in totals else None
        for emp in employee_ids:
            vals = groups.get((emp, k))
            value, ev = p.finish(vals[o:o + n], everyone) if vals is not None else _empty_value(d)
            if by_event:
                ev["attributed_to"] = by_event
            if value is not None:
                value = _exact(value)
                value = same.setdefault((value, value.is_signed()), value)  # -0 == 0, but shows apart
            yield MetricValue(emp, period.label, d.id, value, source, ev)


def _supplied(conn: Connection, definitions: list[MetricDefinition], label: str,
              employee_ids: list[str]) -> dict[tuple[str, str], list[tuple]]:
    """The values connectors supplied for the period, by (employee, metric): (value, source, ref) rows."""
    ids = sorted({d.id for d in definitions})
    out: dict[tuple[str, str], list[tuple]] = {}
    if not ids:
        return out
    wanted = set(employee_ids)
    t = s.input_metric_values
    q = select(t.c.employee_id, t.c.metric, t.c.value, t.c.source, t.c.source_ref).where(
        t.c.period == label, t.c.metric.in_(ids))
    for emp, metric, value, source, ref in conn.execute(q):
        if emp in wanted:
            out.setdefault((emp, metric), []).append((value, source, ref))
    return out


def _settle(emp: str, metric: str, label: str, computed: MetricDefinition | None, prior: MetricValue | None,
            rows: list[tuple]) -> MetricValue:
    """A value with what connectors supplied for it: a supplied metric's value, or a computed
    one's where no record matched (a conflicting one is an error)."""
    open_ = prior is not None and computed is not None and _none_matched(computed, prior.value)
    for value, source, ref in rows:
        if not open_ and prior is not None and prior.value != value:
            if computed is not None and prior.source.startswith("records:"):
                raise InputError(f"metric {metric!r} for employee {emp} in {label} is computed from "
                                 f"{prior.source[8:]} records as {prior.value} and supplied by {source} as {value}; "
                                 "keep one of them (a supplied value stands in only where no record matched)")
            raise InputError(f"metric {metric!r} for employee {emp} in {label} is supplied by two "
                             f"sources with different values ({prior.source}: {prior.value}, {source}: {value})")
        open_ = False
        if prior is None or not prior.source.startswith("records:") or _none_matched(computed, prior.value):
            prior = MetricValue(emp, label, metric, value, source, {"source_ref": ref})
    return prior
