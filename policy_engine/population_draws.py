"""What every population generator draws with: a market snapshot, log-uniform amounts, per-mille shares.

Only integer draws from the `random.Random` passed in and exact `Decimal`
arithmetic, so that a seed gives the same accounts on every run.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Context, Decimal
from random import Random
from typing import Any

from .product import CompiledPolicy

ZERO = Decimal(0)
ONE = Decimal(1)
EXACT = Context(prec=200)
"""Products and sums of account figures, exactly (the engine's own context decides, not this one)."""
QUANTITY = Decimal("1E-8")
"""Quantities are drawn at 8 places, the precision of the bundled assets."""

REFERENCE_PRICES: Mapping[str, Decimal] = {
    "BTC": Decimal(60000),
    "ETH": Decimal(3000),
    "BNB": Decimal(600),
    "SOL": Decimal(150),
    "USDC": ONE,
    "USDT": ONE,
    "DAI": ONE,
    "FDUSD": ONE,
    "SUPER": Decimal("0.9"),
}
"""A market snapshot, not policy: an asset not listed gets a price derived from its symbol."""

Maker = Callable[[Random, str, datetime], dict[str, Any]]
"""(random source, account id, instant) -> one account."""
Generator = Callable[[CompiledPolicy], Maker]
"""The policy in force -> a maker of accounts under it (what depends only on the policy is worked out once)."""


def zone(rng: Random, zones: Mapping[str, int]) -> str:
    draw = rng.randrange(sum(zones.values()))
    for name, weight in zones.items():
        if draw < weight:
            return name
        draw -= weight
    raise AssertionError("unreachable: the draw is below the total weight")


def amount(rng: Random, low_exponent: int, high_exponent: int) -> Decimal:
    """Log-uniform: 4 significant digits times a power of ten in [10^low, 10^(high+1))."""
    return Decimal(rng.randint(1000, 9999)).scaleb(rng.randint(low_exponent, high_exponent) - 3)


def fraction(rng: Random, low: int, high: int) -> Decimal:
    """A per-mille fraction in [low, high] / 1000."""
    return Decimal(rng.randint(low, high)) / 1000


def places(value: Decimal) -> int:
    exponent = value.normalize(EXACT).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def quantum(places: int) -> Decimal:
    """10^-places: the smallest step of a figure with that many places (at least whole units)."""
    return Decimal(1).scaleb(-max(0, places))


def significant(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(value.adjusted() - digits + 1), rounding=ROUND_DOWN).normalize(EXACT)


def reference_price(asset: str) -> Decimal:
    known = REFERENCE_PRICES.get(asset)
    if known is not None:
        return known
    # crc32, not hash(): str hashes change from one interpreter run to the next
    return Decimal(zlib.crc32(asset.encode()) % 99_000 + 1000).scaleb(-3)


def price(rng: Random, asset: str) -> Decimal:
    """The snapshot price moved by up to ±10%, 7 significant digits; stablecoins stay at exactly 1."""
    reference = reference_price(asset)
    if reference == ONE:
        return ONE
    return significant(EXACT.multiply(reference, fraction(rng, 900, 1100)), 7)


def chance(rng: Random, per_mille: int) -> bool:
    return rng.randrange(1000) < per_mille


__all__ = [
    "EXACT",
    "ONE",
    "QUANTITY",
    "REFERENCE_PRICES",
    "ZERO",
    "Generator",
    "Maker",
    "amount",
    "chance",
    "fraction",
    "places",
    "price",
    "quantum",
    "reference_price",
    "significant",
    "zone",
]
