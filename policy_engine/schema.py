"""JSON Schema 2020-12 validation with our number model and readable problems.

Numbers in this package are `int` or `Decimal`, never `float`; the type checker
says so.  Each `jsonschema` error becomes a `Problem` whose message reads
"expected ..., got ..." and, where a key or a name is misspelled, carries a
did-you-mean suggestion from the keys or values the schema allows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, cast

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ._numbers import in_range, is_integer, is_number, parse_decimal, parse_instant
from .errors import JsonPath, Problem, did_you_mean, format_json_path

# Installed wheels carry the schemas inside the package; a source checkout keeps
# them in the top-level `schemas/` folder that editors point at.
_HERE = Path(__file__).resolve().parent
SCHEMA_DIR = next(
    (folder for folder in (_HERE / "_schemas", _HERE.parent / "schemas") if folder.is_dir()),
    _HERE / "_schemas",
)


def _decimal_format(predicate: Callable[[Decimal], bool]) -> Callable[[object], bool]:
    def check(instance: object) -> bool:
        if type(instance) is not str and (isinstance(instance, bool) or not isinstance(instance, int | Decimal)):
            return True  # `type` reports wrong types; formats only judge the value
        number = parse_decimal(instance)
        return number is not None and in_range(number) and predicate(number)

    return check


def _instant_format(instance: object) -> bool:
    return not isinstance(instance, str) or parse_instant(instance) is not None


# Formats are checked by our own validators, so their names are ours to define.
FORMATS: Mapping[str, Callable[[object], bool]] = {
    "decimal": _decimal_format(lambda _: True),
    "non-negative-decimal": _decimal_format(lambda number: number >= 0),
    "positive-decimal": _decimal_format(lambda number: number > 0),
    "instant": _instant_format,
}

FORMAT_EXPECTATIONS: Mapping[str, str] = {
    "decimal": 'a decimal number of at most 1e60 (a string such as "12.5", or a JSON number)',
    "non-negative-decimal": 'a decimal number >= 0, at most 1e60 (a string such as "12.5", or a JSON number)',
    "positive-decimal": 'a decimal number > 0, at most 1e60 (a string such as "12.5", or a JSON number)',
    "instant": "an ISO 8601 date (2026-01-31) or date-time with an offset (2026-01-31T08:00:00Z)",
}

_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine_many(
    {
        "number": lambda _checker, instance: is_number(instance),
        "integer": lambda _checker, instance: is_integer(instance),
    }
)
_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
for _name, _check in FORMATS.items():
    _FORMAT_CHECKER.checks(_name)(_check)

DecimalValidator = jsonschema.validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)  # type: ignore[no-untyped-call]  # the stubs leave extend() untyped


@cache
def load_schema(name: str | Path) -> dict[str, Any]:
    """A bundled schema by file name (`margin-trading.schema.json`), or a schema file by its `Path`."""
    path = name if isinstance(name, Path) else SCHEMA_DIR / name
    text = path.read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_trouble(name: str | Path) -> str | None:
    """Why the schema `name` cannot be used (unreadable, not JSON, not an object), or None when it loads."""
    try:
        schema: object = load_schema(name)
    except FileNotFoundError:
        if isinstance(name, Path):
            return f"no schema file {name}"
        return f"no bundled schema `{name}`; a product in another package names its schema files by `Path`"
    except OSError as error:
        return f"cannot read the schema {name}: {error.strerror}"
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"the schema {name} is not JSON: {error}"
    if not isinstance(schema, dict):
        return f"the schema {name} is not a JSON object"
    return None


@cache
def validator_for(name: str | Path) -> jsonschema.protocols.Validator:
    """A validator for a bundled schema (by file name) or a schema file (by `Path`).

    A plug-in's schema (a `Path`) is checked against its meta-schema first.  The
    bundled schemas are ours: the test suite checks them (tests/test_schemas.py)
    instead of every process, where the check cost two thirds of a first `load()`.
    """
    schema = load_schema(name)
    if isinstance(name, Path):
        DecimalValidator.check_schema(schema)
    validator: jsonschema.protocols.Validator = DecimalValidator(schema, format_checker=_FORMAT_CHECKER)
    return validator


_SHOWN_CHARACTERS = 40
_MAX_LISTED_KEYS = 8


def describe(value: object) -> str:
    """A short, typed rendering of a value for messages: `string 'no'`, `number 1.5`."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_CHARACTERS else value[: _SHOWN_CHARACTERS - 3] + "..."
        return f"string {shown!r}"
    if isinstance(value, float):
        return f"binary float {value!r} (floats are inexact; use a string or Decimal)"
    if is_number(value):
        return f"number {value}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


_TYPE_WORDS = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


def _expected_types(types: object) -> str:
    names = [types] if isinstance(types, str) else list(types)  # type: ignore[call-overload]
    return " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in names)


Locate = Callable[[JsonPath, bool], tuple[int, int]]


class _Reporter:
    """Turns jsonschema errors into problems, one keyword at a time."""

    def __init__(self, file: str, locate: Locate) -> None:
        self.file = file
        self.locate = locate
        self.seen: set[tuple[str, str, str]] = set()
        self.invalid: list[JsonPath] = []
        """The path of each part a problem is about (a missing key's own path, not its parent's)."""

    def make(
        self,
        path: JsonPath,
        message: str,
        *,
        key: bool = False,
        suggestion: str | None = None,
        about: JsonPath | None = None,
    ) -> Iterator[Problem]:
        json_path = format_json_path(path)
        self.invalid.append(path if about is None else about)
        if (json_path, message, str(suggestion)) in self.seen:
            return
        self.seen.add((json_path, message, str(suggestion)))
        line, col = self.locate(path, key)
        yield Problem(
            file=self.file,
            line=line,
            col=col,
            json_path=json_path,
            message=message,
            suggestion=suggestion,
        )

    def report(self, error: ValidationError) -> Iterator[Problem]:
        path: JsonPath = tuple(error.absolute_path)
        keyword = str(error.validator)
        value: Any = error.validator_value
        instance = error.instance
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        if keyword == "additionalProperties" and isinstance(instance, Mapping):
            allowed = list(schema.get("properties", {}))
            listed = f"; allowed keys: {', '.join(sorted(allowed))}" if len(allowed) <= _MAX_LISTED_KEYS else ""
            for extra in sorted(set(instance) - set(allowed)):
                yield from self.make(
                    (*path, extra),
                    "unknown key" + listed,
                    key=True,
                    suggestion=did_you_mean(str(extra), allowed),
                )
        elif keyword == "required" and isinstance(instance, Mapping):
            for name in value:
                if name not in instance:
                    yield from self.make(path, f"missing required key `{name}`", about=(*path, name))
        elif keyword == "type":
            yield from self.make(path, f"expected {_expected_types(value)}, got {describe(instance)}")
        elif keyword in ("enum", "const"):
            options = list(value) if keyword == "enum" else [value]
            shown = ", ".join(str(option) for option in options)
            suggestion = did_you_mean(instance, map(str, options)) if isinstance(instance, str) else None
            yield from self.make(path, f"expected one of {shown}, got {describe(instance)}", suggestion=suggestion)
        elif keyword == "format":
            expected = FORMAT_EXPECTATIONS.get(str(value), f"format {value}")
            yield from self.make(path, f"expected {expected}, got {describe(instance)}")
        elif keyword in _BOUNDS:
            yield from self.make(path, f"expected a number {_BOUNDS[keyword]} {value}, got {describe(instance)}")
        elif keyword == "minLength" and instance == "":
            yield from self.make(path, f"expected {_what(schema, 'a non-empty string')}, got an empty string")
        elif keyword in ("minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength"):
            yield from self.make(path, f"expected {_SIZES[keyword]} {value}, got {_size(instance)}")
        else:
            yield from self.make(path, error.message)


def _what(schema: Mapping[str, Any], otherwise: str) -> str:
    """What a value should be, from its schema's description's first sentence ("A boolean expression ...")."""
    description = schema.get("description")
    if not isinstance(description, str) or not description:
        return otherwise
    first = description.split(". ", 1)[0].rstrip(".")
    return first[:1].lower() + first[1:]


_BOUNDS = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}
_SIZES = {
    "minItems": "at least this many items:",
    "maxItems": "at most this many items:",
    "minProperties": "at least this many keys:",
    "maxProperties": "at most this many keys:",
    "minLength": "at least this many characters:",
    "maxLength": "at most this many characters:",
}


def _size(instance: object) -> str:
    if isinstance(instance, str | list | tuple | Mapping):
        return str(len(instance))
    return describe(instance)


def schema_problems(schema_name: str | Path, instance: object, *, file: str, locate: Locate) -> list[Problem]:
    """Every problem `instance` has against the named schema (empty when valid)."""
    return schema_check(schema_name, instance, file=file, locate=locate)[0]


def schema_check(
    schema_name: str | Path, instance: object, *, file: str, locate: Locate
) -> tuple[list[Problem], list[JsonPath]]:
    """`schema_problems`, and the paths of the parts they are about: the rest of `instance` is schema-valid."""
    reporter = _Reporter(file, locate)
    problems: list[Problem] = []
    for error in validator_for(schema_name).iter_errors(cast(Any, instance)):
        problems.extend(reporter.report(_deepest(error)))
    return problems, reporter.invalid


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the sub-error that got furthest into the instance."""
    if error.context:
        best: ValidationError | None = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return best
    return error
