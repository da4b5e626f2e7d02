"""Rules over consecutive periods (rule type 11): a flag — and optionally a pay bonus — when a
person's total, or their place, meets a condition in this period and the ones before it.

    [[streak]]
    id = "eliminated"
    periods = 2                      # this period and the one before
    total = { lt = 35 }              # or: place = "last" / "first"
    message = "below 35 two months in a row: eliminated (seed 003)"

    [[streak]]
    id = "top_three_months"
    periods = 3
    place = "first"
    message = "first place three months in a row: extra bonus"
    pay_bonus = "top_bonus"          # a number or a parameter, added to the pay amount

Earlier periods' standings come from the store (each period's current run). A period that was
never scored, or in which the person was not appraised, breaks the streak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kpi.core.scoring import Standing

from .rules import Comparison, Num, ParseContext, fmt, parse_comparison

PLACES = ("first", "last")


@dataclass
class Streak:
    id: str
    periods: int
    total: list[Comparison] | None
    place: str | None
    message: str
    pay_bonus: Num | None
    where: str

    def met_in(self, standing: Standing | None, params) -> bool:
        if standing is None or not standing.eligible or standing.total is None:
            return False
        if self.total is not None:
            return all(c.test(standing.total, params) for c in self.total)
        return standing.rank == 1 if self.place == "first" else standing.last

    def condition(self, params) -> str:
        if self.total is not None:
            return "total " + " and ".join(c.label(params) for c in self.total)
        return f"{self.place} place"

    def evaluate(self, emp_id: str, current: Standing, history: list[tuple[str, dict]], period: str,
                 params) -> str | None:
        """The explanation when the streak is met, else None."""
        run = [(period, current)] + [(label, table.get(emp_id)) for label, table in history[: self.periods - 1]]
        if len(run) < self.periods or not all(self.met_in(st, params) for _, st in run):
            return None
        shown = ", ".join(f"{label}: {fmt(st.total)}" + (f" (rank {st.rank} of {st.ranked})" if self.place else "")
                          for label, st in run)
        return f"{self.message} ({self.condition(params)} in {self.periods} periods in a row: {shown})"


def parse_streaks(ctx: ParseContext, items: Any) -> list[Streak]:
    out = []
    for i, spec in enumerate(items or []):
        where = f"streak[{i}]"
        if not isinstance(spec, dict):
            ctx.error(where, "expected a table: id, periods, total = { lt = 35 } or place = \"last\", message")
            continue
        ctx.known_keys(spec, where, {"id", "periods", "total", "place", "message", "pay_bonus"})
        periods = spec.get("periods")
        if not isinstance(periods, int) or isinstance(periods, bool) or periods < 2:
            ctx.error(f"{where}.periods", f"expected a whole number of periods, 2 or more; found {periods!r}")
            continue
        if ("total" in spec) == ("place" in spec):
            ctx.error(where, 'give one condition: total = { lt = 35 } or place = "first" / "last"')
            continue
        place = spec.get("place")
        if place is not None and place not in PLACES:
            ctx.error(f"{where}.place", f'expected "first" or "last", found {place!r}')
            continue
        total = parse_comparison(ctx, spec["total"], f"{where}.total") if "total" in spec else None
        if not isinstance(spec.get("id"), str) or not isinstance(spec.get("message"), str):
            ctx.error(where, "needs an id and a message")
            continue
        out.append(Streak(spec["id"], periods, total, place, spec["message"], ctx.num(spec, "pay_bonus", where), where))
    return out
