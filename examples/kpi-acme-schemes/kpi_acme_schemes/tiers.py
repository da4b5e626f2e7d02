"""The ``acme_tiers`` rule type: stepped points per unit, like a commission table. Each unit is
scored at the rate of the tier it falls in, so selling the 11th service contract earns the top
rate while the first ten keep theirs. kpi's built-ins cannot say this: ``bands`` gives one figure
for the whole value, ``per_occurrence`` one rate for every unit.

    [[dimension.indicator]]
    id = "contracts"
    metric = "contracts_sold"
    rule = "acme_tiers"
    tiers = [
      { upto = 5, each = 2 },                # units 1–5: 2 points each
      { upto = 10, each = 3 },               # units 6–10: 3 points each
      { each = "top_tier_points" },          # every unit above 10 (a number or a scheme parameter)
    ]
    cap = 30                                 # the indicator's cap: an open last tier has no maximum

Every tier but the last needs ``upto`` (the count it runs up to, inclusive); a last tier with
``upto`` stops there, and units above it earn nothing. ``upto`` and ``each`` may name scheme
parameters. The rule type is built on kpi's documented base, :mod:`kpi.plugins.schemes.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kpi.core.errors import Problem
from kpi.plugins.schemes.rules import INF, Num, Outcome, ParseContext, RuleError, fmt

TIER_KEYS = {"upto", "each"}
EXAMPLE = "tiers = [ { upto = 5, each = 2 }, { upto = 10, each = 3 }, { each = 4 } ]"


@dataclass(frozen=True)
class Tier:
    upto: Num | None  # None: open-ended (the last tier only)
    each: Num
    where: str


class TiersRule:
    """Σ over the tiers of (units in the tier) × (the tier's points per unit)."""

    def __init__(self, tiers: list[Tier]):
        self.tiers = tiers

    def _edges(self, params) -> list[tuple[Decimal, Decimal, Decimal]]:
        """(from, to, each) per tier; `to` is INF for an open last tier."""
        out, lo = [], Decimal(0)
        for t in self.tiers:
            hi = t.upto.value(params) if t.upto is not None else INF
            out.append((lo, hi, t.each.value(params)))
            lo = hi
        return out

    def apply(self, value: Decimal, params) -> Outcome:
        if value < 0:
            raise RuleError(f"{fmt(value)} is not a number of units (it is below 0)")
        points, parts, matched = Decimal(0), [], "0 units"
        for i, (lo, hi, each) in enumerate(self._edges(params)):
            units = min(value, hi) - lo
            if units <= 0:
                break
            points += units * each
            parts.append(f"{fmt(units)} × {fmt(each)}")
            matched = f"tier {i + 1} ({_label(lo, hi)})"
        text = f"{fmt(value)} units: {' + '.join(parts) or '0'} = {fmt(points)}"
        last_hi = self._edges(params)[-1][1]
        if value > last_hi:
            text += f" (units above {fmt(last_hi)} earn nothing)"
        return Outcome(points, matched, text)

    def max_points(self, params) -> Decimal:
        best = running = Decimal(0)
        for lo, hi, each in self._edges(params):
            if hi == INF:
                return INF if each > 0 else best
            running += (hi - lo) * each
            best = max(best, running)
        return best

    def check(self, params, where, file) -> list[Problem]:
        problems, lo = [], Decimal(0)
        for t in self.tiers:
            if t.upto is None:
                continue
            hi = t.upto.value(params)
            if hi <= lo:
                problems.append(Problem(file, f"{t.where}.upto", f"{fmt(hi)} must be above the tier before it "
                                        f"({fmt(lo)}): tiers run upwards, each from where the last one stopped"))
            lo = max(lo, hi)
        return problems

    def describe(self, params) -> str:
        return "; ".join(f"{_label(lo, hi)}: {fmt(each).replace('-', '−')} each"
                         for lo, hi, each in self._edges(params)) + " (stepped, per unit)"


def _label(lo: Decimal, hi: Decimal) -> str:
    if hi == INF:
        return f"above {fmt(lo)}"
    return f"up to {fmt(hi)}" if lo == 0 else f"{fmt(lo)}–{fmt(hi)}"


class TiersType:
    """Parses ``tiers = [ … ]``; every mistake is reported with its key path through ctx.error."""

    keys = {"tiers"}

    def parse(self, spec, where, ctx: ParseContext):
        tw = f"{where}.tiers"
        items = spec.get("tiers")
        if not isinstance(items, list) or not items or not all(isinstance(t, dict) for t in items):
            ctx.error(tw, f"expected a list of tiers such as {EXAMPLE}")
            return None
        before = len(ctx.problems)
        tiers = []
        for i, item in enumerate(items):
            iw = f"{tw}[{i}]"
            ctx.known_keys(item, iw, TIER_KEYS)
            last = i == len(items) - 1
            if "upto" not in item and not last:
                ctx.error(f"{iw}.upto", "missing: every tier but the last needs the count it runs up to")
            upto = ctx.num(item, "upto", iw)
            each = ctx.num(item, "each", iw, required=True)
            if each is not None:
                tiers.append(Tier(upto, each, iw))
        if len(ctx.problems) > before:
            return None
        return TiersRule(tiers)
