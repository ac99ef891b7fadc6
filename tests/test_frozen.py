"""`FrozenDict`, the read-only mapping outcomes are made of: a dict to read, not to change."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest

from policy_engine import FrozenDict

CHANGES: list[Callable[[Any], object]] = [
    lambda frozen: frozen.__setitem__("asset", "ETH"),
    lambda frozen: frozen.__delitem__("asset"),
    lambda frozen: frozen.update(asset="ETH"),
    lambda frozen: frozen.pop("asset"),
    lambda frozen: frozen.popitem(),
    lambda frozen: frozen.setdefault("other", 1),
    lambda frozen: frozen.clear(),
    lambda frozen: frozen.__ior__({"asset": "ETH"}),
]


@pytest.mark.parametrize(
    "change", CHANGES, ids=["set", "del", "update", "pop", "popitem", "setdefault", "clear", "ior"]
)
def test_every_change_is_refused(change: Callable[[Any], object]) -> None:
    """Each dict method that would change it raises TypeError and leaves it as it was."""
    frozen = FrozenDict({"asset": "BTC", "quantity": Decimal("0.5")})
    with pytest.raises(TypeError, match="read-only"):
        change(frozen)
    assert frozen == {"asset": "BTC", "quantity": Decimal("0.5")}


def test_it_reads_prints_and_serialises_like_a_dict() -> None:
    """Equal to the dict it holds, a repr that names it, written natively by orjson, and it survives pickling."""
    frozen = FrozenDict({"b": Decimal(1), "a": (FrozenDict({"c": 2}),)})
    assert frozen == {"b": Decimal(1), "a": ({"c": 2},)}
    assert repr(frozen) == "FrozenDict({'b': Decimal('1'), 'a': (FrozenDict({'c': 2}),)})"
    assert orjson.dumps(frozen["a"], option=orjson.OPT_SORT_KEYS) == b'[{"c":2}]'
    assert pickle.loads(pickle.dumps(frozen)) == frozen  # noqa: S301 - our own bytes
    assert copy.deepcopy(frozen) is frozen
