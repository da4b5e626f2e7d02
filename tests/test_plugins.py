"""The plugin host: third-party distributions found through the `kpi` entry-point group beside the
built-ins, a taken name refused naming both plugins, a broken or misspelt plugin reported by name
without taking the CLI down, plugins turned off by config or KPI_DISABLE_PLUGINS, and every hook
documented.

The sample distribution in tests/fixtures/kpi-sample-plugin is installed with pip, offline
(--no-index, --no-deps, --no-build-isolation, proxies pointed at a closed port), into a folder put on
PYTHONPATH for a real `kpi` child process. Other tests write small plugin modules into tmp_path and
load them in-process through make_host(modules=..., module_paths=...), or write an installed
distribution's metadata (a .dist-info folder with entry_points.txt, as pip leaves it) for a child
process to find."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pluggy
import pytest
from support import child_env, pip_install_offline

from kpi.core import hookspecs
from kpi.core.errors import PluginError
from kpi.core.plugins import BUILTIN_PLUGINS, make_host

ROOT = Path(__file__).resolve().parents[1]  # as in tests/conftest.py; importlib mode cannot import it
SAMPLE = ROOT / "tests" / "fixtures" / "kpi-sample-plugin"
SAMPLE_DIST, SAMPLE_VERSION = "kpi-sample-plugin", "0.3.1"


def kpi_command() -> list[str]:
    """The test environment's `kpi` console script, else the same entry through -m."""
    script = Path(sysconfig.get_path("scripts")) / ("kpi.exe" if os.name == "nt" else "kpi")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kpi.core.cli"]


def kpi(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*kpi_command(), *args], cwd=cwd, env=child_env(**env), capture_output=True, text=True,
                          encoding="utf-8", timeout=120)


def fake_distribution(where: Path, name: str, version: str, entry_points: dict[str, str],
                      modules: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata reads it from a sys.path folder: a .dist-info
    with METADATA and entry_points.txt, beside its modules."""
    info = where / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[kpi]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()),
                                           encoding="utf-8")
    for module, source in modules.items():
        (where / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")


# -- (a) a real third-party distribution, installed with pip --------------------------------------

@pytest.fixture(scope="module")
def sample_installed(tmp_path_factory) -> Path:
    """The sample distribution installed with pip into a folder of its own; returns the folder."""
    base = tmp_path_factory.mktemp("sample")
    target = pip_install_offline(SAMPLE, base)
    assert (target / "kpi_sample_plugin" / "sample_pack.toml").is_file(), "the pack was not installed as package data"
    return target


def test_an_installed_distribution_shows_in_kpi_plugins(sample_installed, tmp_path):
    without = kpi("plugins", "--json", cwd=tmp_path)
    assert without.returncode == 0, without.stderr
    assert "sample-source" not in {r["name"] for r in json.loads(without.stdout)["registered"]}

    proc = kpi("plugins", "--json", cwd=tmp_path, PYTHONPATH=str(sample_installed))

    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["failures"] == []
    rows = {(r["kind"], r["name"]): r for r in listing["registered"]}
    sample = {"plugin": "sample", "dist": SAMPLE_DIST, "version": SAMPLE_VERSION, "origin": "entry point"}
    assert rows[("connector", "sample-source")] == {"kind": "connector", "name": "sample-source", **sample}
    assert rows[("scheme", "sample-pack")] == {"kind": "scheme", "name": "sample-pack", **sample}
    # The built-ins are listed through the very same hooks, and keep their own names.
    assert rows[("connector", "csv")]["origin"] == "built-in"
    assert rows[("connector", "csv")]["dist"] == "kpi"
    assert rows[("scheme", "recycling")]["plugin"] == "declarative-schemes"


def test_an_installed_scheme_pack_shows_in_kpi_scheme_list(sample_installed, tmp_path):
    proc = kpi("scheme", "list", "--json", cwd=tmp_path, PYTHONPATH=str(sample_installed))

    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the pack is valid: no plugin reported a failure
    schemes = {s["id"]: s for s in json.loads(proc.stdout)}
    assert schemes["sample-pack"] == {"id": "sample-pack", "version": "0.3.1", "plugin": "sample",
                                      "name": {"zh": "示例考核", "en": "Sample appraisal"}}
    assert "recycling" in schemes


# -- (b) the host, in-process ---------------------------------------------------------------------

@pytest.fixture
def local_plugins(tmp_path, monkeypatch):
    """Write plugin modules into tmp_path; make_host(module_paths=[tmp_path]) imports them. The
    host puts tmp_path on sys.path and the import caches the modules: both are undone afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv("KPI_DISABLE_PLUGINS", raising=False)
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        written.append(name)
        importlib.invalidate_caches()
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def host_with(tmp_path, *modules: str, **kwargs):
    return make_host(modules=modules, module_paths=[tmp_path], load_entrypoints=False, **kwargs)


def errors_of(host, plugin: str) -> list[str]:
    return [p.error for p in host.failures() if p.name == plugin]


@pytest.mark.parametrize("hook, item, kind, owner", [
    ("kpi_register_connectors", 'register("csv", object)', "connector", "csv"),
    ("kpi_register_exporters", 'register("payroll_csv", object)', "exporter", "payroll-csv"),
    ("kpi_register_rule_types", 'register("bands", object)', "rule type", "declarative-schemes"),
])
def test_a_name_a_built_in_registered_is_refused_naming_both(local_plugins, tmp_path, hook, item, kind, owner):
    name = item.split('"')[1]
    local_plugins("usurper", f"""
        from kpi.core import hookimpl

        @hookimpl
        def {hook}(register):
            {item}
    """)

    host = host_with(tmp_path, "usurper")

    registry = {"connector": host.connectors, "exporter": host.exporters, "rule type": host.rule_types}[kind]
    assert registry.items[name].plugin.name == owner  # the built-in keeps it
    assert registry.get(name) is not object
    assert errors_of(host, owner) == []
    [error] = errors_of(host, "usurper")
    assert f"{kind} {name!r} is registered twice" in error
    assert f"by plugin {owner!r} (kpi " in error and "by plugin 'usurper'" in error


def test_a_name_another_plugin_registered_is_refused_naming_both(local_plugins, tmp_path):
    for name in ("first_vendor", "second_vendor"):
        local_plugins(name, f"""
            from kpi.core import hookimpl

            class Source:
                options = {{}}
                vendor = {name!r}

            @hookimpl
            def kpi_register_connectors(register):
                register("twin-source", Source)
        """)

    host = host_with(tmp_path, "first_vendor", "second_vendor")

    assert host.connectors.get("twin-source").vendor == "first_vendor"
    assert errors_of(host, "first_vendor") == []
    [error] = errors_of(host, "second_vendor")
    assert "connector 'twin-source' is registered twice" in error
    assert "by plugin 'first_vendor'" in error and "by plugin 'second_vendor'" in error


def test_a_scheme_id_already_registered_is_refused_naming_both(local_plugins, tmp_path):
    shutil.copy(ROOT / "plugins" / "schemes" / "packs" / "recycling.toml", tmp_path / "copied_pack.toml")
    local_plugins("pack_copier", """
        from pathlib import Path
        from kpi.core import hookimpl

        @hookimpl
        def kpi_register_schemes(register):
            register(Path(__file__).with_name("copied_pack.toml"))
    """)

    host = host_with(tmp_path, "pack_copier")

    assert host.schemes()["recycling"].plugin.name == "declarative-schemes"
    assert host.schemes()["recycling"].item.file.endswith("recycling.toml")
    [error] = errors_of(host, "pack_copier")
    assert "scheme 'recycling' is registered twice" in error
    assert "by plugin 'declarative-schemes'" in error and "by plugin 'pack_copier'" in error


def test_an_entry_point_with_a_built_in_name_is_not_loaded(monkeypatch, tmp_path):
    fake_distribution(tmp_path, "kpi-impostor", "1.0", {"csv": "impostor_csv"},
                      {"impostor_csv": "raise RuntimeError('impostor_csv must not be imported')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("KPI_DISABLE_PLUGINS", raising=False)

    host = make_host()

    assert host.connectors.items["csv"].plugin.origin == "built-in"
    [failure] = [p for p in host.failures() if p.dist == "kpi-impostor"]
    assert failure.name == "csv" and failure.origin == "entry point"
    assert "has the name of a plugin already loaded" in failure.error
    assert "impostor_csv" not in sys.modules


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_load(local_plugins, tmp_path):
    local_plugins("broken_on_import", """
        from kpi.core import hookimpl
        raise RuntimeError("the vendor's API key file is missing")
    """)

    host = host_with(tmp_path, "broken_on_import")

    [failure] = host.failures()
    assert failure.name == "broken_on_import" and failure.origin == "module"
    assert failure.error.startswith("plugin 'broken_on_import' (")
    assert "failed to load: RuntimeError: the vendor's API key file is missing" in failure.error
    assert "csv" in host.connectors and "recycling" in host.schemes()
    assert [p["name"] for p in host.plugin_set()][:len(BUILTIN_PLUGINS)] == [n for n, _ in BUILTIN_PLUGINS]


def test_a_plugin_that_fails_in_a_hook_is_reported_with_the_hook(local_plugins, tmp_path):
    local_plugins("fails_registering", """
        from kpi.core import hookimpl

        @hookimpl
        def kpi_register_exporters(register):
            raise KeyError("hr_system_url")
    """)

    host = host_with(tmp_path, "fails_registering")

    [error] = errors_of(host, "fails_registering")
    assert "failed in kpi_register_exporters: KeyError: 'hr_system_url'" in error
    assert "payroll_csv" in host.exporters


@pytest.fixture
def broken_distribution(tmp_path) -> Path:
    """A folder holding an installed distribution whose `kpi` entry point cannot be imported."""
    site = tmp_path / "site"
    fake_distribution(site, "kpi-broken-plugin", "2.0", {"broken": "kpi_broken_plugin"},
                      {"kpi_broken_plugin": """
                          from kpi.core import hookimpl
                          import kpi_vendor_sdk_that_is_not_installed
                      """})
    return site


def test_the_cli_stays_usable_when_an_installed_plugin_cannot_import(broken_distribution, tmp_path):
    listing = kpi("plugins", "--json", cwd=tmp_path, PYTHONPATH=str(broken_distribution))
    schemes = kpi("scheme", "list", "--json", cwd=tmp_path, PYTHONPATH=str(broken_distribution))

    assert listing.returncode == 0, listing.stderr
    [failure] = json.loads(listing.stdout)["failures"]
    assert failure.startswith("plugin 'broken' (kpi-broken-plugin 2.0) failed to load: ModuleNotFoundError")
    assert "kpi_vendor_sdk_that_is_not_installed" in failure
    assert "csv" in {r["name"] for r in json.loads(listing.stdout)["registered"]}
    assert schemes.returncode == 0, schemes.stderr
    assert "recycling" in [s["id"] for s in json.loads(schemes.stdout)]
    assert "plugin 'broken' (kpi-broken-plugin 2.0) failed to load" in schemes.stderr
    assert "Traceback" not in listing.stderr + schemes.stderr


def test_kpi_disable_plugins_lets_the_cli_run_without_a_broken_plugin(broken_distribution, tmp_path):
    listing = kpi("plugins", "--json", cwd=tmp_path, PYTHONPATH=str(broken_distribution),
                  KPI_DISABLE_PLUGINS="broken")

    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout)["failures"] == []
    assert listing.stderr == ""


def test_a_disabled_plugin_is_not_imported(local_plugins, tmp_path):
    local_plugins("disabled_probe", """
        raise RuntimeError("disabled_probe was imported although it is disabled")
    """)

    host = host_with(tmp_path, "disabled_probe", disable=["disabled_probe", "csv"])

    assert host.failures() == []
    assert "disabled_probe" not in sys.modules
    assert {"disabled_probe", "csv"}.isdisjoint(p.name for p in host.plugins)
    assert "csv" not in host.connectors  # a built-in can be turned off the same way
    assert "payroll_csv" in host.exporters


def test_kpi_disable_plugins_adds_to_disable(local_plugins, tmp_path, monkeypatch):
    local_plugins("env_disabled_probe", """
        raise RuntimeError("env_disabled_probe was imported although KPI_DISABLE_PLUGINS names it")
    """)
    monkeypatch.setenv("KPI_DISABLE_PLUGINS", " env_disabled_probe , csv,,")

    host = host_with(tmp_path, "env_disabled_probe", disable=["payroll-csv"])

    assert host.failures() == []
    assert "env_disabled_probe" not in sys.modules
    assert "csv" not in host.connectors
    assert "payroll_csv" not in host.exporters
    assert "bands" in host.rule_types  # the others still load


def test_a_misspelt_hook_is_rejected_naming_the_plugin_and_the_hook(local_plugins, tmp_path):
    local_plugins("misspelt_hook", """
        from kpi.core import hookimpl

        @hookimpl
        def kpi_register_conectors(register):
            register("misspelt-source", object)
    """)

    # Either the host refuses to start, or it reports the plugin as failed; it never runs the hook.
    try:
        host = host_with(tmp_path, "misspelt_hook")
    except PluginError as exc:
        message = str(exc)
    else:
        assert "misspelt-source" not in host.connectors
        message = " ".join(errors_of(host, "misspelt_hook"))
    assert "misspelt_hook" in message
    assert "kpi_register_conectors" in message


# -- (c) every hook is documented ------------------------------------------------------------------

HOOKSPECS = [(name, fn) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
             if fn.__module__ == hookspecs.__name__]


def test_the_hookspec_module_defines_hooks_only():
    assert len(HOOKSPECS) >= 10
    not_specs = [name for name, fn in HOOKSPECS if not hasattr(fn, "kpi_spec")]
    assert not not_specs, f"functions in kpi.core.hookspecs without @hookspec: {not_specs}"
    pm = pluggy.PluginManager("kpi")
    pm.add_hookspecs(hookspecs)
    assert {name for name, _ in HOOKSPECS} == {name for name in vars(pm.hook) if not name.startswith("_")}


@pytest.mark.parametrize("name, fn", HOOKSPECS, ids=[name for name, _ in HOOKSPECS])
def test_every_hook_is_documented(name, fn):
    assert name.startswith("kpi_"), f"{name}: every hook's name starts with kpi_"
    doc = inspect.getdoc(fn)
    assert doc, f"{name} has no docstring"
    args = list(inspect.signature(fn).parameters)
    documented = re.findall(r"^:param (\w+):", doc, re.MULTILINE)
    assert documented == args, f"{name}({', '.join(args)}): its docstring documents :param: {documented}"
    assert re.search(r"^Since \d+\.\d+(\.\d+)?\.?$", doc, re.MULTILINE), f"{name}: no 'Since X.Y.' line"
    if fn.kpi_spec.get("firstresult"):
        assert "first" in doc.lower(), f"{name} is firstresult: its docstring must say the first result wins"


@pytest.mark.parametrize("name, fn", HOOKSPECS, ids=[name for name, _ in HOOKSPECS])
def test_every_hook_is_in_the_readme_with_its_signature(name, fn):
    signature = f"`{name}({', '.join(inspect.signature(fn).parameters)})`"
    assert signature in (ROOT / "README.md").read_text(encoding="utf-8"), f"README.md does not list {signature}"


def test_kpi_plugins_name_lists_a_connectors_options_with_their_help():
    from click.testing import CliRunner

    from kpi.core.cli import main
    result = CliRunner().invoke(main, ["plugins", "zendesk", "--json"])
    assert result.exit_code == 0, result.output
    options = {o["option"]: o for o in json.loads(result.stdout)["options"]}
    assert options["token"]["secret"] and options["token"]["required"]
    assert options["overlap_days"]["default"] == 7 and options["overlap_days"]["help"]
    missing = CliRunner().invoke(main, ["plugins", "zendsk"])
    assert missing.exit_code == 1 and "no connector or exporter type 'zendsk'; did you mean 'zendesk'?" in missing.output
