"""Worked examples in a scheme file, run by `kpi scheme check`: one person's inputs and the figures
the regulation says they get. A scheme whose examples pass does what its authors worked out by hand.

```toml
[[example]]
name = "E011 in seed 000: CSAT 77%, one valid complaint, 4 days absent"   # required
role = "specialist"                 # required: a role id (or its name) of the scheme
period = "2026-10"                  # optional, default "2026-10": a monthly YYYY-MM label (from day 1)
parameters = { pay_base_key_account = 400 }     # optional: a site's overrides, checked as a site's are
employee = { hire_date = 2026-10-12, leave_date = 2026-10-20, probation_end = 2026-12-31 }  # optional dates
inputs = { csat_rate = 77.42, valid_complaints = 1, absent_days = 4 }
  # metric id -> number (or "77.42"); a metric the scheme reads that is not listed here has no data
history = [ { period = "2026-09", total = 33 }, { period = "2026-08", total = "not appraised" } ]
  # optional, most recent first: the person's earlier results, for [[streak]] rules over totals

  [example.expect]                  # every key optional; only what is given is compared
  total = 31                        # numbers compare exactly as decimals: 83.17 == "83.17" == 83.170
  grade = "D"
  eligible = true
  pay = 225.00                      # the pay amount
  pay_percent = 75
  dimensions = { satisfaction = 0, efficiency = 19 }   # a dimension's weighted points
  indicators = { csat = 0, complaints = -10 }          # an indicator's points
  flags = ["dismissal_review"]      # the exact set of flag codes on the scorecard
```

Mistakes in an example (an unknown role, metric, dimension, indicator or key, a wrong type) are
problems with their key path, such as `example[2].expect.dimensions.satisfactoin`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kpi.core.errors import ConfigError, KpiError, Problem
from kpi.core.models import Employee, MetricValue, PeriodCycle
from kpi.core.options import did_you_mean
from kpi.core.scoring import Scorecard, ScoringContext, Standing

from .rules import ParseContext, fmt

KEYS = {"name", "role", "period", "parameters", "employee", "inputs", "history", "expect"}
EMPLOYEE_KEYS = {"hire_date", "leave_date", "probation_end"}
EXPECT_NUMBERS = {"total", "pay", "pay_percent"}
EXPECT_KEYS = EXPECT_NUMBERS | {"grade", "eligible", "dimensions", "indicators", "flags"}
DEFAULT_PERIOD = "2026-10"


@dataclass
class ExampleResult:
    """One example's outcome: `problems` in the example itself (then it is not scored), else the
    `mismatches` between what it expects and what the scorecard shows."""

    name: str
    index: int
    passed: bool
    mismatches: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    scorecard: Scorecard | None = None


def example_problems(scheme) -> list[Problem]:
    """Every problem in every example, for `lint`."""
    return [p for i, spec in enumerate(scheme.examples) for p in ExampleReader(scheme, i, spec).problems]


def run_examples(scheme) -> list[ExampleResult]:
    return [_run(scheme, i, spec) for i, spec in enumerate(scheme.examples)]


def _run(scheme, index: int, spec: Any) -> ExampleResult:
    c = ExampleReader(scheme, index, spec)
    result = ExampleResult(c.name, index, False, problems=c.problems)
    if any(p.level == "error" for p in c.problems):
        return result
    ctx = ScoringContext(c.period, [c.employee], {"EX": c.values}, c.parameters, c.history)
    try:
        result.scorecard = scheme.score(ctx)[0]
    except ConfigError as exc:
        result.mismatches = [f"could not score: {p.key}: {p.message}" for p in exc.problems]
        return result
    except KpiError as exc:
        result.mismatches = [f"could not score: {exc}"]
        return result
    result.mismatches = compare_scorecard(scheme, result.scorecard, c.expect, scheme.resolve(c.parameters))
    result.passed = not result.mismatches
    return result


class ExampleReader:
    """Reads one [[example]] table into what scoring needs, collecting its problems."""

    def __init__(self, scheme, index: int, spec: Any):
        self.scheme, self.where = scheme, f"example[{index}]"
        self.ctx = ParseContext(scheme.file, scheme.parameters)  # its error() and known_keys() collect problems
        self.problems = self.ctx.problems
        self.name, self.expect, self.parameters = f"example {index}", {}, {}
        self.period, self.employee, self.values, self.history = None, None, {}, []
        if not isinstance(spec, dict):
            self.ctx.error(self.where, "expected a table: write each example as [[example]] with name, role and inputs")
            return
        self.ctx.known_keys(spec, self.where, KEYS)
        if isinstance(spec.get("name"), str):
            self.name = spec["name"]
        else:
            self.ctx.error(f"{self.where}.name", "missing: a name saying whose case this is and what it shows")
        self._role(spec.get("role"))
        self._period(spec.get("period", DEFAULT_PERIOD))
        self.parameters = self._table(spec, "parameters")
        self.problems += [p for p in scheme.check_parameters(self.parameters, f"{self.where}.parameters")
                          if p.level == "error"]
        self._employee(self._table(spec, "employee"), spec.get("role"))
        self._inputs(self._table(spec, "inputs"))
        self._history(spec.get("history", []))
        self.expect = self._table(spec, "expect")
        self._expect(self.expect)

    def _table(self, spec: dict, key: str) -> dict:
        value = spec.get(key, {})
        if not isinstance(value, dict):
            self.ctx.error(f"{self.where}.{key}", f"expected a table such as {key} = {{ … }}, found {value!r}")
            return {}
        return value

    def _role(self, role: Any) -> None:
        if not isinstance(role, str):
            self.ctx.error(f"{self.where}.role", f"missing: one of the scheme's roles ({', '.join(self.scheme.roles)})")
        elif self.scheme.role_of(role) is None:
            self.ctx.error(f"{self.where}.role", f"unknown role {role!r}{did_you_mean(role, self.scheme.roles)} "
                                                 f"(roles: {', '.join(self.scheme.roles)})")

    def _period(self, label: Any) -> None:
        try:
            self.period = PeriodCycle().period(str(label))
        except KpiError as exc:
            self.ctx.error(f"{self.where}.period", str(exc))

    def _employee(self, spec: dict, role: Any) -> None:
        where = f"{self.where}.employee"
        self.ctx.known_keys(spec, where, EMPLOYEE_KEYS)
        dates = {}
        for key in EMPLOYEE_KEYS & set(spec):
            value = spec[key]
            if isinstance(value, date) and not isinstance(value, datetime):
                dates[key] = value
            else:
                self.ctx.error(f"{where}.{key}", f"expected a date such as {key} = 2026-10-12, found {value!r}")
        self.employee = Employee("EX", self.name, str(role), **dates)

    def _inputs(self, spec: dict) -> None:
        metrics = self.scheme.metrics()
        label = self.period.label if self.period else DEFAULT_PERIOD
        self.values = {m: MetricValue("EX", label, m, None, "example") for m in metrics}
        for metric, raw in spec.items():
            where = f"{self.where}.inputs.{metric}"
            if metric not in metrics:
                self.ctx.error(where, f"the scheme reads no metric {metric!r}{did_you_mean(metric, metrics)} "
                                      f"(it reads: {', '.join(sorted(metrics))})")
            value = self._number(raw, where)
            if value is not None and metric in metrics:
                self.values[metric] = MetricValue("EX", label, metric, value, "example")

    def _history(self, items: Any) -> None:
        """Earlier periods' results of this one person (rank 1 of 1: place streaks need a team)."""
        where = f"{self.where}.history"
        if not isinstance(items, list):
            self.ctx.error(where, 'expected a list such as [ { period = "2026-09", total = 33 } ]')
            return
        for i, item in enumerate(items):
            w = f"{where}[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("period"), str) or "total" not in item:
                self.ctx.error(w, 'expected { period = "2026-09", total = 33 } (or total = "not appraised")')
                continue
            self.ctx.known_keys(item, w, {"period", "total"})
            if item["total"] == "not appraised":
                standing = Standing(False, None, None, 0)
            else:
                total = self._number(item["total"], f"{w}.total")
                standing = Standing(True, total, 1, 1) if total is not None else None
            if standing is not None:
                self.history.append((item["period"], {"EX": standing}))

    def _number(self, raw: Any, where: str) -> Decimal | None:
        if not isinstance(raw, bool) and isinstance(raw, (int, float, str)):
            try:
                value = Decimal(str(raw))
                if value.is_finite():
                    return value
            except InvalidOperation:
                pass
        self.ctx.error(where, f"expected a number, found {raw!r}")
        return None

    def _expect(self, spec: dict) -> None:
        where = f"{self.where}.expect"
        self.ctx.known_keys(spec, where, EXPECT_KEYS)
        if not spec:
            self.ctx.warn(where, "nothing to compare: add total, grade, pay, dimensions or indicators")
        for key in EXPECT_NUMBERS & set(spec):
            self._number(spec[key], f"{where}.{key}")
        if "grade" in spec and not isinstance(spec["grade"], str):
            self.ctx.error(f"{where}.grade", f"expected a grade such as \"A\", found {spec['grade']!r}")
        if "eligible" in spec and not isinstance(spec["eligible"], bool):
            self.ctx.error(f"{where}.eligible", f"expected true or false, found {spec['eligible']!r}")
        flags = spec.get("flags", [])
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            self.ctx.error(f"{where}.flags", f'expected a list of flag codes such as ["probation"], found {flags!r}')
        ids = {"dimensions": [d.id for d in self.scheme.dimensions],
               "indicators": [i.id for d in self.scheme.dimensions for i in d.indicators]}
        for key, known in ids.items():
            table = spec.get(key, {})
            if not isinstance(table, dict):
                self.ctx.error(f"{where}.{key}", f"expected a table of {key[:-1]} ids and points, found {table!r}")
                continue
            for item, raw in table.items():
                if item not in known:
                    self.ctx.error(f"{where}.{key}.{item}", f"the scheme has no {key[:-1]} {item!r}"
                                                            f"{did_you_mean(item, known)} ({key}: {', '.join(known)})")
                self._number(raw, f"{where}.{key}.{item}")


def compare_scorecard(scheme, card: Scorecard, expect: dict, params) -> list[str]:
    """One line per figure that differs: expected, got, and what the scorecard shows for it."""
    out = []

    def check(label: str, expected: Any, actual: Any, shows: str, number: bool = True) -> None:
        if number:  # validated already: "83.17", 83.17 and 83.170 are the same figure
            expected = Decimal(str(expected))
        if expected != actual:
            out.append(f"{label}: expected {_show(expected)}, got {_show(actual)} ({shows})")

    not_appraised = "; ".join(f.message for f in card.flags if f.code == "probation") or "not appraised"
    parts = " + ".join(f"{d.id} {fmt(d.points)}" for d in card.dimensions) or not_appraised
    if "total" in expect:
        check("total", expect["total"], card.total, "; ".join([parts, *card.notes]))
    if "grade" in expect:
        band = next((g for g in scheme.grades if card.total is not None and g.contains(card.total, params)), None)
        shows = f"total {fmt(card.total)} is in {band.label(params)}" if band else f"total {_show(card.total)}"
        check("grade", expect["grade"], card.grade, shows, number=False)
    if "eligible" in expect:
        check("eligible", expect["eligible"], card.eligible, "appraised" if card.eligible else not_appraised, False)
    no_pay = "no pay: " + ("no base for this role" if card.eligible else not_appraised)
    pay_text = card.pay.explanation if card.pay else no_pay
    if "pay" in expect:
        check("pay", expect["pay"], card.pay.amount if card.pay else None, pay_text)
    if "pay_percent" in expect:
        check("pay_percent", expect["pay_percent"], card.pay.percent if card.pay else None, pay_text)
    dims = {d.id: d for d in card.dimensions}
    for did, expected in expect.get("dimensions", {}).items():
        d = dims.get(did)
        if d is None:
            shows = f"not scored: weight 0 for role {card.role}" if card.eligible else not_appraised
        else:
            shows = (f"raw {fmt(d.raw)} / {fmt(d.max_points)} × weight {fmt(d.weight)}"
                     + "".join(f"; {a}" for a in d.adjustments))
        check(f"dimensions.{did}", expected, d.points if d else None, shows)
    lines = {ln.indicator: ln for ln in card.lines}
    for iid, expected in expect.get("indicators", {}).items():
        ln = lines.get(iid)
        check(f"indicators.{iid}", expected, ln.points if ln else None, ln.explanation if ln else not_appraised)
    if "flags" in expect:
        codes = sorted({f.code for f in card.flags})
        if set(expect["flags"]) != set(codes):
            shows = "; ".join(f"{f.code}: {f.message}" for f in card.flags) or "no flags"
            out.append(f"flags: expected {sorted(set(expect['flags']))}, got {codes} ({shows})")
    return out


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return fmt(value) if isinstance(value, Decimal) else repr(value)
