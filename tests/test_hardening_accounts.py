"""Account values from Python callers (issue 15): subclasses of str, int and Decimal, non-string keys and lone
surrogates are account problems naming their JSON path, never a ValueError, a TypeError or a decision that
cannot be written."""

from __future__ import annotations

import copy
import enum
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, Engine
from policy_engine.cli import main

from .conftest import AS_OF, POLICIES, example

COMPILED_AFTER = 14
"""Evaluations of one kind after which the engine has compiled the kind's reader (the fast path)."""


class Asset(enum.StrEnum):
    BTC = "BTC"
    SUPER = "SUPER"


class Leverage(enum.IntEnum):
    FIVE = 5


class Amount(Decimal):
    pass


class Text(str):
    __slots__ = ()


Change = Callable[[dict[str, Any]], None]


def set_at(path: tuple[str | int, ...], value: Any) -> Change:
    def change(account: dict[str, Any]) -> None:
        target: Any = account
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def problems_on_both_paths(change: Change, name: str = "margin-b-takeover.json") -> list[tuple[str, str]]:
    """The problems of the changed account, the same on the first evaluation and on the compiled reader's."""
    engine = policy_engine.load(POLICIES)
    seen = []
    for _ in range(COMPILED_AFTER):
        account = copy.deepcopy(example(name))
        change(account)
        with pytest.raises(AccountError) as caught:
            engine.evaluate(account, AS_OF)
        seen.append([(p.json_path, p.message) for p in caught.value.problems])
    assert all(found == seen[0] for found in seen)
    return seen[0]


@pytest.mark.parametrize(
    ("path", "value", "type_name"),
    [
        (("assets", 0, "asset"), Asset.SUPER, "Asset"),
        (("account_id",), Text("user-b"), "Text"),
        (("kind",), Text("spot-margin"), "Text"),
        (("leverage",), Leverage.FIVE, "Leverage"),
        (("assets", 0, "quantity"), Amount("500000"), "Amount"),
    ],
    ids=["StrEnum", "str subclass", "str subclass kind", "IntEnum", "Decimal subclass"],
)
def test_subclasses_of_json_types_are_refused_at_their_path(
    path: tuple[str | int, ...], value: Any, type_name: str
) -> None:
    """Issue 15 reported `ValueError: an error needs at least one problem` for these.  Decided: refused, as
    they were once the walk named them.  `evaluate` decides on the caller's mapping and records a frozen copy;
    a subclass may carry state or override `==`, `str()` or arithmetic, so the decision and its record could
    differ.  `str(x)`, `int(x)` and `Decimal(x)` are the caller's one-line fix."""
    where = "$." + ".".join(str(step) for step in path).replace(".0.", "[0].")
    assert problems_on_both_paths(set_at(path, value)) == [(where, f"expected a JSON value, got a {type_name}")]


def test_the_plain_values_of_those_subclasses_are_decided(engine: Engine) -> None:
    account = example("margin-b-takeover.json")
    account["assets"][0]["asset"] = str(Asset.SUPER)
    account["leverage"] = int(Leverage.FIVE)
    account["assets"][0]["quantity"] = Decimal(Amount("500000"))
    assert (
        engine.evaluate(account, AS_OF).to_json() == engine.evaluate(example("margin-b-takeover.json"), AS_OF).to_json()
    )


def test_a_boolean_where_a_number_is_expected_is_refused_like_any_wrong_type() -> None:
    assert problems_on_both_paths(set_at(("assets", 0, "quantity"), True)) == [
        ("$.assets[0].quantity", "expected a string or a number, got boolean true")
    ]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (1, "expected string keys (JSON object keys), got the int key 1"),
        (Asset.SUPER, "expected string keys (JSON object keys), got the Asset key <Asset.SUPER: 'SUPER'>"),
        ("\udc00", "the key '\\udc00' is not valid Unicode text (a lone surrogate); keys are written as UTF-8"),
    ],
    ids=["int", "StrEnum", "lone surrogate"],
)
def test_keys_that_are_not_plain_text_are_refused_at_their_mapping(key: Any, message: str) -> None:
    """An int key used to end in `TypeError: 'int' object is not iterable` (the did-you-mean of an unknown asset)."""
    problems = problems_on_both_paths(set_at(("execution_prices",), {key: "0.87"}))
    assert problems == [("$.execution_prices", message)]


@pytest.mark.parametrize(
    ("path", "text", "where"),
    [
        (("account_id",), "\ud800", "character 1"),
        (("assets", 0, "asset"), "SU\udfffPER", "character 3"),
        (("note",), "ok \ud83d", "character 4"),
    ],
    ids=["id", "asset", "extra field"],
)
def test_a_lone_surrogate_in_an_account_string_is_an_account_problem(
    path: tuple[str | int, ...], text: str, where: str
) -> None:
    """Used to be accepted by `evaluate`, after which `decision.to_json()` raised UnicodeEncodeError."""
    code_point = next(c for c in text if "\ud800" <= c <= "\udfff")
    problems = problems_on_both_paths(set_at(path, text))
    assert [message for _path, message in problems] == [
        f"the text is not valid Unicode: a lone surrogate (U+{ord(code_point):04X}) at {where};"
        " it cannot be written as UTF-8"
    ]


def test_text_beyond_ascii_is_still_read(engine: Engine) -> None:
    account = example("margin-a-regular.json")
    account["account_id"] = "compte-été-🙂"
    assert '"compte-été-🙂"' in engine.evaluate(account, AS_OF).to_json()


def test_a_lone_surrogate_escaped_in_a_json_account_exits_2(tmp_path: Path) -> None:
    account = example("margin-a-regular.json")
    account["account_id"] = "\ud800"
    path = tmp_path / "account.json"
    path.write_text(json.dumps(account, default=str))  # the surrogate is written as the escape `\ud800`
    out, err = io.StringIO(), io.StringIO()
    code = main(["evaluate", str(path), "--policies", str(POLICIES), "--as-of", AS_OF], stdout=out, stderr=err)
    assert (code, out.getvalue()) == (2, "")
    assert err.getvalue().splitlines()[0] == (
        f"{path}:1:39: $.account_id: the text is not valid Unicode: a lone surrogate (U+D800) at character 1;"
        " it cannot be written as UTF-8"
    )
