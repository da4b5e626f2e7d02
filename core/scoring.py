"""What a scheme is to the core, and the scorecard it produces. A scorecard carries its whole
arithmetic: every indicator's value, rule, matched band or condition, points and any cap or floor,
then dimension subtotals, total, grade, pay and flags."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from decimal import Decimal, getcontext
from json.encoder import encode_basestring as _json_str
from typing import Any, Protocol, runtime_checkable

from .decimals import tidy
from .errors import Problem
from .models import Employee, MetricValue, Period


@dataclass(slots=True)
class Flag:
    """Something a person must look at that is not points: dismissal review, unfit, calibration, no data."""

    code: str
    message: str


NO_ADJUSTMENTS: tuple[str, ...] = ()  # a line's adjustments when it has none: one object, not a list per line


@dataclass(slots=True)
class Line:
    """One indicator on a scorecard."""

    dimension: str
    indicator: str
    name: dict[str, str]  # {"zh": …, "en": …}
    metric: str | None
    value: Decimal | None
    rule: str
    matched: str
    points: Decimal
    max_points: Decimal | None
    explanation: str
    adjustments: list[str] | tuple[str, ...] = field(default_factory=list)  # NO_ADJUSTMENTS: none


@dataclass(slots=True)
class DimensionResult:
    id: str
    name: dict[str, str]
    raw: Decimal  # sum of the indicator points after the dimension's cap and floor
    max_points: Decimal
    weight: Decimal
    points: Decimal  # raw scaled to the weight: raw / max_points × weight
    adjustments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Pay:
    base: Decimal
    percent: Decimal
    amount: Decimal
    currency: str = "CNY"
    explanation: str = ""


@dataclass(slots=True)
class Scorecard:
    employee_id: str
    name: str
    role: str
    period: str
    scheme: str
    eligible: bool
    total: Decimal | None
    grade: str | None
    pay: Pay | None
    lines: list[Line] = field(default_factory=list)
    dimensions: list[DimensionResult] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        try:
            out = _card_plain(self) if type(self) is Scorecard else _plain_fields(self)
        except _Unusual:
            out = _plain(asdict(self))
        if self.pay is not None:  # money keeps its places: 225.00, not 225
            out["pay"]["amount"] = format(self.pay.amount, "f")
        return out

    def to_json(self) -> str:
        """json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True), byte for byte: the form a
        run stores. Written straight from the fields when they hold what scorecards hold."""
        if type(self) is Scorecard:
            try:
                return _card_json(self)
            except (_Unusual, ArithmeticError):  # the general path then fails, or not, exactly as it did
                pass
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(value)


def scorecard_from_dict(d: dict[str, Any]) -> Scorecard:
    """A scorecard back from its stored or JSON form (Scorecard.to_dict), figures exact."""
    pay = d.get("pay")
    return Scorecard(
        d["employee_id"], d["name"], d["role"], d["period"], d["scheme"], d["eligible"], _dec(d["total"]), d["grade"],
        Pay(Decimal(pay["base"]), Decimal(pay["percent"]), Decimal(pay["amount"]), pay["currency"], pay["explanation"])
        if pay else None,
        [Line(**dict(ln, value=_dec(ln["value"]), points=Decimal(ln["points"]), max_points=_dec(ln["max_points"])))
         for ln in d["lines"]],
        [DimensionResult(**dict(x, raw=Decimal(x["raw"]), max_points=Decimal(x["max_points"]),
                                weight=Decimal(x["weight"]), points=Decimal(x["points"]))) for x in d["dimensions"]],
        [Flag(**f) for f in d["flags"]], list(d["notes"]))


class _Unusual(Exception):
    """A value _plain_fields leaves to asdict (a tuple, an object)."""


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain_fields(obj):
    """_plain(asdict(obj)) in one pass, without asdict's deep copies (a large run stores tens of
    thousands of scorecards), for what scorecards hold; anything else raises _Unusual."""
    kind = type(obj)
    if kind is str or obj is None or kind is bool or kind is int or kind is float:
        return obj
    if kind is Decimal:
        return format(tidy(obj), "f")
    if kind is list or obj is NO_ADJUSTMENTS:
        return [_plain_fields(v) for v in obj]
    if kind is dict:
        if not all(type(k) is str for k in obj):
            raise _Unusual
        return {k: _plain_fields(v) for k, v in obj.items()}
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not is_dataclass(kind):
            raise _Unusual
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return {name: _plain_fields(getattr(obj, name)) for name in names}


def _plain(obj):
    """JSON-ready: Decimals as strings, so no figure is rounded by a float on the way out."""
    if isinstance(obj, Decimal):
        return format(tidy(obj), "f")
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# Quick writers for the usual scorecard: text in plain str, figures in Decimal. A run stores tens of
# thousands, and a generic call per value (_plain_fields) and json.dumps(sort_keys=True) were most of
# its commit. Each writer gives exactly what the general path gives; a part holding anything else is
# left to _plain_fields (to_dict), or raises _Unusual so that the whole card is (to_json).

_SHORT = 28  # a figure this short in "f" form has ≤ 28 digits: tidy can't round it in a context of ≥ 28
_LEARNED = 50_000  # entries per memo below, which then starts again: bounded in a long-lived process

# Memos, since a run's figures and names repeat (0, 5, 92.5; an indicator's name on every card).
_TEXTS: dict[str, str] = {}  # str(d) -> format(tidy(d), "f"); str keeps 1.0 and 1.00, 0 and -0 apart
_NAMES: dict[tuple, str] = {}  # a name's items (plain str) -> its JSON, keys sorted


def _tidy_text(d: Decimal) -> str:
    return format(tidy(d), "f")


def _remembered_text(d: Decimal) -> str:
    return _TEXTS.get(str(d)) or _learn(d)


def _learn(d: Decimal) -> str:
    """_tidy_text(d), remembered when it does not depend on the context: d finite and short."""
    text = _tidy_text(d)
    if d.is_finite() and len(format(d, "f")) <= _SHORT:
        if len(_TEXTS) >= _LEARNED:
            _TEXTS.clear()
        _TEXTS[str(d)] = text
    return text


def _ordinary_context() -> bool:
    """A decimal context in which tidy cannot round or trap a short figure, so memos hold."""
    c = getcontext()
    return c.prec >= _SHORT and c.Emax >= _SHORT and c.Emin <= -_SHORT and not c.clamp


# What the quick writers take: every text a plain str, every figure a Decimal (or None where a
# field may be None), every list a list.

def _strings(values) -> bool:
    """A list of plain str (adjustments, notes), or NO_ADJUSTMENTS."""
    return values is NO_ADJUSTMENTS or type(values) is list and (not values or all(type(v) is str for v in values))


def _names(d) -> bool:
    """A dict of plain str to plain str (a name in each language)."""
    if type(d) is not dict:
        return False
    for k, v in d.items():
        if type(k) is not str or type(v) is not str:
            return False
    return True


def _usual_card(c: Scorecard) -> bool:
    return (type(c.employee_id) is type(c.name) is type(c.role) is type(c.period) is type(c.scheme) is str
            and type(c.eligible) is bool and (c.total is None or type(c.total) is Decimal)
            and (c.grade is None or type(c.grade) is str)
            and type(c.lines) is type(c.dimensions) is type(c.flags) is list and _strings(c.notes))


def _usual_line(ln) -> bool:
    return (type(ln) is Line and type(ln.dimension) is type(ln.indicator) is type(ln.rule) is str
            and type(ln.matched) is type(ln.explanation) is str
            and (ln.metric is None or type(ln.metric) is str) and type(ln.points) is Decimal
            and (ln.value is None or type(ln.value) is Decimal)
            and (ln.max_points is None or type(ln.max_points) is Decimal)
            and _names(ln.name) and _strings(ln.adjustments))


def _usual_dimension(d) -> bool:
    return (type(d) is DimensionResult and type(d.id) is str
            and type(d.raw) is type(d.max_points) is type(d.weight) is type(d.points) is Decimal
            and _names(d.name) and _strings(d.adjustments))


def _usual_flag(f) -> bool:
    return type(f) is Flag and type(f.code) is type(f.message) is str


def _usual_pay(p) -> bool:
    return (type(p) is Pay and type(p.base) is type(p.percent) is type(p.amount) is Decimal
            and type(p.currency) is type(p.explanation) is str)


# to_dict: the fields in declaration order, as _plain_fields gives them; an unusual part by it.

def _card_plain(c: Scorecard) -> dict[str, Any]:
    if not _usual_card(c):
        return _plain_fields(c)
    text = _remembered_text if _ordinary_context() else _tidy_text
    return {"employee_id": c.employee_id, "name": c.name, "role": c.role, "period": c.period, "scheme": c.scheme,
            "eligible": c.eligible, "total": None if c.total is None else text(c.total), "grade": c.grade,
            "pay": _pay_plain(c.pay, text) if _usual_pay(c.pay) else _plain_fields(c.pay),
            "lines": [_line_plain(x, text) if _usual_line(x) else _plain_fields(x) for x in c.lines],
            "dimensions": [_dimension_plain(x, text) if _usual_dimension(x) else _plain_fields(x)
                           for x in c.dimensions],
            "flags": [{"code": x.code, "message": x.message} if _usual_flag(x) else _plain_fields(x) for x in c.flags],
            "notes": list(c.notes)}


def _line_plain(ln: Line, text) -> dict[str, Any]:
    return {"dimension": ln.dimension, "indicator": ln.indicator, "name": dict(ln.name), "metric": ln.metric,
            "value": None if ln.value is None else text(ln.value), "rule": ln.rule, "matched": ln.matched,
            "points": text(ln.points), "max_points": None if ln.max_points is None else text(ln.max_points),
            "explanation": ln.explanation, "adjustments": list(ln.adjustments)}


def _dimension_plain(d: DimensionResult, text) -> dict[str, Any]:
    return {"id": d.id, "name": dict(d.name), "raw": text(d.raw), "max_points": text(d.max_points),
            "weight": text(d.weight), "points": text(d.points), "adjustments": list(d.adjustments)}


def _pay_plain(p: Pay, text) -> dict[str, Any]:
    return {"base": text(p.base), "percent": text(p.percent), "amount": text(p.amount), "currency": p.currency,
            "explanation": p.explanation}


# to_json: JSON text, keys sorted, as json.dumps(..., ensure_ascii=False, sort_keys=True) writes it:
# ", " and ": " between, each str by _json_str (the function json.dumps uses for ensure_ascii=False),
# a figure's text in quotes (digits, sign and point, or NaN: nothing to escape).

def _card_json(c: Scorecard) -> str:
    if not _usual_card(c):
        raise _Unusual
    text = _remembered_text if _ordinary_context() else _tidy_text
    dimensions = ", ".join([_dimension_json(x, text) for x in c.dimensions])
    flags = ", ".join([_flag_json(x) for x in c.flags])
    lines = ", ".join([_line_json(x, text) for x in c.lines])
    grade = "null" if c.grade is None else _json_str(c.grade)
    pay = "null" if c.pay is None else _pay_json(c.pay, text)
    total = "null" if c.total is None else f'"{text(c.total)}"'
    return (f'{{"dimensions": [{dimensions}], "eligible": {"true" if c.eligible else "false"}, '
            f'"employee_id": {_json_str(c.employee_id)}, "flags": [{flags}], "grade": {grade}, "lines": [{lines}], '
            f'"name": {_json_str(c.name)}, "notes": {_json_strings(c.notes)}, "pay": {pay}, '
            f'"period": {_json_str(c.period)}, "role": {_json_str(c.role)}, "scheme": {_json_str(c.scheme)}, '
            f'"total": {total}}}')


def _line_json(ln: Line, text) -> str:
    if not _usual_line(ln):
        raise _Unusual
    metric = "null" if ln.metric is None else _json_str(ln.metric)
    value = "null" if ln.value is None else f'"{text(ln.value)}"'
    max_points = "null" if ln.max_points is None else f'"{text(ln.max_points)}"'
    return (f'{{"adjustments": {_json_strings(ln.adjustments)}, "dimension": {_json_str(ln.dimension)}, '
            f'"explanation": {_json_str(ln.explanation)}, "indicator": {_json_str(ln.indicator)}, '
            f'"matched": {_json_str(ln.matched)}, "max_points": {max_points}, "metric": {metric}, '
            f'"name": {_json_names(ln.name)}, "points": "{text(ln.points)}", "rule": {_json_str(ln.rule)}, '
            f'"value": {value}}}')


def _dimension_json(d: DimensionResult, text) -> str:
    if not _usual_dimension(d):
        raise _Unusual
    return (f'{{"adjustments": {_json_strings(d.adjustments)}, "id": {_json_str(d.id)}, '
            f'"max_points": "{text(d.max_points)}", "name": {_json_names(d.name)}, "points": "{text(d.points)}", '
            f'"raw": "{text(d.raw)}", "weight": "{text(d.weight)}"}}')


def _flag_json(f: Flag) -> str:
    if not _usual_flag(f):
        raise _Unusual
    return f'{{"code": {_json_str(f.code)}, "message": {_json_str(f.message)}}}'


def _pay_json(p: Pay, text) -> str:
    if not _usual_pay(p):
        raise _Unusual
    text(p.amount)  # to_dict tidies the amount before it writes it as it is: the same checks
    return (f'{{"amount": "{format(p.amount, "f")}", "base": "{text(p.base)}", "currency": {_json_str(p.currency)}, '
            f'"explanation": {_json_str(p.explanation)}, "percent": "{text(p.percent)}"}}')


def _json_strings(values: list[str]) -> str:
    return "[" + ", ".join(map(_json_str, values)) + "]" if values else "[]"


def _json_names(d: dict[str, str]) -> str:
    """A name's JSON (its keys and values plain str, checked by the caller)."""
    key = tuple(d.items())
    text = _NAMES.get(key)
    if text is None:
        text = "{" + ", ".join([f"{_json_str(k)}: {_json_str(v)}" for k, v in sorted(key)]) + "}"
        if len(_NAMES) >= _LEARNED:
            _NAMES.clear()
        _NAMES[key] = text
    return text


@dataclass(frozen=True)
class Standing:
    """Where a person stood in one period's current results: total and competition rank among
    the appraised (`ranked` people in all); `last` when no one ranked below them (ties included)."""

    eligible: bool
    total: Decimal | None
    rank: int | None
    ranked: int
    last: bool = False


def competition_ranks(totals: dict[str, Decimal]) -> dict[str, int]:
    """Ranks 1, 2, 2, 4 by total, highest first."""
    ranks, prev, prev_rank = {}, None, 0
    for i, (emp, total) in enumerate(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])), 1):
        prev_rank = prev_rank if total == prev else i
        ranks[emp], prev = prev_rank, total
    return ranks


def ranked(cards: list["Scorecard"]) -> list[tuple[int | None, "Scorecard"]]:
    """The appraised by competition rank (1, 2, 2, 4), then the not appraised by id, unranked."""
    ranks = competition_ranks({c.employee_id: c.total for c in cards if c.eligible and c.total is not None})
    order = sorted(cards, key=lambda c: (c.employee_id not in ranks, ranks.get(c.employee_id, 0), c.employee_id))
    return [(ranks.get(c.employee_id), c) for c in order]


def standings(rows: list[tuple[str, bool, Decimal | None]]) -> dict[str, Standing]:
    """Standings from (employee id, eligible, total) rows of one period."""
    totals = {emp: total for emp, eligible, total in rows if eligible and total is not None}
    ranks = competition_ranks(totals)
    bottom = max(ranks.values(), default=None)
    return {emp: Standing(eligible, total, ranks.get(emp), len(ranks), ranks.get(emp) == bottom and len(ranks) > 1)
            for emp, eligible, total in rows}


@dataclass
class ScoringContext:
    """What a scheme is given to score one period. `history` holds earlier periods' standings,
    most recent first, as many as the scheme asks for (Scheme.history_periods)."""

    period: Period
    employees: list[Employee]
    values: dict[str, dict[str, MetricValue]]  # employee id -> metric id -> value
    parameters: dict[str, Any]  # the site's overrides; the scheme applies its own defaults
    history: list[tuple[str, dict[str, Standing]]] = field(default_factory=list)  # (period label, standings)
    parts: list[tuple[str, dict[str, Standing]]] = field(default_factory=list)  # a quarter's or year's months
    # Recorded adjustments of an indicator's points: employee -> indicator id -> (points, why).
    overrides: dict[str, dict[str, tuple[Decimal, str]]] = field(default_factory=dict)


@runtime_checkable
class Scheme(Protocol):
    """A scoring scheme. Declarative TOML packs implement it (kpi.plugins.schemes); a plugin may
    also provide one in Python."""

    id: str
    name: dict[str, str]
    version: str

    def metrics(self) -> set[str]:
        """The metric ids the scheme reads."""

    def check_parameters(self, overrides: dict[str, Any], where: str) -> list[Problem]:
        """Problems with a site's parameter overrides (unknown name, wrong type)."""

    def score(self, ctx: ScoringContext) -> list[Scorecard]:
        """One scorecard per employee in ctx.employees."""

    # Optional: `history_periods() -> int`, how many earlier periods' standings score() reads
    # (multi-period rules); the pipeline then fills ScoringContext.history from the store.
    # Optional: `aggregates(cycle) -> str | None`: for "quarterly" or "annual", how the scheme makes
    # that period's result from its months' stored results ("mean", "sum"); the pipeline then fills
    # ScoringContext.parts instead of computing metrics. None: the period is scored from its own data.
