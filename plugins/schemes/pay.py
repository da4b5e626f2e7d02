"""Pay from a scorecard (rule type 9): a base by role, times a percentage (a table of total bands,
or the total itself as a percentage: "750 × score%"), raised to a floor by role, times a
coefficient by grade ("良好 → 1.2"), or an amount formula; leavers and joiners paid by days
attended. Money is Decimal, rounded once, half up, to the scheme's `rounding`.

    [pay]
    base_by_role = { specialist = 300, supervisor = "supervisor_base" }
    percent = [ { ge = 100, percent = 100 }, { ge = 95, lt = 100, percent = 95 }, … ]   # or: percent = "total"
    floor_percent_by_role = { specialist = 75 }
    coefficient_by_grade = { "良好" = 1.2 }
    amount = "base * percent / 100 + bonus"     # optional: replaces base × percent × coefficient
    prorate = { attended = "attended_days", scheduled = "pay_days" }   # a number or a parameter (21.75)

Pro-ration applies to whoever joined or left during the period (seed 003 names leavers; a joiner
is the same case): amount × days attended / scheduled days of a full period.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from kpi.core.errors import ConfigError, Problem
from kpi.core.models import Employee, Period
from kpi.core.scoring import Pay

from .expr import Formula
from .formulas import compile_formula, evaluate, metric_names, shown
from .rules import Band, Num, ParseContext, check_bands, fmt, parse_bands

PAY_KEYS = {"base_by_role", "percent", "floor_percent_by_role", "coefficient_by_grade", "amount", "prorate",
            "currency", "rounding"}


@dataclass
class PayRule:
    base_by_role: dict[str, Num]
    bands: list[Band]
    percent_is_total: bool
    floor_by_role: dict[str, Num]
    coefficient_by_grade: dict[str, Num]
    amount: Formula | None
    amount_reads: set[str]
    prorate: tuple[str, Num] | None  # the metric of days attended; the days of a full period
    currency: str
    rounding: Decimal
    file: str

    def metrics(self) -> set[str]:
        return set(self.amount_reads) | ({self.prorate[0]} if self.prorate else set())

    def check(self, params: dict) -> list[Problem]:
        problems = check_bands(self.bands, params, "pay.percent", self.file) if self.bands else []
        if self.prorate and self.prorate[1].value(params) <= 0:
            problems.append(Problem(self.file, "pay.prorate.scheduled", "must be above 0 (it divides the days attended)"))
        return problems

    def compute(self, emp: Employee, role: str, period: Period, total: Decimal, grade: str | None,
                env: Mapping[str, Any], params: dict) -> Pay | None:
        base_num = self.base_by_role.get(role)
        if base_num is None:
            return None
        base = base_num.value(params)
        if self.percent_is_total:
            percent, text = total, f"total {fmt(total)} → {fmt(total)}%"
        elif self.bands:
            band = next((b for b in self.bands if b.contains(total, params)), None)
            if band is None:
                raise ConfigError([Problem(self.file, "pay.percent", f"a total of {fmt(total)} falls in no pay band")])
            percent = band.result.value(params)
            text = f"total {fmt(total)} in {band.label(params)} → {fmt(percent)}%"
        else:
            percent, text = Decimal(100), "100%"
        floor = self.floor_by_role.get(role)
        if floor is not None and percent < floor.value(params):
            percent = floor.value(params)
            text += f", raised to the {role} floor of {fmt(percent)}%"
        coefficient = self.coefficient_by_grade[grade].value(params) if grade in self.coefficient_by_grade else Decimal(1)
        if self.amount is not None:
            names = dict(env, base=base, total=total, percent=percent, coefficient=coefficient)
            amount = evaluate(self.amount, names)
            text += f"; {self.amount.text} = {fmt(amount)} ({shown(self.amount, names)})"
        else:
            amount = base * percent / 100 * coefficient
            text += f"; {fmt(base)} × {fmt(percent)}%" + (f" × {fmt(coefficient)} (grade {grade})" if coefficient != 1 else "")
        if self.prorate and emp.employed_days(period) < period.days:
            attended, scheduled = env.get(self.prorate[0]), self.prorate[1].value(params)
            if attended is None:
                raise ConfigError([Problem(self.file, "pay.prorate", f"{emp.id} worked part of {period.label} but "
                                           f"{self.prorate[0]} has no value to prorate pay by; check the attendance data")])
            share = min(attended / scheduled, Decimal(1))
            amount = amount * share
            text += f" × {fmt(attended)}/{fmt(scheduled)} days attended"
        amount = amount.quantize(self.rounding, ROUND_HALF_UP)
        return Pay(base, percent, amount, self.currency, f"{text} = {amount}")


class RunPay:
    """A pay rule for one run. Without an amount formula and for whoever worked the whole period,
    pay follows from the role, grade and total alone: worked out once for each, and a new Pay made
    for every card (streaks add their bonus to it)."""

    def __init__(self, rule: PayRule, params: dict):
        self.rule, self.params = rule, params
        self.memo: dict[tuple, tuple | None] = {}

    def compute(self, emp: Employee, role: str, period: Period, total: Decimal, grade: str | None,
                env: Mapping[str, Any]) -> Pay | None:
        rule = self.rule
        if rule.amount is not None or rule.prorate and emp.employed_days(period) < period.days:
            return rule.compute(emp, role, period, total, grade, env, self.params)
        key = (role, grade, str(total))  # str: the total's exact digits, which percent = "total" keeps
        if key not in self.memo:
            pay = rule.compute(emp, role, period, total, grade, env, self.params)
            self.memo[key] = None if pay is None else (pay.base, pay.percent, pay.amount, pay.currency,
                                                       pay.explanation)
        fields = self.memo[key]
        return None if fields is None else Pay(*fields)


def parse_pay(ctx: ParseContext, spec: Any, roles: dict, grade_ids: set[str]) -> PayRule | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        ctx.error("pay", "expected a table: base_by_role, percent, …")
        return None
    ctx.known_keys(spec, "pay", PAY_KEYS)

    def by_key(key: str, known, what: str) -> dict[str, Num]:
        table = spec.get(key) or {}
        out = {}
        for name in table:
            if name not in known:
                from kpi.core.options import did_you_mean
                ctx.error(f"pay.{key}.{name}", f"unknown {what}{did_you_mean(name, known)}")
            n = ctx.num(table, name, f"pay.{key}", required=True)
            if n is not None:
                out[name] = n
        return out

    percent = spec.get("percent")
    bands, percent_is_total = [], percent == "total"
    if percent is not None and not percent_is_total:
        bands = parse_bands(ctx, percent, "pay.percent", "percent")
    amount = compile_formula(ctx, spec["amount"], "pay.amount") if "amount" in spec else None
    prorate = None
    if "prorate" in spec:
        p = spec["prorate"]
        if not isinstance(p, dict) or set(p) != {"attended", "scheduled"} or not isinstance(p["attended"], str):
            ctx.error("pay.prorate", 'expected { attended = "METRIC", scheduled = 21.75 } (a number or a parameter)')
        else:
            scheduled = ctx.num(p, "scheduled", "pay.prorate", required=True)
            if scheduled is not None:
                prorate = (p["attended"], scheduled)
    rounding = spec.get("rounding", "0.01")
    try:
        rounding = Decimal(str(rounding))
    except Exception:  # noqa: BLE001 - reported below
        rounding = None
    if rounding is None or not rounding.is_finite() or rounding <= 0:
        ctx.error("pay.rounding", f'expected a step such as "0.01", found {spec.get("rounding")!r}')
        rounding = Decimal("0.01")
    reads = metric_names(amount, ctx) - {"base", "total", "percent", "coefficient"} if amount else set()
    return PayRule(by_key("base_by_role", roles, "role"), bands, percent_is_total,
                   by_key("floor_percent_by_role", roles, "role"), by_key("coefficient_by_grade", grade_ids, "grade"),
                   amount, reads, prorate, str(spec.get("currency", "CNY")), rounding, ctx.file)
