"""A futures-margin policy document to compiled records, with every lint a schema cannot do.

Lint, all problems at once: brackets start at 0, are contiguous and closed
at the last one (the kit's band lint), their rates never decrease and each
declared `cum` equals the one recomputed from the brackets (the kit's
cumulative check); maximum leverages never increase and each bracket's
initial margin rate 1 / max_leverage exceeds its mmr (else a position would
open already liquidated); zones start at 0, are contiguous and no finer than
the margin ratio is compared at, with unique labels; a status is
`liquidation` or a zone's label, the default a zone's label; recommended
distances increase; a threshold's name does not shadow a figure's; and every
expression checks against the names it may read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from ..kit import (
    CompiledPolicy,
    Env,
    ExprType,
    Parameter,
    PolicyDocument,
    PolicyRef,
    Problem,
    StepSpec,
    Trace,
    compile_bands,
    compile_ratio,
    compile_rule_table,
    compile_status_table,
    did_you_mean,
    expression_at,
    places_problem,
    rounding_at,
    rounding_of,
)
from .futures_changes import AutoAddResult
from .futures_evaluate import evaluate
from .futures_math import Brackets, Liquidation, bracket_rows
from .futures_model import (
    ADVICE_SCOPE,
    AMOUNT_SCOPE,
    FIGURE_SCOPE,
    LIQUIDATION,
    Advice,
    AutoAdd,
    Contract,
    Display,
    FuturesSpec,
)

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledFuturesPolicy:
    ref: PolicyRef
    spec: FuturesSpec

    def evaluate(
        self, account: Mapping[str, Any], *, source: str, as_of: datetime, related: Mapping[str, CompiledPolicy]
    ) -> tuple[Mapping[str, Any], Trace]:
        """The futures decision for a schema-valid account (no clock: `as_of` changes nothing)."""
        return evaluate(self.spec, account, source)


def _contract(document: PolicyDocument, symbol: str, closed: Any, problems: list[Problem]) -> Contract | None:
    path = ("symbols", symbol, "brackets")
    bands = {
        "input_name": "notional",
        "rate_key": "mmr",
        "cumulative_key": "cum",
        "open_top": False,
        "direction": "non-decreasing",
        "closed": closed,
    }
    rows = document.data_at(path)
    leverages = [int(row["max_leverage"]) for row in rows]
    for index, (row, leverage) in enumerate(zip(rows, leverages, strict=True)):
        where = (*path, index)
        if index and leverage > leverages[index - 1]:
            problems.append(
                document.problem(
                    (*where, "max_leverage"),
                    f"expected maximum leverages that never increase: {leverage} after {leverages[index - 1]}",
                )
            )
        if row["mmr"] * leverage >= 1:
            problems.append(
                document.problem(
                    (*where, "mmr"),
                    f"expected an mmr below the initial margin rate 1 / max_leverage ({ONE / leverage:.6g}),"
                    f" got {row['mmr']}: a position would open already liquidated",
                )
            )
    table, found = compile_bands(
        document, path, name="bracket", description="the maintenance-margin bracket of the notional", **bands
    )
    problems += found
    if table is None:
        return None
    # the same rows again (already linted clean) under the name of the bracket a liquidation price is solved in
    liquidation_table, _ = compile_bands(
        document,
        path,
        name="liquidation_bracket",
        description="the bracket holding quantity x liquidation price, in which the price is solved",
        **{**bands, "input_name": "liquidation_notional"},
    )
    if liquidation_table is None:
        return None
    brackets = Brackets(table=table, rows=bracket_rows(table, leverages))
    quantity = document.parameter("quantity_places", ("symbols", symbol, "quantity_places"))
    bracket_provenance = []
    liquidation_provenance = []
    for bracket in brackets.rows:
        where = (*path, bracket.index)
        cum = _cum_parameter(document, "cum", where, bracket.cum)
        bracket_provenance.append(
            {
                "mmr": document.parameter("mmr", (*where, "mmr")),
                "cum": cum,
                "max_leverage": document.parameter("max_leverage", (*where, "max_leverage")),
                "quantity_places": quantity,
            }
        )
        liquidation_provenance.append(
            {
                "liquidation_mmr": document.parameter("liquidation_mmr", (*where, "mmr")),
                "liquidation_cum": _cum_parameter(document, "liquidation_cum", where, bracket.cum),
            }
        )
    return Contract(
        symbol=symbol,
        brackets=brackets,
        liquidation_table=liquidation_table,
        quantity_rounding=rounding_of(int(quantity.value), ROUND_DOWN),
        max_leverage=leverages[0],
        bracket_provenance=tuple(bracket_provenance),
        liquidation_provenance=tuple(liquidation_provenance),
        steps=_contract_steps(document.source(("symbols", symbol)), f"$.symbols.{symbol}"),
    )


def _cum_parameter(document: PolicyDocument, name: str, where: tuple[str | int, ...], value: Decimal) -> Parameter:
    """The bracket's cum as written, or, where the row leaves it out, as computed (citing the row)."""
    if document.data_at((*where, "cum")) is not None:
        return document.parameter(name, (*where, "cum"))
    row = document.parameter(name, where)
    return Parameter(name=name, value=value, json_path=row.json_path, source=row.source)


def _derive(name: str, description: str, expression: str | None, inputs: tuple[str, ...], **more: Any) -> StepSpec:
    """A figure's step: what it is, its formula, the names it reads (and, in `more`, where it comes from)."""
    return StepSpec(name=name, kind="derive", description=description, expression=expression, inputs=inputs, **more)


def _contract_steps(source: str, path: str) -> dict[str, StepSpec]:
    def derive(name: str, description: str, expression: str, inputs: tuple[str, ...], **more: Any) -> StepSpec:
        return _derive(name, description, expression, inputs, source=source, path=path, **more)

    return {
        "position": StepSpec(
            name="position",
            kind="input",
            description="the position, in a symbol the policy defines",
            source=source,
            path=path,
        ),
        "notional": derive(
            "notional", "notional value at the mark price", "quantity * mark_price", ("quantity", "mark_price")
        ),
        "maintenance_margin": derive(
            "maintenance_margin",
            "maintenance margin of the position, with its bracket's rate and cumulative amount",
            "notional * mmr - cum",
            ("notional", "mmr", "cum"),
            cites=("mmr", "cum", "max_leverage"),
        ),
        "initial_margin": derive(
            "initial_margin",
            "initial margin: the notional over the leverage",
            "notional / leverage",
            ("notional", "leverage"),
        ),
        "unrealized_pnl": derive(
            "unrealized_pnl",
            "unrealised PnL at the mark price (side_sign: 1 long, -1 short)",
            "side_sign * quantity * (mark_price - entry_price)",
            ("side_sign", "quantity", "mark_price", "entry_price"),
        ),
        "margin_balance_isolated": derive(
            "margin_balance",
            "margin balance of the isolated position",
            "position_margin + unrealized_pnl",
            ("position_margin", "unrealized_pnl"),
        ),
        "margin_balance_cross": derive(
            "margin_balance",
            "margin balance of the cross account",
            "wallet_balance + unrealized_pnl + other_unrealized_pnl",
            ("wallet_balance", "unrealized_pnl", "other_unrealized_pnl"),
        ),
    }


def _recorded_auto_add(recorded: AutoAddResult) -> Mapping[str, Any]:
    return recorded.trigger_inputs


def _auto_add_triggered(recorded: AutoAddResult) -> bool:
    return recorded.triggered


def _auto_add_summary(recorded: AutoAddResult) -> str:
    count = len(recorded.additions)
    if not count:
        return "wallet empty: nothing added" if recorded.wallet_ran_dry else "nothing added"
    added = sum((addition["amount"] for addition in recorded.additions), ZERO)
    text = f"{count} addition{'s' if count > 1 else ''}, {added} in all"
    return text + ("; the wallet ran dry" if recorded.wallet_ran_dry else "")


def _auto_add_detail(recorded: AutoAddResult, _env: Env) -> Any:
    return list(recorded.additions)


def _auto_add(document: PolicyDocument, problems: list[Problem]) -> AutoAdd | None:
    when, found = expression_at(document, ("auto_add", "when"), FIGURE_SCOPE, ExprType.BOOL)
    problems += found
    amount, found = expression_at(document, ("auto_add", "amount"), AMOUNT_SCOPE, ExprType.DECIMAL)
    problems += found
    if when is None or amount is None:
        return None
    return AutoAdd(
        when=when,
        amount=amount,
        when_spec=StepSpec(
            name="auto_add.when",
            kind="rule",
            description="does the auto-add condition hold, before any addition? (always, once the margin balance"
            " is gone)",
            expression=when.source,
            source=document.source(("auto_add", "when")),
            path="$.auto_add.when",
            inputs_of=_recorded_auto_add,
            value_of=_auto_add_triggered,
        ),
        amount_spec=StepSpec(
            name="auto_add.amount",
            kind="derive",
            description="the amount of one addition",
            expression=amount.source,
            source=document.source(("auto_add", "amount")),
            path="$.auto_add.amount",
        ),
        plan_spec=StepSpec(
            name="auto_add",
            kind="plan",
            description="auto-add margin: additions from the futures wallet while the condition holds,"
            " until the wallet is empty",
            source=document.source(("auto_add",)),
            path="$.auto_add",
            cites=("auto_add_amount", "amount_places"),
            value_of=_auto_add_summary,
            detail=_auto_add_detail,
        ),
    )


def _zones(document: PolicyDocument, display: Display, problems: list[Problem]) -> tuple[Any, set[str]]:
    zones, found = compile_bands(
        document,
        ("zones",),
        name="zone",
        input_name="margin_ratio",
        description="the margin-ratio zone",
        rate_key=None,
        label_key="zone",
        rate_range=None,
    )
    problems += found
    labels: set[str] = set()
    for index, row in enumerate(document.data["zones"]):
        for key in ("from", "to"):
            if key in row:
                problem = places_problem(document, ("zones", index, key), display.margin_ratio, "margin ratios")
                if problem is not None:
                    problems.append(problem)
        if row["zone"] in labels:
            problems.append(document.problem(("zones", index, "zone"), f"duplicate zone `{row['zone']}`"))
        labels.add(row["zone"])
    return zones, labels


def _status_lint(document: PolicyDocument, labels: set[str]) -> list[Problem]:
    problems = []
    allowed = sorted(labels | {LIQUIDATION})
    for index, rule in enumerate(document.data["rules"]):
        if rule["status"] not in allowed:
            problems.append(
                document.problem(
                    ("rules", index, "status"),
                    f"expected `{LIQUIDATION}` or a zone ({', '.join(sorted(labels))}), got `{rule['status']}`",
                    suggestion=did_you_mean(rule["status"], allowed),
                )
            )
    default = document.data["default_status"]
    if default not in labels:
        problems.append(
            document.problem(
                ("default_status",),
                f"expected a zone ({', '.join(sorted(labels))}), got `{default}`",
                suggestion=did_you_mean(default, labels),
            )
        )
    return problems


def _advice(document: PolicyDocument, roundings: Mapping[str, Any], problems: list[Problem]) -> Advice | None:
    data = document.data["advice"]
    thresholds = {name: Decimal(value) for name, value in data["thresholds"].items()}
    scope = dict(ADVICE_SCOPE)
    for name in thresholds:
        if name in scope:
            problems.append(
                document.problem(
                    ("advice", "thresholds", name),
                    f"`{name}` is already a figure rules read; give the threshold another name",
                    key=True,
                )
            )
        scope[name] = ExprType.DECIMAL
    distances = tuple(Decimal(value) for value in data["recommended_add"]["liquidation_distances"])
    for index in range(1, len(distances)):
        if distances[index] <= distances[index - 1]:
            problems.append(
                document.problem(
                    ("advice", "recommended_add", "liquidation_distances", index),
                    f"expected increasing distances: {distances[index]} after {distances[index - 1]}",
                )
            )
    rules, found = compile_rule_table(
        document, ("advice", "rules"), scope, roundings, outcome_keys=("verdict", "reason"), hit="collect"
    )
    problems += found
    if rules is None:
        return None
    return Advice(
        rules=rules,
        thresholds=thresholds,
        distances=distances,
        fraction=Decimal(data["partial_stop_loss"]["fraction"]),
        max_backup_share=thresholds["max_backup_share"],
    )


ShownLiquidation = tuple[Liquidation, Decimal | None, str]
"""What a liquidation-price step records: the solution, the price as shown, and how it was rounded."""


def _liquidation_value(recorded: ShownLiquidation) -> Decimal | None:
    return recorded[0].price


def _liquidation_detail(recorded: ShownLiquidation, _env: Env) -> Any:
    return {"shown": recorded[1], "rounding": recorded[2]}


def _count(recorded: tuple[Any, ...]) -> str:
    return f"{len(recorded)} applied"


def _records(recorded: Any, _env: Env) -> Any:
    return list(recorded)


def _recommended_value(recorded: Any) -> Any:
    if recorded is None:
        return "none needed"
    return ", ".join(f"{target['amount']} for {target['distance']}" for target in recorded["targets"])


def _record_detail(recorded: Any, _env: Env) -> Any:
    return recorded


def _partial_value(recorded: Any) -> Any:
    return f"close {recorded['quantity_closed']} of the position"


def _policy_steps(document: PolicyDocument) -> dict[str, StepSpec]:
    lp_source = document.source(("liquidation_price",))
    formula = (
        "{wb}liquidation_cum - side_sign * quantity * entry_price)"
        " / (quantity * liquidation_mmr - side_sign * quantity)"
    )
    liquidation_inputs = ("side_sign", "quantity", "entry_price", "liquidation_mmr", "liquidation_cum")

    def liquidation(margin_terms: str, inputs: tuple[str, ...]) -> StepSpec:
        return StepSpec(
            name="liquidation_price",
            kind="derive",
            description="liquidation price: where the margin balance equals the maintenance margin to cover,"
            " solved in the bracket that holds its notional",
            expression="(" + formula.format(wb=margin_terms),
            inputs=(*inputs, *liquidation_inputs),
            source=lp_source,
            path="$.liquidation_price",
            cites=("liquidation_mmr", "liquidation_cum", "liquidation_price_rounding"),
            value_of=_liquidation_value,
            detail=_liquidation_detail,
        )

    def none(description: str) -> StepSpec:
        return StepSpec(
            name="liquidation_price",
            kind="derive",
            description=description,
            inputs=("margin_balance", "maintenance_total"),
            source=lp_source,
            path="$.liquidation_price",
            value_of=_liquidation_value,
        )

    advice_source = document.source(("advice",))
    return {
        "adjustments": StepSpec(
            name="adjustments",
            kind="plan",
            description="margin moves applied before evaluating, each with the liquidation price and margin ratio"
            " before and after",
            source=document.source(("reduce_margin",)),
            path="$.reduce_margin",
            cites=("unrealised_profit_counts", "amount_places"),
            value_of=_count,
            detail=_records,
        ),
        "maintenance_total": _derive(
            "maintenance_total",
            "the maintenance margin the cross account must cover: this position's and the others'",
            "maintenance_margin + other_maintenance_margin",
            ("maintenance_margin", "other_maintenance_margin"),
        ),
        "effective_leverage": _derive(
            "effective_leverage",
            "the leverage the position actually runs at: adding margin lowers it",
            "notional / margin_balance",
            ("notional", "margin_balance"),
        ),
        "no_margin_ratio": _derive(
            "margin_ratio",
            "the margin balance is 0 or less: no margin ratio, the position is past liquidation",
            None,
            ("margin_balance",),
        ),
        "status_gone": StepSpec(
            name="status",
            kind="status",
            description="liquidation: the margin balance is gone, no rule is needed",
        ),
        "liquidation_price_isolated": liquidation("position_margin + ", ("position_margin",)),
        "liquidation_price_cross": liquidation(
            "wallet_balance - other_maintenance_margin + other_unrealized_pnl + ",
            ("wallet_balance", "other_maintenance_margin", "other_unrealized_pnl"),
        ),
        "liquidation_price_never": none("no liquidation price: the margin covers the position even at a price of 0"),
        "liquidation_price_any_price": none(
            "no liquidation price: the margin cannot cover the maintenance at any price"
        ),
        "liquidation_distance": _derive(
            "liquidation_distance",
            "how far the liquidation price is from the mark price, as a fraction of it",
            "abs(mark_price - liquidation_price_raw) / mark_price",
            ("mark_price", "liquidation_price_raw"),
        ),
        "advice_skipped": StepSpec(
            name="advice",
            kind="plan",
            description="no advice: the position is past liquidation",
            source=advice_source,
            path="$.advice",
        ),
        "margin_occupancy": _derive(
            "margin_occupancy",
            "the share of the account's equity the position's margin takes (cross: its initial margin)",
            "position_margin_used / account_equity",
            ("position_margin_used", "account_equity"),
            source=document.source(("advice", "thresholds", "max_margin_occupancy")),
            path="$.advice.thresholds.max_margin_occupancy",
        ),
        "add_margin_allowed": _derive(
            "advice.add_margin.allowed",
            "adding margin is advised unless a rule that held says do_not_add or not_needed",
            None,
            (),
            source=document.source(("advice", "rules")),
            path="$.advice.rules",
        ),
        "recommended_add": StepSpec(
            name="advice.recommended_add",
            kind="plan",
            description="the add that puts the liquidation price each distance from the mark price (rounded up)",
            source=document.source(("advice", "recommended_add")),
            path="$.advice.recommended_add",
            cites=("liquidation_distances", "amount_places", "max_backup_share"),
            value_of=_recommended_value,
            detail=_record_detail,
        ),
        "partial_stop_loss": StepSpec(
            name="advice.partial_stop_loss",
            kind="plan",
            description="the alternative: close part of the position at the mark price, no new funds",
            source=document.source(("advice", "partial_stop_loss")),
            path="$.advice.partial_stop_loss",
            cites=("partial_stop_loss_fraction", "quantity_places"),
            value_of=_partial_value,
            detail=_record_detail,
        ),
    }


def _provenance(document: PolicyDocument) -> dict[str, Parameter]:
    named = {
        "margin_ratio_rounding": ("margin_ratio",),
        "liquidation_price_rounding": ("liquidation_price",),
        "amount_places": ("amount_places",),
        "bracket_edge_belongs_to": ("bracket_edge_belongs_to",),
        "auto_add_amount": ("auto_add", "amount"),
        "unrealised_profit_counts": ("reduce_margin", "unrealised_profit_counts"),
        "liquidation_distances": ("advice", "recommended_add", "liquidation_distances"),
        "partial_stop_loss_fraction": ("advice", "partial_stop_loss", "fraction"),
    }
    provenance = {name: document.parameter(name, path) for name, path in named.items()}
    for name in document.data["advice"]["thresholds"]:
        provenance[name] = document.parameter(name, ("advice", "thresholds", name))
    return provenance


def compile_futures(document: PolicyDocument) -> tuple[CompiledFuturesPolicy | None, list[Problem]]:
    data = document.data
    problems: list[Problem] = []
    shown = data["liquidation_price"]
    places, amount_places = int(shown["places"]), int(data["amount_places"])
    display = Display(
        margin_ratio=rounding_at(document, ("margin_ratio",)),
        long_price=rounding_of(places, shown["rounding"]["long"]),
        short_price=rounding_of(places, shown["rounding"]["short"]),
        amount_up=rounding_of(amount_places, ROUND_UP),
        amount_down=rounding_of(amount_places, ROUND_DOWN),
    )
    closed = "upper" if data["bracket_edge_belongs_to"] == "lower_bracket" else "lower"
    contracts = {symbol: _contract(document, symbol, closed, problems) for symbol in data["symbols"]}
    zones, labels = _zones(document, display, problems)
    problems += _status_lint(document, labels)
    roundings = {"margin_ratio": display.margin_ratio}
    status_table, found = compile_status_table(document, FIGURE_SCOPE, roundings)
    problems += found
    automatic = _auto_add(document, problems)
    advice = _advice(document, roundings, problems)
    ratios = {
        mode: compile_ratio(
            document,
            name="margin_ratio",
            numerator=numerator,
            denominator="margin_balance",
            rounding_path=("margin_ratio",),
            description="margin ratio: the maintenance margin to cover over the margin balance, rounded for"
            " comparison as the policy states",
        )
        for mode, numerator in (("isolated", "maintenance_margin"), ("cross", "maintenance_total"))
    }
    if problems or zones is None or status_table is None or automatic is None or advice is None:
        return None, problems
    steps = _policy_steps(document)
    spec = FuturesSpec(
        contracts={symbol: contract for symbol, contract in contracts.items() if contract is not None},
        display=display,
        zones=zones,
        status_table=status_table,
        ratios=ratios,
        auto_add=automatic,
        advice=advice,
        unrealised_profit_counts=bool(data["reduce_margin"]["unrealised_profit_counts"]),
        provenance=_provenance(document),
        steps=steps,
    )
    return CompiledFuturesPolicy(ref=document.ref, spec=spec), []


__all__ = ["CompiledFuturesPolicy", "compile_futures"]
