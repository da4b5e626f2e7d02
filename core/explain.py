"""`kpi explain`: one person's result for a period, traced from the source records (the tickets that
were late, the complaints counted, the attendance days) through the metric values and the rules to
the total, grade and pay — all read from the store, as the period's current run left it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from .card_text import render_scorecard
from .errors import KpiError
from .models import Period
from .options import did_you_mean

SHOWN_RECORDS = 50  # per metric; the count says how many more


def explain(store, conn, period: Period, employee_id: str, timezone: str) -> dict[str, Any]:
    run = store.current_run(conn, period.label)
    if run is None:
        raise KpiError(f"{period.label} has no stored results; run: kpi run --period {period.label}")
    cards = {c["employee_id"]: c for c in store.scorecards(conn, run["id"])}
    if employee_id not in cards:
        raise KpiError(f"no scorecard for {employee_id!r} in {period.label} (run {run['id']})"
                       f"{did_you_mean(employee_id, cards)}")
    values = [v for v in store.metric_values(conn, run["id"]) if v["employee_id"] == employee_id]
    metrics = []
    for v in values:
        evidence = json.loads(v["evidence"])
        kind = v["source"].removeprefix("records:") if v["source"].startswith("records:") else None
        ids = evidence.get("records") or []
        metrics.append({"metric": v["metric"], "value": v["value"], "source": v["source"], "evidence": evidence,
                        "records": _records(store, conn, kind, employee_id, ids[:SHOWN_RECORDS], period, timezone)
                        if kind in store.record_tables and ids else [],
                        "more_records": max(0, len(ids) - SHOWN_RECORDS)})
    return {"run": {"id": run["id"], "period": period.label, "scheme": f"{run['scheme_id']} {run['scheme_version']}",
                    "config_hash": run["config_hash"]},
            "metrics": metrics, "scorecard": json.loads(cards[employee_id]["breakdown"])}


def _records(store, conn, kind: str, employee_id: str, ids: list[str], period: Period, timezone: str) -> list[dict]:
    """The records behind a metric, as stored: their source, id and fields, times in the site's zone."""
    t = store.record_tables[kind]
    lo, hi = period.window()
    rows = conn.execute(select(t).where(t.c.employee_id == employee_id, t.c.source_id.in_(ids),
                                        t.c.at >= lo, t.c.at < hi).order_by(t.c.at)).mappings()
    fields = {f.name: f.type for f in store.kinds[kind].fields}
    tz = ZoneInfo(timezone)
    out = []
    for r in rows:
        shown = {"source": r["source"], "id": r["source_id"]}
        for name, type_ in fields.items():
            value = r[name]
            if value is not None and type_ == "datetime":
                value = datetime.fromtimestamp(value, tz).strftime("%Y-%m-%d %H:%M")
            shown[name] = value if value is None or isinstance(value, (int, bool)) else str(value)
        out.append(shown)
    return out


def render(explained: dict[str, Any]) -> str:
    run = explained["run"]
    out = [f"run {run['id']} of {run['period']} ({run['scheme']}, config {run['config_hash'][:12]})", "",
           "metric values, and the records behind them:"]
    for m in explained["metrics"]:
        value = "no data" if m["value"] is None else m["value"]
        facts = {k: v for k, v in m["evidence"].items() if k != "records"}
        out.append(f"  {m['metric']} = {value}  ({m['source']}" + "".join(f", {k} {v}" for k, v in facts.items()) + ")")
        for r in m["records"]:
            details = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("source", "id") and v is not None)
            out.append(f"    {r['source']}:{r['id']}  {details}")
        if m["more_records"]:
            out.append(f"    … and {m['more_records']} more (kpi explain --json lists the first {SHOWN_RECORDS})")
    out += ["", render_scorecard(explained["scorecard"])]
    return "\n".join(out)
