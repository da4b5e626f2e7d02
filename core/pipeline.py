"""The run pipeline: pull → store records → metrics in SQL → score → store scorecards → export.

Each connector's pull is one transaction (a failure leaves nothing of it); the run's metric values
and scorecards, and the switch of the period's current run, are one more. A run killed at any point
leaves the previous run current."""

from __future__ import annotations

import json
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator

from . import adjustments, periods, quality
from . import metrics as metric_engine
from .config import SiteConfig, bind_plugins
from .connectors import Sink
from .errors import ConfigError, KpiError, PluginError, Problem
from .exporters import ExportReport, Ledger, RunResult
from .metrics import MetricDefinition
from .models import Employee, Metric, MetricValue, Period
from .plugins import Host, make_host
from .scoring import Scheme, Scorecard, ScoringContext, scorecard_from_dict, standings
from .store import Store

PHASES = ("pull", "metrics", "score", "commit", "export")


class Progress:
    """What a run reports as it goes; the CLI draws it, a program may ignore it."""

    def phase(self, phase: str, name: str = "") -> None:
        pass

    def advance(self, name: str, done: int, total: int) -> None:
        pass


@dataclass
class RunInfo:
    id: int
    period: Period
    site: SiteConfig
    store: Store


@dataclass
class RunOutcome:
    run_id: int
    period: Period
    scorecards: list[Scorecard]
    sources: list[dict[str, Any]]
    exports: list[ExportReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def export_failures(self) -> list[str]:
        return [f"{r.exporter}: {emp}: {why}" for r in self.exports for emp, why in r.failed.items()]


def host_for(config: SiteConfig) -> Host:
    return make_host(disable=config.plugins_disable, modules=config.plugins_modules, module_paths=[config.dir])


@contextmanager
def site_store(config: SiteConfig, host: Host) -> Iterator[Store]:
    """The site's store, with a table for every record kind the plugins register."""
    store = Store.open(config.store_url, [host.record_kinds.get(n) for n in host.record_kinds.names()])
    try:
        yield store
    finally:
        store.close()


def resolve_scheme(config: SiteConfig, host: Host) -> Scheme:
    file = config.file
    if config.scheme_file is not None:
        if not config.scheme_file.exists():
            raise ConfigError([Problem(file, "scheme.file", f"{config.scheme_file} does not exist")])
        scheme = host.load_scheme(config.scheme_file)
    else:
        schemes = host.schemes()
        if config.scheme_use not in schemes:
            from .options import did_you_mean
            raise ConfigError([Problem(file, "scheme.use", f"unknown scheme {config.scheme_use!r}"
                                       f"{did_you_mean(config.scheme_use, schemes)} (installed: {', '.join(sorted(schemes))})")])
        scheme = schemes[config.scheme_use].item
    problems = scheme.check_parameters(config.scheme_parameters, "scheme.parameters")
    problems = [Problem(file, p.key, p.message, p.level) for p in problems]
    if any(p.level == "error" for p in problems):
        raise ConfigError(problems)
    unknown = unknown_metrics(scheme, host)
    if unknown:
        raise ConfigError(unknown)
    return scheme


def unknown_metrics(scheme: Scheme, host: Host) -> list[Problem]:
    """A problem for each metric the scheme reads that no plugin defines and the scheme does not declare."""
    unknown = sorted(scheme.metrics() - set(host.metrics.names()) - set(declared_metrics(scheme)))
    known = sorted(set(host.metrics.names()) | set(declared_metrics(scheme)))
    where = getattr(scheme, "metric_key", lambda m: "")
    from .options import did_you_mean
    return [Problem(getattr(scheme, "file", scheme.id), where(m), f"reads the metric {m!r}, which no plugin "
                    f"defines and the scheme does not declare (in [metrics.{m}], for a figure a connector "
                    f"supplies){did_you_mean(m, known)}") for m in unknown]


def declared_metrics(scheme: Scheme) -> dict[str, MetricDefinition]:
    """Supplied metrics the scheme declares itself (a plain TOML pack cannot register Python).
    Rated items are supplied per rater as ITEM@RATER and need no declaration."""
    declared = {d.id: d for d in getattr(scheme, "declared_metrics", lambda: [])()}
    for m in scheme.metrics():
        if "@" in m and m not in declared:
            declared[m] = MetricDefinition(Metric(m, "rating", "higher", f"{m.split('@')[1]}'s rating of {m.split('@')[0]}"))
    return declared


def metric_definitions(host: Host, scheme: Scheme) -> list[MetricDefinition]:
    """What the scheme reads, as definitions: a plugin's definition wins over the scheme's own."""
    declared = declared_metrics(scheme)
    return [host.metrics.get(m) if m in host.metrics else declared[m] for m in sorted(scheme.metrics())]


@dataclass
class Prepared:
    """Everything a run needs, checked before anything is written."""

    config: SiteConfig
    host: Host
    scheme: Scheme
    period: Period
    connectors: list[tuple[str, Any]]
    exporters: list[tuple[str, Any]]


def config_problems(config: SiteConfig, host: Host) -> list[Problem]:
    """What is wrong with a config given the installed plugins: plugin options, secrets, anomaly kinds."""
    return bind_plugins(config, host) + quality.check_anomalies(config, host.record_kinds.names())


def prepare(config: SiteConfig, period_label: str | None = None, host: Host | None = None) -> Prepared:
    host = host or host_for(config)
    failures = host.failures()
    if failures:
        raise PluginError("\n".join(p.error for p in failures) +
                          "\nFix or uninstall the plugin, or leave it out with [plugins] disable = [\"NAME\"] "
                          "in the config (or KPI_DISABLE_PLUGINS=NAME).")
    problems = config_problems(config, host)
    if any(p.level == "error" for p in problems):
        raise ConfigError(problems)
    scheme = resolve_scheme(config, host)
    period = config.period(period_label)
    try:
        connectors = [(s.name, host.connectors.get(s.use)(s.name, s.options, config)) for s in config.connectors]
        exporters = [(s.name, host.exporters.get(s.use)(s.name, s.options, config)) for s in config.exporters]
    except KpiError:
        raise
    except Exception as exc:
        raise PluginError(f"a plugin could not be set up from the config: {type(exc).__name__}: {exc}") from exc
    connectors.sort(key=lambda c: not getattr(c[1], "roster", False))  # the roster first: it maps ids
    return Prepared(config, host, scheme, period, connectors, exporters)


def appraised(employees: list[Employee], period: Period) -> list[Employee]:
    """Everyone employed for at least one day of the period; the scheme decides eligibility."""
    return [e for e in employees if e.employed_days(period) > 0]


def run(config: SiteConfig, period_label: str | None = None, *, host: Host | None = None,
        progress: Progress | None = None) -> RunOutcome:
    p = prepare(config, period_label, host)
    # One run of a period at a time: a second one is refused, saying whose run it waits for.
    with site_store(config, p.host) as store, store.run_lock(p.period.label) as lock:
        return _run(p, store, progress or Progress(), lock)


def _run(p: Prepared, store: Store, progress: Progress, lock=None) -> RunOutcome:
    hook = p.host.hook
    with store.transaction() as conn:
        periods.require_open(conn, p.period.label, "scored again")
        adjusted = adjustments.active(conn, p.period.label)
    run_id = store.start_run(p.period, site=p.config.name, config_hash=p.config.hash, scheme_id=p.scheme.id,
                             scheme_version=p.scheme.version, plugins=p.host.plugin_set())
    if lock is not None:
        lock.running(run_id)
    info = RunInfo(run_id, p.period, p.config, store)
    hook.kpi_run_started(run=info)
    phase = "pull"
    try:
        hook.kpi_phase_started(run=info, phase=phase)
        sources = []
        for name, connector in p.connectors:
            progress.phase(phase, name)
            with store.transaction() as conn:
                sink = Sink(store, conn, name, p.config.timezone, replace=getattr(connector, "replace", True),
                            on_progress=progress.advance)
                connector.pull(p.period, sink)
            sources.append(sink.report.to_dict())
        unmapped = {s["connector"]: s["unmapped_ids"] for s in sources if s["unmapped_ids"]}
        if unmapped and p.config.identity_unknown == "fail":
            raise KpiError(f"records for ids not in the roster: {unmapped}. Add them to the roster, or set "
                           "[identity] unknown = \"report\" to score without them")

        phase = "metrics"
        hook.kpi_phase_started(run=info, phase=phase)
        progress.phase(phase)
        months = p.config.cycle.months(p.period)
        combine = getattr(p.scheme, "aggregates", lambda cycle: None)(p.period.cycle) if months else None
        # The run's results in one transaction, from the metric values (stored as they are measured,
        # so only their figures stay in memory) to the switch of the period's current run.
        with store.transaction() as conn:
            people = appraised(store.employees(conn), p.period)
            if not people:
                raise KpiError(f"nobody in the roster was employed during {p.period.label}; "
                               "check the roster connector and its hire/leave dates")
            if combine:  # the quarter or year is made of its months' stored results, not measured again
                values, coverage, left_out, gaps = [], {}, {}, {}
                parts = load_parts(store, conn, p.period, months)
            else:
                parts = []
                values, coverage, left_out, gaps = measure(
                    p, store, conn, people, adjusted, keep=lambda chunk: store.save_metric_values(conn, run_id, chunk))
            warnings = [f"no {kind} records fall in {p.period.label}: the scores that read them count nothing; "
                        f"check the connectors and the period" for kind, n in coverage.items() if n == 0]
            if gaps:
                warnings.append(f"attendance has days for others but not for {len(gaps)} people ("
                                + ", ".join(f"{e}: {len(d)} days" for e, d in sorted(gaps.items())[:10])
                                + "): a missing export or an unmapped device id? The run report lists the days")
            by_employee: dict[str, dict] = {}
            for v in values:
                by_employee.setdefault(v.employee_id, {})[v.metric] = v
            del values

            phase = "score"
            hook.kpi_phase_started(run=info, phase=phase)
            progress.phase(phase)
            history = load_history(store, conn, p.config, p.period, getattr(p.scheme, "history_periods", lambda: 0)())
            warnings += [f"no results stored for {label}: rules over consecutive periods cannot count it; run "
                         f"`kpi run --period {label}` first" for label, standing in history if standing is None]
            history = [(label, standing or {}) for label, standing in history]
            cards = p.scheme.score(ScoringContext(p.period, people, by_employee, dict(p.config.scheme_parameters),
                                                  history, parts, adjustments.indicator_overrides(adjusted)))
            del by_employee
            adjustments.mark(cards, adjusted)
            quality.mark(cards, p.config.anomalies, left_out)

            phase = "commit"
            hook.kpi_phase_started(run=info, phase=phase)
            scheme_print = getattr(p.scheme, "fingerprint", lambda overrides: {"id": p.scheme.id})(
                p.config.scheme_parameters)
            report = {"scheme": scheme_print, "sources": sources, "records_in_period": coverage, "warnings": warnings,
                      "attendance_gaps": gaps,
                      "anomalies": [{"reason": p.config.anomalies[i].reason, "left_out": sum(c.values())}
                                    for i, c in left_out.items()]}
            store.save_results(conn, run_id, p.period.label, (_card_row(c) for c in cards), report)
            periods.rescored(conn, p.period.label, run_id)
            quality.log_anomalies(conn, p.config, p.period)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, KpiError) else f"{type(exc).__name__}: {exc}"
        store.fail_run(run_id, f"failed in {phase}: {message}")
        hook.kpi_run_finished(run=info, status="failed", error=message)
        if isinstance(exc, (KpiError, KeyboardInterrupt)):
            raise
        raise KpiError(f"run {run_id} failed in {phase}: {message}\n(the period's previous results are unchanged)\n"
                       + "".join(traceback.format_exception_only(type(exc), exc)).strip()) from exc
    hook.kpi_run_scored(run=info, scorecards=cards)

    outcome = RunOutcome(run_id, p.period, cards, sources, warnings=warnings)
    hook.kpi_phase_started(run=info, phase="export")
    result = RunResult(run_id, p.period, p.config, p.scheme, cards, {e.id: e for e in people})
    outcome.exports = _export(p.exporters, result, store, progress)
    status = "failed" if outcome.export_failures else "succeeded"
    hook.kpi_run_finished(run=info, status=status, error="; ".join(outcome.export_failures) or None)
    return outcome


def measure(p: Prepared, store: Store, conn, people: list[Employee], adjusted: list,
            keep: Callable[[list[MetricValue]], None] | None = None) -> tuple[list, dict, dict, dict]:
    """The scheme's metrics for the period, from the stored records, with anomaly windows left out
    and adjustments applied; the records per kind, what each anomaly left out, attendance gaps.
    With `keep`, values are handed to it as measured, a chunk at a time, and those returned carry
    their figures alone (the evidence is wherever `keep` put it)."""
    wanted = metric_definitions(p.host, p.scheme)
    kinds = p.host.record_kinds.names()
    values = metric_engine.each(conn, store.record_tables, p.period, [e.id for e in people], wanted,
                                quality.windows(p.config.anomalies, p.period, kinds),
                                attribution=p.config.attribution, left_out=adjustments.excluded_records(adjusted))
    values = adjustments.apply_to_metrics(values, adjusted)
    values = sorted(values, key=metric_engine.by_person) if keep is None else _kept(values, keep)
    lo, hi = p.period.window()
    coverage = {k: store.records_in_window(conn, k, lo, hi) for k in sorted({d.kind for d in wanted if d.kind})}
    left_out = quality.left_out(conn, store.record_tables, p.config.anomalies, p.period, kinds)
    gaps = quality.attendance_gaps(conn, store.record_tables, p.period, people, p.config.timezone)
    return values, coverage, left_out, gaps


FIGURES_ONLY = MappingProxyType({})  # the evidence of a value already stored


def _kept(values: Iterable[MetricValue], keep: Callable[[list[MetricValue]], None], chunk: int = 5_000) -> list[MetricValue]:
    """Each chunk of values to `keep`; the values then lose their evidence (a large run's ids and
    figures would otherwise stay in memory until the end)."""
    out: list[MetricValue] = []
    for batch in iter(lambda: list(islice(values, chunk)), []):
        keep(batch)
        out += [MetricValue(v.employee_id, v.period, v.metric, v.value, v.source, FIGURES_ONLY) for v in batch]
    out.sort(key=metric_engine.by_person)
    return out


def _export(exporters: list[tuple[str, Any]], result: RunResult, store: Store, progress: Progress,
            dry_run: bool = False) -> list[ExportReport]:
    """Each exporter in turn; one that fails is reported and the others still run."""
    reports = []
    for name, exporter in exporters:
        progress.phase("export", name)
        ledger = Ledger(store, name, result.period.label, result.run_id, dry_run=dry_run)
        try:
            reports.append(exporter.export(result, ledger))
        except Exception as exc:
            message = str(exc) if isinstance(exc, KpiError) else f"{type(exc).__name__}: {exc}"
            reports.append(ExportReport(name, "", failed={"*": message}))
    return reports


def export(config: SiteConfig, period_label: str | None = None, *, only: list[str] | None = None,
           dry_run: bool = False, host: Host | None = None, progress: Progress | None = None) -> tuple[int, list[ExportReport]]:
    """Send the period's current results again, without pulling or scoring: what is new or changed
    since the last delivery goes out (a partial export resumes), the rest is not sent twice.
    `dry_run` reports what would be sent and sends nothing. Returns the run id and the reports."""
    p = prepare(config, period_label, host)
    unknown = sorted(set(only or ()) - {name for name, _ in p.exporters})
    if unknown:
        from .options import did_you_mean
        raise KpiError(f"no exporter named {unknown[0]!r} in the config"
                       f"{did_you_mean(unknown[0], [n for n, _ in p.exporters])}")
    exporters = [(n, e) for n, e in p.exporters if not only or n in only]
    with site_store(config, p.host) as store:
        with store.transaction() as conn:
            run = store.current_run(conn, p.period.label)
            if run is None:
                raise KpiError(f"{p.period.label} has no stored results to export; run: kpi run --period {p.period.label}")
            cards = [scorecard_from_dict(json.loads(c["breakdown"])) for c in store.scorecards(conn, run["id"])]
            people = {e.id: e for e in store.employees(conn)}
        result = RunResult(run["id"], p.period, config, p.scheme, cards, people)
        return run["id"], _export(exporters, result, store, progress or Progress(), dry_run)


def load_history(store: Store, conn, config: SiteConfig, period: Period, n: int) -> list[tuple[str, dict | None]]:
    """The standings of the n periods before `period`, most recent first (None: never scored)."""
    out, current = [], period
    cycle = config.cycle if config.cycle.kind == "custom" else config.cycle.of_kind(period.cycle)
    for _ in range(n):
        try:
            current = cycle.containing(current.start - timedelta(days=1))
        except KpiError:  # a custom cycle with nothing before this period
            break
        rows = store.period_totals(conn, current.label)
        out.append((current.label, None if rows is None else standings(rows)))
    return out


def load_parts(store: Store, conn, period: Period, months: list[Period]) -> list[tuple[str, dict]]:
    """The stored standings of every month of a quarter or year; a month never scored is an error,
    since a result made of part of the months would be wrong without saying so."""
    parts, missing = [], []
    for month in months:
        rows = store.period_totals(conn, month.label)
        if rows is None:
            missing.append(month.label)
        else:
            parts.append((month.label, standings(rows)))
    if missing:
        raise KpiError(f"{period.label} is made of its months' results, and {', '.join(missing)} "
                       f"{'has' if len(missing) == 1 else 'have'} none stored: run "
                       + " and ".join(f"`kpi run --period {m}`" for m in missing) + " first")
    return parts


def _card_row(card: Scorecard) -> dict[str, Any]:
    return {"employee_id": card.employee_id, "eligible": card.eligible, "total": card.total, "grade": card.grade,
            "pay_amount": card.pay.amount if card.pay else None,
            "flags": json.dumps(codes) if (codes := [f.code for f in card.flags]) else "[]",  # most cards have none
            # a Scorecard writes this JSON itself, quicker; another kind of card as before
            "breakdown": card.to_json() if type(card) is Scorecard
            else json.dumps(card.to_dict(), ensure_ascii=False, sort_keys=True)}
