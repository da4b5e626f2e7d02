"""The hooks a kpi plugin can implement. Every built-in connector, metric, scheme and exporter uses
exactly these; a third-party plugin registers a module under the ``kpi`` entry-point group::

    [project.entry-points.kpi]
    acme = "kpi_acme.plugin"

and decorates its functions with :data:`kpi.core.hookspecs.hookimpl`. Registration hooks receive a
``register`` callback; the host validates each item, records the plugin that registered it, and
refuses a second item of the same name, naming both plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("kpi")
hookimpl = pluggy.HookimplMarker("kpi")


@hookspec
def kpi_register_record_kinds(register):
    """Register kinds of source record (a ticket, a rating, an attendance day …).

    :param register: call ``register(kind)`` with a :class:`kpi.core.records.RecordKind`. The store
        keeps one table per kind, so metrics can aggregate it in SQL.

    Since 0.1.
    """


@hookspec
def kpi_register_metrics(register):
    """Register metric definitions.

    :param register: call ``register(definition)`` with a
        :class:`kpi.core.metrics.MetricDefinition`: an aggregate over one record kind, computed by
        the database per employee and period, or a metric whose values a connector supplies.

    Since 0.1.
    """


@hookspec
def kpi_register_connectors(register):
    """Register connector types that bring data in.

    :param register: call ``register(name, factory)``. ``factory(name, options, site)`` returns an
        object with ``pull(period, sink)`` (see :class:`kpi.core.connectors.Connector`). A site
        uses it as ``[[connector]] use = "NAME"``.

    Since 0.1.
    """


@hookspec
def kpi_register_rule_types(register):
    """Register rule types for declarative schemes (bands, per-occurrence deductions …).

    :param register: call ``register(name, rule_type)``; ``rule_type.parse(spec, where)`` returns a
        rule with ``apply(value, params)`` (see :mod:`kpi.plugins.schemes.rules`).

    Since 0.1.
    """


@hookspec
def kpi_register_schemes(register):
    """Register scheme packs.

    :param register: call ``register(item)`` with either a path to a scheme file (a TOML pack
        shipped in the distribution) or an object following :class:`kpi.core.scoring.Scheme`.

    Since 0.1.
    """


@hookspec(firstresult=True)
def kpi_load_scheme(path, host):
    """Load a scheme from a file. The first plugin that knows the file's format returns the scheme;
    the others return None.

    :param path: a :class:`pathlib.Path` (or importlib Traversable) to the file.
    :param host: the :class:`kpi.core.plugins.Host`, for its registered rule types and metrics.

    Since 0.1.
    """


@hookspec
def kpi_register_exporters(register):
    """Register exporter types that send results out (payroll files, HR systems …).

    :param register: call ``register(name, factory)``. ``factory(name, options, site)`` returns an
        object with ``export(result, ledger)`` (see :class:`kpi.core.exporters.Exporter`). A site
        uses it as ``[[exporter]] use = "NAME"``.

    Since 0.1.
    """


@hookspec
def kpi_run_started(run):
    """A run has begun and is recorded in the store as running.

    :param run: the :class:`kpi.core.pipeline.RunInfo` (id, period, site).

    Since 0.1.
    """


@hookspec
def kpi_phase_started(run, phase):
    """A run enters a phase: ``pull``, ``metrics``, ``score``, ``commit`` or ``export``.

    ``score`` and ``commit`` start inside the transaction that stores the run's results (it opens
    with ``metrics``): read the store there, but write to it only from ``export`` on or in
    :func:`kpi_run_scored` — on SQLite a second writer would wait for that transaction.

    :param run: the :class:`kpi.core.pipeline.RunInfo`.
    :param phase: the phase's name.

    Since 0.1.
    """


@hookspec
def kpi_run_scored(run, scorecards):
    """The run's scorecards are committed to the store as the period's current results, before
    any export.

    :param run: the :class:`kpi.core.pipeline.RunInfo`.
    :param scorecards: a list of :class:`kpi.core.scoring.Scorecard`.

    Since 0.1.
    """


@hookspec
def kpi_run_finished(run, status, error):
    """A run has ended.

    :param run: the :class:`kpi.core.pipeline.RunInfo`.
    :param status: ``succeeded`` or ``failed``.
    :param error: the message when it failed, else None.

    Since 0.1.
    """
