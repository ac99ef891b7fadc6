"""Futures margin (domain.md section 4, seed 001): every worked figure of the domain doc, and the issue's example.

The builders here (`isolated`, `cross`, `decide`) are shared by the other futures test modules.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import cache
from itertools import pairwise
from typing import Any

import pytest

import policy_engine
from policy_engine import Decision, Engine
from policy_engine.operations import OperationSpec
from policy_engine.products.futures_compile import CompiledFuturesPolicy
from policy_engine.products.futures_math import Brackets, maintenance

from .conftest import AS_OF, POLICIES, example

D = Decimal


@cache
def futures_engine() -> Engine:
    return policy_engine.load(POLICIES)


def isolated(**fields: Any) -> dict[str, Any]:
    """The issue's example account (isolated long, 1 BTC at 60,000, mark 58,000), with `fields` changed."""
    account: dict[str, Any] = {
        "kind": "futures-position",
        "account_id": "f1",
        "symbol": "BTCUSDT",
        "margin_mode": "isolated",
        "side": "long",
        "quantity": "1",
        "leverage": 10,
        "entry_price": "60000",
        "mark_price": "58000",
        "position_margin": "6000",
        "wallet_balance": "10000",
        "other_maintenance_margin": "0",
        "other_unrealized_pnl": "0",
        "stop_loss": "55000",
        "key_level_broken": False,
        "emotional": False,
        "margin_adds": 0,
        "account_equity": "10000",
        "backup_funds": "4000",
    }
    return _with(account, fields)


def _with(account: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """`account` with `fields` changed; a field given as `...` is left out."""
    return {key: value for key, value in {**account, **fields}.items() if value is not ...}


def cross(**fields: Any) -> dict[str, Any]:
    """The domain doc's cross short (WB 10.72, TMM1 1.3, UPNL1 0.47, 0.005 BTCUSDT at 9,451.53), `fields` changed."""
    account: dict[str, Any] = {
        "kind": "futures-position",
        "account_id": "c1",
        "symbol": "BTCUSDT",
        "margin_mode": "cross",
        "side": "short",
        "quantity": "0.005",
        "leverage": 20,
        "entry_price": "9451.53",
        "mark_price": "9451.53",
        "wallet_balance": "10.72",
        "other_maintenance_margin": "1.3",
        "other_unrealized_pnl": "0.47",
        "account_equity": "11.19",
        "backup_funds": "100",
    }
    return _with(account, fields)


def decide(account: dict[str, Any], operations: Sequence[OperationSpec] = ()) -> Decision:
    return futures_engine().evaluate(account, as_of=AS_OF, operations=operations)


def outcome(account: dict[str, Any], operations: Sequence[OperationSpec] = ()) -> Any:
    return decide(account, operations).outcome


def policy() -> CompiledFuturesPolicy:
    compiled = futures_engine().policy_for("futures-position", AS_OF)
    assert isinstance(compiled, CompiledFuturesPolicy)
    return compiled


def brackets(symbol: str = "BTCUSDT") -> Brackets:
    return policy().spec.contracts[symbol].brackets


# --- the published liquidation-price checks -------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "raw", "shown"),
    [
        (
            isolated(mark_price="60000"),
            (D(6000) - D(60000)) / (D("0.004") - 1),
            D("54216.87"),
        ),
        (
            isolated(side="short", mark_price="60000", stop_loss=None),
            (D(6000) + D(60000)) / (D("0.004") + 1),
            D("65737.05"),
        ),
        (
            cross(),
            (D("10.72") - D("1.3") + D("0.47") + D("0.005") * D("9451.53")) / (D("0.005") * D("0.004") + D("0.005")),
            D("11383.99"),
        ),
    ],
    ids=["futures-isolated-long", "futures-isolated-short", "futures-cross-short"],
)
def test_published_liquidation_prices(account: dict[str, Any], raw: Decimal, shown: Decimal) -> None:
    """Domain doc section 4: LP = (WB - TMM1 + UPNL1 + cum - Side x Pos x EP) / (Pos x MMR - Side x Pos)."""
    result = outcome(account)
    assert (result["liquidation_price_raw"], result["liquidation_price"]) == (raw, shown)
    assert result["liquidation_bracket"]["index"] == 1
    assert result["liquidation_price_note"] is None


# --- brackets with cum (domain.md: BTCUSDT 0-300k 0.40% ... 12M-70M 2.00%) ------------------------

DOMAIN_BRACKETS = [
    (D(0), D(300_000), D("0.004"), D(0)),
    (D(300_000), D(800_000), D("0.005"), D(300)),
    (D(800_000), D(3_000_000), D("0.0065"), D(1_500)),
    (D(3_000_000), D(12_000_000), D("0.01"), D(12_000)),
    (D(12_000_000), D(70_000_000), D("0.02"), D(132_000)),
]


def test_bundled_btcusdt_brackets_are_the_published_ones() -> None:
    """The first five BTCUSDT brackets are the domain doc's, each cum as published and as recomputed."""
    rows = [(row.lower, row.upper, row.mmr, row.cum) for row in brackets().rows[:5]]
    assert rows == DOMAIN_BRACKETS


def test_cum_follows_the_domain_formula() -> None:
    """cum of band n = floor_n x (MMR_n - MMR_n-1) + cum_n-1, for every bundled bracket of every symbol."""
    for symbol in ("BTCUSDT", "ETHUSDT"):
        rows = brackets(symbol).rows
        assert rows[0].cum == 0
        for before, after in pairwise(rows):
            assert after.cum == after.lower * (after.mmr - before.mmr) + before.cum


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_maintenance_margin_agrees_on_both_sides_of_every_edge(symbol: str) -> None:
    """notional x MMR - cum gives the same maintenance margin from the bracket below and the one above an edge."""
    rows = brackets(symbol).rows
    for below, above in pairwise(rows):
        edge = above.lower
        assert maintenance(below, edge) == maintenance(above, edge)


@pytest.mark.parametrize(
    ("notional", "bracket", "maintenance_margin"),
    [
        ("299999.99", 1, "1199.99996"),
        ("300000", 1, "1200.000"),  # on the edge: the lower bracket, as "0 < Position <= 300,000" reads
        ("300000.01", 2, "1200.00005"),
        ("800000", 2, "3700.000"),
        ("800000.01", 3, "3700.000065"),
        ("12000000", 4, "108000.00"),
        ("12000000.01", 5, "108000.0002"),
    ],
)
def test_bracket_edges_from_both_sides(notional: str, bracket: int, maintenance_margin: str) -> None:
    """A notional on an edge is in the lower bracket; a cent above it, in the next, with no jump in the margin."""
    result = outcome(isolated(quantity=notional, mark_price="1", entry_price="1", position_margin=notional, leverage=1))
    assert (result["bracket"]["index"], result["maintenance_margin"]) == (bracket, D(maintenance_margin))


# --- margin ratio, effective leverage --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mark", "status", "compared"),
    [
        ("54216.88", "red", D("0.9999")),
        ("54216.87", "red", D("0.9999")),  # the price shown, rounded toward the mark: not yet liquidated
        ("54216.86", "liquidation", D("1.0000")),
    ],
)
def test_liquidation_at_a_margin_ratio_of_100_percent(mark: str, status: str, compared: Decimal) -> None:
    """Maintenance margin / margin balance reaching 100% is liquidation, exactly when the raw ratio reaches it."""
    result = outcome(isolated(mark_price=mark))
    assert (result["status"], result["margin_ratio_compared"]) == (status, compared)
    assert (result["margin_ratio"] >= 1) is (status == "liquidation")


def test_adding_margin_lowers_the_effective_leverage() -> None:
    """Seed 001, effect 1: 100U of margin at 10x, another 100U added: the actual leverage is 5x."""
    account = isolated(quantity="0.01", mark_price="100000", entry_price="100000", position_margin="100")
    assert outcome(account)["effective_leverage"] == 10
    assert outcome(account, ["add_margin=100"])["effective_leverage"] == 5


# --- the issue's example account --------------------------------------------------------------------


def test_the_issue_example_account() -> None:
    """1 BTC long at 60,000, marked at 58,000, 6,000 isolated margin: every figure the issue asks for."""
    result = outcome(example("futures-isolated-long.json"))
    assert {key: result[key] for key in ("status", "rule", "notional", "mmr", "maintenance_margin")} == {
        "status": "green",
        "rule": None,
        "notional": D(58000),
        "mmr": D("0.004"),
        "maintenance_margin": D(232),
    }
    assert result["bracket"] == {
        "index": 1,
        "from": D(0),
        "to": D(300000),
        "mmr": D("0.004"),
        "cum": D(0),
        "max_leverage": 125,
    }
    assert (result["initial_margin"], result["unrealized_pnl"], result["margin_balance"]) == (
        D(5800),
        D(-2000),
        D(4000),
    )
    assert (result["margin_ratio"], result["margin_ratio_compared"], result["zone"]) == (
        D("0.058"),
        D("0.0580"),
        "green",
    )
    assert result["liquidation_price"] == D("54216.87")
    advice = result["advice"]
    assert advice["add_margin"] == {"allowed": True, "rules": ()}
    five, ten = advice["recommended_add"]["targets"]
    assert (five["distance"], five["needed"], five["amount"]) == (D("0.05"), False, D(0))
    # 10% below 58,000 is 52,200: margin 52,200 x 0.004 + (60,000 - 52,200) = 8,008.80, so add 2,008.80
    assert (ten["target_price"], ten["amount"], ten["liquidation_price_after"]) == (D(52200), D("2008.80"), D(52200))
    assert advice["recommended_add"]["cap"] == D(10000)
    partial = advice["partial_stop_loss"]
    assert {key: partial[key] for key in ("quantity_closed", "quantity_left", "realised_pnl", "new_funds")} == {
        "quantity_closed": D("0.500"),
        "quantity_left": D("0.500"),
        "realised_pnl": D("-1000.000"),
        "new_funds": D(0),
    }
    # the rest: 5,000 of margin for 0.5 BTC, (5,000 - 30,000) / (0.002 - 0.5) = 50,200.803...
    assert (partial["liquidation_price_after"], partial["margin_ratio_after"]) == (D("50200.81"), D("0.0290"))


def test_a_decision_is_the_same_bytes_each_time() -> None:
    """Same account, same policy version: byte-identical canonical JSON."""
    account = example("futures-isolated-long.json")
    assert decide(account).to_json() == decide(account).to_json()


def test_every_figure_cites_its_yaml_line() -> None:
    """Each step of the trace that computes a figure names the policy line it depends on."""
    trace = decide(example("futures-isolated-long.json")).to_dict()["trace"]
    uncited = [step["step"] for step in trace if "source" not in step and not step.get("parameters")]
    # ratios of figures already cited: no policy value of their own
    assert uncited == ["effective_leverage", "liquidation_distance"]
    cited = {step["step"]: step["source"] for step in trace if "source" in step}
    assert cited["maintenance_margin"] == "policies/futures.yaml:48"
    assert cited["bracket"] == "policies/futures.yaml:51"
    assert cited["margin_ratio"] == "policies/futures.yaml:17"
    assert cited["liquidation_price"] == "policies/futures.yaml:26"
    assert cited["rule:margin_occupancy_over_limit"] == "policies/futures.yaml:151"
