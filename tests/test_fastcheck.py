"""Tests for `policy_engine._fastcheck`: the compiled yes/no validator agrees with jsonschema."""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine._fastcheck import compile_check
from policy_engine.errors import JsonPath, format_json_path
from policy_engine.schema import load_schema, schema_problems

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
NON_NEGATIVE_DECIMALS = st.decimals(
    min_value=0, max_value=BOUND, places=8, allow_nan=False, allow_infinity=False
)
POSITIVE_DECIMALS = st.decimals(
    min_value=Decimal("0.00000001"), max_value=BOUND, places=8, allow_nan=False,
    allow_infinity=False,
)
NON_NEGATIVE = st.one_of(
    NON_NEGATIVE_DECIMALS.map(str), NON_NEGATIVE_DECIMALS, st.integers(0, 10**15)
)
POSITIVE = st.one_of(POSITIVE_DECIMALS.map(str), POSITIVE_DECIMALS, st.integers(1, 10**15))
SYMBOLS = st.text(alphabet=string.ascii_uppercase, min_size=1, max_size=5)
JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10), st.text(max_size=5), NON_NEGATIVE_DECIMALS
)
EXTRA_VALUES = st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2),
                         st.dictionaries(st.text(max_size=3), JSON_SCALARS, max_size=2))
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


ASSETS = with_extra_keys(
    st.fixed_dictionaries({"asset": SYMBOLS, "quantity": NON_NEGATIVE, "price": POSITIVE})
)
LIABILITIES = with_extra_keys(
    st.fixed_dictionaries(
        {"asset": SYMBOLS, "principal": NON_NEGATIVE, "interest": NON_NEGATIVE, "price": POSITIVE}
    )
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
                "leverage": st.one_of(
                    st.integers(1, 100), st.integers(1, 100).map(lambda n: Decimal(f"{n}.0"))
                ),
                "assets": st.lists(ASSETS, min_size=min_items, max_size=3),
                "liabilities": st.lists(LIABILITIES, min_size=min_items, max_size=3),
            },
            optional={"execution_prices": st.dictionaries(SYMBOLS, POSITIVE, max_size=3)},
        )
    )


TRICKY_VALUES = st.one_of(
    st.sampled_from(
        [
            None, True, False, 0, 1, -1, 2, 1.5, 0.0, -0.0, 10.0,
            Decimal(-1), Decimal(0), Decimal("-0"), Decimal("1.5"), Decimal("2.0"),
            Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"),
            "", "abc", " 1", "1 ", "-1", "-0.5", "0", "-0", "0.0", "1e3", "1E-3", "NaN", "inf",
            "Infinity", "1_0", "0x10", "+1", "1.", ".5", "spot-margin", "BTC", "true",
            [], {}, [1], {"asset": "BTC"},
        ]
    ),
    st.floats(),
    st.text(max_size=4),
    st.integers(-3, 3),
    st.decimals(places=2, min_value=-5, max_value=5),
)


NUMBER_EDGE_VALUES: list[object] = [
    0, "0", "-0", "0.00", Decimal(0), Decimal("-0"), -1, "-1", "-0.00000001", "0.00000001",
    Decimal("-2.5"), 1.5, 0.0, True, False, None, "abc", " 1", "1 ", "", "1_0", "NaN",
    Decimal("NaN"), "Infinity", "1e3", "+1", ".5", [], {},
]
LEVERAGE_EDGE_VALUES: list[object] = [
    0, 1, -1, Decimal(0), Decimal("2.0"), Decimal("2.5"), Decimal("1E+1"), Decimal("NaN"),
    "5", 5.0, True, False, None,
]
STRING_EDGE_VALUES: list[object] = [
    "", "x", " ", "spot-margin", "spot_margin", "Spot-Margin", 0, 1, None, True, [], {},
]
CONTAINER_EDGE_VALUES: list[object] = [
    [], {}, "", "x", None, 0, True, [1], ["BTC"], {"BTC": "1"}, {"asset": "BTC"},
]
ALL_EDGE_VALUES = (
    NUMBER_EDGE_VALUES + LEVERAGE_EDGE_VALUES + STRING_EDGE_VALUES + CONTAINER_EDGE_VALUES
)
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
    assert fast == slow, schema_problems(
        ACCOUNT_SCHEMA, account, file="a", locate=lambda _p, _k: (0, 0)
    )


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
DICT_PATHS: list[JsonPath] = [()] + [
    path for path in EXAMPLE_PATHS if isinstance(_get(valid_account(), path), dict)
]


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
def test_targeted_mutations_get_the_expected_verdict_from_both(
    account: object, expected: bool
) -> None:
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


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "string", "pattern": "^a"}, "the fast validator does not implement ['pattern']"),
        ({"properties": {"a": {"maxLength": 3}}},
         "the fast validator does not implement ['maxLength']"),
        ({"items": {"oneOf": [{"type": "string"}], "maximum": 3}},
         "the fast validator does not implement ['maximum', 'oneOf']"),
        ({"$defs": {"x": {"pattern": "y"}}, "$ref": "#/$defs/x"},
         "the fast validator does not implement ['pattern']"),
        ({"$ref": "https://example.invalid/other.json"},
         "only local $defs references are supported, got https://example.invalid/other.json"),
    ],
    ids=["pattern", "nested-max-length", "sorted-names", "behind-ref", "remote-ref"],
)
def test_compile_check_refuses_unsupported_keywords(schema: dict[str, Any], message: str) -> None:
    """A keyword the fast validator does not implement is an error at compile time, not skipped."""
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        compile_check(schema)
    assert str(raised.value) == message


def test_compile_check_refuses_a_recursive_reference_cleanly() -> None:
    """A self-referencing `$ref` is refused with a ValueError, not a RecursionError or a skipped check."""
    schema = {"$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}
    message = "recursive $ref #/$defs/node is not supported: references are expanded inline"
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        compile_check(schema)
    assert str(raised.value) == message


def test_property_names_with_quotes_and_newlines_are_checked_literally() -> None:
    """Property names are data, not code: quotes and newlines in them are matched exactly."""
    check = compile_check(
        {"required": ["a'b\"c"], "properties": {"a'b\"c": {"type": "string"}, "x\ny": {"const": 1}}}
    )
    verdict = [check({"a'b\"c": "s"}), check({"a'b\"c": 1}), check({}), check({"a'b\"c": "s", "x\ny": 2})]
    assert verdict == [True, False, False, False]


def test_compile_check_accepts_the_bundled_account_schema() -> None:
    """The bundled account schema uses only implemented keywords."""
    assert callable(compile_check(load_schema(ACCOUNT_SCHEMA)))


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        ({"title": "t", "description": "d", "$comment": "c", "examples": [1], "default": 1},
         object(), True),
        ({"const": 1}, True, False),
        ({"const": 1}, Decimal("1.0"), True),
        ({"const": True}, 1, False),
        ({"enum": ["a", 2]}, Decimal(2), True),
        ({"enum": ["a", 2]}, "b", False),
        ({"type": ["string", "null"]}, None, True),
        ({"type": "number"}, 1.5, False),
        ({"type": "number"}, Decimal("Infinity"), False),
        ({"type": "integer"}, Decimal("3.0"), True),
        ({"minimum": 1}, Decimal("0.99"), False),
        ({"minimum": 1}, "not a number", True),
        ({"exclusiveMinimum": 0}, 0, False),
        ({"minLength": 2}, "a", False),
        ({"required": ["a"]}, {"b": 1}, False),
        ({"required": ["a"]}, [], True),
        ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"b": 1}, False),
        ({"additionalProperties": {"type": "string"}}, {"b": 1}, False),
        ({"additionalProperties": {"type": "string"}}, {"b": "x"}, True),
        ({"items": {"type": "string"}}, ["a", 1], False),
        ({"format": "positive-decimal"}, "0", False),
        ({"format": "non-negative-decimal"}, True, True),
    ],
    ids=["annotations-only", "const-bool-is-not-one",
         "const-decimal-equals-int", "const-one-is-not-true", "enum-number", "enum-miss",
         "type-list", "float-is-not-a-number", "infinity-is-not-a-number", "integral-decimal",
         "below-minimum", "minimum-ignores-strings", "exclusive-minimum", "min-length",
         "required", "required-ignores-non-objects", "no-additional-properties",
         "additional-properties-schema", "additional-properties-ok", "items",
         "format-positive", "format-ignores-booleans"],
)
def test_compile_check_keyword_semantics(
    schema: Mapping[str, Any], value: object, expected: bool
) -> None:
    """Each implemented keyword follows JSON Schema, with this package's number model."""
    assert compile_check(schema)(value) is expected
