"""The `kpi` commands around a result once it exists: adjustments, appeals, the period's review and
lock, and the audit log. Each change is one transaction with its audit entry."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import click

from . import adjustments, appeals, audit, periods
from .cli import _table, config_option, json_option, main, only_period_option, period_option, reading, user_errors
from .config import SiteConfig, load_config
from .errors import KpiError
from .options import did_you_mean
from .pipeline import prepare, site_store
from .workdays import WorkCalendar

by_option = click.option("--by", "actor", required=True, help="Who does this (kept in the audit log).")


@contextmanager
def _opened(config_path: Path, period: str | None) -> Iterator:
    """The config, the prepared run setup (scheme, period) and a transaction on the store."""
    config = load_config(config_path)
    prepared = prepare(config, period)
    with site_store(config, prepared.host) as store, store.transaction() as conn:
        yield config, prepared, store, conn


def _echo(rows: list[dict], headers: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(_table([[("" if r.get(h) is None else str(r.get(h))) for h in headers] for r in rows], headers))


# -- the period's lifecycle -------------------------------------------------------------------------
@main.group()
def period():
    """A period's lifecycle: draft → reviewed → approved (locked); unlock with a reason."""


def _period_step(action: str):
    @period.command(action, help={"review": "Mark the period's results reviewed.",
                                  "approve": "Approve the period's results: the period is locked.",
                                  "unlock": "Unlock an approved or reviewed period (back to draft), with a reason."}[action])
    @config_option
    @period_option
    @by_option
    @click.option("--reason", default="", help="Why (required to unlock).")
    @user_errors
    def command(config_path: Path, period: str | None, actor: str, reason: str):
        with _opened(config_path, period) as (config, p, store, conn):
            new = periods.step(conn, p.period.label, action, actor, reason)
        click.echo(f"{p.period.label}: {new}")
    return command


for _action in periods.STEPS:
    _period_step(_action)


@period.command("status")
@config_option
@period_option
@user_errors
def period_status(config_path: Path, period: str | None):
    """The period's status."""
    with _opened(config_path, period) as (config, p, store, conn):
        click.echo(f"{p.period.label}: {periods.status(conn, p.period.label)}")


# -- adjustments --------------------------------------------------------------------------------
def _changes(metric: tuple[str, ...], indicator: tuple[str, ...], record: tuple[str, ...]):
    out = []
    for target, items in (("metric", metric), ("indicator", indicator)):
        for item in items:
            name, _, value = item.partition("=")
            try:
                out.append((target, name.strip(), Decimal(value.strip())))
            except InvalidOperation:
                raise KpiError(f"--{target} {item!r}: write NAME=VALUE, e.g. teamwork_rating=3") from None
    out += [("record", r.strip(), None) for r in record]
    return out


def _check_changes(p, changes) -> None:
    """The names an adjustment gives must be the scheme's metrics and indicators, or a known record kind."""
    known = {"metric": p.scheme.metrics(), "indicator": getattr(p.scheme, "indicator_ids", lambda: set())(),
             "record": set(p.host.record_kinds.names())}
    for target, name, _ in changes:
        key = name.split(":", 1)[0] if target == "record" else name
        if key not in known[target]:
            raise KpiError(f"the scheme has no {target if target != 'record' else 'record kind'} {key!r}"
                           f"{did_you_mean(key, known[target])}")


change_options = [
    click.option("--metric", multiple=True, help="A metric's value: NAME=VALUE (repeatable)."),
    click.option("--indicator", multiple=True, help="An indicator's points: ID=POINTS (repeatable)."),
    click.option("--exclude-record", "record", multiple=True,
                 help="A source record left out: KIND:SOURCE:ID, e.g. ticket:tickets:T005018 (repeatable)."),
]


def with_changes(f):
    for option in reversed(change_options):
        f = option(f)
    return f


@main.group()
def adjust():
    """Recorded overrides the next run applies: a metric, an indicator's points, a record left out."""


@adjust.command("add")
@config_option
@click.argument("employee_id")
@period_option
@with_changes
@click.option("--reason", required=True, help="Why (kept in the audit log and shown on the scorecard).")
@by_option
@user_errors
def adjust_add(config_path, employee_id, period, metric, indicator, record, reason, actor):
    """Add adjustments for one person; run `kpi run` to apply them."""
    changes = _changes(metric, indicator, record)
    if not changes:
        raise KpiError("say what to adjust: --metric NAME=VALUE, --indicator ID=POINTS or --exclude-record KIND:SOURCE:ID")
    with _opened(config_path, period) as (config, p, store, conn):
        _check_changes(p, changes)
        periods.require_open(conn, p.period.label, "adjusted")
        ids = [adjustments.add(conn, p.period.label, employee_id, t, n, v, reason, actor) for t, n, v in changes]
    click.echo(f"adjustment{'s' if len(ids) > 1 else ''} {', '.join(f'#{i}' for i in ids)} recorded for {employee_id} "
               f"in {p.period.label}; `kpi run --period {p.period.label}` applies them")


@adjust.command("list")
@config_option
@period_option
@json_option
@user_errors
def adjust_list(config_path, period, as_json):
    """The period's active adjustments."""
    with _opened(config_path, period) as (config, p, store, conn):
        rows = adjustments.as_rows(adjustments.active(conn, p.period.label))
    _echo(rows, ["id", "employee_id", "target", "name", "value", "author", "appeal_id", "reason"], as_json)


@adjust.command("withdraw")
@config_option
@click.argument("adjustment_id", type=int)
@period_option
@click.option("--reason", required=True, help="Why it is withdrawn.")
@by_option
@user_errors
def adjust_withdraw(config_path, adjustment_id, period, reason, actor):
    """Withdraw an adjustment (it stays in the audit log); the next run no longer applies it."""
    with _opened(config_path, period) as (config, p, store, conn):
        periods.require_open(conn, p.period.label, "adjusted")
        a = adjustments.withdraw(conn, adjustment_id, actor, reason)
    click.echo(f"adjustment #{a.id} withdrawn; `kpi run --period {a.period}` applies the change")


# -- appeals ------------------------------------------------------------------------------------
def _calendar_and_deadlines(p) -> tuple[WorkCalendar, appeals.Deadlines]:
    given = getattr(p.scheme, "appeal_deadlines", lambda overrides: {})(p.config.scheme_parameters)
    return (WorkCalendar(p.config.days_off, p.config.working_days),
            appeals.Deadlines(**{**appeals.DEFAULT_DEADLINES, **given}))


def _today(config: SiteConfig) -> date:
    return datetime.now(ZoneInfo(config.timezone)).date()


@main.group()
def appeal():
    """Appeals against a result: file, list, review, resolve (upheld ones become adjustments)."""


@appeal.command("file")
@config_option
@click.argument("employee_id")
@period_option
@click.option("--grounds", required=True, help="What is wrong with the result, and why.")
@click.option("--evidence", default="", help="What supports it (documents, ticket ids …).")
@click.option("--on", "filed_on", type=click.DateTime(["%Y-%m-%d"]), help="The day it was filed (default: today).")
@click.option("--received", type=click.DateTime(["%Y-%m-%d"]),
              help="The day the result was received (default: the day the period's current run finished).")
@click.option("--late-reason", default="", help="Accept an appeal filed after its deadline, and why.")
@by_option
@user_errors
def appeal_file(config_path, employee_id, period, grounds, evidence, filed_on, received, late_reason, actor):
    """File an appeal; its deadlines are counted in working days on the Chinese calendar."""
    with _opened(config_path, period) as (config, p, store, conn):
        run = store.current_run(conn, p.period.label)
        if run is None:
            raise KpiError(f"{p.period.label} has no results to appeal against; run: kpi run --period {p.period.label}")
        if employee_id not in {c["employee_id"] for c in store.scorecards(conn, run["id"])}:
            raise KpiError(f"{employee_id!r} has no scorecard in {p.period.label}")
        tz = ZoneInfo(config.timezone)
        received_on = received.date() if received else datetime.fromtimestamp(run["finished_at"], tz).date()
        cal, deadlines = _calendar_and_deadlines(p)
        a = appeals.file(conn, cal, deadlines, p.period.label, employee_id, by=actor, grounds=grounds,
                         evidence=evidence, received_on=received_on,
                         filed_on=filed_on.date() if filed_on else _today(config), late_reason=late_reason)
    click.echo(f"appeal #{a['id']} filed for {employee_id} in {p.period.label}: review due {a['review_due']}, "
               f"decision due {a['decision_due']} (working days)")


@appeal.command("list")
@config_option
@only_period_option
@json_option
@user_errors
def appeal_list(config_path, period, as_json):
    """Appeals, with their state and deadlines; an undecided one past its decision date is marked overdue."""
    with reading(config_path) as (config, store, conn):
        rows = appeals.listed(conn, config.period(period).label if period else None)
    today = _today(config)
    for r in rows:
        r["overdue"] = r["state"] in (appeals.FILED, appeals.REVIEW) and today > r["decision_due"]
    _echo(rows, ["id", "period", "employee_id", "state", "filed_on", "review_due", "decision_due", "overdue",
                 "grounds"], as_json)


@appeal.command("review")
@config_option
@click.argument("appeal_id", type=int)
@by_option
@user_errors
def appeal_review(config_path, appeal_id, actor):
    """Take an appeal into review."""
    with _opened(config_path, None) as (config, p, store, conn):
        appeals.review(conn, appeal_id, actor)
    click.echo(f"appeal #{appeal_id} under review")


@appeal.command("resolve")
@config_option
@click.argument("appeal_id", type=int)
@click.option("--uphold/--reject", required=True, help="The decision.")
@with_changes
@click.option("--reason", required=True, help="The decision's reason.")
@click.option("--on", "decided_on", type=click.DateTime(["%Y-%m-%d"]), help="The day of the decision (default: today).")
@by_option
@user_errors
def appeal_resolve(config_path, appeal_id, uphold, metric, indicator, record, reason, decided_on, actor):
    """Decide an appeal. Upheld, what it changes becomes adjustments: `kpi run` applies them and the
    exporters send the corrected results once, as corrections."""
    changes = _changes(metric, indicator, record)
    with reading(config_path) as (config, store, conn):
        label = appeals.get(conn, appeal_id)["period"]
    with _opened(config_path, label) as (config, p, store, conn):
        _check_changes(p, changes)
        ids = appeals.resolve(conn, appeal_id, by=actor, upheld=uphold, reason=reason, changes=changes,
                              decided_on=decided_on.date() if decided_on else _today(config))
    if uphold:
        click.echo(f"appeal #{appeal_id} upheld: adjustments {', '.join(f'#{i}' for i in ids)}; run "
                   f"`kpi run --period {label}` to apply them and send the corrections")
    else:
        click.echo(f"appeal #{appeal_id} rejected")


# -- the audit log ----------------------------------------------------------------------------------
@main.command("audit")
@config_option
@only_period_option
@json_option
@user_errors
def audit_command(config_path, period, as_json):
    """Every recorded change: adjustments, appeals, reviews, approvals and unlocks, with who and why."""
    with reading(config_path) as (config, store, conn):
        rows = audit.entries(conn, config.period(period).label if period else None)
    tz = ZoneInfo(config.timezone)
    for r in rows:
        r["when"] = datetime.fromtimestamp(r["at"], tz).strftime("%Y-%m-%d %H:%M")
    _echo(rows, ["id", "when", "actor", "action", "period", "employee_id", "subject", "details"], as_json)
