"""Roll-ups (rule type 7): a team's or department's score from its members, or a centre's from its
units with weights (seed 003: service office, environment, security 4:3:3), blended into members'
totals by role (seed 003: the department score counts 80% for the manager, 20% for staff).

    [[rollup]]
    id = "department"
    group = "department"                 # the roster's team or department
    combine = "mean"                     # of the appraised members' own totals: mean or sum
    units = { "服务办" = 4, "环境组" = 3, "秩序组" = 3 }   # optional: one score from the groups, weighted
    shares = { manager = 80, specialist = 20 }     # % of a role's total taken from the roll-up

A blended total is own × (100 − share)% + roll-up × share%, rounded once; grade and pay follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kpi.core.scoring import Scorecard

from .rules import Num, ParseContext, fmt

GROUPS = ("team", "department")


@dataclass
class Rollup:
    id: str
    group: str
    combine: str
    units: dict[str, Num]
    shares: dict[str, Num]
    where: str

    def scores(self, cards: list[Scorecard], groups: dict[str, str], params) -> tuple[dict[str, Decimal], list[str]]:
        """Each group's score (and with units, the one weighted score under the key ''), with how."""
        members: dict[str, list[Decimal]] = {}
        for c in cards:
            if c.eligible and c.total is not None:
                members.setdefault(groups[c.employee_id], []).append(c.total)
        out, how = {}, []
        for g, totals in sorted(members.items()):
            total = sum(totals, Decimal(0))
            out[g] = total / len(totals) if self.combine == "mean" else total
            how.append(f"{self.group} {g or '(none)'}: {self.combine} of {len(totals)} appraised members' totals "
                       f"= {fmt(out[g].quantize(Decimal('0.01'), ROUND_HALF_UP))}")
        if self.units:
            present = {u: w.value(params) for u, w in self.units.items() if u in out}
            weight = sum(present.values(), Decimal(0))
            if weight:
                out[""] = sum((out[u] * w for u, w in present.items()), Decimal(0)) / weight
                parts = " + ".join(f"{fmt(out[u].quantize(Decimal('0.01'), ROUND_HALF_UP))} × {fmt(w)}"
                                   for u, w in present.items())
                how.append(f"{self.id}: ({parts}) / {fmt(weight)} = {fmt(out[''].quantize(Decimal('0.01'), ROUND_HALF_UP))}"
                           + ("" if len(present) == len(self.units) else
                              f" (no appraised members in {', '.join(u for u in self.units if u not in present)})"))
        return out, how

    def blend(self, card: Scorecard, group_score: Decimal | None, rounding: Decimal, params) -> None:
        share = self.shares.get(card.role)
        if share is None or group_score is None or not card.eligible or card.total is None:
            return
        s = share.value(params)
        blended = (card.total * (100 - s) / 100 + group_score * s / 100).quantize(rounding, ROUND_HALF_UP)
        card.notes.append(f"{self.id}: own {fmt(card.total)} × {fmt(100 - s)}% + {self.id} "
                          f"{fmt(group_score.quantize(Decimal('0.01'), ROUND_HALF_UP))} × {fmt(s)}% = {fmt(blended)}")
        card.total = blended


def parse_rollups(ctx: ParseContext, items: Any, roles: dict) -> list[Rollup]:
    out = []
    for i, spec in enumerate(items or []):
        where = f"rollup[{i}]"
        if not isinstance(spec, dict):
            ctx.error(where, 'expected a table: id, group = "department", combine = "mean", shares = { … }')
            continue
        ctx.known_keys(spec, where, {"id", "group", "combine", "units", "shares"})
        group, combine = spec.get("group"), spec.get("combine", "mean")
        if group not in GROUPS:
            ctx.error(f"{where}.group", f'expected "team" or "department", found {group!r}')
            continue
        if combine not in ("mean", "sum"):
            ctx.error(f"{where}.combine", f'expected "mean" or "sum", found {combine!r}')
            continue
        units = {u: ctx.num(spec["units"], u, f"{where}.units", required=True) for u in spec.get("units") or {}}
        shares = {}
        for role in spec.get("shares") or {}:
            if role not in roles:
                from kpi.core.options import did_you_mean
                ctx.error(f"{where}.shares.{role}", f"unknown role{did_you_mean(role, roles)}")
            shares[role] = ctx.num(spec["shares"], role, f"{where}.shares", required=True)
        if not isinstance(spec.get("id"), str) or None in units.values() or None in shares.values():
            ctx.error(where, "needs an id, and numbers (or parameters) for its units and shares")
            continue
        out.append(Rollup(spec["id"], group, combine, units, shares, where))
    return out
