"""Reading account states from JSON or YAML text, with exact decimals."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from .errors import AccountError, Problem
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
        raise AccountError([Problem(file=source, message=f"invalid JSON: {error}")]) from error


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
