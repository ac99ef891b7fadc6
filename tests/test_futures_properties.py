"""Invariants of the futures arithmetic, checked on drawn positions (hypothesis).

- At the liquidation price the margin ratio is 100% (within the 28-digit arithmetic), in every bracket.
- The price shown is rounded toward the mark price, by less than a cent.
- Adding margin never brings the liquidation price closer to the mark, for a long or a short; reducing never
  moves it away.
- With every cum as the kit computes it, notional x MMR - cum is continuous across every bracket edge.
- A recommended add puts the liquidation price at least its distance from the mark.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.bands import Band, compile_bands
from policy_engine.products.futures_math import (
    Liquidation,
    Position,
    distance,
    figures_at,
    liquidation_price,
    maintenance,
    margin_for_liquidation_at,
    target_price,
)

from .test_futures_examples import brackets, isolated, outcome, policy
from .test_table_kit import document

D = Decimal
TOLERANCE = D("1e-15")

amounts = st.decimals(min_value=D("0.001"), max_value=D(50), places=3, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D(100), max_value=D(150000), places=2, allow_nan=False, allow_infinity=False)
money = st.decimals(min_value=D(0), max_value=D(5_000_000), places=2, allow_nan=False, allow_infinity=False)
signed = st.decimals(min_value=D(-50_000), max_value=D(50_000), places=2, allow_nan=False, allow_infinity=False)


@st.composite
def positions(draw: st.DrawFn) -> Position:
    """Longs and shorts, isolated (no other positions) or cross (other positions' maintenance and PnL)."""
    cross = draw(st.booleans())
    return Position(
        side_sign=draw(st.sampled_from([D(1), D(-1)])),
        quantity=draw(amounts),
        entry_price=draw(prices),
        leverage=D(draw(st.integers(min_value=1, max_value=125))),
        margin=draw(money),
        other_maintenance=draw(money) / 100 if cross else D(0),
        other_pnl=draw(signed) if cross else D(0),
    )


def solved(position: Position) -> Liquidation:
    return liquidation_price(position, brackets())


@settings(max_examples=100, deadline=None)
@given(positions())
def test_the_margin_ratio_is_one_at_the_liquidation_price(position: Position) -> None:
    """MB(LP) = M(LP), with the bracket of the notional at LP, whichever bracket that is."""
    found = solved(position)
    if found.price is None:
        side_at_zero = position.balance(D(0)) - position.other_maintenance
        assert side_at_zero >= 0 if position.side_sign > 0 else side_at_zero <= 0
        return
    at = figures_at(position, brackets(), found.price)
    assert found.bracket is not None
    assert at.bracket == found.bracket or found.bracket.holds(at.notional)
    assert at.margin_ratio is not None
    assert abs(at.margin_ratio - 1) < TOLERANCE


@settings(max_examples=60, deadline=None)
@given(positions())
def test_the_price_shown_is_rounded_toward_the_mark(position: Position) -> None:
    found = solved(position)
    if found.price is None:
        return
    shown = policy().spec.display.price(position.side_sign, found.price)
    assert shown is not None
    assert abs(shown - found.price) < D("0.01")
    assert shown >= found.price if position.side_sign > 0 else shown <= found.price


def _further_or_same(side_sign: Decimal, before: Liquidation, after: Liquidation) -> bool:
    """Whether `after` is at least as far from any mark as `before`: lower for a long, higher for a short."""
    if side_sign > 0:
        return after.price is None or (before.price is not None and after.price <= before.price)
    return before.price is None or (after.price is not None and after.price >= before.price)


@settings(max_examples=60, deadline=None)
@given(positions(), money)
def test_adding_margin_never_brings_the_liquidation_price_closer(position: Position, added: Decimal) -> None:
    before = solved(position)
    after = solved(position.with_margin(position.margin + added))
    assert _further_or_same(position.side_sign, before, after)


@settings(max_examples=60, deadline=None)
@given(positions(), money)
def test_reducing_margin_never_moves_the_liquidation_price_away(position: Position, removed: Decimal) -> None:
    before = solved(position)
    after = solved(position.with_margin(max(position.margin - removed, D(0))))
    assert _further_or_same(position.side_sign, after, before)


@st.composite
def bracket_tables(draw: st.DrawFn) -> str:
    """Bracket rows as YAML: increasing edges and non-decreasing rates, no cum (the kit computes it)."""
    count = draw(st.integers(min_value=2, max_value=8))
    edges = sorted(set(draw(st.lists(st.integers(min_value=1, max_value=10**9), min_size=count, max_size=count))))
    rates = sorted(
        draw(st.lists(st.integers(min_value=1, max_value=9999), min_size=len(edges) + 1, max_size=len(edges) + 1))
    )
    bounds = [0, *edges]
    rows = [
        f"  - {{from: {lower}, to: {upper}, mmr: {D(rate).scaleb(-4)}}}"
        for lower, upper, rate in zip(bounds, [*edges, edges[-1] * 2], rates, strict=True)
    ]
    return "brackets:\n" + "\n".join(rows) + "\n"


def _amount(band: Band, notional: Decimal) -> Decimal:
    assert band.rate is not None
    assert band.cumulative is not None
    return notional * band.rate - band.cumulative


@settings(max_examples=60, deadline=None)
@given(bracket_tables())
def test_maintenance_is_continuous_at_every_edge_when_cum_is_right(text: str) -> None:
    """For any bracket table, the kit's recomputed cum makes notional x MMR - cum agree on both sides of each edge."""
    table, problems = compile_bands(
        document(text),
        ("brackets",),
        name="bracket",
        input_name="notional",
        description="bracket",
        rate_key="mmr",
        cumulative_key="cum",
        open_top=False,
        direction="non-decreasing",
    )
    assert problems == []
    assert table is not None
    for below, above in pairwise(table.bands):
        edge = above.lower
        assert _amount(below, edge) == _amount(above, edge)


@settings(max_examples=60, deadline=None)
@given(
    positions(),
    st.sampled_from([D("0.05"), D("0.10"), D("0.2")]),
    st.decimals(min_value=D("0.7"), max_value=D("1.3"), places=3, allow_nan=False, allow_infinity=False),
)
def test_the_margin_for_a_target_puts_the_liquidation_price_there(
    position: Position, fraction: Decimal, move: Decimal
) -> None:
    """margin_for_liquidation_at(T) solves the formula backwards: with that margin the liquidation price is T."""
    mark = position.entry_price * move
    target = target_price(mark, position.side_sign, fraction)
    margin = margin_for_liquidation_at(position, brackets(), target)
    found = solved(position.with_margin(margin))
    assert found.price is not None
    assert abs(found.price - target) < TOLERANCE * target
    away = distance(mark, found.price)
    assert away is not None
    assert abs(away - fraction) < TOLERANCE


@settings(max_examples=25, deadline=None)
@given(st.decimals(min_value=D(2500), max_value=D(5999), places=2, allow_nan=False, allow_infinity=False))
def test_recommended_adds_meet_their_distance(margin: Decimal) -> None:
    """Through the engine: after each recommended add (rounded up), the liquidation price is that far or further."""
    result = outcome(isolated(position_margin=str(margin), stop_loss=None))
    recommended = result["advice"]["recommended_add"]
    assert recommended is not None
    for target in recommended["targets"]:
        if target["needed"]:
            assert target["liquidation_price_after"] <= target["target_price"]


def test_the_bundled_brackets_are_continuous() -> None:
    for below, above in pairwise(brackets().rows):
        assert maintenance(below, above.lower) == maintenance(above, above.lower)
