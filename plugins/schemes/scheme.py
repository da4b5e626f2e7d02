"""Declarative schemes: a TOML pack parsed into dimensions, indicators, rules, grades and pay, and
scored with every step written on the scorecard."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from kpi.core.errors import ConfigError, Problem
from kpi.core.options import did_you_mean
from kpi.core.scoring import DimensionResult, Flag, Line, Pay, Scorecard, ScoringContext

from .rules import Band, Comparison, Num, ParseContext, RuleError, check_bands, fmt, parse_bands, parse_comparison

PARAM_TYPES = {"number", "percent", "money", "int", "bool", "text"}
TOP_KEYS = {"scheme", "parameters", "roles", "dimension", "flag", "grade", "pay", "eligibility", "example"}


@dataclass
class Parameter:
    name: str
    type: str
    default: Any
    description: str


@dataclass
class Indicator:
    id: str
    name: dict[str, str]
    metric: str
    rule_name: str
    rule: Any
    missing_points: Num | None
    where: str


@dataclass
class Dimension:
    id: str
    name: dict[str, str]
    max: Decimal
    weight: Decimal
    weight_by_role: dict[str, Decimal]
    floor: Decimal
    cap: Decimal
    indicators: list[Indicator]
    where: str


@dataclass
class FlagRule:
    id: str
    metric: str
    when: list[Comparison]
    message: str


@dataclass
class PayRule:
    base_by_role: dict[str, Num]
    bands: list[Band]
    floor_by_role: dict[str, Num]
    currency: str
    rounding: Decimal


@dataclass
class DeclarativeScheme:
    id: str
    name: dict[str, str]
    version: str
    file: str
    notes: list[str]
    parameters: dict[str, Parameter]
    roles: dict[str, dict[str, Any]]
    dimensions: list[Dimension]
    flags: list[FlagRule]
    grades: list[Band]
    pay: PayRule | None
    total_cap: Decimal
    rounding: Decimal
    probation: str
    examples: list[dict] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    # -- what the core asks ---------------------------------------------------------------------
    def metrics(self) -> set[str]:
        return {i.metric for d in self.dimensions for i in d.indicators} | {f.metric for f in self.flags}

    def check_parameters(self, overrides: dict[str, Any], where: str) -> list[Problem]:
        problems = []
        for name, value in overrides.items():
            p = self.parameters.get(name)
            if p is None:
                problems.append(Problem(self.file, f"{where}.{name}", f"scheme {self.id!r} has no parameter {name!r}"
                                        f"{did_you_mean(name, self.parameters)} (parameters: {', '.join(sorted(self.parameters))})"))
            elif _coerce(p.type, value) is None:
                problems.append(Problem(self.file, f"{where}.{name}", f"expected a {p.type}, found {value!r}"))
        if not problems:
            problems += [Problem(self.file, pr.key, f"with the site's parameters: {pr.message}", pr.level)
                         for pr in self.check(self.resolve(overrides))]
        return problems

    def resolve(self, overrides: dict[str, Any]) -> dict[str, Any]:
        values = {n: p.default for n, p in self.parameters.items()}
        values.update({n: _coerce(self.parameters[n].type, v) for n, v in overrides.items() if n in self.parameters})
        return values

    def check(self, params: dict[str, Any]) -> list[Problem]:
        """Structural problems under the given parameters: band gaps and overlaps, indicator points
        above their dimension, weights that do not add up."""
        problems = []
        for d in self.dimensions:
            total_max = Decimal(0)
            for ind in d.indicators:
                problems += ind.rule.check(params, ind.where, self.file)
                top = ind.rule.max_points(params)
                if top > d.max:
                    problems.append(Problem(self.file, ind.where, f"can give {fmt(top)} points, more than its "
                                            f"dimension's maximum of {fmt(d.max)}; is a figure mistyped?"))
                total_max += max(top, Decimal(0))
        problems += check_bands(self.grades, params, "grade", self.file)
        if self.pay:
            problems += check_bands(self.pay.bands, params, "pay.percent", self.file)
        for role in [None, *self.roles]:
            weights = sum((d.weight_by_role.get(role, d.weight) for d in self.dimensions), Decimal(0))
            if weights != self.total_cap:
                who = f"for role {role!r}" if role else "by default"
                problems.append(Problem(self.file, "dimension", f"weights {who} add up to {fmt(weights)}, "
                                        f"not the total of {fmt(self.total_cap)}", "warning"))
        return problems

    # -- scoring ----------------------------------------------------------------------------------
    def role_of(self, role: str) -> str | None:
        if role in self.roles:
            return role
        for rid, spec in self.roles.items():
            if role in spec.get("name", {}).values():
                return rid
        return None

    def score(self, ctx: ScoringContext) -> list[Scorecard]:
        params = self.resolve(ctx.parameters)
        unknown = sorted({e.role for e in ctx.employees if self.role_of(e.role) is None})
        if unknown:
            raise ConfigError([Problem(self.file, "roles", f"the roster has roles this scheme does not define: "
                                       f"{', '.join(unknown)}; known roles: {', '.join(self.roles)}. Fix the roster "
                                       "or add the role to the scheme")])
        return [self._score_one(e, ctx, params) for e in ctx.employees]

    def _score_one(self, emp, ctx: ScoringContext, params) -> Scorecard:
        role = self.role_of(emp.role)
        card = Scorecard(emp.id, emp.name, role, ctx.period.label, f"{self.id} {self.version}", True, None, None, None)
        values = ctx.values.get(emp.id, {})
        if self.probation == "not_appraised" and emp.on_probation(ctx.period.end):
            card.eligible = False
            card.flags.append(Flag("probation", f"on probation until {emp.probation_end}: not appraised this period"))
            return card
        total = Decimal(0)
        for d in self.dimensions:
            raw = Decimal(0)
            for ind in d.indicators:
                mv = values.get(ind.metric)
                value = mv.value if mv is not None else None
                if value is None:
                    pts = ind.missing_points.value(params) if ind.missing_points else Decimal(0)
                    line = Line(d.id, ind.id, ind.name, ind.metric, None, ind.rule_name, "no data", pts, None,
                                f"no value for {ind.metric} → {fmt(pts)}")
                    card.flags.append(Flag("missing_data", f"{ind.metric}: no data; {ind.id} scored {fmt(pts)}"))
                else:
                    try:
                        out = ind.rule.apply(value, params)
                    except RuleError as exc:
                        raise ConfigError([Problem(self.file, ind.where, f"employee {emp.id}: {ind.metric} = {exc}; "
                                                   "the scheme's bands must cover every value")]) from None
                    line = Line(d.id, ind.id, ind.name, ind.metric, value, ind.rule_name, out.matched, out.points,
                                ind.rule.max_points(params), out.explanation)
                raw += line.points
                card.lines.append(line)
            adjustments = []
            if raw < d.floor:
                adjustments.append(f"{fmt(raw)} raised to the floor {fmt(d.floor)}")
                raw = d.floor
            if raw > d.cap:
                adjustments.append(f"{fmt(raw)} capped at {fmt(d.cap)}")
                raw = d.cap
            weight = d.weight_by_role.get(role, d.weight)
            # Each dimension is rounded once, so the total is the sum of the figures shown.
            points = (raw / d.max * weight).quantize(self.rounding, ROUND_HALF_UP)
            card.dimensions.append(DimensionResult(d.id, d.name, raw, d.max, weight, points, adjustments))
            total += points
        if total > self.total_cap:
            card.notes.append(f"total {fmt(total)} capped at {fmt(self.total_cap)}")
            total = self.total_cap
        card.total = total
        card.grade = next((g.result_text for g in self.grades if g.contains(card.total, params)), None)
        for f in self.flags:
            mv = values.get(f.metric)
            if mv is not None and mv.value is not None and all(c.test(mv.value, params) for c in f.when):
                card.flags.append(Flag(f.id, f"{f.message} ({f.metric} = {fmt(mv.value)})"))
        if self.pay:
            card.pay = self._pay(role, card.total, params)
        return card

    def _pay(self, role: str, total: Decimal, params) -> Pay | None:
        base_num = self.pay.base_by_role.get(role)
        if base_num is None:
            return None
        base = base_num.value(params)
        band = next((b for b in self.pay.bands if b.contains(total, params)), None)
        if band is None:
            raise ConfigError([Problem(self.file, "pay.percent", f"a total of {fmt(total)} falls in no pay band")])
        percent = band.result.value(params)
        text = f"total {fmt(total)} in {band.label(params)} → {fmt(percent)}%"
        floor = self.pay.floor_by_role.get(role)
        if floor is not None and percent < floor.value(params):
            percent = floor.value(params)
            text += f", raised to the {role} floor of {fmt(percent)}%"
        amount = (base * percent / 100).quantize(self.pay.rounding, ROUND_HALF_UP)
        text += f"; {fmt(base)} × {fmt(percent)}% = {amount}"
        return Pay(base, percent, amount, self.pay.currency, text)


def _coerce(kind: str, value: Any) -> Any:
    """A parameter value in its declared type, or None if it is not one."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "text":
        return value if isinstance(value, str) else None
    if isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    if not d.is_finite() or (kind == "int" and d != d.to_integral_value()):
        return None
    return d


def _name(ctx: ParseContext, spec: Any, where: str) -> dict[str, str]:
    if isinstance(spec, str):
        return {"en": spec}
    if not isinstance(spec, dict) or not spec or not all(isinstance(v, str) for v in spec.values()):
        ctx.error(where, 'expected a name such as { zh = "客户满意度", en = "Customer satisfaction" }')
        return {}
    return dict(spec)


def _dec(ctx: ParseContext, spec: dict, key: str, where: str, default=None) -> Decimal | None:
    raw = spec.get(key, default)
    if raw is None:
        ctx.error(f"{where}.{key}", "missing: expected a number")
        return None
    value = _coerce("number", raw)
    if value is None:
        ctx.error(f"{where}.{key}", f"expected a number, found {raw!r}")
    return value


def parse_scheme(text: str, file: str, rule_types: dict[str, Any]) -> DeclarativeScheme:
    """Parse a TOML pack; every problem is reported together with its key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not valid TOML: {exc}")]) from None
    ctx = ParseContext(file, {})
    ctx.known_keys(data, "", TOP_KEYS)
    head = data.get("scheme") or {}
    ctx.known_keys(head, "scheme", {"id", "name", "version", "source", "notes", "total", "rounding"})
    for key in ("id", "version"):
        if not isinstance(head.get(key), str):
            ctx.error(f"scheme.{key}", "missing: expected a string")

    params: dict[str, Parameter] = {}
    for pname, pspec in (data.get("parameters") or {}).items():
        where = f"parameters.{pname}"
        if not isinstance(pspec, dict):
            ctx.error(where, "expected a table with type, default and description")
            continue
        ctx.known_keys(pspec, where, {"type", "default", "description"})
        ptype = pspec.get("type", "number")
        if ptype not in PARAM_TYPES:
            ctx.error(f"{where}.type", f"unknown type {ptype!r}; one of {', '.join(sorted(PARAM_TYPES))}")
            continue
        default = _coerce(ptype, pspec.get("default"))
        if default is None:
            ctx.error(f"{where}.default", f"expected a {ptype}, found {pspec.get('default')!r}")
            continue
        params[pname] = Parameter(pname, ptype, default, pspec.get("description", ""))
    ctx.parameters = params

    roles = data.get("roles") or {}
    if not roles:
        ctx.error("roles", "declare at least one role, e.g. [roles.specialist] name = { zh = \"客服专员\" }")

    dimensions = []
    for di, dspec in enumerate(data.get("dimension") or []):
        where = f"dimension[{di}]"
        ctx.known_keys(dspec, where, {"id", "name", "max", "weight", "weight_by_role", "floor", "cap", "indicator"})
        dmax = _dec(ctx, dspec, "max", where)
        weight = _dec(ctx, dspec, "weight", where, default=dspec.get("max"))
        floor = _dec(ctx, dspec, "floor", where, default=0)
        cap = _dec(ctx, dspec, "cap", where, default=dspec.get("max"))
        by_role = {}
        for role, w in (dspec.get("weight_by_role") or {}).items():
            if role not in roles:
                ctx.error(f"{where}.weight_by_role.{role}", f"unknown role{did_you_mean(role, roles)}")
            by_role[role] = _dec(ctx, dspec["weight_by_role"], role, f"{where}.weight_by_role")
        indicators = []
        for ii, ispec in enumerate(dspec.get("indicator") or []):
            iw = f"{where}.indicator[{ii}]"
            rule_name = ispec.get("rule")
            rule_type = rule_types.get(rule_name)
            if rule_type is None:
                ctx.error(f"{iw}.rule", f"unknown rule type {rule_name!r}{did_you_mean(str(rule_name), rule_types)} "
                                        f"(known: {', '.join(sorted(rule_types))})")
                continue
            ctx.known_keys(ispec, iw, {"id", "name", "metric", "rule", "missing_points"} | set(rule_type.keys))
            if not isinstance(ispec.get("metric"), str):
                ctx.error(f"{iw}.metric", "missing: the metric this indicator scores")
                continue
            rule = rule_type.parse(ispec, iw, ctx)
            if rule is not None:
                indicators.append(Indicator(str(ispec.get("id", f"i{ii}")), _name(ctx, ispec.get("name", ispec.get("id")), f"{iw}.name"),
                                            ispec["metric"], rule_name, rule, ctx.num(ispec, "missing_points", iw), iw))
        if not indicators:
            ctx.error(where, "a dimension needs at least one [[dimension.indicator]]")
        if None not in (dmax, weight, floor, cap) and dmax <= 0:
            ctx.error(f"{where}.max", "must be above 0")
        dimensions.append(Dimension(str(dspec.get("id", f"d{di}")), _name(ctx, dspec.get("name", dspec.get("id")), f"{where}.name"),
                                    dmax or Decimal(1), weight or Decimal(0), by_role, floor or Decimal(0),
                                    cap if cap is not None else (dmax or Decimal(0)), indicators, where))
    if not dimensions:
        ctx.error("dimension", "declare at least one [[dimension]]")

    flags = []
    for fi, fspec in enumerate(data.get("flag") or []):
        where = f"flag[{fi}]"
        ctx.known_keys(fspec, where, {"id", "metric", "when", "message"})
        flags.append(FlagRule(str(fspec.get("id", f"flag{fi}")), str(fspec.get("metric", "")),
                              parse_comparison(ctx, fspec.get("when"), f"{where}.when"), str(fspec.get("message", ""))))

    grades = []
    for gi, gspec in enumerate(data.get("grade") or []):
        where = f"grade[{gi}]"
        spec = {k: v for k, v in gspec.items() if k != "id"}
        band = parse_bands(ctx, [dict(spec, result=0)], where, "result")
        if band:
            b = band[0]
            grades.append(_GradeBand(where, b.edges, b.result, str(gspec.get("id", ""))))

    pay = None
    if "pay" in data:
        pspec = data["pay"]
        ctx.known_keys(pspec, "pay", {"base_by_role", "percent", "floor_percent_by_role", "currency", "rounding"})
        base = {r: ctx.num(pspec["base_by_role"], r, "pay.base_by_role") for r in pspec.get("base_by_role", {})}
        floors = {r: ctx.num(pspec["floor_percent_by_role"], r, "pay.floor_percent_by_role")
                  for r in pspec.get("floor_percent_by_role", {})}
        pay = PayRule(base, parse_bands(ctx, pspec.get("percent"), "pay.percent", "percent"), floors,
                      str(pspec.get("currency", "CNY")), _coerce("number", pspec.get("rounding", "0.01")) or Decimal("0.01"))

    eligibility = data.get("eligibility") or {}
    ctx.known_keys(eligibility, "eligibility", {"probation"})
    probation = eligibility.get("probation", "appraised")
    if probation not in ("appraised", "not_appraised"):
        ctx.error("eligibility.probation", "expected \"appraised\" or \"not_appraised\"")

    errors = [p for p in ctx.problems if p.level == "error"]
    if errors:
        raise ConfigError(ctx.problems)
    scheme = DeclarativeScheme(
        id=head["id"], name=_name(ctx, head.get("name", head["id"]), "scheme.name"), version=head["version"], file=file,
        notes=list(head.get("notes", [])), parameters=params, roles=roles, dimensions=dimensions, flags=flags,
        grades=grades, pay=pay, total_cap=_coerce("number", head.get("total", 100)) or Decimal(100),
        rounding=_coerce("number", head.get("rounding", "0.01")) or Decimal("0.01"), probation=probation,
        examples=list(data.get("example") or []))
    problems = scheme.check(scheme.resolve({}))
    if any(p.level == "error" for p in problems):
        raise ConfigError(problems)
    scheme.warnings = [p for p in ctx.problems + problems if p.level == "warning"]
    return scheme


@dataclass(frozen=True)
class _GradeBand(Band):
    """A grade is a band of the total whose result is the grade's name."""

    grade: str = ""

    @property
    def result_text(self) -> str:
        return self.grade
