"""The plugin host: loads the built-in plugins, then every installed distribution's ``kpi`` entry
points, each in its own try, and collects what they register into registries that know which
plugin owns each item."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pluggy

from . import __version__, hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "kpi"

# Built-in plugins, registered before any third-party one, through the same hooks.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("records", "kpi.core.builtin_records"),
    ("service-metrics", "kpi.plugins.metrics.service"),
    ("csv", "kpi.plugins.connectors.csv_files"),
    ("zendesk", "kpi.plugins.connectors.zendesk"),
    ("freshdesk", "kpi.plugins.connectors.freshdesk"),
    ("zammad", "kpi.plugins.connectors.zammad"),
    ("rest_json", "kpi.plugins.connectors.rest_json"),
    ("xlsx", "kpi.plugins.connectors.xlsx_files"),
    ("punches", "kpi.plugins.connectors.punches"),
    ("dingtalk-attendance", "kpi.plugins.connectors.dingtalk"),
    ("wecom-checkin", "kpi.plugins.connectors.wecom"),
    ("declarative-schemes", "kpi.plugins.schemes.declarative"),
    ("payroll-csv", "kpi.plugins.exporters.payroll_csv"),
    ("html-report", "kpi.plugins.exporters.report_html"),
    ("sql-table", "kpi.plugins.exporters.sql_table"),
    ("webhook", "kpi.plugins.exporters.webhook"),
    ("dingtalk-hrbrain", "kpi.plugins.exporters.dingtalk_hrbrain"),
    ("frappe-hrms", "kpi.plugins.exporters.frappe_hrms"),
)


@dataclass
class PluginInfo:
    name: str
    origin: str  # "built-in", "entry point" or "module"
    module: str
    dist: str
    version: str
    error: str | None = None

    def label(self) -> str:
        return f"plugin {self.name!r} ({self.dist} {self.version})"


@dataclass
class Registration:
    name: str
    kind: str
    item: Any
    plugin: PluginInfo


class Registry:
    """Items of one kind by name. A second item of the same name is refused, naming both plugins."""

    def __init__(self, kind: str):
        self.kind = kind
        self.items: dict[str, Registration] = {}

    def add(self, name: str, item: Any, plugin: PluginInfo) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{plugin.label()} registered a {self.kind} without a name")
        if name in self.items:
            first = self.items[name].plugin
            raise PluginError(f"{self.kind} {name!r} is registered twice: by {first.label()} and by {plugin.label()}; "
                              f"disable one of them in [plugins] disable")
        self.items[name] = Registration(name, self.kind, item, plugin)

    def __contains__(self, name: str) -> bool:
        return name in self.items

    def get(self, name: str) -> Any:
        return self.items[name].item

    def names(self) -> list[str]:
        return sorted(self.items)


@dataclass
class Host:
    """The loaded plugins and what they registered."""

    pm: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    record_kinds: Registry = field(default_factory=lambda: Registry("record kind"))
    metrics: Registry = field(default_factory=lambda: Registry("metric"))
    connectors: Registry = field(default_factory=lambda: Registry("connector"))
    rule_types: Registry = field(default_factory=lambda: Registry("rule type"))
    exporters: Registry = field(default_factory=lambda: Registry("exporter"))
    scheme_sources: list[tuple[Any, PluginInfo]] = field(default_factory=list)
    _schemes: dict[str, Registration] | None = None

    @property
    def hook(self):
        return self.pm.hook

    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]

    def registrations(self) -> list[Registration]:
        out = []
        for reg in (self.record_kinds, self.metrics, self.connectors, self.rule_types, self.exporters):
            out.extend(reg.items.values())
        out.extend(self.schemes().values())
        return out

    def schemes(self) -> dict[str, Registration]:
        """Registered schemes by id; files are loaded on first use through kpi_load_scheme."""
        if self._schemes is None:
            registry = Registry("scheme")
            for item, plugin in self.scheme_sources:
                try:
                    scheme = self.load_scheme(item) if isinstance(item, (str, Path)) or hasattr(item, "read_text") else item
                    registry.add(scheme.id, scheme, plugin)
                except Exception as exc:  # one broken pack must not hide the others
                    plugin.error = plugin.error or f"{plugin.label()} failed registering a scheme: {exc}"
            self._schemes = registry.items
        return self._schemes

    def load_scheme(self, path) -> Any:
        scheme = self.pm.hook.kpi_load_scheme(path=path, host=self)
        if scheme is None:
            raise PluginError(f"no plugin can read the scheme file {path}; scheme files are TOML (.toml)")
        return scheme

    def plugin_set(self) -> list[dict[str, str]]:
        """The plugin set with versions, stored with every run."""
        return [{"name": p.name, "dist": p.dist, "version": p.version, "origin": p.origin} for p in self.plugins]


def _dist_of(module_name: str) -> tuple[str, str]:
    top = module_name.split(".")[0]
    for dist in md.packages_distributions().get(top, []):
        try:
            return dist, md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "local", ""


def make_host(disable: Iterable[str] = (), modules: Iterable[str] = (), module_paths: Iterable[Path] = (),
              load_entrypoints: bool = True) -> Host:
    """Build a plugin host. `disable` names plugins not to load (built-in or installed), `modules`
    are extra plugin modules imported by name (a site's local plugins, looked up in `module_paths`).
    The environment variable KPI_DISABLE_PLUGINS (comma-separated) adds to `disable`."""
    disabled = set(disable) | {n.strip() for n in os.environ.get("KPI_DISABLE_PLUGINS", "").split(",") if n.strip()}
    pm = pluggy.PluginManager("kpi")
    pm.add_hookspecs(hookspecs)
    host = Host(pm)

    def add(name: str, load: Callable[[], Any], origin: str, module: str, dist: str, version: str) -> None:
        info = PluginInfo(name, origin, module, dist, version)
        if name in disabled:
            info.error = None
            return
        try:
            plugin = load()
            pm.register(plugin, name=name)
        except Exception as exc:
            info.error = f"{info.label()} failed to load: {type(exc).__name__}: {exc}"
        host.plugins.append(info)

    for name, module in BUILTIN_PLUGINS:
        add(name, lambda m=module: importlib.import_module(m), "built-in", module, "kpi", __version__)
    if load_entrypoints:
        for ep in md.entry_points(group=ENTRY_POINT_GROUP):
            if any(p.name == ep.name for p in host.plugins):
                host.plugins.append(PluginInfo(ep.name, "entry point", ep.value, ep.dist.name if ep.dist else "?",
                                               ep.dist.version if ep.dist else "",
                                               error=f"entry point {ep.name!r} has the name of a plugin already loaded; "
                                                     "rename it"))
                continue
            add(ep.name, ep.load, "entry point", ep.value, ep.dist.name if ep.dist else "?",
                ep.dist.version if ep.dist else "")
    extra_paths = [str(p) for p in module_paths if str(p) not in sys.path]
    sys.path[:0] = extra_paths
    for module in modules:
        add(module, lambda m=module: importlib.import_module(m), "module", module, *_dist_of(module))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements a hook that does not exist: {exc}") from None

    _collect(host)
    return host


def _collect(host: Host) -> None:
    """Call each registration hook once per plugin, so every item is recorded with its owner."""
    # A name can be listed twice (an entry point refused for a loaded plugin's name): the loaded one owns the hooks.
    by_name = {p.name: p for p in sorted(host.plugins, key=lambda p: p.error is None)}
    targets = (
        ("kpi_register_record_kinds", lambda reg, info: lambda kind: (kind.validate(), host.record_kinds.add(kind.name, kind, info))),
        ("kpi_register_metrics", lambda reg, info: lambda d: (d.validate(), host.metrics.add(d.id, d, info))),
        ("kpi_register_connectors", lambda reg, info: lambda name, factory: host.connectors.add(name, factory, info)),
        ("kpi_register_rule_types", lambda reg, info: lambda name, rt: host.rule_types.add(name, rt, info)),
        ("kpi_register_exporters", lambda reg, info: lambda name, factory: host.exporters.add(name, factory, info)),
        ("kpi_register_schemes", lambda reg, info: lambda item: host.scheme_sources.append((item, info))),
    )
    for hook_name, make_register in targets:
        # get_hookimpls() is in registration order (pluggy *calls* last-first): built-ins, then entry
        # points, then modules, so a later plugin cannot take a name an earlier one registered.
        for impl in getattr(host.pm.hook, hook_name).get_hookimpls():
            info = by_name[impl.plugin_name]
            try:
                impl.function(register=make_register(None, info))
            except Exception as exc:
                info.error = info.error or f"{info.label()} failed in {hook_name}: {type(exc).__name__}: {exc}"
