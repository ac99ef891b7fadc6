"""Margin trading from domain.md section 1: margin level, status, and the liquidation plan.

From the domain reference:
- margin level = total asset value / (liabilities + unpaid interest); no debt: "no debt";
- margin call at ML <= the call level, liquidation at ML <= the liquidation level;
  past both, only the liquidation notice (the liquidation rule comes first);
- the fee is rate x the liabilities when liquidation starts (or, as a policy
  choice, x the value liquidated to repay them);
- regular: liquid collateral is sold in the account until the liabilities and
  the fee are covered, the rest stays; takeover: illiquid collateral goes to
  the takeover account, is sold at its average (execution) price, the debt is
  repaid, the fee deducted, the rest returned in the liability currency; a
  liquidation may start regular and switch to takeover;
- examples A, B and C with the erratum (37,000, not 35,000, before the fee in C);
- section 2: with a collateral policy, each asset's value counts band by band,
  each band at its own ratio, like tax brackets (120M of BTC counts 119.5M);
  collateral margin level = haircut collateral value / (liabilities + interest),
  rounded as the margin level (the engine's choice, the README's).

Conventions the domain reference leaves open, as documented in the README
("Margin trading") and the plan's own description in
`policy_engine/products/liquidation.py` (its module docstring):
- collateral held in a borrowed asset is sold first, then the account's order;
- a sale of `amount` sells `amount / price` rounded to the asset's precision
  in the policy's quantity rounding; when that quantity is held the amount
  counts as paid, a shortfall being the `rounding_difference` and a surplus
  cash that is returned;
- margin levels during the plan are rounded like the margin level, at mark
  prices, counting cash;
- the fee is paid from cash first (what a takeover brought in, then the
  surplus of sales rounded up, each its own step), then by selling liquid
  collateral, then by a takeover of illiquid collateral still held;
- cash is returned in the asset of the largest debt (by value), rounded to its
  precision as the policy's `returned_rounding` says, and joins that asset's
  entry when it is still held;
- a remainder worth under half a unit of the asset sold counts as paid (a
  rounding shortfall) without a sale: selling nothing is no sale.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Any

from .policy_data import ARITHMETIC, rounded

ZERO = Decimal(0)


def margin_outcome(
    policy: Mapping[str, Any], account: Mapping[str, Any], collateral: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The outcome the domain reference gives for a valid spot-margin account under `policy` (and `collateral`)."""
    with localcontext(ARITHMETIC):
        return _outcome(policy, account, collateral)


def _counted(bands: list[Mapping[str, Any]], value: Decimal) -> Decimal:
    """Section 2: the part of `value` above each band's start and below its end, at the band's ratio."""
    total = ZERO
    for band in bands:
        if value > band["from"]:
            top = value if band.get("to") is None else min(value, band["to"])
            total += (top - band["from"]) * band["ratio"]
    return total


def _outcome(
    policy: Mapping[str, Any], account: Mapping[str, Any], collateral: Mapping[str, Any] | None
) -> dict[str, Any]:
    mode = policy["modes"][account["mode"]]
    tier = next(row for row in mode["leverages"] if row["leverage"] == Decimal(account["leverage"]))
    places, mode_of_rounding = policy["margin_level"]["places"], policy["margin_level"]["rounding"]

    holdings = [(line["asset"], Decimal(line["quantity"]), Decimal(line["price"])) for line in account["assets"]]
    debts = [
        (line["asset"], Decimal(line["principal"]) + Decimal(line["interest"]), Decimal(line["price"]))
        for line in account["liabilities"]
    ]
    total_assets = sum((quantity * price for _, quantity, price in holdings), ZERO)
    total_debt = sum((quantity * price for _, quantity, price in debts), ZERO)

    rules = {rule["status"]: rule for rule in policy["rules"]}
    status, margin_level, compared = policy["default_status"], None, None
    if total_debt > 0:
        margin_level = total_assets / total_debt
        compared = rounded(margin_level, places, mode_of_rounding)
        if compared <= tier["liquidation"]:
            status = "liquidation"
        elif compared <= tier["margin_call"]:
            status = "margin_call"
    fired = rules.get(status) if total_debt > 0 else None

    haircut_value = collateral_level = collateral_compared = None
    if collateral is not None:
        haircut_value = sum(
            (
                _counted((collateral["assets"].get(asset) or collateral["unlisted"])["haircut"], quantity * price)
                for asset, quantity, price in holdings
            ),
            ZERO,
        )
        if total_debt > 0:
            collateral_level = haircut_value / total_debt
            collateral_compared = rounded(collateral_level, places, mode_of_rounding)

    # the bundled policy's one derived figure (checked by the test): net equity
    derived = {"net_equity_value": total_assets - total_debt}

    plan = None
    if status == "liquidation":
        plan = _plan(policy, mode, account, holdings, debts, total_debt)
    return {
        "status": status,
        "rule": fired["id"] if fired else None,
        "notification": fired.get("notification") if fired else None,
        "margin_level": margin_level,
        "margin_level_compared": compared,
        "total_asset_value": total_assets,
        "total_liability_value": total_debt,
        "collateral_value": haircut_value,
        "collateral_margin_level": collateral_level,
        "collateral_margin_level_compared": collateral_compared,
        "thresholds": {"margin_call": tier["margin_call"], "liquidation": tier["liquidation"]},
        "derived": derived,
        "liquidation": plan,
    }


def _plan(  # noqa: PLR0915 - a straight-line reference reads top to bottom
    policy: Mapping[str, Any],
    mode: Mapping[str, Any],
    account: Mapping[str, Any],
    holdings: list[tuple[str, Decimal, Decimal]],
    debts: list[tuple[str, Decimal, Decimal]],
    total_debt: Decimal,
) -> dict[str, Any]:
    assets = policy["assets"]
    quantity_mode = policy["liquidation"]["quantity_rounding"]
    returned_mode = policy["liquidation"]["returned_rounding"]
    places, level_mode = policy["margin_level"]["places"], policy["margin_level"]["rounding"]
    execution = {asset: Decimal(price) for asset, price in (account.get("execution_prices") or {}).items()}
    fee_rate, fee_base = mode["liquidation_fee"]["rate"], mode["liquidation_fee"]["base"]

    borrowed = {asset for asset, _, _ in debts}
    order = [asset for asset, _, _ in holdings if asset in borrowed] + [
        asset for asset, _, _ in holdings if asset not in borrowed
    ]
    mark = {asset: price for asset, _, price in holdings}
    left = {asset: quantity for asset, quantity, _ in holdings}
    liquid = {asset: assets[asset]["liquidity"] == "liquid" for asset in left}

    state = {
        "debt": total_debt,
        "cash": ZERO,
        "takeover_cash": ZERO,
        "repaid": ZERO,
        "for_debt": ZERO,
        "difference": ZERO,
    }
    used = {"regular": False, "takeover": False}
    steps: list[dict[str, Any]] = []
    sales: list[dict[str, Any]] = []

    def level(value: Decimal) -> Decimal | None:
        return None if state["debt"] <= 0 else rounded(value / state["debt"], places, level_mode)

    def sell_liquid(amount: Decimal, purpose: str) -> Decimal:
        """Regular sales for `amount`, liquid collateral in order; what is still unpaid."""
        for asset in order:
            if amount <= 0:
                break
            if not liquid[asset] or left[asset] <= 0:
                continue
            price = execution.get(asset, mark[asset])
            wanted = rounded(amount / price, assets[asset]["precision"], quantity_mode)
            if wanted == 0:  # under half a unit of the asset: counts as paid, as a rounding shortfall, no sale
                state["difference"] -= amount
                if purpose == "debt":
                    state["debt"] -= amount
                    state["repaid"] += amount
                return ZERO
            quantity = min(wanted, left[asset])
            value = quantity * price
            paid = amount if quantity == wanted else value
            left[asset] -= quantity
            if value > paid:
                state["cash"] += value - paid
            else:
                state["difference"] += value - paid
            amount -= paid
            used["regular"] = True
            sale = {"asset": asset, "quantity": quantity, "price": price, "value": value, "purpose": purpose}
            sales.append(sale)
            if purpose == "debt":
                state["debt"] -= paid
                state["repaid"] += paid
                state["for_debt"] += value
            held = sum((left[a] * mark[a] for a in order), ZERO) + state["cash"]
            steps.append(
                {"event": "regular_sale", **sale, "debt_after": state["debt"], "margin_level_after": level(held)}
            )
        return amount

    def take_over() -> None:
        """All illiquid collateral still held goes to the takeover account, is sold, and repays the debt."""
        taken = [asset for asset in order if not liquid[asset] and left[asset] > 0]
        if used["takeover"] or not taken:
            return
        used["takeover"] = True
        lines = []
        proceeds = ZERO
        for asset in taken:
            price = execution.get(asset, mark[asset])
            value = left[asset] * price
            lines.append({"asset": asset, "quantity": left[asset], "price": price, "value": value})
            proceeds += value
            left[asset] = ZERO
        steps.append(
            {
                "event": "takeover",
                "assets": lines,
                "proceeds": proceeds,
                "debt": state["debt"],
                "margin_level": level(proceeds),
            }
        )
        repay = min(proceeds, state["debt"])
        state["debt"] -= repay
        state["repaid"] += repay
        state["for_debt"] += proceeds
        state["cash"] += proceeds - repay
        state["takeover_cash"] += proceeds - repay
        steps.append({"event": "repay", "debt_repaid": repay, "debt_after": state["debt"], "cash_after": state["cash"]})

    def pay_from_cash(fee: Decimal) -> Decimal:
        """Cash pays the fee first: what a takeover brought in, then what sales rounded up left over."""
        surplus = state["cash"] - state["takeover_cash"]
        for source, held in (("takeover_cash", state["takeover_cash"]), ("sale_surplus", surplus)):
            paid = min(held, fee)
            if paid > 0:
                state["cash"] -= paid
                if source == "takeover_cash":
                    state["takeover_cash"] -= paid
                fee -= paid
                steps.append({"event": "fee", "paid_from": source, "value": paid, "cash_after": state["cash"]})
        return fee

    # 1. the debt: regular sales, then a takeover for what they did not cover
    if sell_liquid(total_debt, "debt") > 0:
        take_over()
    # 2. the fee: from cash, then regular sales, then a takeover and its cash
    base_value = total_debt if fee_base == "liabilities" else state["for_debt"]
    fee = fee_rate * base_value
    unpaid = sell_liquid(pay_from_cash(fee), "fee")
    if unpaid > 0:
        take_over()
        unpaid = pay_from_cash(unpaid)
    # 3. what is left goes back: collateral in kind, cash in the largest debt's asset
    settlement_asset, _, settlement_price = max(debts, key=lambda line: line[1] * line[2])
    returned = {asset: left[asset] for asset in order if left[asset] > 0}
    cash_back = ZERO
    if state["cash"] > 0:
        cash_back = rounded(state["cash"] / settlement_price, assets[settlement_asset]["precision"], returned_mode)
        if cash_back > 0:
            returned[settlement_asset] = returned.get(settlement_asset, ZERO) + cash_back
    returned_lines = [{"asset": asset, "quantity": quantity} for asset, quantity in returned.items()]
    steps.append({"event": "return", "returned": returned_lines})
    method = {
        (True, True): "regular_then_takeover",
        (False, True): "takeover",
        (True, False): "regular",
        (False, False): "none",
    }[(used["regular"], used["takeover"])]
    return {
        "method": method,
        "debt_value": total_debt,
        "fee_rate": fee_rate,
        "fee_base": fee_base,
        "fee_base_value": base_value,
        "fee_value": fee,
        "fee_unpaid": unpaid,
        "debt_repaid": state["repaid"],
        "debt_remaining": state["debt"],
        "sales": sales,
        "takeover_proceeds": sum((s["proceeds"] for s in steps if s["event"] == "takeover"), ZERO),
        "cash_returned_value": state["cash"],
        "cash_returned": {"asset": settlement_asset, "quantity": cash_back},
        "rounding_difference": state["difference"],
        "returned": returned_lines,
        "steps": steps,
    }
