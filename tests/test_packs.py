"""Every built-in pack's worked examples pass twice: through `kpi scheme check`, and through a full
`kpi run` on CSV inputs — a roster row for the example's person and a `metric_value` file with its
figures, pulled, stored, aggregated and scored by the real pipeline, then compared figure by figure
with what the example expects. An example's earlier results (`history`, for streak rules) are
stored first as those periods' current runs, as an earlier `kpi run` would have left them.

In the run, every figure the pack reads arrives as a supplied value: the site disables the plugin
that computes metrics from raw records and loads a local plugin module that declares them supplied
(through the same hook any plugin uses), so the example's inputs are what is scored."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import tomli_w
from click.testing import CliRunner

from kpi.core import pipeline
from kpi.core.cli import main
from kpi.core.config import load_config
from kpi.core.plugins import make_host
from kpi.core.store import Store
from kpi.plugins.schemes.examples import ExampleReader, compare_scorecard

HOST = make_host(load_entrypoints=False)
PACKS = sorted(sid for sid, reg in HOST.schemes().items() if reg.plugin.name == "declarative-schemes")
CASES = [(sid, i) for sid in PACKS for i in range(len(HOST.schemes()[sid].item.examples))]

SUPPLIED = '''
from kpi.core import hookimpl
from kpi.core.metrics import MetricDefinition
from kpi.core.models import Metric

IDS = {ids!r}


@hookimpl
def kpi_register_metrics(register):
    for m in IDS:
        register(MetricDefinition(Metric(m, "", "higher", "an example's input, supplied")))
'''


def test_every_seed_has_a_pack_with_examples():
    assert set(PACKS) >= {"recycling", "general_cs", "after_sales", "support_centre", "property_desk",
                          "property_company", "ecommerce_kpi", "call_centre", "game_support"}
    assert all(HOST.schemes()[sid].item.examples for sid in PACKS), "every pack carries worked examples"


@pytest.mark.parametrize("scheme_id", PACKS)
def test_kpi_scheme_check_passes_every_pack(scheme_id):
    result = CliRunner().invoke(main, ["scheme", "check", scheme_id])
    assert result.exit_code == 0, result.output
    n = len(HOST.schemes()[scheme_id].item.examples)
    assert f"{n} example{'s' if n != 1 else ''}: {n} passed, 0 failed" in result.output


def write_site(folder: Path, scheme, reader: ExampleReader) -> Path:
    emp = reader.employee
    with open(folder / "roster.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["工号", "姓名", "岗位", "入职日期", "离职日期", "试用期至"])
        w.writerow([emp.id, emp.name, scheme.role_of(emp.role), *(d.isoformat() if d else "" for d in
                                                                   (emp.hire_date, emp.leave_date, emp.probation_end))])
    given = {m: v.value for m, v in reader.values.items() if v.value is not None}
    with open(folder / "figures.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["工号", "周期", *given])
        w.writerow([emp.id, reader.period.label, *(format(v, "f") for v in given.values())])
    declared = {d.id for d in scheme.declared_metrics()}
    ids = sorted(m for m in scheme.metrics() if "@" not in m and m not in declared)
    module = f"example_metrics_{scheme.id}_{reader.where[8:-1]}"  # unique: a plugin module is imported once
    (folder / f"{module}.py").write_text(SUPPLIED.format(ids=ids), encoding="utf-8")
    site = {
        "site": {"name": f"example site for {scheme.id}"},
        "period": {"default": reader.period.label},
        "plugins": {"disable": ["service-metrics"], "modules": [module]},
        "scheme": {"use": scheme.id, "parameters": reader.parameters},
        "connector": [
            {"name": "roster", "use": "csv", "kind": "employee", "path": "roster.csv",
             "columns": {"employee_id": "工号", "name": "姓名", "role": "岗位", "hire_date": "入职日期",
                         "leave_date": "离职日期", "probation_end": "试用期至"}},
            {"name": "figures", "use": "csv", "kind": "metric_value", "path": "figures.csv",
             "columns": {"person": "工号", "period": "周期"}, "metrics": {m: m for m in given}},
        ],
    }
    (folder / "site.toml").write_text(tomli_w.dumps(site), encoding="utf-8")
    return folder / "site.toml"


def store_history(config, reader: ExampleReader) -> None:
    """The example's earlier results as the store would hold them: each period's current run."""
    host = make_host(load_entrypoints=False)
    store = Store.open(config.store_url, [host.record_kinds.get(n) for n in host.record_kinds.names()])
    try:
        for label, table in reader.history:
            st = table[reader.employee.id]
            run_id = store.start_run(config.period(label), site="history", config_hash="", scheme_id="",
                                     scheme_version="", plugins=[])
            row = {"employee_id": reader.employee.id, "eligible": st.eligible, "total": st.total, "grade": None,
                   "pay_amount": None, "flags": "[]", "breakdown": "{}"}
            with store.transaction() as conn:
                store.save_results(conn, run_id, label, [row], {})
    finally:
        store.close()


@pytest.mark.parametrize("scheme_id,index", CASES, ids=[f"{s}-{i}" for s, i in CASES])
def test_each_example_through_a_full_run_on_csv_inputs(scheme_id, index, tmp_path):
    scheme = HOST.schemes()[scheme_id].item
    reader = ExampleReader(scheme, index, scheme.examples[index])
    assert not reader.problems
    config = load_config(write_site(tmp_path, scheme, reader))
    store_history(config, reader)
    outcome = pipeline.run(config)
    assert outcome.sources[1]["rejected"] == 0
    card = next(c for c in outcome.scorecards if c.employee_id == reader.employee.id)
    mismatches = compare_scorecard(scheme, card, reader.expect, scheme.resolve(reader.parameters))
    assert not mismatches, f"{scheme_id} example[{index}] {reader.name}: {mismatches}"
