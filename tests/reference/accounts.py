"""Seeded generators of valid accounts, placed around the policies' thresholds.

Each account is built from a target (a margin level or an LTV) so that every
status, every liquidation method and every auto top-up action comes up, with
a share of accounts exactly on a threshold and just either side of its
rounding.  The same seed gives the same accounts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from .policy_data import WIDE

D = Decimal
EIGHT = D("1e-8")
LIQUID_PRICES = {"BTC": (20000, 80000), "ETH": (1000, 5000), "BNB": (200, 800), "USDC": (1, 1), "USDT": (1, 1)}
STABLE = ("USDC", "USDT")


def _decimal(rng: random.Random, low: float, high: float, places: int) -> Decimal:
    """A uniform decimal in [low, high] with `places` decimals, drawn from integers (no float reaches it)."""
    scale = 10**places
    units = rng.randint(round(low * scale), round(high * scale))
    return D(units).scaleb(-places)


def _margin_target(rng: random.Random, call: Decimal, liquidation: Decimal) -> tuple[str, Decimal]:
    """A margin level to aim at, and whether the debt must make it exact."""
    kind = rng.choice(
        [
            "above",
            "above",
            "call",
            "call-rounded",
            "between",
            "liquidation",
            "liquidation-rounded",
            "below",
            "below",
            "under-one",
        ]
    )
    if kind == "above":
        return kind, call * _decimal(rng, 1.0001, 3, 6)
    if kind in ("call", "call-rounded"):
        return kind, call
    if kind == "between":
        return kind, liquidation + (call - liquidation) * _decimal(rng, 0.01, 0.99, 4)
    if kind in ("liquidation", "liquidation-rounded"):
        return kind, liquidation
    if kind == "below":
        return kind, liquidation * _decimal(rng, 0.9, 0.9999, 6)
    return kind, _decimal(rng, 0.2, 0.999, 4)  # collateral short of the debt


def margin_accounts(policy: Mapping[str, Any], count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` spot-margin accounts valid under `policy`, around its thresholds."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, nothing secret
    tiers = [(mode, row) for mode, spec in policy["modes"].items() for row in spec["leverages"]]
    liquid = [asset for asset, spec in policy["assets"].items() if spec["liquidity"] == "liquid"]
    illiquid = [asset for asset, spec in policy["assets"].items() if spec["liquidity"] == "illiquid"]
    for number in range(count):
        mode, row = rng.choice(tiers)
        shape = rng.choice(["liquid", "liquid", "illiquid", "mixed", "mixed", "no-debt", "empty"])
        kinds = {"liquid": (1, 0), "illiquid": (0, 1), "mixed": (1, 1)}.get(shape, (rng.randint(1, 2), 0))
        chosen = rng.sample(liquid, rng.randint(kinds[0], min(3, len(liquid))) if kinds[0] else 0)
        chosen += rng.sample(illiquid, kinds[1])
        assets = []
        for asset in chosen:
            low, high = LIQUID_PRICES.get(asset, (0.2, 2))
            price = D(1) if asset in STABLE else _decimal(rng, low, high, rng.choice([2, 4, 9]))
            quantity = D(0) if shape == "empty" else _decimal(rng, 0.001, 50 if price > 100 else 600000, 8)
            assets.append({"asset": asset, "quantity": str(quantity), "price": str(price)})
        total = sum((D(a["quantity"]) * D(a["price"]) for a in assets), D(0))
        debt_asset = rng.choice(STABLE)
        kind, target = _margin_target(rng, row["margin_call"], row["liquidation"])
        liabilities = []
        if shape == "no-debt":
            if rng.random() < 0.5:
                liabilities.append({"asset": debt_asset, "principal": "0", "interest": "0", "price": "1"})
        elif shape == "empty":
            liabilities.append(
                {"asset": debt_asset, "principal": str(_decimal(rng, 1, 100000, 2)), "interest": "0", "price": "1"}
            )
        else:
            # a second, non-stable debt sometimes, the rest in a stablecoin sized to reach the target
            debt = total / target
            spare = [s for s in STABLE if s not in chosen]
            if kind in ("call", "liquidation") and spare and total < target * 500000:
                # exact: one more stablecoin holding makes assets = target x debt to the last digit
                debt = D(rng.randint(int(total / target) + 1, 500000))
                assets.append({"asset": rng.choice(spare), "quantity": str(target * debt - total), "price": "1"})
            elif kind in ("call", "liquidation"):
                kind += "-rounded"
            if rng.random() < 0.25 and kind not in ("call", "liquidation"):
                btc_price = _decimal(rng, 20000, 80000, 2)
                btc_debt = (debt * _decimal(rng, 0.1, 0.6, 3) / btc_price).quantize(EIGHT)
                liabilities.append(
                    {"asset": "BTC", "principal": str(btc_debt), "interest": "0", "price": str(btc_price)}
                )
                debt -= btc_debt * btc_price
            stable_debt = debt if kind in ("call", "liquidation") else debt.quantize(EIGHT, context=WIDE)
            interest = (stable_debt * _decimal(rng, 0, 0.01, 4)).quantize(EIGHT) if rng.random() < 0.5 else D(0)
            liabilities.append(
                {"asset": debt_asset, "principal": str(stable_debt - interest), "interest": str(interest), "price": "1"}
            )
        execution = {}
        for line in assets:
            if line["asset"] in illiquid or rng.random() < 0.15:
                execution[line["asset"]] = str((D(line["price"]) * _decimal(rng, 0.85, 1.02, 3)).quantize(EIGHT))
        account: dict[str, Any] = {
            "kind": "spot-margin",
            "account_id": f"m{number}",
            "mode": mode,
            "leverage": int(row["leverage"]),
            "assets": assets,
            "liabilities": liabilities,
        }
        if execution and rng.random() < 0.8:
            account["execution_prices"] = execution
        yield account


def _ltv_target(rng: random.Random, row: Mapping[str, Decimal], places: int) -> Decimal:
    half = D(5).scaleb(-(places + 1))  # half a unit of the compared precision
    choice = rng.choice(
        ["below", "initial", "between", "call", "call-", "call+", "mid", "liquidation", "liquidation-", "above"]
    )
    return {
        "below": row["initial"] * _decimal(rng, 0.3, 0.99, 4),
        "initial": row["initial"],
        "between": row["initial"] + (row["margin_call"] - row["initial"]) * _decimal(rng, 0.01, 0.99, 3),
        "call": row["margin_call"],
        "call-": row["margin_call"] - half,  # rounds up to the call level (half-up)
        "call+": row["margin_call"] - half - D("1e-9"),  # just misses it
        "mid": row["margin_call"] + (row["liquidation"] - row["margin_call"]) * _decimal(rng, 0.01, 0.99, 3),
        "liquidation": row["liquidation"],
        "liquidation-": row["liquidation"] - half,
        "above": row["liquidation"] * _decimal(rng, 1.0001, 1.6, 4),
    }[choice]


def loan_accounts(policy: Mapping[str, Any], count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """`count` crypto-loan accounts valid under `policy` at `now`, around its LTVs and retry states."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, nothing secret
    interval = timedelta(microseconds=int(policy["auto_top_up"]["retry_interval_hours"] * 3_600_000_000))
    max_attempts = int(policy["auto_top_up"]["max_attempts"])
    places = int(policy["ltv"]["places"])
    types = list(policy["loan_types"])
    for number in range(count):
        loan_type = rng.choice([None, *types])
        table = policy["loan_types"][loan_type or policy["default_loan_type"]]["collateral"]
        collateral_asset = rng.choice(sorted(table))
        loan_asset = rng.choice([a for a in ("USDT", "USDC", "USDT", "ETH", "BTC") if a != collateral_asset])
        price = _decimal(rng, 20000, 80000, 5) if collateral_asset == "BTC" else _decimal(rng, 1000, 5000, 5)
        loan_price = D(1) if loan_asset in ("USDT", "USDC") else _decimal(rng, 500, 80000, 2)
        quantity = _decimal(rng, 0.001, 20, 8)
        target = _ltv_target(rng, table[collateral_asset], places)
        owed = target * quantity * price / loan_price  # exact for a stablecoin loan
        if loan_price != 1:
            owed = owed.quantize(EIGHT, context=WIDE)
        interest = (owed * _decimal(rng, 0, 0.02, 4)).quantize(EIGHT) if rng.random() < 0.3 else D(0)
        account: dict[str, Any] = {
            "kind": "crypto-loan",
            "account_id": f"l{number}",
            "loan": {"asset": loan_asset, "principal": str(owed - interest), "interest": str(interest)},
            "collateral": {"asset": collateral_asset, "quantity": str(quantity)},
            "prices": {collateral_asset: str(price), loan_asset: str(loan_price)},
        }
        if loan_type is not None:
            account["loan_type"] = loan_type
        needed = owed * loan_price / price / table[collateral_asset]["initial"] - quantity
        balance_kind = rng.choice(["none", "zero", "short", "plenty", "exact", "plenty"])
        if balance_kind != "none":
            balance = {
                "zero": D(0),
                "short": max(needed, D(0)) * _decimal(rng, 0.05, 0.95, 3),
                "plenty": max(needed, D(0)) * 3 + D(1),
                "exact": max(needed, D(0)),
            }[balance_kind]
            account["spot_balances"] = {collateral_asset: str(balance.quantize(EIGHT, context=WIDE))}
        settings_kind = rng.choice(["absent", "off", "fresh", "streak", "streak", "disabled", "inconsistent"])
        if settings_kind != "absent":
            state: dict[str, Any] = {
                "failed_attempts": 0,
                "last_attempt_at": None,
                "succeeded_before": rng.random() < 0.3,
                "disabled": False,
            }
            if settings_kind == "streak":
                state["failed_attempts"] = rng.randint(1, max_attempts + 1)
                since = rng.choice(
                    [
                        timedelta(0),
                        timedelta(hours=1),
                        interval - timedelta(seconds=1),
                        interval,
                        interval + timedelta(seconds=1),
                        timedelta(days=3),
                    ]
                )
                state["last_attempt_at"] = (now - since).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif settings_kind == "disabled":
                state.update(
                    failed_attempts=max_attempts,
                    disabled=True,
                    last_attempt_at=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            elif settings_kind == "inconsistent":
                state["failed_attempts"] = rng.randint(1, 3)  # failures with no attempt time on record
            settings: dict[str, Any] = {"enabled": settings_kind != "off", "state": state}
            event = rng.choice([None, None, "reset", "manual_top_up", "both"])
            if event is not None:
                events: list[dict[str, Any]] = []
                if event in ("manual_top_up", "both"):
                    events.append({"type": "manual_top_up", "quantity": str(_decimal(rng, 0.0001, 0.5, 8))})
                if event in ("reset", "both"):
                    events.append({"type": "reset"})
                settings["events"] = events
            account["auto_top_up"] = settings
        yield account
