"""Differential test: futures decisions against an independent reference written from domain.md section 4.

`tests/reference/futures.py` computes the notional's bracket, the
maintenance margin, the margin balance and ratio, the zone and status and the
liquidation price (with its bracket and distance) straight from the domain
reference; a seeded generator places thousands of positions on and around
every bracket edge and every zone edge (100% included), long and short,
isolated and cross, in both symbols.  The variant puts edge notionals in the
upper bracket, rounds the margin ratio half-up and the liquidation price away
from the mark price, so that the policy's choices are exercised too.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from policy_engine import Engine

from .conftest import AS_OF, POLICIES, example
from .reference.compare import compare_all
from .reference.futures import engine_figures, futures_figures
from .reference.futures_accounts import futures_accounts
from .reference.policy_data import load_variants, policy_data

D = Decimal
BUNDLED = (POLICIES / "futures.yaml").read_text()
VARIANTS = {
    "bundled": BUNDLED,
    "upper-edges-other-roundings": BUNDLED.replace(
        "bracket_edge_belongs_to: lower_bracket", "bracket_edge_belongs_to: upper_bracket"
    )
    .replace("  places: 4\n  rounding: ROUND_DOWN", "  places: 4\n  rounding: ROUND_HALF_UP")
    .replace("    long: ROUND_CEILING\n    short: ROUND_FLOOR", "    long: ROUND_FLOOR\n    short: ROUND_CEILING"),
}
ACCOUNTS = 1500


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Engine, dict[str, Any]]]:
    """Each variant's engine, loaded from its own folder, and its policy as plain data."""
    return load_variants(tmp_path_factory.mktemp("variants"), "futures.yaml", VARIANTS)


def test_the_variant_changes_what_it_says() -> None:
    """The variant differs from the bundled policy in the edge rule and the two roundings, nowhere else."""
    bundled, variant = policy_data(BUNDLED, "b"), policy_data(VARIANTS["upper-edges-other-roundings"], "v")
    assert variant["bracket_edge_belongs_to"] == "upper_bracket"
    assert variant["margin_ratio"] == {"places": 4, "rounding": "ROUND_HALF_UP"}
    assert variant["liquidation_price"]["rounding"] == {"long": "ROUND_FLOOR", "short": "ROUND_CEILING"}
    same = {key: bundled[key] for key in ("bracket_edge_belongs_to", "margin_ratio", "liquidation_price")}
    assert {**variant, **same} == bundled


def test_the_reference_reads_the_rules_the_policy_states() -> None:
    """The reference hard-codes the bundled status rules: it must be updated if they change."""
    policy = policy_data(BUNDLED, "b")
    assert [(rule["id"], rule["when"], rule["status"]) for rule in policy["rules"]] == [
        ("liquidation", "margin_ratio >= 1", "liquidation"),
        ("red_zone", "zone == 'red'", "red"),
        ("yellow_zone", "zone == 'yellow'", "yellow"),
    ]
    assert policy["default_status"] == "green"


PUBLISHED = {
    "isolated-long": ({"side": "long", "position_margin": "6000"}, D("54216.87")),
    "isolated-short": ({"side": "short", "position_margin": "6000"}, D("65737.05")),
    "cross-short": (
        {
            "margin_mode": "cross",
            "side": "short",
            "quantity": "0.005",
            "entry_price": "9451.53",
            "mark_price": "9451.53",
            "wallet_balance": "10.72",
            "other_maintenance_margin": "1.3",
            "other_unrealized_pnl": "0.47",
            "backup_funds": "0",
        },
        D("11383.99"),
    ),
}


@pytest.mark.parametrize("case", list(PUBLISHED))
def test_the_reference_reproduces_the_published_liquidation_prices(case: str) -> None:
    """domain.md section 4: isolated WB 6,000, 1 BTC at 60,000 (long 54,216.87, short 65,737.05); cross short
    0.005 BTCUSDT at 9,451.53 with WB 10.72, TMM1 1.3 and UPNL1 0.47 (11,383.99); MMR 0.4% in each."""
    changes, price = PUBLISHED[case]
    account = {**example("futures-isolated-long.json"), "entry_price": "60000", "mark_price": "60000", **changes}
    if account["margin_mode"] == "cross":
        del account["position_margin"]
    figures = futures_figures(policy_data(BUNDLED, "b"), account)
    assert (figures["liquidation_price"], figures["mmr"], figures["liquidation_bracket"]) == (price, D("0.004"), 1)


def _coverage(account: dict[str, Any], figures: Mapping[str, Any], policy: dict[str, Any]) -> set[str]:
    """The cases a position exercises (`figures`: the engine's), for the check that the generator reaches them."""
    cases = {f"status:{figures['status']}", f"{account['margin_mode']}-{account['side']}"}
    brackets = policy["symbols"][account["symbol"]]["brackets"]
    cases.add(f"{account['symbol']}:bracket:{figures['bracket']}")
    if figures["notional"] in {band["to"] for band in brackets}:
        cases.add("notional-on-a-bracket-edge")
    if figures["margin_balance"] <= 0:
        cases.add("margin-balance-gone")
    elif figures["margin_ratio"] in {D(1), *(zone["from"] for zone in policy["zones"] if zone["from"] > 0)}:
        cases.add("ratio-exactly-on-an-edge")
    if figures["liquidation_price"] is None:
        cases.add("no-liquidation-price")
    elif figures["liquidation_bracket"] != figures["bracket"]:
        cases.add("liquidation-in-another-bracket")
    return cases


def _expected_cases(policy: dict[str, Any]) -> set[str]:
    cases = {f"status:{status}" for status in ("green", "yellow", "red", "liquidation")}
    cases |= {f"{mode}-{side}" for mode in ("isolated", "cross") for side in ("long", "short")}
    cases |= {
        f"{symbol}:bracket:{number}"
        for symbol, spec in policy["symbols"].items()
        for number in range(1, len(spec["brackets"]) + 1)
    }
    return cases | {
        "notional-on-a-bracket-edge",
        "margin-balance-gone",
        "ratio-exactly-on-an-edge",
        "no-liquidation-price",
        "liquidation-in-another-bracket",
    }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_figure_agrees_with_the_reference(
    engines: dict[str, tuple[Engine, dict[str, Any]]], variant: str
) -> None:
    """1,500 generated positions: bracket, maintenance margin, margin balance and ratio, zone, status, rule and the
    liquidation price with its bracket and distance agree."""
    engine, policy = engines[variant]
    disagreements, seen = compare_all(
        futures_accounts(policy, ACCOUNTS, seed=15),
        lambda account: engine_figures(engine.evaluate(account, as_of=AS_OF).outcome),
        lambda account: futures_figures(policy, account),
        lambda account, figures: _coverage(account, figures, policy),
    )
    assert disagreements[:3] == []
    assert _expected_cases(policy) - seen == set()


# --- found by the differential run: failed before its fix ---------------------------------------------

ROOT_ON_AN_EDGE = {
    "kind": "futures-position",
    "account_id": "edge",
    "symbol": "ETHUSDT",
    "margin_mode": "isolated",
    "side": "short",
    "quantity": "5",
    "leverage": 20,
    "entry_price": "90200",
    "mark_price": "200000",
    "position_margin": "563635",
    "account_equity": "1690905",
}


@pytest.mark.parametrize(("variant", "bracket"), [("bundled", 4), ("upper-edges-other-roundings", 5)])
def test_a_liquidation_price_on_a_bracket_edge_is_in_the_bracket_the_edge_rule_names(
    engines: dict[str, tuple[Engine, dict[str, Any]]], variant: str, bracket: int
) -> None:
    """Short 5 ETHUSDT at 200,000 with a margin that puts the liquidation price at 200,000: the notional there,
    1,000,000, is the edge between brackets 4 and 5.  It is in the bracket the policy's edge rule names, as the
    position's own notional (the same) is; with `upper_bracket` the liquidation bracket used to be 4."""
    engine, _policy = engines[variant]
    outcome = engine.evaluate(ROOT_ON_AN_EDGE, as_of=AS_OF).outcome
    assert (outcome["bracket"]["index"], outcome["liquidation_bracket"]["index"]) == (bracket, bracket)
    assert outcome["liquidation_price_raw"] == D(200000)
