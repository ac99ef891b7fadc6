"""Named operations on a futures position: add_margin, reduce_margin, transfer_in, each giving the new liquidation
price and margin ratio in the same decision; refusals say the most that is allowed."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from policy_engine import AccountError
from policy_engine.cli import main

from .conftest import AS_OF, POLICIES
from .test_futures_examples import cross, decide, isolated, outcome

D = Decimal


def refusals(account: dict[str, object], operations: list[str]) -> list[str]:
    with pytest.raises(AccountError) as raised:
        decide(account, operations)
    return [str(problem) for problem in raised.value.problems]


def test_add_margin_moves_the_liquidation_price_away_in_the_same_decision() -> None:
    """1,000 from the wallet: margin 7,000, liquidation (7,000 - 60,000) / -0.996 = 53,212.85; recorded before/after."""
    decision = decide(isolated(), ["add_margin=1000"])
    result = decision.outcome
    assert result["adjustments"] == (
        {
            "type": "add_margin",
            "amount": D(1000),
            "max_addable": D(10000),
            "liquidation_price_before": D("54216.87"),
            "liquidation_price_after": D("53212.86"),
            "margin_ratio_before": D("0.0580"),
            "margin_ratio_after": D("0.0464"),
            "position_margin_after": D(7000),
            "wallet_balance_after": D(9000),
        },
    )
    assert (result["liquidation_price"], result["position_margin"], result["wallet_balance"]) == (
        D("53212.86"),
        D(7000),
        D(9000),
    )
    assert decision.operations == (("add_margin", "1000"),)
    # the add is counted: a second one is advised against in this very decision
    assert [rule["id"] for rule in result["advice"]["add_margin"]["rules"]] == ["already_added"]


def test_add_margin_is_limited_to_the_wallet() -> None:
    assert refusals(isolated(wallet_balance="500"), ["add_margin=500.01"]) == [
        "account: $.adjustments[0].amount: add_margin of 500.01 is more than the futures wallet's available"
        " balance (500); at most 500 can be added"
    ]


def test_reduce_margin_down_to_the_initial_margin() -> None:
    """At the mark 60,000, 10,000 of margin for an initial margin of 6,000: 4,000 can come out, not a cent more."""
    account = isolated(mark_price="60000", position_margin="10000")
    result = outcome(account, ["reduce_margin=4000"])
    (record,) = result["adjustments"]
    assert (record["max_removable"], record["position_margin_after"], record["wallet_balance_after"]) == (
        D("4000.00"),
        D(6000),
        D(14000),
    )
    assert record["liquidation_price_after"] > record["liquidation_price_before"]  # closer to the mark
    assert refusals(account, ["reduce_margin=4000.01"]) == [
        "account: $.adjustments[0].amount: reduce_margin of 4000.01 would leave the position's margin below its"
        " initial margin (6000.00, notional / leverage); at most 4000.00 can be removed"
    ]


def test_unrealised_losses_count_against_a_reduction_and_profit_does_not() -> None:
    """Losing 2,000 with 6,000 in and 5,800 needed: nothing can come out; 2,000 of profit frees nothing either."""
    assert refusals(isolated(), ["reduce_margin=0.01"])[0].endswith("at most 0.00 can be removed")
    assert refusals(isolated(mark_price="62000"), ["reduce_margin=0.01"])[0].endswith("at most 0.00 can be removed")


def test_transfer_in_is_the_cross_add() -> None:
    """Cross: the transfer raises the shared wallet, moves the short's liquidation price up, and counts as an add."""
    result = outcome(cross(mark_price="10000"), ["transfer_in=5"])
    (record,) = result["adjustments"]
    assert (record["wallet_balance_after"], record["position_margin_after"]) == (D("15.72"), None)
    assert record["liquidation_price_after"] > record["liquidation_price_before"]
    assert record["margin_ratio_after"] < record["margin_ratio_before"]
    assert result["next_state"] == {"position_margin": None, "wallet_balance": D("15.72"), "margin_adds": 1}


def test_transfer_in_on_an_isolated_position_only_feeds_the_wallet() -> None:
    result = outcome(isolated(), ["transfer_in=500"])
    (record,) = result["adjustments"]
    assert record["liquidation_price_after"] == record["liquidation_price_before"]
    assert result["next_state"] == {"position_margin": D(6000), "wallet_balance": D(10500), "margin_adds": 0}


def test_every_refused_operation_is_reported_at_once() -> None:
    """Adding or reducing in cross mode is refused (transfer_in is the way), each located at its adjustment."""
    assert refusals(cross(), ["add_margin=1", "transfer_in=1", "reduce_margin=1"]) == [
        "account: $.adjustments[0].type: add_margin moves margin of one isolated position; in cross mode the"
        " futures wallet is shared by every position: use transfer_in",
        "account: $.adjustments[2].type: reduce_margin moves margin of one isolated position; in cross mode the"
        " futures wallet is shared by every position: use transfer_in",
    ]


@pytest.mark.parametrize("value", ["-5", "0", "abc", "1e99"])
def test_a_bad_amount_is_an_operation_problem(value: str) -> None:
    with pytest.raises(AccountError) as raised:
        decide(isolated(), [f"add_margin={value}"])
    assert [str(problem) for problem in raised.value.problems] == [
        f"operations: $[0]: `add_margin`: expected an amount > 0 (such as 500), got {value!r}"
    ]


def test_operations_from_the_command_line(tmp_path: Path) -> None:
    """`--op add_margin=1000` on the CLI: the explanation lists the move with its before and after."""
    path = tmp_path / "position.json"
    path.write_text(json.dumps(isolated()))
    out, err = io.StringIO(), io.StringIO()
    argv = ["evaluate", str(path), "--policies", str(POLICIES), "--as-of", AS_OF, "--format", "text"]
    assert main([*argv, "--op", "add_margin=1000"], stdout=out, stderr=err) == 0
    lines = out.getvalue().splitlines()
    assert "Operations applied first: add_margin=1000" in lines
    assert (
        "      add_margin 1000 (at most 10000): liquidation price 54216.87 -> 53212.86,"
        " margin ratio 5.80% -> 4.64%" in lines
    )
    out, err = io.StringIO(), io.StringIO()
    assert main([*argv, "--op", "reduce_margin=100"], stdout=out, stderr=err) == 2
    assert err.getvalue() == (
        f"{path}: $.adjustments[0].amount: reduce_margin of 100 would leave the position's margin below its"
        " initial margin (5800.00, notional / leverage); at most 0.00 can be removed\n1 problem found\n"
    )


def test_above_the_brackets_maximum_leverage_the_floor_is_the_brackets_initial_margin() -> None:
    """125x in bracket 5 (20M notional, max 25x): notional / 125 = 160,000 is below the maintenance margin
    (268,000); the floor is notional / 25 = 800,000 instead, so a reduction never brings liquidation near."""
    account = isolated(quantity="400", entry_price="50000", mark_price="50000", position_margin="900000", leverage=125)
    assert refusals(account, ["reduce_margin=100000.01"]) == [
        "account: $.adjustments[0].amount: reduce_margin of 100000.01 would leave the position's margin below its"
        " initial margin (800000.00, notional / 25, the bracket's maximum leverage); at most 100000.00 can be removed"
    ]
    assert outcome(account, ["reduce_margin=100000"])["margin_ratio"] < 1
