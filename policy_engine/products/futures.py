"""Futures margin (USDⓈ-M, one-way mode): brackets, liquidation price, zones, auto-add, advice.

Policy kind `futures-margin`, account kind `futures-position`.  A decision
gives the position's notional, maintenance bracket (lookup with cumulative
amounts, `cum` checked at load), maintenance and initial margin, margin
ratio and its zone, status, liquidation price (formula and bracket choice
derived in `futures_math`), and the advice on adding margin beside a
partial stop-loss (`futures_advice`).

Operations (`--op`, or `operations=` in the library) write margin moves into
the account's `adjustments`, which the decision applies first and reports
with the liquidation price and margin ratio before and after each
(`futures_changes`): `add_margin=X` and `reduce_margin=X` (isolated),
`transfer_in=X` (into the futures wallet; the cross margin).

Simulation: the mark price follows the path's price of the symbol; auto-add
margin (isolated, `auto_add_margin: true`) moves margin from the wallet as
the policy says, each addition a timeline note, until the wallet runs dry
and the position is liquidated, which ends the walk.

The modules: `futures_math` (formulas), `futures_model` (compiled records),
`futures_compile` (document to records, lint), `futures_evaluate` (one
decision), `futures_changes` (adjustments, auto-add), `futures_advice`,
`futures_explain` (text and timeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .._numbers import in_range, parse_decimal
from ..kit import Account, Operation, Product, Simulation
from .futures_compile import CompiledFuturesPolicy, compile_futures
from .futures_explain import explain_detail, explain_sections, summarize
from .futures_model import LIQUIDATION


def _amount(value: object) -> Decimal:
    amount = parse_decimal(value)
    if amount is None or amount <= 0 or not in_range(amount):
        raise ValueError(f"expected an amount > 0 (such as 500), got {value!r}")
    return amount


def _adjusted(account: Account, kind: str, value: object) -> Account:
    adjustment = {"type": kind, "amount": _amount(value)}
    return {**account, "adjustments": [*(account.get("adjustments") or ()), adjustment]}


def add_margin(account: Account, value: object) -> Account:
    """Move `value` from the futures wallet to an isolated position's margin."""
    return _adjusted(account, "add_margin", value)


def reduce_margin(account: Account, value: object) -> Account:
    """Move `value` from an isolated position's margin back to the futures wallet."""
    return _adjusted(account, "reduce_margin", value)


def transfer_in(account: Account, value: object) -> Account:
    """Transfer `value` into the futures wallet (the shared margin in cross mode)."""
    return _adjusted(account, "transfer_in", value)


def reprice(account: Mapping[str, Any], prices: Mapping[str, Decimal]) -> Mapping[str, Any]:
    """The symbol's new mark price."""
    return {**account, "mark_price": prices.get(account["symbol"], account["mark_price"])}


def advance(account: Mapping[str, Any], outcome: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Keep the margin moves the decision made (adjustments, auto-add); a liquidation ends the position."""
    if outcome["status"] == LIQUIDATION:
        return None
    state = outcome["next_state"]
    moved = {key: value for key, value in state.items() if value is not None}
    return {**{key: value for key, value in account.items() if key != "adjustments"}, **moved}


def assets(account: Mapping[str, Any]) -> frozenset[str]:
    return frozenset((account["symbol"],))


PRODUCT = Product(
    policy_kind="futures-margin",
    account_kind="futures-position",
    policy_schema="futures-margin.schema.json",
    account_schema="futures-position.account.schema.json",
    compile=compile_futures,
    explain_detail=explain_detail,
    explain_sections=explain_sections,
    operations=(
        Operation(
            name="add_margin",
            argument="AMOUNT",
            help="move AMOUNT from the futures wallet to the isolated position's margin",
            apply=add_margin,
        ),
        Operation(
            name="reduce_margin",
            argument="AMOUNT",
            help="move AMOUNT of the isolated position's margin back to the wallet (refused below the initial margin)",
            apply=reduce_margin,
        ),
        Operation(
            name="transfer_in",
            argument="AMOUNT",
            help="transfer AMOUNT into the futures wallet (cross: the margin every position shares)",
            apply=transfer_in,
        ),
    ),
    simulation=Simulation(reprice=reprice, advance=advance, summarize=summarize, assets=assets),
)

__all__ = ["PRODUCT", "CompiledFuturesPolicy", "compile_futures"]
