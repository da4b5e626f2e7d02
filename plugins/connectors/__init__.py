"""Connectors: plugins that bring records, rosters and metric values in from other systems."""
