"""How `policy-engine test` shows its results: pytest-like text, or one JSON document.

Text: a line per test file with a `.` or `F` per case (`-v`: a `PASS` or
`FAIL` line per case), then each failure as a diff: the lines of the test
file that expected something (`-`, with their line numbers) over what the
outcome has there (`+`, in YAML flow style, ready to paste), then the
summary `N passed, M failed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from ._plain import to_plain
from .errors import JsonPath, format_json_path
from .model import Mark
from .policy_tests import MISSING, CaseResult, Mismatch, TestCase

WIDTH = 80
_BARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+/-]*\Z")
_YAML_WORDS = frozenset(("null", "true", "false", "yes", "no", "on", "off", "~"))


def _flow(value: Any) -> str:
    """A plain value in YAML flow style: decimals and plain words bare, other text quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value if _BARE.match(value) and value.lower() not in _YAML_WORDS else json.dumps(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(item) for item in value) + "]"
    return _flow(to_plain(value))


def _banner(text: str, fill: str) -> str:
    padded = f" {text} "
    left = max((WIDTH - len(padded)) // 2, 3)
    right = max(WIDTH - len(padded) - left, 3)
    return f"{fill * left}{padded}{fill * right}"


def _span(case: TestCase, path: JsonPath) -> tuple[int, int]:
    """The first and last line (1-based) of the value at `path` in the test file, its key's line included."""
    document = case.document
    start = document.key_marks.get(path) or document.mark_of(path)
    depth = len(path)
    marks = (*document.marks.items(), *document.key_marks.items())
    end = max((mark.line for at, mark in marks if at[:depth] == path), default=start.line)
    return start.line, max(start.line, end)


def _actual_line(case: TestCase, path: JsonPath, mismatch: Mismatch) -> str:
    """What the outcome has at `path`, written where the expected value starts: under its key, or its list item."""
    key = path[-1]
    mark = case.document.key_marks.get(path) if isinstance(key, str) else None
    mark = mark or case.document.mark_of(path)
    before = case.source_lines[mark.line - 1][: mark.col - 1]
    # keep a block list's dash; anything else before the value (a flow mapping's `{`, other keys) becomes blanks
    prefix = before if before.strip() in ("", "-") else " " * len(before)
    if mismatch.actual is MISSING:
        return f"{prefix}(no `{key}` in the outcome)"
    label = f"{key}: " if isinstance(key, str) else ""
    return f"{prefix}{label}{_flow(mismatch.actual)}"


def _where(case: TestCase, path: JsonPath) -> Mark:
    """Where an expected value is: the value itself when it starts on its key's line, else its key."""
    value = case.document.mark_of(path)
    key = case.document.key_marks.get(path)
    return value if key is None or key.line == value.line else key


def _diff(case: TestCase, mismatch: Mismatch) -> list[str]:
    path = (*case.path, *mismatch.path)
    first, last = _span(case, path)
    mark = _where(case, path)
    lines = [f"{case.file}:{mark.line}:{mark.col}: {format_json_path(path)}: {mismatch.message}"]
    width = len(str(last))
    lines += [f"- {number:>{width}} | {case.source_lines[number - 1]}" for number in range(first, last + 1)]
    lines.append(f"+ {'':>{width}} | {_actual_line(case, path, mismatch)}")
    return lines


def _failure(result: CaseResult) -> list[str]:
    case = result.case
    lines = [_banner(case.id, "_")]
    if case.description:
        lines.append(case.description)
    lines.append("")
    if result.problems:
        lines.append(f"the decision failed at {case.file}:{case.line}:")
        lines += [str(problem) for problem in result.problems]
    for mismatch in result.mismatches:
        lines += _diff(case, mismatch)
    lines.append("")
    return lines


def _summary(results: Sequence[CaseResult], deselected: int) -> str:
    passed = sum(result.passed for result in results)
    text = f"{passed} passed, {len(results) - passed} failed"
    return f"{text}, {deselected} deselected" if deselected else text


def text_report(results: Sequence[CaseResult], *, verbose: bool = False, deselected: int = 0) -> str:
    """The whole report, ending with the summary line."""
    lines: list[str] = []
    if verbose:
        lines += [f"{'PASS' if result.passed else 'FAIL'} {result.case.id}" for result in results]
    else:
        by_file: dict[str, str] = {}
        for result in results:
            by_file[result.case.file] = by_file.get(result.case.file, "") + ("." if result.passed else "F")
        lines += [f"{file} {marks}" for file, marks in by_file.items()]
    failed = [result for result in results if not result.passed]
    if failed:
        lines += ["", _banner("FAILURES", "=")]
        for result in failed:
            lines += _failure(result)
    else:
        lines.append("")
    lines.append(_banner(_summary(results, deselected), "="))
    return "\n".join(lines) + "\n"


def _mismatch_record(case: TestCase, mismatch: Mismatch) -> dict[str, Any]:
    path = (*case.path, *mismatch.path)
    mark = _where(case, path)
    record: dict[str, Any] = {
        "file": case.file,
        "line": mark.line,
        "col": mark.col,
        "json_path": format_json_path(path),
        "message": mismatch.message,
        "expected": to_plain(mismatch.expected),
    }
    if mismatch.actual is not MISSING:
        record["actual"] = mismatch.actual
    return record


def json_report(results: Sequence[CaseResult], *, deselected: int = 0) -> dict[str, Any]:
    """The results as plain JSON values: counts, then each case with what failed."""
    passed = sum(result.passed for result in results)
    return {
        "passed": passed,
        "failed": len(results) - passed,
        "deselected": deselected,
        "tests": [
            {
                "id": result.case.id,
                "file": result.case.file,
                "name": result.case.name,
                "line": result.case.line,
                "passed": result.passed,
                "mismatches": [_mismatch_record(result.case, mismatch) for mismatch in result.mismatches],
                "problems": [problem.to_dict() for problem in result.problems],
            }
            for result in results
        ],
    }


__all__ = ["json_report", "text_report"]
