"""A declarative scheme as the regulation's rule table (`kpi scheme show`): a JSON-ready dict whose
figures are strings as people write them, with each rule in one line under the scheme's default
parameters ("≥ 95 → 30; [90, 95) → 24; …", "15, −3 each, floor 0").

The text form is kpi.core.text.render_description, re-exported here as render_text: the core CLI
prints any scheme's description with it, and the core must not import the plugins."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kpi.core.text import render_description as render_text

from .rules import fmt

__all__ = ["describe", "render_text"]


def describe(scheme) -> dict[str, Any]:
    params = scheme.resolve({})
    return {
        "id": scheme.id,
        "version": scheme.version,
        "name": scheme.name,
        "source": getattr(scheme, "source", "") or None,
        "file": scheme.file,
        "notes": list(scheme.notes),
        "total": fmt(scheme.total_cap),
        "total_floor": fmt(scheme.total_floor) if scheme.total_floor is not None else None,
        "total_factor": scheme.total_factor.text if scheme.total_factor is not None else None,
        "rounding": str(scheme.rounding),
        "probation": scheme.probation,
        "exclusions": [{"metric": x.metric, "when": _when(x.when, params), "reason": x.reason}
                       for x in scheme.exclusions],
        "parameters": [{"name": p.name, "type": p.type, "default": _plain(p.default), "description": p.description}
                       for p in scheme.parameters.values()],
        "metrics": [{"id": m.id, "unit": m.metric.unit, "direction": m.metric.direction,
                     "description": m.metric.description} for m in scheme.declared.values()],
        "formulas": [{"name": f.name, "formula": f.formula.text} for f in scheme.formulas],
        "roles": [{"id": rid, "name": spec.get("name", {})} for rid, spec in scheme.roles.items()],
        "dimensions": [_dimension(d, list(scheme.roles), params) for d in scheme.dimensions],
        "flags": [{"id": f.id, "metric": f.metric, "when": _when(f.when, params), "message": f.message}
                  for f in scheme.flags],
        "streaks": [{"id": st.id, "periods": st.periods, "when": st.condition(params), "message": st.message,
                     "pay_bonus": st.pay_bonus.text(params) if st.pay_bonus is not None else None}
                    for st in getattr(scheme, "streaks", [])],
        "grades": [{"grade": g.result_text, "total": g.label(params)} for g in scheme.grades],
        "pay": _pay(scheme.pay, params) if scheme.pay else None,
    }


def _dimension(d, roles: list[str], params) -> dict[str, Any]:
    out = {"id": d.id, "name": d.name, "max": fmt(d.max), "weight": fmt(d.weight),
           "weights": {r: fmt(d.weight_by_role.get(r, d.weight)) for r in roles}}
    # Only what differs from the usual (sum, floor 0, cap = max) is worth a reader's attention.
    if d.combine != "sum":
        out["combine"] = d.combine
    if d.floor != 0:
        out["floor"] = fmt(d.floor)
    if d.cap != d.max:
        out["cap"] = fmt(d.cap)
    out["indicators"] = [{"id": i.id, "name": i.name, "metric": i.metric or ", ".join(i.inputs()),
                          "rule": i.rule_name, "text": _rule_text(i, params)} for i in d.indicators]
    return out


def _rule_text(ind, params) -> str:
    # A third-party rule type may not describe itself; its class name is better than nothing.
    describe_rule = getattr(ind.rule, "describe", None)
    text = describe_rule(params) if callable(describe_rule) else type(ind.rule).__name__
    bounds = [f"{k} {n.text(params)}" for k, n in (("floor", ind.floor), ("cap", ind.cap)) if n is not None]
    return "; ".join([text, ", ".join(bounds)]) if bounds else text


def _when(comparisons, params) -> str:
    return " and ".join(c.label(params) for c in comparisons)


def _pay(pay, params) -> dict[str, Any]:
    return {
        "currency": pay.currency,
        "rounding": str(pay.rounding),
        "base_by_role": {r: n.text(params) for r, n in pay.base_by_role.items()},
        "floor_percent_by_role": {r: n.text(params) for r, n in pay.floor_by_role.items()},
        "percent": [{"total": b.label(params), "percent": b.result.text(params)} for b in pay.bands],
        "percent_is_total": pay.percent_is_total,
        "coefficient_by_grade": {g: n.text(params) for g, n in pay.coefficient_by_grade.items()},
        "amount": pay.amount.text if pay.amount is not None else None,
        "prorate": {"attended": pay.prorate[0], "scheduled": pay.prorate[1].text(params)} if pay.prorate else None,
    }


def _plain(value: Any) -> Any:
    return fmt(value) if isinstance(value, Decimal) else value
