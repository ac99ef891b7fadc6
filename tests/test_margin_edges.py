"""Margin edge cases beyond the worked examples: fee bases, several assets and debts, no debt."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine, EvaluationError

from .conftest import POLICIES, margin_account

D = Decimal
BUNDLED = (POLICIES / "margin-trading.yaml").read_text()


def edited_engine(tmp_path: Path, old: str, new: str) -> Engine:
    assert old in BUNDLED
    (tmp_path / "margin.yaml").write_text(BUNDLED.replace(old, new))
    return policy_engine.load(tmp_path)


def test_fee_on_liquidated_assets(tmp_path: Path) -> None:
    """With `base: liquidated_assets` the fee is the rate on the value sold or taken over for the debt."""
    engine = edited_engine(tmp_path, "base: liabilities", "base: liquidated_assets")  # all modes
    account = margin_account(assets=[("SUPER", "500000", "0.88")], execution_prices={"SUPER": "0.87"})
    plan = engine.evaluate(account).outcome["liquidation"]
    assert (plan["fee_base"], plan["fee_base_value"], plan["fee_value"]) == ("liquidated_assets", D(435000), D(8700))
    assert plan["returned"] == ({"asset": "USDC", "quantity": D(26300)},)


def test_collateral_in_the_debt_asset_repays_first(engine: Engine) -> None:
    """USDC held against a USDC debt is used before BTC, whatever order the account lists them in."""
    account = margin_account(assets=[("BTC", "5", "40000"), ("USDC", "240000", "1")])
    plan = engine.evaluate(account).outcome["liquidation"]
    assert [(s["asset"], s["quantity"], s["purpose"]) for s in plan["sales"]] == [
        ("USDC", D(240000), "debt"),
        ("BTC", D(4), "debt"),
        ("BTC", D("0.2"), "fee"),
    ]
    assert plan["returned"] == ({"asset": "BTC", "quantity": D("0.8")},)


def test_cash_is_returned_in_the_largest_debt_asset(engine: Engine) -> None:
    """A zero ETH liability does not decide the asset takeover cash comes back in."""
    account = margin_account(assets=[("SUPER", "500000", "0.88")], execution_prices={"SUPER": "0.87"})
    account["liabilities"].insert(0, {"asset": "ETH", "principal": "0", "interest": "0", "price": "3000"})
    plan = engine.evaluate(account).outcome["liquidation"]
    assert plan["returned"] == ({"asset": "USDC", "quantity": D(27000)},)


def test_derived_figures_built_on_the_margin_level_are_skipped_without_debt(tmp_path: Path) -> None:
    """A figure that reads another figure that reads the margin level is undefined with no debt, not a crash."""
    engine = edited_engine(
        tmp_path,
        "    expression: total_asset_value - total_liability_value\n",
        "    expression: total_asset_value - total_liability_value\n"
        "  - name: headroom\n    expression: margin_level - liquidation_level\n"
        "  - name: headroom_percent\n    expression: headroom * 100\n",
    )
    outcome = engine.evaluate(margin_account(assets=[("BTC", "1", "50000")], debt="0")).outcome
    assert dict(outcome["derived"]) == {"net_equity_value": D(50000), "headroom": None, "headroom_percent": None}
    with_debt = engine.evaluate(margin_account(assets=[("BTC", "10", "50000")])).outcome
    assert dict(with_debt["derived"]) == {
        "net_equity_value": D(100000),
        "headroom": D("0.15"),
        "headroom_percent": D("15.00"),
    }


def test_failing_expression_is_named_with_its_line(tmp_path: Path) -> None:
    """A division by zero in a policy expression names the expression, its YAML line and its inputs."""
    engine = edited_engine(
        tmp_path,
        "expression: total_asset_value - total_liability_value",
        "expression: total_liability_value / total_asset_value",
    )
    with pytest.raises(EvaluationError) as raised:
        engine.evaluate(margin_account(assets=[], debt="100"))
    line = BUNDLED.splitlines().index("  - name: net_equity_value") + 1
    assert [str(p) for p in raised.value.problems] == [
        f"{tmp_path.name}/margin.yaml:{line}:1: $.derived[0]: `total_liability_value / total_asset_value` failed with"
        " DivisionByZero for total_liability_value = 100, total_asset_value = 0"
    ]


def test_places_beyond_the_default_precision_do_not_crash(tmp_path: Path) -> None:
    """Comparing at 20 places with a dust debt needs more than 28 digits; the engine has them."""
    engine = edited_engine(tmp_path, "  places: 8\n", "  places: 20\n")
    account = margin_account(assets=[("BTC", "10", "44000")], debt="0.00000001")
    assert engine.evaluate(account).outcome["status"] == "ok"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("note", 1.5, "expected a string or a Decimal, got binary float 1.5 (floats are inexact)"),
        ("note", D("1e500"), "number out of range: 1.000e+500 (at most 1e60 in size)"),
    ],
    ids=["float-in-extra-field", "huge-number"],
)
def test_whole_account_is_checked(engine: Engine, field: str, value: Any, message: str) -> None:
    """Fields the product ignores are still refused when they hold floats or absurd numbers."""
    account = margin_account(assets=[("BTC", "10", "50000")])
    account[field] = value
    with pytest.raises(policy_engine.AccountError) as raised:
        engine.evaluate(account)
    assert [str(p) for p in raised.value.problems] == [f"account: $.{field}: {message}"]


def test_decision_keeps_its_own_copy_of_the_account(engine: Engine) -> None:
    """Changing the caller's dict after the call changes neither the digest nor the recorded account."""
    account = margin_account(assets=[("BTC", "10", "50000")])
    decision = engine.evaluate(account)
    before = decision.to_json()
    account["account_id"] = "someone-else"
    account["assets"][0]["quantity"] = "1"
    assert decision.to_json() == before


def test_version_start_is_exact_to_the_microsecond(tmp_path: Path) -> None:
    """A version starting at .900 s is not in force at .100 s of the same second."""
    (tmp_path / "v1.yaml").write_text(BUNDLED)
    (tmp_path / "v2.yaml").write_text(
        BUNDLED.replace("version: 1", "version: 2").replace(
            "effective_from: 2026-01-01", 'effective_from: "2026-03-01T00:00:00.900+00:00"'
        )
    )
    engine = policy_engine.load(tmp_path)
    account = margin_account(assets=[("BTC", "10", "50000")])
    assert engine.evaluate(account, as_of="2026-03-01T00:00:00.100+00:00").policy.version == 1
    assert engine.evaluate(account, as_of="2026-03-01T00:00:00.900+00:00").policy.version == 2


def test_returned_has_one_entry_per_asset_and_no_zero_cash(engine: Engine) -> None:
    """Leftover cash that rounds down to nothing is not returned as a `0.00000000` second entry of the asset."""
    account = {
        "kind": "spot-margin",
        "account_id": "test",
        "mode": "cross_classic",
        "leverage": 3,
        "assets": [{"asset": "BNB", "quantity": "100000", "price": "0.01"}],
        "liabilities": [{"asset": "BNB", "principal": "90917.35612329", "interest": "0", "price": "0.01"}],
    }
    plan = engine.evaluate(account, "2026-03-01").outcome["liquidation"]
    assert plan["returned"] == ({"asset": "BNB", "quantity": D("7264.29675424")},)
    assert plan["cash_returned"] == {"asset": "BNB", "quantity": D(0)}


def test_cash_returned_joins_the_same_asset_still_held(engine: Engine) -> None:
    """Takeover cash returned in USDC is added to the USDC collateral left, one entry for the asset."""
    account = margin_account(
        assets=[("SUPER", "499990", "0.88"), ("USDC", "1", "1")], execution_prices={"SUPER": "0.87"}
    )
    plan = engine.evaluate(account, "2026-03-01").outcome["liquidation"]
    cash = plan["cash_returned"]
    assert cash["asset"] == "USDC"
    assert cash["quantity"] > 0
    assert [item["asset"] for item in plan["returned"]] == ["USDC"]
    left_in_kind = D(1) - sum((s["quantity"] for s in plan["sales"] if s["asset"] == "USDC"), D(0))
    assert plan["returned"][0]["quantity"] == left_in_kind + cash["quantity"]
