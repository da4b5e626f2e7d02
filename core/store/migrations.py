"""Upgrades from older store schemas. Each step takes a connection inside the upgrade's transaction
and moves the schema from version N-1 to N without dropping data. A store newer than this code is
refused, never touched."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Connection

# version reached -> step; a new schema version adds its step here and bumps schema.SCHEMA_VERSION.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}
