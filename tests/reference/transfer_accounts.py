"""Seeded generator of valid `margin-transfer` requests, placed around the max-collateral rule's bands.

Each request aims at a ratio (inside a band, exactly on an edge, a hair either
side, at 0, far over 100%) and a quantity around the maximum it will get
(exactly it, one unit of precision either side, far over), for every account
type and for assets the rule limits and assets it does not.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from .policy_data import WIDE

D = Decimal
HAIR = D("1e-9")


def _units(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    """A uniform decimal in [low, high] with `places` decimals, drawn from integers."""
    return D(rng.randint(low * 10**places, high * 10**places)).scaleb(-places)


def _ratio(rng: random.Random, edges: list[Decimal]) -> Decimal:
    """A platform ratio to aim at: on an edge, a hair either side of one, inside a band, 0 or far over."""
    edge = rng.choice(edges)
    return rng.choice(
        [
            edge,
            edge,
            edge - HAIR,
            edge + HAIR,
            D(0),
            _units(rng, 0, 1, 4) * edge,
            edge + _units(rng, 0, 1, 3) / 10,
            _units(rng, 1, 3, 2),
        ]
    )


def transfer_accounts(policy: Mapping[str, Any], count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` margin-transfer requests valid under the collateral `policy`."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, nothing secret
    rule = policy["max_collateral"]
    types = [*rule["account_types"]["counted"], *rule["account_types"]["excluded"]]
    limited = sorted(asset for asset, terms in policy["assets"].items() if "upper_limit" in terms)
    others = sorted(asset for asset, terms in policy["assets"].items() if "upper_limit" not in terms)
    edges = sorted({D(band["from"]) for band in rule["bands"] if band["from"] > 0})
    for number in range(count):
        asset = rng.choice(limited) if rng.random() < 0.85 else rng.choice(others)
        terms = policy["assets"][asset]
        limit = D(terms.get("upper_limit", 10_000_000))
        total = max((_ratio(rng, edges) * limit).quantize(D(1).scaleb(-rng.choice([0, 4, 8])), context=WIDE), D(0))
        price = rng.choice([D(1), _units(rng, 0, 3, 6) + D("0.000001"), _units(rng, 1, 90000, 2)])
        # a quantity near what the bands allow: the room left to a share of the limit, or a value at the price
        room = max(rng.choice([D("0.8"), D(1)]) * limit - total, D(0))
        near = rng.choice([room, D(50000) / price, room / 3, _units(rng, 1, 100000, 8)])
        step = D(1).scaleb(-int(terms["precision"]))
        quantity = rng.choice([near, near + step, near - step, near * 2, step]).quantize(step, context=WIDE)
        if quantity <= 0:
            quantity = step
        account: dict[str, Any] = {
            "kind": "margin-transfer",
            "account_id": f"t{number}",
            "account_type": rng.choice(types),
            "asset": asset,
            "quantity": str(quantity),
            "price": str(price),
            "platform_total": str(total),
        }
        auto = rng.choice([None, False, True, True])
        if auto is not None:
            account["auto"] = auto
        yield account


def haircut_accounts(
    collateral: Mapping[str, Any], margin: Mapping[str, Any], count: int, seed: int
) -> Iterator[dict[str, Any]]:
    """`count` spot-margin accounts whose holdings are worth amounts on, beside and between every haircut band
    edge of the assets both policies list, against a stablecoin debt that keeps them clear of liquidation."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, nothing secret
    assets = sorted(asset for asset in margin["assets"] if asset in collateral["assets"])
    tiers = [(mode, int(row["leverage"])) for mode, spec in margin["modes"].items() for row in spec["leverages"]]
    for number in range(count):
        holdings = []
        for asset in rng.sample(assets, rng.randint(1, 3)):
            edges = [D(band["from"]) for band in collateral["assets"][asset]["haircut"]][1:] or [D(1000)]
            edge = rng.choice(edges)
            value = rng.choice([edge, edge + 1, edge - 1, edge * _units(rng, 0, 2, 4), edge * 3 + HAIR])
            price = D(1) if asset in ("USDT", "USDC") else _units(rng, 1, 90000, 2)
            if value == edge and asset not in ("USDT", "USDC"):
                price = edge / rng.choice([100, 1000, 2000])  # a round quantity worth the edge exactly
            quantity = (max(value, D(1)) / price).quantize(D("1e-8"), context=WIDE)
            holdings.append({"asset": asset, "quantity": str(quantity), "price": str(price)})
        worth = sum((D(line["quantity"]) * D(line["price"]) for line in holdings), D(0))
        debt = (worth / _units(rng, 2, 5, 3)).quantize(D("0.01"), context=WIDE) if rng.random() < 0.9 else D(0)
        mode, leverage = rng.choice(tiers)
        yield {
            "kind": "spot-margin",
            "account_id": f"h{number}",
            "mode": mode,
            "leverage": leverage,
            "assets": holdings,
            "liabilities": [
                {"asset": rng.choice(["USDT", "USDC"]), "principal": str(debt), "interest": "0", "price": "1"}
            ],
        }
