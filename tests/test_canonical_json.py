"""The fast writer (orjson) gives exactly the bytes of the strict reference writer (`json.dumps` over `to_plain`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine import Engine
from policy_engine.decision import canonical_json, fast_canonical_json

from .conftest import AS_OF, example

decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1e30"), max_value=Decimal("1e30"))
instants = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds; zones are drawn
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001 - as above
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    decimals,
    instants,
)
keys = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4).map(MappingProxyType),
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=values, indent=st.sampled_from([None, 2]))
def test_fast_writer_matches_the_reference_byte_for_byte(value: Any, indent: int | None) -> None:
    """Sorted keys, separators, Unicode, control characters, Decimals in any exponent, datetimes with offsets."""
    assert fast_canonical_json(value, indent=indent) == canonical_json(value, indent=indent).encode()


def test_integers_beyond_64_bits_fall_back_to_the_reference() -> None:
    """orjson refuses integers past 64 bits; the writer hands them to the reference instead of failing."""
    value = {"big": 10**30, "small": Decimal("1E-8")}
    assert fast_canonical_json(value) == b'{"big":1000000000000000000000000000000,"small":"0.00000001"}\n'


def test_every_bundled_decision_is_written_as_the_reference_writes_it(engine: Engine) -> None:
    """For each example, the decision's JSON equals the strict writer's output of its plain dict."""
    for name, as_of in [
        ("margin-a-regular.json", AS_OF),
        ("margin-b-takeover.json", AS_OF),
        ("margin-c-regular-then-takeover.json", AS_OF),
        ("loan-topup.json", "2020-07-25T17:18:38Z"),
    ]:
        decision = engine.evaluate(example(name), as_of)
        for indent in (None, 2):
            for trace in (True, False):
                expected = canonical_json(decision.to_dict(trace=trace), indent=indent)
                assert decision.to_json(indent=indent, trace=trace) == expected


def test_a_value_no_decision_may_hold_is_an_error_not_a_silent_fallback() -> None:
    """The fast writer raises the same TypeError as the reference for a type it cannot write."""
    with pytest.raises(TypeError, match="cannot serialise object in a decision"):
        fast_canonical_json({"x": object()})
