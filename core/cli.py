"""The `kpi` command line: a thin layer over kpi.core's Python API."""

from __future__ import annotations

import json
import sys
from functools import wraps
from pathlib import Path

import click

from . import __version__
from .config import SiteConfig, bind_plugins, load_config
from .errors import ConfigError, KpiError
from .pipeline import Progress, host_for, resolve_scheme, run as run_pipeline
from .plugins import make_host
from .scoring import Scorecard


def config_option(f):
    return click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                        default="site.toml", show_default=True, help="The site's config file.")(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for a program to read.")(f)


def user_errors(f):
    """A user's mistake is a message and exit status 1, never a traceback."""
    @wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except KpiError as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


@click.group()
@click.version_option(__version__, prog_name="kpi")
def main():
    """Turn an appraisal regulation into monthly scores, grades and pay."""


class TerminalProgress(Progress):
    """Phase lines on stderr; on a terminal, a bar for each long pull."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def phase(self, phase: str, name: str = "") -> None:
        if self.quiet:
            return
        if self.drawn:
            click.echo(err=True)
            self.drawn = False
        click.echo(f"[{phase}] {name}".rstrip(), err=True)

    def advance(self, name: str, done: int, total: int) -> None:
        if self.quiet or not self.tty or total <= 0:
            return
        share = min(done / total, 1.0)
        bar = "#" * int(share * 30)
        click.echo(f"\r  {name} [{bar:<30}] {share:4.0%}", err=True, nl=False)
        self.drawn = True


def rank(cards: list[Scorecard]) -> list[tuple[int | None, Scorecard]]:
    """Competition ranking (1, 2, 2, 4) of the appraised by total; the not appraised last, unranked."""
    scored = sorted((c for c in cards if c.eligible), key=lambda c: (-c.total, c.employee_id))
    out, prev, prev_rank = [], None, 0
    for i, card in enumerate(scored, 1):
        r = prev_rank if card.total == prev else i
        out.append((r, card))
        prev, prev_rank = card.total, r
    out += [(None, c) for c in sorted(cards, key=lambda c: c.employee_id) if not c.eligible]
    return out


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(_width(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(_pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def _width(text: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@main.command()
@config_option
@click.option("--period", "-p", help="The period to score, e.g. 2026-10 (default: the config's, else the last complete one).")
@json_option
@user_errors
def run(config_path: Path, period: str | None, as_json: bool):
    """Pull the period's data, score it, store the scorecards and export them."""
    config = load_config(config_path)

    outcome = run_pipeline(config, period, progress=TerminalProgress(quiet=as_json))
    ranked = rank(outcome.scorecards)
    if as_json:
        click.echo(json.dumps({
            "run_id": outcome.run_id, "period": outcome.period.label, "store": _safe_url(config),
            "scorecards": [dict(c.to_dict(), rank=r) for r, c in ranked],
            "sources": outcome.sources, "exports": [e.to_dict() for e in outcome.exports],
            "warnings": outcome.warnings,
        }, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{config.name} — period {outcome.period.label} ({outcome.period.start} to {outcome.period.end}), "
                   f"run {outcome.run_id}")
        rows = [[str(r) if r else "-", c.employee_id, c.name, c.role, str(c.total) if c.total is not None else "n/a",
                 c.grade or "-", str(c.pay.amount) if c.pay else "-", ", ".join(sorted({f.code for f in c.flags}))]
                for r, c in ranked]
        click.echo(_table(rows, ["rank", "id", "name", "role", "total", "grade", "pay", "flags"]))
        for s in outcome.sources:
            extra = f", {s['rejected']} rejected" if s["rejected"] else ""
            extra += f", {s['duplicates']} duplicate ids" if s["duplicates"] else ""
            extra += f", unknown ids: {', '.join(s['unmapped_ids'])}" if s["unmapped_ids"] else ""
            click.echo(f"source {s['connector']}: {s['rows_read']} rows read, {s['accepted']} stored{extra}")
        for w in outcome.warnings:
            click.echo(f"warning: {w}", err=True)
        for e in outcome.exports:
            click.echo(f"export {e.exporter}: {len(e.delivered)} delivered, {len(e.unchanged)} unchanged"
                       f" → {e.destination}")
    if outcome.export_failures:
        raise click.ClickException("export failed (the scores are stored; run again to retry the export):\n  "
                                   + "\n  ".join(outcome.export_failures))


def _safe_url(config: SiteConfig) -> str:
    from sqlalchemy.engine import make_url
    return make_url(config.store_url).render_as_string(hide_password=True)


@main.command()
@config_option
@json_option
@user_errors
def validate(config_path: Path, as_json: bool):
    """Check a config: keys, types, plugins, secrets in the environment, the scheme and its parameters."""
    problems = []
    try:
        config = load_config(config_path)
        host = host_for(config)
        problems += [p.error for p in host.failures()]
        problems += [str(p) for p in bind_plugins(config, host)]
        resolve_scheme(config, host)
        config.period(None)
    except ConfigError as exc:
        problems += [str(p) for p in exc.problems]
    except KpiError as exc:
        problems.append(str(exc))
    if as_json:
        click.echo(json.dumps({"ok": not problems, "problems": problems}, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(problems) if problems else f"{config_path}: ok")
    if problems:
        sys.exit(1)


@main.command()
@json_option
def plugins(as_json: bool):
    """List the plugins and what each registers: name, kind, version and where it comes from."""
    host = make_host()
    rows = [{"name": r.name, "kind": r.kind, "plugin": r.plugin.name, "dist": r.plugin.dist,
             "version": r.plugin.version, "origin": r.plugin.origin} for r in host.registrations()]
    failures = [p.error for p in host.failures()]
    if as_json:
        click.echo(json.dumps({"registered": rows, "failures": failures}, ensure_ascii=False, indent=2))
        return
    click.echo(_table([[r["name"], r["kind"], r["plugin"], f"{r['dist']} {r['version']}".strip(), r["origin"]]
                       for r in rows], ["name", "kind", "plugin", "version", "from"]))
    for f in failures:
        click.echo(f"error: {f}", err=True)


@main.group()
def scheme():
    """Installed scoring schemes."""


@scheme.command("list")
@json_option
def scheme_list(as_json: bool):
    """The installed schemes."""
    host = make_host()
    items = [{"id": sid, "version": r.item.version, "name": r.item.name, "plugin": r.plugin.name}
             for sid, r in sorted(host.schemes().items())]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False, indent=2))
    else:
        click.echo(_table([[i["id"], i["version"], " / ".join(i["name"].values()), i["plugin"]] for i in items],
                          ["id", "version", "name", "plugin"]))
    for f in host.failures():
        click.echo(f"error: {f.error}", err=True)


@main.command()
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default="site.toml", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool):
    """Write a commented starter config."""
    from .starter import starter_config
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; use --force to overwrite it")
    path.write_text(starter_config(), encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run: kpi validate --config {path}")


if __name__ == "__main__":  # pragma: no cover
    main()
