"""Tests for `policy_engine._fastcheck`: the compiled yes/no validator agrees with jsonschema."""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema.protocols import Validator

import policy_engine
from policy_engine import AccountError
from policy_engine import engine as engine_module
from policy_engine._fastcheck import compile_check
from policy_engine.errors import JsonPath, format_json_path
from policy_engine.schema import _FORMAT_CHECKER, DecimalValidator, load_schema, schema_problems

from .conftest import AS_OF, EXAMPLES, POLICIES

ACCOUNT_SCHEMA = "spot-margin.account.schema.json"
fast_check = compile_check(load_schema(ACCOUNT_SCHEMA))


def slow_valid(account: object) -> bool:
    """The jsonschema verdict: valid when it reports no problems."""
    return not schema_problems(ACCOUNT_SCHEMA, account, file="a", locate=lambda _p, _k: (0, 0))


def verdicts(account: object) -> tuple[bool, bool]:
    """(fast verdict, jsonschema verdict) for one account."""
    return fast_check(account), slow_valid(account)


def valid_account() -> dict[str, Any]:
    """A small valid spot-margin account, fresh for each caller to mutate."""
    return {
        "kind": "spot-margin",
        "account_id": "user-a",
        "mode": "cross_classic",
        "leverage": 5,
        "assets": [{"asset": "BTC", "quantity": "10", "price": "44000"}],
        "liabilities": [{"asset": "USDC", "principal": "400000", "interest": "0", "price": "1"}],
        "execution_prices": {"BTC": "43000.5"},
    }


def _get(value: Any, path: JsonPath) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(path: JsonPath, value: object) -> dict[str, Any]:
    """The example account with the value at `path` set (added if the key is new)."""
    account = valid_account()
    _get(account, path[:-1])[path[-1]] = value
    return account


def _drop(path: JsonPath) -> dict[str, Any]:
    """The example account without the key at `path`."""
    account = valid_account()
    del _get(account, path[:-1])[path[-1]]
    return account


# --- strategies ------------------------------------------------------------------------

BOUND = Decimal(10) ** 12
NON_NEGATIVE_DECIMALS = st.decimals(min_value=0, max_value=BOUND, places=8, allow_nan=False, allow_infinity=False)
POSITIVE_DECIMALS = st.decimals(
    min_value=Decimal("0.00000001"),
    max_value=BOUND,
    places=8,
    allow_nan=False,
    allow_infinity=False,
)
NON_NEGATIVE = st.one_of(NON_NEGATIVE_DECIMALS.map(str), NON_NEGATIVE_DECIMALS, st.integers(0, 10**15))
POSITIVE = st.one_of(POSITIVE_DECIMALS.map(str), POSITIVE_DECIMALS, st.integers(1, 10**15))
SYMBOLS = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=5)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.text(max_size=5), NON_NEGATIVE_DECIMALS)
EXTRA_VALUES = st.one_of(
    JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2), st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=2)
)
EXTRA_KEYS = st.dictionaries(
    st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
        lambda key: key not in load_schema(ACCOUNT_SCHEMA)["properties"]
    ),
    EXTRA_VALUES,
    max_size=2,
)


@st.composite
def with_extra_keys(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """`base` plus a few keys the schema does not name (which it allows)."""
    value = draw(base)
    extra = draw(EXTRA_KEYS)
    return {**extra, **value}


ASSETS = with_extra_keys(st.fixed_dictionaries({"asset": SYMBOLS, "quantity": NON_NEGATIVE, "price": POSITIVE}))
LIABILITIES = with_extra_keys(
    st.fixed_dictionaries({"asset": SYMBOLS, "principal": NON_NEGATIVE, "interest": NON_NEGATIVE, "price": POSITIVE})
)


def accounts(min_items: int) -> st.SearchStrategy[dict[str, Any]]:
    """Valid accounts with at least `min_items` assets and liabilities, and some extra keys."""
    return with_extra_keys(
        st.fixed_dictionaries(
            {
                "kind": st.just("spot-margin"),
                "account_id": st.text(min_size=1, max_size=10),
                "mode": st.one_of(
                    st.sampled_from(["cross_classic", "isolated", "cross_pro"]),
                    st.text(min_size=1, max_size=10),
                ),
                "leverage": st.one_of(st.integers(1, 100), st.integers(1, 100).map(lambda n: Decimal(f"{n}.0"))),
                "assets": st.lists(ASSETS, min_size=min_items, max_size=3),
                "liabilities": st.lists(LIABILITIES, min_size=min_items, max_size=3),
            },
            optional={"execution_prices": st.dictionaries(SYMBOLS, POSITIVE, max_size=3)},
        )
    )


TRICKY_VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            1,
            -1,
            2,
            1.5,
            0.0,
            -0.0,
            10.0,
            Decimal(-1),
            Decimal(0),
            Decimal("-0"),
            Decimal("1.5"),
            Decimal("2.0"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            "",
            "abc",
            " 1",
            "1 ",
            "-1",
            "-0.5",
            "0",
            "-0",
            "0.0",
            "1e3",
            "1E-3",
            "NaN",
            "inf",
            "Infinity",
            "1_0",
            "0x10",
            "+1",
            "1.",
            ".5",
            "spot-margin",
            "BTC",
            "true",
            [],
            {},
            [1],
            {"asset": "BTC"},
        ]
    ),
    st.floats(),
    st.text(max_size=4),
    st.integers(-3, 3),
    st.decimals(places=2, min_value=-5, max_value=5),
)


NUMBER_EDGE_VALUES: list[object] = [
    0,
    "0",
    "-0",
    "0.00",
    Decimal(0),
    Decimal("-0"),
    -1,
    "-1",
    "-0.00000001",
    "0.00000001",
    Decimal("-2.5"),
    1.5,
    0.0,
    True,
    False,
    None,
    "abc",
    " 1",
    "1 ",
    "",
    "1_0",
    "NaN",
    Decimal("NaN"),
    "Infinity",
    "1e3",
    "+1",
    ".5",
    [],
    {},
    # plain decimal texts around the length the compiled check judges with one regular expression (61)
    "9" * 61,
    "9" * 62,
    "0" * 61,
    "0" * 70,
    "." + "0" * 59 + "1",
    "." + "0" * 60 + "1",
    "0." + "0" * 58 + "1",
    "0." + "0" * 59 + "1",
    "-" + "9" * 60,
    "-" + "9" * 61,
    "00",
    "0.",
    "000.000",
    "5.",
    "-.5",
    "1.2.3",
    "..5",
    ".",
    "-",
    "1e60",
    "1e61",
    "\u0661",
    "\uff11",
    "1\n",
    10**61 - 1,
    10**61,
    Decimal("1E+60"),
    Decimal("1E+61"),
]
LEVERAGE_EDGE_VALUES: list[object] = [
    0,
    1,
    -1,
    Decimal(0),
    Decimal("2.0"),
    Decimal("2.5"),
    Decimal("1E+1"),
    Decimal("NaN"),
    "5",
    5.0,
    True,
    False,
    None,
]
STRING_EDGE_VALUES: list[object] = [
    "",
    "x",
    " ",
    "spot-margin",
    "spot_margin",
    "Spot-Margin",
    0,
    1,
    None,
    True,
    [],
    {},
]
CONTAINER_EDGE_VALUES: list[object] = [
    [],
    {},
    "",
    "x",
    None,
    0,
    True,
    [1],
    ["BTC"],
    {"BTC": "1"},
    {"asset": "BTC"},
]
ALL_EDGE_VALUES = NUMBER_EDGE_VALUES + LEVERAGE_EDGE_VALUES + STRING_EDGE_VALUES + CONTAINER_EDGE_VALUES
NUMBER_EDGES = st.sampled_from(NUMBER_EDGE_VALUES)
LEVERAGE_EDGES = st.sampled_from(LEVERAGE_EDGE_VALUES)
STRING_EDGES = st.sampled_from(STRING_EDGE_VALUES)
CONTAINER_EDGES = st.sampled_from(CONTAINER_EDGE_VALUES)
FIELD_EDGE_VALUES: Mapping[str, list[object]] = {
    "quantity": NUMBER_EDGE_VALUES,
    "price": NUMBER_EDGE_VALUES,
    "principal": NUMBER_EDGE_VALUES,
    "interest": NUMBER_EDGE_VALUES,
    "leverage": LEVERAGE_EDGE_VALUES,
    "kind": STRING_EDGE_VALUES,
    "account_id": STRING_EDGE_VALUES,
    "mode": STRING_EDGE_VALUES,
    "asset": STRING_EDGE_VALUES,
    "assets": CONTAINER_EDGE_VALUES,
    "liabilities": CONTAINER_EDGE_VALUES,
    "execution_prices": CONTAINER_EDGE_VALUES,
    "BTC": NUMBER_EDGE_VALUES,
}
FIELD_EDGES: Mapping[str, st.SearchStrategy[object]] = {
    key: st.sampled_from(values) for key, values in FIELD_EDGE_VALUES.items()
}


def slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) for every value nested anywhere in `value`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield value, key
            yield from slots(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield value, index
            yield from slots(item)


def containers(value: Any) -> Iterator[Any]:
    """`value` and every dict and list nested in it."""
    if isinstance(value, dict | list):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from containers(item)


def label(account: dict[str, Any], container: Any, key: Any) -> str:
    """What the slot `container[key]` holds: a schema field, an item, an execution price, extra."""
    if container is account.get("execution_prices") and container is not None:
        return "execution-price"
    if isinstance(key, int):
        return "item"
    return key if key in FIELD_EDGES else "extra"


def edges_for(account: dict[str, Any], container: Any, key: Any) -> st.SearchStrategy[object]:
    """Values likely to sit on a validity boundary for the slot `container[key]`, mostly."""
    edges = {"execution-price": NUMBER_EDGES, "item": CONTAINER_EDGES, **FIELD_EDGES}.get(
        label(account, container, key), TRICKY_VALUES
    )
    return st.one_of(edges, edges, edges, TRICKY_VALUES)


@st.composite
def mutated_accounts(draw: st.DrawFn, max_edits: int) -> dict[str, Any]:
    """A valid account with 1 to `max_edits` random edits: replace, drop, add a key or an item."""
    account = draw(accounts(min_items=1))
    for _ in range(draw(st.integers(1, max_edits))):
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add", "append"]))
        if action in ("replace", "drop"):
            by_label: dict[str, list[tuple[Any, Any]]] = {}
            for slot in slots(account):
                if action == "replace" or isinstance(slot[0], dict):
                    by_label.setdefault(label(account, *slot), []).append(slot)
            if not by_label:
                continue
            chosen = draw(st.sampled_from(sorted(by_label)))
            container, key = draw(st.sampled_from(by_label[chosen]))
            if action == "drop":
                del container[key]
            else:
                container[key] = copy.deepcopy(draw(edges_for(account, container, key)))
            continue
        kind = dict if action == "add" else list
        targets = [c for c in containers(account) if isinstance(c, kind)]
        if not targets:
            continue
        target = draw(st.sampled_from(targets))
        if isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(sorted(FIELD_EDGES)), st.text(max_size=4)))
            target[key] = copy.deepcopy(draw(edges_for(account, target, key)))
        else:
            item = draw(st.one_of(CONTAINER_EDGES, TRICKY_VALUES, ASSETS, LIABILITIES))
            target.append(copy.deepcopy(item))
    return account


# --- property tests ---------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(account=accounts(min_items=0))
def test_generated_valid_accounts_pass_both_validators(account: dict[str, Any]) -> None:
    """Well-formed accounts (with extra keys, which are allowed) are valid for both validators."""
    assert verdicts(account) == (True, True)


def _same_verdict(account: dict[str, Any]) -> None:
    fast, slow = verdicts(account)
    assert fast == slow, schema_problems(ACCOUNT_SCHEMA, account, file="a", locate=lambda _p, _k: (0, 0))


@settings(max_examples=150, deadline=None)
@given(account=mutated_accounts(max_edits=1))
def test_fast_verdict_equals_jsonschema_verdict_after_one_edit(account: dict[str, Any]) -> None:
    """After one drop, wrong-typed or boundary value, or addition, both validators agree."""
    _same_verdict(account)


@settings(max_examples=60, deadline=None)
@given(account=mutated_accounts(max_edits=4))
def test_fast_verdict_equals_jsonschema_verdict_after_several_edits(
    account: dict[str, Any],
) -> None:
    """After up to four random edits, both validators still agree."""
    _same_verdict(account)


# --- exhaustive single edits of one example account ------------------------------------


def paths(value: Any, prefix: JsonPath = ()) -> Iterator[JsonPath]:
    """The path of every value nested in `value` (not `value` itself)."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, dict | list):
            yield from paths(item, (*prefix, key))


EXAMPLE_PATHS = list(paths(valid_account()))
DICT_PATHS: list[JsonPath] = [()] + [path for path in EXAMPLE_PATHS if isinstance(_get(valid_account(), path), dict)]


def _mismatches(edits: list[tuple[str, object]]) -> list[tuple[str, bool, bool]]:
    """The edits on which the two validators disagree, with both verdicts."""
    found = []
    for name, account in edits:
        fast, slow = verdicts(account)
        if fast != slow:
            found.append((name, fast, slow))
    return found


@pytest.mark.parametrize("path", EXAMPLE_PATHS, ids=format_json_path)
def test_every_edge_value_at_every_slot_gets_one_verdict(path: JsonPath) -> None:
    """Replacing or dropping any one value of the example with an edge value: both agree."""
    edits: list[tuple[str, object]] = [
        (f"set {value!r}", _set(path, copy.deepcopy(value))) for value in ALL_EDGE_VALUES
    ]
    if isinstance(path[-1], str):
        edits.append(("drop", _drop(path)))
    assert _mismatches(edits) == []


@pytest.mark.parametrize("path", DICT_PATHS, ids=format_json_path)
def test_every_added_key_gets_one_verdict(path: JsonPath) -> None:
    """Adding any schema key (or an unknown one) with its edge values to any object: both agree."""
    edits: list[tuple[str, object]] = [
        (f"add {key}={value!r}", _set((*path, key), copy.deepcopy(value)))
        for key, values in [*FIELD_EDGE_VALUES.items(), ("unknown", CONTAINER_EDGE_VALUES)]
        for value in values
    ]
    assert _mismatches(edits) == []


# --- targeted mutations -----------------------------------------------------------------

QUANTITY = ("assets", 0, "quantity")
PRICE = ("assets", 0, "price")
INTEREST = ("liabilities", 0, "interest")
EXECUTION = ("execution_prices", "BTC")

TARGETED: list[tuple[str, object, bool]] = [
    ("unchanged", valid_account(), True),
    ("drop-kind", _drop(("kind",)), False),
    ("drop-account-id", _drop(("account_id",)), False),
    ("drop-mode", _drop(("mode",)), False),
    ("drop-leverage", _drop(("leverage",)), False),
    ("drop-assets", _drop(("assets",)), False),
    ("drop-liabilities", _drop(("liabilities",)), False),
    ("drop-execution-prices", _drop(("execution_prices",)), True),
    ("drop-asset-symbol", _drop(("assets", 0, "asset")), False),
    ("drop-quantity", _drop(QUANTITY), False),
    ("drop-price", _drop(PRICE), False),
    ("drop-interest", _drop(INTEREST), False),
    ("wrong-kind", _set(("kind",), "spot"), False),
    ("empty-account-id", _set(("account_id",), ""), False),
    ("numeric-account-id", _set(("account_id",), 7), False),
    ("leverage-zero", _set(("leverage",), 0), False),
    ("leverage-string", _set(("leverage",), "5"), False),
    ("leverage-float", _set(("leverage",), 5.0), False),
    ("leverage-bool", _set(("leverage",), True), False),
    ("leverage-fraction", _set(("leverage",), Decimal("2.5")), False),
    ("leverage-integral-decimal", _set(("leverage",), Decimal("2.0")), True),
    ("assets-object", _set(("assets",), {}), False),
    ("assets-empty", _set(("assets",), []), True),
    ("asset-item-string", _set(("assets", 0), "BTC"), False),
    ("quantity-float", _set(QUANTITY, 10.0), False),
    ("quantity-bool", _set(QUANTITY, True), False),
    ("quantity-null", _set(QUANTITY, None), False),
    ("quantity-negative-string", _set(QUANTITY, "-1"), False),
    ("quantity-negative-number", _set(QUANTITY, -1), False),
    ("quantity-negative-decimal", _set(QUANTITY, Decimal("-0.01")), False),
    ("quantity-zero", _set(QUANTITY, "0"), True),
    ("quantity-minus-zero", _set(QUANTITY, "-0"), True),
    ("quantity-abc", _set(QUANTITY, "abc"), False),
    ("quantity-leading-space", _set(QUANTITY, " 1"), False),
    ("quantity-trailing-space", _set(QUANTITY, "1 "), False),
    ("quantity-underscore", _set(QUANTITY, "1_000"), False),
    ("quantity-nan-string", _set(QUANTITY, "NaN"), False),
    ("quantity-nan-decimal", _set(QUANTITY, Decimal("NaN")), False),
    ("quantity-infinity-string", _set(QUANTITY, "Infinity"), False),
    ("quantity-exponent", _set(QUANTITY, "1e3"), True),
    ("quantity-integer", _set(QUANTITY, 10), True),
    ("quantity-decimal", _set(QUANTITY, Decimal("10.5")), True),
    ("price-zero-string", _set(PRICE, "0"), False),
    ("price-zero-number", _set(PRICE, 0), False),
    ("price-zero-decimal", _set(PRICE, Decimal("0.000")), False),
    ("price-negative", _set(PRICE, "-44000"), False),
    ("price-tiny", _set(PRICE, "0.00000001"), True),
    ("price-float", _set(PRICE, 44000.0), False),
    ("price-bool", _set(PRICE, False), False),
    ("interest-negative", _set(INTEREST, "-0.1"), False),
    ("execution-price-zero", _set(EXECUTION, "0"), False),
    ("execution-price-abc", _set(EXECUTION, "abc"), False),
    ("execution-price-number", _set(EXECUTION, 43000), True),
    ("execution-prices-list", _set(("execution_prices",), []), False),
    ("extra-top-level-key", _set(("note",), {"any": ["thing", 1.5]}), True),
    ("extra-asset-key", _set(("assets", 0, "venue"), 1.5), True),
    ("extra-liability-key", _set(("liabilities", 0, "rate"), None), True),
    ("not-an-object", [], False),
]


@pytest.mark.parametrize(
    ("account", "expected"),
    [(account, expected) for _, account, expected in TARGETED],
    ids=[name for name, _, _ in TARGETED],
)
def test_targeted_mutations_get_the_expected_verdict_from_both(account: object, expected: bool) -> None:
    """Each listed mutation is judged the same, and as expected, by both validators."""
    assert verdicts(account) == (expected, expected)


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (MappingProxyType(valid_account()), False),
        (_set(("assets",), ({"asset": "BTC", "quantity": "1", "price": "1"},)), False),
    ],
    ids=["mapping-proxy-account", "tuple-of-assets"],
)
def test_non_json_containers_get_one_verdict(account: object, expected: bool) -> None:
    """A non-dict Mapping or a tuple is judged the same by both validators (jsonschema: invalid)."""
    assert verdicts(account) == (expected, expected)


# --- compile_check on small schemas ----------------------------------------------------------


def full_validator(schema: Mapping[str, Any] | bool) -> Validator:
    """jsonschema as the engine runs it: the package's DecimalValidator and format checker."""
    validator: Validator = DecimalValidator(schema, format_checker=_FORMAT_CHECKER)
    return validator


def test_property_names_with_quotes_and_newlines_are_checked_literally() -> None:
    """Property names are data, not code: quotes and newlines in them are matched exactly."""
    check = compile_check({"required": ["a'b\"c"], "properties": {"a'b\"c": {"type": "string"}, "x\ny": {"const": 1}}})
    verdict = [check({"a'b\"c": "s"}), check({"a'b\"c": 1}), check({}), check({"a'b\"c": "s", "x\ny": 2})]
    assert verdict == [True, False, False, False]


@pytest.mark.parametrize("name", ["spot-margin.account.schema.json", "crypto-loan.account.schema.json"])
def test_the_bundled_account_schemas_compile_to_one_flat_function(name: str) -> None:
    """The bundled account schemas are compiled whole: no jsonschema fallback and no helper function."""
    check = compile_check(load_schema(name))
    assert check.fallbacks == 0
    assert "_jsonschema" not in check.source
    assert check.source.count("def ") == 1


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"title": "t", "description": "d", "$comment": "c", "examples": [1], "default": 1}, object(), True),
        ({"const": 1}, True, False),
        ({"const": 1}, Decimal("1.0"), True),
        ({"const": True}, 1, False),
        ({"const": {"a": [1, Decimal("2.0")]}}, {"a": [Decimal(1), 2]}, True),
        ({"const": [1]}, [True], False),
        ({"enum": ["a", 2]}, Decimal(2), True),
        ({"enum": ["a", 2]}, "b", False),
        ({"enum": ["a", "b"]}, ["a"], False),
        ({"type": ["string", "null"]}, None, True),
        ({"type": "number"}, 1.5, False),
        ({"type": "number"}, Decimal("Infinity"), False),
        ({"type": "integer"}, Decimal("3.0"), True),
        ({"minimum": 1}, Decimal("0.99"), False),
        ({"minimum": 1}, "not a number", True),
        ({"exclusiveMinimum": 0}, 0, False),
        ({"exclusiveMinimum": 0}, Decimal("0.01"), True),
        ({"maximum": 3}, Decimal("3.0"), True),
        ({"maximum": 3}, Decimal("3.01"), False),
        ({"maximum": 0}, True, True),
        ({"exclusiveMaximum": 3}, 3, False),
        ({"exclusiveMaximum": 3}, Decimal("2.99"), True),
        ({"minimum": 0.1}, Decimal("0.1"), False),
        ({"minLength": 2}, "a", False),
        ({"maxLength": 2}, "abc", False),
        ({"maxLength": 2}, "ab", True),
        ({"maxLength": 2}, ["a", "b", "c"], True),
        ({"pattern": "b"}, "abc", True),
        ({"pattern": "^b"}, "abc", False),
        ({"pattern": "^b"}, 5, True),
        ({"minItems": 1}, [], False),
        ({"maxItems": 1}, [1, 2], False),
        ({"maxItems": 1}, "ab", True),
        ({"minProperties": 1}, {}, False),
        ({"maxProperties": 1}, {"a": 1, "b": 2}, False),
        ({"required": ["a"]}, {"b": 1}, False),
        ({"required": ["a"]}, [], True),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"b": 1}, False),
        ({"additionalProperties": {"type": "string"}}, {"b": 1}, False),
        ({"additionalProperties": {"type": "string"}}, {"b": "x"}, True),
        ({"items": {"type": "string"}}, ["a", 1], False),
        ({"if": {"type": "string"}, "then": {"minLength": 2}}, "a", False),
        ({"if": {"type": "string"}, "then": {"minLength": 2}}, 1, True),
        ({"if": {"type": "string"}, "else": {"minimum": 2}}, 1, False),
        ({"then": {"type": "string"}, "else": False}, 1, True),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 1, False),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, -1, True),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, None, True),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, 1, False),
        ({"allOf": [{"minimum": 1}, {"maximum": 2}]}, 3, False),
        ({"not": {"type": "string"}}, "a", False),
        ({"format": "positive-decimal"}, "0", False),
        ({"format": "non-negative-decimal"}, True, True),
        ({"format": "no-such-format", "minimun": 5}, 1, True),
    ],
    ids=[
        "annotations-only",
        "const-bool-is-not-one",
        "const-decimal-equals-int",
        "const-one-is-not-true",
        "const-nested-numbers",
        "const-nested-bool-is-not-one",
        "enum-number",
        "enum-miss",
        "enum-of-strings-array",
        "type-list",
        "float-is-not-a-number",
        "infinity-is-not-a-number",
        "integral-decimal",
        "below-minimum",
        "minimum-ignores-strings",
        "exclusive-minimum",
        "above-exclusive-minimum",
        "maximum-inclusive",
        "above-maximum",
        "maximum-ignores-booleans",
        "exclusive-maximum",
        "below-exclusive-maximum",
        "float-bound-compared-exactly",
        "min-length",
        "max-length",
        "max-length-ok",
        "max-length-ignores-arrays",
        "pattern-searches",
        "pattern-anchored",
        "pattern-ignores-numbers",
        "min-items",
        "max-items",
        "max-items-ignores-strings",
        "min-properties",
        "max-properties",
        "required",
        "required-ignores-non-objects",
        "no-additional-properties",
        "additional-properties-schema",
        "additional-properties-ok",
        "items",
        "if-then",
        "if-then-not-taken",
        "if-else",
        "then-else-without-if-ignored",
        "one-of-both",
        "one-of-exactly-one",
        "any-of-match",
        "any-of-none",
        "all-of",
        "not",
        "format-positive",
        "format-ignores-booleans",
        "unknown-format-and-keyword-ignored",
    ],
)
def test_compile_check_keyword_semantics(schema: Mapping[str, Any], value: Any, expected: bool) -> None:
    """Each compiled keyword follows JSON Schema with this package's number model, as jsonschema does."""
    check = compile_check(schema)
    assert check.fallbacks == 0
    assert (check(value), full_validator(schema).is_valid(value)) == (expected, expected)


# --- new keywords and fallbacks: both validators on a table of schemas -----------------------


class SchemaCase(NamedTuple):
    """A schema, how many of its subschemas are left to jsonschema, and values on each side."""

    schema: Mapping[str, Any]
    fallbacks: int
    valid: list[Any]
    invalid: list[Any]


SCHEMA_CASES: dict[str, SchemaCase] = {
    "maximum": SchemaCase(
        {"maximum": 5}, 0, [5, Decimal("5.0"), Decimal("-2.5"), "9", True, None], [6, Decimal("5.1")]
    ),
    "exclusive-bounds": SchemaCase(
        {"exclusiveMinimum": 0, "exclusiveMaximum": Decimal("2.5")},
        0,
        [1, Decimal("2.4"), "0"],
        [0, Decimal("2.5"), 3, Decimal("-0.1")],
    ),
    "float-bounds": SchemaCase(
        {"minimum": 0.5, "maximum": 10.5}, 0, [Decimal("0.5"), 10, Decimal("10.5")], [0, Decimal("10.6"), 11]
    ),
    "integer-range": SchemaCase(
        {"type": "integer", "minimum": 1, "maximum": 3}, 0, [1, Decimal("3.0")], [0, 4, Decimal("1.5"), "2", True]
    ),
    "string": SchemaCase(
        {"type": "string", "minLength": 1, "maxLength": 3, "pattern": "^a"},
        0,
        ["a", "abc"],
        ["", "abcd", "ba", 1, None],
    ),
    "untyped-string-keywords": SchemaCase(
        {"maxLength": 2, "pattern": "1"}, 0, ["a1", 100, [1, 2, 3], None], ["ab", "a11"]
    ),
    "array": SchemaCase(
        {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "maximum": 9}},
        0,
        [[1], [9, 0]],
        [[], [1, 2, 3], [10], ["a"], {}],
    ),
    "untyped-sizes": SchemaCase(
        {"minItems": 2, "maxItems": 3, "minProperties": 1, "maxProperties": 2},
        0,
        ["x", [1, 2], {"a": 1}, None],
        [[1], [1, 2, 3, 4], {}, {"a": 1, "b": 2, "c": 3}],
    ),
    "if-then-else": SchemaCase(
        {
            "if": {"required": ["kind"], "properties": {"kind": {"const": "a"}}},
            "then": {"required": ["a"]},
            "else": {"properties": {"a": {"type": "string"}}},
        },
        0,
        [{"kind": "a", "a": 1}, {"a": "x"}, {"kind": "b", "a": "y"}, 5],
        [{"kind": "a"}, {"a": 1}, {"kind": "b", "a": 1}],
    ),
    "if-then": SchemaCase(
        {"if": {"type": "integer"}, "then": {"minimum": 2}}, 0, [2, "a", Decimal("1.5")], [1, Decimal("1.0")]
    ),
    "if-else": SchemaCase(
        {"if": {"type": "integer"}, "else": {"type": "string"}}, 0, [1, "a"], [Decimal("1.5"), None, []]
    ),
    "one-of": SchemaCase(
        {"oneOf": [{"type": "integer"}, {"minimum": 2}, {"type": "string", "maxLength": 1}]},
        0,
        [1, Decimal("2.5"), "ab", None],
        [3, "a", Decimal("1.5")],
    ),
    "any-of": SchemaCase(
        {"anyOf": [{"type": "string", "pattern": "^a"}, {"type": "integer", "exclusiveMaximum": 0}]},
        0,
        ["ab", -1],
        ["b", 0, None, Decimal("-0.5")],
    ),
    "all-of": SchemaCase(
        {"allOf": [{"type": "object"}, {"required": ["a"]}, {"properties": {"a": {"enum": [1, "a", None]}}}]},
        0,
        [{"a": 1}, {"a": Decimal("1.0")}, {"a": None, "b": 2}],
        [{}, {"a": True}, {"a": 2}, [1]],
    ),
    "not": SchemaCase(
        {"properties": {"a": {"not": {"enum": ["a", 1]}}}, "additionalProperties": {"not": {"type": "null"}}},
        0,
        [{"a": "b"}, {"a": None}, {"b": 0}],
        [{"a": "a"}, {"a": Decimal("1.0")}, {"b": None}],
    ),
    "boolean-subschemas": SchemaCase(
        {
            "properties": {
                "a": {"anyOf": [False, {"type": "null"}]},
                "b": {"oneOf": [True, {"type": "string"}]},
                "c": {"not": True},
                "kind": {"allOf": [True, False]},
                "e": {"if": False, "then": False, "else": {"type": "integer"}},
            }
        },
        0,
        [{"a": None, "b": 1}, {"e": 3}],
        [{"a": 1}, {"b": "x"}, {"c": 1}, {"kind": 1}, {"e": "x"}],
    ),
    "refs-in-compositions": SchemaCase(
        {
            "$defs": {
                "small": {"type": "integer", "maximum": 3},
                "text": {"$ref": "#/$defs/short"},
                "short": {"type": "string", "maxLength": 2},
            },
            "items": {"oneOf": [{"$ref": "#/$defs/small"}, {"$ref": "#/$defs/text"}]},
            "not": {"$ref": "#/$defs/small"},
        },
        0,
        [[1, "ab"], "x", []],
        [[4], ["abc"], 2],
    ),
    "nested-compositions": SchemaCase(
        {
            "anyOf": [
                {"oneOf": [{"minimum": 5}, {"maximum": 7}]},
                {"not": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
            ]
        },
        0,
        [3, 8, None, Decimal("6.5")],
        [6, "a"],
    ),
    "const-enum-containers": SchemaCase(
        {"properties": {"a": {"const": [1, {"b": True}]}, "b": {"enum": [0, "a", [None], {"a": 1}]}}},
        0,
        [{"a": [Decimal("1.0"), {"b": True}]}, {"b": Decimal(0)}, {"b": {"a": Decimal("1")}}],
        [{"a": [True, {"b": True}]}, {"a": [1, {"b": 1}]}, {"b": False}, {"b": [0]}],
    ),
    "ignored-keywords": SchemaCase(
        {
            "type": "integer",
            "title": "t",
            "minimun": 5,
            "then": {"type": "string"},
            "$anchor": "n",
            "format": "no-such-format",
            "$comment": "c",
            "else": False,
        },
        0,
        [1, 0],
        ["a"],
    ),
    "formats": SchemaCase(
        {"properties": {"a": {"format": "positive-decimal"}, "b": {"format": "decimal"}, "c": {"format": "instant"}}},
        0,
        [{"a": "1"}, {"c": "2026-01-31"}, {"b": 1}],
        [{"a": "0"}, {"b": "x"}, {"c": "2026"}],
    ),
    # Fallbacks: the subschema using a keyword the generator does not implement goes to jsonschema.
    "fallback-unique-items-with-ref": SchemaCase(
        {
            "$defs": {"pos": {"type": "integer", "minimum": 1}},
            "properties": {
                "a": {"uniqueItems": True, "items": {"$ref": "#/$defs/pos"}},
                "b": {"type": "string", "maxLength": 2},
            },
        },
        1,
        [{"a": [1, 2], "b": "ab"}, {}],
        [{"a": [1, 1]}, {"a": [0]}, {"a": [Decimal("1.5")]}, {"b": "abc"}],
    ),
    "fallback-pattern-properties-at-the-root": SchemaCase(
        {"type": "object", "patternProperties": {"^a": {"type": "integer"}}, "additionalProperties": False},
        1,
        [{"a": 1, "ab": 2}, {}],
        [{"b": 1}, {"a": "x"}, []],
    ),
    "fallback-dependent-required-beside-compiled-property-names": SchemaCase(
        {
            "required": ["a"],
            "properties": {
                "a": {"dependentRequired": {"b": ["c"]}},
                "c": {"propertyNames": {"maxLength": 1}},
            },
        },
        1,
        [{"a": {"b": 1, "c": 2}, "c": {"x": 1}}, {"a": 1}, {"a": 1, "c": "not an object"}],
        [{"a": {"b": 1}}, {"a": {}, "c": {"xy": 1}}, {}],
    ),
    "property-names-with-refs-patterns-and-enums": SchemaCase(
        {
            "$defs": {"symbol": {"type": "string", "pattern": "^[A-Z]+$"}},
            "properties": {
                "assets": {"type": "object", "propertyNames": {"$ref": "#/$defs/symbol"}},
                "modes": {"propertyNames": {"enum": ["a", "b"]}, "additionalProperties": {"type": "integer"}},
                "never": {"propertyNames": False},
                "any": {"propertyNames": True},
            },
        },
        0,
        [{"assets": {"BTC": 1, "ETH": {}}, "modes": {"a": 1}}, {"never": {}}, {"any": {"x": 1}}, {"modes": []}],
        [{"assets": {"btc": 1}}, {"assets": {"BTC": 1, "": 2}}, {"modes": {"c": 1}}, {"never": {"x": 1}}],
    ),
    "fallback-contains-and-prefix-items-in-any-of": SchemaCase(
        {
            "$defs": {"negative": {"type": "number", "exclusiveMaximum": 0}},
            "type": "array",
            "items": {
                "anyOf": [
                    {"prefixItems": [{"const": "a"}], "items": False},
                    {"contains": {"$ref": "#/$defs/negative"}},
                ]
            },
        },
        2,
        [[1, ["a"], [], [5, -1]]],
        [[["b"]], [["a", 1]], [[1, 2]], "a"],
    ),
    "fallback-unevaluated-properties": SchemaCase(
        {"properties": {"a": {"allOf": [{"properties": {"b": {}}}], "unevaluatedProperties": False}}},
        1,
        [{"a": {"b": 1}}, {"a": 1}],
        [{"a": {"c": 1}}],
    ),
    "fallback-recursive-ref": SchemaCase(
        {
            "$defs": {"node": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/node"}}},
            "$ref": "#/$defs/node",
        },
        1,
        [[], [[], [[]]]],
        [[[1]], [[], [], []], [[[], [], []]], 1],
    ),
    "fallback-multiple-of": SchemaCase(
        {"properties": {"a": {"multipleOf": 2, "maximum": 10}}},
        1,
        [{"a": 4}, {"a": Decimal("6.0")}, {"a": "3"}],
        [{"a": 3}, {"a": 12}, {"a": Decimal("2.5")}],
    ),
    "fallback-with-nested-ids": SchemaCase(
        {
            "$id": "https://example.invalid/root.json",
            "$defs": {"limit": {"minimum": 100}},
            "properties": {
                "a": {
                    "$id": "a.json",
                    "$defs": {"limit": {"minimum": 1}},
                    "uniqueItems": True,
                    "items": {"$ref": "#/$defs/limit"},
                },
                "b": {"$id": "b.json", "$defs": {"limit": {"maximum": 1}}, "items": {"$ref": "#/$defs/limit"}},
                "c": {"$ref": "#/$defs/limit"},
            },
        },
        1,
        [{"a": [1, 2], "b": [0, 1], "c": 100}],
        [{"a": [0]}, {"a": [1, 1]}, {"b": [2]}, {"c": 99}],
    ),
    "fallback-nested-dialect": SchemaCase(
        {"properties": {"a": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "number"}}},
        1,
        [{"a": 1}, {"a": 1.5}],
        [{"a": "1"}],
    ),
    "fallback-one-of-branch-with-id": SchemaCase(
        {"oneOf": [{"$id": "x.json", "type": "integer"}, {"minimum": 2}]},
        1,
        [1, Decimal("2.5")],
        [3],
    ),
}
CASE_CHECKS = {name: (compile_check(case.schema), full_validator(case.schema)) for name, case in SCHEMA_CASES.items()}


@pytest.mark.parametrize("name", SCHEMA_CASES)
def test_each_schema_falls_back_only_where_it_must(name: str) -> None:
    """Schemas with compiled keywords only use no jsonschema; the others hand it just the listed subschemas."""
    check, _ = CASE_CHECKS[name]
    assert check.fallbacks == SCHEMA_CASES[name].fallbacks
    assert check.source.count("_jsonschema") == SCHEMA_CASES[name].fallbacks


@pytest.mark.parametrize("name", SCHEMA_CASES)
def test_each_schema_judges_its_examples_like_jsonschema(name: str) -> None:
    """Every listed valid value passes and every listed invalid value fails, for both validators."""
    check, full = CASE_CHECKS[name]
    case = SCHEMA_CASES[name]
    assert [(value, check(value), full.is_valid(value)) for value in case.valid] == [
        (value, True, True) for value in case.valid
    ]
    assert [(value, check(value), full.is_valid(value)) for value in case.invalid] == [
        (value, False, False) for value in case.invalid
    ]


JSON_KEYS = st.one_of(st.sampled_from(["a", "b", "c", "e", "kind"]), st.text(alphabet="abc", max_size=2))
JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.decimals(min_value=-3, max_value=12, places=1, allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-0"), Decimal("2.50"), 0.5, 2.0]),
    st.sampled_from(["", "a", "ab", "abc", "b1", "1", "0", "-1", "x.json", "2026-01-31", "2026"]),
    st.text(alphabet="ab1-", max_size=5),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(JSON_KEYS, inner, max_size=4)),
    max_leaves=12,
)


def outcome(judge: Callable[[Any], bool], value: object) -> bool | str:
    """The verdict, or the exception raised (jsonschema's `uniqueItems` cannot sort Decimal NaN, say)."""
    try:
        return judge(value)
    except Exception as error:  # the exception is the outcome being compared
        return type(error).__name__


@settings(max_examples=150, deadline=None)
@given(value=JSON_VALUES)
def test_fast_verdict_equals_jsonschema_verdict_for_every_schema(value: Any) -> None:
    """On generated JSON-like values (ints, Decimals, strings, booleans, null, arrays, objects),
    every schema of the table gets the same verdict from the fast check as from jsonschema."""
    both = {name: (outcome(check, value), outcome(full.is_valid, value)) for name, (check, full) in CASE_CHECKS.items()}
    assert [(name, fast, slow) for name, (fast, slow) in both.items() if fast != slow] == []


@settings(max_examples=60, deadline=None)
@given(expected=JSON_VALUES, value=JSON_VALUES, swap=st.booleans())
def test_const_and_enum_use_jsonschema_equality(expected: Any, value: Any, swap: bool) -> None:
    """`const` and `enum` compare as jsonschema does: 1 equals 1.0 but not true, also inside arrays and objects."""
    if swap:
        value = json.loads(json.dumps(expected, default=str), parse_float=Decimal, parse_int=Decimal)
    for schema in ({"const": expected}, {"enum": [value, expected]}, {"enum": [expected]}):
        assert compile_check(schema)(value) == full_validator(schema).is_valid(value)


def test_a_schema_of_fallback_keywords_only_still_compiles() -> None:
    """A schema made only of keywords the generator does not implement compiles to one jsonschema call."""
    schema = {
        "uniqueItems": True,
        "prefixItems": [{"type": "integer"}],
        "contains": {"type": "string"},
        "dependentRequired": {"a": ["b"]},
        "patternProperties": {"^x": {"type": "null"}},
    }
    check = compile_check(schema)
    assert check.fallbacks == 1
    verdicts_ = [
        check([1, "a"]),
        check(["a"]),
        check([1, 1]),
        check({"a": 1, "b": 2}),
        check({"a": 1}),
        check({"x": None}),
        check({"x": 0}),
    ]
    assert verdicts_ == [True, False, False, True, False, True, False]


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "https://example.invalid/other.json"},
        {"properties": {"a": {"$ref": "#/$defs/missing"}}},
        {"items": {"$ref": "other.json#/x"}, "type": "array"},
    ],
    ids=["remote-ref", "dangling-ref", "relative-document-ref"],
)
def test_references_jsonschema_resolves_at_validation_time_do_not_break_compiling(
    schema: dict[str, Any],
) -> None:
    """A reference the generator cannot expand is left to jsonschema instead of failing the compile."""
    check = compile_check(schema)
    assert check.fallbacks == 1


def test_references_that_multiply_are_expanded_only_up_to_a_limit() -> None:
    """A chain of definitions each using the next one twice (2**11 uses of the last) compiles to bounded
    code: past the expansion limit the remaining references are left to jsonschema."""
    depth = 11
    defs: dict[str, Any] = {
        f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(depth)
    }
    defs[f"d{depth}"] = {"maximum": 3}
    check = compile_check({"$defs": defs, "properties": {"a": {"$ref": "#/$defs/d0"}}})
    assert 0 < check.fallbacks < 2**depth
    assert check.source.count("\n") < 2**depth
    assert [check({"a": 3}), check({"a": 4}), check({"a": "x"})] == [True, False, True]


# --- the bundled account schema, extended ----------------------------------------------------


def extended_account_schema(*, fallbacks: bool) -> dict[str, Any]:
    """The spot-margin account schema plus newly compiled keywords (and, if asked, fallback ones)."""
    schema = copy.deepcopy(load_schema(ACCOUNT_SCHEMA))
    properties = schema["properties"]
    properties["account_id"]["maxLength"] = 8
    properties["leverage"]["maximum"] = 50
    properties["assets"]["maxItems"] = 2
    properties["liabilities"]["minItems"] = 1
    properties["execution_prices"]["not"] = {"minProperties": 3}
    properties["assets"]["items"]["anyOf"] = [
        {"properties": {"asset": {"maxLength": 3}}},
        {"properties": {"quantity": {"type": "string", "pattern": "^[0-9]+$"}}},
    ]
    schema["if"] = {"properties": {"mode": {"const": "isolated"}}}
    schema["then"] = {"properties": {"leverage": {"exclusiveMaximum": 10}}}
    schema["else"] = {"properties": {"mode": {"pattern": "^cross_"}}}
    schema["oneOf"] = [
        {"properties": {"leverage": {"maximum": 10}}},
        {"properties": {"leverage": {"exclusiveMinimum": 19}}},
    ]
    if fallbacks:
        properties["execution_prices"]["patternProperties"] = {"^LONG": {"maxLength": 4}}
        properties["liabilities"]["items"]["dependentRequired"] = {"rate": ["interest"]}
        properties["assets"]["uniqueItems"] = True
    return schema


EXTENDED = {flag: extended_account_schema(fallbacks=flag) for flag in (False, True)}
EXTENDED_CHECKS = {flag: (compile_check(schema), full_validator(schema)) for flag, schema in EXTENDED.items()}


def test_the_extended_account_schema_compiles_and_falls_back_per_subschema() -> None:
    """New keywords are compiled; the three subschemas with fallback keywords (whose `$ref`s to
    `#/$defs/...` resolve against the root) go to jsonschema, and the root stays compiled."""
    compiled, _ = EXTENDED_CHECKS[False]
    mixed, _ = EXTENDED_CHECKS[True]
    assert compiled.fallbacks == 0
    assert mixed.fallbacks == 3
    assert "if 'kind' not in v0: return False" in mixed.source
    account = valid_account()
    assert (compiled(account), mixed(account)) == (True, True)
    account["assets"].append(copy.deepcopy(account["assets"][0]))
    account["execution_prices"]["LONGER"] = "1"
    assert (compiled(account), mixed(account)) == (True, False)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda a: a, True),
        (lambda a: a.update(leverage=51), False),
        (lambda a: a.update(leverage=15), False),
        (lambda a: a.update(leverage=20), True),
        (lambda a: a.update(mode="isolated"), True),
        (lambda a: a.update(mode="isolated", leverage=10), False),
        (lambda a: a.update(mode="portfolio"), False),
        (lambda a: a.update(account_id="user-abcd"), False),
        (lambda a: a.update(liabilities=[]), False),
        (lambda a: a["assets"].extend([a["assets"][0]] * 2), False),
        (lambda a: a["assets"][0].update(asset="USDC", quantity=10), False),
        (lambda a: a["assets"][0].update(asset="USDC", quantity="10"), True),
        (lambda a: a["execution_prices"].update(ETH="1", SOL="2"), False),
    ],
    ids=[
        "unchanged",
        "above-maximum",
        "one-of-neither",
        "one-of-second",
        "isolated",
        "isolated-too-high",
        "pattern",
        "max-length",
        "min-items",
        "max-items",
        "any-of-neither",
        "any-of-second",
        "not",
    ],
)
def test_the_extended_account_schema_judges_targeted_edits_like_jsonschema(
    edit: Callable[[dict[str, Any]], object], expected: bool
) -> None:
    """Each new keyword on the account schema rejects (or lets through) its edit, for both validators."""
    account = valid_account()
    edit(account)
    for check, full in EXTENDED_CHECKS.values():
        assert (check(account), full.is_valid(account)) == (expected, expected)


@settings(max_examples=60, deadline=None)
@given(account=st.one_of(accounts(min_items=0), mutated_accounts(max_edits=3)))
def test_extended_account_schema_verdicts_equal_jsonschema(account: dict[str, Any]) -> None:
    """On generated and edited accounts, both extended schemas get jsonschema's verdict."""
    assert [check(account) == full.is_valid(account) for check, full in EXTENDED_CHECKS.values()] == [True, True]


def test_an_engine_compiles_an_extended_account_schema_and_evaluates_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine compiles an account schema using `maximum`, `pattern`, `if`/`then`/`else`, `oneOf` and
    fallback keywords (at the kind's `_COMPILE_AT_USE`-th evaluation), and evaluates with it: an account it
    rejects is refused."""
    requested: list[object] = []

    def extended(name: object) -> dict[str, Any]:
        requested.append(name)
        return EXTENDED[True] if str(name).endswith(ACCOUNT_SCHEMA) else load_schema(str(name))

    monkeypatch.setattr(engine_module, "load_schema", extended)
    engine = policy_engine.load(POLICIES)
    account = json.loads((EXAMPLES / "margin-a-regular.json").read_text(), parse_float=Decimal)
    for _ in range(engine_module._COMPILE_AT_USE):
        assert engine.evaluate(account, as_of=AS_OF).outcome
    assert any(str(name).endswith(ACCOUNT_SCHEMA) for name in requested)
    account["leverage"] = 60  # only the extended schema's `maximum` refuses this
    with pytest.raises(AccountError):
        engine.evaluate(account, as_of=AS_OF)
