"""Rule types for declarative schemes. A rule type parses its TOML table into a rule; a rule turns
one metric value into points, saying which band or condition matched and why.

Numbers in a rule may be literals or the name of a scheme parameter (a string), so a site can set
the seed's `[X]` figures in its config.

A rule may also offer `prepare(params)`: the same arithmetic and text as `apply`, with everything
that does not depend on the value (band edges and labels, the text around the value) worked out once
for a run. It returns a function value -> (points, matched, explanation), or None when it cannot
(a number names a parameter that is not a number); the scheme then calls `apply` for every line."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from kpi.core.decimals import tidy
from kpi.core.errors import Problem

INF = Decimal("Infinity")
EDGE_KEYS = ("ge", "gt", "le", "lt")
COMPARE = {
    "eq": (lambda v, x: v == x, "="),
    "ne": (lambda v, x: v != x, "≠"),
    "ge": (lambda v, x: v >= x, "≥"),
    "gt": (lambda v, x: v > x, ">"),
    "le": (lambda v, x: v <= x, "≤"),
    "lt": (lambda v, x: v < x, "<"),
}


class RuleError(Exception):
    """A value the rule cannot score (no band contains it); names the rule."""


@dataclass(frozen=True)
class Num:
    """A number written in a scheme: a literal, or a parameter's name resolved at scoring time."""

    literal: Decimal | None = None
    param: str | None = None

    def value(self, params: dict[str, Any]) -> Decimal:
        return self.literal if self.param is None else Decimal(str(params[self.param]))

    def text(self, params: dict[str, Any]) -> str:
        return fmt(self.value(params))

    def known(self, params: dict[str, Any]) -> bool:
        """Whether value() is sure to give a number under these parameters, so a run may work it out once."""
        return self.param is None or type(params.get(self.param)) is Decimal


def known(nums, params) -> bool:
    """Whether every number given (None for one not written) is known under these parameters."""
    return all(n is None or n.known(params) for n in nums)


_FMT: dict[Decimal, str] = {}  # a scheme writes the same few figures on every scorecard


def fmt(d: Decimal) -> str:
    """A decimal as a person writes it: 24, 92.5, -10."""
    if type(d) is Decimal and not d:  # zeros are equal whatever their sign, which they keep here: -0
        return "-0" if d.is_signed() else "0"
    if not d or not d.is_finite():
        return format(tidy(d), "f")
    text = _FMT.get(d)  # equal decimals (92.5, 92.50) are written alike
    if text is None:
        text = format(tidy(d), "f")
        if len(_FMT) >= 100_000:
            _FMT.clear()
        _FMT[d] = text
    return text


Scored = tuple[Decimal, str, str]  # what a prepared rule gives: points, matched, explanation
MEMO_LIMIT = 20_000  # distinct values a prepared rule remembers in one run (two-place percentages: 10,001)


def remembered(score: Callable[[Decimal], Scored]) -> Callable[[Decimal], Scored]:
    """score(value), remembered for the run: a month's thousands of equal figures are scored once.
    The key is the value's exact digits, str(value), not the value: 3 and 3.0 are equal but may
    give points of different exponents, and -0 is written "-0"."""
    memo: dict[str, Scored] = {}

    def cached(value):
        if type(value) is not Decimal:  # left to the rule to refuse
            return score(value)
        key = str(value)
        hit = memo.get(key)
        if hit is None:
            hit = score(value)
            if len(memo) < MEMO_LIMIT:
                memo[key] = hit
        return hit

    return cached


class ParseContext:
    """Collects problems while a scheme is parsed; knows the scheme's parameters."""

    def __init__(self, file: str, parameters: dict[str, Any]):
        self.file = file
        self.parameters = parameters
        self.problems: list[Problem] = []

    def error(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, key, message))

    def warn(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.file, key, message, "warning"))

    def num(self, spec: dict, key: str, where: str, required: bool = False, default: Any = None) -> Num | None:
        raw = spec.get(key, default)
        if raw is None:
            if required:
                self.error(f"{where}.{key}", "missing: expected a number or a parameter name")
            return None
        if isinstance(raw, bool):
            self.error(f"{where}.{key}", f"expected a number or a parameter name, found {raw!r}")
            return None
        if isinstance(raw, str):
            try:
                return Num(literal=Decimal(raw))
            except InvalidOperation:
                pass
            if raw not in self.parameters:
                from kpi.core.options import did_you_mean
                self.error(f"{where}.{key}", f"{raw!r} is neither a number nor a parameter of this scheme"
                                             f"{did_you_mean(raw, self.parameters)}")
                return None
            return Num(param=raw)
        if isinstance(raw, (int, float)):
            return Num(literal=Decimal(str(raw)))
        self.error(f"{where}.{key}", f"expected a number or a parameter name, found {raw!r}")
        return None

    def known_keys(self, spec: dict, where: str, allowed: set[str]) -> None:
        from kpi.core.options import did_you_mean
        for key in spec:
            if key not in allowed:
                self.error(f"{where}.{key}", f"unknown key{did_you_mean(key, allowed)} (known: {', '.join(sorted(allowed))})")


@dataclass
class Outcome:
    """What a rule gives: the points, the band or condition matched, one line of explanation, and
    for rules that read several inputs the value they scored and any flags they raise."""

    points: Decimal
    matched: str
    explanation: str
    value: Decimal | None = None
    flags: list[tuple[str, str]] = field(default_factory=list)  # (code, message)


@dataclass(frozen=True)
class Band:
    """A half-open or closed interval of the metric with what it gives. Edges are explicit:
    ge/gt below, le/lt above; a missing side is unbounded."""

    where: str
    edges: dict[str, Num]
    result: Num

    def bounds(self, params) -> tuple[Decimal, bool, Decimal, bool]:
        cached = self.__dict__.get("_bounds")  # edges written as numbers: worked out once
        if cached is not None:
            return cached
        e = {k: v.value(params) for k, v in self.edges.items()}
        lo, lo_closed = (e["ge"], True) if "ge" in e else (e["gt"], False) if "gt" in e else (-INF, False)
        hi, hi_closed = (e["le"], True) if "le" in e else (e["lt"], False) if "lt" in e else (INF, False)
        if all(v.param is None for v in self.edges.values()):
            object.__setattr__(self, "_bounds", (lo, lo_closed, hi, hi_closed))
        return lo, lo_closed, hi, hi_closed

    def contains(self, v: Decimal, params) -> bool:
        lo, lo_closed, hi, hi_closed = self.bounds(params)
        return (v >= lo if lo_closed else v > lo) and (v <= hi if hi_closed else v < hi)

    def label(self, params) -> str:
        cached = self.__dict__.get("_label")
        if cached is not None:
            return cached
        lo, lo_closed, hi, hi_closed = self.bounds(params)
        if lo == -INF:
            text = f"{'≤' if hi_closed else '<'} {fmt(hi)}"
        elif hi == INF:
            text = f"{'≥' if lo_closed else '>'} {fmt(lo)}"
        else:
            text = f"{'[' if lo_closed else '('}{fmt(lo)}, {fmt(hi)}{']' if hi_closed else ')'}"
        if "_bounds" in self.__dict__:  # edges written as numbers
            object.__setattr__(self, "_label", text)
        return text


def parse_bands(ctx: ParseContext, items: Any, where: str, result_key: str) -> list[Band]:
    if not isinstance(items, list) or not items or not all(isinstance(b, dict) for b in items):
        ctx.error(where, f"expected a list of bands such as {{ ge = 90, lt = 95, {result_key} = 24 }}")
        return []
    bands = []
    for i, spec in enumerate(items):
        bw = f"{where}[{i}]"
        ctx.known_keys(spec, bw, set(EDGE_KEYS) | {result_key})
        if "ge" in spec and "gt" in spec or "le" in spec and "lt" in spec:
            ctx.error(bw, "give at most one lower edge (ge or gt) and one upper edge (le or lt)")
            continue
        if not any(k in spec for k in EDGE_KEYS):
            ctx.error(bw, "a band needs at least one edge: ge, gt, le or lt")
            continue
        edges = {k: ctx.num(spec, k, bw) for k in EDGE_KEYS if k in spec}
        result = ctx.num(spec, result_key, bw, required=True)
        if None in edges.values() or result is None:
            continue
        bands.append(Band(bw, edges, result))
    return bands


def check_bands(bands: list[Band], params: dict, where: str, file: str) -> list[Problem]:
    """Gaps and overlaps between bands, with the values that fall in them (94.5 between 85–94 and 95–100)."""
    problems = []
    spans = sorted(((b.bounds(params), b) for b in bands), key=lambda x: (x[0][0], not x[0][1]))
    for ((lo, lo_c, hi, hi_c), a), ((lo2, lo2_c, hi2, hi2_c), b) in zip(spans, spans[1:]):
        if hi < lo2 or (hi == lo2 and not hi_c and not lo2_c):
            between = f"values from {fmt(hi)} to {fmt(lo2)}" if hi < lo2 else f"the value {fmt(hi)}"
            problems.append(Problem(file, a.where, f"gap: {between} fall between {a.label(params)} and "
                                    f"{b.label(params)}; make one band's edge meet the other's "
                                    f"(e.g. lt = {fmt(lo2)} here and ge = {fmt(lo2)} on the next)"))
        elif hi > lo2 or (hi == lo2 and hi_c and lo2_c):
            problems.append(Problem(file, b.where, f"overlap: {a.label(params)} and {b.label(params)} both contain "
                                    f"{fmt(lo2) if lo2 != -INF else 'low values'}; a value must match one band only"))
    return problems


def bounded(pts: Decimal, text: str, floor: Num | None, cap: Num | None, params) -> tuple[Decimal, str]:
    """Points held within a rule's floor and cap, the explanation saying which applied."""
    if floor is not None and pts < floor.value(params):
        pts = floor.value(params)
        text += f", floor {fmt(pts)}"
    if cap is not None and pts > cap.value(params):
        pts = cap.value(params)
        text += f", cap {fmt(pts)}"
    return pts, text


class BandsRule:
    """Points by the band the value falls in (rule type 1)."""

    def __init__(self, bands: list[Band]):
        self.bands = bands

    def apply(self, value: Decimal, params) -> Outcome:
        for b in self.bands:
            if b.contains(value, params):
                pts = b.result.value(params)
                return Outcome(pts, b.label(params), f"{fmt(value)} is in band {b.label(params)} → {fmt(pts)}")
        raise RuleError(f"{fmt(value)} falls in none of the bands")

    def prepare(self, params) -> Callable[[Decimal], Scored] | None:
        if not known((n for b in self.bands for n in (*b.edges.values(), b.result)), params):
            return None
        spans = []
        for b in self.bands:
            pts, label = b.result.value(params), b.label(params)
            spans.append((*b.bounds(params), pts, label, f" is in band {label} → {fmt(pts)}"))

        def score(value):
            for lo, lo_closed, hi, hi_closed, pts, label, tail in spans:
                if (value >= lo if lo_closed else value > lo) and (value <= hi if hi_closed else value < hi):
                    return pts, label, fmt(value) + tail
            raise RuleError(f"{fmt(value)} falls in none of the bands")

        return remembered(score)

    def max_points(self, params) -> Decimal:
        top = getattr(self, "_top", None)  # results written as numbers: worked out once
        if top is None:
            top = max(b.result.value(params) for b in self.bands)
            if all(b.result.param is None for b in self.bands):
                self._top = top
        return top

    def describe(self, params) -> str:
        return "; ".join(f"{b.label(params)} → {b.result.text(params).replace('-', '−')}" for b in self.bands)

    def check(self, params, where, file) -> list[Problem]:
        return check_bands(self.bands, params, where, file)


class BandsType:
    keys = {"bands"}

    def parse(self, spec, where, ctx: ParseContext):
        bands = parse_bands(ctx, spec.get("bands"), f"{where}.bands", "points")
        return BandsRule(bands) if bands else None


class PerOccurrenceRule:
    """start + each × count, within floor and cap; `lost_at` occurrences or more lose the item
    (rule types 2 and 3)."""

    def __init__(self, start: Num, each: Num, floor: Num | None, cap: Num | None, lost_at: Num | None):
        self.start, self.each, self.floor, self.cap, self.lost_at = start, each, floor, cap, lost_at

    def apply(self, value: Decimal, params) -> Outcome:
        start, each = self.start.value(params), self.each.value(params)
        if self.lost_at is not None and value >= self.lost_at.value(params):
            n = self.lost_at.text(params)
            return Outcome(Decimal(0), f"≥ {n} occurrences", f"{fmt(value)} occurrences ≥ {n}: the item is lost → 0")
        pts = start + each * value
        pts, text = bounded(pts, f"{fmt(start)} {'+' if each >= 0 else '−'} {fmt(abs(each))} × {fmt(value)} = "
                                 f"{fmt(pts)}", self.floor, self.cap, params)
        return Outcome(pts, f"{fmt(each)} each", text)

    def prepare(self, params) -> Callable[[Decimal], Scored] | None:
        if not known((self.start, self.each, self.floor, self.cap, self.lost_at), params):
            return None
        start, each = self.start.value(params), self.each.value(params)
        floor, cap, lost_at = (n.value(params) if n is not None else None for n in (self.floor, self.cap, self.lost_at))
        head, matched = f"{fmt(start)} {'+' if each >= 0 else '−'} {fmt(abs(each))} × ", f"{fmt(each)} each"
        if lost_at is not None:
            lost, lost_tail = f"≥ {fmt(lost_at)} occurrences", f" occurrences ≥ {fmt(lost_at)}: the item is lost → 0"
        zero = Decimal(0)

        def score(value):
            if lost_at is not None and value >= lost_at:
                return zero, lost, fmt(value) + lost_tail
            pts = start + each * value
            text = f"{head}{fmt(value)} = {fmt(pts)}"
            if floor is not None and pts < floor:
                pts, text = floor, f"{text}, floor {fmt(floor)}"
            if cap is not None and pts > cap:
                pts, text = cap, f"{text}, cap {fmt(cap)}"
            return pts, matched, text

        return remembered(score)

    def max_points(self, params) -> Decimal:
        top = self.start.value(params) if self.each.value(params) <= 0 else INF
        return min(top, self.cap.value(params)) if self.cap is not None else top

    def describe(self, params) -> str:
        each = self.each.value(params)
        parts = [f"{'−' if each < 0 else '+'}{fmt(abs(each))} each"]
        if self.start.value(params) != 0:  # "−10 each" reads better than "0, −10 each"
            parts.insert(0, self.start.text(params))
        parts += [f"{k} {n.text(params)}" for k, n in (("floor", self.floor), ("cap", self.cap)) if n is not None]
        lost = f"; {self.lost_at.text(params)} or more → item lost" if self.lost_at is not None else ""
        return ", ".join(parts) + lost

    def check(self, params, where, file) -> list[Problem]:
        if self.each.value(params) > 0 and self.cap is None:
            return [Problem(file, where, "an addition per occurrence needs a cap, or the item has no maximum")]
        return []


class PerOccurrenceType:
    keys = {"start", "each", "floor", "cap", "lost_at"}

    def parse(self, spec, where, ctx: ParseContext):
        start = ctx.num(spec, "start", where, default=0)
        each = ctx.num(spec, "each", where, required=True)
        floor, cap, lost_at = (ctx.num(spec, k, where) for k in ("floor", "cap", "lost_at"))
        return PerOccurrenceRule(start, each, floor, cap, lost_at) if start and each else None


@dataclass
class Comparison:
    op: str
    operand: Num

    def test(self, value, params) -> bool:
        return COMPARE[self.op][0](value, self.operand.value(params))

    def label(self, params) -> str:
        return f"{COMPARE[self.op][1]} {self.operand.text(params)}"


def parse_comparison(ctx: ParseContext, spec: Any, where: str) -> list[Comparison]:
    if not isinstance(spec, dict) or not spec:
        ctx.error(where, "expected a comparison such as { eq = 0 } or { ge = 90, lt = 100 }")
        return []
    ctx.known_keys(spec, where, set(COMPARE))
    out = []
    for op in spec:
        if op in COMPARE:
            n = ctx.num(spec, op, where)
            if n is not None:
                out.append(Comparison(op, n))
    return out


class ConditionRule:
    """`points` when the value meets every comparison in `when`, else `else_points` (rule type 4)."""

    def __init__(self, when: list[Comparison], points: Num, otherwise: Num):
        self.when, self.points, self.otherwise = when, points, otherwise

    def apply(self, value, params) -> Outcome:
        cond = " and ".join(c.label(params) for c in self.when)
        if all(c.test(value, params) for c in self.when):
            pts = self.points.value(params)
            return Outcome(pts, f"{cond}", f"{fmt(value)} {cond} → {fmt(pts)}")
        pts = self.otherwise.value(params)
        return Outcome(pts, f"not {cond}", f"{fmt(value)} is not {cond} → {fmt(pts)}")

    def prepare(self, params) -> Callable[[Decimal], Scored] | None:
        if not known((*(c.operand for c in self.when), self.points, self.otherwise), params):
            return None
        cond = " and ".join(c.label(params) for c in self.when)
        tests = [(COMPARE[c.op][0], c.operand.value(params)) for c in self.when]
        pts, otherwise = self.points.value(params), self.otherwise.value(params)
        met = (pts, cond, f" {cond} → {fmt(pts)}")
        unmet = (otherwise, f"not {cond}", f" is not {cond} → {fmt(otherwise)}")

        def score(value):
            pts, matched, tail = met if all(test(value, x) for test, x in tests) else unmet
            return pts, matched, fmt(value) + tail

        return remembered(score)

    def max_points(self, params) -> Decimal:
        return max(self.points.value(params), self.otherwise.value(params))

    def describe(self, params) -> str:
        cond = " and ".join(c.label(params) for c in self.when)
        then, otherwise = (n.text(params).replace("-", "−") for n in (self.points, self.otherwise))
        return f"{cond} → {then}, else {otherwise}"

    def check(self, params, where, file) -> list[Problem]:
        return []


class ConditionType:
    keys = {"when", "points", "else_points"}

    def parse(self, spec, where, ctx: ParseContext):
        when = parse_comparison(ctx, spec.get("when"), f"{where}.when")
        points = ctx.num(spec, "points", where, required=True)
        otherwise = ctx.num(spec, "else_points", where, default=0)
        return ConditionRule(when, points, otherwise) if when and points and otherwise else None


class ProRataRule:
    """value / full_at × points, capped at `points` unless `cap` says otherwise (rule type 5)."""

    def __init__(self, full_at: Num, points: Num, cap: Num | None):
        self.full_at, self.points, self.cap = full_at, points, cap

    def apply(self, value, params) -> Outcome:
        full, pts_max = self.full_at.value(params), self.points.value(params)
        pts = value / full * pts_max
        text = f"{fmt(value)} / {fmt(full)} × {fmt(pts_max)} = {fmt(pts.quantize(Decimal('0.0001')))}"
        cap = self.cap.value(params) if self.cap is not None else pts_max
        if pts > cap:
            pts = cap
            text += f", cap {fmt(cap)}"
        if pts < 0:
            pts = Decimal(0)
            text += ", floor 0"
        return Outcome(pts, f"pro rata to {fmt(full)}", text)

    def prepare(self, params) -> Callable[[Decimal], Scored] | None:
        if not known((self.full_at, self.points, self.cap), params):
            return None
        full, pts_max = self.full_at.value(params), self.points.value(params)
        cap = self.cap.value(params) if self.cap is not None else pts_max
        head, matched, places = f" / {fmt(full)} × {fmt(pts_max)} = ", f"pro rata to {fmt(full)}", Decimal("0.0001")

        def score(value):
            pts = value / full * pts_max
            text = f"{fmt(value)}{head}{fmt(pts.quantize(places))}"
            if pts > cap:
                pts, text = cap, f"{text}, cap {fmt(cap)}"
            if pts < 0:
                pts, text = Decimal(0), f"{text}, floor 0"
            return pts, matched, text

        return remembered(score)

    def max_points(self, params) -> Decimal:
        return self.cap.value(params) if self.cap is not None else self.points.value(params)

    def describe(self, params) -> str:
        return (f"value / {self.full_at.text(params)} × {self.points.text(params)}, "
                f"cap {fmt(self.max_points(params))}")

    def check(self, params, where, file) -> list[Problem]:
        if self.full_at.value(params) <= 0:
            return [Problem(file, f"{where}.full_at", "must be above 0 (it divides the value)")]
        return []


class ProRataType:
    keys = {"full_at", "points", "cap"}

    def parse(self, spec, where, ctx: ParseContext):
        full_at = ctx.num(spec, "full_at", where, required=True)
        points = ctx.num(spec, "points", where, required=True)
        cap = ctx.num(spec, "cap", where)
        return ProRataRule(full_at, points, cap) if full_at and points else None


BUILTIN_RULE_TYPES = {
    "bands": BandsType(),
    "per_occurrence": PerOccurrenceType(),
    "condition": ConditionType(),
    "pro_rata": ProRataType(),
}
