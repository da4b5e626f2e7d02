"""Errors a user can act on. The CLI prints them without a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class KpiError(Exception):
    """A problem the user can fix; the message says where and what to do."""


@dataclass(frozen=True)
class Problem:
    """One finding in a config or scheme file: where it is, what is wrong, how bad."""

    file: str
    key: str
    message: str
    level: str = "error"  # or "warning"

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{self.level}: {where}: {self.message}"


class ConfigError(KpiError):
    """One or more problems in a config or scheme file, all reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InputError(KpiError):
    """Bad input data: names the file, line and column and what to do."""


class StoreError(KpiError):
    """The store cannot be used as it is (schema too new, locked, unreachable)."""


class PluginError(KpiError):
    """A plugin failed to load or misbehaved; the message names the plugin and its distribution."""
