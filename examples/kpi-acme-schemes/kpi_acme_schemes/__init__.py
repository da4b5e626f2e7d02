"""Acme's after-sales pack for kpi. The plugin itself is :mod:`kpi_acme_schemes.plugin` (the
``acme`` entry point); the rule type is in :mod:`kpi_acme_schemes.tiers`."""

__version__ = "1.2.0"
