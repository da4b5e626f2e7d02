"""The `kpi runs`, `kpi diff` and `kpi simulate` commands: the history of runs, what changed
between two of them and why, and what another scheme or other parameters would give."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from . import compare
from .cli import _table, config_option, json_option, main, only_period_option, period_option, reading, user_errors
from .config import load_config
from .decimals import tidy
from .errors import KpiError
from .pipeline import appraised, prepare, site_store


def _fmt(value) -> str:
    if value is None:
        return "-"
    return format(tidy(value), "f") if isinstance(value, Decimal) else str(value)


def _money(value) -> str:
    return "-" if value is None else format(value.quantize(Decimal("0.01")), "f")


@main.command()
@config_option
@only_period_option
@json_option
@user_errors
def runs(config_path: Path, period: str | None, as_json: bool):
    """Every run: period, status, which is current, when, the scheme and the config it used."""
    with reading(config_path) as (config, store, conn):
        rows = store.runs(conn, config.period(period).label if period else None)
    tz = ZoneInfo(config.timezone)
    out = []
    for r in rows:
        report = json.loads(r["report"] or "{}")
        out.append({"id": r["id"], "period": r["period"], "status": r["status"], "current": bool(r["is_current"]),
                    "started": datetime.fromtimestamp(r["started_at"], tz).strftime("%Y-%m-%d %H:%M"),
                    "scheme": f"{r['scheme_id']} {r['scheme_version']}",
                    "scheme_digest": report.get("scheme", {}).get("digest", "")[:12],
                    "config": r["config_hash"][:12], "inputs": [f for s in report.get("sources", [])
                                                                for f in s.get("fingerprints", [])],
                    "error": r["error"] or ""})
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        click.echo(_table([[str(r["id"]), r["period"], r["status"], "*" if r["current"] else "", r["started"],
                            r["scheme"], r["scheme_digest"], r["config"], r["error"][:60]] for r in out],
                          ["run", "period", "status", "current", "started", "scheme", "scheme text", "config", "error"]))


@main.command()
@config_option
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@json_option
@user_errors
def diff(config_path: Path, run_a: int, run_b: int, as_json: bool):
    """What changed from run A to run B, per employee, and why: an input, the scheme, an adjustment."""
    with reading(config_path) as (config, store, conn):
        result = compare.diff(store, conn, run_a, run_b)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=_fmt))
        return
    click.echo(f"run {run_a} ({result['periods'][0]}) → run {run_b} ({result['periods'][1]}): "
               f"{len(result['changed'])} people changed")
    for cause in result["causes"]:
        click.echo(f"  {cause}")
    for p in result["changed"]:
        a, b = p["before"] or {}, p["after"] or {}
        click.echo(f"{p['employee_id']}: total {_fmt(a.get('total'))} → {_fmt(b.get('total'))}, grade "
                   f"{_fmt(a.get('grade'))} → {_fmt(b.get('grade'))}, pay {_money(a.get('pay'))} → {_money(b.get('pay'))}")
        for why in p["why"]:
            click.echo(f"    {why}")


@main.command()
@config_option
@click.option("--scheme", "scheme_ref", help="Another scheme: an installed id or a file (default: the config's).")
@click.option("--set", "settings", multiple=True, help="A parameter: NAME=VALUE (repeatable).")
@period_option
@json_option
@user_errors
def simulate(config_path: Path, scheme_ref: str | None, settings: tuple[str, ...], period: str | None, as_json: bool):
    """Re-score the period's stored data under another scheme or parameters and compare with the
    official results: who gains and who loses, grades and total pay. Nothing is stored or sent."""
    config = load_config(config_path)
    p = prepare(config, period)
    scheme = p.scheme
    if scheme_ref:
        path = Path(scheme_ref)
        schemes = p.host.schemes()
        scheme = p.host.load_scheme(path) if path.is_file() else schemes[scheme_ref].item if scheme_ref in schemes \
            else None
        if scheme is None:
            raise KpiError(f"{scheme_ref}: neither a scheme file nor an installed scheme ({', '.join(sorted(schemes))})")
    overrides = dict(config.scheme_parameters) if not scheme_ref else {}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep:
            raise KpiError(f"--set {item!r}: write NAME=VALUE")
        overrides[name.strip()] = value.strip()
    problems = [pr for pr in scheme.check_parameters(overrides, "--set") if pr.level == "error"]
    if problems:
        raise KpiError("\n".join(f"{pr.key}: {pr.message}" for pr in problems))
    with site_store(config, p.host) as store, store.transaction() as conn:
        people = appraised(store.employees(conn), p.period)
        result = compare.simulate(p, store, conn, people, scheme, overrides)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2, default=_fmt))
        return
    click.echo(f"{result['period']} under {result['scheme']} {result['parameters'] or ''} against run "
               f"{result['official_run']} (nothing is stored or sent)".replace("  ", " "))
    click.echo(f"gain: {result['gain']}, lose: {result['lose']}; total pay {_money(result['pay'])} → "
               f"{_money(result['new_pay'])} ({'+' if result['pay_change'] >= 0 else ''}{_money(result['pay_change'])})")
    click.echo(f"grades {result['grades']} → {result['new_grades']}")
    click.echo(_table([[r["employee_id"], r["name"], _fmt(r["total"]), _fmt(r["new_total"]), _fmt(r["change"]),
                        f"{_fmt(r['grade'])} → {_fmt(r['new_grade'])}", f"{_money(r['pay'])} → {_money(r['new_pay'])}"]
                       for r in result["people"] if r["change"] or r["grade"] != r["new_grade"] or r["pay"] != r["new_pay"]],
                      ["id", "name", "total", "new", "change", "grade", "pay"]))
