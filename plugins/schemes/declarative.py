"""The declarative scheme plugin: the built-in rule types, the built-in packs, and loading any
TOML scheme file with the rule types every installed plugin registered."""

from __future__ import annotations

from importlib.resources import files

from kpi.core import hookimpl

from .escalating import EscalatingType
from .formulas import FormulaType
from .rated import RatedType
from .rules import BUILTIN_RULE_TYPES
from .loader import parse_scheme

# Every rule type this plugin registers: the band and count rules of rules.py, and the rest.
RULE_TYPES = {**BUILTIN_RULE_TYPES, "escalating": EscalatingType(), "rated": RatedType(), "formula": FormulaType()}


@hookimpl
def kpi_register_rule_types(register):
    for name, rule_type in RULE_TYPES.items():
        register(name, rule_type)


@hookimpl
def kpi_register_schemes(register):
    for entry in sorted(files("kpi.plugins.schemes.packs").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            register(entry)


@hookimpl
def kpi_load_scheme(path, host):
    if not str(getattr(path, "name", path)).endswith(".toml"):
        return None
    rule_types = {name: host.rule_types.get(name) for name in host.rule_types.names()}
    return parse_scheme(path.read_text(encoding="utf-8"), str(path), rule_types)
