"""A small, safe expression language for scheme formulas (workload bonus, QC factor, sales minus
refunds). Parsed by hand into a tree and evaluated in exact decimals; nothing reaches Python's eval,
and a formula can name only metrics, parameters and the functions below.

    1 - (70% - qc%) * 5            x% is x / 100
    max(0, base - (baseline - workload) * multiplier)
    if(qc% < 70%, 1 - (70% - qc%) * 5, 1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from typing import Any, Callable, Mapping

MAX_LENGTH = 2000
MAX_DEPTH = 40

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|[-+*/%(),<>])
""", re.VERBOSE)
KEYWORDS = {"and", "or", "not", "true", "false"}


class ExprError(ValueError):
    """A formula that cannot be parsed or evaluated; says where (column) and why."""


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple
    pos: int


def _round(x, places=Decimal(0)):
    return x.quantize(Decimal(1).scaleb(-int(places)), ROUND_HALF_UP)


def _if(cond, a, b):
    return a if cond else b


# name -> (function, minimum arguments, maximum arguments, wants a boolean first argument)
FUNCTIONS: dict[str, tuple[Callable, int, int, bool]] = {
    "min": (lambda *a: min(a), 1, 64, False),
    "max": (lambda *a: max(a), 1, 64, False),
    "abs": (abs, 1, 1, False),
    "round": (_round, 1, 2, False),
    "floor": (lambda x: x.to_integral_value(ROUND_FLOOR), 1, 1, False),
    "ceil": (lambda x: x.to_integral_value(ROUND_CEILING), 1, 1, False),
    "clamp": (lambda x, lo, hi: min(max(x, lo), hi), 3, 3, False),
    "if": (_if, 3, 3, True),
}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"column {pos + 1}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        if kind != "space":
            value = m.group()
            if kind == "name" and value in KEYWORDS:
                kind = "keyword"
            out.append((kind, value, pos + 1))
        pos = m.end()
    out.append(("end", "", len(text) + 1))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.toks[self.i]

    def take(self, value: str | None = None):
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            found = "the end" if tok[0] == "end" else repr(tok[1])
            raise ExprError(f"column {tok[2]}: expected {value!r}, found {found}")
        self.i += 1
        return tok

    def nested(self, parse):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"column {self.peek()[2]}: nested more than {MAX_DEPTH} deep")
        try:
            return parse()
        finally:
            self.depth -= 1

    def parse(self) -> Node:
        node = self.expr()
        tok = self.peek()
        if tok[0] != "end":
            raise ExprError(f"column {tok[2]}: unexpected {tok[1]!r}")
        return node

    def expr(self):
        return self.nested(self.or_)

    def binary(self, ops, sub):
        node = sub()
        while self.peek()[1] in ops:
            _, op, pos = self.take()
            node = Node(op, (node, sub()), pos)
        return node

    def or_(self):
        return self.binary({"or"}, self.and_)

    def and_(self):
        return self.binary({"and"}, self.not_)

    def not_(self):
        if self.peek()[1] == "not":
            pos = self.take()[2]
            return Node("not", (self.nested(self.not_),), pos)
        return self.compare()

    def compare(self):
        node = self.sum()
        if self.peek()[1] in ("<", "<=", ">", ">=", "==", "!="):
            _, op, pos = self.take()
            node = Node(op, (node, self.sum()), pos)
            if self.peek()[1] in ("<", "<=", ">", ">=", "==", "!="):
                raise ExprError(f"column {self.peek()[2]}: chain comparisons with 'and' (a < b and b < c)")
        return node

    def sum(self):
        return self.binary({"+", "-"}, self.term)

    def term(self):
        return self.binary({"*", "/"}, self.unary)

    def unary(self):
        if self.peek()[1] in ("-", "+"):
            _, op, pos = self.take()
            return Node("neg" if op == "-" else "pos", (self.nested(self.unary),), pos)
        return self.postfix()

    def postfix(self):
        node = self.atom()
        while self.peek()[1] == "%":
            node = Node("%", (node,), self.take()[2])
        return node

    def atom(self):
        kind, value, pos = self.take()
        if kind == "number":
            return Node("num", (Decimal(value),), pos)
        if kind == "keyword" and value in ("true", "false"):
            return Node("bool", (value == "true",), pos)
        if kind == "name":
            if self.peek()[1] == "(":
                return self.call(value, pos)
            return Node("name", (value,), pos)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        found = "the end" if kind == "end" else repr(value)
        raise ExprError(f"column {pos}: expected a number, a name or '(', found {found}")

    def call(self, name, pos):
        if name not in FUNCTIONS:
            raise ExprError(f"column {pos}: {name}() is not a function here; the functions are "
                            f"{', '.join(sorted(FUNCTIONS))}")
        self.take("(")
        args = []
        if self.peek()[1] != ")":
            args.append(self.expr())
            while self.peek()[1] == ",":
                self.take()
                args.append(self.expr())
        self.take(")")
        _, lo, hi, _ = FUNCTIONS[name]
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise ExprError(f"column {pos}: {name}() takes {want} argument(s), given {len(args)}")
        return Node("call", (name, tuple(args)), pos)


def names_in(node: Node) -> set[str]:
    if node.op == "name":
        return {node.args[0]}
    if node.op == "call":
        return set().union(*(names_in(a) for a in node.args[1])) if node.args[1] else set()
    return set().union(*(names_in(a) for a in node.args if isinstance(a, Node))) if node.args else set()


class Formula:
    """A parsed formula. `names` are the metrics and parameters it reads."""

    def __init__(self, text: str, known: set[str] | None = None):
        if not isinstance(text, str):
            raise ExprError("a formula is a string")
        if len(text) > MAX_LENGTH:
            raise ExprError(f"the formula is longer than {MAX_LENGTH} characters")
        self.text = text
        self.tree = _Parser(text).parse()
        self.names = names_in(self.tree)
        if known is not None:
            unknown = sorted(self.names - known)
            if unknown:
                from kpi.core.options import did_you_mean
                raise ExprError(f"unknown name {unknown[0]!r}{did_you_mean(unknown[0], known)}: a formula can use "
                                "the scheme's parameters and registered metrics")

    def evaluate(self, values: Mapping[str, Any]) -> Decimal | bool:
        return _eval(self.tree, values)

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


def _num(node: Node, value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise ExprError(f"column {node.pos}: expected a number here, found {'true/false' if isinstance(value, bool) else value!r}")
    return value


def _bool(node: Node, value) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"column {node.pos}: expected a condition (true/false) here, found a number")
    return value


_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
_CMP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _eval(node: Node, values: Mapping[str, Any]):
    op, args = node.op, node.args
    if op == "num" or op == "bool":
        return args[0]
    if op == "name":
        value = values.get(args[0])
        if value is None:
            raise ExprError(f"column {node.pos}: {args[0]} has no value")
        return value if isinstance(value, bool) else Decimal(str(value))
    if op in _ARITH:
        a, b = (_num(n, _eval(n, values)) for n in args)
        try:
            return _ARITH[op](a, b)
        except (DivisionByZero, InvalidOperation, ZeroDivisionError):
            raise ExprError(f"column {node.pos}: division by zero") from None
    if op in _CMP:
        a, b = (_num(n, _eval(n, values)) for n in args)
        return _CMP[op](a, b)
    if op == "and":
        return _bool(args[0], _eval(args[0], values)) and _bool(args[1], _eval(args[1], values))
    if op == "or":
        return _bool(args[0], _eval(args[0], values)) or _bool(args[1], _eval(args[1], values))
    if op == "not":
        return not _bool(args[0], _eval(args[0], values))
    if op == "neg":
        return -_num(args[0], _eval(args[0], values))
    if op == "pos":
        return _num(args[0], _eval(args[0], values))
    if op == "%":
        return _num(args[0], _eval(args[0], values)) / 100
    if op == "call":
        name, call_args = args
        fn, _, _, wants_bool = FUNCTIONS[name]
        if name == "if":  # only the branch taken is evaluated
            cond = _bool(call_args[0], _eval(call_args[0], values))
            branch = call_args[1] if cond else call_args[2]
            return _num(branch, _eval(branch, values))
        nums = [_num(a, _eval(a, values)) for a in call_args]
        try:
            return fn(*nums)
        except (InvalidOperation, ValueError) as exc:
            raise ExprError(f"column {node.pos}: {name}() cannot take these values ({exc})") from None
    raise ExprError(f"column {node.pos}: cannot evaluate {op!r}")  # pragma: no cover
