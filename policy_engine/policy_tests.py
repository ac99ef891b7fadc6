"""Policy tests: expected decisions kept in YAML beside the policies, run by `policy-engine test`.

A test file is named `*.test.yaml` (or `*.test.yml`), which the policy
loader skips, and follows `schemas/policy-test.schema.json`: a list of
cases, each an account, the instant to decide at, the rule that must decide
it and a subset of the outcome it must get.  The subset match (`matches`)
compares the expected YAML with the outcome's JSON form:

- a mapping matches when each key it names is in the outcome and matches;
  keys it leaves out are not checked;
- a list matches a list of the same length, item by item;
- a number matches a decimal of equal value (`1.1` matches `1.10000000`);
- a string matches the text exactly (decimals as the decision JSON writes
  them, instants as `2026-03-01T00:00:00Z`);
- `null`, `true` and `false` match only themselves.

Each failure carries the JSON path of the expected value in the test file and
its lines, so that a report can show the YAML beside what was found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ._plain import to_plain
from .documents import TEST_SUFFIXES
from .engine import Engine
from .errors import JsonPath, PolicyEngineError, Problem, did_you_mean, format_json_path, parse_json_path
from .loader import parse_yaml
from .model import YamlDocument
from .schema import schema_problems

TEST_SCHEMA = "policy-test.schema.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class TestCase:
    """One case of a test file, with where it sits in that file."""

    __test__ = False  # not a pytest test class, whatever its name says

    file: str
    index: int
    name: str
    description: str | None
    as_of: str
    operations: tuple[str, ...]
    account: Mapping[str, Any]
    rule: str | None
    expect: Mapping[str, Any]
    document: YamlDocument
    source_lines: tuple[str, ...]
    """The test file's lines, for reports that show the YAML a failure is about."""

    @property
    def id(self) -> str:
        """`FILE::NAME`, what `-k` selects on and reports name."""
        return f"{self.file}::{self.name}"

    @property
    def path(self) -> JsonPath:
        """The case's JSON path in its file."""
        return ("tests", self.index)

    @property
    def line(self) -> int:
        return self.document.mark_of(self.path).line


@dataclass(frozen=True, kw_only=True, slots=True)
class Mismatch:
    """An expected value the outcome does not match: where it is in the test file, and what was found."""

    path: JsonPath
    """Within the case: `("expect", "liquidation", "fee_value")`, or `("rule",)`."""
    expected: Any
    actual: Any
    """The outcome's value in JSON form; `MISSING` when the outcome has no such key."""
    message: str


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, kw_only=True, slots=True)
class CaseResult:
    """A case run: what did not match, or the problems that stopped its evaluation."""

    case: TestCase
    mismatches: tuple[Mismatch, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.problems


# --- finding and reading test files ------------------------------------------------------------------------


def find_test_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The test files named by `paths`: files as given, folders searched recursively for `*.test.yaml`."""
    found: list[Path] = []
    problems: list[Problem] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            inside = sorted(p for p in root.rglob("*") if p.name.endswith(TEST_SUFFIXES) and p.is_file())
            if not inside:
                problems.append(
                    Problem(file=str(root), message="no policy tests (*.test.yaml, *.test.yml) in this folder")
                )
            found += inside
        elif root.is_file():
            found.append(root)
        else:
            problems.append(Problem(file=str(root), message="no such file or folder"))
    return found, problems


def read_test_file(text: str, *, file: str) -> tuple[list[TestCase], list[Problem]]:
    """The cases of one test file, or every problem it has (YAML, schema, names used twice)."""
    document, problems = parse_yaml(text, file=file)
    if document is None:
        return [], problems

    def locate(path: tuple[str | int, ...], key: bool) -> tuple[int, int]:
        mark = document.mark_of(path, key=key)
        return mark.line, mark.col

    problems = schema_problems(TEST_SCHEMA, document.data, file=file, locate=locate)
    if problems:
        return [], problems
    cases: list[TestCase] = []
    lines = tuple(text.splitlines())
    first: dict[str, int] = {}
    for index, raw in enumerate(document.data["tests"]):
        name = raw["name"]
        if name in first:
            mark = document.mark_of(("tests", index, "name"))
            problems.append(
                Problem(
                    file=file,
                    line=mark.line,
                    col=mark.col,
                    json_path=format_json_path(("tests", index, "name")),
                    message=f"the name `{name}` is also the name of test {first[name] + 1}; give each test its own",
                )
            )
            continue
        first[name] = index
        cases.append(
            TestCase(
                file=file,
                index=index,
                name=name,
                description=raw.get("description"),
                as_of=raw["as_of"],
                operations=tuple(raw.get("operations", ())),
                account=raw["account"],
                rule=raw["rule"],
                expect=raw["expect"],
                document=document,
                source_lines=lines,
            )
        )
    return ([], problems) if problems else (cases, [])


# --- -k selection ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")


class _Selection:
    """A `-k` expression, pytest's way: words matched as case-insensitive substrings of a test's id,
    combined with `and`, `or`, `not` and parentheses (`not` binds tightest, then `and`, then `or`)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._tokens: list[str] = []
        position = 0
        while position < len(expression):
            match = _TOKEN.match(expression, position)
            if match is None or not match.group(0).strip():
                break
            self._tokens.append(match.group(match.lastindex or 0))
            position = match.end()
        self._at = 0

    def _error(self, expected: str) -> ValueError:
        found = f"`{self._tokens[self._at]}`" if self._at < len(self._tokens) else "the end"
        return ValueError(f"-k {self.expression!r}: expected {expected}, got {found}")

    def parse(self) -> Any:
        if not self._tokens:
            raise self._error("a name")
        tree = self._or()
        if self._at < len(self._tokens):
            raise self._error("`and`, `or` or the end")
        return tree

    def _peek(self) -> str | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "or":
            self._at += 1
            left = ("or", left, self._and())
        return left

    def _and(self) -> Any:
        left = self._not()
        while self._peek() == "and":
            self._at += 1
            left = ("and", left, self._not())
        return left

    def _not(self) -> Any:
        if self._peek() == "not":
            self._at += 1
            return ("not", self._not())
        word = self._peek()
        if word == "(":
            self._at += 1
            inner = self._or()
            if self._peek() != ")":
                raise self._error("`)`")
            self._at += 1
            return inner
        if word is None or word in (")", "and", "or"):
            raise self._error("a name")
        self._at += 1
        return ("name", word.lower())


def _holds(tree: Any, test_id: str) -> bool:
    operator = tree[0]
    if operator == "name":
        return bool(tree[1] in test_id)
    if operator == "not":
        return not _holds(tree[1], test_id)
    if operator == "and":
        return _holds(tree[1], test_id) and _holds(tree[2], test_id)
    return _holds(tree[1], test_id) or _holds(tree[2], test_id)


def select(cases: Sequence[TestCase], expression: str | None) -> tuple[list[TestCase], int]:
    """The cases `-k expression` keeps, and how many it leaves out; `ValueError` for a malformed expression."""
    if expression is None:
        return list(cases), 0
    tree = _Selection(expression).parse()
    kept = [case for case in cases if _holds(tree, case.id.lower())]
    return kept, len(cases) - len(kept)


# --- running and matching ----------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    """A plain JSON value as a decimal, if it is a number or the text of one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def matches(expected: Any, actual: Any, path: JsonPath = ()) -> Iterator[Mismatch]:
    """Every place where `actual` (a plain JSON value) does not match `expected` (see the module docstring)."""
    if isinstance(expected, Mapping):
        yield from _mapping_mismatches(expected, actual, path)
    elif isinstance(expected, list):
        yield from _list_mismatches(expected, actual, path)
    else:
        message = _scalar_mismatch(expected, actual)
        if message is not None:
            yield Mismatch(path=path, expected=expected, actual=actual, message=message)


def _mapping_mismatches(expected: Mapping[str, Any], actual: Any, path: JsonPath) -> Iterator[Mismatch]:
    if not isinstance(actual, Mapping):
        yield Mismatch(path=path, expected=expected, actual=actual, message="expected a mapping")
        return
    for key, value in expected.items():
        if key in actual:
            yield from matches(value, actual[key], (*path, key))
        else:
            close = did_you_mean(key, actual)
            hint = f"did you mean `{close}`?" if close else f"it has {', '.join(sorted(actual)) or 'no keys'}"
            yield Mismatch(path=(*path, key), expected=value, actual=MISSING, message=f"no `{key}` here; {hint}")


def _list_mismatches(expected: list[Any], actual: Any, path: JsonPath) -> Iterator[Mismatch]:
    if not isinstance(actual, list) or len(actual) != len(expected):
        found = f"{len(actual)} items" if isinstance(actual, list) else "no list"
        message = f"expected {len(expected)} items, got {found}"
        yield Mismatch(path=path, expected=expected, actual=actual, message=message)
        return
    for index, (item, found_item) in enumerate(zip(expected, actual, strict=True)):
        yield from matches(item, found_item, (*path, index))


def _scalar_mismatch(expected: Any, actual: Any) -> str | None:
    """Why a scalar does not match, or None when it does."""
    if isinstance(expected, bool) or expected is None:
        return None if actual is expected else "not the same"
    if isinstance(expected, int | Decimal):
        number = _number(actual)
        return None if number is not None and number == expected else "not the same number"
    return None if expected == actual else "not the same text"


def _in_test_file(case: TestCase, problem: Problem, source: str) -> Problem:
    """An account problem, placed at its line in the test file (the account is written there)."""
    inner = parse_json_path(problem.json_path) if problem.file == source else None
    if inner is None:
        return problem
    path = (*case.path, "account", *inner)
    mark = case.document.mark_of(path)
    return Problem(
        file=case.file,
        line=mark.line,
        col=mark.col,
        json_path=format_json_path(path),
        message=problem.message,
        suggestion=problem.suggestion,
    )


def run_case(engine: Engine, case: TestCase) -> CaseResult:
    """Decide the case's account and compare the decision with what the case expects."""
    source = case.id
    try:
        decision = engine.evaluate(dict(case.account), as_of=case.as_of, source=source, operations=case.operations)
    except PolicyEngineError as error:
        return CaseResult(case=case, problems=tuple(_in_test_file(case, p, source) for p in error.problems))
    outcome = to_plain(decision.outcome)
    found: list[Mismatch] = []
    if "rule" not in outcome:
        message = "this product's outcome has no `rule`"
        found.append(Mismatch(path=("rule",), expected=case.rule, actual=MISSING, message=message))
    elif outcome["rule"] != case.rule:
        message = "another rule decided"
        found.append(Mismatch(path=("rule",), expected=case.rule, actual=outcome["rule"], message=message))
    found += matches(case.expect, outcome, ("expect",))
    return CaseResult(case=case, mismatches=tuple(found))


__all__ = [
    "MISSING",
    "TEST_SCHEMA",
    "CaseResult",
    "Mismatch",
    "TestCase",
    "find_test_files",
    "matches",
    "read_test_file",
    "run_case",
    "select",
]
