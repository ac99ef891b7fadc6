"""The compiled account reader: the check and the read-only copy in one pass, equal to the two-pass way.

`compile_reader(schema)(value)` must be None exactly when the compiled check
refuses the value or `freeze_value` refuses it, and otherwise equal
`freeze_value(value)`, with the same types all the way down (`FrozenDict`,
tuples).  The plain-decimal regular expressions the check uses for money
strings must never accept a string the format itself refuses.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine import AccountError
from policy_engine._fastcheck import PLAIN_DECIMAL_LENGTH, PLAIN_DECIMAL_TESTS, compile_reader, reader_for
from policy_engine.accounts import Refused, freeze_value
from policy_engine.frozen import FrozenDict
from policy_engine.schema import FORMATS, load_schema

from .conftest import EXAMPLES, POLICIES
from .test_fastcheck import (
    ALL_EDGE_VALUES,
    CONTAINER_EDGE_VALUES,
    EXTENDED,
    JSON_VALUES,
    SCHEMA_CASES,
    accounts,
    mutated_accounts,
    paths,
)

SCHEMAS = ["spot-margin.account.schema.json", "crypto-loan.account.schema.json"]
READERS = {name: compile_reader(load_schema(name)) for name in SCHEMAS}
MARGIN = READERS["spot-margin.account.schema.json"]
LOAN = READERS["crypto-loan.account.schema.json"]


def typed(value: Any) -> Any:
    """`value` with every container's exact type spelled out, and every scalar's."""
    if isinstance(value, dict):
        return (type(value).__name__, [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    return (type(value).__name__, repr(value))


def compiled(schema: Any) -> Any:
    reader = reader_for(schema)
    assert reader is not None
    return reader


def two_passes(schema: Any, value: Any) -> Any:
    """What the reader must give: None when the check or `freeze_value` refuses, else the frozen copy."""
    if not compiled(schema).check(value):
        return None
    try:
        return freeze_value(value)
    except Refused:
        return None


def assert_reads_like_two_passes(schema: Any, value: Any) -> None:
    """The same copy, or None, or the same exception (jsonschema's `uniqueItems` cannot sort a Decimal NaN)."""
    schema = load_schema(schema) if isinstance(schema, str) else schema
    reader = compiled(schema)
    assert outcome(lambda: typed(reader(value))) == outcome(lambda: typed(two_passes(schema, value)))


def outcome(run: Any) -> Any:
    try:
        return run()
    except Exception as error:  # the exception is the outcome being compared
        return type(error).__name__


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(), parse_float=Decimal)
    return data


def test_the_bundled_readers_copy_by_shape_not_by_the_general_walk() -> None:
    """The bundled account schemas give a reader that copies each known key by its shape: the general
    `freeze_value` walk runs only for a mapping with keys the schema does not name."""
    for reader in READERS.values():
        lines = reader.source.splitlines()
        general = [line.strip() for line in lines if "_freeze(" in line and "if not (" not in line]
        assert general, "extra keys still go to freeze_value"
        assert all(line.startswith(("f", "_freeze(")) for line in general)
        assert "f1 = _freeze(v0)" in reader.source
        assert "_FrozenDict(f1)" in reader.source


@pytest.mark.parametrize(
    "name", ["margin-a-regular.json", "margin-b-takeover.json", "margin-c-regular-then-takeover.json"]
)
def test_example_margin_accounts_are_read_into_frozen_copies(name: str) -> None:
    """A valid account comes back as a `FrozenDict` of tuples of `FrozenDict`s, holding the input's values."""
    account = example(name)
    frozen = MARGIN(account)
    assert isinstance(frozen, FrozenDict)
    assert json.dumps(frozen, default=str) == json.dumps(account, default=str)
    assert typed(frozen) == typed(freeze_value(account))
    assert all(type(line) is FrozenDict for line in frozen["assets"])
    assert type(frozen["liabilities"]) is tuple


def test_the_copy_does_not_follow_later_changes_to_the_input() -> None:
    account = example("margin-a-regular.json")
    frozen = MARGIN(account)
    assert frozen is not None
    before = copy.deepcopy(dict(frozen))
    account["assets"][0]["quantity"] = "1"
    account["account_id"] = "someone-else"
    account["assets"].append({"asset": "ETH", "quantity": "1", "price": "1"})
    assert frozen == before


@pytest.mark.parametrize("schema_name", SCHEMAS)
@pytest.mark.parametrize(
    "value",
    [1.5, 10**61, 10**61 - 1, -(10**61), Decimal("1E+61"), Decimal("NaN"), "x", None, True, [1.5], {"a": 2.5}, ("t",)],
    ids=repr,
)
def test_an_extra_key_of_any_value_reads_like_two_passes(schema_name: str, value: Any) -> None:
    """Keys the schema does not name are allowed, and frozen (or refused) as `freeze_value` does."""
    account = example("margin-a-regular.json" if schema_name.startswith("spot") else "loan-topup.json")
    account["note"] = value
    assert_reads_like_two_passes(schema_name, account)
    nested = account["assets"][0] if schema_name.startswith("spot") else account["collateral"]
    del account["note"]
    nested["note"] = value
    assert_reads_like_two_passes(schema_name, account)


LOAN_EXAMPLE = example("loan-topup.json")
LOAN_EXAMPLE["auto_top_up"]["events"] = [{"type": "manual_top_up", "quantity": "0.1"}, {"type": "reset"}]
LOAN_EXAMPLE["spot_balances"] = {"BTC": "0.5"}
LOAN_EXAMPLE["loan_type"] = "flexible"


def _replaced(account: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(account)
    target: Any = edited
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = copy.deepcopy(value)
    return edited


LOAN_EDGES = [*ALL_EDGE_VALUES, *CONTAINER_EDGE_VALUES, "2026-01-01T00:00:00Z", "manual_top_up", "reset", 10**61]


@pytest.mark.parametrize("path", list(paths(LOAN_EXAMPLE)), ids=str)
def test_every_edge_value_at_every_slot_of_a_loan_reads_like_two_passes(path: tuple[Any, ...]) -> None:
    """Each slot of a loan (state, events, balances, prices...) set to each edge value: the same result."""
    for value in LOAN_EDGES:
        assert_reads_like_two_passes("crypto-loan.account.schema.json", _replaced(LOAN_EXAMPLE, path, value))


@settings(max_examples=100, deadline=None)
@given(account=accounts(min_items=0))
def test_generated_margin_accounts_read_like_two_passes(account: dict[str, Any]) -> None:
    """Valid accounts with extra keys anywhere: the same frozen copy."""
    assert MARGIN(account) is not None or two_passes(load_schema(SCHEMAS[0]), account) is None
    assert_reads_like_two_passes(SCHEMAS[0], account)


@settings(max_examples=150, deadline=None)
@given(account=mutated_accounts(max_edits=3))
def test_edited_margin_accounts_read_like_two_passes(account: dict[str, Any]) -> None:
    """Accounts with up to three random edits (wrong types, floats, boundary numbers, extra keys)."""
    assert_reads_like_two_passes(SCHEMAS[0], account)


@settings(max_examples=100, deadline=None)
@given(value=JSON_VALUES)
def test_every_schema_of_the_table_reads_like_two_passes(value: Any) -> None:
    """The keyword table's schemas and the extended account schemas, on generated JSON-like values."""
    for case in SCHEMA_CASES.values():
        assert_reads_like_two_passes(case.schema, value)
    for schema in EXTENDED.values():
        assert_reads_like_two_passes(schema, value)


def test_readers_are_compiled_once_per_schema_object_at_the_asked_use() -> None:
    """`reader_for(schema, uses=n)` is None for the first n - 1 requests, then the same reader every time."""
    schema = load_schema(SCHEMAS[0])
    assert reader_for(schema) is reader_for(schema) is not None
    other = copy.deepcopy(schema)
    assert [reader_for(other, uses=3) is None for _ in range(2)] == [True, True]
    made = reader_for(other, uses=3)
    assert made is not None
    assert made is not reader_for(schema)
    assert reader_for(other, uses=3) is made


PLAIN_DECIMAL_TEXT = {
    name: eval(f"lambda v: {template.format(v='v')}")  # noqa: S307 - the package's own code templates
    for name, template in PLAIN_DECIMAL_TESTS.items()
}
PLAIN_TEXTS = st.text(alphabet="0123456789.-+eE _\u0661 ", max_size=PLAIN_DECIMAL_LENGTH + 3)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(PLAIN_TEXTS, st.integers(0, 70).map(lambda zeros: "0." + "0" * zeros + "1")))
def test_a_plain_decimal_text_the_fast_test_accepts_is_valid_for_its_format(text: str) -> None:
    """The plain-decimal tests are sufficient: they never pass a string the format refuses."""
    for name, fast in PLAIN_DECIMAL_TEXT.items():
        if len(text) <= PLAIN_DECIMAL_LENGTH and fast(text):
            assert FORMATS[name](text), (name, text)


def test_the_fast_test_accepts_the_usual_money_strings() -> None:
    """The common forms take the fast path: integers, decimals, leading-point and trailing-point forms."""
    usual = ["0", "1", "12.50", "400000", "0.00000001", ".5", "5.", "9" * 61]
    assert all(PLAIN_DECIMAL_TEXT["non-negative-decimal"](text) for text in usual)
    assert not any(PLAIN_DECIMAL_TEXT["positive-decimal"](text) for text in ["0", "0.000", ".0", "00"])
    assert PLAIN_DECIMAL_TEXT["decimal"]("-12.5")
    assert not PLAIN_DECIMAL_TEXT["non-negative-decimal"]("-0")  # valid, but judged by the full test


def verdict(engine: Any, account: Any) -> Any:
    """The decision's JSON, or the problems of the `AccountError` raised."""
    try:
        return engine.evaluate(account, as_of="2026-03-01T00:00:00Z").to_json()
    except AccountError as error:
        return [str(problem) for problem in error.problems]


class _Text(str):
    """A str subclass: valid for the schema, refused by `freeze_value`."""


SLOW_AND_FAST_CASES = [
    ("valid", {}),
    ("float-price", {"assets": [{"asset": "BTC", "quantity": "10", "price": 44000.5}]}),
    ("float-extra", {"note": {"deep": [1.5]}}),
    ("huge-extra", {"note": 10**70}),
    ("nan-extra", {"note": Decimal("NaN")}),
    ("text-subclass", {"account_id": _Text("a")}),
    ("missing-mode", {}),
    ("unknown-asset", {"assets": [{"asset": "XYZ", "quantity": "1", "price": "1"}]}),
    ("negative", {"liabilities": [{"asset": "USDC", "principal": "-1", "interest": "0", "price": "1"}]}),
    ("tuple-assets", {"assets": ({"asset": "BTC", "quantity": "10", "price": "44000"},)}),
]


@pytest.mark.parametrize(("name", "changes"), SLOW_AND_FAST_CASES, ids=[name for name, _ in SLOW_AND_FAST_CASES])
def test_the_engine_decides_the_same_before_and_after_compiling_the_reader(
    monkeypatch: pytest.MonkeyPatch, name: str, changes: dict[str, Any]
) -> None:
    """The first evaluations of a kind go through jsonschema and `freeze_value`; later ones through the
    compiled reader: the same decision, or the same problems, either way."""
    fast = policy_engine.load(POLICIES)
    slow = policy_engine.load(POLICIES)
    monkeypatch.setattr(slow, "_reader", lambda _kind, _product: None)
    fast._readers["spot-margin"] = MARGIN
    account = {**example("margin-a-regular.json"), **changes}
    if name == "missing-mode":
        del account["mode"]
    assert verdict(fast, account) == verdict(slow, account)
