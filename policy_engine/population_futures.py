"""Synthetic `futures-position` accounts: positions over every symbol and bracket, placed in the margin-ratio zones.

The generator reads the futures-margin policy in force: each symbol's
brackets (notional edges, rate, cumulative amount, maximum leverage) and
quantity step, the margin-ratio zones, the margin ratio's rounding, and the
margin-ratio thresholds written in the status rules (`margin_ratio >= 1`:
liquidation).  Those zone edges and rule thresholds together are the
*ratio edges*; a position is built to a margin ratio

- between two neighbouring edges (or past the last one), each interval as
  likely as the next, so every status the policy gives is common;
- *exactly on* an edge: maintenance / margin balance equal to the edge
  (raw, where the division ends within 8 places; otherwise compared, the
  raw ratio above it by less than the ratio's rounding unit);
- anywhere, with a notional *exactly on* a bracket edge (`quantity x mark
  price` equal to it: a power-of-two-and-five quantity makes the price exact);
- past liquidation: a loss larger than the margin, no margin balance left.

Long and short, isolated and cross (with other positions' maintenance and
PnL), leverage near notional / margin within the bracket's cap (now and then
above the current bracket's cap, an advice note), stop-losses, auto-add
margin and the advice flags.  Shares (per mille) are in `FUTURES_ZONES`:
15% of positions sit exactly on a ratio or bracket edge.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from random import Random
from typing import Any

from .population_draws import (
    EXACT,
    ONE,
    QUANTITY,
    REFERENCE_PRICES,
    ZERO,
    Maker,
    amount,
    chance,
    fraction,
    price,
    reference_price,
    significant,
    zone,
)
from .product import CompiledPolicy
from .products.futures import CompiledFuturesPolicy
from .products.futures_math import Bracket
from .products.futures_model import Contract, FuturesSpec

FUTURES_ZONES: Mapping[str, int] = {
    "between_edges": 800,
    "on_ratio_edge": 100,
    "on_bracket_edge": 50,
    "balance_gone": 50,
}
EXACT_DIVISORS = tuple(Decimal(2**twos * 5**fives) for twos in range(4) for fives in range(3))
"""Quantities made of these times a power of ten divide any edge into a price with an end (a mechanism, not policy)."""
RATIO = "margin_ratio"


def ratio_edges(spec: FuturesSpec) -> tuple[Decimal, ...]:
    """The margin ratios at which the zone or status changes: zone lower edges above 0, and the
    constants the status rules compare `margin_ratio` with."""
    edges = {band.lower for band in spec.zones.bands if band.lower > 0}
    for rule in spec.status_table.rules:
        for node in ast.walk(rule.expression.tree):
            if not isinstance(node, ast.Compare):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(operand, ast.Name) and operand.id == RATIO for operand in operands):
                edges.update(_positive_constants(operands))
    return tuple(sorted(edges))


def _positive_constants(operands: Sequence[ast.expr]) -> set[Decimal]:
    found: set[Decimal] = set()
    for operand in operands:
        if isinstance(operand, ast.Constant):
            value = operand.value
            if isinstance(value, Decimal) and value > 0:
                found.add(value)
    return found


def _base_price(symbol: str) -> tuple[str, Decimal]:
    """The base asset of a symbol (the longest snapshot asset it starts with) and its snapshot price."""
    known = sorted((asset for asset in REFERENCE_PRICES if symbol.startswith(asset)), key=len, reverse=True)
    base = known[0] if known else symbol
    return base, reference_price(base)


def _futures_maker(policy: CompiledPolicy) -> Maker:
    if not isinstance(policy, CompiledFuturesPolicy):
        raise TypeError(f"expected a futures-margin policy, got {type(policy).__name__}")
    spec = policy.spec
    edges = ratio_edges(spec)
    intervals: list[tuple[Decimal, Decimal | None]] = list(zip((ZERO, *edges), (*edges, None), strict=True))
    ratio_quantum = spec.display.margin_ratio.quantum
    symbols = sorted(spec.contracts)

    def make(rng: Random, account_id: str, _as_of: datetime) -> dict[str, Any]:
        contract = spec.contracts[rng.choice(symbols)]
        where = zone(rng, FUTURES_ZONES)
        base, reference = _base_price(contract.symbol)
        if where == "on_bracket_edge":
            uppers = [row.upper for row in contract.brackets.rows if row.upper is not None]
            quantity, mark = _on_notional(rng, rng.choice(uppers), reference, contract.quantity_rounding.quantum)
        else:
            quantity, mark = _in_bracket(rng, contract, rng.choice(contract.brackets.rows), price(rng, base))
        notional = EXACT.multiply(quantity, mark)
        bracket = contract.brackets.extended(notional)
        maintenance = EXACT.subtract(EXACT.multiply(notional, bracket.mmr), bracket.cum)
        isolated = chance(rng, 550)
        other_maintenance = ZERO if isolated or chance(rng, 300) else _share(rng, maintenance, 50, 3000)
        total = EXACT.add(maintenance, other_maintenance)
        side_sign = ONE if chance(rng, 550) else -ONE
        if where == "balance_gone":
            entry = _entry(rng, mark, side_sign, losing=True, low=20, high=150)
            pnl = EXACT.multiply(side_sign * quantity, EXACT.subtract(mark, entry))
            other_pnl = ZERO
            margin = (-pnl * fraction(rng, 100, 1000)).quantize(QUANTITY, ROUND_DOWN)
        else:
            balance = _balance(rng, where, total=total, edges=edges, intervals=intervals, ratio_quantum=ratio_quantum)
            margin, entry, other_pnl = _margin_for(rng, balance, mark, quantity, side_sign, isolated=isolated)
        return _account(
            rng,
            account_id,
            contract,
            bracket,
            isolated=isolated,
            side_sign=side_sign,
            quantity=quantity,
            mark=mark,
            entry=entry,
            margin=margin,
            other_maintenance=other_maintenance,
            other_pnl=other_pnl,
        )

    return make


def _share(rng: Random, value: Decimal, low: int, high: int) -> Decimal:
    """A per-mille share of `value`, at 8 places."""
    return (value * fraction(rng, low, high)).quantize(QUANTITY, ROUND_DOWN)


def _on_notional(rng: Random, edge: Decimal, reference: Decimal, step: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity, mark price) with quantity x mark price exactly `edge`, the price near the snapshot's."""
    candidates = sorted(
        {
            quantity
            for divisor in EXACT_DIVISORS
            for power in range(step.adjusted(), max(step.adjusted(), (edge / reference).adjusted()) + 2)
            if (quantity := divisor.scaleb(power)) == quantity.quantize(step)
        },
        key=lambda quantity: (abs(edge / quantity - reference), quantity),
    )
    quantity = rng.choice(candidates[:3])
    return quantity, (edge / quantity).normalize(EXACT)


def _in_bracket(rng: Random, contract: Contract, row: Bracket, mark: Decimal) -> tuple[Decimal, Decimal]:
    """(quantity, mark price) with a notional inside the bracket (rounding to the quantity step may cross
    a bracket edge; never past the last bracket)."""
    step = contract.quantity_rounding.quantum
    upper = row.upper if row.upper is not None else row.lower * (1 + fraction(rng, 1, 1000))
    target = row.lower + (upper - row.lower) * fraction(rng, 1, 999)
    quantity = max(step, (target / mark).quantize(step, ROUND_DOWN))
    top = contract.brackets.top
    while top is not None and quantity * mark > top and quantity > step:
        quantity -= step
    return quantity, mark


def _balance(
    rng: Random,
    where: str,
    *,
    total: Decimal,
    edges: Sequence[Decimal],
    intervals: Sequence[tuple[Decimal, Decimal | None]],
    ratio_quantum: Decimal,
) -> Decimal:
    """The margin balance giving the margin ratio total / balance its zone: on an edge, or inside an interval.

    Rounded down to 8 places, so the raw ratio is at or just above the target (never below it)."""
    if where == "on_ratio_edge":
        target = rng.choice(list(edges))
    else:
        low, high = rng.choice(list(intervals))
        top = high if high is not None else low * (1 + fraction(rng, 1, 500))
        target = max(ratio_quantum, (low + (top - low) * fraction(rng, 1, 999)).quantize(ratio_quantum))
        if target <= low:
            target = low + ratio_quantum
    return (total / target).quantize(QUANTITY, ROUND_DOWN)


def _entry(rng: Random, mark: Decimal, side_sign: Decimal, *, losing: bool, low: int, high: int) -> Decimal:
    """An entry price a per-mille move away from the mark, on the losing or winning side."""
    move = fraction(rng, low, high) * (side_sign if losing else -side_sign)
    return significant(EXACT.multiply(mark, 1 + move), 7)


def _margin_for(
    rng: Random, balance: Decimal, mark: Decimal, quantity: Decimal, side_sign: Decimal, *, isolated: bool
) -> tuple[Decimal, Decimal, Decimal]:
    """(margin, entry price, other positions' PnL) adding up to `balance` with the position's PnL, the margin
    (position margin, or the wallet in cross mode) never below 0: a profit too large for it becomes a loss."""
    other_pnl = ZERO if isolated or chance(rng, 400) else _share(rng, balance, 0, 600) * (-1 if chance(rng, 500) else 1)
    losing = chance(rng, 650)
    for attempt in range(3):
        entry = _entry(rng, mark, side_sign, losing=losing or attempt > 0, low=0, high=120)
        if attempt == 2:  # noqa: PLR2004 - the last try: no other PnL and the position at its entry
            other_pnl, entry = ZERO, mark
        pnl = EXACT.multiply(side_sign * quantity, EXACT.subtract(mark, entry))
        margin = EXACT.subtract(EXACT.subtract(balance, pnl), other_pnl)
        if margin >= 0:
            return margin, entry, other_pnl
    raise AssertionError("unreachable: with no PnL the margin is the balance, at least 0")


def _account(
    rng: Random,
    account_id: str,
    contract: Contract,
    bracket: Bracket,
    *,
    isolated: bool,
    side_sign: Decimal,
    quantity: Decimal,
    mark: Decimal,
    entry: Decimal,
    margin: Decimal,
    other_maintenance: Decimal,
    other_pnl: Decimal,
) -> dict[str, Any]:
    notional = quantity * mark
    if chance(rng, 50) and bracket.max_leverage < contract.max_leverage:  # above the current bracket's cap
        leverage = rng.randint(bracket.max_leverage + 1, contract.max_leverage)
    else:  # near notional / margin, within the cap
        near = int(notional / margin) if margin > 0 else bracket.max_leverage
        leverage = min(bracket.max_leverage, max(1, near + rng.randint(-1, 1)))
    account: dict[str, Any] = {
        "kind": "futures-position",
        "account_id": account_id,
        "symbol": contract.symbol,
        "margin_mode": "isolated" if isolated else "cross",
        "side": "long" if side_sign > 0 else "short",
        "quantity": quantity,
        "leverage": leverage,
        "entry_price": entry,
        "mark_price": mark,
    }
    wallet = ZERO if chance(rng, 300) else amount(rng, 1, 5)
    if isolated:
        account["position_margin"] = margin
        account["wallet_balance"] = wallet
        if chance(rng, 300):
            account["auto_add_margin"] = True
    else:
        account |= {
            "wallet_balance": margin,
            "other_maintenance_margin": other_maintenance,
            "other_unrealized_pnl": other_pnl,
        }
    account["backup_funds"] = ZERO if chance(rng, 250) else amount(rng, 1, 5)
    account["account_equity"] = margin + (wallet if isolated else ZERO) + amount(rng, 1, 5)
    account["stop_loss"] = (
        None if chance(rng, 400) else _entry(rng, mark, side_sign, losing=chance(rng, 850), low=5, high=150)
    )
    account["margin_adds"] = 0 if chance(rng, 700) else rng.randint(1, 2)
    account["key_level_broken"] = chance(rng, 150)
    account["emotional"] = chance(rng, 100)
    return account


__all__ = ["FUTURES_ZONES", "ratio_edges"]
