"""Futures position arithmetic: maintenance margin by bracket, margin balance, liquidation price.

Pure `Decimal` functions of a position and its contract's brackets; no
policy reading, no trace.  Notation (USDⓈ-M futures, one-way mode):

    s        side: +1 long, -1 short          Q    |position size|
    EP       entry price                      P    a mark price
    N(P)   = Q x P                            the notional
    U(P)   = s x Q x (P - EP)                 unrealised PnL
    MM(P)  = N(P) x MMR_b - cum_b             maintenance margin, b the bracket N(P) falls in
    WB       the margin the position stands on: isolated, its own margin; cross, the wallet balance
    TMM1, UPNL1  maintenance margin and unrealised PnL of the other positions (cross; 0 isolated)
    MB(P)  = WB + UPNL1 + U(P)                margin balance
    M(P)   = TMM1 + MM(P)                     the maintenance it must cover
    margin ratio = M(P) / MB(P), and liquidation at 100%: MB(P) = M(P).

Liquidation price.  Inside bracket b, MB(P) = M(P) reads

    WB + UPNL1 + s Q (P - EP) = TMM1 + Q P MMR_b - cum_b
    P (Q MMR_b - s Q)         = WB - TMM1 + UPNL1 + cum_b - s Q EP
    LP_b = (WB - TMM1 + UPNL1 + cum_b - s Q EP) / (Q MMR_b - s Q)

which is the exchange's one-way-mode formula (domain.md section 4).  The
denominator Q (MMR_b - s) is never 0: the policy lint keeps MMR_b < 1.

Which bracket.  g(P) = MB(P) - M(P) has slope Q (s - MMR_b) inside bracket b:
positive for a long, negative for a short.  With every cum right (cum_b =
from_b x (MMR_b - MMR_b-1) + cum_b-1), N x MMR - cum agrees on both sides of
each edge, so g is continuous and strictly monotonic: it has at most one
root.  The liquidation price is LP_b for the one bracket b whose notional
range holds Q x LP_b; the brackets are tried in order.  (Taking the bracket
of today's notional instead gives, near an edge, a price at which the
exchange's own check, made with the bracket of the notional at that price,
does not balance.)  A short whose liquidation notional lies beyond the last
bracket uses the last bracket's rate, and says so.

No root at a positive price:
- a long with g(0) >= 0 (WB + UPNL1 - TMM1 >= Q EP; the first bracket's cum
  is 0) is covered even at a price of 0: no liquidation price (`never`);
- a short with g(0) <= 0 cannot cover the other positions' maintenance at
  any price: liquidated at any price (`any_price`).

Checks (domain.md section 4): isolated, WB 6,000, 1 BTC at 60,000, MMR 0.4%:
long (6,000 - 60,000) / (0.004 - 1) = 54,216.867..., short (6,000 + 60,000) /
(0.004 + 1) = 65,737.051...; cross short, WB 10.72, TMM1 1.3, UPNL1 0.47,
0.005 at 9,451.53: 57.14765 / 0.00502 = 11,383.994...

Margin for a liquidation price T: MB(T) = M(T) gives
WB_T = TMM1 - UPNL1 + MM(T) - U(T); the add that moves the liquidation price
to T is WB_T - WB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from ..kit import Band, BandTable

ZERO = Decimal(0)
ONE = Decimal(1)
NoPrice = Literal["never", "any_price"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Bracket:
    """One maintenance-margin bracket: notional range, rate, cumulative amount, leverage cap."""

    index: int
    lower: Decimal
    upper: Decimal | None
    mmr: Decimal
    cum: Decimal
    max_leverage: int
    band: Band
    """The kit's band, for trace steps citing the bracket's YAML line."""

    def holds(self, notional: Decimal) -> bool:
        """Whether `notional` lies in the bracket, both edges included (a root on an edge is in both)."""
        return self.lower <= notional and (self.upper is None or notional <= self.upper)


@dataclass(frozen=True, kw_only=True, slots=True)
class Brackets:
    """A contract's brackets in order, with the kit's table that finds the bracket of a notional."""

    table: BandTable
    rows: tuple[Bracket, ...]

    def find(self, notional: Decimal) -> Bracket | None:
        """The bracket of `notional`, or None above the last one."""
        band = self.table.find(notional)
        return None if band is None else self.rows[band.index]

    def extended(self, notional: Decimal) -> Bracket:
        """The bracket of `notional`, the last one's rate carried on above it (a price the position is not at)."""
        return self.find(notional) or self.rows[-1]

    @property
    def top(self) -> Decimal | None:
        return self.rows[-1].upper


@dataclass(frozen=True, kw_only=True, slots=True)
class Position:
    """A position and the margin it stands on, as the formulas above name them."""

    side_sign: Decimal
    quantity: Decimal
    entry_price: Decimal
    leverage: Decimal
    margin: Decimal
    """WB: the position's own margin (isolated) or the wallet balance (cross)."""
    other_maintenance: Decimal = ZERO
    other_pnl: Decimal = ZERO

    def notional(self, price: Decimal) -> Decimal:
        return self.quantity * price

    def pnl(self, price: Decimal) -> Decimal:
        return signed_zero_free(self.side_sign * self.quantity * (price - self.entry_price))

    def balance(self, price: Decimal) -> Decimal:
        return self.margin + self.other_pnl + self.pnl(price)

    def with_margin(self, margin: Decimal) -> Position:
        return replace(self, margin=margin)

    def with_quantity(self, quantity: Decimal) -> Position:
        return replace(self, quantity=quantity)


def signed_zero_free(value: Decimal) -> Decimal:
    """`value`, with -0 (a short at its entry price) written as 0."""
    return value if value else abs(value)


def maintenance(bracket: Bracket, notional: Decimal) -> Decimal:
    """MM = notional x MMR - cum."""
    return notional * bracket.mmr - bracket.cum


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    """A position's figures at one mark price."""

    notional: Decimal
    bracket: Bracket
    maintenance_margin: Decimal
    initial_margin: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    maintenance_total: Decimal
    """The maintenance the margin balance must cover: this position's, plus the others' in cross mode."""
    margin_ratio: Decimal | None
    """maintenance_total / margin_balance; None when the margin balance is 0 or less (past liquidation)."""


def figures_at(position: Position, brackets: Brackets, price: Decimal) -> Figures:
    notional = position.notional(price)
    bracket = brackets.extended(notional)
    maintenance_margin = maintenance(bracket, notional)
    balance = position.balance(price)
    total = position.other_maintenance + maintenance_margin
    return Figures(
        notional=notional,
        bracket=bracket,
        maintenance_margin=maintenance_margin,
        initial_margin=notional / position.leverage,
        unrealized_pnl=position.pnl(price),
        margin_balance=balance,
        maintenance_total=total,
        margin_ratio=total / balance if balance > 0 else None,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Liquidation:
    """The liquidation price (full precision) and the bracket it was solved in, or why there is none."""

    price: Decimal | None
    bracket: Bracket | None
    no_price: NoPrice | None = None
    beyond_brackets: bool = False
    """The price lies above the last bracket (a short too large for the table); its rate was carried on."""


def _candidate(position: Position, bracket: Bracket) -> Decimal:
    q, s = position.quantity, position.side_sign
    numerator = position.margin - position.other_maintenance + position.other_pnl + bracket.cum
    return (numerator - s * q * position.entry_price) / (q * bracket.mmr - s * q)


def liquidation_price(position: Position, brackets: Brackets) -> Liquidation:
    """The price at which the margin balance equals the maintenance to cover (see the module's derivation)."""
    first = brackets.rows[0]
    slack_at_zero = position.balance(ZERO) - position.other_maintenance + first.cum
    if position.side_sign > 0 and slack_at_zero >= 0:
        return Liquidation(price=None, bracket=None, no_price="never")
    if position.side_sign < 0 and slack_at_zero <= 0:
        return Liquidation(price=None, bracket=None, no_price="any_price")
    candidates = [(bracket, _candidate(position, bracket)) for bracket in brackets.rows]
    for bracket, price in candidates:
        notional = position.notional(price)
        if bracket.holds(notional):
            # a root on an edge is in both brackets' ranges: it belongs to the one the policy's edge rule names
            owner = brackets.find(notional) if notional == bracket.upper else None
            if owner is not None and owner is not bracket:
                return Liquidation(price=_candidate(position, owner), bracket=owner)
            return Liquidation(price=price, bracket=bracket)
    last, price = candidates[-1]
    if last.upper is not None and position.notional(price) > last.upper:
        return Liquidation(price=price, bracket=last, beyond_brackets=True)
    # Only a root that sits on an edge to the last digit can miss both brackets by a rounding of the
    # 28th digit; it belongs to the bracket it misses by least.
    bracket, price = min(candidates, key=lambda pair: _miss(pair[0], position.notional(pair[1])))
    return Liquidation(price=price, bracket=bracket)


def _miss(bracket: Bracket, notional: Decimal) -> Decimal:
    if notional < bracket.lower:
        return bracket.lower - notional
    if bracket.upper is not None and notional > bracket.upper:
        return notional - bracket.upper
    return ZERO


def margin_for_liquidation_at(position: Position, brackets: Brackets, target: Decimal) -> Decimal:
    """WB_T: the margin that puts the liquidation price at `target`."""
    bracket = brackets.extended(position.notional(target))
    held = maintenance(bracket, position.notional(target))
    return position.other_maintenance - position.other_pnl + held - position.pnl(target)


def distance(mark_price: Decimal, price: Decimal | None) -> Decimal | None:
    """|mark - price| / mark: how far the liquidation price is, as a fraction of the mark price."""
    return None if price is None else abs(mark_price - price) / mark_price


def target_price(mark_price: Decimal, side_sign: Decimal, fraction: Decimal) -> Decimal:
    """The price `fraction` of the mark away from it, on the side the position loses on."""
    return mark_price * (ONE - side_sign * fraction)


def bracket_rows(table: BandTable, max_leverages: Sequence[int]) -> tuple[Bracket, ...]:
    """Brackets from the kit's compiled bands (which carry rate and recomputed cum) and each row's leverage cap."""
    rows = []
    for band, max_leverage in zip(table.bands, max_leverages, strict=True):
        if band.rate is None or band.cumulative is None:
            raise ValueError("brackets are compiled with a rate and a cumulative amount")
        rows.append(
            Bracket(
                index=band.index,
                lower=band.lower,
                upper=band.upper,
                mmr=band.rate,
                cum=band.cumulative,
                max_leverage=max_leverage,
                band=band,
            )
        )
    return tuple(rows)


__all__ = [
    "Bracket",
    "Brackets",
    "Figures",
    "Liquidation",
    "Position",
    "bracket_rows",
    "distance",
    "figures_at",
    "liquidation_price",
    "maintenance",
    "margin_for_liquidation_at",
    "signed_zero_free",
    "target_price",
]
