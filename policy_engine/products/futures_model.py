"""The compiled futures-margin policy: frozen records built once at load, read by every evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..kit import BandTable, Expression, ExprType, Parameter, RoundedRatio, Rounding, RuleTable, StatusTable, StepSpec
from .futures_math import Brackets

LIQUIDATION = "liquidation"
"""The status of a position at or past its liquidation price; a simulation ends on it."""
BLOCKING_VERDICTS = frozenset({"do_not_add", "not_needed"})
"""Advice verdicts that mean adding margin is not advised (`note` informs only)."""

FIGURE_SCOPE: Mapping[str, ExprType] = {
    "symbol": ExprType.STRING,
    "margin_mode": ExprType.STRING,
    "side": ExprType.STRING,
    "side_sign": ExprType.DECIMAL,
    "quantity": ExprType.DECIMAL,
    "entry_price": ExprType.DECIMAL,
    "mark_price": ExprType.DECIMAL,
    "leverage": ExprType.DECIMAL,
    "max_leverage": ExprType.DECIMAL,
    "notional": ExprType.DECIMAL,
    "mmr": ExprType.DECIMAL,
    "cum": ExprType.DECIMAL,
    "maintenance_margin": ExprType.DECIMAL,
    "maintenance_total": ExprType.DECIMAL,
    "initial_margin": ExprType.DECIMAL,
    "unrealized_pnl": ExprType.DECIMAL,
    "margin_balance": ExprType.DECIMAL,
    "position_margin": ExprType.DECIMAL,
    "wallet_balance": ExprType.DECIMAL,
    "effective_leverage": ExprType.DECIMAL,
    "margin_ratio": ExprType.DECIMAL,
    "zone": ExprType.STRING,
}
"""Names status rules and the auto-add condition read: the position's figures at the mark price."""

UNDEFINED_PAST_LIQUIDATION = frozenset({"effective_leverage", "margin_ratio", "zone"})
AMOUNT_SCOPE: Mapping[str, ExprType] = {
    name: kind for name, kind in FIGURE_SCOPE.items() if name not in UNDEFINED_PAST_LIQUIDATION
}
"""Names the auto-add amount reads: the figures defined even when the margin balance is gone."""

ADVICE_SCOPE: Mapping[str, ExprType] = {
    **FIGURE_SCOPE,
    "status": ExprType.STRING,
    "stop_loss": ExprType.DECIMAL,
    "has_stop_loss": ExprType.BOOL,
    "emotional": ExprType.BOOL,
    "key_level_broken": ExprType.BOOL,
    "margin_adds": ExprType.DECIMAL,
    "account_equity": ExprType.DECIMAL,
    "backup_funds": ExprType.DECIMAL,
    "position_margin_used": ExprType.DECIMAL,
    "margin_occupancy": ExprType.DECIMAL,
}
"""Names advice rules read, besides the policy's thresholds; `stop_loss` only when `has_stop_loss`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Contract:
    """One symbol: its brackets, quantity step, and where each of its figures comes from."""

    symbol: str
    brackets: Brackets
    liquidation_table: BandTable
    """The same brackets compiled under the step name `liquidation_bracket`."""
    quantity_rounding: Rounding
    """A partial close is rounded down to the traded quantity step."""
    max_leverage: int
    """The symbol's highest leverage: the first bracket's."""
    bracket_provenance: tuple[Mapping[str, Parameter], ...]
    """Per bracket: `mmr`, `cum`, `max_leverage` with their YAML lines."""
    liquidation_provenance: tuple[Mapping[str, Parameter], ...]
    """Per bracket: `liquidation_mmr`, `liquidation_cum` with their YAML lines."""
    steps: Mapping[str, StepSpec]
    """Steps citing this symbol's YAML line (notional, PnL, margin balance, ...)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Display:
    """How figures are rounded: the margin ratio compared, the liquidation price shown, amounts moved."""

    margin_ratio: Rounding
    long_price: Rounding
    short_price: Rounding
    amount_up: Rounding
    """A recommended or automatic add: rounded up, so that it does what it is for."""
    amount_down: Rounding
    """The most that can be removed: rounded down, never more than allowed."""

    def price_rounding(self, side_sign: Decimal) -> Rounding:
        return self.long_price if side_sign > 0 else self.short_price

    def price(self, side_sign: Decimal, raw: Decimal | None) -> Decimal | None:
        return None if raw is None else self.price_rounding(side_sign).apply(raw)


@dataclass(frozen=True, kw_only=True, slots=True)
class AutoAdd:
    when: Expression
    amount: Expression
    when_spec: StepSpec
    amount_spec: StepSpec
    plan_spec: StepSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class Advice:
    rules: RuleTable
    thresholds: Mapping[str, Decimal]
    distances: tuple[Decimal, ...]
    fraction: Decimal
    max_backup_share: Decimal


@dataclass(frozen=True, kw_only=True, slots=True)
class FuturesSpec:
    """Everything an evaluation reads, compiled from one policy version."""

    contracts: Mapping[str, Contract]
    display: Display
    zones: BandTable
    status_table: StatusTable
    ratios: Mapping[str, RoundedRatio]
    """The margin ratio's step by margin mode (its numerator differs: cross adds the other positions)."""
    auto_add: AutoAdd
    advice: Advice
    unrealised_profit_counts: bool
    provenance: Mapping[str, Parameter]
    """Policy-wide parameters (roundings, thresholds, advice settings) with their YAML lines."""
    steps: Mapping[str, StepSpec]


__all__ = [
    "ADVICE_SCOPE",
    "AMOUNT_SCOPE",
    "BLOCKING_VERDICTS",
    "FIGURE_SCOPE",
    "LIQUIDATION",
    "Advice",
    "AutoAdd",
    "Contract",
    "Display",
    "FuturesSpec",
]
