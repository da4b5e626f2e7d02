"""A scorecard as a person reads it in a terminal: every indicator with its value, rule, the band or
condition that matched and its points; each dimension's subtotal and how it was scaled; the total,
grade and pay with their arithmetic; flags and notes. It reads the dict a Scorecard's to_dict()
gives, which is also what the store keeps, so a stored card prints the same as a fresh one."""

from __future__ import annotations

from typing import Any

from .text import name_text, table


def render_scorecard(card: dict[str, Any], rank: int | None = None) -> str:
    head = f"{card['employee_id']} {card['name']} · {card['role']} · {card['period']} · {card['scheme']}"
    out = [head + (f" · rank {rank}" if rank else "")]
    if not card["eligible"]:
        out.append("not appraised: " + "; ".join(f["message"] for f in card["flags"]))
        return "\n".join(out)
    lines_by_dim: dict[str, list[dict]] = {}
    for line in card["lines"]:
        lines_by_dim.setdefault(line["dimension"], []).append(line)
    for dim in card["dimensions"]:
        out.append("")
        out.append(f"{name_text(dim['name']) or dim['id']}: {dim['raw']} of {dim['max_points']} → "
                   f"{dim['raw']} / {dim['max_points']} × {dim['weight']} = {dim['points']}")
        rows = []
        for line in lines_by_dim.get(dim["id"], []):
            value = "no data" if line["value"] is None else line["value"]
            explanation = line["explanation"] + "".join(f"; {a}" for a in line["adjustments"])
            rows.append([line["indicator"], line["metric"] or "", value, line["rule"], line["points"], explanation])
        out += ["  " + r for r in table(rows, ["indicator", "metric", "value", "rule", "points", "how"]).splitlines()]
        out += [f"  {a}" for a in dim["adjustments"]]
    out.append("")
    parts = " + ".join(d["points"] for d in card["dimensions"])
    out.append(f"total {card['total']} = {parts}" + (f" · grade {card['grade']}" if card["grade"] else ""))
    out += card["notes"]
    if card.get("pay"):
        out.append(f"pay {card['pay']['amount']} {card['pay']['currency']}: {card['pay']['explanation']}")
    out += [f"flag {f['code']}: {f['message']}" for f in card["flags"]]
    return "\n".join(out)
