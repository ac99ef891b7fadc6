"""Synthetic `margin-transfer` requests: transfers in, spread over the bands of the max-collateral rule.

The generator reads the collateral policy in force: the account types the
rule counts and excludes, each asset's rank, upper limit and quantity
rounding, and the rule's bands (platform total / upper limit).  A request is
built with a platform ratio

- inside a band, each band as likely as the next;
- *exactly on* a band edge (the platform total equal to edge x upper limit);
- *around the platform limit* (within 2% of the upper limit, either side);
- or outside the rule: an asset without an upper limit, or an excluded
  account type.

The quantity asked for is then placed against the maximum the policy gives
(`transfer_limit`): under it, *exactly* it, one quantity unit over it, or
well over it; 30% of transfers are automatic (capped rather than refused).
Shares (per mille) are in `TRANSFER_ZONES` and `TRANSFER_QUANTITIES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from random import Random
from typing import Any

from .population_draws import Maker, amount, chance, fraction, price, zone
from .product import CompiledPolicy
from .products.collateral_policy import AssetTerms, CompiledCollateralPolicy

TRANSFER_ZONES: Mapping[str, int] = {
    "inside_band": 550,
    "on_band_edge": 150,
    "around_limit": 100,
    "not_limited": 200,
}
TRANSFER_QUANTITIES: Mapping[str, int] = {
    "under_maximum": 500,
    "on_maximum": 150,
    "just_over_maximum": 100,
    "well_over_maximum": 250,
}


def _transfer_maker(policy: CompiledPolicy) -> Maker:
    if not isinstance(policy, CompiledCollateralPolicy):
        raise TypeError(f"expected a collateral policy, got {type(policy).__name__}")
    rule = policy.rule
    counted = sorted(rule.counted)
    excluded = sorted(rule.excluded)
    limited = sorted(symbol for symbol, terms in policy.assets.items() if terms.upper_limit is not None)
    unlimited = sorted(symbol for symbol, terms in policy.assets.items() if terms.upper_limit is None)
    bands = [(band.lower, band.upper) for band in rule.bands.bands]
    edges = sorted({band.lower for band in rule.bands.bands if band.lower > 0})
    limit_edge = max((upper for _lower, upper in bands if upper is not None), default=None)

    def make(rng: Random, account_id: str, _as_of: datetime) -> dict[str, Any]:
        where = zone(rng, TRANSFER_ZONES)
        if where == "not_limited" or not limited:
            outside_by_type = bool(excluded) and (not unlimited or chance(rng, 500))
            account_type = rng.choice(excluded if outside_by_type else counted)
            asset = rng.choice(limited if outside_by_type and limited else unlimited or limited)
        else:
            account_type, asset = rng.choice(counted), rng.choice(limited)
        terms = policy.assets[asset]
        upper_limit = terms.upper_limit if terms.upper_limit is not None else amount(rng, 4, 7)
        step = terms.quantity_rounding.quantum
        if where == "on_band_edge" and edges:
            platform_total = rng.choice(edges) * upper_limit
        elif where == "around_limit" and limit_edge is not None:
            platform_total = (limit_edge * upper_limit * (1 + fraction(rng, -20, 20))).quantize(step, ROUND_DOWN)
        else:
            low, high = rng.choice(bands)
            top = high if high is not None else low * (1 + fraction(rng, 1, 300))
            platform_total = (upper_limit * (low + (top - low) * fraction(rng, 1, 999))).quantize(step, ROUND_DOWN)
        asset_price = price(rng, asset)
        maximum = policy.transfer_limit(
            asset, platform_total=platform_total, price=asset_price, steps=[], account_type=account_type
        ).max_quantity
        account: dict[str, Any] = {
            "kind": "margin-transfer",
            "account_id": account_id,
            "account_type": account_type,
            "asset": asset,
            "quantity": _quantity(rng, terms, maximum, asset_price),
            "price": asset_price,
            "platform_total": platform_total,
        }
        if chance(rng, 300):
            account["auto"] = True
        elif chance(rng, 500):
            account["auto"] = False
        return account

    return make


def _quantity(rng: Random, terms: AssetTerms, maximum: Decimal | None, asset_price: Decimal) -> Decimal:
    """The quantity asked for, placed against the maximum (a value drawn freely when there is none)."""
    step = terms.quantity_rounding.quantum
    free = max(step, (amount(rng, 2, 5) / asset_price).quantize(step, ROUND_DOWN))
    placement = zone(rng, TRANSFER_QUANTITIES)
    if maximum is None:
        return free
    if placement == "under_maximum" and maximum > step:
        return max(step, (maximum * fraction(rng, 1, 999)).quantize(step, ROUND_DOWN))
    if placement == "on_maximum" and maximum > 0:
        return maximum
    if placement == "just_over_maximum":
        return maximum + step
    return maximum + free


__all__ = ["TRANSFER_QUANTITIES", "TRANSFER_ZONES"]
