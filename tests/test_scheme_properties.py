"""Property-based: random schemes — well-formed or not — and random inputs never crash the engine.
A scheme either parses or is refused with problems that name the file and a key; a parsed scheme
scores any figures or refuses them with a clear error; and what it scores adds up: the total is the
sum of the dimension figures shown, within the scheme's cap."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kpi.core.errors import ConfigError, KpiError
from kpi.core.models import Employee, MetricValue, Period
from kpi.core.scoring import ScoringContext
from kpi.plugins.schemes.declarative import RULE_TYPES
from kpi.plugins.schemes.loader import parse_scheme

METRICS = ["m1", "m2", "m3"]
PERIOD = Period("2026-10", date(2026, 10, 1), date(2026, 10, 31))

bad = st.sampled_from(["p1", "nope", "12", "", -5])
sane = st.integers(0, 100)
GOOD_NUMBER = st.one_of(sane, st.decimals(0, 100, places=2).map(float))
ANY_NUMBER = st.one_of(*[GOOD_NUMBER] * 8, bad)


@st.composite
def partition(draw, result_key: str, results=st.integers(0, 100), numbers=ANY_NUMBER):
    """Bands that tile the line: < c1, [c1, c2), …, ≥ cn — or, now and then, a broken tiling."""
    cuts = sorted(draw(st.sets(st.integers(0, 100), min_size=1, max_size=4)))
    bands = [{"lt": cuts[0]}] + [{"ge": a, "lt": b} for a, b in zip(cuts, cuts[1:])] + [{"ge": cuts[-1]}]
    if numbers is not GOOD_NUMBER and draw(st.integers(0, 4)) == 0:  # break it: a gap, an overlap or a stray value
        i = draw(st.integers(0, len(bands) - 1))
        bands[i] = dict(bands[i], **draw(st.dictionaries(st.sampled_from(["ge", "gt", "le", "lt"]), numbers,
                                                           min_size=1, max_size=1)))
    return [dict(b, **{result_key: draw(results)}) for b in bands]


def rule_strategy(numbers, formulas, scales):
    return st.one_of(
        st.fixed_dictionaries({"rule": st.just("bands"), "bands": partition("points", st.integers(0, 30), numbers)}),
        st.fixed_dictionaries({"rule": st.just("per_occurrence"), "each": st.integers(-10, 0)},
                              optional={"start": st.integers(0, 30), "floor": st.integers(-5, 0), "lost_at": numbers}),
        st.fixed_dictionaries({"rule": st.just("escalating"), "first": st.integers(-10, 0)},
                              optional={"start": st.integers(0, 30), "free": numbers, "step": st.integers(-5, 0),
                                        "floor": st.integers(-50, 0)}),
        st.fixed_dictionaries({"rule": st.just("condition"), "when": st.dictionaries(st.sampled_from(["eq", "ge", "lt"]),
                                                                                      numbers, min_size=1, max_size=2),
                               "points": st.integers(0, 30)}, optional={"else_points": st.integers(-10, 0)}),
        st.fixed_dictionaries({"rule": st.just("pro_rata"), "full_at": numbers, "points": st.integers(0, 30)}),
        st.fixed_dictionaries({"rule": st.just("formula"),
                               "formula": formulas,
                               "cap": st.integers(0, 30)}),
        st.fixed_dictionaries({"rule": st.just("rated"), "raters": st.dictionaries(st.sampled_from(["a", "b"]),
                                                                                    numbers, min_size=1, max_size=2)},
                              optional={"calibration": numbers, "scale": scales}),
    )


GOOD_FORMULAS = st.sampled_from(["m1 * 2", "min(m1, m2) / max(m3, 1)", "if(m1 > 3, 10, p1)", "clamp(m1, 0, 30)"])
BAD_FORMULAS = st.sampled_from(["m1 +", "__import__('os')", "m1.real", "max()", "1/0", "m1 / (m2 - m2)"])
SANE_RULES = rule_strategy(GOOD_NUMBER, GOOD_FORMULAS, st.sampled_from([[1, 5], [0, 10]]))
ANY_RULES = st.one_of(rule_strategy(ANY_NUMBER, st.one_of(GOOD_FORMULAS, BAD_FORMULAS),
                                    st.sampled_from([[1, 5], [5, 1], [0, 10]])),
                      st.fixed_dictionaries({"rule": st.sampled_from(["bandz", 3])}))


@st.composite
def schemes(draw) -> str:
    chaos = draw(st.booleans())  # half the schemes have mistakes anywhere; half only in what they are given
    numbers, rules = (ANY_NUMBER, ANY_RULES) if chaos else (GOOD_NUMBER, SANE_RULES)
    dims = []
    for d in range(draw(st.integers(1, 3))):
        indicators = [dict(draw(rules), id=f"i{d}{i}", metric=draw(st.sampled_from(METRICS)))
                      for i in range(draw(st.integers(1, 3)))]
        dim = {"id": f"d{d}", "max": draw(st.one_of(st.just(100), numbers)), "indicator": indicators}
        dim.update(draw(st.fixed_dictionaries({}, optional={"weight": numbers, "floor": st.integers(-20, 0),
                                                            "combine": st.sampled_from(["sum", "mean", "max"] if chaos else ["sum", "mean"])})))
        dims.append(dim)
    doc = {"scheme": {"id": "h", "version": "1", "total": draw(st.sampled_from([100, 50, "x"] if chaos else [100, 50]))},
           "parameters": {"p1": {"type": "number", "default": draw(st.integers(0, 10))}},
           "roles": {"agent": {"name": {"en": "Agent"}}},
           "dimension": dims}
    if draw(st.booleans()):
        doc["grade"] = [{"id": f"g{i}", **{k: v for k, v in b.items() if k != "result"}}
                        for i, b in enumerate(draw(partition("result", numbers=numbers)))]
    if draw(st.booleans()):
        doc["pay"] = {"base_by_role": {"agent": draw(numbers)}, "percent": draw(partition("percent", numbers=numbers))}
    if draw(st.booleans()):
        doc["streak"] = [{"id": "s", "periods": draw(st.sampled_from([1, 2, 3] if chaos else [2, 3])), "total": {"lt": 35}, "message": "m"}]
    return tomli_w.dumps(doc)


values = st.dictionaries(st.sampled_from(METRICS + ["m1@a", "m2@b", "m3@a"]),
                         st.one_of(st.none(), st.decimals(-1000, 1000, places=3), st.integers(0, 7).map(Decimal)))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=schemes(), inputs=values)
def test_any_scheme_and_any_inputs_give_scorecards_or_a_clear_error(text, inputs):
    try:
        scheme = parse_scheme(text, "h.toml", RULE_TYPES)
    except ConfigError as exc:
        assert exc.problems and all(p.file == "h.toml" and p.message for p in exc.problems)
        event("refused at parse")
        return
    mv = {m: MetricValue("E1", "2026-10", m, v, "h") for m, v in inputs.items()}
    try:
        (card,) = scheme.score(ScoringContext(PERIOD, [Employee("E1", "x", "agent")], {"E1": mv}, {}))
    except KpiError as exc:
        assert str(exc)
        event("refused at scoring")
        return
    event("scored")
    assert card.total is not None and card.total <= scheme.total_cap
    if scheme.total_floor is None and scheme.total_factor is None:
        shown = sum((d.points for d in card.dimensions), Decimal(0))
        assert card.total == min(shown, scheme.total_cap)


FIGURES = st.one_of(st.decimals(-1000, 1000, places=3), st.integers(0, 7).map(Decimal), st.just(Decimal("-0")),
                    st.sampled_from([Decimal("3"), Decimal("3.0"), Decimal("3.00")]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=schemes(), value=FIGURES, p1=st.integers(0, 10))
def test_a_prepared_rule_scores_a_value_exactly_as_its_apply_does(text, value, p1):
    """A run scores with rule.prepare(params) where the rule offers it, and line by line with
    apply() where it cannot (rules.py): two ways to the same points, band and text, which must
    agree for every value, digit for digit (3 and 3.0 are apart), or both refuse it alike."""
    from kpi.plugins.schemes.rules import RuleError
    try:
        scheme = parse_scheme(text, "h.toml", RULE_TYPES)
    except ConfigError:
        return
    params = scheme.resolve({"p1": p1})
    for ind in (i for d in scheme.dimensions for i in d.indicators):
        score = ind.rule.prepare(params) if hasattr(ind.rule, "prepare") else None
        if score is None:
            continue
        event(f"prepared {type(ind.rule).__name__}")
        try:
            out = ind.rule.apply(value, params)
        except RuleError as exc:
            for _ in range(2):  # the second answer comes from the rule's memo
                try:
                    score(value)
                except RuleError as again:
                    assert str(again) == str(exc)
                else:
                    raise AssertionError(f"apply refused {value} ({exc}); prepare scored it")
            continue
        assert out.value is None and not out.flags
        expected = (str(out.points), out.matched, out.explanation)
        for _ in range(2):
            pts, matched, explanation = score(value)
            assert (str(pts), matched, explanation) == expected
