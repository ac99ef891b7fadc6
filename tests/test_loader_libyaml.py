"""The libyaml path of `parse_yaml` gives what the pure-Python path gives, or defers to it.

`parse_yaml` composes with libyaml first and keeps that result only when it
has no problem at all; otherwise the pure-Python path reads the text again.
These tests hold the two paths to the same data (types included), the same
line and column marks of every value and key, and the same problems.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine import loader
from policy_engine.loader import parse_yaml, parse_yaml_in_python

ROOT = Path(__file__).resolve().parent.parent
POLICY_TEXTS = [path.read_text(encoding="utf-8") for path in sorted((ROOT / "policies").glob("*.yaml"))]
FILE = "policy.yaml"

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML is built without libyaml here")

TRICKY = [
    "a: 1\n",
    "a: 1\r\nb: [1, 2]\r\n",
    "a: 1\rb: 2\r",
    "\ufeffa: 1\nb: 2\n",
    "a: caf\u00e9\nb: \u00e9\u00e9: 1\n",
    "k\u00e9y: v\u00e4lue\nnext: 1\n",
    "a: x\x85b: 1\n",
    "a: x\u2028b: 1\n",
    "a: 'x\u2029y'\n",
    "a:\tb\n",
    "a: |\n  line one\n  line two\nb: >\n  folded\n  text\n",
    "a: |-\n  kept\n\n\nb: 1\n",
    'a: "esc\\u00e9 \\t \\x41 \\n"\nb: 1\n',
    "a: {b: 1, c: [1, 2, {d: e}]}\n",
    "- a\n- - b\n  - c\n- {d: 1}\n",
    "? a\n: 1\n",
    "? [a, b]\n: 1\n",
    "a: &x 1\nb: *x\n",
    "a: &x {c: 1}\nb: *x\nd: *x\n",
    "a: &x 1\nb: &x 2\n",
    "a: *missing\n",
    "a: &x [*x]\n",
    "%YAML 1.1\n---\na: 1\n",
    "%YAML 1.2\n---\na: 1\n",
    "%YAML 2.0\n---\na: 1\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!thing 1\n",
    "--- \na: 1\n...\n",
    "---\na: 1\n---\nb: 2\n",
    "a: 1\n...\n",
    "a: !!str 1\nb: !!int 2\nc: !!float 3.5\nd: !!bool true\ne: !!null ''\n",
    "a: !!binary aGVsbG8=\n",
    "a: !custom 1\n",
    "a: yes\nb: No\nc: on\n",
    "a: .inf\nb: -.Inf\nc: .nan\n",
    "a: 0x1F\nb: 0o17\nc: 1_000\nd: 012\ne: 1:30\n",
    "a: 1e61\nb: 1e-61\nc: 1e60\n",
    "a: 2026-01-01\nb: 2026-01-01T00:00:00Z\n",
    "a: ~\nb: null\nc: Null\nd:\ne: NULL\n",
    "a: 1\na: 2\na: 3\n",
    "1: a\n",
    "null: a\ntrue: b\n",
    "<<: {a: 1}\nb: 2\n",
    "a:\n  <<: {a: 1}\n",
    "a: b: c\n",
    "a: [1\n",
    "a: 'open\n",
    "a: @x\n",
    "a: `x\n",
    "a: \x07\n",
    "a: b\n\x00\n",
    "",
    "\n",
    "# only a comment\n",
    "a",
    "[1, 2, 3]",
    "'just a string'",
    "  a: 1\n b: 2\n",
    "a:\n  - 1\n  -2\n",
    "a:\n- 1\n- 2\n",
    "a: [1, 2,]\n",
    "a: {b: 1,}\n",
    "{a: 1, a: 2}\n",
    "a: 'it''s'\nb: \"q\\\"uote\"\n",
    "a: plain # comment\nb: 'x' # c\n",
    "a: multi\n  line\n  plain\nb: 1\n",
    "- ? a\n  : b\n",
    "a:\n  b:\n    c:\n      d: [e, {f: g}]\n",
    "x" * 1100 + ": 1\n",
    "a: " + "y" * 5000 + "\n",
    "a: \U0001f600\nb: 1\n",
    "\U0001f600: 1\n",
    "a: '\\ud800'\n",
    "%YAML 1.2#\n---\na: 1\n",
    "a\ufeff: 1\n",
    "a: [1, 2,]\n\ufeff",
    "a: {b: }\n",
    "a: {b: 1, c: [1, {d: }]}\n",
    "? a\n",
    "---",
    "!\n",
    "  - !",
    "|# comment\n",
    "b: [1'?2]\n",
    "{a: 1, b: 2?}\n",
    "a: \"\\ud800\"\n",
    "a:    \n  - 1\n",
    "a: -\n",
    "- -\n",
    "a: ?\n",
    "a: :b\n",
    "a: 'b'c\n",
]


def typed(value: Any) -> Any:
    """The value with each scalar's type spelled out: `1` and `Decimal(1)` and `'1'` differ."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, repr(value))


def parsed(result: tuple[Any, Any]) -> Any:
    document, problems = result
    if document is None:
        return None, problems
    return (typed(document.data), document.marks, document.key_marks), problems


def assert_same(text: str, max_alias_nodes: int = 100) -> None:
    both = parse_yaml(text, file=FILE, max_alias_nodes=max_alias_nodes)
    pure = parse_yaml_in_python(text, file=FILE, max_alias_nodes=max_alias_nodes)
    assert parsed(both) == parsed(pure)


@pytest.mark.parametrize("text", TRICKY)
def test_both_paths_agree_on_tricky_texts(text: str) -> None:
    """Line breaks of every kind, BOM, non-ASCII, tags, anchors, directives and errors: the same result."""
    assert_same(text)


@pytest.mark.parametrize("text", POLICY_TEXTS)
def test_bundled_policies_come_through_libyaml_with_the_same_marks(text: str) -> None:
    """The bundled policies take the libyaml path, and it gives the pure path's values and marks."""
    fast = loader._parse_with_libyaml(text, file=FILE, max_alias_nodes=100)
    assert fast is not None
    document, problems = parse_yaml_in_python(text, file=FILE)
    assert problems == []
    assert document is not None
    assert typed(fast.data) == typed(document.data)
    assert fast.marks == document.marks
    assert fast.key_marks == document.key_marks


def test_alias_bound_is_the_same_on_both_paths() -> None:
    """Aliases under and over the bound: the libyaml path counts them as the pure path does."""
    text = "a: &x [1, 2, 3]\nb: *x\nc: *x\n"
    for bound in (0, 3, 4, 6, 7, 100):
        assert_same(text, max_alias_nodes=bound)


def test_without_libyaml_the_pure_path_reads_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PyYAML built without libyaml still loads documents (and never calls libyaml)."""
    monkeypatch.setattr(loader, "_WITH_LIBYAML", False)
    monkeypatch.setattr(loader, "_parse_with_libyaml", None)
    document, problems = parse_yaml("a: 1.5\n", file=FILE)
    assert problems == []
    assert document is not None
    assert document.data == {"a": Decimal("1.5")}


_YAML_CHARACTERS = st.sampled_from(list(":-?[]{},#&*!|>'\"%@` \t\n\r\\.0123456789eExyz\u00e9\x85\u2028\ufeff"))


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    """A slice of a bundled policy with a few characters inserted, deleted or replaced."""
    text = draw(st.sampled_from(POLICY_TEXTS))
    lines = text.splitlines(keepends=True)
    start = draw(st.integers(0, len(lines) - 1))
    text = "".join(lines[start : start + draw(st.integers(1, 25))])
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(("insert", "delete", "replace")))
        character = draw(_YAML_CHARACTERS)
        if edit == "insert":
            text = text[:at] + character + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + character + text[at + 1 :]
    return text


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["1.5", "a: b", "#x", "- y", "multi\nline", "  pad  ", "é\u2028", "", "?", "!x", "&a", "'q'", "|"]),
    st.text(max_size=12),
)
_DATA = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=_DATA,
    flow=st.sampled_from([True, False, None]),
    style=st.sampled_from([None, "'", '"', "|"]),
    canonical=st.booleans(),
    width=st.sampled_from([20, 80]),
)
def test_both_paths_agree_on_dumped_data(
    data: Any, flow: bool | None, style: str | None, canonical: bool, width: int
) -> None:
    """What PyYAML writes in any style (flow, quoted, block, canonical with tags): the same result either way."""
    text = yaml.safe_dump(
        data, default_flow_style=flow, default_style=style, canonical=canonical, width=width, allow_unicode=True
    )
    assert_same(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_policies())
def test_both_paths_agree_on_mutated_policies(text: str) -> None:
    """Random edits of real policy text, valid or not: the same data, marks and problems either way."""
    assert_same(text)
