"""The worked examples of domain.md section 1 (seed 003), with every figure the seed's tables show."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from policy_engine import Engine

from .conftest import example, margin_account

D = Decimal


def _events(outcome: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    return [event for event in outcome["liquidation"]["steps"] if event["event"] == name]


def test_example_a_position_before_the_drop(engine: Engine) -> None:
    """A #2: 10 BTC at 50,000 against 400,000 USDC is margin level 1.25, status ok (above 1.16)."""
    outcome = engine.evaluate(margin_account(assets=[("BTC", "10", "50000")])).outcome
    assert (outcome["margin_level"], outcome["status"], outcome["liquidation"]) == (D("1.25"), "ok", None)
    assert outcome["derived"]["net_equity_value"] == D("100000")


def test_example_a_regular_liquidation(engine: Engine) -> None:
    """A: BTC 44,000 -> ML 1.1 -> regular liquidation; sell 9.09090909 BTC, fee 0.18181818 BTC, 0.72727273 left."""
    outcome = engine.evaluate(example("margin-a-regular.json")).outcome
    plan = outcome["liquidation"]
    assert outcome["status"] == "liquidation"
    assert outcome["margin_level"] == D("1.1")
    assert outcome["derived"]["net_equity_value"] == D("40000")
    assert plan["method"] == "regular"
    assert [(s["asset"], s["quantity"], s["purpose"]) for s in plan["sales"]] == [
        ("BTC", D("9.09090909"), "debt"),
        ("BTC", D("0.18181818"), "fee"),
    ]
    assert plan["fee_value"] == D("8000")
    assert plan["debt_repaid"] == D("400000")
    assert plan["debt_remaining"] == 0
    assert plan["returned"] == ({"asset": "BTC", "quantity": D("0.72727273")},)
    # seed #4 (0.90909091 BTC, 40,000) and #5 (0.72727273 BTC, 32,000), valued at 44,000
    after_debt = D(10) - D("9.09090909")
    assert (after_debt, (after_debt * D(44000)).quantize(D(1))) == (D("0.90909091"), D(40000))
    assert (D("0.72727273") * D(44000)).quantize(D(1)) == D(32000)


def test_example_b_takeover(engine: Engine) -> None:
    """B: SUPER at 0.88 -> ML 1.1; takeover at 0.87 -> 435,000 (ML 1.0875); repay -> 35,000; fee -> 27,000 USDC."""
    outcome = engine.evaluate(example("margin-b-takeover.json")).outcome
    plan = outcome["liquidation"]
    assert (outcome["status"], outcome["margin_level"], plan["method"]) == ("liquidation", D("1.1"), "takeover")
    (takeover,) = _events(outcome, "takeover")
    assert (takeover["proceeds"], takeover["margin_level"]) == (D(435000), D("1.0875"))
    (repay,) = _events(outcome, "repay")
    assert (repay["debt_repaid"], repay["cash_after"]) == (D(400000), D(35000))
    (fee,) = _events(outcome, "fee")
    assert (fee["value"], fee["cash_after"]) == (D(8000), D(27000))
    assert plan["returned"] == ({"asset": "USDC", "quantity": D(27000)},)
    assert plan["sales"] == ()


def test_example_c_regular_then_takeover(engine: Engine) -> None:
    """C: sell 1 BTC -> debt 350,000 (ML 1.11428571); takeover at 0.86 -> 387,000 (ML 1.10571429); 37,000; 29,000."""
    outcome = engine.evaluate(example("margin-c-regular-then-takeover.json")).outcome
    plan = outcome["liquidation"]
    # raw 1.1000000004: liquidates only because levels are compared at 8 places
    assert outcome["margin_level"] > D("1.1")
    assert outcome["margin_level_compared"] == D("1.1")
    assert (outcome["status"], plan["method"]) == ("liquidation", "regular_then_takeover")
    (sale,) = _events(outcome, "regular_sale")
    assert (sale["asset"], sale["quantity"], sale["value"]) == ("BTC", D(1), D(50000))
    assert (sale["debt_after"], sale["margin_level_after"]) == (D(350000), D("1.11428571"))
    (takeover,) = _events(outcome, "takeover")
    assert (takeover["proceeds"], takeover["margin_level"]) == (D(387000), D("1.10571429"))
    (repay,) = _events(outcome, "repay")
    assert repay["cash_after"] == D(37000)  # the seed's 35,000 is an erratum (domain.md)
    assert plan["fee_value"] == D(8000)
    assert plan["returned"] == ({"asset": "USDC", "quantity": D(29000)},)


BUNDLED_THRESHOLDS = [
    ("cross_classic", 3, "1.3", "1.1"),
    ("cross_classic", 5, "1.16", "1.1"),
    ("isolated", 3, "1.22", "1.18"),
    ("isolated", 5, "1.19", "1.15"),
    ("isolated", 10, "1.1", "1.05"),
    ("cross_pro", 10, "1.5", "1.0"),
]
TIER_IDS = [f"{mode}-{leverage}x" for mode, leverage, _, _ in BUNDLED_THRESHOLDS]


@pytest.mark.parametrize(("mode", "leverage", "call", "liquidation"), BUNDLED_THRESHOLDS, ids=TIER_IDS)
def test_bundled_thresholds_match_the_domain_table(
    engine: Engine, mode: str, leverage: int, call: str, liquidation: str
) -> None:
    """The bundled policy carries the seed's call ratios and the published liquidation ratios."""
    outcome = engine.evaluate(
        margin_account(assets=[("USDC", "1000", "1")], debt="100", mode=mode, leverage=leverage)
    ).outcome
    assert outcome["thresholds"] == {"margin_call": D(call), "liquidation": D(liquidation)}


STEP = D("0.00000001")  # one unit at the 8 places margin levels are compared at


@pytest.mark.parametrize(("mode", "leverage", "call", "liquidation"), BUNDLED_THRESHOLDS, ids=TIER_IDS)
@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("liquidation", "liquidation"),
        ("liquidation+step", "margin_call"),
        ("call", "margin_call"),
        ("call+step", "ok"),
    ],
    ids=["at-liquidation", "just-above-liquidation", "at-call", "just-above-call"],
)
def test_status_at_each_boundary(
    engine: Engine, mode: str, leverage: int, call: str, liquidation: str, level: str, expected: str
) -> None:
    """Both comparisons are `<=`: exactly at a threshold fires it, one unit above does not."""
    base = D(liquidation) if level.startswith("liquidation") else D(call)
    margin_level = base + (STEP if level.endswith("+step") else 0)
    debt = D(1000000)
    account = margin_account(assets=[("USDC", str(margin_level * debt), "1")], debt=str(debt),
                             mode=mode, leverage=leverage)
    assert engine.evaluate(account).outcome["status"] == expected


def test_rounding_decides_a_level_just_above_the_threshold(engine: Engine) -> None:
    """A raw level of 1.100000004 compares as 1.10000000 (half-even, 8 places) and liquidates."""
    account = margin_account(assets=[("USDC", "1100000004", "1")], debt="1000000000")
    outcome = engine.evaluate(account).outcome
    assert (outcome["margin_level"], outcome["margin_level_compared"], outcome["status"]) == (
        D("1.100000004"), D("1.10000000"), "liquidation")


def test_interest_counts_as_debt(engine: Engine) -> None:
    """Margin level divides by principal plus unpaid interest."""
    account = margin_account(assets=[("BTC", "10", "50000")], debt="390000", interest="10000")
    assert engine.evaluate(account).outcome["margin_level"] == D("1.25")


def test_no_debt_is_ok_without_a_margin_level(engine: Engine) -> None:
    """With no liabilities the margin level is undefined (not 999) and no rule runs."""
    account = margin_account(assets=[("BTC", "1", "50000")], debt="0")
    decision = engine.evaluate(account)
    assert (decision.outcome["status"], decision.outcome["margin_level"], decision.outcome["rule"]) == (
        "ok", None, None)
    assert not [name for name in decision.trace.names if name.startswith("rule:")]


def test_jump_past_the_call_level_sends_only_the_liquidation_notice(engine: Engine) -> None:
    """Liquidation is checked first: a level below both thresholds gets one notification."""
    outcome = engine.evaluate(margin_account(assets=[("BTC", "10", "40000")])).outcome
    assert (outcome["status"], outcome["notification"]) == ("liquidation", "liquidation_call")


def test_margin_call_notification(engine: Engine) -> None:
    """Between the thresholds the margin call rule fires with its notice."""
    outcome = engine.evaluate(margin_account(assets=[("BTC", "10", "45000")])).outcome
    assert (outcome["status"], outcome["rule"], outcome["notification"]) == (
        "margin_call", "margin_call", "margin_call")


def test_cross_pro_fee_is_three_percent_of_liabilities(engine: Engine) -> None:
    """Cross Pro charges 3% on the liabilities when liquidation starts."""
    account = margin_account(assets=[("BTC", "10", "40000")], mode="cross_pro", leverage=10)
    plan = engine.evaluate(account).outcome["liquidation"]
    assert (plan["fee_rate"], plan["fee_value"]) == (D("0.03"), D(12000))


def test_insufficient_collateral_leaves_debt_and_fee_unpaid(engine: Engine) -> None:
    """When everything sold does not cover the debt, the shortfall is reported, not hidden."""
    account = margin_account(assets=[("SUPER", "100000", "1")], execution_prices={"SUPER": "0.5"})
    plan = engine.evaluate(account).outcome["liquidation"]
    assert (plan["debt_repaid"], plan["debt_remaining"], plan["fee_unpaid"], plan["returned"]) == (
        D(50000), D(350000), D(8000), ())
