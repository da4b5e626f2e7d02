"""The formula language: seed 003's game-support formulas worked by hand, refusal of anything that
reaches for Python, and random input that finds no crash other than a clear ExprError."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.plugins.schemes.expr import ExprError, Formula

D = Decimal

# Seed 003 (GS组员): QC factor = 1 − (70% − QC) × 5 below 70%, 1 + (QC − 80%) × 5 above 80%
# (the seed prints 80% − QC there: a sign error that would cut the pay of the best).
QC_FACTOR = "if(qc% < 70%, 1 - (70% - qc%) * 5, if(qc% > 80%, 1 + (qc% - 80%) * 5, 1))"


@pytest.mark.parametrize("qc,factor", [("60", "0.50"), ("65", "0.75"), ("70", "1"), ("75", "1"), ("80", "1"),
                                       ("84", "1.20"), ("90", "1.50")])
def test_qc_factor(qc, factor):
    assert Formula(QC_FACTOR).evaluate({"qc": D(qc)}) == D(factor)


def test_the_seed_sign_error_would_lower_the_best_agents_factor():
    seed_as_printed = "if(qc% > 80%, 1 + (80% - qc%) * 5, 1)"
    assert Formula(seed_as_printed).evaluate({"qc": D(90)}) == D("0.50")  # not a reward: the pack must not copy it


def test_workload_bonus_and_bonus_total():
    # workload bonus = base − (baseline − actual) × multiplier; bonus = workload bonus × QC factor + contribution
    workload = Formula("base - (baseline - actual) * multiplier")
    w = workload.evaluate({"base": D(300), "baseline": D(500), "actual": D(450), "multiplier": D(1)})
    assert w == D(250)
    bonus = Formula(f"clamp(w * ({QC_FACTOR}) + contribution, 0, 500)")
    assert bonus.evaluate({"w": w, "qc": D(84), "contribution": D(50)}) == D("350.00")
    assert bonus.evaluate({"w": D(480), "qc": D(90), "contribution": D(100)}) == D(500)  # capped


def test_sales_minus_refunds_and_rounding():
    f = Formula("round((paid - refunds - penalties) / 1000, 2)")
    assert f.evaluate({"paid": D("123456.78"), "refunds": D("2345.6"), "penalties": D(100)}) == D("121.01")
    assert f.names == {"paid", "refunds", "penalties"}


def test_precedence_and_logic():
    assert Formula("1 + 2 * 3 - 4 / 2").evaluate({}) == D(5)
    assert Formula("-(2 + 3) * 2").evaluate({}) == D(-10)
    assert Formula("not (a > 1 and a < 3) or a == 2").evaluate({"a": D(2)}) is True
    assert Formula("50%%").evaluate({}) == D("0.005")


@pytest.mark.parametrize("text,message", [
    ('__import__("os").system("id")', "unexpected character '\"'"),
    ("__import__(1)", "__import__() is not a function here"),
    ("open(1)", "open() is not a function here"),
    ("a.__class__", "unexpected character '.'"),
    ("x[0]", "unexpected character '['"),
    ("lambda: 1", "unexpected character ':'"),
    ("2 ** 10", "column 4: expected a number, a name or '(', found '*'"),
    ("1 +", "column 4: expected a number, a name or '(', found the end"),
    ("min()", "min() takes 1 to 64 argument(s), given 0"),
    ("1 < 2 < 3", "chain comparisons with 'and'"),
    ("(" * 60 + "1" + ")" * 60, "nested more than 40 deep"),
])
def test_anything_beyond_the_language_is_refused(text, message):
    with pytest.raises(ExprError, match=None) as err:
        Formula(text)
    assert message in str(err.value)


def test_unknown_names_are_refused_with_a_suggestion():
    with pytest.raises(ExprError, match="unknown name 'qcc'; did you mean 'qc'"):
        Formula("qcc * 2", known={"qc", "base"})


@pytest.mark.parametrize("text,values,message", [
    ("a / (b - b)", {"a": D(1), "b": D(2)}, "division by zero"),
    ("a + 1", {}, "a has no value"),
    ("if(1, 2, 3)", {}, "expected a condition"),
    ("(1 < 2) + 1", {}, "expected a number here"),
])
def test_evaluation_errors_are_clear(text, values, message):
    with pytest.raises(ExprError, match=message):
        Formula(text).evaluate(values)


ATOMS = st.sampled_from(["1", "0", "2.5", "a", "b", "qc", "70%", "(", ")", "+", "-", "*", "/", "%", "<", ">=", "==",
                         "and", "or", "not", "true", "min(", "max(", "if(", "round(", "clamp(", ",", "__import__",
                         ".", "[", "'", "**", "1e999", "9" * 40])


@settings(max_examples=400, deadline=None)
@given(st.lists(ATOMS, max_size=25).map(" ".join), st.decimals(allow_nan=False, allow_infinity=False, places=3))
def test_random_formulas_either_work_or_fail_clearly(text, value):
    try:
        f = Formula(text)
    except ExprError:
        return
    try:
        result = f.evaluate({"a": value, "b": D(3), "qc": D(75)})
    except ExprError:
        return
    assert isinstance(result, (Decimal, bool))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes_the_parser(text):
    try:
        Formula(text)
    except ExprError:
        pass
