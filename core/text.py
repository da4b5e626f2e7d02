"""Text for a terminal: column widths that count a Chinese character as two columns, aligned
tables, and the text form of a scheme description (what `kpi scheme show` prints).

A scheme description is the dict a scheme's ``describe()`` returns (the declarative engine's is
built in kpi.plugins.schemes.describe): ``id``, ``version``, ``name`` ({"zh", "en"}), ``source``,
``file``, ``notes``, ``total``, ``total_factor``, ``total_floor``, ``rounding``, ``probation``,
``exclusions`` [{metric, when, reason}], ``parameters`` [{name, type, default, description}],
``metrics`` [{id, unit, direction, description}], ``formulas`` [{name, formula}], ``roles`` [{id,
name}], ``dimensions`` [{id, name, max, weight, weights {role: weight}, combine?, floor?, cap?,
indicators [{id, name, metric, rule, text}]}], ``flags`` [{id, metric, when, message}], ``streaks``
[{id, periods, when, message, pay_bonus}], ``grades`` [{grade, total}] and ``pay`` ({currency,
base_by_role, floor_percent_by_role, percent [{total, percent}], percent_is_total,
coefficient_by_grade, amount, prorate {attended, scheduled}} or None). Figures are strings, as
written. Any part may be missing or None: a scheme written in Python describes what it can."""

from __future__ import annotations

import textwrap
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def name_text(name: Any) -> str:
    """A bilingual name as one string: the Chinese first, then the English."""
    if not isinstance(name, dict):
        return str(name or "")
    order = ["zh", "en", *(k for k in name if k not in ("zh", "en"))]
    return " / ".join(name[k] for k in order if name.get(k))


def _label(item: dict) -> str:
    """'csat  月度客户满意度 / Monthly CSAT'; just the id where the name only repeats it."""
    name = name_text(item.get("name"))
    return item["id"] if name in ("", item["id"]) else f"{item['id']}  {name}"


def render_description(d: dict[str, Any]) -> str:
    """The regulation's rule table as a person reads it: header, parameters, roles, the weights of
    each dimension by role, each dimension's indicators with their rules, flags, grades and pay."""
    out = [f"{_label(dict(d, id=d.get('id', '?')))}  version {d.get('version', '?')}"]
    out += [f"{key}: {d[key]}" for key in ("source", "file") if d.get(key)]
    if d.get("total"):
        total = f"total {d['total']}" + (f" × {d['total_factor']}" if d.get("total_factor") else "")
        total += f", never below {d['total_floor']}" if d.get("total_floor") else ""
        out.append(f"{total}; each dimension rounded to {d.get('rounding', '?')} (half up); "
                   f"on probation: {str(d.get('probation', 'appraised')).replace('_', ' ')}")
    out += [f"not appraised when {x['metric']} {x['when']}: {x['reason']}" for x in d.get("exclusions") or []]
    if d.get("notes"):
        out += _section("notes", "\n".join(textwrap.fill(n, 100, initial_indent="- ", subsequent_indent="  ")
                                           for n in d["notes"]))
    out += _rows(d, "parameters", ["name", "type", "default", "description"])
    out += _rows(d, "metrics", ["id", "unit", "direction", "description"], "metrics a connector supplies")
    out += _rows(d, "formulas", ["name", "formula"])
    roles = [r["id"] for r in d.get("roles", [])]
    out += _rows({"roles": [{"id": r["id"], "name": name_text(r.get("name"))} for r in d.get("roles", [])]},
                 "roles", ["id", "name"])
    dims = d.get("dimensions", [])
    if dims:
        out += _section("dimensions: maximum and weight by role", _weights(dims, roles))
    for n, dim in enumerate(dims, 1):
        limits = "".join(f", {k} {dim[k]}" for k in ("combine", "floor", "cap") if dim.get(k) is not None)
        rows = [[i["id"], _label(i)[len(i["id"]):].strip(), i.get("metric", ""), i.get("rule", ""), i.get("text", "")]
                for i in dim.get("indicators", [])]
        out += _section(f"{n}. {_label(dim)}  (max {dim.get('max')}{limits})",
                        table(rows, ["indicator", "name", "metric", "rule", "points"]))
    out += _rows(d, "flags", ["id", "metric", "when", "message"])
    out += _rows(d, "streaks", ["id", "periods", "when", "message", "pay_bonus"], "streaks: periods in a row")
    out += _rows(d, "grades", ["grade", "total"])
    if d.get("pay"):
        out += _section(f"pay ({d['pay'].get('currency', '')})".replace(" ()", ""), _pay(d["pay"], roles))
    return "\n".join(out)


def _section(title: str, body: str) -> list[str]:
    return ["", title, textwrap.indent(body, "  ")]


def _rows(d: dict, key: str, columns: list[str], title: str = "") -> list[str]:
    """A section listing d[key], a list of dicts, one column per key; nothing when it is empty."""
    items = d.get(key) or []
    if not items:
        return []
    return _section(title or key, table([[str(i.get(c) if i.get(c) is not None else "") for c in columns]
                                         for i in items], columns))


def _weights(dims: list[dict], roles: list[str]) -> str:
    rows = [[_label(x), str(x.get("max", "")), str(x.get("weight", "")),
             *(str(x.get("weights", {}).get(r, x.get("weight", ""))) for r in roles)] for x in dims]
    # A total row shows at a glance whether each role's weights add up to the scheme's total.
    totals = [_sum(row[i] for row in rows) for i in range(2, len(rows[0]))]
    return table(rows + [["total", "", *totals]], ["dimension", "max", "default", *roles])


def _sum(figures) -> str:
    try:
        return format(sum((Decimal(f) for f in figures), Decimal(0)).normalize(), "f")
    except InvalidOperation:
        return "?"


def _pay(pay: dict, roles: list[str]) -> str:
    bases, floors = pay.get("base_by_role", {}), pay.get("floor_percent_by_role", {})
    parts = []
    if bases:
        parts.append(table([[r, str(bases[r]), f"{floors[r]}%" if r in floors else "-"]
                            for r in [*roles, *(r for r in bases if r not in roles)] if r in bases],
                           ["role", "base at 100%", "never below"]))
    if pay.get("percent_is_total"):
        parts.append("pay % = the total (a total of 85 pays 85% of the base)")
    if pay.get("percent"):
        parts.append(table([[p["total"], f"{p['percent']}%"] for p in pay["percent"]], ["total", "pay"]))
    if pay.get("coefficient_by_grade"):
        parts.append(table([[g, str(c)] for g, c in pay["coefficient_by_grade"].items()], ["grade", "× coefficient"]))
    if pay.get("amount"):
        parts.append(f"amount = {pay['amount']}")
    if pay.get("prorate"):
        parts.append(f"joiners and leavers: × {pay['prorate']['attended']} / {pay['prorate']['scheduled']} days")
    return "\n\n".join(parts)
