"""Lines and columns for an account's problems, found in its text only once there are problems.

Accounts are parsed without positions (JSON by the standard library, which
has none; YAML keeps none past parsing), because evaluating must stay cheap.
When an account is refused, its text is read again by the strict YAML loader
(JSON's superset here) and each problem's JSON path is looked up in its
marks, as a policy document's are: the value's position (for a missing key,
the path is the object's, so its position).  A path the text does not have
keeps no position, and so does `$`, the whole text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .errors import Problem, parse_json_path
from .loader import parse_yaml


def locate_account_problems(problems: Iterable[Problem], text: str, *, source: str) -> list[Problem]:
    """`problems`, those of `source` without a line given the line and column of their JSON path in `text`.

    Problems of other files (a price path, a policy) and those already
    located are kept as they are; so is everything when `text` cannot be read
    with positions.
    """
    problems = list(problems)
    if not any(problem.file == source and not problem.line for problem in problems):
        return problems
    document, _ = parse_yaml(text, file=source)
    if document is None:
        return problems
    located = []
    for problem in problems:
        path = parse_json_path(problem.json_path) if problem.file == source and not problem.line else None
        if path is None:
            located.append(problem)
            continue
        mark = document.marks.get(path) if path else None  # `$` is the whole text: no place more exact
        # a path the text does not have (an operation's, say) stays unlocated: its parent's mark would mislead
        located.append(problem if mark is None else dataclasses.replace(problem, line=mark.line, col=mark.col))
    return located
