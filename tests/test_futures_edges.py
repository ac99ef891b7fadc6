"""Futures edge cases a demanding user brings: shorts, bracket changes on the way to liquidation, no liquidation
price, leverage caps, cross mode with other positions, a margin balance already gone, and bad accounts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policy_engine import AccountError
from policy_engine.products.futures_math import Position, figures_at

from .test_futures_examples import brackets, cross, decide, isolated, outcome

D = Decimal


def problems_of(account: dict[str, object], operations: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(AccountError) as raised:
        decide(account, operations)
    return [str(problem) for problem in raised.value.problems]


# --- shorts -----------------------------------------------------------------------------------------


def test_a_short_is_liquidated_above_the_mark_and_rounded_down() -> None:
    """A short's liquidation price lies above the mark; shown rounded down, toward the mark."""
    result = outcome(isolated(side="short", entry_price="60000", mark_price="62000", stop_loss="63000"))
    # (6,000 + 60,000) / 1.004 = 65,737.051...: the same price as at entry, only the mark moved
    assert (result["liquidation_price"], result["unrealized_pnl"]) == (D("65737.05"), D(-2000))
    assert result["liquidation_price"] < result["liquidation_price_raw"]
    assert result["liquidation_price_raw"] > result["mark_price"]


def test_a_shorts_stop_loss_is_crossed_at_or_above_it() -> None:
    """For a short the stop-loss sits above: the mark reaching it crosses it."""
    at_stop = outcome(isolated(side="short", mark_price="63000", stop_loss="63000"))
    below = outcome(isolated(side="short", mark_price="62999.99", stop_loss="63000"))
    assert [rule["id"] for rule in at_stop["advice"]["add_margin"]["rules"]] == ["stop_loss_crossed"]
    assert [rule["id"] for rule in below["advice"]["add_margin"]["rules"]] == []


# --- the bracket of the liquidation price -----------------------------------------------------------


def test_the_liquidation_price_is_solved_in_the_bracket_of_its_own_notional() -> None:
    """5 BTC short at 59,000 (295,000, bracket 1) is liquidated where the notional is above 300,000 (bracket 2).

    Bracket 1's figures would give (29,500 + 295,000) / 5.02 = 64,641.43, where the notional (323,207) is in
    bracket 2 and the margin ratio is not 100%; bracket 2's give (29,500 + 300 + 295,000) / 5.025 = 64,636.81.
    """
    account = isolated(
        side="short", quantity="5", entry_price="59000", mark_price="59000", position_margin="29500", stop_loss=None
    )
    result = outcome(account)
    assert (result["bracket"]["index"], result["liquidation_bracket"]["index"]) == (1, 2)
    assert result["liquidation_price"] == D("64636.81")
    assert result["liquidation_price_raw"] == (D(29500) + D(300) + D(295000)) / (D(5) * D("0.005") + D(5))
    position = Position(side_sign=D(-1), quantity=D(5), entry_price=D(59000), leverage=D(10), margin=D(29500))
    at_liquidation = figures_at(position, brackets(), result["liquidation_price_raw"])
    assert at_liquidation.bracket.index == 1  # index 1 is the second bracket
    assert abs(at_liquidation.margin_ratio - 1) < D("1e-24")  # type: ignore[operator]  # a ratio exists here


def test_a_liquidation_price_exactly_on_an_edge_is_the_same_from_both_brackets() -> None:
    """A long whose liquidation notional is exactly 300,000: both brackets' formulas give the same price."""
    # 10 BTC long at 40,000 liquidated at 30,000: margin = 10 x 30,000 x 0.004 + 10 x (40,000 - 30,000) = 101,200
    result = outcome(
        isolated(quantity="10", entry_price="40000", mark_price="40000", position_margin="101200", leverage=3)
    )
    assert (result["liquidation_price_raw"], result["liquidation_price"]) == (D(30000), D(30000))
    assert result["liquidation_bracket"]["index"] == 1


# --- no liquidation price ---------------------------------------------------------------------------


def test_an_over_collateralised_long_has_no_liquidation_price() -> None:
    """Margin of at least quantity x entry price: not even a price of 0 liquidates; null, with a note, no add."""
    result = outcome(isolated(mark_price="60000", position_margin="60000", leverage=1))
    assert (result["liquidation_price"], result["liquidation_price_raw"], result["liquidation_bracket"]) == (
        None,
        None,
        None,
    )
    assert result["liquidation_price_note"] == "none: the margin covers the position even at a price of 0"
    assert result["liquidation_distance"] is None
    assert result["advice"]["recommended_add"] is None


def test_a_long_just_short_of_covered_is_liquidated_near_zero() -> None:
    """One unit less than quantity x entry price: (59,999 - 60,000) / (0.004 - 1) = 1.004..., shown 1.01."""
    result = outcome(isolated(mark_price="60000", position_margin="59999", leverage=1))
    assert (result["liquidation_price_raw"], result["liquidation_price"]) == (D(-1) / D("-0.996"), D("1.01"))


def test_a_short_that_cannot_cover_the_other_positions_is_liquidated_at_any_price() -> None:
    """Cross: the other positions' maintenance exceeds the wallet and the short's proceeds: no price saves it."""
    result = outcome(cross(wallet_balance="1", other_maintenance_margin="100"))
    assert result["liquidation_price"] is None
    assert result["liquidation_price_note"] == (
        "none: the margin cannot cover the maintenance at any price; the position is liquidated"
    )
    assert result["status"] == "liquidation"


def test_a_margin_balance_already_gone_is_liquidation_without_a_ratio() -> None:
    """A loss beyond the margin: no margin ratio (null), no zone, status liquidation, no advice."""
    result = outcome(isolated(mark_price="50000", position_margin="6000"))
    assert result["margin_balance"] == D(-4000)
    assert (result["margin_ratio"], result["zone"], result["status"], result["advice"]) == (
        None,
        None,
        "liquidation",
        None,
    )
    assert result["liquidation_price"] == D("54216.87")


# --- leverage ---------------------------------------------------------------------------------------


def test_leverage_above_the_brackets_maximum_is_a_note_not_an_error() -> None:
    """A long carried by the price into bracket 2 (max 100x) at 125x: the advice notes it; adding stays allowed."""
    result = outcome(
        isolated(quantity="5", entry_price="60000", mark_price="64000", position_margin="3000", leverage=125)
    )
    assert (result["bracket"]["index"], result["max_leverage"]) == (2, 100)
    assert [(rule["id"], rule["verdict"]) for rule in result["advice"]["add_margin"]["rules"]] == [
        ("profitable", "not_needed"),
        ("leverage_above_bracket", "note"),
    ]


def test_leverage_above_the_symbols_maximum_is_an_account_problem() -> None:
    """No bracket of BTCUSDT allows 150x: the account is refused, naming the highest leverage."""
    assert problems_of(isolated(leverage=150)) == ["account: $.leverage: BTCUSDT offers at most 125x leverage, got 150"]


# --- cross mode -------------------------------------------------------------------------------------


def test_cross_margin_ratio_counts_the_other_positions() -> None:
    """Cross: (MM + TMM1) / (WB + UPNL + UPNL1); the other positions' PnL moves the liquidation price too."""
    result = outcome(cross(mark_price="10000"))
    maintenance = D("0.005") * D(10000) * D("0.004")
    pnl = -D("0.005") * (D(10000) - D("9451.53"))
    assert result["maintenance_total"] == maintenance + D("1.3")
    assert result["margin_balance"] == D("10.72") + pnl + D("0.47")
    assert result["margin_ratio"] == (maintenance + D("1.3")) / (D("10.72") + pnl + D("0.47"))
    richer = outcome(cross(mark_price="10000", other_unrealized_pnl="5"))
    assert richer["liquidation_price"] > result["liquidation_price"]


def test_cross_occupancy_reads_the_initial_margin() -> None:
    """Cross has no per-position margin: the occupancy is the initial margin over the equity."""
    result = decide(cross(account_equity="2"))
    assert result.trace.env["position_margin_used"] == D("0.005") * D("9451.53") / 20
    assert "margin_occupancy_over_limit" in [rule["id"] for rule in result.outcome["advice"]["add_margin"]["rules"]]


# --- bad accounts -----------------------------------------------------------------------------------


def test_every_account_problem_at_once() -> None:
    """Unknown symbol (with a suggestion), other positions on an isolated position: all reported together."""
    assert problems_of(isolated(symbol="BTCUSTD", other_maintenance_margin="5", other_unrealized_pnl="-1")) == [
        "account: $.other_maintenance_margin: other positions do not touch an isolated position's margin;"
        " expected 0 or no `other_maintenance_margin` in isolated mode, got 5",
        "account: $.other_unrealized_pnl: other positions do not touch an isolated position's margin;"
        " expected 0 or no `other_unrealized_pnl` in isolated mode, got -1",
        "account: $.symbol: unknown symbol `BTCUSTD`; expected one of BTCUSDT, ETHUSDT; did you mean `BTCUSDT`?",
    ]


def test_a_notional_above_the_last_bracket_is_refused() -> None:
    """BTCUSDT's table ends at 1.8 billion: a larger position does not exist on the exchange."""
    assert problems_of(isolated(quantity="40000", mark_price="50000", position_margin="2000000000", leverage=1)) == [
        "account: $.quantity: the notional 2000000000 (quantity x mark price) is above BTCUSDT's last bracket"
        " (to 1800000000): the exchange allows no larger position"
    ]


def test_auto_add_is_refused_in_cross_mode() -> None:
    assert problems_of(cross(auto_add_margin=True)) == [
        "account: $.auto_add_margin: auto-add margin exists in isolated mode only: in cross mode the whole"
        " wallet already backs every position"
    ]


@pytest.mark.parametrize(
    ("account", "missing"),
    [
        (isolated(position_margin=...), "position_margin"),
        (cross(wallet_balance=...), "wallet_balance"),
        (cross(other_unrealized_pnl=...), "other_unrealized_pnl"),
        (cross(backup_funds=...), "backup_funds"),
    ],
)
def test_the_schema_requires_each_modes_fields(account: dict[str, object], missing: str) -> None:
    """Isolated needs its position margin; cross its wallet, the other positions' figures and the backup funds."""
    problems = problems_of(account)
    assert len(problems) == 1
    assert f"missing required key `{missing}`" in problems[0]
