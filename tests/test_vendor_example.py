"""The vendor path: examples/kpi-acme-schemes, a third-party pack shipped as its own distribution,
installed with pip (offline, as tests/test_plugins.py installs its fixture) and found by a real
`kpi` child process through its `kpi` entry point. It registers the scheme `acme-aftersales` and
the rule type `acme_tiers` (stepped points per unit).

The run below scores two people from CSV files; the figures are worked out by hand:

A001 field engineer (weights 50/30/20)
  first-time fix 88% in [80, 90) → 24; 1 repeat visit → 20 − 4 = 16; quality 40 / 50 × 50 = 40.
  11 contracts → 5 × 2 + 5 × 3 + 1 × 4 = 29; sales 29 / 30 × 30 = 29.
  0 violations → 20; discipline 20.
  total 40 + 29 + 20 = 89 → B; pay 1000 × 90% = 900.00.

A002 service advisor (weights 50/40/10; the site pays advisors a 900 base)
  first-time fix 91% → 30; 0 repeat visits → 20; quality 50.
  8 contracts → 5 × 2 + 3 × 3 = 19; sales 19 / 30 × 40 = 25.333… → 25.33.
  1 violation → 20 − 5 = 15; discipline 15 / 20 × 10 = 7.5.
  total 50 + 25.33 + 7.5 = 82.83 → B; pay 900 × 90% = 810.00.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from support import child_env, pip_install_offline

from kpi.core.plugins import make_host

ROOT = Path(__file__).resolve().parents[1]  # importlib mode: tests/ is not a package to import from
VENDOR = ROOT / "examples" / "kpi-acme-schemes"
PACK = VENDOR / "kpi_acme_schemes" / "acme_aftersales.toml"


def kpi(*args: str, cwd: Path, site: Path) -> subprocess.CompletedProcess:
    """A `kpi` child process that sees the pack installed in `site`."""
    script = Path(sysconfig.get_path("scripts")) / ("kpi.exe" if os.name == "nt" else "kpi")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "kpi.core.cli"]
    return subprocess.run([*command, *args], cwd=cwd, env=child_env(PYTHONPATH=str(site)), capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """examples/kpi-acme-schemes installed with pip into a folder of its own; returns the folder."""
    base = tmp_path_factory.mktemp("acme")
    target = pip_install_offline(VENDOR, base)
    assert (target / "kpi_acme_schemes" / "acme_aftersales.toml").is_file(), "the pack was not installed as package data"
    return target


# -- in-process, from the source folder (fast) ---------------------------------------------------

@pytest.fixture
def vendor_host(monkeypatch):
    """A host with the example's plugin module imported from its source folder; the module cache
    and sys.path are restored afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("KPI_DISABLE_PLUGINS", raising=False)
    importlib.invalidate_caches()
    yield make_host(modules=["kpi_acme_schemes.plugin"], module_paths=[VENDOR], load_entrypoints=False)
    for name in [m for m in sys.modules if m == "kpi_acme_schemes" or m.startswith("kpi_acme_schemes.")]:
        sys.modules.pop(name)


def test_the_pack_parses_and_its_worked_examples_pass(vendor_host):
    assert vendor_host.failures() == []
    scheme = vendor_host.schemes()["acme-aftersales"].item

    assert scheme.lint() == []  # not even a warning
    results = scheme.run_examples()
    assert [(r.passed, r.mismatches) for r in results] == [(True, [])] * 3
    contracts = {ln.indicator: ln for ln in results[0].scorecard.lines}["contracts"]
    assert contracts.explanation == "12 units: 5 × 2 + 5 × 3 + 2 × 4 = 33"
    assert contracts.adjustments == ["33 capped at 30"] and str(contracts.points) == "30"


# -- installed with pip, in a child `kpi` (slow) ---------------------------------------------------

@pytest.mark.slow
def test_kpi_plugins_lists_the_vendor_scheme_and_rule_type(installed, tmp_path):
    proc = kpi("plugins", "--json", cwd=tmp_path, site=installed)

    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["failures"] == []
    rows = {(r["kind"], r["name"]): r for r in listing["registered"]}
    vendor = {"plugin": "acme", "dist": "kpi-acme-schemes", "version": "1.2.0", "origin": "entry point"}
    assert rows[("scheme", "acme-aftersales")] == {"kind": "scheme", "name": "acme-aftersales", **vendor}
    assert rows[("rule type", "acme_tiers")] == {"kind": "rule type", "name": "acme_tiers", **vendor}
    assert rows[("rule type", "bands")]["origin"] == "built-in"


@pytest.mark.slow
def test_kpi_scheme_check_runs_the_vendor_examples(installed, tmp_path):
    text = kpi("scheme", "check", "acme-aftersales", cwd=tmp_path, site=installed)
    as_json = kpi("scheme", "check", "acme-aftersales", "--json", cwd=tmp_path, site=installed)

    assert text.returncode == 0, text.stdout + text.stderr
    assert "3 examples: 3 passed, 0 failed" in text.stdout
    assert "0 errors, 0 warnings" in text.stdout
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["ok"] is True and report["problems"] == []
    assert [(e["passed"], e["mismatches"]) for e in report["examples"]] == [(True, [])] * 3


SITE = """
[site]
name = "Acme after-sales (test)"

[period]
cycle = "monthly"
default = "2026-10"

[scheme]
use = "acme-aftersales"

[scheme.parameters]
pay_base_advisor = "900"

[[connector]]
name = "roster"
use = "csv"
kind = "employee"
path = "roster.csv"

[[connector]]
name = "service-figures"
use = "csv"
kind = "metric_value"
path = "figures.csv"
metrics = { first_time_fix_rate = "first_time_fix", repeat_visits = "repeat_visits", contracts_sold = "contracts", violations = "violations" }
"""
ROSTER = """\
employee_id,name,role,team,department,hire_date
A001,Ana Field,field_engineer,North,After-sales,2025-03-01
A002,Ben Desk,service_advisor,North,After-sales,2024-11-15
"""
FIGURES = """\
person,period,first_time_fix,repeat_visits,contracts,violations
A001,2026-10,88%,1,11,0
A002,2026-10,91%,0,8,1
"""


@pytest.mark.slow
def test_a_run_with_the_vendor_scheme_gives_the_hand_worked_figures(installed, tmp_path):
    for name, text in {"site.toml": SITE, "roster.csv": ROSTER, "figures.csv": FIGURES}.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")

    proc = kpi("run", "--config", "site.toml", "--json", cwd=tmp_path, site=installed)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["period"] == "2026-10" and out["warnings"] == []
    cards = {c["employee_id"]: c for c in out["scorecards"]}
    assert set(cards) == {"A001", "A002"}
    got = {eid: {"total": c["total"], "grade": c["grade"], "pay": c["pay"]["amount"], "percent": c["pay"]["percent"],
                 "rank": c["rank"], "scheme": c["scheme"], "flags": [f["code"] for f in c["flags"]],
                 "dimensions": {d["id"]: d["points"] for d in c["dimensions"]},
                 "indicators": {ln["indicator"]: ln["points"] for ln in c["lines"]}}
           for eid, c in cards.items()}
    assert got == {
        "A001": {"total": "89", "grade": "B", "pay": "900.00", "percent": "90", "rank": 1,
                 "scheme": "acme-aftersales 1.2.0", "flags": [],
                 "dimensions": {"quality": "40", "sales": "29", "discipline": "20"},
                 "indicators": {"first_time_fix": "24", "repeat_visits": "16", "contracts": "29", "violations": "20"}},
        "A002": {"total": "82.83", "grade": "B", "pay": "810.00", "percent": "90", "rank": 2,
                 "scheme": "acme-aftersales 1.2.0", "flags": [],
                 "dimensions": {"quality": "50", "sales": "25.33", "discipline": "7.5"},
                 "indicators": {"first_time_fix": "30", "repeat_visits": "20", "contracts": "19", "violations": "15"}},
    }
    contracts = next(ln for ln in cards["A001"]["lines"] if ln["indicator"] == "contracts")
    assert contracts["rule"] == "acme_tiers" and contracts["explanation"] == "11 units: 5 × 2 + 5 × 3 + 1 × 4 = 29"


@pytest.mark.slow
@pytest.mark.parametrize("good, bad, key, message", [
    ("{ upto = 10, each = 3 }", "{ upto = 10, eahc = 3 }", "dimension[1].indicator[0].tiers[1].eahc",
     "unknown key; did you mean 'each'?"),
    ("{ upto = 5, each = 2 }", "{ upto = 5, each = \"two\" }", "dimension[1].indicator[0].tiers[0].each",
     "'two' is neither a number nor a parameter of this scheme"),
    ("{ upto = 10, each = 3 }", "{ each = 3 }", "dimension[1].indicator[0].tiers[1].upto",
     "missing: every tier but the last needs the count it runs up to"),
    ("{ upto = 10, each = 3 }", "{ upto = 4, each = 3 }", "dimension[1].indicator[0].tiers[1].upto",
     "4 must be above the tier before it (5)"),
])
def test_a_mistake_in_the_vendor_rule_is_reported_with_its_key_path(installed, tmp_path, good, bad, key, message):
    text = PACK.read_text(encoding="utf-8")
    assert text.count(good) == 1
    scheme_file = tmp_path / "my-aftersales.toml"
    scheme_file.write_text(text.replace(good, bad), encoding="utf-8")

    proc = kpi("scheme", "check", str(scheme_file), cwd=tmp_path, site=installed)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"error: {scheme_file}: {key}: {message}" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
