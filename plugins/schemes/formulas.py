"""Formulas in schemes (rule type 8), in the safe expression language of expr.py.

A scheme may name intermediate figures once, in ``[formulas]``, and use them in indicators, in the
total's factor and in pay; each is shown on the scorecard with the values it used:

    [formulas]
    qc_factor = "if(qc_rate < 70, 1 - (70 - qc_rate) / 100 * 5, if(qc_rate > 80, 1 + (qc_rate - 80) / 100 * 5, 1))"

    [[dimension.indicator]]
    id = "bonus"
    rule = "formula"
    formula = "workload_bonus * qc_factor + contribution"
    cap = 500

A formula reads parameters, metrics, other named formulas and, in an indicator bound to a metric,
``value``. Any other name is a metric the scheme reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping

from kpi.core.errors import Problem

from .expr import ExprError, Formula
from .rules import INF, Outcome, ParseContext, RuleError, fmt


def compile_formula(ctx: ParseContext, text: Any, where: str) -> Formula | None:
    try:
        return Formula(text)
    except ExprError as exc:
        ctx.error(where, f"{exc}; a formula uses + - * / %, comparisons, and/or/not, "
                         "min max abs round floor ceil clamp if, and names of metrics and parameters")
        return None


def metric_names(formula: Formula, ctx: ParseContext) -> set[str]:
    """The names a formula reads that are neither parameters nor named formulas: metrics."""
    return formula.names - set(ctx.parameters) - set(getattr(ctx, "formulas", {})) - {"value"}


@dataclass
class Derived:
    name: str
    formula: Formula


def parse_formulas(ctx: ParseContext, spec: Any) -> list[Derived]:
    """[formulas], in an order where each comes after those it reads; a cycle is an error."""
    if spec is None:
        return []
    if not isinstance(spec, dict):
        ctx.error("formulas", 'expected a table of name = "formula"')
        return []
    parsed = {}
    for name, text in spec.items():
        if name in ctx.parameters:
            ctx.error(f"formulas.{name}", "has the name of a parameter; give it another name")
            continue
        f = compile_formula(ctx, text, f"formulas.{name}")
        if f is not None:
            parsed[name] = f
    ordered, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            ctx.error(f"formulas.{name}", f"formulas depend on each other in a circle: {' → '.join(path + [name])}")
            return
        state[name] = "visiting"
        for dep in sorted(parsed[name].names & set(parsed)):
            visit(dep, path + [name])
        state[name] = "done"
        ordered.append(Derived(name, parsed[name]))

    for name in parsed:
        visit(name, [])
    return ordered


def evaluate(formula: Formula, env: Mapping[str, Any]) -> Decimal:
    """A formula's number; a missing value or a true/false result is a RuleError naming it."""
    try:
        result = formula.evaluate(env)
    except ExprError as exc:
        raise RuleError(f"{formula.text!r}: {exc}") from None
    if isinstance(result, bool):
        raise RuleError(f"{formula.text!r} gives true/false, not a number")
    return result


def shown(formula: Formula, env: Mapping[str, Any]) -> str:
    """The values a formula read, for the explanation: 'qc_rate = 65, base = 300'."""
    return ", ".join(f"{n} = {fmt(Decimal(str(env[n])))}" for n in sorted(formula.names)
                     if env.get(n) is not None and not isinstance(env[n], bool))


class FormulaRule:
    """Points from a formula; the indicator's cap and floor bound it."""

    def __init__(self, formula: Formula, reads: set[str]):
        self.formula, self.reads = formula, reads

    def inputs(self, metric: str | None) -> list[str]:
        return sorted(self.reads | ({metric} if metric else set()))

    def apply_inputs(self, env: Mapping[str, Any], params) -> Outcome | None:
        if any(env.get(m) is None for m in self.reads):
            return None
        pts = evaluate(self.formula, env)
        return Outcome(pts, "formula", f"{self.formula.text} = {fmt(pts)} ({shown(self.formula, env)})")

    def apply(self, value: Decimal, params) -> Outcome:
        out = self.apply_inputs(dict(params, value=value), params)
        if out is None:
            raise RuleError(f"{self.formula.text!r} reads metrics that have no value")
        return out

    def max_points(self, params) -> Decimal:
        return INF  # unknown: the indicator's cap bounds it

    def check(self, params, where, file) -> list[Problem]:
        return []

    def describe(self, params) -> str:
        return self.formula.text


class FormulaType:
    keys = {"formula"}

    def parse(self, spec, where, ctx: ParseContext):
        formula = compile_formula(ctx, spec.get("formula"), f"{where}.formula")
        if formula is None:
            return None
        if "value" in formula.names and not isinstance(spec.get("metric"), str):
            ctx.error(f"{where}.formula", "uses `value` but the indicator names no metric")
        return FormulaRule(formula, metric_names(formula, ctx))
