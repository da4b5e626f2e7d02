"""The ``acme`` kpi plugin: the scheme pack ``acme-aftersales`` (a TOML file shipped in this
package) and the rule type ``acme_tiers`` it uses. The rule type's name carries the vendor's
prefix: kpi refuses a name registered twice, so a plain ``tiers`` could clash with another pack."""

from __future__ import annotations

from importlib.resources import files

from kpi.core import hookimpl

from .tiers import TiersType


@hookimpl
def kpi_register_rule_types(register):
    register("acme_tiers", TiersType())


@hookimpl
def kpi_register_schemes(register):
    register(files(__package__) / "acme_aftersales.toml")
