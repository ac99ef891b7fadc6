"""Nesting depth (issue 15): YAML policies and accounts, and account dicts in the library, are refused at a
located problem when they nest too deep, counted while reading, never by running into the recursion limit."""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, LoadLimits, PolicyError
from policy_engine._depth import MAX_ACCOUNT_DEPTH
from policy_engine.accounts import parse_account
from policy_engine.cli import main
from policy_engine.loader import DEFAULT_MAX_DEPTH, parse_yaml, parse_yaml_in_python

from .conftest import AS_OF, POLICIES, example

POLICY_LIMIT = (
    f"mappings and sequences nest more than {DEFAULT_MAX_DEPTH} levels deep (the limit, LoadLimits.max_depth)"
)
ACCOUNT_LIMIT = f"mappings and sequences nest more than {MAX_ACCOUNT_DEPTH} levels deep (the limit, MAX_ACCOUNT_DEPTH)"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def flow(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.fixture
def low_recursion_limit() -> Iterator[None]:
    """A stack far shallower than the default: a guard that is the recursion limit fails here."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(400)
    try:
        yield
    finally:
        sys.setrecursionlimit(before)


def test_a_policy_nested_500_deep_is_a_located_policy_problem(tmp_path: Path) -> None:
    """A 1 KB file of 500 nested sequences used to end in RecursionError (exit 3)."""
    policy = tmp_path / "deep.yaml"
    policy.write_text(f"kind: margin-trading\nx: {flow(500)}\n")
    code, out, err = run("validate", str(policy))
    assert (code, out) == (1, "")
    first = err.splitlines()[0]
    path = "$.x" + "[0]" * DEFAULT_MAX_DEPTH
    assert first == f"{policy}:2:{4 + DEFAULT_MAX_DEPTH}: {path}: {POLICY_LIMIT}"


@pytest.mark.parametrize("parse", [parse_yaml, parse_yaml_in_python], ids=["libyaml", "pure"])
@pytest.mark.usefixtures("low_recursion_limit")
def test_depth_is_counted_while_composing_not_by_the_stack(parse: Any) -> None:
    """500 levels (the pure composer has no bound of its own): one problem at the first
    node too deep, with a recursion limit of 400."""
    document, problems = parse(f"a:\n  b: {flow(500)}\n", file="deep.yaml")
    assert document is None
    assert [(p.line, p.col, p.message) for p in problems] == [(2, 6 + DEFAULT_MAX_DEPTH - 1, POLICY_LIMIT)]


@pytest.mark.parametrize("parse", [parse_yaml, parse_yaml_in_python], ids=["libyaml", "pure"])
def test_block_mappings_count_as_flow_collections_do(parse: Any) -> None:
    text = "".join(" " * level + f"k{level}:\n" for level in range(70)) + " " * 70 + "leaf: 1\n"
    document, problems = parse(text, file="deep.yaml")
    assert document is None
    (problem,) = problems
    assert (problem.line, problem.message) == (DEFAULT_MAX_DEPTH + 1, POLICY_LIMIT)
    assert problem.json_path == "$." + ".".join(f"k{level}" for level in range(DEFAULT_MAX_DEPTH))


def test_exactly_the_limit_is_read() -> None:
    document, problems = parse_yaml(f"x: {flow(DEFAULT_MAX_DEPTH)}\n", file="edge.yaml")
    assert problems == []
    assert document is not None
    document, problems = parse_yaml(f"x: {flow(DEFAULT_MAX_DEPTH + 1)}\n", file="edge.yaml")
    assert [p.message for p in problems] == [POLICY_LIMIT]


def test_aliases_cannot_nest_a_document_deeper_than_the_limit() -> None:
    """Each alias adds the anchored node's depth below it; the built document is held to the limit too."""
    text = "a: &x [[[[1]]]]\nb: [*x]\n"
    document, problems = parse_yaml(text, file="alias.yaml", max_depth=5)
    assert document is None
    assert [(p.json_path, p.message) for p in problems] == [
        ("$.b[0][0][0][0][0]", "mappings and sequences nest more than 5 levels deep (the limit, LoadLimits.max_depth)")
    ]


def test_the_policy_depth_is_a_load_setting() -> None:
    """`LoadLimits(max_depth=...)`: the bundled policies nest deeper than 3 levels."""
    with pytest.raises(PolicyError) as caught:
        policy_engine.load(POLICIES, limits=LoadLimits(max_depth=3))
    assert all("(the limit, LoadLimits.max_depth)" in p.message for p in caught.value.problems)
    assert policy_engine.load(POLICIES, limits=LoadLimits()).policies


def test_a_yaml_account_nested_500_deep_is_a_located_account_problem(tmp_path: Path) -> None:
    account = tmp_path / "deep.yaml"
    account.write_text(f"kind: spot-margin\nx: {flow(500)}\n")
    code, out, err = run("evaluate", str(account), "--policies", str(POLICIES), "--as-of", AS_OF)
    assert (code, out) == (2, "")
    path = "$.x" + "[0]" * MAX_ACCOUNT_DEPTH
    assert err.splitlines()[0] == f"{account}:2:{4 + MAX_ACCOUNT_DEPTH}: {path}: {ACCOUNT_LIMIT}"


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels // 2):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize("where", ["top", "asset"])
def test_an_account_dict_nested_500_deep_is_an_account_error_in_the_library(where: str) -> None:
    """`engine.evaluate(dict)` used to end in RecursionError in `freeze_value`; before and after the engine
    compiles the kind's reader (the twelfth evaluation), the error names the JSON path where it goes too deep."""
    engine = policy_engine.load(POLICIES)
    base = example("margin-a-regular.json")
    for _ in range(14):
        account = copy.deepcopy(base)
        if where == "top":
            account["extra"] = nested(500)
            prefix = "$.extra"
        else:
            account["assets"][0]["note"] = nested(500)
            prefix = "$.assets[0].note"
        with pytest.raises(AccountError) as caught:
            engine.evaluate(account, AS_OF)
        (problem,) = caught.value.problems
        assert problem.json_path.startswith(prefix + ".a[0].a[0]")
        assert problem.message.startswith(f"the account nests objects and arrays more than {MAX_ACCOUNT_DEPTH}")


def test_a_json_account_deeper_than_the_parser_goes_is_an_account_error_in_the_library() -> None:
    """`parse_account` (the library's reader) used to let the JSON parser's RecursionError out."""
    with pytest.raises(AccountError) as caught:
        parse_account('{"kind": "spot-margin", "x": ' + flow(100_000) + "}", source="deep.json")
    assert [(p.file, p.message) for p in caught.value.problems] == [
        (
            "deep.json",
            f"the account nests objects and arrays more than {MAX_ACCOUNT_DEPTH} levels deep; an account has 3",
        )
    ]
