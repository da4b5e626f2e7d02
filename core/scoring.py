"""What a scheme is to the core, and the scorecard it produces. A scorecard carries its whole
arithmetic: every indicator's value, rule, matched band or condition, points and any cap or floor,
then dimension subtotals, total, grade, pay and flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from .decimals import tidy
from .errors import Problem
from .models import Employee, MetricValue, Period


@dataclass(slots=True)
class Flag:
    """Something a person must look at that is not points: dismissal review, unfit, calibration, no data."""

    code: str
    message: str


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
    adjustments: list[str] = field(default_factory=list)


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
            out = _plain_fields(self)
        except _Unusual:
            out = _plain(asdict(self))
        if self.pay is not None:  # money keeps its places: 225.00, not 225
            out["pay"]["amount"] = format(self.pay.amount, "f")
        return out


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
    if kind is list:
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
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


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
