"""Every `pattern` of every schema refuses a value with a trailing newline.

jsonschema applies a pattern with Python's `re.search`, where `$` also
matches before a final newline: `^[A-Za-z][A-Za-z0-9_-]*$` accepted the rule
id "liquidation\\n".  The schemas end their patterns with `(?![\\s\\S])`
("nothing follows"), which means the same in ECMA-262 and in Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import policy_engine
from policy_engine import PolicyError

from .conftest import POLICIES, ROOT

SCHEMA_FILES = sorted([*(ROOT / "schemas").glob("*.json"), *(ROOT / "tests").rglob("*.schema.json")])


def _patterns(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(where, pattern) for each `pattern` keyword and `patternProperties` key under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield f"{path}/pattern", value
            elif key == "patternProperties" and isinstance(value, dict):
                yield from ((f"{path}/patternProperties/{pattern}", pattern) for pattern in value)
            yield from _patterns(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _patterns(value, f"{path}/{index}")


PATTERNS = [
    (f"{file.relative_to(ROOT)}#{where}", pattern)
    for file in SCHEMA_FILES
    for where, pattern in _patterns(json.loads(file.read_text()), "")
]


def test_the_schemas_have_patterns_to_check() -> None:
    """The loop below is not empty: the bundled and test schemas name identifiers and symbols by pattern."""
    assert {where.split("#")[0] for where, _ in PATTERNS} >= {
        "schemas/crypto-loan.schema.json",
        "schemas/margin-trading.schema.json",
        "schemas/policy-envelope.schema.json",
    }


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[where for where, _ in PATTERNS])
def test_a_trailing_newline_is_refused(where: str, pattern: str) -> None:
    """A value the pattern accepts is refused once a newline (or a CR LF) is appended, as jsonschema applies it."""
    validator = Draft202012Validator({"type": "string", "pattern": pattern})

    @settings(max_examples=25, deadline=None)
    @given(st.from_regex(pattern))
    def check(value: str) -> None:
        accepted = value.rstrip("\r\n")
        if not validator.is_valid(accepted):
            return  # hypothesis may draw a value that only matched with its own trailing newline
        assert [validator.is_valid(accepted + ending) for ending in ("\n", "\r\n", " ")] == [False, False, False]

    check()


IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_-]*(?![\s\S])"
SYMBOL = r"^[A-Z0-9][A-Z0-9._-]*(?![\s\S])"


@pytest.mark.parametrize(
    ("old", "new", "located_at", "problem"),
    [
        ("id: spot-margin\n", 'id: "spot-margin\\n"\n', ("id: ", 5),
         f"$.id: 'spot-margin\\n' does not match {IDENTIFIER!r}"),
        ("  - id: liquidation\n", '  - id: "liquidation\\n"\n', ("  - id: liquidation", 9),
         f"$.rules[0].id: 'liquidation\\n' does not match {IDENTIFIER!r}"),
        ("  - name: net_equity_value\n", '  - name: "net_equity_value\\n"\n', ("  - name: net_equity_value", 11),
         f"$.derived[0].name: 'net_equity_value\\n' does not match {IDENTIFIER!r}"),
        # a key's pattern (propertyNames) is reported at the mapping, whose mark is its first key
        ("  cross_pro:\n", '  "cross_pro\\n":\n', ("  cross_classic:", 3),
         f"$.modes: 'cross_pro\\n' does not match {IDENTIFIER!r}"),
        ("  SUPER:\n", '  "SUPER\\n":\n', ("  BTC:", 3), f"$.assets: 'SUPER\\n' does not match {SYMBOL!r}"),
    ],
    ids=["policy-id", "rule-id", "derived-name", "mode-name", "asset-symbol"],
)
def test_a_policy_name_with_a_trailing_newline_does_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, located_at: tuple[str, int], problem: str
) -> None:
    """Ids, names and keys with a trailing newline are one located problem each; nothing is loaded."""
    bundled = (POLICIES / "margin-trading.yaml").read_text()
    assert old in bundled
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "margin-trading.yaml").write_text(bundled.replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    marker, col = located_at
    line = bundled[: bundled.index(marker)].count("\n") + 1
    assert [str(found) for found in raised.value.problems] == [f"policies/margin-trading.yaml:{line}:{col}: {problem}"]
