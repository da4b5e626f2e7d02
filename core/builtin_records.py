"""Registers the record kinds the core knows; plugins add theirs through the same hook."""

from .hookspecs import hookimpl
from .records import BUILTIN_KINDS


@hookimpl
def kpi_register_record_kinds(register):
    for kind in BUILTIN_KINDS:
        register(kind)
