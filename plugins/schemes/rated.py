"""Rated indicators (rule type 6): raters score an item on a scale (1–5 by default); the item's
score is the rater-weighted mean of the raters who rated. Two raters who differ by the calibration
threshold or more (seed 004: 20 %, of the scale's top) raise a calibration flag.

Each rater's score is a supplied metric value named ``ITEM@RATER`` (``script@supervisor``), so any
connector that supplies per-employee figures can bring ratings in. The scheme's ``[rating]`` table
gives the default raters, weights, scale and threshold; an indicator may override each.

    [rating]
    raters = { supervisor = 60, qc = 20, hr = 10, customer_rep = 10 }
    scale = [1, 5]
    calibration = 20
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping

from kpi.core.errors import Problem

from .rules import Num, Outcome, ParseContext, RuleError, fmt

RATING_KEYS = {"raters", "scale", "calibration"}


def rater_metric(item: str, rater: str) -> str:
    return f"{item}@{rater}"


class RatedRule:
    """The weighted mean rating; `points` (optional) rescales it: mean / scale top × points."""

    def __init__(self, item: str, raters: dict[str, Num], scale: tuple[Decimal, Decimal], calibration: Num | None,
                 points: Num | None):
        self.item, self.raters, self.scale, self.calibration, self.points = item, raters, scale, calibration, points

    def inputs(self, metric: str) -> list[str]:
        return [rater_metric(metric, r) for r in self.raters]

    def apply_inputs(self, values: Mapping[str, Decimal | None], params) -> Outcome | None:
        lo, hi = self.scale
        given = {r: values.get(rater_metric(self.item, r)) for r in self.raters}
        given = {r: v for r, v in given.items() if v is not None}
        if not given:
            return None
        for rater, score in given.items():
            if not lo <= score <= hi:
                raise RuleError(f"{rater}'s rating {fmt(score)} of {self.item} is outside the scale {fmt(lo)}–{fmt(hi)}")
        weights = {r: self.raters[r].value(params) for r in given}
        total_weight = sum(weights.values(), Decimal(0))
        if total_weight <= 0:
            raise RuleError(f"the raters of {self.item} who rated ({', '.join(given)}) have no weight")
        mean = sum((given[r] * weights[r] for r in given), Decimal(0)) / total_weight
        mean = mean.quantize(Decimal("0.0001"), ROUND_HALF_UP)
        parts = ", ".join(f"{r} {fmt(given[r])} × {fmt(weights[r])}" for r in given)
        text = f"({parts}) / {fmt(total_weight)} = {fmt(mean)}"
        missing = [r for r in self.raters if r not in given]
        if missing:
            text += f" (not rated by {', '.join(missing)}: weights taken over the raters who rated)"
        pts = mean
        if self.points is not None:
            pts = mean / hi * self.points.value(params)
            text += f"; {fmt(mean)} / {fmt(hi)} × {self.points.text(params)} = {fmt(pts.quantize(Decimal('0.0001')))}"
        flags = []
        if self.calibration is not None and len(given) > 1:
            spread = max(given.values()) - min(given.values())
            limit = self.calibration.value(params) / 100 * hi
            if spread >= limit:
                low, high = min(given, key=given.get), max(given, key=given.get)
                flags.append(("calibration", f"{self.item}: {low} {fmt(given[low])} and {high} {fmt(given[high])} differ "
                                             f"by {fmt(spread)}, at least {self.calibration.text(params)}% of {fmt(hi)}: "
                                             "a calibration meeting is required"))
        return Outcome(pts, f"{len(given)} of {len(self.raters)} raters", text, value=mean, flags=flags)

    def apply(self, value: Decimal, params) -> Outcome:  # one rating, by the only rater
        return self.apply_inputs({rater_metric(self.item, next(iter(self.raters))): value}, params)

    def max_points(self, params) -> Decimal:
        return self.points.value(params) if self.points is not None else self.scale[1]

    def check(self, params, where, file) -> list[Problem]:
        if any(w.value(params) < 0 for w in self.raters.values()):
            return [Problem(file, f"{where}.raters", "a rater's weight cannot be below 0")]
        return []

    def describe(self, params) -> str:
        weights = ", ".join(f"{r} {w.text(params)}" for r, w in self.raters.items())
        text = f"rated {fmt(self.scale[0])}–{fmt(self.scale[1])}, weighted mean ({weights})"
        if self.points is not None:
            text += f" / {fmt(self.scale[1])} × {self.points.text(params)}"
        if self.calibration is not None:
            text += f"; calibration when raters differ by ≥ {self.calibration.text(params)}%"
        return text


def parse_rating_defaults(ctx: ParseContext, spec: Any) -> dict[str, Any]:
    """The scheme's [rating] table, checked; indicators fall back on it."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        ctx.error("rating", "expected a table: raters = { supervisor = 60, … }, scale = [1, 5], calibration = 20")
        return {}
    ctx.known_keys(spec, "rating", RATING_KEYS)
    return spec


class RatedType:
    keys = RATING_KEYS | {"points"}

    def parse(self, spec, where, ctx: ParseContext):
        defaults = getattr(ctx, "rating", {})
        raw = spec.get("raters", defaults.get("raters"))
        rw = f"{where}.raters" if "raters" in spec else "rating.raters"
        if not isinstance(raw, dict) or not raw:
            ctx.error(rw, "expected the raters and their weights, e.g. { supervisor = 60, qc = 40 }, here or in [rating]")
            return None
        raters = {r: ctx.num(raw, r, rw, required=True) for r in raw}
        scale_raw = spec.get("scale", defaults.get("scale", [1, 5]))
        scale = None
        if (isinstance(scale_raw, list) and len(scale_raw) == 2
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in scale_raw)):
            scale = (Decimal(str(scale_raw[0])), Decimal(str(scale_raw[1])))
        if scale is None or not scale[0] < scale[1] or scale[1] <= 0:
            ctx.error(f"{where}.scale", f"expected [lowest, highest] with highest above 0, e.g. [1, 5]; found {scale_raw!r}")
            return None
        calibration = ctx.num(spec, "calibration", where, default=defaults.get("calibration"))
        points = ctx.num(spec, "points", where)
        if None in raters.values():
            return None
        return RatedRule(str(spec.get("metric")), raters, scale, calibration, points)
