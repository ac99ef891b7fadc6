"""How deep a parsed JSON or YAML value nests, found without recursion (so a hostile value cannot exhaust the stack)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import JsonPath, format_json_path

MAX_ACCOUNT_DEPTH = 32
"""The deepest nesting of objects and arrays an account may have (an account's own fields nest 3 deep)."""


def too_deep(value: Any, limit: int = MAX_ACCOUNT_DEPTH) -> str | None:
    """The JSON path of the first place `value` nests deeper than `limit`, or None; iterative, depth first."""
    pending: list[tuple[Any, JsonPath]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        if len(path) > limit:
            return format_json_path(path[: limit + 1])
        if isinstance(item, Mapping):
            pending.extend((child, (*path, str(key))) for key, child in item.items())
        elif isinstance(item, list | tuple):
            pending.extend((child, (*path, index)) for index, child in enumerate(item))
    return None


__all__ = ["MAX_ACCOUNT_DEPTH", "too_deep"]
