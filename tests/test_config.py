"""Bad config gets one clear message each, naming the file, the key and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpi.core.cli import main
from kpi.core.config import load_config
from kpi.core.errors import ConfigError, KpiError
from kpi.core.models import PeriodCycle
from kpi.core.options import Secret

SECRET_PLUGIN = '''
from kpi.core import hookimpl
from kpi.core.options import Option


class Vault:
    options = {"url": Option("str", required=True), "token": Option("str", required=True, secret=True)}
    roster = False

    def __init__(self, name, options, site):
        self.token = options["token"]

    def pull(self, period, sink):
        assert self.token.reveal() == "s3cr3t-value"


@hookimpl
def kpi_register_connectors(register):
    register("vault", Vault)
'''


def validate(site: Path, *env: str, monkeypatch=None):
    result = CliRunner().invoke(main, ["validate", "--config", str(site), "--json"])
    return result.exit_code, json.loads(result.stdout)["problems"]


def edit(site: Path, old: str, new: str) -> None:
    text = site.read_text(encoding="utf-8")
    assert old in text
    site.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_demo_config_is_valid(demo_site):
    assert validate(demo_site) == (0, [])


def test_unknown_key_names_the_key_and_suggests(demo_site):
    edit(demo_site, "[period]\ncycle", "[period]\ncylce")
    code, problems = validate(demo_site)
    assert code == 1 and len(problems) == 1
    assert problems[0].startswith(f"error: {demo_site}: period.cylce: unknown key; did you mean 'cycle'?")


def test_wrong_type_says_what_was_expected(demo_site):
    edit(demo_site, 'path = "data/tickets.csv"', "path = 42")
    code, problems = validate(demo_site)
    assert code == 1
    assert problems == [f"error: {demo_site}: connector[1].path: expected a file path (relative to the config file), found 42"]


def test_unknown_plugin_lists_the_installed_ones(demo_site):
    edit(demo_site, 'use = "payroll_csv"', 'use = "payrol_csv"')
    code, problems = validate(demo_site)
    assert code == 1 and len(problems) == 1
    assert "exporter[0].use: unknown exporter 'payrol_csv'; did you mean 'payroll_csv'? (installed: " in problems[0]
    installed = problems[0].split("(installed: ")[1].rstrip(")").split(", ")
    assert "payroll_csv" in installed and installed == sorted(installed)


def test_unknown_scheme(demo_site):
    edit(demo_site, 'use = "recycling"', 'use = "recyclng"')
    code, problems = validate(demo_site)
    assert code == 1 and "scheme.use: unknown scheme 'recyclng'; did you mean 'recycling'?" in problems[0]


def test_unknown_scheme_parameter(demo_site):
    edit(demo_site, "pay_base_key_account =", "pay_base_keyaccount =")
    code, problems = validate(demo_site)
    assert code == 1 and "scheme.parameters.pay_base_keyaccount: scheme 'recycling' has no parameter" in problems[0]
    assert "did you mean 'pay_base_key_account'" in problems[0]


def _with_vault(site: Path, token: str) -> None:
    (site.parent / "vault_plugin.py").write_text(SECRET_PLUGIN, encoding="utf-8")
    text = site.read_text(encoding="utf-8")
    text = text.replace("[identity]", '[plugins]\nmodules = ["vault_plugin"]\n\n[identity]', 1)
    text += f'\n[[connector]]\nname = "vault"\nuse = "vault"\nurl = "http://127.0.0.1:9/"\ntoken = "{token}"\n'
    site.write_text(text, encoding="utf-8")


def test_missing_secret_names_the_variable_not_a_value(demo_site, monkeypatch):
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    _with_vault(demo_site, "${VAULT_TOKEN}")
    code, problems = validate(demo_site)
    assert code == 1
    assert problems == [f"error: {demo_site}: connector[6].token: environment variable VAULT_TOKEN is not set; "
                        "set it before running (the config refers to it)"]
    run = CliRunner().invoke(main, ["run", "--config", str(demo_site)])
    assert run.exit_code == 1 and "VAULT_TOKEN is not set" in run.output


def test_secret_is_used_but_never_printed(demo_site, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s3cr3t-value")
    _with_vault(demo_site, "${VAULT_TOKEN}")
    run = CliRunner().invoke(main, ["run", "--config", str(demo_site), "--json"])
    assert run.exit_code == 0, run.output
    assert "s3cr3t-value" not in run.output
    store = (demo_site.parent / "kpi.sqlite").read_bytes()
    assert b"s3cr3t-value" not in store
    assert str(Secret("${VAULT_TOKEN}", "s3cr3t-value")) == "Secret(${VAULT_TOKEN})"


def test_a_literal_credential_is_refused(demo_site):
    _with_vault(demo_site, "s3cr3t-value")
    code, problems = validate(demo_site)
    assert code == 1 and len(problems) == 1
    assert "connector[6].token: a credential must not be written in the config" in problems[0]
    assert "s3cr3t-value" not in problems[0]


def test_all_problems_are_reported_together(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[site]\nname = 3\n[scheme]\n[period]\ncycle = "weekly"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(site)
    keys = [p.key for p in err.value.problems]
    assert keys == ["site.name", "period.cycle", "scheme"]


def test_toml_syntax_error_and_missing_file(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("[site\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"site.toml: not valid TOML: .*line 1"):
        load_config(site)
    with pytest.raises(ConfigError, match="cannot read the config.*kpi init"):
        load_config(tmp_path / "nope.toml")


def test_init_writes_a_config_that_loads(tmp_path):
    path = tmp_path / "site.toml"
    result = CliRunner().invoke(main, ["init", "--path", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text.count("\n# ") >= 7  # a comment over each section
    config = load_config(path)
    assert config.scheme_use == "recycling" and [c.use for c in config.connectors] == ["csv", "csv"]
    assert [(e.name, e.use) for e in config.exporters] == [("payroll", "payroll_csv")]
    code, problems = validate(path)
    assert (code, problems) == (0, [])  # every section checks against its plugin, not just parses
    again = CliRunner().invoke(main, ["init", "--path", str(path)])
    assert again.exit_code == 1 and "exists; use --force" in again.output


@pytest.mark.parametrize("cycle,label,start,end", [
    (PeriodCycle("monthly"), "2026-02", "2026-02-01", "2026-02-28"),
    (PeriodCycle("monthly", start_day=26), "2026-10", "2026-09-26", "2026-10-25"),
    (PeriodCycle("monthly", start_day=26), "2026-01", "2025-12-26", "2026-01-25"),
    (PeriodCycle("quarterly"), "2026-Q3", "2026-07-01", "2026-09-30"),
    (PeriodCycle("annual"), "2026", "2026-01-01", "2026-12-31"),
])
def test_period_cycles(cycle, label, start, end):
    p = cycle.period(label)
    assert (p.start.isoformat(), p.end.isoformat()) == (start, end)


def test_period_window_is_in_the_site_timezone():
    p = PeriodCycle("monthly").period("2026-10")
    lo, hi = p.window()
    assert lo == 1790784000  # 2026-10-01 00:00 in Asia/Shanghai = 2026-09-30 16:00 UTC
    assert hi - lo == 31 * 86400


def test_a_monthly_site_names_its_quarters_and_years_from_its_months():
    from datetime import date, timedelta
    cycle = PeriodCycle("monthly", start_day=26)
    q3 = cycle.period("2026-Q3")
    # a 26th-to-25th site: 2026-07 runs 2026-06-26 .. 2026-07-25, so Q3 runs 2026-06-26 .. 2026-09-25
    assert (q3.cycle, q3.start, q3.end) == ("quarterly", date(2026, 6, 26), date(2026, 9, 25))
    assert [m.label for m in cycle.months(q3)] == ["2026-07", "2026-08", "2026-09"]
    assert cycle.of_kind("quarterly").containing(q3.start - timedelta(days=1)).label == "2026-Q2"
    year = cycle.period("2026")
    assert (year.start, year.end, len(cycle.months(year))) == (date(2025, 12, 26), date(2026, 12, 25), 12)
    with pytest.raises(KpiError, match="write a month as YYYY-MM"):
        cycle.period("2026-13-01")


def test_attribution_is_event_by_default_and_checked(demo_site):
    assert load_config(demo_site).attribution == "event"
    edit(demo_site, '[identity]\nunknown = "report"', '[identity]\nunknown = "report"\nattribution = "lastt"')
    code, problems = validate(demo_site)
    assert code == 1 and "identity.attribution" in problems[0] and "'event'" in problems[0]
