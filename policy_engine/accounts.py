"""Reading account states from JSON or YAML text, with exact decimals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._numbers import MAX_MAGNITUDE, in_range
from .errors import AccountError, JsonPath, Problem, format_json_path
from .frozen import FrozenDict
from .loader import parse_yaml


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def parse_json_account(text: str, *, source: str) -> Any:
    """JSON with numbers as Decimal (or int) and no NaN, Infinity or duplicate keys."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise AccountError(
            [Problem(file=source, line=error.lineno, col=error.colno, message=f"invalid JSON: {error.msg}")]
        ) from error
    except ValueError as error:
        raise AccountError(
            _located_duplicates(text, source) or [Problem(file=source, message=f"invalid JSON: {error}")]
        ) from error


def _located_duplicates(text: str, source: str) -> list[Problem]:
    """Duplicate keys with their lines, found by reading the JSON text again as YAML (JSON's superset).

    Python's JSON parser reports no position for a duplicate key; the strict
    YAML loader does, for both occurrences.  Only the duplicate-key problems
    are taken, and only on this error path.
    """
    _document, problems = parse_yaml(text, file=source)
    return [problem for problem in problems if problem.message.startswith("duplicate key")]


def parse_account(text: str, *, source: str, yaml: bool | None = None) -> Any:
    """Parse an account; `yaml=None` guesses from the text (JSON starts with `{` or `[`)."""
    if yaml is None:
        yaml = not text.lstrip().startswith(("{", "["))
    if not yaml:
        return parse_json_account(text, source=source)
    document, problems = parse_yaml(text, file=source)
    if document is None:
        raise AccountError(problems)
    return document.data


class Refused(Exception):
    """Raised by `freeze_value`; the slow walk then finds every problem with its path."""


def freeze_account(account: Mapping[str, Any], *, source: str) -> Mapping[str, Any]:
    """A read-only copy of an account, refusing floats and out-of-range numbers anywhere in it.

    The decision keeps this copy, so a caller changing its own dict later
    cannot change what a decision says it decided on.
    """
    try:
        frozen: Mapping[str, Any] = freeze_value(account)
    except Refused:
        problems: list[Problem] = []
        _problems(account, (), source, problems)
        raise AccountError(problems) from None
    return frozen


def freeze_value(value: Any) -> Any:
    """`value` read-only: maps as `FrozenDict`, lists as tuples, scalars as they are; `Refused` on a float,
    a number beyond 1e60, a non-finite Decimal or anything that is not a JSON value (a str subclass, say)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return FrozenDict({key: freeze_value(item) for key, item in value.items()})
    if kind is list or kind is tuple:
        return tuple([freeze_value(item) for item in value])
    if kind is Decimal:
        if not value.is_finite() or (value and abs(value.adjusted()) > MAX_MAGNITUDE):
            raise Refused
        return value
    if kind is int:
        if abs(value) >= _MAX_INT:
            raise Refused
        return value
    if isinstance(value, Mapping):
        return FrozenDict({key: freeze_value(item) for key, item in value.items()})
    raise Refused


_MAX_INT = 10 ** (MAX_MAGNITUDE + 1)


def _problems(value: Any, path: JsonPath, source: str, problems: list[Problem]) -> None:
    where = format_json_path(path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _problems(item, (*path, key), source, problems)
    elif isinstance(value, list | tuple):
        if type(value) not in (list, tuple):  # a subclass may carry state: `freeze_value` refuses it
            problems.append(
                Problem(file=source, json_path=where, message=f"expected a JSON array, got a {type(value).__name__}")
            )
        for index, item in enumerate(value):
            _problems(item, (*path, index), source, problems)
    elif isinstance(value, float):
        problems.append(
            Problem(
                file=source,
                json_path=where,
                message=f"expected a string or a Decimal, got binary float {value!r} (floats are inexact)",
            )
        )
    elif isinstance(value, Decimal | int) and not isinstance(value, bool) and not in_range(Decimal(value)):
        problems.append(
            Problem(
                file=source,
                json_path=where,
                message=f"number out of range: {Decimal(value):.3e} (at most 1e{MAX_MAGNITUDE} in size)",
            )
        )
    elif type(value) not in _JSON_SCALARS:  # exact types: a str or Decimal subclass is refused by `freeze_value`
        problems.append(
            Problem(file=source, json_path=where, message=f"expected a JSON value, got a {type(value).__name__}")
        )


_JSON_SCALARS = (str, bool, int, Decimal, type(None))
