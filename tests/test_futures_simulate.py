"""Auto-add margin along a price path (the golden texts of the futures examples are in test_golden.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.explain import explain
from policy_engine.products.futures_changes import MAX_ADDITIONS
from policy_engine.simulate import read_price_path, simulate

from .conftest import AS_OF, POLICIES, example
from .test_futures_examples import futures_engine

D = Decimal


def walk(account: dict[str, Any], prices: list[str]) -> dict[str, Any]:
    rows = "".join(f"2026-03-02T{hour:02d}:00:00Z,BTCUSDT,{price}\n" for hour, price in enumerate(prices))
    path = read_price_path("timestamp,asset,price\n" + rows, source="prices.csv")
    return simulate(futures_engine(), account, path, source="position.json")


def test_auto_add_draws_on_the_wallet_until_it_is_empty_then_liquidation() -> None:
    """Each time maintenance is reached one maintenance margin is added; the dry wallet ends it in liquidation."""
    timeline = walk(example("futures-auto-add.json"), ["58000", "54200", "54000", "53700", "53400", "53000"])
    entries = timeline["entries"]
    assert (timeline["ended"], len(entries)) == ("liquidation", 5)
    assert [entry["status"] for entry in entries] == ["green", "yellow", "red", "yellow", "liquidation"]
    # at 54,200 the margin balance (6,000 - 5,800 = 200) is under the maintenance margin 216.80: one addition
    assert entries[1]["notes"] == ["auto-add 216.80 -> margin ratio 52.01%, liquidation price 53999.20, wallet 483.20"]
    assert entries[1]["position_margin"] == D("6216.80")
    assert len(entries[3]["notes"]) == 2  # a jump past two maintenance levels: two additions at one price
    assert entries[4]["notes"] == [
        "auto-add 53.60 -> margin ratio 213.60%, liquidation price 53514.06, wallet 0.00",
        "wallet empty: liquidation",
    ]
    assert entries[4]["wallet_balance"] == 0


def test_without_auto_add_the_position_is_liquidated_at_its_liquidation_price() -> None:
    """Off (the default): the wallet is left alone and the first price past 54,216.87 liquidates."""
    account = {**example("futures-auto-add.json"), "auto_add_margin": False}
    timeline = walk(account, ["58000", "54216.87", "54216.86"])
    assert [entry["status"] for entry in timeline["entries"]] == ["green", "red", "liquidation"]
    assert timeline["entries"][-1]["notes"] == ["liquidation (liquidation price 54216.87)"]
    assert timeline["final_account"]["wallet_balance"] == D(700)


def test_adjustments_are_applied_once() -> None:
    """A margin move in the starting account is made at the first point and carried, not made again."""
    account = {**example("futures-isolated-long.json"), "adjustments": [{"type": "add_margin", "amount": "1000"}]}
    timeline = walk(account, ["58000", "57000"])
    assert [entry["position_margin"] for entry in timeline["entries"]] == [D(7000), D(7000)]
    assert "adjustments" not in timeline["final_account"]


def test_a_plan_steps_detail_is_explained() -> None:
    """The generic explanation renders a plan step's detail (kit change for futures: it used to drop it)."""
    decision = {
        "policy": {"id": "p", "version": 1, "file": "p.yaml", "sha256": "0" * 64},
        "account": {"id": "a", "kind": "k"},
        "as_of": AS_OF,
        "outcome": {"status": "ok"},
        "trace": [
            {"step": "moves", "kind": "plan", "value": "2 applied", "source": "p.yaml:3", "detail": {"first": "1"}},
        ],
    }
    assert explain(decision).splitlines()[-2:] == ["  moves: 2 applied  [p.yaml:3]", "      first = 1"]


def test_auto_add_stops_at_its_safety_bound(tmp_path: Path) -> None:
    """An amount expression adding a cent at a time cannot spin: 1,000 additions in one decision at most."""
    text = (POLICIES / "futures.yaml").read_text().replace("amount: maintenance_margin", "amount: '0.01'")
    (tmp_path / "futures.yaml").write_text(text)
    engine = policy_engine.load(tmp_path / "futures.yaml")
    account = {**example("futures-auto-add.json"), "mark_price": "54000"}
    automatic = engine.evaluate(account, as_of=AS_OF).outcome["auto_add"]
    assert (len(automatic["additions"]), automatic["added"], automatic["cut_short"]) == (MAX_ADDITIONS, D(10), True)
    assert automatic["wallet_ran_dry"] is False
