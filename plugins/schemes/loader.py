"""Reading a scheme pack: TOML parsed into a DeclarativeScheme, every problem reported together
with its key path, so a vendor fixes a pack in one pass."""

from __future__ import annotations

import hashlib
import sys
from decimal import Decimal
from typing import Any

from dataclasses import dataclass

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from kpi.core.errors import ConfigError, Problem
from kpi.core.metrics import MetricDefinition
from kpi.core.models import Metric
from kpi.core.options import did_you_mean

from .formulas import compile_formula, metric_names, parse_formulas
from .pay import parse_pay
from .rated import parse_rating_defaults
from .rollups import parse_rollups
from .rules import Band, ParseContext, parse_bands, parse_comparison
from .scheme import DeclarativeScheme, Dimension, Exclusion, FlagRule, Indicator, Parameter, _coerce
from .streaks import parse_streaks

PARAM_TYPES = {"number", "percent", "money", "int", "bool", "text"}
TOP_KEYS = {"scheme", "parameters", "metrics", "formulas", "rating", "roles", "dimension", "flag", "streak", "rollup", "aggregate", "appeals", "grade",
            "pay", "eligibility", "example"}
HEAD_KEYS = {"id", "name", "version", "source", "notes", "total", "total_floor", "total_factor", "rounding"}


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


def _parse_metrics(ctx: ParseContext, spec: Any) -> dict[str, MetricDefinition]:
    """[metrics.ID] unit, direction, description: figures the pack reads that a connector supplies."""
    out = {}
    for mid, mspec in (spec or {}).items():
        where = f"metrics.{mid}"
        if not isinstance(mspec, dict):
            ctx.error(where, 'expected a table: unit = "%", direction = "higher", description = "…"')
            continue
        ctx.known_keys(mspec, where, {"unit", "direction", "description"})
        direction = mspec.get("direction", "higher")
        if direction not in ("higher", "lower"):
            ctx.error(f"{where}.direction", f'expected "higher" or "lower" (which is better), found {direction!r}')
            continue
        out[mid] = MetricDefinition(Metric(mid, str(mspec.get("unit", "")), direction,
                                           str(mspec.get("description", ""))))
    return out


def parse_scheme(text: str, file: str, rule_types: dict[str, Any]) -> DeclarativeScheme:
    """Parse a TOML pack; every problem is reported together with its key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not valid TOML: {exc}")]) from None
    ctx = ParseContext(file, {})
    ctx.known_keys(data, "", TOP_KEYS)
    head = data.get("scheme") or {}
    ctx.known_keys(head, "scheme", HEAD_KEYS)
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
    declared = _parse_metrics(ctx, data.get("metrics"))
    ctx.rating = parse_rating_defaults(ctx, data.get("rating"))
    ctx.formulas = {}
    formulas = parse_formulas(ctx, data.get("formulas"))
    ctx.formulas = {f.name: f for f in formulas}
    total_factor = compile_formula(ctx, head["total_factor"], "scheme.total_factor") if "total_factor" in head else None
    formula_reads = set().union(*(metric_names(f, ctx) for f in [*(d.formula for d in formulas), total_factor] if f))

    roles = data.get("roles") or {}
    if not roles:
        ctx.error("roles", "declare at least one role, e.g. [roles.specialist] name = { zh = \"客服专员\" }")

    dimensions = []
    for di, dspec in enumerate(data.get("dimension") or []):
        where = f"dimension[{di}]"
        ctx.known_keys(dspec, where, {"id", "name", "max", "weight", "weight_by_role", "floor", "cap", "combine",
                                      "indicator"})
        combine = dspec.get("combine", "sum")
        if combine not in ("sum", "mean"):
            ctx.error(f"{where}.combine", f'expected "sum" (the default) or "mean", found {combine!r}')
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
            ctx.known_keys(ispec, iw, {"id", "name", "metric", "rule", "missing_points", "floor", "cap"}
                           | set(rule_type.keys))
            metric = ispec.get("metric")
            if metric is not None and not isinstance(metric, str) or metric is None and rule_name != "formula":
                ctx.error(f"{iw}.metric", "missing: the metric this indicator scores")
                continue
            rule = rule_type.parse(ispec, iw, ctx)
            if rule is not None:
                # A rule type's own floor/cap keys (per_occurrence) are its own; otherwise they bound the indicator.
                own = set(rule_type.keys)
                indicators.append(Indicator(
                    str(ispec.get("id", f"i{ii}")), _name(ctx, ispec.get("name", ispec.get("id")), f"{iw}.name"),
                    metric, rule_name, rule, ctx.num(ispec, "missing_points", iw), iw,
                    None if "floor" in own else ctx.num(ispec, "floor", iw),
                    None if "cap" in own else ctx.num(ispec, "cap", iw)))
        if not indicators:
            ctx.error(where, "a dimension needs at least one [[dimension.indicator]]")
        if None not in (dmax, weight, floor, cap) and dmax <= 0:
            ctx.error(f"{where}.max", "must be above 0")
        dimensions.append(Dimension(str(dspec.get("id", f"d{di}")), _name(ctx, dspec.get("name", dspec.get("id")), f"{where}.name"),
                                    dmax or Decimal(1), weight or Decimal(0), by_role, floor or Decimal(0),
                                    cap if cap is not None else (dmax or Decimal(0)), indicators, where,
                                    combine))
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

    pay = parse_pay(ctx, data.get("pay"), roles, {g.grade for g in grades})

    eligibility = data.get("eligibility") or {}
    ctx.known_keys(eligibility, "eligibility", {"probation", "exclude"})
    probation = eligibility.get("probation", "appraised")
    if probation not in ("appraised", "not_appraised"):
        ctx.error("eligibility.probation", "expected \"appraised\" or \"not_appraised\"")
    exclusions = []
    for xi, xspec in enumerate(eligibility.get("exclude") or []):
        where = f"eligibility.exclude[{xi}]"
        ctx.known_keys(xspec, where, {"metric", "when", "reason"})
        if not isinstance(xspec.get("metric"), str) or not isinstance(xspec.get("reason"), str):
            ctx.error(where, 'expected metric = "…", when = { gt = 30 }, reason = "absent more than a month"')
            continue
        exclusions.append(Exclusion(xspec["metric"], parse_comparison(ctx, xspec.get("when"), f"{where}.when"),
                                    xspec["reason"]))

    streaks = parse_streaks(ctx, data.get("streak"))
    rollups = parse_rollups(ctx, data.get("rollup"), roles)
    appeal_spec = data.get("appeals") or {}
    ctx.known_keys(appeal_spec, "appeals", {"file_within", "review_within", "decide_within"})
    appeal_deadlines = {k: n for k in appeal_spec if (n := ctx.num(appeal_spec, k, "appeals")) is not None}
    aggregate = data.get("aggregate") or {}
    ctx.known_keys(aggregate, "aggregate", {"quarterly", "annual"})
    for cycle, how in aggregate.items():
        if how not in ("mean", "sum"):
            ctx.error(f"aggregate.{cycle}", f'expected "mean" or "sum" of the months\' totals, found {how!r}')

    errors = [p for p in ctx.problems if p.level == "error"]
    if errors:
        raise ConfigError(ctx.problems)
    scheme = DeclarativeScheme(
        id=head["id"], name=_name(ctx, head.get("name", head["id"]), "scheme.name"), version=head["version"], file=file,
        notes=list(head.get("notes", [])), parameters=params, roles=roles, dimensions=dimensions, flags=flags,
        grades=grades, pay=pay, total_cap=_coerce("number", head.get("total", 100)) or Decimal(100),
        rounding=_coerce("number", head.get("rounding", "0.01")) or Decimal("0.01"), probation=probation,
        examples=list(data.get("example") or []), formulas=formulas, formula_reads=formula_reads, declared=declared,
        total_floor=_coerce("number", head["total_floor"]) if "total_floor" in head else None,
        total_factor=total_factor, exclusions=exclusions, streaks=streaks, rollups=rollups, appeals=appeal_deadlines,
        digest=hashlib.sha256(text.encode()).hexdigest(), source=str(head.get("source", "")), aggregate={c: h for c, h in aggregate.items() if c in ("quarterly", "annual")})
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
