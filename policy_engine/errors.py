"""Problems as data, and the exceptions that carry them.

Every validator in the package yields `Problem` records instead of raising, so
that one run reports everything that is wrong.  The caller raises a single
exception at the end, carrying all of them, sorted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JsonPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def format_json_path(path: Iterable[str | int]) -> str:
    """Render a path as JSONPath: `$.modes.isolated.leverages[2].margin_call`."""
    parts = ["$"]
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            parts.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


_JSON_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


def parse_json_path(text: str) -> JsonPath | None:
    """`$.assets[0].quantity` as a path tuple; None when it is not one `format_json_path` writes."""
    if not text.startswith("$"):
        return None
    parts: list[str | int] = []
    position = 1
    while position < len(text):
        match = _JSON_PATH_PART.match(text, position)
        if match is None:
            return None
        name, index, quoted = match.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(name if name is not None else re.sub(r"\\(.)", r"\1", quoted))
        position = match.end()
    return tuple(parts)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to a misspelled `word`, if one is close enough."""
    import difflib  # noqa: PLC0415 - only a problem asks for a suggestion; not every start

    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else None


_INDEX = re.compile(r"\[(\d+)\]")


def _path_order(json_path: str) -> tuple[tuple[int, int | str], ...]:
    """A JSON path as a sort key: text runs and array indices, the indices as numbers."""
    parts = _INDEX.split(json_path)
    return tuple((1, int(part)) if index % 2 else (0, part) for index, part in enumerate(parts))


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One thing wrong with a policy document or an account.

    `line` and `col` are 1-based; 0 means the position is unknown (JSON
    accounts, for instance, are parsed without positions).
    """

    file: str
    line: int = 0
    col: int = 0
    json_path: str = "$"
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col}"
        text = f"{where}: {self.json_path}: {self.message}"
        if self.suggestion is not None:
            text += f"; did you mean `{self.suggestion}`?"
        return text

    @property
    def sort_key(self) -> tuple[str, int, int, tuple[tuple[int, int | str], ...], str]:
        # indices compare as numbers, so that $.assets[2] comes before $.assets[10]
        return (self.file, self.line, self.col, _path_order(self.json_path), self.message)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "json_path": self.json_path,
            "message": self.message,
            "suggestion": self.suggestion,
        }


def problem_at(file: str, path: JsonPath, message: str, suggestion: str | None = None) -> Problem:
    """A problem at a JSON path of an input without positions (a parsed account)."""
    return Problem(file=file, json_path=format_json_path(path), message=message, suggestion=suggestion)


def _entry_text(item: Mapping[str, Any], key: str) -> str:
    return ", ".join(f"{name} {value}" for name, value in item.items() if name != key)


def duplicate_problems(items: Sequence[Any], field: str, source: str, *, key: str = "asset") -> list[Problem]:
    """A located problem for each entry of the list `field` whose `key` an earlier entry already has.

    Two entries for one asset (`BTC 5 @ 43000` and `BTC 5 @ 44000`) would be
    valued at two prices and sold from as if each held the total; the
    message names both so that the sender can merge them.
    """
    problems: list[Problem] = []
    first: dict[Any, int] = {}
    for index, item in enumerate(items):
        name = item.get(key) if isinstance(item, Mapping) else None
        if not isinstance(name, str):
            continue
        if name not in first:
            first[name] = index
            continue
        earlier = first[name]
        problems.append(
            Problem(
                file=source,
                json_path=format_json_path((field, index, key)),
                message=f"`{name}` is listed twice in `{field}`: at {format_json_path((field, earlier))}"
                f" ({_entry_text(items[earlier], key)}) and here ({_entry_text(item, key)});"
                " give each asset one entry",
            )
        )
    return problems


class PolicyEngineError(Exception):
    """Base of the package's errors: a non-empty, sorted tuple of problems."""

    problems: tuple[Problem, ...]

    def __init__(self, problems: Sequence[Problem]) -> None:
        if not problems:
            raise ValueError("an error needs at least one problem")
        self.problems = tuple(sorted(problems, key=lambda p: p.sort_key))
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self) -> tuple[type[PolicyEngineError], tuple[tuple[Problem, ...]]]:
        # rebuilt from its problems, so that it crosses process boundaries (batch workers, a Dask cluster)
        return (type(self), (self.problems,))


class PolicyError(PolicyEngineError):
    """The policy documents are invalid; nothing was loaded."""


class AccountError(PolicyEngineError):
    """The account state does not fit the schema or the policy it is evaluated against."""


class EvaluationError(PolicyEngineError):
    """A policy expression failed on this account (for example a division by zero)."""


class DecisionLogError(PolicyEngineError):
    """The decision log could not be written (a full disk, say): the decision is not handed out unlogged."""
