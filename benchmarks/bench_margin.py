"""Benchmark: one margin decision, policy-engine against a hand-written Decimal pipeline.

The workload follows ../shared/bench-peers (random accounts, about 3% exactly
on a threshold), as spot-margin accounts with string money fields.  Contenders:

- hand-written: reads the strings into Decimal, sums, looks up the tier,
  computes and rounds the margin level, decides the status and records a
  per-step trace (tuples), the work policy-engine's core does before rendering;
- engine core: the compiled policy's `evaluate` (no input validation);
- fast input check: the compiled schema check alone;
- engine.evaluate: validation + version selection + core + Decision record;
- jsonschema: full jsonschema validation of the same account, for scale.

Only accounts that do not liquidate are timed for the ratio (liquidation
adds the plan, which the hand-written pipeline does not do); liquidating
accounts are timed separately.  Nothing is rendered: rendering is lazy.

    python benchmarks/bench_margin.py [--n 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine.schema import validator_for

ROOT = Path(__file__).resolve().parent.parent
TIERS = [
    ("cross_classic", 3),
    ("cross_classic", 5),
    ("isolated", 3),
    ("isolated", 5),
    ("isolated", 10),
    ("cross_pro", 10),
]
CENT = Decimal("0.01")
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def make_accounts(n: int, thresholds: dict[tuple[str, int], tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
    rng = random.Random(20240501)
    accounts = []
    for index in range(n):
        mode, leverage = rng.choice(TIERS)
        call, liquidation = thresholds[(mode, leverage)]
        debt = Decimal(rng.randint(10_000, 100_000_000)).scaleb(-2)
        interest = (debt * Decimal(rng.randint(0, 500)).scaleb(-4)).quantize(CENT)
        owed = debt + interest
        if rng.random() < 0.03:
            assets = owed * rng.choice((call, liquidation))
        else:
            assets = (owed * Decimal(rng.randint(9_000, 20_000)).scaleb(-4)).quantize(CENT)
        accounts.append(
            {
                "kind": "spot-margin",
                "account_id": f"a{index}",
                "mode": mode,
                "leverage": leverage,
                "assets": [{"asset": "USDT", "quantity": str(assets), "price": "1"}],
                "liabilities": [{"asset": "USDC", "principal": str(debt), "interest": str(interest), "price": "1"}],
            }
        )
    return accounts


def hand_written(thresholds: dict[tuple[str, int], tuple[Decimal, Decimal]]) -> Callable[[dict[str, Any]], Any]:
    places = Decimal("0.00000001")

    def decide(account: dict[str, Any]) -> Any:
        trace: list[tuple[str, Any]] = []
        assets = [(a["asset"], Decimal(a["quantity"]), Decimal(a["price"])) for a in account["assets"]]
        total_assets = sum((q * p for _, q, p in assets), Decimal(0))
        trace.append(("total_asset_value", total_assets))
        debts = [
            (d["asset"], Decimal(d["principal"]) + Decimal(d["interest"]), Decimal(d["price"]))
            for d in account["liabilities"]
        ]
        total_debt = sum((q * p for _, q, p in debts), Decimal(0))
        trace.append(("total_liability_value", total_debt))
        call, liquidation = thresholds[(account["mode"], account["leverage"])]
        trace.append(("tier", (call, liquidation)))
        level = total_assets / total_debt
        compared = level.quantize(places)
        trace.append(("margin_level", level))
        if compared <= liquidation:
            status = "liquidation"
        elif compared <= call:
            status = "margin_call"
        else:
            status = "ok"
        trace.append(("status", status))
        return status, trace

    return decide


def time_calls(function: Callable[[Any], Any], items: list[Any], runs: int) -> tuple[float, float]:
    """(median p50 in µs, median throughput per second) over `runs` runs."""
    p50s, rates = [], []
    for _ in range(runs):
        for item in items[:2000]:
            function(item)
        samples = []
        clock = time.perf_counter_ns
        for item in items:
            start = clock()
            function(item)
            samples.append(clock() - start)
        p50s.append(statistics.median(samples) / 1000)
        start = clock()
        for item in items:
            function(item)
        rates.append(len(items) / ((clock() - start) / 1e9))
    return statistics.median(p50s), statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    engine = policy_engine.load(ROOT / "policies")
    policy: Any = engine.policy_for("spot-margin")  # the margin product's compiled policy
    thresholds = {
        (mode, leverage): (tier.values["margin_call_level"], tier.values["liquidation_level"])
        for mode, spec in policy.modes.items()
        for leverage, tier in spec.tiers.items()
    }
    accounts = make_accounts(args.n, thresholds)
    reference = hand_written(thresholds)
    mismatches = sum(engine.evaluate(a).status != reference(a)[0] for a in accounts)
    calm = [a for a in accounts if reference(a)[0] != "liquidation"]
    liquidating = [a for a in accounts if reference(a)[0] == "liquidation"]
    check = engine._readers["spot-margin"].check
    jsonschema_validator: Any = validator_for(engine.products["spot-margin"].account_schema)

    rows: list[tuple[str, float, float]] = []
    contenders: list[tuple[str, Callable[[Any], Any], list[dict[str, Any]]]] = [
        ("hand-written Decimal + trace (no liquidation)", reference, calm),
        (
            "engine core: compiled policy (no liquidation)",
            lambda a: policy.evaluate(a, source="a", as_of=AS_OF, related={}),
            calm,
        ),
        ("fast input check (compiled schema)", check, calm),
        ("engine.evaluate: check + core + Decision (no liquidation)", engine.evaluate, calm),
        ("engine.evaluate, liquidating accounts (plan included)", engine.evaluate, liquidating),
        ("jsonschema Draft 2020-12 validation (for scale)", jsonschema_validator.is_valid, calm[:5000]),
    ]
    for name, function, items in contenders:
        p50, rate = time_calls(function, items, args.runs)
        rows.append((name, p50, rate))
    print(f"accounts: {len(accounts)} ({len(calm)} not liquidating); status mismatches vs hand-written: {mismatches}")
    print(f"{'contender':62} {'p50 µs':>8} {'per s':>10}")
    for name, p50, rate in rows:
        print(f"{name:62} {p50:8.2f} {rate:10,.0f}")
    base = rows[0][1]
    print(
        f"ratio engine core / hand-written: {rows[1][1] / base:.2f}x;"
        f" engine.evaluate / hand-written: {rows[3][1] / base:.2f}x"
    )


if __name__ == "__main__":
    main()
