"""The SQL store: one database holds employees, periods, source records, metric values, runs,
scorecards and the export ledger."""

from .store import Store, default_store_url

__all__ = ["Store", "default_store_url"]
