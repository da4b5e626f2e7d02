"""What `kpi scheme check` finds in a scheme that parsed: the warnings of the parse, then what the
parse does not look for — grade and pay bands no total can reach, dimensions that can never score
full marks, and mistakes in the worked examples. (A scheme that does not parse never gets here:
its ConfigError lists band gaps and overlaps, points above a dimension's maximum and the like.)"""

from __future__ import annotations

from decimal import Decimal

from kpi.core.errors import Problem

from .examples import example_problems
from .rules import fmt


def lint(scheme) -> list[Problem]:
    params = scheme.resolve({})
    problems = list(scheme.warnings)
    problems += _unreachable(scheme, scheme.grades, "grade", params)
    if scheme.pay:
        problems += _unreachable(scheme, scheme.pay.bands, "pay band", params)
    problems += _short_dimensions(scheme, params)
    problems += example_problems(scheme)
    return problems


def _unreachable(scheme, bands, what: str, params) -> list[Problem]:
    """Bands lying wholly above the highest total or below the lowest."""
    top, bottom = scheme.total_cap, _lowest_total(scheme)
    out = []
    for b in bands:
        lo, lo_closed, hi, hi_closed = b.bounds(params)
        if lo > top or (lo == top and not lo_closed) or hi < bottom or (hi == bottom and not hi_closed):
            out.append(Problem(scheme.file, b.where, f"unreachable: no total falls in {b.label(params)} (totals run "
                                                     f"from {fmt(bottom)} to {fmt(top)}); move the {what}'s edge or "
                                                     "remove it", "warning"))
    return out


def _lowest_total(scheme) -> Decimal:
    """The lowest total of any role: 0 unless dimension floors below 0 allow less; never below the
    scheme's total floor."""
    lowest = min(sum((min(d.floor, Decimal(0)) / d.max * d.weight_by_role.get(role, d.weight)
                      for d in scheme.dimensions), Decimal(0)) for role in [None, *scheme.roles])
    return lowest if scheme.total_floor is None else max(lowest, scheme.total_floor)


def _short_dimensions(scheme, params) -> list[Problem]:
    out = []
    for d in scheme.dimensions:
        reach = sum((max(i.max_points(params), Decimal(0)) for i in d.indicators), Decimal(0))
        if d.combine == "mean":
            reach /= len(d.indicators)
        if reach < d.max:
            shown = fmt(reach.quantize(Decimal("0.01")))
            out.append(Problem(scheme.file, d.where, f"the dimension can never score full marks: its indicators give "
                                                     f"at most {shown} of {fmt(d.max)}; raise an indicator's "
                                                     "points or lower the dimension's max", "warning"))
    return out
