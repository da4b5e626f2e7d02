"""Declared options for config sections, checked with errors that name the file and key path.

Plugins declare theirs as ``options = {"path": Option("path", required=True, help="…")}`` on the
connector or exporter class; the core checks a site's section against it and suggests the right
name for a misspelt key."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Problem

TYPE_NAMES = {
    "str": "a string",
    "int": "a whole number",
    "number": "a number",
    "bool": "true or false",
    "path": "a file path (relative to the config file)",
    "list": "a list of strings",
    "table": "a table of keys and values",
    "any": "a value",
}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Option:
    type: str
    required: bool = False
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    secret: bool = False  # a credential: must be an ${ENV_NAME} reference, never a literal


class Secret:
    """A credential read from the environment. It prints as its reference, never as its value."""

    def __init__(self, reference: str, value: str):
        self.reference = reference
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.reference})"

    __str__ = __repr__


def _type_ok(kind: str, value: Any) -> bool:
    if kind in ("str", "path"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    return True


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_section(file: str, where: str, section: dict, spec: dict[str, Option],
                  ignore: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[Problem]]:
    """Check a section against its declared options: unknown keys, missing required ones, wrong
    types and choices. Returns the values with defaults filled in, and the problems found."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key in ignore:
            continue
        path = f"{where}.{key}" if where else key
        opt = spec.get(key)
        if opt is None:
            known = ", ".join(sorted(spec)) or "none"
            problems.append(Problem(file, path, f"unknown key{did_you_mean(key, spec)} (known keys here: {known})"))
            continue
        if not _type_ok(opt.type, value):
            problems.append(Problem(file, path, f"expected {TYPE_NAMES[opt.type]}, found {value!r}"))
            continue
        if opt.choices and value not in opt.choices:
            problems.append(Problem(file, path, f"{value!r} is not one of {', '.join(map(repr, opt.choices))}"
                                                f"{did_you_mean(str(value), opt.choices)}"))
            continue
        if opt.secret and not (isinstance(value, str) and _ENV_REF.fullmatch(value)):
            problems.append(Problem(file, path, "a credential must not be written in the config; write it as "
                                                "\"${ENV_NAME}\" and set that environment variable"))
            continue
        values[key] = value
    for key, opt in spec.items():
        if key not in section and key not in ignore:
            if opt.required:
                path = f"{where}.{key}" if where else key
                problems.append(Problem(file, path, f"missing: expected {TYPE_NAMES[opt.type]}"
                                                    + (f" ({opt.help})" if opt.help else "")))
            else:
                values[key] = opt.default
    return values, problems


def resolve_env(file: str, where: str, values: dict[str, Any], spec: dict[str, Option],
                base_dir: Path) -> tuple[dict[str, Any], list[Problem]]:
    """Replace ${ENV_NAME} references by the environment's values (as Secret for credentials) and
    make paths absolute. Problems name the key and the variable, never a value."""
    problems: list[Problem] = []
    out = dict(values)
    for key, value in values.items():
        opt = spec.get(key)
        if isinstance(value, str) and _ENV_REF.search(value):
            missing = [n for n in _ENV_REF.findall(value) if n not in os.environ]
            if missing:
                problems.append(Problem(file, f"{where}.{key}", f"environment variable {missing[0]} is not set; "
                                                                f"set it before running (the config refers to it)"))
                continue
            resolved = _ENV_REF.sub(lambda m: os.environ[m.group(1)], value)
            out[key] = Secret(value, resolved) if opt is not None and opt.secret else resolved
        if opt is not None and opt.type == "path" and isinstance(out[key], str):
            out[key] = (base_dir / out[key]).resolve()
    return out, problems
