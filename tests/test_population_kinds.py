"""Populations of futures positions and margin transfers: every status, every bracket and band, a share on edges."""

from __future__ import annotations

import ast
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine
from policy_engine.accounts import parse_json_account
from policy_engine.population import generate, population_lines
from policy_engine.products.collateral_policy import CompiledCollateralPolicy
from policy_engine.products.futures import CompiledFuturesPolicy
from policy_engine.products.futures_model import LIQUIDATION

from .conftest import AS_OF, POLICIES

COUNT = 300


def outcomes_of(engine: Engine, kind: str, count: int = COUNT, *, seed: int = 5) -> list[dict[str, Any]]:
    """The outcomes (plain) of a population of one kind, decided at the instant it was made for: every
    account must decide without an error."""
    lines = population_lines(engine, count, seed=seed, kinds=[kind], as_of=AS_OF)
    return [
        engine.evaluate(parse_json_account(line, source="x"), AS_OF).to_dict(trace=False)["outcome"] for line in lines
    ]


@pytest.fixture(scope="module")
def futures(engine: Engine) -> list[dict[str, Any]]:
    return outcomes_of(engine, "futures-position")


@pytest.fixture(scope="module")
def transfers(engine: Engine) -> list[dict[str, Any]]:
    return outcomes_of(engine, "margin-transfer")


def futures_policy(engine: Engine) -> CompiledFuturesPolicy:
    policy = engine.policy_for("futures-position", AS_OF)
    assert isinstance(policy, CompiledFuturesPolicy)
    return policy


def test_same_seed_same_bytes(engine: Engine) -> None:
    kinds = ["futures-position", "margin-transfer"]
    first = "".join(population_lines(engine, 60, seed=3, kinds=kinds, as_of=AS_OF))
    assert first == "".join(population_lines(engine, 60, seed=3, kinds=kinds, as_of=AS_OF))
    assert first != "".join(population_lines(engine, 60, seed=4, kinds=kinds, as_of=AS_OF))


def test_futures_every_status_symbol_bracket_side_and_mode(engine: Engine, futures: list[dict[str, Any]]) -> None:
    """Every status the policy's rules, its default and a gone margin balance give, each common; every
    bracket of every symbol; long and short, isolated and cross."""
    spec = futures_policy(engine).spec
    possible = {rule.outcome["status"] for rule in spec.status_table.rules} | {spec.status_table.default_status}
    statuses = Counter(outcome["status"] for outcome in futures)
    assert set(statuses) == possible | {LIQUIDATION}
    assert min(statuses.values()) >= COUNT // 10
    assert any(outcome["margin_ratio"] is None for outcome in futures)  # past liquidation: no balance left
    brackets = {(outcome["symbol"], outcome["bracket"]["index"]) for outcome in futures}
    assert brackets == {
        (symbol, row.index + 1) for symbol, contract in spec.contracts.items() for row in contract.brackets.rows
    }
    assert {(o["side"], o["margin_mode"]) for o in futures} == {
        (side, mode) for side in ("long", "short") for mode in ("isolated", "cross")
    }


def test_futures_share_exactly_on_a_ratio_or_bracket_edge(engine: Engine, futures: list[dict[str, Any]]) -> None:
    """Recomputed from the policy: the zones' edges, the ratio the liquidation rule compares with, the
    brackets' notional edges.  Some ratios sit on an edge raw, more as compared; 10% and more on an edge."""
    spec = futures_policy(engine).spec
    zone_edges = {band.lower for band in spec.zones.bands if band.lower > 0}
    liquidation = next(rule for rule in spec.status_table.rules if rule.outcome["status"] == LIQUIDATION)
    rule_edges: set[Decimal] = set()
    for node in ast.walk(liquidation.expression.tree):
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, Decimal):
                rule_edges.add(value)
    notional_edges = {
        row.upper for contract in spec.contracts.values() for row in contract.brackets.rows if row.upper is not None
    }
    compared = Counter(Decimal(o["margin_ratio_compared"]) for o in futures if o["margin_ratio_compared"] is not None)
    raw = {Decimal(o["margin_ratio"]) for o in futures if o["margin_ratio"] is not None}
    on_ratio = sum(compared[edge] for edge in zone_edges | rule_edges)
    on_notional = sum(Decimal(o["notional"]) in notional_edges for o in futures)
    assert all(compared[edge] >= 3 for edge in zone_edges | rule_edges)
    assert raw & (zone_edges | rule_edges)
    assert on_notional >= COUNT // 40
    assert on_ratio + on_notional >= COUNT // 10
    assert any(rule["id"] == "leverage_above_bracket" for o in futures for rule in o["advice"]["add_margin"]["rules"])


def test_futures_edges_come_from_the_loaded_policy(tmp_path: Path) -> None:
    """Move the yellow zone's lower edge in a copy of the policy: positions sit on the new edge, not the old."""
    text = (POLICIES / "futures.yaml").read_text()
    moved = text.replace("to: 0.5, zone: green}", "to: 0.55, zone: green}").replace(
        "{from: 0.5, to: 0.8, zone: yellow}", "{from: 0.55, to: 0.8, zone: yellow}"
    )
    assert moved != text
    (tmp_path / "futures.yaml").write_text(moved)
    engine = policy_engine.load(tmp_path)
    ratios = {
        engine.evaluate(account, AS_OF).outcome["margin_ratio_compared"]
        for account in generate(engine, 400, seed=5, kinds=["futures-position"], as_of=AS_OF)
    }
    assert Decimal("0.55") in ratios
    assert Decimal("0.5") not in ratios


def collateral_policy(engine: Engine) -> CompiledCollateralPolicy:
    policy = engine.policy_for("margin-transfer", AS_OF)
    assert isinstance(policy, CompiledCollateralPolicy)
    return policy


def test_transfers_every_band_and_status(engine: Engine, transfers: list[dict[str, Any]]) -> None:
    """Every band of the rule, requests outside it, and allowed, capped and refused requests."""
    rule = collateral_policy(engine).rule
    bands = Counter(o["band"]["number"] if o["band"] else None for o in transfers)
    assert set(bands) == {None} | {band.index + 1 for band in rule.bands.bands}
    assert min(bands.values()) >= COUNT // 20
    statuses = Counter(o["status"] for o in transfers)
    assert set(statuses) == {"allowed", "capped", "refused"}
    assert {o["account_type"] for o in transfers} == rule.counted | rule.excluded


def test_transfers_on_band_edges_around_the_limit_and_on_the_maximum(
    engine: Engine, transfers: list[dict[str, Any]]
) -> None:
    """Recomputed from the policy: ratios exactly on each band edge, platform totals within 2% of the upper
    limit (the last closed band's edge) on either side, and quantities exactly the maximum allowed."""
    rule = collateral_policy(engine).rule
    edges = {band.lower for band in rule.bands.bands if band.lower > 0}
    limit = max(band.upper for band in rule.bands.bands if band.upper is not None)
    ratios = Counter(Decimal(o["ratio"]) for o in transfers if o["ratio"] is not None)
    assert all(ratios[edge] >= 5 for edge in edges)
    assert sum(ratios[edge] for edge in edges) >= COUNT // 10
    near = [ratio for ratio in ratios if ratio != limit and abs(ratio - limit) <= limit / 50]
    assert any(ratio < limit for ratio in near)
    assert any(ratio > limit for ratio in near)
    on_maximum = [
        o for o in transfers if o["max_quantity"] is not None and Decimal(o["quantity"]) == Decimal(o["max_quantity"])
    ]
    assert len(on_maximum) >= COUNT // 40
    assert {o["status"] for o in on_maximum} == {"allowed"}
