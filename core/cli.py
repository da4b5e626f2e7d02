"""The `kpi` command line: a thin layer over kpi.core's Python API."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, Iterator

import click

from . import __version__
from .config import SiteConfig, load_config
from .store import Store
from .errors import ConfigError, KpiError
from .options import did_you_mean
from .pipeline import Progress, config_problems, host_for, resolve_scheme, run as run_pipeline, site_store, \
    unknown_metrics
from .plugins import make_host
from .scoring import ranked
from .text import render_description, table as _table


def config_option(f):
    return click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                        default="site.toml", show_default=True, help="The site's config file.")(f)


period_option = click.option("--period", "-p", help="The period, e.g. 2026-10 (default: the config's, else the "
                                                     "last complete one).")
only_period_option = click.option("--period", "-p", help="Only this period, e.g. 2026-10.")


@contextmanager
def reading(config_path: Path) -> Iterator[tuple[SiteConfig, Store, Any]]:
    """The config, the site's store and a transaction on it, for a command that reads."""
    config = load_config(config_path)
    with site_store(config, host_for(config)) as store, store.transaction() as conn:
        yield config, store, conn


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


@main.command()
@config_option
@click.option("--period", "-p", help="The period to score, e.g. 2026-10 (default: the config's, else the last complete one).")
@json_option
@user_errors
def run(config_path: Path, period: str | None, as_json: bool):
    """Pull the period's data, score it, store the scorecards and export them."""
    config = load_config(config_path)

    outcome = run_pipeline(config, period, progress=TerminalProgress(quiet=as_json))
    ranking = ranked(outcome.scorecards)
    if as_json:
        click.echo(json.dumps({
            "run_id": outcome.run_id, "period": outcome.period.label, "store": _safe_url(config),
            "scorecards": [dict(c.to_dict(), rank=r) for r, c in ranking],
            "sources": outcome.sources, "exports": [e.to_dict() for e in outcome.exports],
            "warnings": outcome.warnings,
        }, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{config.name} — period {outcome.period.label} ({outcome.period.start} to {outcome.period.end}), "
                   f"run {outcome.run_id}")
        rows = [[str(r) if r else "-", c.employee_id, c.name, c.role, str(c.total) if c.total is not None else "n/a",
                 c.grade or "-", str(c.pay.amount) if c.pay else "-", ", ".join(sorted({f.code for f in c.flags}))]
                for r, c in ranking]
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


@main.command("export")
@config_option
@period_option
@click.option("--exporter", "-e", "only", multiple=True, help="Only this exporter (repeat for more).")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and record nothing.")
@json_option
@user_errors
def export_command(config_path: Path, period: str | None, only: tuple[str, ...], dry_run: bool, as_json: bool):
    """Send the period's stored results again: what is new or changed since the last delivery goes
    out (a partial export resumes; a changed result is sent as a correction), nothing twice."""
    from .pipeline import export
    config = load_config(config_path)
    run_id, reports = export(config, period, only=list(only), dry_run=dry_run, progress=TerminalProgress(as_json))
    if as_json:
        click.echo(json.dumps({"run_id": run_id, "dry_run": dry_run, "exports": [r.to_dict() for r in reports]},
                              ensure_ascii=False, indent=2))
    else:
        verb = "would send" if dry_run else "delivered"
        for r in reports:
            click.echo(f"export {r.exporter} (run {run_id}): {len(r.delivered)} {verb}, {len(r.unchanged)} unchanged"
                       f"{', ' + str(len(r.failed)) + ' failed' if r.failed else ''} → {r.destination}")
            for emp, why in r.failed.items():
                click.echo(f"  failed {emp}: {why}", err=True)
    if any(r.failed for r in reports):
        raise click.ClickException("some deliveries failed; fix the cause and run `kpi export` again to resume")


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
        problems += [str(p) for p in config_problems(config, host)]
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
@click.argument("name", required=False)
@json_option
def plugins(name: str | None, as_json: bool):
    """List the plugins and what each registers: name, kind, version and where it comes from.
    With NAME (a connector or exporter type), the options it takes in site.toml."""
    host = make_host()
    failures = [p.error for p in host.failures()]
    for f in failures:
        click.echo(f"error: {f}", err=True)
    if name:
        _plugin_options(host, name, as_json)
        return
    rows = [{"name": r.name, "kind": r.kind, "plugin": r.plugin.name, "dist": r.plugin.dist,
             "version": r.plugin.version, "origin": r.plugin.origin} for r in host.registrations()]
    if as_json:
        click.echo(json.dumps({"registered": rows, "failures": failures}, ensure_ascii=False, indent=2))
        return
    click.echo(_table([[r["name"], r["kind"], r["plugin"], f"{r['dist']} {r['version']}".strip(), r["origin"]]
                       for r in rows], ["name", "kind", "plugin", "version", "from"]))


def _plugin_options(host, name: str, as_json: bool) -> None:
    registry = next((r for r in (host.connectors, host.exporters) if name in r), None)
    if registry is None:
        known = host.connectors.names() + host.exporters.names()
        raise click.ClickException(f"no connector or exporter type {name!r}{did_you_mean(name, known)} "
                                   f"(installed: {', '.join(sorted(known))})")
    reg = registry.items[name]
    options = getattr(reg.item, "options", {})
    rows = [{"option": key, "type": o.type, "required": o.required, "default": o.default, "secret": o.secret,
             "choices": list(o.choices), "help": o.help} for key, o in options.items()]
    if as_json:
        click.echo(json.dumps({"name": name, "kind": reg.kind, "plugin": reg.plugin.name, "options": rows},
                              ensure_ascii=False, indent=2, default=str))
        return
    click.echo(f"{reg.kind} {name!r} ({reg.plugin.label()}): [[{reg.kind}]] use = \"{name}\" takes")
    click.echo(_table([[r["option"], r["type"] + (" (secret: \"${ENV}\")" if r["secret"] else ""),
                        "required" if r["required"] else ("" if r["default"] in (None, [], {}) else repr(r["default"])),
                        r["help"] + (f" ({' | '.join(r['choices'])})" if r["choices"] else "")] for r in rows],
                      ["option", "type", "default", "meaning"]))


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


@scheme.command("show")
@click.argument("id_or_file")
@json_option
@user_errors
def scheme_show(id_or_file: str, as_json: bool):
    """A scheme's rule table: parameters, roles, dimensions and their weights by role, each
    indicator's rule, flags, grades and pay. ID_OR_FILE is an installed scheme or a .toml file."""
    try:
        found = _find_scheme(make_host(), id_or_file, "show", "describe")
    except ConfigError as exc:
        raise click.ClickException(f"{id_or_file} does not load:\n{exc}") from None
    description = found.describe()
    click.echo(json.dumps(description, ensure_ascii=False, indent=2) if as_json else render_description(description))


@scheme.command("check")
@click.argument("id_or_file")
@json_option
@user_errors
def scheme_check(id_or_file: str, as_json: bool):
    """Check a scheme: every problem in the file, with its key path, then its worked examples
    ([[example]]). Exit 1 on an error or a failed example; warnings alone pass."""
    host = make_host()
    try:
        found = _find_scheme(host, id_or_file, "check", "lint", "run_examples")
    except ConfigError as exc:  # a file that does not parse: its problems are the report
        found, problems, results = None, exc.problems, None
    else:
        problems, results = found.lint() + unknown_metrics(found, host), found.run_examples()
    ok = not any(p.level == "error" for p in problems) and all(r.passed for r in results or [])
    if as_json:
        click.echo(json.dumps({
            "scheme": found.id if found else id_or_file,
            "problems": [{"level": p.level, "file": p.file, "key": p.key, "message": p.message} for p in problems],
            "examples": [{"index": r.index, "name": r.name, "passed": r.passed, "mismatches": r.mismatches}
                         for r in results or []],
            "ok": ok,
        }, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(_check_report(problems, results)))
    if not ok:
        sys.exit(1)


def _find_scheme(host, id_or_file: str, command: str, *methods: str):
    """An installed scheme by id, or a scheme file by path, that offers the methods `command` needs."""
    for f in host.failures():  # a broken pack or rule type may be why a scheme is missing
        click.echo(f"error: {f.error}", err=True)
    schemes = host.schemes()
    path = Path(id_or_file)
    if id_or_file in schemes:
        found, origin = schemes[id_or_file].item, f"plugin {schemes[id_or_file].plugin.name!r}"
    elif path.is_file():
        found, origin = host.load_scheme(path), str(path)
    elif path.exists() or path.suffix or "/" in id_or_file or "\\" in id_or_file:
        raise KpiError(f"{id_or_file}: {'not a file' if path.exists() else 'no such file'}")
    else:
        raise KpiError(f"unknown scheme {id_or_file!r}{did_you_mean(id_or_file, schemes)} (installed: "
                       f"{', '.join(sorted(schemes)) or 'none'}); or give the path to a scheme file")
    missing = [m for m in methods if not callable(getattr(found, m, None))]
    if missing:
        raise KpiError(f"scheme {found.id!r} ({origin}) offers no `kpi scheme {command}`: it has no "
                       f"{' or '.join(m + '()' for m in missing)} method")
    return found


def _check_report(problems, results) -> list[str]:
    lines = [str(p) for p in problems]
    for r in results or []:
        lines.append(f"{'ok  ' if r.passed else 'FAIL'} example[{r.index}] {r.name}")
        lines += [f"     {m}" for m in r.mismatches]
        if not r.passed and not r.mismatches:
            lines.append("     not run: the example has errors (above)")
    errors = sum(p.level == "error" for p in problems)
    if results is None:
        lines.append("examples not run: the scheme does not load")
    else:
        passed = sum(r.passed for r in results)
        lines.append(f"{_count(len(results), 'example')}: {passed} passed, {len(results) - passed} failed")
    lines.append(f"{_count(errors, 'error')}, {_count(len(problems) - errors, 'warning')}")
    return lines


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@main.command()
@config_option
@click.argument("employee_id")
@period_option
@json_option
@user_errors
def explain(config_path: Path, employee_id: str, period: str | None, as_json: bool):
    """One person's result traced from the source records (the late tickets, the complaints, the
    attendance days) through the metric values and rules to the total, grade and pay."""
    from .explain import explain as explain_result, render

    with reading(config_path) as (config, store, conn):
        explained = explain_result(store, conn, config.period(period), employee_id, config.timezone)
    if as_json:
        click.echo(json.dumps(explained, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(render(explained))


@main.command()
@config_option
@click.argument("employee_id")
@period_option
@json_option
@user_errors
def scorecard(config_path: Path, employee_id: str, period: str | None, as_json: bool):
    """One person's stored scorecard for a period (its current run), with all its arithmetic."""
    from .card_text import render_scorecard

    with reading(config_path) as (config, store, conn):
        label = config.period(period).label
        run = store.current_run(conn, label)
        cards = store.scorecards(conn, run["id"]) if run else []
    if not run:
        raise KpiError(f"{label} has no stored results; run: kpi run --config {config_path} --period {label}")
    card = next((c for c in cards if c["employee_id"] == employee_id), None)
    if card is None:
        raise KpiError(f"no scorecard for {employee_id!r} in {label} (run {run['id']})"
                       f"{did_you_mean(employee_id, [c['employee_id'] for c in cards])}")
    breakdown = json.loads(card["breakdown"])
    if as_json:
        click.echo(json.dumps(dict(breakdown, run_id=run["id"]), ensure_ascii=False, indent=2))
    else:
        click.echo(f"run {run['id']} of {label}")
        click.echo(render_scorecard(breakdown))


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


from . import cli_compare, cli_workflow  # noqa: E402,F401 -- register the runs/diff/simulate and workflow commands

if __name__ == "__main__":  # pragma: no cover
    main()
