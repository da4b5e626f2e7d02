"""Declarative schemes: dimensions, indicators, rules, grades and pay (as loader.py parses them from a
TOML pack), scored with every step written on the scorecard."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from kpi.core.errors import ConfigError, Problem
from kpi.core.metrics import MetricDefinition
from kpi.core.options import did_you_mean
from kpi.core.scoring import NO_ADJUSTMENTS, DimensionResult, Flag, Line, Scorecard, ScoringContext, standings

from .expr import Formula
from .formulas import Derived, evaluate, shown
from .pay import PayRule, RunPay
from .rollups import Rollup
from .streaks import Streak
from .rules import INF, Band, Comparison, Num, RuleError, Scored, check_bands, fmt, known

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
    metric: str | None  # None for a formula that reads several metrics
    rule_name: str
    rule: Any
    missing_points: Num | None
    where: str
    floor: Num | None = None
    cap: Num | None = None

    def inputs(self) -> list[str]:
        """The metric ids the rule reads: its own metric, or what a multi-input rule names."""
        if hasattr(self.rule, "inputs"):
            return self.rule.inputs(self.metric)
        return [self.metric]

    def max_points(self, params) -> Decimal:
        top = self.rule.max_points(params)
        return min(top, self.cap.value(params)) if self.cap is not None else top


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
    combine: str = "sum"  # or "mean": the mean of the indicators' points (1–5 ratings, seed 004)


@dataclass
class FlagRule:
    id: str
    metric: str
    when: list[Comparison]
    message: str


@dataclass
class Exclusion:
    """Not appraised when a metric meets a condition (absent more than a month, seed 003)."""

    metric: str
    when: list[Comparison]
    reason: str


ZERO = Decimal(0)


@dataclass(slots=True)
class Planned:
    """An indicator as one run scores it: its rule prepared for the run's parameters (rules.py), and
    the indicator's floor, cap and maximum worked out once. Without `score` (a rule that reads
    several inputs, a plugin's rule without prepare()), each line asks the rule itself."""

    dimension: str
    ind: Indicator
    score: Callable[[Decimal], Scored] | None = None
    floor: Decimal | None = None
    cap: Decimal | None = None
    top: Decimal | None = None  # the line's maximum; None: unbounded


def plan_indicator(d: Dimension, ind: Indicator, params) -> Planned:
    """An indicator prepared for a run's parameters, or left to its rule line by line."""
    rule, score = ind.rule, None
    if not hasattr(rule, "apply_inputs") and _prepares(type(rule)) and known((ind.floor, ind.cap), params):
        score = rule.prepare(params)
    if score is None:
        return Planned(d.id, ind)
    return Planned(d.id, ind, score, *limits(ind, params))


def limits(ind: Indicator, params) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """An indicator's floor, cap and maximum points under the parameters (None: not bounded)."""
    floor, cap = (n.value(params) if n is not None else None for n in (ind.floor, ind.cap))
    top = ind.max_points(params)
    return floor, cap, None if top == INF else top


def _prepares(kind: type) -> bool:
    """Whether a rule class's prepare() is its apply()'s: a subclass that changes apply() but
    inherits prepare() is scored by its apply()."""
    def owner(name):
        return next((c for c in kind.__mro__ if name in c.__dict__), None)
    return owner("prepare") is not None and owner("prepare") is owner("apply")


@dataclass(slots=True)
class Run:
    """What one score() works out once: the indicators planned for its parameters, and pay and
    grades remembered by total."""

    ctx: ScoringContext
    params: dict[str, Any]
    plan: list[tuple[Dimension, list[Planned]]]
    pay: RunPay | None
    label: str  # the scheme as a card names it
    grades: dict[Decimal, str | None] = field(default_factory=dict)
    by_role: dict[str, list[tuple[Dimension, Decimal, list[Planned]]]] = field(default_factory=dict)

    def dimensions(self, role: str) -> list[tuple[Dimension, Decimal, list[Planned]]]:
        """The dimensions a role is scored on, with its weight in each."""
        dims = self.by_role.get(role)
        if dims is None:
            weighted = ((d, d.weight_by_role.get(role, d.weight), planned) for d, planned in self.plan)
            # Another role's dimension (weight 0) is not scored, so its figures are not asked for.
            dims = self.by_role[role] = [(d, w, planned) for d, w, planned in weighted if w != 0]
        return dims


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cycle collector paused while a run is scored. Scoring makes some 50 objects per person,
    all kept (the scorecards), and no reference cycles: the collector would walk every one made so
    far each time their number grew by a quarter — for 100,000 people longer than the scoring."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _to_oldest_generation()
        if was_enabled:
            gc.enable()


def _to_oldest_generation() -> None:
    """Objects made since the last collection moved to the oldest generation, where the scorecards
    would arrive after two more walks over all of them (over a second for 100,000 people). Only
    when the process has frozen nothing itself: gc.unfreeze() would thaw that too."""
    frozen = getattr(gc, "get_freeze_count", None)  # CPython's
    if frozen is not None and not frozen():
        gc.freeze()
        gc.unfreeze()


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
    formulas: list[Derived] = field(default_factory=list)
    formula_reads: set[str] = field(default_factory=set)  # metrics that the named formulas and total factor read
    declared: dict[str, MetricDefinition] = field(default_factory=dict)
    total_floor: Decimal | None = None
    total_factor: Formula | None = None
    exclusions: list[Exclusion] = field(default_factory=list)
    streaks: list[Streak] = field(default_factory=list)
    rollups: list[Rollup] = field(default_factory=list)
    aggregate: dict[str, str] = field(default_factory=dict)  # cycle -> "mean" | "sum" of its months' totals
    appeals: dict[str, Num] = field(default_factory=dict)  # file_within, review_within, decide_within (working days)
    digest: str = ""  # sha256 of the scheme's text: which exact rules a run used
    source: str = ""  # the regulation it transcribes ([scheme] source)

    # -- what the core asks ---------------------------------------------------------------------
    def metrics(self) -> set[str]:
        out = {m for d in self.dimensions for i in d.indicators for m in i.inputs()}
        out |= {f.metric for f in self.flags} | {x.metric for x in self.exclusions} | self.formula_reads
        out |= self.pay.metrics() if self.pay else set()
        return out - {d.name for d in self.formulas}  # a named formula is computed, not read

    def fingerprint(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """What a run records of the scheme: its id, version, text digest and the parameters in force."""
        return {"id": self.id, "version": self.version, "digest": self.digest,
                "parameters": {k: (format(v, "f") if isinstance(v, Decimal) else v)
                               for k, v in sorted(self.resolve(overrides).items())}}

    def indicator_ids(self) -> set[str]:
        return {i.id for d in self.dimensions for i in d.indicators}

    def appeal_deadlines(self, overrides: dict[str, Any]) -> dict[str, int]:
        """The working days an appeal is filed, reviewed and decided within ([appeals]; seed 001's [X])."""
        params = self.resolve(overrides)
        return {k: int(n.value(params)) for k, n in self.appeals.items()}

    def aggregates(self, cycle: str) -> str | None:
        return self.aggregate.get(cycle)

    def history_periods(self) -> int:
        """How many earlier periods the streak rules read."""
        return max((st.periods - 1 for st in self.streaks), default=0)

    def metric_key(self, metric: str) -> str:
        """The key path of the first place that reads a metric, for errors."""
        places = [(i.where, set(i.inputs())) for d in self.dimensions for i in d.indicators]
        places += [(f"flag[{n}]", {f.metric}) for n, f in enumerate(self.flags)]
        places += [(f"eligibility.exclude[{n}]", {x.metric}) for n, x in enumerate(self.exclusions)]
        places += [(f"formulas.{d.name}", d.formula.names) for d in self.formulas]
        places += [("pay", self.pay.metrics())] if self.pay else []
        return next((key for key, reads in places if metric in reads), "")

    def declared_metrics(self) -> list[MetricDefinition]:
        """Metrics the pack declares in [metrics]: values a connector supplies per employee. A
        plugin's definition of the same id takes precedence."""
        return list(self.declared.values())

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
                top = ind.max_points(params)
                if top == INF:
                    problems.append(Problem(self.file, ind.where, "has no upper bound on its points; give the "
                                            "indicator a cap (cap = …)"))
                    continue
                if top > d.max:
                    problems.append(Problem(self.file, ind.where, f"can give {fmt(top)} points, more than its "
                                            f"dimension's maximum of {fmt(d.max)}; is a figure mistyped?"))
                total_max += max(top, Decimal(0))
        problems += check_bands(self.grades, params, "grade", self.file)
        if self.pay:
            problems += self.pay.check(params)
        for role in [None, *self.roles]:
            weights = sum((d.weight_by_role.get(role, d.weight) for d in self.dimensions), Decimal(0))
            if weights != self.total_cap:
                who = f"for role {role!r}" if role else "by default"
                problems.append(Problem(self.file, "dimension", f"weights {who} add up to {fmt(weights)}, "
                                        f"not the total of {fmt(self.total_cap)}", "warning"))
        return problems

    # -- what `kpi scheme show | check` asks (see describe.py, lint.py, examples.py) ----------------
    def describe(self) -> dict[str, Any]:
        from .describe import describe
        return describe(self)

    def lint(self) -> list[Problem]:
        from .lint import lint
        return lint(self)

    def run_examples(self) -> list[Any]:
        from .examples import run_examples
        return run_examples(self)

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
        roles = {r: self.role_of(r) for r in {e.role for e in ctx.employees}}
        unknown = sorted(r for r, rid in roles.items() if rid is None)
        if unknown:
            raise ConfigError([Problem(self.file, "roles", f"the roster has roles this scheme does not define: "
                                       f"{', '.join(unknown)}; known roles: {', '.join(self.roles)}. Fix the roster "
                                       "or add the role to the scheme")])
        if ctx.parts and self.aggregate.get(ctx.period.cycle):
            cards = [self._from_months(e, ctx, params) for e in ctx.employees]
            if self.streaks:
                self._streaks(cards, ctx, params)
            return cards
        with gc_paused():
            return self._score_all(ctx, params, roles)

    def _score_all(self, ctx: ScoringContext, params, roles: dict[str, str]) -> list[Scorecard]:
        plan = [(d, [plan_indicator(d, ind, params) for ind in d.indicators]) for d in self.dimensions]
        run = Run(ctx, params, plan, RunPay(self.pay, params) if self.pay else None, f"{self.id} {self.version}")
        cards, waiting = [], []  # waiting: cards finished after the rollups blend their totals
        for e in ctx.employees:
            card, env = self._score_one(e, roles[e.role], run)
            cards.append(card)
            if not card.eligible:
                continue
            if self.rollups:
                waiting.append((card, env, e))
            else:  # nothing to wait for: finished at once, its names not kept
                self._finish(card, env, e, run)
        for r in self.rollups:
            groups = {e.id: getattr(e, r.group) for e in ctx.employees}
            scores, how = r.scores(cards, groups, params)
            for card in cards:
                r.blend(card, scores.get("" if r.units else groups[card.employee_id]), self.rounding, params)
                card.notes += how if card.eligible and card.role in r.shares else []
        for card, env, emp in waiting:
            self._finish(card, env, emp, run)
        if self.streaks:
            self._streaks(cards, ctx, params)
        return cards

    def _streaks(self, cards: list[Scorecard], ctx: ScoringContext, params) -> None:
        current = standings([(c.employee_id, c.eligible, c.total) for c in cards])
        for card in cards:
            for st in self.streaks:
                text = st.evaluate(card.employee_id, current[card.employee_id], ctx.history, ctx.period.label, params)
                if text is None:
                    continue
                card.flags.append(Flag(st.id, text))
                if st.pay_bonus is not None and card.pay is not None:
                    bonus = st.pay_bonus.value(params)
                    card.pay.amount = (card.pay.amount + bonus).quantize(self.pay.rounding, ROUND_HALF_UP)
                    card.pay.explanation += f"; + {fmt(bonus)} ({st.id}) = {card.pay.amount}"

    def _score_one(self, emp, role: str, run: Run) -> tuple[Scorecard, dict]:
        """The points and total; the names it read (env) go on to _finish."""
        ctx, params = run.ctx, run.params
        card = Scorecard(emp.id, emp.name, role, ctx.period.label, run.label, True, None, None, None)
        values = ctx.values.get(emp.id, {})
        env: dict[str, Any] = dict(params)
        for m, mv in values.items():
            env[m] = mv.value
        if self.probation == "not_appraised" and emp.on_probation(ctx.period.end):
            card.eligible = False
            card.flags.append(Flag("probation", f"on probation until {emp.probation_end}: not appraised this period"))
            return card, env
        for x in self.exclusions:
            value = env.get(x.metric)
            if value is not None and all(c.test(value, params) for c in x.when):
                card.eligible = False
                card.flags.append(Flag("not_appraised", f"{x.reason} ({x.metric} = {fmt(value)})"))
                return card, env
        self._derive(card, env)
        overrides, line = ctx.overrides.get(emp.id), self._line
        total = ZERO
        for d, weight, planned in run.dimensions(role):
            raw = ZERO
            for p in planned:
                raw += line(card, p, env, params, overrides)
            adjustments = []
            if d.combine == "mean":
                mean = raw / len(d.indicators)
                adjustments.append(f"mean of {len(d.indicators)} indicators: {fmt(raw)} / {len(d.indicators)} "
                                   f"= {fmt(mean.quantize(Decimal('0.0001')))}")
                raw = mean
            if raw < d.floor:
                adjustments.append(f"{fmt(raw)} raised to the floor {fmt(d.floor)}")
                raw = d.floor
            if raw > d.cap:
                adjustments.append(f"{fmt(raw)} capped at {fmt(d.cap)}")
                raw = d.cap
            # Each dimension is rounded once, so the total is the sum of the figures shown.
            points = (raw / d.max * weight).quantize(self.rounding, ROUND_HALF_UP)
            card.dimensions.append(DimensionResult(d.id, d.name, raw, d.max, weight, points, adjustments))
            total += points
        if self.total_factor is not None:
            factor = self._evaluate(self.total_factor, env, "scheme.total_factor", emp)
            if factor is None:
                card.flags.append(Flag("missing_data", f"total factor {self.total_factor.text}: no data; factor 1"))
            else:
                scaled = (total * factor).quantize(self.rounding, ROUND_HALF_UP)
                card.notes.append(f"total {fmt(total)} × factor {self.total_factor.text} = {fmt(factor)} "
                                  f"({shown(self.total_factor, env)}) = {fmt(scaled)}")
                total = scaled
        if total > self.total_cap:
            card.notes.append(f"total {fmt(total)} capped at {fmt(self.total_cap)}")
            total = self.total_cap
        if self.total_floor is not None and total < self.total_floor:
            card.notes.append(f"total {fmt(total)} raised to the floor {fmt(self.total_floor)}")
            total = self.total_floor
        card.total = total
        return card, env

    def _from_months(self, emp, ctx: ScoringContext, params) -> Scorecard:
        """A quarter's or year's result: the mean or sum of the months in which the person was
        appraised, and its grade. Pay stays monthly; the result feeds rewards and promotion."""
        how = self.aggregate[ctx.period.cycle]
        card = Scorecard(emp.id, emp.name, self.role_of(emp.role), ctx.period.label, f"{self.id} {self.version}",
                         True, None, None, None)
        got = [(label, table[emp.id].total) for label, table in ctx.parts
               if emp.id in table and table[emp.id].eligible and table[emp.id].total is not None]
        if not got:
            card.eligible = False
            card.flags.append(Flag("not_appraised", f"not appraised in any month of {ctx.period.label}"))
            return card
        total = sum((t for _, t in got), Decimal(0))
        total = (total / len(got) if how == "mean" else total).quantize(self.rounding, ROUND_HALF_UP)
        skipped = [label for label, _ in ctx.parts if label not in dict(got)]
        card.notes.append(f"{ctx.period.label} = {how} of " + ", ".join(f"{label} {fmt(t)}" for label, t in got)
                          + f" = {fmt(total)}" + (f" (not appraised in {', '.join(skipped)})" if skipped else ""))
        card.total = total
        card.grade = next((g.result_text for g in self.grades if g.contains(total, params)), None)
        return card

    def _finish(self, card: Scorecard, env: dict, emp, run: Run) -> None:
        """Grade, flags and pay, from the final total (after any roll-up blended it)."""
        params = run.params
        card.grade = self._grade(card.total, run)
        for f in self.flags:
            value = env.get(f.metric)
            if value is not None and all(c.test(value, params) for c in f.when):
                card.flags.append(Flag(f.id, f"{f.message} ({f.metric} = {fmt(value)})"))
        if run.pay:
            card.pay = run.pay.compute(emp, card.role, run.ctx.period, card.total, card.grade, env)

    def _grade(self, total: Decimal, run: Run) -> str | None:
        """The grade whose band holds the total; a run's totals repeat, so each is looked up once."""
        if total not in run.grades:
            run.grades[total] = next((g.result_text for g in self.grades if g.contains(total, run.params)), None)
        return run.grades[total]

    def _evaluate(self, formula: Formula, env: dict, where: str, emp) -> Decimal | None:
        """A formula's value, or None when a metric it reads has no value."""
        if any(env.get(n) is None for n in formula.names):
            return None
        try:
            return evaluate(formula, env)
        except RuleError as exc:
            raise ConfigError([Problem(self.file, where, f"employee {emp.id}: {exc}")]) from None

    def _derive(self, card: Scorecard, env: dict) -> None:
        """The named formulas, in order; each joins the names later formulas and rules can read."""
        for d in self.formulas:
            value = self._evaluate(d.formula, env, f"formulas.{d.name}", card)
            env[d.name] = value
            if value is None:
                card.notes.append(f"{d.name}: no data ({d.formula.text})")
            else:
                card.notes.append(f"{d.name} = {d.formula.text} = {fmt(value)} ({shown(d.formula, env)})")

    def _line(self, card: Scorecard, p: Planned, env: dict, params, overrides: dict | None) -> Decimal:
        """One indicator's line on the card; its points."""
        ind = p.ind
        value = env.get(ind.metric) if ind.metric else None
        if p.score is None:
            return self._rule_line(card, p, value, env, params, overrides)
        if value is None:
            return self._missing_line(card, p.dimension, ind, env, params)
        try:
            pts, matched, explanation = p.score(value)
        except RuleError as exc:
            raise self._cannot_score(card, ind, exc) from None
        if p.floor is None and p.cap is None and not overrides:  # the rule's points stand as they are
            card.lines.append(Line(p.dimension, ind.id, ind.name, ind.metric, value, ind.rule_name, matched, pts,
                                   p.top, explanation, NO_ADJUSTMENTS))
            return pts
        return self._add_line(card, p.dimension, ind, value, pts, matched, explanation, p.floor, p.cap, p.top,
                              overrides)

    def _rule_line(self, card: Scorecard, p: Planned, value, env: dict, params, overrides: dict | None) -> Decimal:
        """A line the rule scores itself, with everything worked out for this line."""
        ind = p.ind
        try:
            if hasattr(ind.rule, "apply_inputs"):
                out = ind.rule.apply_inputs(dict(env, value=value) if ind.metric else env, params)
            else:
                out = None if value is None else ind.rule.apply(value, params)
        except RuleError as exc:
            raise self._cannot_score(card, ind, exc) from None
        if out is None:
            return self._missing_line(card, p.dimension, ind, env, params)
        card.flags.extend(Flag(code, message) for code, message in out.flags)
        return self._add_line(card, p.dimension, ind, out.value if out.value is not None else value, out.points,
                              out.matched, out.explanation, *limits(ind, params), overrides)

    def _add_line(self, card: Scorecard, dimension: str, ind: Indicator, value, pts: Decimal, matched: str,
                  explanation: str, floor, cap, top, overrides: dict | None) -> Decimal:
        """The rule's points held within the indicator's floor and cap, and any recorded adjustment."""
        adjustments = []
        if floor is not None and pts < floor:
            adjustments.append(f"{fmt(pts)} raised to the floor {fmt(floor)}")
            pts = floor
        if cap is not None and pts > cap:
            adjustments.append(f"{fmt(pts)} capped at {fmt(cap)}")
            pts = cap
        override = overrides.get(ind.id) if overrides else None
        if override is not None:  # a recorded adjustment (an upheld appeal): the points, and why
            adjustments.append(f"{fmt(pts)} adjusted to {fmt(override[0])}: {override[1]}")
            pts = override[0]
        card.lines.append(Line(dimension, ind.id, ind.name, ind.metric, value, ind.rule_name, matched, pts, top,
                               explanation, adjustments))
        return pts

    def _missing_line(self, card: Scorecard, dimension: str, ind: Indicator, env: dict, params) -> Decimal:
        missing = ", ".join(m for m in ind.inputs() if env.get(m) is None) or ind.metric
        pts = ind.missing_points.value(params) if ind.missing_points else Decimal(0)
        card.flags.append(Flag("missing_data", f"{missing}: no data; {ind.id} scored {fmt(pts)}"))
        card.lines.append(Line(dimension, ind.id, ind.name, ind.metric, None, ind.rule_name, "no data", pts, None,
                               f"no value for {missing} → {fmt(pts)}"))
        return pts

    def _cannot_score(self, card: Scorecard, ind: Indicator, exc: RuleError) -> ConfigError:
        return ConfigError([Problem(self.file, ind.where, f"employee {card.employee_id}: "
                                    f"{ind.metric + ' = ' if ind.metric else ''}{exc}; the scheme's rule must "
                                    "cover every value it can be given")])


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
