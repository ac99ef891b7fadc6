"""PyYAML's syntax errors in the house style: what was expected, what was found, and a fix where one is clear.

PyYAML words its errors for its own parser (`expected <block end>, but found
'<block mapping start>'`); the common ones are indentation, a `key: value`
inside a value, tabs, unclosed brackets and quotes.  Each gets its own
wording here; any other error keeps PyYAML's reason.  The position is the
caller's (the error's problem mark).
"""

from __future__ import annotations

import re

import yaml

_TOKENS = {
    "<block mapping start>": "a key",
    "?": "a key",
    "<block sequence start>": "a list item",
    "-": "a list item",
    "<scalar>": "a value",
    "<block end>": "the end of a block",
    "<stream end>": "the end of the file",
    "<document end>": "the end of the document",
    ":": "`:`",
    ",": "`,`",
}
_FOUND = re.compile(r"but (?:found|got) '([^']*)'")
_CHARACTER = re.compile(r"found character '(.)' that cannot start any token")
_CLOSERS = {"flow sequence": ("[", "]"), "flow mapping": ("{", "}")}


def _found(problem: str) -> str:
    match = _FOUND.search(problem)
    if match is None:
        return "something else"
    token = match.group(1)
    return _TOKENS.get(token, f"`{token}`")


def _line(text: str, number: int) -> str:
    """Line `number` (0-based) of `text`, without its end of line."""
    lines = text.splitlines()
    return lines[number] if 0 <= number < len(lines) else ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _line_above(text: str, number: int) -> str | None:
    """The nearest line before `number` (0-based) holding something other than a comment."""
    lines = text.splitlines()
    for above in range(min(number, len(lines)) - 1, -1, -1):
        stripped = lines[above].strip()
        if stripped and not stripped.startswith("#"):
            return lines[above]
    return None


def yaml_error_message(error: yaml.MarkedYAMLError, text: str) -> tuple[str, str | None]:
    """The message and, where there is an obvious fix, the corrected line (the `suggestion`)."""
    problem = error.problem or str(error)
    context = error.context or ""
    mark, start = error.problem_mark, error.context_mark
    if mark is None:
        return f"invalid YAML: {problem}", None
    line = _line(text, mark.line)
    if problem.startswith("expected <block end>") and start is not None:
        return _bad_indentation(problem, context, start, mark, text)
    if problem == "mapping values are not allowed here":
        return _value_with_colon(text, mark, line)
    if problem.startswith("found character '\\t'"):
        fixed = line.lstrip("\t ")
        spaces = line[: len(line) - len(fixed)].replace("\t", "  ")
        return "invalid YAML: a tab character; YAML indents with spaces, never tabs", spaces + fixed
    character = _CHARACTER.match(problem)
    if character is not None:
        value = line[mark.column :].rstrip()
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        return (
            f"invalid YAML: expected a value, got {character.group(1)!r}, which cannot start one unquoted;"
            " quote the value",
            f'{line[: mark.column]}"{quoted}"' if value else None,
        )
    if problem == "could not find expected ':'" and start is not None:
        key = _line(text, start.line).strip()
        return f"invalid YAML: expected `key: value` on line {start.line + 1}, got `{key}` with no `:`", None
    if problem == "but found another document":
        return (
            f"invalid YAML: expected one document per policy file, got a second one from line {mark.line + 1}"
            " (a `---` line); put each policy in its own file",
            None,
        )
    if problem == "found unexpected end of stream" and "quoted scalar" in context and start is not None:
        quote = _line(text, start.line)[start.column : start.column + 1] or "quote"
        return (
            f"invalid YAML: expected a closing {quote} for the one opened on line {start.line + 1},"
            f" column {start.column + 1}; got the end of the file",
            None,
        )
    for name, (opener, closer) in _CLOSERS.items():
        if name in context and start is not None and problem.startswith("expected ','"):
            return (
                f"invalid YAML: expected `,` or `{closer}` in the `{opener}` opened on line {start.line + 1},"
                f" column {start.column + 1}; got {_found(problem)}",
                None,
            )
    return f"invalid YAML: {problem}", None


def _bad_indentation(
    problem: str, context: str, start: yaml.Mark, mark: yaml.Mark, text: str
) -> tuple[str, str | None]:
    column = start.column + 1
    line = _line(text, mark.line)
    above = _line_above(text, mark.line)
    if above is not None and start.column < mark.column < _indent(above):
        # a dedent to a column no open block has: the line above or this one is off, nothing says which
        return (
            f"invalid YAML: bad indentation: expected {_found(problem)} at column {_indent(above) + 1}"
            f" (as the line above) or {column} (as in the {_block(context)} from line {start.line + 1}),"
            f" got column {mark.column + 1}; indent it as one of them, or the line above as this one",
            None,
        )
    what = "a key" if "block mapping" in context else "a list item `- `"
    expected = f"{what} at column {column} (as in the {_block(context)} from line {start.line + 1})"
    message = (
        f"invalid YAML: bad indentation: expected {expected}, or a line indented less to end it;"
        f" got {_found(problem)} at column {mark.column + 1}"
    )
    suggestion = " " * start.column + line.lstrip(" ") if _indent(line) != start.column and line.strip() else None
    return message, suggestion


def _block(context: str) -> str:
    return "mapping" if "block mapping" in context else "list"


def _value_with_colon(text: str, mark: yaml.Mark, line: str) -> tuple[str, str | None]:
    above = _line_above(text, mark.line)
    if above is not None and _indent(line) > _indent(above) and not above.rstrip().endswith(":"):
        return (
            f"invalid YAML: line {mark.line + 1} is indented more than the line above, which already has a value;"
            f" expected its key at column {_indent(above) + 1}, as the key above",
            " " * _indent(above) + line.lstrip(" "),
        )
    key, separator, value = line.strip().partition(": ")
    suggestion = None
    if separator and value and not value.startswith(("'", '"')):
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        suggestion = " " * _indent(line) + f'{key}: "{quoted}"'
    return (
        "invalid YAML: expected one `key: value` per line, got a value holding `: `; quote a value that holds it",
        suggestion,
    )
