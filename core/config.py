"""Site configuration (site.toml): loading, validation with errors that name the key, and binding
to the plugins that the config names."""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError, Problem
from .models import DEFAULT_TIMEZONE, Period, PeriodCycle
from .options import Option, check_section, did_you_mean, resolve_env
from .store import default_store_url

TOP_LEVEL = {
    "site": Option("table", required=True, help="the site's name and timezone"),
    "store": Option("table", default={}),
    "period": Option("table", default={}),
    "identity": Option("table", default={}),
    "plugins": Option("table", default={}),
    "scheme": Option("table", required=True, help='which scheme scores the site, e.g. use = "recycling"'),
    "connector": Option("any", default=[]),
    "exporter": Option("any", default=[]),
    "output": Option("table", default={}),
    "anomaly": Option("any", default=[], help="[[anomaly]] windows whose records are left out, with the reason"),
    "calendar": Option("table", default={}, help="days_off and working_days the Chinese calendar does not know"),
}
CALENDAR = {
    "days_off": Option("any", default=[], help="dates off besides weekends and public holidays (a company holiday)"),
    "working_days": Option("any", default=[], help="dates worked that would be off (a year the calendar lacks)"),
}
SITE = {
    "name": Option("str", required=True, help="the site's name, shown on reports"),
    "timezone": Option("str", default=DEFAULT_TIMEZONE, help="IANA name, e.g. Asia/Shanghai"),
}
STORE = {"url": Option("str", help="a SQLAlchemy URL; default: kpi.sqlite next to this file")}
PERIOD = {
    "cycle": Option("str", default="monthly", choices=("monthly", "quarterly", "annual", "custom")),
    "start_day": Option("int", default=1, help="first day of a monthly period, e.g. 26 for 26th-25th"),
    "default": Option("str", help="the period `kpi run` scores when --period is not given"),
    "custom": Option("any", default=[], help="[[period.custom]] label, start, end"),
}
IDENTITY = {
    "unknown": Option("str", default="report", choices=("report", "fail"),
                      help="what a record for an id not in the roster does to the run"),
    "attribution": Option("str", default="event", choices=("event", "last"),
                          help="whom a ticket's reply or resolution counts for: the person who did it, or the "
                               "ticket's last assignee"),
}
PLUGINS = {
    "disable": Option("list", default=[], help="plugin names not to load"),
    "modules": Option("list", default=[], help="local plugin modules, looked up next to this file"),
}
SCHEME = {
    "use": Option("str", help="id of an installed scheme, see `kpi scheme list`"),
    "file": Option("path", help="a scheme file of your own"),
    "parameters": Option("table", default={}, help="overrides of the scheme's parameters"),
}
OUTPUT = {"dir": Option("path", default="out", help="where exporters write files, relative to this file")}
PLUGIN_SECTION = {"name": Option("str"), "use": Option("str", required=True)}
ANOMALY = {
    "start": Option("any", required=True, help="a date or a local date-time: 2026-10-14T09:00:00"),
    "end": Option("any", required=True, help="a date (through that whole day) or a local date-time (not included)"),
    "reason": Option("str", required=True, help="why: an outage, a traffic surge … (shown on every scorecard)"),
    "kinds": Option("list", default=[], help="record kinds left out (default: all)"),
}


@dataclass(frozen=True)
class Anomaly:
    """A window of time whose records are left out of the metrics (seed 004: a system outage or a
    traffic surge is marked and excluded, with the reason kept). `kinds` empty means every kind."""

    start: int  # epoch seconds, inclusive
    end: int  # epoch seconds, exclusive
    reason: str
    kinds: tuple[str, ...]
    label: str  # the window as the config writes it, for scorecards


@dataclass
class PluginSection:
    """One [[connector]] or [[exporter]] table: which plugin, under which name, with which options."""

    name: str
    use: str
    where: str
    raw: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class SiteConfig:
    path: Path
    file: str  # the path as the user gave it, for messages
    hash: str
    name: str
    timezone: str
    store_url: str
    cycle: PeriodCycle
    default_period: str | None
    identity_unknown: str
    plugins_disable: list[str]
    plugins_modules: list[str]
    scheme_use: str | None
    scheme_file: Path | None
    scheme_parameters: dict[str, Any]
    connectors: list[PluginSection]
    exporters: list[PluginSection]
    output_dir: Path
    anomalies: list[Anomaly] = field(default_factory=list)
    attribution: str = "event"
    days_off: frozenset = frozenset()
    working_days: frozenset = frozenset()

    @property
    def dir(self) -> Path:
        return self.path.parent

    def period(self, label: str | None, today: date | None = None) -> Period:
        if label:
            return self.cycle.period(label)
        if self.default_period:
            return self.cycle.period(self.default_period)
        return self.cycle.previous(today or date.today())


def load_config(path: str | Path) -> SiteConfig:
    """Read and check a site.toml. All problems are reported together in one ConfigError."""
    path = Path(path)
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot read the config: {exc.strerror}. "
                                             "Create one with `kpi init`")]) from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([Problem(file, "", "the config is not UTF-8 text; save it as UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not valid TOML: {exc}")]) from None

    problems: list[Problem] = []
    top, p = check_section(file, "", raw, TOP_LEVEL)
    problems += p

    def section(key: str, spec: dict[str, Option], ignore=()) -> dict[str, Any]:
        values, p = check_section(file, key, top.get(key) or {}, spec, ignore)
        problems.extend(p)
        return values

    site = section("site", SITE)
    store = section("store", STORE)
    period = section("period", PERIOD)
    identity = section("identity", IDENTITY)
    plugins = section("plugins", PLUGINS)
    scheme = section("scheme", SCHEME)
    output = section("output", OUTPUT)
    calendar = section("calendar", CALENDAR)
    for key in ("days_off", "working_days"):
        if not isinstance(calendar[key], list) or not all(type(d) is date for d in calendar[key]):
            problems.append(Problem(file, f"calendar.{key}", "expected a list of dates, e.g. [2026-12-31, 2027-01-04]"))
            calendar[key] = []

    timezone = site.get("timezone") or DEFAULT_TIMEZONE
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(file, "site.timezone", f"unknown timezone {timezone!r}; use an IANA name such as Asia/Shanghai"))
        timezone = DEFAULT_TIMEZONE

    cycle = _cycle(file, period, timezone, problems)
    if "scheme" in top and bool(scheme.get("use")) == bool(scheme.get("file")):
        problems.append(Problem(file, "scheme", 'give exactly one of use = "SCHEME_ID" or file = "PATH.toml"'))

    connectors = _plugin_sections(file, "connector", top.get("connector", []), problems)
    exporters = _plugin_sections(file, "exporter", top.get("exporter", []), problems)
    anomalies = _anomalies(file, top.get("anomaly", []), timezone, problems)

    errors = [x for x in problems if x.level == "error"]
    if errors:
        raise ConfigError(problems)
    base = path.parent
    return SiteConfig(
        path=path.resolve(),
        file=file,
        hash=hashlib.sha256(data).hexdigest(),
        name=site["name"],
        timezone=timezone,
        store_url=store.get("url") or default_store_url(base),
        cycle=cycle,
        default_period=period.get("default"),
        identity_unknown=identity["unknown"],
        attribution=identity["attribution"],
        days_off=frozenset(calendar["days_off"]),
        working_days=frozenset(calendar["working_days"]),
        plugins_disable=plugins["disable"],
        plugins_modules=plugins["modules"],
        scheme_use=scheme.get("use"),
        scheme_file=(base / scheme["file"]).resolve() if scheme.get("file") else None,
        scheme_parameters=scheme["parameters"],
        connectors=connectors,
        exporters=exporters,
        output_dir=(base / output["dir"]).resolve(),
        anomalies=anomalies,
    )


def _cycle(file: str, period: dict, timezone: str, problems: list[Problem]) -> PeriodCycle:
    kind = period.get("cycle", "monthly")
    start_day = period.get("start_day", 1)
    if not 1 <= start_day <= 28:
        problems.append(Problem(file, "period.start_day", f"expected a day from 1 to 28, found {start_day}"))
        start_day = 1
    custom: list[Period] = []
    entries = period.get("custom") or []
    if not isinstance(entries, list):
        problems.append(Problem(file, "period.custom", "expected [[period.custom]] tables with label, start and end"))
        entries = []
    for i, entry in enumerate(entries):
        where = f"period.custom[{i}]"
        values, p = check_section(file, where, entry if isinstance(entry, dict) else {}, {
            "label": Option("str", required=True), "start": Option("any", required=True),
            "end": Option("any", required=True)})
        problems += p
        start, end = values.get("start"), values.get("end")
        if p:
            continue
        if not isinstance(start, date) or not isinstance(end, date) or end < start:
            problems.append(Problem(file, where, "start and end must be dates (2026-09-26) with end on or after start"))
            continue
        custom.append(Period(values["label"], start, end, "custom", timezone))
    if kind == "custom" and not custom:
        problems.append(Problem(file, "period.custom", 'cycle = "custom" needs at least one [[period.custom]]'))
    return PeriodCycle(kind, start_day, timezone, tuple(custom))


def _anomalies(file: str, entries: Any, timezone: str, problems: list[Problem]) -> list[Anomaly]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(Problem(file, "anomaly", "expected [[anomaly]] tables with start, end and reason"))
        return []
    tz, out = ZoneInfo(timezone), []
    for i, entry in enumerate(entries):
        where = f"anomaly[{i}]"
        values, p = check_section(file, where, entry, ANOMALY)
        problems += p
        if p:
            continue
        ends = []
        for key in ("start", "end"):
            value = values[key]
            if isinstance(value, datetime):
                ends.append(int((value if value.tzinfo else value.replace(tzinfo=tz)).timestamp()))
            elif isinstance(value, date):  # a whole day: from its start, or up to its end
                day = value if key == "start" else value + timedelta(days=1)
                ends.append(int(datetime.combine(day, time.min, tz).timestamp()))
            else:
                problems.append(Problem(file, f"{where}.{key}", f"expected a date (2026-10-14) or a date-time "
                                                                 f"(2026-10-14T09:00:00), found {value!r}"))
        if len(ends) == 2 and ends[1] <= ends[0]:
            problems.append(Problem(file, f"{where}.end", "must come after start"))
        elif len(ends) == 2:
            out.append(Anomaly(ends[0], ends[1], values["reason"], tuple(values["kinds"]),
                               f"{values['start']} to {values['end']}"))
    return out


def _plugin_sections(file: str, key: str, entries: Any, problems: list[Problem]) -> list[PluginSection]:
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(Problem(file, key, f"expected [[{key}]] tables"))
        return []
    out, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{key}[{i}]"
        values, p = check_section(file, where, {k: entry[k] for k in ("name", "use") if k in entry}, PLUGIN_SECTION)
        problems += p
        if p:
            continue
        name = values.get("name") or values["use"]
        if name in seen:
            problems.append(Problem(file, f"{where}.name", f"{key} name {name!r} is used twice; give each a distinct name"))
        seen.add(name)
        raw = {k: v for k, v in entry.items() if k not in ("name", "use")}
        out.append(PluginSection(name, values["use"], where, raw))
    return out


def bind_plugins(config: SiteConfig, host, *, resolve_secrets: bool = True) -> list[Problem]:
    """Check every [[connector]] and [[exporter]] against its plugin's declared options, and fill
    in their values (secrets from the environment). Returns the problems found."""
    file = config.file
    problems: list[Problem] = []
    for sections, registry, key in ((config.connectors, host.connectors, "connector"),
                                    (config.exporters, host.exporters, "exporter")):
        for sec in sections:
            if sec.use not in registry:
                known = ", ".join(registry.names()) or "none"
                failed = [p.error for p in host.failures()]
                hint = f". These plugins failed to load: {'; '.join(failed)}" if failed else ""
                problems.append(Problem(file, f"{sec.where}.use", f"unknown {key} {sec.use!r}"
                                        f"{did_you_mean(sec.use, registry.names())} (installed: {known}){hint}"))
                continue
            spec = getattr(registry.get(sec.use), "options", {})
            values, p = check_section(file, sec.where, sec.raw, spec)
            problems += p
            if resolve_secrets and not p:
                values, p = resolve_env(file, sec.where, values, spec, config.dir)
                problems += p
            sec.options = values
    return problems
