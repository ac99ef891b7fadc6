"""Recovery level (domain.md section 1, *published*): regular liquidation stops once the margin level is back at or
above the tier's recovery level.  The bundled policy leaves it off; these tests turn it on with the published levels
(Cross Classic 3x 1.5, 5x 1.25, Cross Pro 2, Isolated L/(L-1)) in a copy of the bundled policy."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine, PolicyError
from policy_engine.explain import explain

from .conftest import POLICIES, example, margin_account

D = Decimal
BUNDLED = (POLICIES / "margin-trading.yaml").read_text()
UNIT = D("0.00000001")
PUBLISHED = {
    # (mode, leverage): (the tier's `margin_call` and `liquidation` lines, recovery level)
    ("cross_classic", 3): ("margin_call: 1.3\n        liquidation: 1.1\n", D("1.5")),
    ("cross_classic", 5): ("margin_call: 1.16\n        liquidation: 1.1\n", D("1.25")),
    ("isolated", 3): ("margin_call: 1.22\n        liquidation: 1.18\n", D(3) / D(2)),
    ("isolated", 5): ("margin_call: 1.19\n        liquidation: 1.15\n", D(5) / D(4)),
    # 10/9 at the policy's 8 places, rounded up so the published level is never undercut
    ("isolated", 10): ("margin_call: 1.1\n        liquidation: 1.05\n", (D(10) / D(9)).quantize(UNIT, ROUND_CEILING)),
    ("cross_pro", 10): ("margin_call: 1.5\n        liquidation: 1.0\n", D(2)),
}


def recovery_yaml(levels: Mapping[tuple[str, int], Decimal] | None = None) -> str:
    """The bundled margin policy with a `recovery` line in each tier (the published levels unless given)."""
    text = BUNDLED
    for tier, (lines, published) in PUBLISHED.items():
        assert text.count(lines) == 1
        level = published if levels is None else levels.get(tier)
        if level is not None:
            text = text.replace(lines, f"{lines}        recovery: {level}\n")
    return text


@pytest.fixture(scope="module")
def recovering(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("recovery")
    (folder / "margin.yaml").write_text(recovery_yaml())
    return policy_engine.load(folder)


def _plan(engine: Engine, account: dict[str, Any]) -> Mapping[str, Any]:
    outcome = engine.evaluate(account).outcome
    assert outcome["status"] == "liquidation"
    plan: Mapping[str, Any] = outcome["liquidation"]
    return plan


def _left(plan: Mapping[str, Any], asset: str) -> Decimal:
    return sum((item["quantity"] for item in plan["returned"] if item["asset"] == asset), D(0))


def _assert_stops_exactly(
    plan: Mapping[str, Any],
    asset: str,
    price: Decimal,
    level: Decimal,
    tier: tuple[str, int] = ("cross_classic", 5),
    *,
    minimal: bool = True,
) -> None:
    """The level after the plan (the asset left and the cash of sales rounded up) is >= R, and, with a fee that does
    not depend on the sale (`minimal`), one unit less of the debt sale would leave it below R."""
    value, debt = _left(plan, asset) * price + plan["cash_returned_value"], plan["debt_remaining"]
    assert plan["recovered"] is True
    assert debt > 0
    assert value / debt >= level
    if minimal:
        assert (value + UNIT * price) / (debt + UNIT * price) < level
    assert plan["stopped_at"] == (value / debt).quantize(UNIT, ROUND_HALF_EVEN) >= level
    (recovered,) = [step for step in plan["steps"] if step["event"] == "recovered"]
    assert (recovered["margin_level"], recovered["recovery_level"]) == (plan["stopped_at"], level)
    assert recovered["source"].endswith(f":{_recovery_line(tier)}")


def _recovery_line(tier: tuple[str, int]) -> int:
    """The line of the tier's `recovery` key in `recovery_yaml()`."""
    text = recovery_yaml()
    return text[: text.index(PUBLISHED[tier][0])].count("\n") + 3


def test_example_a_stops_at_the_closed_form_quantity(recovering: Engine) -> None:
    """Example A at Cross Classic 5x (R 1.25): X = (R x D - A + fee) / (R - 1) = 272,000 USDC, 6.18181818... BTC,
    instead of 9.09090909 BTC; the fee (2% of 400,000) is still charged.  The fee sale, 0.18181818 BTC, is rounded
    (half-even) below 8,000 USDC, so 6.18181818 BTC already leaves 1.25: one unit under the closed form rounded up."""
    plan = _plan(recovering, example("margin-a-regular.json"))
    level, debt, assets, fee, price = D("1.25"), D(400000), D(440000), D(8000), D(44000)
    closed_form = ((level * debt - assets + fee) / (level - 1) / price).quantize(UNIT, ROUND_CEILING)
    assert [(s["asset"], s["quantity"], s["purpose"]) for s in plan["sales"]] == [
        ("BTC", closed_form - UNIT, "debt"),
        ("BTC", D("0.18181818"), "fee"),
    ]
    assert closed_form == D("6.18181819")
    assert (plan["method"], plan["fee_value"]) == ("regular", fee)
    _assert_stops_exactly(plan, "BTC", price, level)


@pytest.mark.parametrize(
    ("mode", "leverage", "quantity", "sold"),
    [("cross_classic", 3, "11", "8.4"), ("isolated", 3, "11.8", "6.8")],
)
def test_level_reached_exactly_on_the_boundary(
    recovering: Engine, mode: str, leverage: int, quantity: str, sold: str
) -> None:
    """ETH at 100, debt 1,000, fee 20: the sale leaves exactly R (1.5); Isolated 3x's is L/(L-1) = 3/2."""
    account = margin_account(assets=[("ETH", quantity, "100")], debt="1000", mode=mode, leverage=leverage)
    plan = _plan(recovering, account)
    assert [(s["quantity"], s["purpose"]) for s in plan["sales"]] == [(D(sold), "debt"), (D("0.2"), "fee")]
    assert plan["stopped_at"] == D("1.5")
    assert _left(plan, "ETH") * 100 == D("1.5") * plan["debt_remaining"]
    _assert_stops_exactly(plan, "ETH", D(100), D("1.5"), (mode, leverage))


@pytest.mark.parametrize(("mode", "leverage"), [tier for tier in PUBLISHED if tier[0] != "cross_pro"])
def test_every_published_level_stops_exactly(recovering: Engine, mode: str, leverage: int) -> None:
    """An account at its tier's liquidation level, one liquid asset at an awkward price."""
    lines, level = PUBLISHED[(mode, leverage)]
    liquidation = D(lines.rpartition("liquidation: ")[2])
    price = D("1234.56789")
    quantity = (D(400000) * liquidation / price).quantize(UNIT, ROUND_CEILING)
    account = margin_account(assets=[("BTC", str(quantity), str(price))], mode=mode, leverage=leverage)
    plan = _plan(recovering, account)
    _assert_stops_exactly(plan, "BTC", price, level, (mode, leverage))


def test_cross_pro_cannot_recover_by_selling(recovering: Engine) -> None:
    """Cross Pro liquidates at 1.0: equity is gone, no sale raises the level to 2; full repayment as without it."""
    account = margin_account(assets=[("BTC", "8", "50000")], mode="cross_pro", leverage=10)
    plan = _plan(recovering, account)
    without = _plan(policy_engine.load(POLICIES), account)
    assert (plan["recovered"], plan["stopped_at"], plan["recovery_level"]) == (False, None, D(2))
    assert {k: v for k, v in plan.items() if k not in ("recovered", "stopped_at", "recovery_level")} == dict(without)


def test_regular_sales_that_cannot_reach_fall_back_to_takeover(recovering: Engine) -> None:
    """Example C at Cross Classic 5x: selling the 1 BTC leaves 1.11428571 < 1.25; the takeover runs as without it."""
    account = example("margin-c-regular-then-takeover.json")
    plan = _plan(recovering, account)
    without = _plan(policy_engine.load(POLICIES), account)
    assert (plan["method"], plan["recovered"]) == ("regular_then_takeover", False)
    assert "recovered" not in [step["event"] for step in plan["steps"]]
    assert {k: v for k, v in plan.items() if k not in ("recovered", "stopped_at", "recovery_level")} == dict(without)
    assert "recovered" not in without


def test_second_asset_recovers_when_the_first_cannot(recovering: Engine) -> None:
    """ETH (1,000 at 100 = 100,000) is sold whole; BTC then stops at 1.25."""
    account = margin_account(assets=[("ETH", "1000", "100"), ("BTC", "7.72727273", "44000")])
    plan = _plan(recovering, account)
    assert [(s["asset"], s["purpose"]) for s in plan["sales"]] == [("ETH", "debt"), ("BTC", "debt"), ("BTC", "fee")]
    assert plan["sales"][0]["quantity"] == D(1000)
    _assert_stops_exactly(plan, "BTC", D(44000), D("1.25"))


def test_fee_on_liquidated_assets_stops_at_the_level(tmp_path: Path) -> None:
    """With the fee charged on the value sold for the debt, the stop still leaves exactly R after the fee."""
    (tmp_path / "margin.yaml").write_text(recovery_yaml().replace("base: liabilities", "base: liquidated_assets"))
    plan = _plan(policy_engine.load(tmp_path), example("margin-a-regular.json"))
    (debt_sale, fee_sale) = plan["sales"]
    assert plan["fee_value"] == D("0.02") * debt_sale["value"]
    assert fee_sale["purpose"] == "fee"
    _assert_stops_exactly(plan, "BTC", D(44000), D("1.25"), minimal=False)


def test_the_explanation_says_where_it_stopped(recovering: Engine) -> None:
    decision = recovering.evaluate(example("margin-a-regular.json"))
    text = explain(decision.to_dict(), recovering.products["spot-margin"])
    line = _recovery_line(("cross_classic", 5))
    (source,) = {step["source"] for step in decision.outcome["liquidation"]["steps"] if step["event"] == "recovered"}
    lines = text.splitlines()
    stopped = [line for line in lines if line.startswith("  stopped: ")]
    assert stopped == [f"  stopped: margin level 1.25000000 is at or above the recovery level 1.25 ({source})"]
    assert source.endswith(f"margin.yaml:{line}")
    assert "  debt left in the account: 128000.00008000" in lines


def test_bundled_policy_has_no_recovery_level(engine: Engine) -> None:
    plan = _plan(engine, example("margin-a-regular.json"))
    assert not {"recovered", "stopped_at", "recovery_level"} & set(plan)
    assert plan["sales"][0]["quantity"] == D("9.09090909")


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("1.16", "expected a recovery level greater than the margin call level (1.16), got 1.16"),
        ("1.123456789", "places"),
    ],
)
def test_recovery_level_lint(tmp_path: Path, level: str, expected: str) -> None:
    (tmp_path / "margin.yaml").write_text(recovery_yaml({("cross_classic", 5): D(level)}))
    with pytest.raises(PolicyError) as raised:
        policy_engine.load(tmp_path)
    found = [(problem.json_path, problem.message) for problem in raised.value.problems]
    assert any(path.endswith(".recovery") and expected in message for path, message in found), found


def test_recovery_level_not_above_one_is_a_schema_error(tmp_path: Path) -> None:
    (tmp_path / "margin.yaml").write_text(recovery_yaml({("cross_pro", 10): D("1")}))
    with pytest.raises(PolicyError) as raised:
        policy_engine.load(tmp_path)
    found = [(problem.json_path, problem.message) for problem in raised.value.problems]
    assert any(path.endswith(".recovery") for path, _ in found), found
