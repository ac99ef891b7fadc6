"""The advice on adding margin: every advice rule, the amounts recommended, and a partial stop-loss beside them.

- `add_margin`: every rule of `advice.rules` that holds, with its verdict
  and reason; adding is `allowed` unless one of them says `do_not_add` or
  `not_needed`.
- `recommended_add`: for each distance d of `advice.recommended_add`, the
  amount that puts the liquidation price d of the mark price away (target
  T = mark x (1 - d) for a long, mark x (1 + d) for a short), rounded up so
  the target is met, with the liquidation price and margin ratio it gives.
  In cross mode the other positions' maintenance and PnL stay as they are.
  A target the liquidation price is already beyond needs nothing.  `null`
  when nothing is needed at all: every target already met (an
  over-collateralised long has no liquidation price), or a `not_needed`
  rule held (a position that is not losing).  The amounts are shown even
  when a `do_not_add` rule held: `allowed` says whether to.  `cap` is what
  one add may take: the wallet's available balance (isolated), or
  `max_backup_share` of the backup funds (cross).
- `partial_stop_loss`: close `fraction` of the position (rounded down to
  the symbol's quantity step) at the mark price.  The margin stays with the
  rest of the position and pays the realised loss (the seed's reading: the
  rest's liquidation price moves away); no new funds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ..frozen import FrozenDict
from ..kit import StepSpec
from .futures_changes import Holdings, Market
from .futures_math import figures_at, liquidation_price, margin_for_liquidation_at, signed_zero_free, target_price
from .futures_model import BLOCKING_VERDICTS, Advice

ZERO = Decimal(0)
Steps = list[tuple[StepSpec, Any]]
ZoneOf = Callable[[Decimal | None], str | None]


def advise(
    advice: Advice,
    env: Mapping[str, Any],
    holdings: Holdings,
    market: Market,
    *,
    backup_funds: Decimal,
    zone_of: ZoneOf,
    steps: Steps,
    specs: Mapping[str, StepSpec],
) -> FrozenDict:
    """The advice section of the outcome, recording each rule, the verdict and both alternatives."""
    fired = advice.rules.collect(env, steps)
    verdicts = {str(rule.outcome["verdict"]) for rule in fired}
    allowed = not verdicts & BLOCKING_VERDICTS
    steps.append((specs["add_margin_allowed"], allowed))
    recommended = None if "not_needed" in verdicts else recommend(advice, holdings, market, backup_funds, zone_of)
    steps.append((specs["recommended_add"], recommended))
    partial = partial_stop_loss(advice, market, holdings, zone_of)
    steps.append((specs["partial_stop_loss"], partial))
    rules = tuple(
        FrozenDict({"id": rule.id, "verdict": rule.outcome["verdict"], "reason": rule.outcome["reason"]})
        for rule in fired
    )
    return FrozenDict(
        {
            "add_margin": FrozenDict({"allowed": allowed, "rules": rules}),
            "recommended_add": recommended,
            "partial_stop_loss": partial,
        }
    )


def recommend(
    advice: Advice, holdings: Holdings, market: Market, backup_funds: Decimal, zone_of: ZoneOf
) -> FrozenDict | None:
    """The add for each target distance, or None when every target is already met."""
    position = market.at(holdings)
    if holdings.isolated:
        cap, cap_basis = holdings.wallet, "wallet_balance"
    else:
        cap, cap_basis = advice.max_backup_share * backup_funds, "max_backup_share x backup_funds"
    targets = []
    for fraction in advice.distances:
        target = target_price(market.mark_price, position.side_sign, fraction)
        needed = margin_for_liquidation_at(position, market.contract.brackets, target) - position.margin
        entry: dict[str, Any] = {"distance": fraction, "target_price": target}
        if needed <= 0:
            entry.update(needed=False, amount=ZERO)
        else:
            amount = market.display.amount_up.apply(needed)
            after = Holdings(
                isolated=holdings.isolated,
                position_margin=holdings.position_margin + (amount if holdings.isolated else ZERO),
                wallet=holdings.wallet + (ZERO if holdings.isolated else amount),
                margin_adds=holdings.margin_adds + 1,
            )
            shown, ratio = market.view(after)
            entry.update(
                needed=True,
                amount=amount,
                within_cap=amount <= cap,
                liquidation_price_after=shown,
                margin_ratio_after=ratio,
                zone_after=zone_of(ratio),
            )
        targets.append(FrozenDict(entry))
    if not any(entry["needed"] for entry in targets):
        return None
    return FrozenDict({"cap": cap, "cap_basis": cap_basis, "targets": tuple(targets)})


def partial_stop_loss(advice: Advice, market: Market, holdings: Holdings, zone_of: ZoneOf) -> FrozenDict:
    """Closing `fraction` of the position at the mark price: what is realised and where the rest stands."""
    position = market.at(holdings)
    closed = market.contract.quantity_rounding.apply(position.quantity * advice.fraction)
    result: dict[str, Any] = {"fraction": advice.fraction, "quantity_closed": closed, "new_funds": ZERO}
    if closed <= 0:
        result.update(possible=False, quantity_left=position.quantity)
        return FrozenDict(result)
    realised = signed_zero_free(position.side_sign * closed * (market.mark_price - position.entry_price))
    rest = position.with_quantity(position.quantity - closed).with_margin(position.margin + realised)
    found = liquidation_price(rest, market.contract.brackets)
    ratio = figures_at(rest, market.contract.brackets, market.mark_price).margin_ratio
    compared = None if ratio is None else market.display.margin_ratio.apply(ratio)
    result.update(
        possible=True,
        quantity_left=rest.quantity,
        realised_pnl=realised,
        realised_loss=max(-realised, ZERO),
        liquidation_price_after=market.display.price(rest.side_sign, found.price),
        margin_ratio_after=compared,
        zone_after=zone_of(compared),
    )
    return FrozenDict(result)


__all__ = ["advise", "partial_stop_loss", "recommend"]
