"""Reading account states from JSON or YAML text, with exact decimals."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ._depth import MAX_ACCOUNT_DEPTH, too_deep
from ._json_objects import decode, unique_keys
from ._numbers import MAX_MAGNITUDE, in_range, json_decimal, parse_decimal
from .errors import AccountError, JsonPath, Problem, format_json_path
from .frozen import FrozenDict
from .loader import parse_yaml


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


_DECODER = json.JSONDecoder(parse_float=json_decimal, parse_constant=_refuse_constant, object_pairs_hook=unique_keys)


def parse_json_account(text: str, *, source: str) -> Any:
    """JSON with numbers as Decimal (or int) and no NaN, Infinity or duplicate keys."""
    try:
        return decode(_DECODER, text)
    except json.JSONDecodeError as error:
        raise AccountError(
            [Problem(file=source, line=error.lineno, col=error.colno, message=f"invalid JSON: {error.msg}")]
        ) from error
    except RecursionError as error:  # C's JSON parser stops at its own nesting bound, far past any account's
        raise AccountError([Problem(file=source, message=too_deep_message())]) from error
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
    _document, problems = parse_yaml(text, file=source, max_depth=MAX_ACCOUNT_DEPTH, depth_setting=_DEPTH_SETTING)
    return [problem for problem in problems if problem.message.startswith("duplicate key")]


def parse_account(text: str, *, source: str, yaml: bool | None = None) -> Any:
    """Parse an account; `yaml=None` guesses from the text (JSON starts with `{` or `[`)."""
    if yaml is None:
        yaml = not text.lstrip().startswith(("{", "["))
    if not yaml:
        return parse_json_account(text, source=source)
    document, problems = parse_yaml(text, file=source, max_depth=MAX_ACCOUNT_DEPTH, depth_setting=_DEPTH_SETTING)
    if document is None:
        raise AccountError(problems)
    return document.data


_DEPTH_SETTING = "MAX_ACCOUNT_DEPTH"


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
        deep = too_deep(account)  # first, without recursion: the walk below recurses once per level
        if deep is not None:
            raise AccountError([Problem(file=source, json_path=deep, message=too_deep_message())]) from None
        problems: list[Problem] = []
        _problems(account, (), source, problems)
        raise AccountError(problems) from None
    return frozen


def too_deep_message() -> str:
    """The problem of an account nesting deeper than `MAX_ACCOUNT_DEPTH`."""
    return f"the account nests objects and arrays more than {MAX_ACCOUNT_DEPTH} levels deep; an account has 3"


def freeze_value(value: Any, levels: int = MAX_ACCOUNT_DEPTH) -> Any:
    """`value` read-only: maps as `FrozenDict`, lists as tuples, scalars as they are; `Refused` on a float,
    a number beyond 1e60, a non-finite Decimal, text that is not valid Unicode (a lone surrogate), a key that
    is not such text, nesting more than `levels` deep, or anything that is not a JSON value (a str subclass)."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() else unicode_text(value)
    if kind is bool or value is None:
        return value
    if kind is dict:
        if not levels:
            raise Refused
        return FrozenDict(
            {
                (key if type(key) is str and key.isascii() else unicode_text(key)): freeze_value(item, levels - 1)
                for key, item in value.items()
            }
        )
    if kind is list or kind is tuple:
        if not levels:
            raise Refused
        return tuple([freeze_value(item, levels - 1) for item in value])
    if kind is Decimal:
        if not value.is_finite() or (value and abs(value.adjusted()) > MAX_MAGNITUDE):
            raise Refused
        return value
    if kind is int:
        if abs(value) >= _MAX_INT:
            raise Refused
        return value
    if isinstance(value, Mapping):
        return freeze_value(dict(value), levels)
    raise Refused


def unicode_text(value: object) -> str:
    """`value` when it is an exact `str` that UTF-8 can encode (no lone surrogate); `Refused` otherwise."""
    if type(value) is not str or not _encodable(value):
        raise Refused
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MAX_INT = 10 ** (MAX_MAGNITUDE + 1)


def _problems(value: Any, path: JsonPath, source: str, problems: list[Problem]) -> None:
    where = format_json_path(path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str or not _encodable(key):
                problems.append(Problem(file=source, json_path=where, message=_key_problem(key)))
                continue
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
    elif type(value) is str and not _encodable(value):
        problems.append(Problem(file=source, json_path=where, message=_surrogate_problem(value)))
    elif type(value) not in _JSON_SCALARS:  # exact types: a str or Decimal subclass is refused by `freeze_value`
        problems.append(
            Problem(file=source, json_path=where, message=f"expected a JSON value, got a {type(value).__name__}")
        )


_JSON_SCALARS = (str, bool, int, Decimal, type(None))


def _surrogate_problem(text: str) -> str:
    at = next(index for index, character in enumerate(text) if "\ud800" <= character <= "\udfff")
    return (
        f"the text is not valid Unicode: a lone surrogate (U+{ord(text[at]):04X}) at character {at + 1};"
        " it cannot be written as UTF-8"
    )


def _key_problem(key: object) -> str:
    if type(key) is str:
        return f"the key {key!r} is not valid Unicode text (a lone surrogate); keys are written as UTF-8"
    return f"expected string keys (JSON object keys), got the {type(key).__name__} key {key!r}"


UNCOMPUTABLE_NAMED = 4
"""How many of an account's values an uncomputable figure's problem names: the farthest from 1 in size."""
_FAR_FROM_ONE = 10
"""Values beyond 1e10 or below 1e-10 in size are named first; when there are none, the two farthest are."""


def uncomputable(account: Any, *, source: str, error: ArithmeticError, policy: str) -> AccountError:
    """The problem of an account whose values are each in range but whose figures cannot be computed.

    A product's own arithmetic (a sum, a ratio, its rounding) failed on the
    account (1e60 at a price of 1e60 against a debt of 1e-60 is a margin level
    of 1e180, which no rounding to 8 places holds in 28 digits).  The policy is
    not at fault: the problem names the account's values farthest from 1 in
    size, the inputs such a figure is computed from, by JSON path.
    """
    numbers: list[tuple[int, str, Decimal]] = []
    pending: list[tuple[Any, JsonPath]] = [(account, ())]
    while pending:  # the account is frozen and at most MAX_ACCOUNT_DEPTH deep; no recursion all the same
        value, path = pending.pop()
        if isinstance(value, Mapping):
            pending.extend((item, (*path, key)) for key, item in value.items())
        elif isinstance(value, tuple | list):
            pending.extend((item, (*path, index)) for index, item in enumerate(value))
        elif type(value) is not bool:
            number = parse_decimal(value)
            if number:
                numbers.append((abs(number.adjusted()), format_json_path(path), number))
    numbers.sort(key=lambda found: (-found[0], found[1]))
    numbers = [found for found in numbers if found[0] >= _FAR_FROM_ONE] or numbers[:2]
    cause = f"{type(error).__name__} while deciding under the policy `{policy}`"
    if not numbers:
        return AccountError([Problem(file=source, message=f"a figure of this account cannot be computed ({cause})")])
    return AccountError(
        [
            Problem(
                file=source,
                json_path=path,
                message=f"{number} is among the account's values farthest from 1 in size; figures computed from"
                f" them cannot be held in 28 significant digits ({cause}): each value is in range, not all"
                " of them together",
            )
            for _size, path, number in numbers[:UNCOMPUTABLE_NAMED]
        ]
    )
