"""Metric definitions and their computation in the database.

An aggregated metric reads one record kind; all the metrics a scheme needs from one kind are
computed in a single GROUP BY scan of that kind's table (one scan per table, see PERFORMANCE.md).
Counts and sums come back from SQL as integers; rates are then formed exactly in Decimal, so a
band edge such as 95% is compared without float error."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import Connection, Table, and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from .decimals import tidy
from .models import Metric, MetricValue, Period
from .store import schema as s


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
    """numerator / denominator × scale (100 gives a percentage). None when the denominator is empty."""

    numerator: Condition
    denominator: Condition | None = None
    scale: int = 100


@dataclass(frozen=True)
class Mean:
    """The mean of a numeric expression over matching records; blanks are skipped, None when none."""

    value: Expression
    where: Condition | None = None
    divisor: int = 1  # e.g. 60 to report seconds summed in SQL as minutes


@dataclass(frozen=True)
class MetricDefinition:
    """A metric and how it is measured: an aggregate over one record kind, or (kind None) values
    that a connector supplies per employee and period."""

    metric: Metric
    kind: str | None = None
    aggregate: Count | Ratio | Mean | None = None

    @property
    def id(self) -> str:
        return self.metric.id

    def validate(self) -> None:
        if (self.kind is None) != (self.aggregate is None):
            raise ValueError(f"metric {self.id!r}: give both a record kind and an aggregate, or neither")
        if self.metric.direction not in ("higher", "lower"):
            raise ValueError(f"metric {self.id!r}: direction must be 'higher' or 'lower'")


def _when(cond: ColumnElement | None, then, otherwise=None):
    if cond is None:
        return then
    return case((cond, then), else_=otherwise)


@dataclass
class _Plan:
    """The SQL columns one definition contributes to its kind's scan, and how to finish the value."""

    columns: list[ColumnElement] = field(default_factory=list)
    finish: Callable[[list[Any]], tuple[Decimal | None, dict]] = lambda vals: (None, {})


def _plan(defn: MetricDefinition, t: Table, w: Window) -> _Plan:
    agg = defn.aggregate
    if isinstance(agg, Count):
        cond = agg.where(t, w) if agg.where else None
        cols = [func.sum(_when(cond, 1, 0))]
        if agg.evidence:
            cols.append(func.aggregate_strings(_when(cond, t.c.source_id), ","))

        def finish(vals):
            n = int(vals[0] or 0)
            ev = {"count": n}
            if agg.evidence:
                ev["records"] = sorted(vals[1].split(",")) if vals[1] else []
            return Decimal(n), ev
        return _Plan(cols, finish)
    if isinstance(agg, Ratio):
        den = agg.denominator(t, w) if agg.denominator else None
        num = agg.numerator(t, w)
        num = and_(num, den) if den is not None else num
        cols = [func.sum(_when(num, 1, 0)), func.sum(_when(den, 1, 0))]

        def finish(vals):
            n, d = int(vals[0] or 0), int(vals[1] or 0)
            value = Decimal(n) * agg.scale / Decimal(d) if d else None
            return value, {"numerator": n, "denominator": d}
        return _Plan(cols, finish)
    if isinstance(agg, Mean):
        cond = agg.where(t, w) if agg.where else None
        expr = agg.value(t, w)
        cols = [func.sum(_when(cond, expr)), func.count(_when(cond, expr))]

        def finish(vals):
            total, n = vals[0], int(vals[1] or 0)
            if not n:
                return None, {"count": 0}
            return Decimal(str(total)) / n / agg.divisor, {"sum": str(total), "count": n}
        return _Plan(cols, finish)
    raise TypeError(f"metric {defn.id!r}: unknown aggregate {agg!r}")


_PLACES = Decimal(1).scaleb(-s.DECIMAL_PLACES)


def _exact(value: Decimal | None) -> Decimal | None:
    """Rounded to the store's places, so what is scored is exactly what is stored."""
    return None if value is None else tidy(value.quantize(_PLACES))


def _empty_value(defn: MetricDefinition) -> tuple[Decimal | None, dict]:
    if isinstance(defn.aggregate, Count):
        return Decimal(0), ({"count": 0, "records": []} if defn.aggregate.evidence else {"count": 0})
    if isinstance(defn.aggregate, Ratio):
        return None, {"numerator": 0, "denominator": 0}
    return None, {"count": 0}


def compute(conn: Connection, record_tables: dict[str, Table], period: Period, employee_ids: list[str],
            definitions: list[MetricDefinition],
            excluded: dict[str, list[tuple[int, int]]] | None = None) -> list[MetricValue]:
    """Every requested metric for every listed employee in the period. An employee with no
    records gets 0 for a count and None for a rate or mean, with the evidence saying so.
    `excluded` maps a record kind to [start, end) windows whose records are left out (anomalies)."""
    lo, hi = period.window()
    w = Window(lo, hi)
    wanted = set(employee_ids)
    out: dict[tuple[str, str], MetricValue] = {}

    by_kind: dict[str, list[MetricDefinition]] = {}
    for d in definitions:
        if d.kind is not None:
            by_kind.setdefault(d.kind, []).append(d)
    for kind, defs in by_kind.items():
        t = record_tables[kind]
        plans = [_plan(d, t, w) for d in defs]
        cols = [c for p in plans for c in p.columns]
        q = (select(t.c.employee_id, *cols)
             .where(t.c.at >= lo, t.c.at < hi, t.c.employee_id.is_not(None),
                    *(~and_(t.c.at >= a, t.c.at < b) for a, b in (excluded or {}).get(kind, [])))
             .group_by(t.c.employee_id))
        for row in conn.execute(q):
            emp = row[0]
            if emp not in wanted:
                continue
            i = 1
            for d, p in zip(defs, plans):
                n = len(p.columns)
                value, ev = p.finish(list(row[i:i + n]))
                i += n
                out[(emp, d.id)] = MetricValue(emp, period.label, d.id, _exact(value), f"records:{kind}", ev)
        for d in defs:
            for emp in employee_ids:
                if (emp, d.id) not in out:
                    value, ev = _empty_value(d)
                    out[(emp, d.id)] = MetricValue(emp, period.label, d.id, value, f"records:{kind}", ev)

    supplied = [d.id for d in definitions if d.kind is None]
    if supplied:
        t = s.input_metric_values
        q = select(t.c.employee_id, t.c.metric, t.c.value, t.c.source, t.c.source_ref).where(
            t.c.period == period.label, t.c.metric.in_(supplied))
        for emp, metric, value, source, ref in conn.execute(q):
            if emp in wanted:
                prior = out.get((emp, metric))
                if prior is not None and prior.value != value:
                    raise ValueError(f"metric {metric!r} for employee {emp} in {period.label} is supplied by two "
                                     f"sources with different values ({prior.source}: {prior.value}, {source}: {value})")
                out[(emp, metric)] = MetricValue(emp, period.label, metric, value, source, {"source_ref": ref})
        for metric in supplied:
            for emp in employee_ids:
                out.setdefault((emp, metric), MetricValue(emp, period.label, metric, None, "supplied",
                                                          {"missing": "no source supplied a value"}))
    return [out[k] for k in sorted(out)]
