"""Escalating penalties (rule type 3): the first occurrences may be free, then each further one
costs more than the one before — seed 003's shift swaps beyond 3 a month cost 5, 10, 15 …"""

from __future__ import annotations

from decimal import Decimal

from kpi.core.errors import Problem

from .rules import INF, Num, Outcome, ParseContext, RuleError, bounded, fmt


class EscalatingRule:
    """start + Σ (first + (k − 1) × step) over the occurrences beyond `free`, within floor and cap."""

    def __init__(self, start: Num, free: Num, first: Num, step: Num, floor: Num | None, cap: Num | None):
        self.start, self.free, self.first, self.step, self.floor, self.cap = start, free, first, step, floor, cap

    def apply(self, value: Decimal, params) -> Outcome:
        if value != value.to_integral_value() or value < 0:
            raise RuleError(f"{fmt(value)} is not a count of occurrences")
        start, free = self.start.value(params), self.free.value(params)
        first, step = self.first.value(params), self.step.value(params)
        beyond = max(0, int(value - free))
        costs = [first + step * k for k in range(beyond)]
        pts = start + sum(costs, Decimal(0))
        if beyond:
            text = f"{fmt(value)} occurrences, {fmt(free)} free: {fmt(start)} " + " ".join(
                f"{'+' if c >= 0 else '−'} {fmt(abs(c))}" for c in costs) + f" = {fmt(pts)}"
        else:
            text = f"{fmt(value)} occurrences, {fmt(free)} free → {fmt(pts)}"
        pts, text = bounded(pts, text, self.floor, self.cap, params)
        return Outcome(pts, f"{beyond} beyond {fmt(free)}", text)

    def max_points(self, params) -> Decimal:
        rising = self.first.value(params) > 0 or self.step.value(params) > 0
        top = INF if rising else self.start.value(params)
        return min(top, self.cap.value(params)) if self.cap is not None else top

    def check(self, params, where, file) -> list[Problem]:
        if self.free.value(params) < 0:
            return [Problem(file, f"{where}.free", "cannot be below 0")]
        return []

    def describe(self, params) -> str:
        text = (f"{self.start.text(params)}; beyond {self.free.text(params)}: {self.first.text(params)}, "
                f"then {self.step.text(params)} more each")
        if self.floor is not None:
            text += f", floor {self.floor.text(params)}"
        if self.cap is not None:
            text += f", cap {self.cap.text(params)}"
        return text


class EscalatingType:
    keys = {"start", "free", "first", "step", "floor", "cap"}

    def parse(self, spec, where, ctx: ParseContext):
        start = ctx.num(spec, "start", where, default=0)
        free = ctx.num(spec, "free", where, default=0)
        first = ctx.num(spec, "first", where, required=True)
        step = ctx.num(spec, "step", where, default=0)
        floor, cap = ctx.num(spec, "floor", where), ctx.num(spec, "cap", where)
        if None in (start, free, first, step):
            return None
        return EscalatingRule(start, free, first, step, floor, cap)
