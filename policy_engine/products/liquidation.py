"""The liquidation plan of a margin account: what is sold, how, and what is left.

Mechanism only; every rate, rounding and liquidity class comes from the policy.

1. Debt.  Liquid collateral is sold in the account, in the order the account
   lists it (regular liquidation).  If that does not cover the debt, all
   illiquid collateral goes to the takeover account and is sold at its
   execution price; the proceeds repay the rest of the debt.
2. Fee.  `rate x base`, where the base is the debt when liquidation starts
   (`liabilities`) or the value liquidated to repay it (`liquidated_assets`).
   It is paid from cash first (takeover cash, then the surplus of sales
   rounded up, each a step with its `paid_from`), then by selling more liquid
   collateral, then by a takeover if illiquid collateral is still held.
3. What is left is returned: unsold collateral in kind, cash in the
   settlement asset (the largest liability's asset), rounded down to its
   precision; `returned` has one entry per asset (cash joins the same asset
   still held), and `cash_returned` says how much of it is cash.

A sale is sized to the amount it pays: `amount / price`, rounded to the
asset's precision.  When the rounded quantity is available, the amount counts
as paid in full (the seed's 9.09090909 BTC "covers the 400,000 USDC
liability"): a shortfall of less than one unit of precision is reported as
`rounding_difference`, a surplus is cash returned with the rest.

Recovery level.  When the rules set one (`recovery_level`, with its YAML
line), regular liquidation stops early: the debt sale is the smallest quantity
of the current liquid asset, in whole units of its precision, after which,
with the fee paid as above, the margin level, unrounded, is at or above the
level (so the reported level, rounded as the policy compares it, is too).
With mark = execution price and a fee fixed at the start that is the quantity
for X = (R x D - A + fee) / (R - 1) of debt, rounded up; the plan finds it by
bisection over whole units, so one unit less would leave the level below R.
An asset that cannot reach it is sold whole and the next is tried; when no
liquid asset can, the plan goes on as without a recovery level (takeover, full
repayment).  Once it stops, illiquid collateral and the debt left stay.

Liabilities are pooled by value (prices are in one quote currency); the plan
does not say which of several liabilities each sale repaid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from ..frozen import FrozenDict
from ..model import Rounding

ZERO = Decimal(0)


@dataclass(frozen=True, kw_only=True, slots=True)
class Holding:
    asset: str
    quantity: Decimal
    price: Decimal
    """Mark price, for margin levels."""
    execution_price: Decimal
    """Average price achieved when sold in liquidation."""
    quantity_rounding: Rounding
    """How a quantity sold is rounded: the asset's precision, the policy's mode."""
    liquid: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanRules:
    fee_rate: Decimal
    fee_base: str
    margin_level_rounding: Rounding
    recovery_level: Decimal | None = None
    """Regular liquidation stops once the margin level is back at or above it; None: full repayment."""
    recovery_source: str | None = None
    """`file:line` of the recovery level."""


class _Ledger:
    """Running state while the plan is built."""

    def __init__(self, holdings: Sequence[Holding], debt: Decimal, rules: PlanRules) -> None:
        self.holdings = holdings
        self.rules = rules
        self.left = {h.asset: ZERO for h in holdings}
        for h in holdings:
            self.left[h.asset] += h.quantity
        self.debt = debt
        self.cash = ZERO
        self.takeover_cash = ZERO
        """The part of `cash` that came from a takeover; the rest is the surplus of sales rounded up."""
        self.events: list[Mapping[str, Any]] = []
        self.sales: list[Mapping[str, Any]] = []
        self.taken_over = False
        self.used_regular = False
        self.used_takeover = False
        self.rounding_difference = ZERO
        self.debt_repaid = ZERO
        self.liquidated_for_debt = ZERO

    def record(self, **event: Any) -> None:
        """One step of the plan, read-only from the start: the outcome needs no freezing pass."""
        self.events.append(FrozenDict(event))

    def margin_level(self) -> Decimal | None:
        if self.debt <= 0:
            return None
        value = sum((self.left[h.asset] * h.price for h in self.unique()), ZERO) + self.cash
        return self.rules.margin_level_rounding.apply(value / self.debt)

    def unique(self) -> list[Holding]:
        seen: dict[str, Holding] = {}
        for h in self.holdings:
            seen.setdefault(h.asset, h)
        return list(seen.values())

    def sell_liquid(self, amount: Decimal, purpose: str) -> Decimal:
        """Sell liquid collateral for `amount`; return what is still unpaid."""
        for h in self.holdings:
            if amount <= 0:
                break
            available = self.left[h.asset]
            if not h.liquid or available <= 0:
                continue
            needed = h.quantity_rounding.apply(amount / h.execution_price)
            if needed == 0:  # under one unit of precision: no sale; counted as paid, like a rounding shortfall
                self.rounding_difference -= amount
                if purpose == "debt":
                    self.debt -= amount
                    self.debt_repaid += amount
                return ZERO
            quantity = min(needed, available)
            proceeds = quantity * h.execution_price
            self.left[h.asset] = available - quantity
            paid = amount if quantity == needed else proceeds
            surplus = proceeds - paid
            if surplus > 0:  # rounded up: the extra is cash, returned with the rest
                self.cash += surplus
            else:
                self.rounding_difference += surplus
            amount -= paid
            self.used_regular = True
            sale = {
                "asset": h.asset,
                "quantity": quantity,
                "price": h.execution_price,
                "value": proceeds,
                "purpose": purpose,
            }
            self.sales.append(FrozenDict(sale))
            if purpose == "debt":
                self.debt -= paid
                self.debt_repaid += paid
                self.liquidated_for_debt += proceeds
            self.record(event="regular_sale", **sale, debt_after=self.debt, margin_level_after=self.margin_level())
        return amount

    def fee_for(self, start_debt: Decimal, liquidated_for_debt: Decimal) -> Decimal:
        base_value = start_debt if self.rules.fee_base == "liabilities" else liquidated_for_debt
        return self.rules.fee_rate * base_value

    def recovers(self, h: Holding, quantity: Decimal, start_debt: Decimal, recovery: Decimal) -> tuple[bool, bool]:
        """Selling `quantity` of `h` for the debt, then the fee as `plan` pays it (cash, then `h`):
        whether the margin level is then >= `recovery`, and whether `h` holds enough for both."""
        proceeds = quantity * h.execution_price
        debt = self.debt - proceeds
        fee = self.fee_for(start_debt, self.liquidated_for_debt + proceeds)
        from_cash = min(self.cash, fee)
        fee_quantity = h.quantity_rounding.apply((fee - from_cash) / h.execution_price)
        surplus = max(fee_quantity * h.execution_price - (fee - from_cash), ZERO)
        left = self.left[h.asset] - quantity - fee_quantity
        value = sum((self.left[u.asset] * u.price for u in self.unique() if u.asset != h.asset), ZERO)
        value += left * h.price + self.cash - from_cash + surplus
        return value >= recovery * debt, left >= 0  # unrounded: the reported (rounded) level is then >= too

    def sell_part(self, amount: Decimal, part: Decimal) -> Decimal:
        """Sell liquid collateral for `part` of the unpaid debt `amount`; return what is still unpaid."""
        return amount - part + self.sell_liquid(part, "debt")

    def sell_to_recover(self, start_debt: Decimal, recovery: Decimal) -> tuple[Decimal, bool]:
        """Regular sales for the debt that stop at the recovery level; return what is unpaid and whether it stopped."""
        amount = start_debt
        for h in self.holdings:
            available = self.left[h.asset]
            if amount <= 0:
                break
            if not h.liquid or available <= 0:
                continue
            unit = h.quantity_rounding.quantum
            # whole units that leave some debt: the level is defined and rises with each unit sold
            units_below_debt = (self.debt / (unit * h.execution_price)).to_integral_value(rounding=ROUND_CEILING)
            high = min(int(available / unit), int(units_below_debt) - 1)
            if high >= 0 and self.recovers(h, high * unit, start_debt, recovery)[0]:
                low = -1  # low fails (or is no quantity), high recovers
                while high - low > 1:
                    middle = (low + high) // 2
                    if self.recovers(h, middle * unit, start_debt, recovery)[0]:
                        high = middle
                    else:
                        low = middle
                if self.recovers(h, high * unit, start_debt, recovery)[1]:
                    if high > 0:
                        amount = self.sell_part(amount, high * unit * h.execution_price)
                    return amount, True
            amount = self.sell_part(amount, min(amount, available * h.execution_price))
        return amount, False

    def pay_from_cash(self, amount: Decimal) -> Decimal:
        """Pay what cash can of `amount` (a fee), takeover cash first, then sales' surplus; return what is unpaid."""
        for source, held in (("takeover_cash", self.takeover_cash), ("sale_surplus", self.cash - self.takeover_cash)):
            paid = min(held, amount)
            if paid > 0:
                self.cash -= paid
                if source == "takeover_cash":
                    self.takeover_cash -= paid
                amount -= paid
                self.record(event="fee", paid_from=source, value=paid, cash_after=self.cash)
        return amount

    def take_over(self) -> None:
        """Move all illiquid collateral to the takeover account and sell it."""
        taken = [h for h in self.unique() if not h.liquid and self.left[h.asset] > 0]
        if self.taken_over or not taken:
            return
        self.taken_over = self.used_takeover = True
        lines = []
        proceeds = ZERO
        for h in taken:
            quantity = self.left[h.asset]
            value = quantity * h.execution_price
            lines.append(
                FrozenDict({"asset": h.asset, "quantity": quantity, "price": h.execution_price, "value": value})
            )
            proceeds += value
            self.left[h.asset] = ZERO
        level = None
        if self.debt > 0:
            level = self.rules.margin_level_rounding.apply(proceeds / self.debt)
        self.record(event="takeover", assets=tuple(lines), proceeds=proceeds, debt=self.debt, margin_level=level)
        repaid = min(proceeds, self.debt)
        self.debt -= repaid
        self.debt_repaid += repaid
        self.liquidated_for_debt += proceeds
        self.cash += proceeds - repaid
        self.takeover_cash += proceeds - repaid
        self.record(event="repay", debt_repaid=repaid, debt_after=self.debt, cash_after=self.cash)


def plan(
    holdings: Sequence[Holding],
    *,
    debt: Decimal,
    settlement_asset: str,
    settlement_price: Decimal,
    returned_rounding: Rounding,
    rules: PlanRules,
) -> Mapping[str, Any]:
    """The liquidation plan for an account whose debt (value) is `debt`, read-only as it is built."""
    ledger = _Ledger(holdings, debt, rules)
    recovered = False
    if rules.recovery_level is None:
        unpaid_debt = ledger.sell_liquid(debt, "debt")
    else:
        unpaid_debt, recovered = ledger.sell_to_recover(debt, rules.recovery_level)
    if unpaid_debt > 0 and not recovered:
        ledger.take_over()
    base_value = debt if rules.fee_base == "liabilities" else ledger.liquidated_for_debt
    fee = rules.fee_rate * base_value
    fee_left = ledger.pay_from_cash(fee)
    fee_left = ledger.sell_liquid(fee_left, "fee")
    if fee_left > 0:
        ledger.take_over()
        fee_left = ledger.pay_from_cash(fee_left)
    stopped_at = ledger.margin_level() if recovered else None
    if recovered:
        ledger.record(
            event="recovered",
            margin_level=stopped_at,
            recovery_level=rules.recovery_level,
            source=rules.recovery_source,
        )
    left = {h.asset: ledger.left[h.asset] for h in ledger.unique() if ledger.left[h.asset] > 0}
    cash_returned = ZERO
    if ledger.cash > 0:
        cash_returned = returned_rounding.apply(ledger.cash / settlement_price)
        if cash_returned > 0:  # less than one unit of the settlement asset is nothing to hand back
            # one entry per asset: cash joins the same asset still held
            left[settlement_asset] = left.get(settlement_asset, ZERO) + cash_returned
    returned = tuple(FrozenDict({"asset": asset, "quantity": quantity}) for asset, quantity in left.items())
    if ledger.used_regular and ledger.used_takeover:
        method = "regular_then_takeover"
    elif ledger.used_takeover:
        method = "takeover"
    elif ledger.used_regular:
        method = "regular"
    else:
        method = "none"  # nothing to sell
    ledger.record(event="return", returned=returned)
    recovery: dict[str, Any] = {}
    if rules.recovery_level is not None:  # without one the plan is as it always was
        recovery = {"recovery_level": rules.recovery_level, "recovered": recovered, "stopped_at": stopped_at}
    return FrozenDict(
        {
            "method": method,
            "debt_value": debt,
            "fee_rate": rules.fee_rate,
            "fee_base": rules.fee_base,
            "fee_base_value": base_value,
            "fee_value": fee,
            "fee_unpaid": fee_left,
            "debt_repaid": ledger.debt_repaid,
            "debt_remaining": ledger.debt,
            "sales": tuple(ledger.sales),
            "takeover_proceeds": sum((e["proceeds"] for e in ledger.events if e["event"] == "takeover"), ZERO),
            "cash_returned_value": ledger.cash,
            "cash_returned": FrozenDict({"asset": settlement_asset, "quantity": cash_returned}),
            "rounding_difference": ledger.rounding_difference,
            "returned": returned,
            "steps": tuple(ledger.events),
            **recovery,
        }
    )
