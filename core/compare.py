"""Comparing results: `kpi diff` (two stored runs: who changed and why — an input, the scheme or
its parameters, an adjustment) and `kpi simulate` (the stored data re-scored under another scheme
or other parameters, without touching the official results: who gains, who loses, the grade
distribution and total pay)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

from . import adjustments
from .errors import KpiError
from .scoring import ScoringContext

ZERO = Decimal(0)


def _card_figures(card: dict) -> dict[str, Any]:
    pay = card.get("pay") or {}
    return {"total": None if card["total"] is None else Decimal(card["total"]), "grade": card["grade"],
            "pay": Decimal(pay["amount"]) if pay else None, "eligible": card["eligible"]}


def _run(store, conn, run_id: int) -> dict:
    runs = [r for r in store.runs(conn) if r["id"] == run_id]
    if not runs:
        raise KpiError(f"no run {run_id}; `kpi runs` lists them")
    run = runs[0]
    run["report"] = json.loads(run["report"] or "{}")
    run["cards"] = {c["employee_id"]: json.loads(c["breakdown"]) for c in store.scorecards(conn, run_id)}
    run["values"] = {(v["employee_id"], v["metric"]): v for v in store.metric_values(conn, run_id)}
    return run


def diff(store, conn, a_id: int, b_id: int) -> dict[str, Any]:
    a, b = _run(store, conn, a_id), _run(store, conn, b_id)
    scheme_a, scheme_b = a["report"].get("scheme", {}), b["report"].get("scheme", {})
    causes = []
    if (scheme_a.get("id"), scheme_a.get("digest")) != (scheme_b.get("id"), scheme_b.get("digest")):
        causes.append(f"scheme {scheme_a.get('id')} {scheme_a.get('version')} → {scheme_b.get('id')} {scheme_b.get('version')}"
                      + (" (its text changed)" if scheme_a.get("id") == scheme_b.get("id") else ""))
    params_a, params_b = scheme_a.get("parameters", {}), scheme_b.get("parameters", {})
    causes += [f"parameter {k}: {params_a.get(k)} → {params_b.get(k)}" for k in sorted(set(params_a) | set(params_b))
               if params_a.get(k) != params_b.get(k)]
    if a["config_hash"] != b["config_hash"]:
        causes.append("the site config changed")
    people = []
    for emp in sorted(set(a["cards"]) | set(b["cards"])):
        fa = _card_figures(a["cards"][emp]) if emp in a["cards"] else None
        fb = _card_figures(b["cards"][emp]) if emp in b["cards"] else None
        if fa == fb:
            continue
        why = []
        for metric in sorted({m for e, m in a["values"] if e == emp} | {m for e, m in b["values"] if e == emp}):
            va, vb = a["values"].get((emp, metric)), b["values"].get((emp, metric))
            if (va or {}).get("value") != (vb or {}).get("value"):
                source = f" ({vb['source']})" if vb and vb["source"].startswith("adjustment") else ""
                why.append(f"{metric} {_show(va)} → {_show(vb)}{source}")
        flags_b = {f["message"] for f in (b["cards"].get(emp) or {}).get("flags", []) if f["code"] == "adjusted"}
        flags_a = {f["message"] for f in (a["cards"].get(emp) or {}).get("flags", []) if f["code"] == "adjusted"}
        why += sorted(flags_b - flags_a)
        people.append({"employee_id": emp, "before": fa, "after": fb, "why": why or causes or ["(no input changed)"]})
    return {"a": a_id, "b": b_id, "periods": [a["period"], b["period"]], "causes": causes, "changed": people}


def _show(v: dict | None) -> str:
    if v is None:
        return "absent"
    return "no data" if v["value"] is None else format(v["value"], "f")


def simulate(p, store, conn, people, scheme, overrides: dict[str, Any]) -> dict[str, Any]:
    """Score the period's stored data under `scheme` with `overrides`; compare with the current run."""
    from .pipeline import measure  # the same measurement a run makes, read-only (keeps the evidence)
    run = store.current_run(conn, p.period.label)
    if run is None:
        raise KpiError(f"{p.period.label} has no official results to compare with; run: kpi run --period {p.period.label}")
    trial = replace(p, scheme=scheme)
    adjusted = adjustments.active(conn, p.period.label)
    values, _, _, _ = measure(trial, store, conn, people, [a for a in adjusted if a.target != "metric"
                                                                or a.name in scheme.metrics()])
    by_employee: dict[str, dict] = {}
    for v in values:
        by_employee.setdefault(v.employee_id, {})[v.metric] = v
    cards = scheme.score(ScoringContext(p.period, people, by_employee, overrides, [], [],
                                        adjustments.indicator_overrides(adjusted)))
    official = {c["employee_id"]: _card_figures(json.loads(c["breakdown"])) for c in store.scorecards(conn, run["id"])}
    rows = []
    for card in cards:
        now = official.get(card.employee_id, {"total": None, "grade": None, "pay": None})
        new_pay = card.pay.amount if card.pay else None
        delta = (card.total or ZERO) - (now["total"] or ZERO)
        rows.append({"employee_id": card.employee_id, "name": card.name, "total": now["total"], "new_total": card.total,
                     "change": delta, "grade": now["grade"], "new_grade": card.grade, "pay": now["pay"],
                     "new_pay": new_pay})
    rows.sort(key=lambda r: (-r["change"], r["employee_id"]))
    pay_now = sum((r["pay"] or ZERO for r in rows), ZERO)
    pay_new = sum((r["new_pay"] or ZERO for r in rows), ZERO)
    return {"period": p.period.label, "official_run": run["id"], "scheme": f"{scheme.id} {scheme.version}",
            "parameters": overrides, "people": rows,
            "gain": sum(1 for r in rows if r["change"] > 0), "lose": sum(1 for r in rows if r["change"] < 0),
            "grades": dict(sorted(Counter(r["grade"] for r in rows if r["grade"]).items())),
            "new_grades": dict(sorted(Counter(r["new_grade"] for r in rows if r["new_grade"]).items())),
            "pay": pay_now, "new_pay": pay_new, "pay_change": pay_new - pay_now}
