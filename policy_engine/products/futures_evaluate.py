"""One futures decision: read the position, apply margin moves, compute its figures, decide, advise.

Order: the account's adjustments (the operations), then auto-add margin,
then the figures of the position as it then stands at the mark price, its
status, its liquidation price, and the advice.  Each figure is a trace step
citing the YAML line it depends on (the symbol, the bracket, a rounding, a
threshold).

Account problems, all reported at once: an unknown symbol, a leverage above
the symbol's highest (the first bracket's; a leverage above the *current*
bracket's maximum is an advice note instead, because a price move alone can
carry a position into a bracket with a lower cap), a notional above the
last bracket, other positions' figures on an isolated position, auto-add
margin on a cross position, and refused adjustments.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..frozen import FrozenDict
from ..kit import AccountError, Problem, Rule, StepSpec, Trace, did_you_mean, problem_at
from .futures_advice import advise
from .futures_changes import AutoAddResult, Holdings, Market, apply_adjustments, auto_add
from .futures_math import Figures, Liquidation, Position, distance, liquidation_price
from .futures_model import LIQUIDATION, Contract, FuturesSpec

ZERO = Decimal(0)
ONE = Decimal(1)
Steps = list[tuple[StepSpec, Any]]


def _read(spec: FuturesSpec, account: Mapping[str, Any], source: str) -> tuple[Contract, Position, Holdings]:
    problems: list[Problem] = []
    symbol = account["symbol"]
    contract = spec.contracts.get(symbol)
    if contract is None:
        problems.append(
            problem_at(
                source,
                ("symbol",),
                f"unknown symbol `{symbol}`; expected one of {', '.join(sorted(spec.contracts))}",
                did_you_mean(symbol, spec.contracts),
            )
        )
    isolated = account["margin_mode"] == "isolated"
    leverage = int(account["leverage"])
    quantity, mark = Decimal(account["quantity"]), Decimal(account["mark_price"])
    if contract is not None and leverage > contract.max_leverage:
        problems.append(
            problem_at(
                source, ("leverage",), f"{symbol} offers at most {contract.max_leverage}x leverage, got {leverage}"
            )
        )
    top = contract.brackets.top if contract is not None else None
    if top is not None and quantity * mark > top:
        problems.append(
            problem_at(
                source,
                ("quantity",),
                f"the notional {quantity * mark} (quantity x mark price) is above {symbol}'s last bracket"
                f" (to {top}): the exchange allows no larger position",
            )
        )
    if isolated:
        for field in ("other_maintenance_margin", "other_unrealized_pnl"):
            if Decimal(account.get(field) or 0) != 0:
                problems.append(
                    problem_at(
                        source,
                        (field,),
                        f"other positions do not touch an isolated position's margin; expected 0 or no"
                        f" `{field}` in isolated mode, got {account[field]}",
                    )
                )
    elif account.get("auto_add_margin"):
        problems.append(
            problem_at(
                source,
                ("auto_add_margin",),
                "auto-add margin exists in isolated mode only: in cross mode the whole wallet already backs"
                " every position",
            )
        )
    if problems or contract is None:
        raise AccountError(problems)
    wallet = Decimal(account.get("wallet_balance") or 0)
    holdings = Holdings(
        isolated=isolated,
        position_margin=Decimal(account["position_margin"]) if isolated else ZERO,
        wallet=wallet,
        margin_adds=int(account.get("margin_adds") or 0),
    )
    position = Position(
        side_sign=ONE if account["side"] == "long" else -ONE,
        quantity=quantity,
        entry_price=Decimal(account["entry_price"]),
        leverage=Decimal(leverage),
        margin=holdings.margin,
        other_maintenance=ZERO if isolated else Decimal(account["other_maintenance_margin"]),
        other_pnl=ZERO if isolated else Decimal(account["other_unrealized_pnl"]),
    )
    return contract, position, holdings


class _Figures:
    """The figure names rules and auto-add read, for one state of the holdings."""

    def __init__(self, spec: FuturesSpec, base: Mapping[str, Any]) -> None:
        self.spec = spec
        self.base = base

    def zone_of(self, compared: Decimal | None) -> str | None:
        band = None if compared is None else self.spec.zones.find(compared)
        return None if band is None else str(band.label)

    def __call__(self, holdings: Holdings, figures: Figures) -> dict[str, Any]:
        raw = figures.margin_ratio
        compared = None if raw is None else self.spec.display.margin_ratio.apply(raw)
        bracket = figures.bracket
        return {
            **self.base,
            "notional": figures.notional,
            "mmr": bracket.mmr,
            "cum": bracket.cum,
            "max_leverage": Decimal(bracket.max_leverage),
            "maintenance_margin": figures.maintenance_margin,
            "maintenance_total": figures.maintenance_total,
            "initial_margin": figures.initial_margin,
            "unrealized_pnl": figures.unrealized_pnl,
            "margin_balance": figures.margin_balance,
            "position_margin": holdings.position_margin,
            "wallet_balance": holdings.wallet,
            "effective_leverage": None if raw is None else figures.notional / figures.margin_balance,
            "margin_ratio_raw": raw,
            "margin_ratio": compared,
            "zone": self.zone_of(compared),
        }


def evaluate(spec: FuturesSpec, account: Mapping[str, Any], source: str) -> tuple[FrozenDict, Trace]:
    """The decision for one schema-valid `futures-position` account."""
    contract, position, holdings = _read(spec, account, source)
    mark = Decimal(account["mark_price"])
    market = Market(position=position, contract=contract, display=spec.display, mark_price=mark)
    steps: Steps = []
    holdings, adjustments, automatic, values_of = _moves(spec, account, source, market, holdings, steps=steps)
    figures = market.figures(holdings)
    env = values_of(holdings, figures)
    status, rule = _status(spec, account, figures, env, steps)
    env["status"] = status
    found = liquidation_price(market.at(holdings), contract.brackets)
    provenance = {**spec.provenance, **contract.bracket_provenance[figures.bracket.index]}
    if found.bracket is not None and found.price is not None:
        provenance.update(contract.liquidation_provenance[found.bracket.index])
    shown = _liquidation_steps(spec, market, found, env, steps)
    advice = None
    if figures.margin_ratio is None:
        steps.append((spec.steps["advice_skipped"], None))
    else:
        advice = _advice(spec, account, env, holdings, market, steps=steps, values_of=values_of)
    outcome = {
        "status": status,
        "rule": rule.id if rule else None,
        **{key: account[key] for key in ("symbol", "margin_mode", "side")},
        "quantity": position.quantity,
        "leverage": int(account["leverage"]),
        "entry_price": position.entry_price,
        "mark_price": market.mark_price,
        "notional": figures.notional,
        "bracket": _bracket(figures.bracket),
        "mmr": figures.bracket.mmr,
        "max_leverage": figures.bracket.max_leverage,
        "initial_margin": figures.initial_margin,
        "maintenance_margin": figures.maintenance_margin,
        "maintenance_total": figures.maintenance_total,
        "unrealized_pnl": figures.unrealized_pnl,
        "margin_balance": figures.margin_balance,
        "position_margin": holdings.position_margin if holdings.isolated else None,
        "wallet_balance": holdings.wallet,
        "effective_leverage": env["effective_leverage"],
        "margin_ratio": figures.margin_ratio,
        "margin_ratio_compared": env["margin_ratio"],
        "zone": env["zone"],
        "liquidation_price": shown,
        "liquidation_price_raw": found.price,
        "liquidation_price_note": _note(found.no_price, found.beyond_brackets),
        "liquidation_bracket": None if found.bracket is None else _bracket(found.bracket),
        "liquidation_distance": env["liquidation_distance"],
        "adjustments": adjustments,
        "auto_add": _auto_add_outcome(automatic, account),
        "advice": advice,
        "next_state": FrozenDict(
            {
                "position_margin": holdings.position_margin if holdings.isolated else None,
                "wallet_balance": holdings.wallet,
                "margin_adds": holdings.margin_adds,
            }
        ),
    }
    return FrozenDict(outcome), Trace(tuple(steps), MappingProxyType(env), MappingProxyType(provenance))


def _moves(
    spec: FuturesSpec, account: Mapping[str, Any], source: str, market: Market, holdings: Holdings, *, steps: Steps
) -> tuple[Holdings, tuple[FrozenDict, ...], AutoAddResult | None, _Figures]:
    """The account's adjustments, then auto-add margin; the figure names for any state of the holdings."""
    position = market.position
    base = {
        **{key: account[key] for key in ("symbol", "margin_mode", "side")},
        "side_sign": position.side_sign,
        "quantity": position.quantity,
        "entry_price": position.entry_price,
        "mark_price": market.mark_price,
        "leverage": position.leverage,
        "other_maintenance_margin": position.other_maintenance,
        "other_unrealized_pnl": position.other_pnl,
    }
    given = {**base, "wallet_balance": holdings.wallet}
    if holdings.isolated:
        given["position_margin"] = holdings.position_margin
    steps.append((market.contract.steps["position"], FrozenDict(given)))
    problems: list[Problem] = []
    holdings, adjustments = apply_adjustments(
        account.get("adjustments") or (),
        holdings,
        market,
        profit_counts=spec.unrealised_profit_counts,
        source=source,
        problems=problems,
    )
    if problems:
        raise AccountError(problems)
    if adjustments:
        steps.append((spec.steps["adjustments"], adjustments))
    values_of = _Figures(spec, base)
    automatic: AutoAddResult | None = None
    if holdings.isolated and account.get("auto_add_margin"):
        automatic = auto_add(spec.auto_add, holdings, market, values_of)
        steps += [(spec.auto_add.when_spec, automatic), (spec.auto_add.plan_spec, automatic)]
        holdings = automatic.holdings
    return holdings, adjustments, automatic, values_of


def _status(
    spec: FuturesSpec, account: Mapping[str, Any], figures: Figures, env: Mapping[str, Any], steps: Steps
) -> tuple[str, Rule | None]:
    """The figures' steps, the margin ratio, its zone and the status (liquidation when the balance is gone)."""
    contract = spec.contracts[account["symbol"]]
    steps.append((contract.steps["notional"], figures.notional))
    contract.brackets.table.lookup(figures.notional, steps)
    steps += [
        (contract.steps["maintenance_margin"], figures.maintenance_margin),
        (contract.steps["initial_margin"], figures.initial_margin),
        (contract.steps["unrealized_pnl"], figures.unrealized_pnl),
        (contract.steps["margin_balance_" + account["margin_mode"]], figures.margin_balance),
    ]
    if account["margin_mode"] == "cross":
        steps.append((spec.steps["maintenance_total"], figures.maintenance_total))
    if figures.margin_ratio is None:
        steps += [(spec.steps["no_margin_ratio"], None), (spec.steps["status_gone"], LIQUIDATION)]
        return LIQUIDATION, None
    steps.append((spec.steps["effective_leverage"], env["effective_leverage"]))
    steps.append((spec.ratios[account["margin_mode"]].spec, (figures.margin_ratio, env["margin_ratio"])))
    spec.zones.lookup(env["margin_ratio"], steps)
    return spec.status_table.decide(env, steps)


def _liquidation_steps(
    spec: FuturesSpec, market: Market, found: Liquidation, env: dict[str, Any], steps: Steps
) -> Decimal | None:
    """The liquidation bracket and price steps, and the price as shown."""
    side_sign = market.position.side_sign
    shown = spec.display.price(side_sign, found.price)
    if found.bracket is not None and found.price is not None:
        env.update(liquidation_mmr=found.bracket.mmr, liquidation_cum=found.bracket.cum)
        notional = market.position.notional(found.price)
        steps.append((market.contract.liquidation_table.lookup_spec, (notional, found.bracket.band)))
    env.update(liquidation_price_raw=found.price, liquidation_price=shown)
    key = "liquidation_price_" + (found.no_price or str(env["margin_mode"]))
    rounding = spec.display.price_rounding(side_sign).describe()
    steps.append((spec.steps[key], (found, shown, rounding)))
    away = distance(market.mark_price, found.price)
    env["liquidation_distance"] = away
    if away is not None:
        steps.append((spec.steps["liquidation_distance"], away))
    return shown


def _advice(
    spec: FuturesSpec,
    account: Mapping[str, Any],
    env: dict[str, Any],
    holdings: Holdings,
    market: Market,
    *,
    steps: Steps,
    values_of: _Figures,
) -> FrozenDict:
    stop_loss = account.get("stop_loss")
    used = holdings.position_margin if holdings.isolated else env["initial_margin"]
    equity = Decimal(account["account_equity"])
    backup_funds = Decimal(account.get("backup_funds") or 0)
    env.update(
        stop_loss=None if stop_loss is None else Decimal(stop_loss),
        has_stop_loss=stop_loss is not None,
        emotional=bool(account.get("emotional")),
        key_level_broken=bool(account.get("key_level_broken")),
        margin_adds=Decimal(holdings.margin_adds),
        account_equity=equity,
        backup_funds=backup_funds,
        position_margin_used=used,
        margin_occupancy=used / equity,
        **spec.advice.thresholds,
    )
    steps.append((spec.steps["margin_occupancy"], env["margin_occupancy"]))
    return advise(
        spec.advice,
        env,
        holdings,
        market,
        backup_funds=backup_funds,
        zone_of=values_of.zone_of,
        steps=steps,
        specs=spec.steps,
    )


def _bracket(bracket: Any) -> FrozenDict:
    return FrozenDict(
        {
            "index": bracket.index + 1,
            "from": bracket.lower,
            "to": bracket.upper,
            "mmr": bracket.mmr,
            "cum": bracket.cum,
            "max_leverage": bracket.max_leverage,
        }
    )


NOTES = {
    "never": "none: the margin covers the position even at a price of 0",
    "any_price": "none: the margin cannot cover the maintenance at any price; the position is liquidated",
}


def _note(no_price: str | None, beyond: bool) -> str | None:
    if no_price is not None:
        return NOTES[no_price]
    if beyond:
        return "beyond the last bracket: its rate is carried on above it"
    return None


def _auto_add_outcome(result: AutoAddResult | None, account: Mapping[str, Any]) -> FrozenDict | None:
    if result is None:
        return None if account["margin_mode"] == "cross" else FrozenDict({"enabled": False})
    return FrozenDict(
        {
            "enabled": True,
            "triggered": result.triggered,
            "additions": result.additions,
            "added": sum((addition["amount"] for addition in result.additions), ZERO),
            "wallet_ran_dry": result.wallet_ran_dry,
            "cut_short": result.cut_short,
        }
    )


__all__ = ["evaluate"]
