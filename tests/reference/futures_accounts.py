"""Seeded generator of valid futures positions, placed around the brackets and the margin-ratio zones.

Each position aims at a bracket (its notional exactly on an edge, a hair
above it, or inside) and a margin ratio (on each zone edge and on 100%
exactly, a hair either side, deep in a zone, or a margin balance at or below
0), long and short, isolated and cross, in every symbol.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .policy_data import WIDE

D = Decimal
HAIR = D("1e-7")


def _units(rng: random.Random, low: int, high: int, places: int) -> Decimal:
    """A uniform decimal in [low, high] with `places` decimals, drawn from integers."""
    return D(rng.randint(low * 10**places, high * 10**places)).scaleb(-places)


def _notional(rng: random.Random, bracket: Mapping[str, Any]) -> Decimal:
    low, high = D(bracket["from"]), D(bracket["to"])
    return rng.choice([high, high, low + HAIR if low else high / 2, low + (high - low) * _units(rng, 0, 1, 4)])


def _ratio(rng: random.Random, edges: list[Decimal]) -> Decimal | None:
    """A margin ratio to aim at (None: a margin balance of 0 or less)."""
    edge = rng.choice([*edges, D(1), D(1)])
    return rng.choice([edge, edge, edge - HAIR, edge + HAIR, _units(rng, 0, 3, 4) + D("0.0001"), None])


def futures_accounts(policy: Mapping[str, Any], count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` futures positions valid under `policy` (auto-add margin off)."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, nothing secret
    edges = [D(zone["from"]) for zone in policy["zones"] if zone["from"] > 0]
    for number in range(count):
        symbol = rng.choice(sorted(policy["symbols"]))
        spec = policy["symbols"][symbol]
        brackets = spec["brackets"]
        bracket = rng.choice(brackets[: rng.choice([3, len(brackets)])])  # the common brackets more often
        step = D(1).scaleb(-int(spec["quantity_places"]))
        quantity = rng.choice(
            [_units(rng, 1, 400, 3), _units(rng, 1, 400, 3), _units(rng, 1, 100000, 0), D(rng.choice([1, 2, 4, 5, 8]))]
        ).quantize(step)
        # a round quantity divides a bracket edge: the notional is then exactly on it
        notional = _notional(rng, bracket)
        if bracket is brackets[-1] and policy["bracket_edge_belongs_to"] == "upper_bracket":
            notional = min(notional, bracket["to"] - 1)  # the table's end is past the last bracket then
        mark = max((notional / quantity).quantize(D("1e-8"), ROUND_DOWN, WIDE), D("1e-8"))
        entry = (mark * _units(rng, 0, 2, 3)).quantize(D("0.01"), context=WIDE) or D("0.01")
        side = rng.choice(["long", "short"])
        mode = rng.choice(["isolated", "cross"])
        notional = quantity * mark
        band = next((b for b in brackets if b["from"] < notional <= b["to"]), brackets[0])
        maintenance = notional * band["mmr"] - band["cum"]
        pnl = (1 if side == "long" else -1) * quantity * (mark - entry)
        others_mm = _units(rng, 0, 5000, 2) if mode == "cross" and rng.random() < 0.7 else D(0)
        others_pnl = _units(rng, 0, 4000, 2) - 2000 if mode == "cross" and rng.random() < 0.7 else D(0)
        target = _ratio(rng, edges)
        balance = (maintenance + others_mm) / target if target else -_units(rng, 0, 1000, 2)
        own = balance - pnl - others_pnl  # the position's margin (isolated) or the wallet (cross)
        if own < 0:  # a loss the wallet cannot hold: the margin balance goes negative instead
            own = _units(rng, 0, 100, 2)
        own = own.quantize(D("1e-8"), context=WIDE)
        account: dict[str, Any] = {
            "kind": "futures-position",
            "account_id": f"f{number}",
            "symbol": symbol,
            "margin_mode": mode,
            "side": side,
            "quantity": str(quantity),
            "leverage": rng.randint(1, int(brackets[0]["max_leverage"])),
            "entry_price": str(entry),
            "mark_price": str(mark),
            "account_equity": str(max(own, D(1)) * 3),  # the advice's occupancy: not compared
        }
        if mode == "isolated":
            account |= {"position_margin": str(own), "wallet_balance": str(_units(rng, 0, 10000, 2))}
        else:
            account |= {
                "wallet_balance": str(own),
                "other_maintenance_margin": str(others_mm),
                "other_unrealized_pnl": str(others_pnl),
                "backup_funds": str(_units(rng, 0, 10000, 2)),
            }
        yield account
