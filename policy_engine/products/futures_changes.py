"""Margin moves before a futures decision: the account's adjustments, then auto-add margin.

Adjustments are what the operations `add_margin`, `reduce_margin` and
`transfer_in` write into the account; each is checked against the state the
ones before it left, refused with the most that is allowed, and recorded
with the liquidation price and margin ratio before and after it.

- `add_margin` (isolated): from the futures wallet's available balance to
  the position; at most that balance.
- `reduce_margin` (isolated): from the position back to the wallet; what is
  left must cover the initial margin (notional / leverage, or notional / the
  bracket's maximum leverage when the position's is above it: always more
  than the maintenance margin, since the lint keeps mmr < 1 / max_leverage),
  counting unrealised losses and, if the policy says so, unrealised profit;
  and no more than the margin put in.
- `transfer_in`: into the futures wallet.  In cross mode that is the margin
  every position stands on, and counts as an add to this position; in
  isolated mode it only feeds the wallet that adds and auto-add draw from.

Auto-add margin (isolated, when the account turns it on): while the policy's
`when` holds (or the margin balance is gone), the policy's `amount` is moved
from the wallet, until the wallet is empty.  Each addition is recorded; when
the wallet runs dry with `when` still holding, the position is liquidated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ..frozen import FrozenDict
from ..kit import Problem, problem_at, run
from .futures_math import Figures, Position, figures_at, liquidation_price
from .futures_model import AutoAdd, Contract, Display

ZERO = Decimal(0)
MAX_ADDITIONS = 1_000
"""Auto-add additions made in one decision at most: a safety bound, not a policy figure (an amount
expression that adds a hair each time would otherwise spin)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Holdings:
    """Where the margin sits: the position's own (isolated) and the futures wallet."""

    isolated: bool
    position_margin: Decimal
    """Isolated: the position's margin; 0 in cross mode."""
    wallet: Decimal
    """Isolated: the futures wallet's available balance; cross: the wallet balance the positions share."""
    margin_adds: int

    @property
    def margin(self) -> Decimal:
        """WB in the liquidation formula."""
        return self.position_margin if self.isolated else self.wallet


@dataclass(frozen=True, kw_only=True, slots=True)
class Market:
    """What a what-if needs besides the holdings: the position, its contract, the mark price, the roundings."""

    position: Position
    contract: Contract
    display: Display
    mark_price: Decimal

    def at(self, holdings: Holdings) -> Position:
        return self.position.with_margin(holdings.margin)

    def figures(self, holdings: Holdings) -> Figures:
        return figures_at(self.at(holdings), self.contract.brackets, self.mark_price)

    def view(self, holdings: Holdings) -> tuple[Decimal | None, Decimal | None]:
        """The liquidation price as shown and the margin ratio as compared, for `holdings`."""
        position = self.at(holdings)
        found = liquidation_price(position, self.contract.brackets)
        ratio = figures_at(position, self.contract.brackets, self.mark_price).margin_ratio
        shown = self.display.price(position.side_sign, found.price)
        return shown, None if ratio is None else self.display.margin_ratio.apply(ratio)


def max_removable(market: Market, holdings: Holdings, *, profit_counts: bool) -> tuple[Decimal, str]:
    """The most `reduce_margin` may take out of an isolated position, and the floor it must leave (as text)."""
    figures = market.figures(holdings)
    pnl = figures.unrealized_pnl
    counted = holdings.position_margin + (pnl if profit_counts else min(pnl, ZERO))
    cap = figures.bracket.max_leverage
    leverage = min(market.position.leverage, Decimal(cap))
    floor = figures.notional / leverage
    room = min(holdings.position_margin, counted - floor)
    shown = market.display.amount_up.apply(floor)
    named = f"its initial margin ({shown}, notional / " + (
        "leverage)" if leverage == market.position.leverage else f"{cap}, the bracket's maximum leverage)"
    )
    return market.display.amount_down.apply(max(room, ZERO)), named


def apply_adjustments(
    adjustments: Sequence[Mapping[str, Any]],
    holdings: Holdings,
    market: Market,
    *,
    profit_counts: bool,
    source: str,
    problems: list[Problem],
) -> tuple[Holdings, tuple[FrozenDict, ...]]:
    """The holdings after each adjustment in turn, and a record of each; refusals go to `problems`."""
    records = []
    for index, adjustment in enumerate(adjustments):
        kind, amount = adjustment["type"], Decimal(adjustment["amount"])
        where = ("adjustments", index)
        before = market.view(holdings)
        changed: Holdings | None = None
        limit: dict[str, Decimal] = {}
        if kind in ("add_margin", "reduce_margin") and not holdings.isolated:
            problems.append(
                problem_at(
                    source,
                    (*where, "type"),
                    f"{kind} moves margin of one isolated position; in cross mode the futures wallet is shared"
                    " by every position: use transfer_in",
                )
            )
        elif kind == "add_margin":
            limit["max_addable"] = holdings.wallet
            if amount > holdings.wallet:
                problems.append(
                    problem_at(
                        source,
                        (*where, "amount"),
                        f"add_margin of {amount} is more than the futures wallet's available balance"
                        f" ({holdings.wallet}); at most {holdings.wallet} can be added",
                    )
                )
            else:
                changed = replace(
                    holdings,
                    position_margin=holdings.position_margin + amount,
                    wallet=holdings.wallet - amount,
                    margin_adds=holdings.margin_adds + 1,
                )
        elif kind == "reduce_margin":
            most, floor = max_removable(market, holdings, profit_counts=profit_counts)
            limit["max_removable"] = most
            if amount > most:
                problems.append(
                    problem_at(
                        source,
                        (*where, "amount"),
                        f"reduce_margin of {amount} would leave the position's margin below {floor};"
                        f" at most {most} can be removed",
                    )
                )
            else:
                changed = replace(
                    holdings, position_margin=holdings.position_margin - amount, wallet=holdings.wallet + amount
                )
        else:  # transfer_in
            changed = replace(
                holdings,
                wallet=holdings.wallet + amount,
                margin_adds=holdings.margin_adds + (0 if holdings.isolated else 1),
            )
        if changed is None:
            continue
        holdings = changed
        after = market.view(holdings)
        records.append(
            FrozenDict(
                {
                    "type": kind,
                    "amount": amount,
                    **limit,
                    "liquidation_price_before": before[0],
                    "liquidation_price_after": after[0],
                    "margin_ratio_before": before[1],
                    "margin_ratio_after": after[1],
                    "position_margin_after": holdings.position_margin if holdings.isolated else None,
                    "wallet_balance_after": holdings.wallet,
                }
            )
        )
    return holdings, tuple(records)


@dataclass(frozen=True, kw_only=True, slots=True)
class AutoAddResult:
    holdings: Holdings
    triggered: bool
    trigger_inputs: Mapping[str, Any]
    """What the `when` expression read, before any addition (or why it was not read)."""
    additions: tuple[FrozenDict, ...]
    wallet_ran_dry: bool
    cut_short: bool


def auto_add(
    rules: AutoAdd,
    holdings: Holdings,
    market: Market,
    values_of: Callable[[Holdings, Figures], Mapping[str, Any]],
) -> AutoAddResult:
    """Additions from the wallet while the policy's `when` holds, until the wallet is empty."""
    additions = []
    first_inputs: Mapping[str, Any] | None = None
    triggered = ran_dry = cut_short = False
    for count in range(MAX_ADDITIONS + 1):
        figures = market.figures(holdings)
        gone = figures.margin_ratio is None
        env = values_of(holdings, figures)
        holds = gone or bool(run(rules.when, env, rules.when_spec))
        if first_inputs is None:
            triggered = holds
            first_inputs = (
                {"margin_balance": figures.margin_balance} if gone else {name: env[name] for name in rules.when.names}
            )
        if not holds:
            break
        if holdings.wallet <= 0:
            ran_dry = True
            break
        if count == MAX_ADDITIONS:
            cut_short = True
            break
        wanted = market.display.amount_up.apply(run(rules.amount, env, rules.amount_spec))
        if wanted <= 0:
            break
        moved = min(wanted, holdings.wallet)
        holdings = replace(holdings, position_margin=holdings.position_margin + moved, wallet=holdings.wallet - moved)
        shown, ratio = market.view(holdings)
        additions.append(
            FrozenDict(
                {
                    "amount": moved,
                    "wanted": wanted,
                    "position_margin_after": holdings.position_margin,
                    "wallet_balance_after": holdings.wallet,
                    "liquidation_price_after": shown,
                    "margin_ratio_after": ratio,
                }
            )
        )
    return AutoAddResult(
        holdings=holdings,
        triggered=triggered,
        trigger_inputs=FrozenDict(first_inputs or {}),
        additions=tuple(additions),
        wallet_ran_dry=ran_dry,
        cut_short=cut_short,
    )


__all__ = ["MAX_ADDITIONS", "AutoAddResult", "Holdings", "Market", "apply_adjustments", "auto_add", "max_removable"]
