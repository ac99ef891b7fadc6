"""Margin trading: margin level, status by first-hit rules, and the liquidation plan.

Names the policy's expressions may read:
- `total_asset_value`, `total_liability_value` (the account's totals at mark prices),
  `leverage`, `mode`;
- `margin_level` (total asset value / total liability value, rounded as the
  policy's `margin_level` says; undefined when there is no debt);
- the selected tier's `margin_call_level`, `liquidation_level` and the mode's `fee_rate`;
- `collateral_value` (the assets' values after the haircut bands of the
  collateral policy in force) and `collateral_margin_level` (collateral value
  / total liability value, rounded as `margin_level`);
- the policy's `derived` figures, each after it is defined.

With no debt the margin level is undefined ("no debt"); rules and derived
figures that read it are skipped and the status is the default.

The product reads the `collateral` policy in force at the decision's instant
(through `collateral.py`); without one the collateral figures are null, and
a policy whose expressions read them is refused at load (and its decisions
at an instant with no collateral policy in force).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from .._expressions import ExprType
from .._numbers import iso
from .._plain import json_text
from ..compiler import Derived, RoundedRatio, compile_derived, compile_ratio, places_problem, rounding_of, run
from ..errors import AccountError, Problem, did_you_mean, duplicate_problems, problem_at
from ..frozen import FrozenDict
from ..model import Parameter, PolicyDocument, PolicyRef, Rounding
from ..product import CompiledPolicy, Product, Simulation
from ..rules import Rule, StatusTable, compile_status_table
from ..trace import Env, StepSpec, Trace, with_json_text
from .collateral import KIND as COLLATERAL
from .collateral import CollateralTerms, coverage_problems, terms_in
from .liquidation import Holding, PlanRules, plan

ZERO = Decimal(0)
_NO_PRICES: Mapping[str, Any] = MappingProxyType({})

ENGINE_VALUES = frozenset({"asset_lines", "liability_lines", "liquidation"})
"""What `evaluate` keeps beside the expression names: no derived figure may take these names."""

INPUT_SCOPE: Mapping[str, ExprType] = {
    "total_asset_value": ExprType.DECIMAL,
    "total_liability_value": ExprType.DECIMAL,
    "leverage": ExprType.DECIMAL,
    "mode": ExprType.STRING,
    "margin_level": ExprType.DECIMAL,
    "margin_call_level": ExprType.DECIMAL,
    "liquidation_level": ExprType.DECIMAL,
    "fee_rate": ExprType.DECIMAL,
    "collateral_value": ExprType.DECIMAL,
    "collateral_margin_level": ExprType.DECIMAL,
}
COLLATERAL_NAMES = frozenset({"collateral_value", "collateral_margin_level"})


@dataclass(frozen=True, kw_only=True, slots=True)
class AssetSpec:
    quantity_rounding: Rounding
    """A quantity sold: the asset's precision, the policy's `liquidation.quantity_rounding`."""
    returned_rounding: Rounding
    """Cash returned in this asset: its precision, the policy's `liquidation.returned_rounding`."""
    liquid: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Tier:
    """One (mode, leverage) row, with the values rules read and where each came from."""

    values: Mapping[str, Decimal]
    provenance: Mapping[str, Parameter]
    fee_base: str
    thresholds: Mapping[str, Decimal]
    """The outcome's `thresholds`, built once."""
    recovery: Parameter | None = None
    """Where regular liquidation stops (published, optional): None sells until the debt is repaid."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Mode:
    tiers: Mapping[Decimal, Tier]


def _lines_detail(key: str) -> Any:
    def render(_value: object, env: Env) -> list[dict[str, Any]]:
        return [dict(zip(("asset", "quantity", "price", "value"), line, strict=True)) for line in env[key]]

    def text(_value: object, env: Env) -> str:  # the same, as canonical JSON (keys in sorted order)
        lines = [
            f'{{"asset":{json_text(asset)},"price":{json_text(price)},"quantity":{json_text(quantity)},'
            f'"value":{json_text(value)}}}'
            for asset, quantity, price, value in env[key]
        ]
        return f"[{','.join(lines)}]"

    return with_json_text(render, text)


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledMarginPolicy:
    ref: PolicyRef
    modes: Mapping[str, Mode]
    assets: Mapping[str, AssetSpec]
    margin_level: RoundedRatio
    derived: Sequence[Derived]
    needs_debt: frozenset[str]
    """Derived figures that read the margin level, directly or through other figures."""
    status_table: StatusTable
    steps: Mapping[str, StepSpec]
    collateral_margin_level: RoundedRatio
    needs_collateral: tuple[str, ...] = ()
    """The rules and derived figures that read a collateral figure (they need a collateral policy in force)."""

    def evaluate(
        self,
        account: Mapping[str, Any],
        *,
        source: str,
        as_of: datetime,
        related: Mapping[str, CompiledPolicy],
    ) -> tuple[Mapping[str, Any], Trace]:
        """The margin decision for a schema-valid account."""
        problems: list[Problem] = []
        tier = self._tier(account, source, problems)
        holdings, total_assets = self._read_lines(account["assets"], "assets", source, problems)
        debts, total_debt = self._read_lines(account["liabilities"], "liabilities", source, problems)
        execution_prices = account.get("execution_prices") or _NO_PRICES
        for asset in execution_prices:
            if asset not in self.assets:
                problems.append(
                    problem_at(
                        source,
                        ("execution_prices", asset),
                        f"unknown asset `{asset}`",
                        did_you_mean(asset, self.assets),
                    )
                )
        if problems or tier is None:
            raise AccountError(problems)

        env: dict[str, Any] = {
            "mode": account["mode"],
            "leverage": Decimal(account["leverage"]),
            "total_asset_value": total_assets,
            "total_liability_value": total_debt,
            "asset_lines": holdings,
            "liability_lines": debts,
            **tier.values,
        }
        steps: list[tuple[StepSpec, Any]] = [
            (self.steps["assets"], total_assets),
            (self.steps["liabilities"], total_debt),
            (self.steps["tier"], tier.values),
        ]
        has_debt = total_debt > 0
        margin_level = None
        if has_debt:
            margin_level = self.margin_level.compute(total_assets, total_debt, env, steps)
        else:
            steps.append((self.steps["no_debt"], None))
        collateral_value = collateral_margin_level = None
        terms = terms_in(related) if related else None
        if terms is not None:
            collateral_value = self._haircut(terms, holdings, source, steps)
            env["collateral_value"] = collateral_value
            if has_debt:
                collateral_margin_level = self.collateral_margin_level.compute(collateral_value, total_debt, env, steps)
        elif self.needs_collateral:
            raise AccountError(
                [
                    Problem(
                        file="policies",
                        message=f"{', '.join(self.needs_collateral)} of `{self.ref.id}` read collateral figures,"
                        f" and no `{COLLATERAL}` policy is in force at {iso(as_of)}",
                    )
                ]
            )

        derived: dict[str, Any] = {}
        for figure in self.derived:
            value = run(figure.expression, env, figure.spec) if has_debt or figure.name not in self.needs_debt else None
            env[figure.name] = derived[figure.name] = value
            steps.append((figure.spec, value))

        fired: Rule | None = None
        if has_debt:
            status, fired = self.status_table.decide(env, steps)
        else:
            status = self.status_table.default_status
            steps.append((self.status_table.default_spec, status))

        liquidation = None
        if status == "liquidation":
            liquidation = self._plan(
                holdings=holdings, debts=debts, total_debt=total_debt, tier=tier, execution_prices=execution_prices
            )
            env["liquidation"] = liquidation
            steps.append((self.steps["liquidation"], liquidation["method"]))

        outcome = {
            "status": status,
            "rule": fired.id if fired else None,
            "notification": fired.outcome.get("notification") if fired else None,
            "margin_level": margin_level,
            "margin_level_compared": env.get("margin_level"),
            "total_asset_value": total_assets,
            "total_liability_value": total_debt,
            "collateral_value": collateral_value,
            "collateral_margin_level": collateral_margin_level,
            "collateral_margin_level_compared": env.get("collateral_margin_level"),
            "thresholds": tier.thresholds,
            "derived": FrozenDict(derived),
            "liquidation": liquidation,
        }
        return FrozenDict(outcome), Trace(tuple(steps), MappingProxyType(env), tier.provenance)

    def _haircut(
        self,
        terms: CollateralTerms,
        holdings: Sequence[tuple[str, Decimal, Decimal, Decimal]],
        source: str,
        steps: list[tuple[StepSpec, Any]],
    ) -> Decimal:
        """The assets' value after their haircut bands, one band step per asset, then the total's step."""
        total = ZERO
        for asset, _, _, value in holdings:
            try:
                total += terms.haircut_value(asset, value, steps)
            except KeyError:  # the lint at load rules it out; policies compiled without it (a library caller) may not
                ref = terms.ref
                raise AccountError(
                    [problem_at(source, ("assets",), f"`{asset}` is not covered by `{ref.id}` version {ref.version}")]
                ) from None
        steps.append((self.steps["collateral_value"], total))
        return total

    def _tier(self, account: Mapping[str, Any], source: str, problems: list[Problem]) -> Tier | None:
        mode_name = account["mode"]
        mode = self.modes.get(mode_name)
        if mode is None:
            problems.append(
                problem_at(
                    source,
                    ("mode",),
                    f"unknown mode `{mode_name}`; expected one of {', '.join(sorted(self.modes))}",
                    did_you_mean(mode_name, self.modes),
                )
            )
            return None
        tier = mode.tiers.get(account["leverage"])
        if tier is None:
            offered = ", ".join(str(leverage) for leverage in mode.tiers)
            problems.append(
                problem_at(
                    source,
                    ("leverage",),
                    f"leverage {account['leverage']} is not offered in mode `{mode_name}`; expected one of {offered}",
                )
            )
        return tier

    def _read_lines(
        self, items: Sequence[Mapping[str, Any]], field: str, source: str, problems: list[Problem]
    ) -> tuple[tuple[tuple[str, Decimal, Decimal, Decimal], ...], Decimal]:
        """(asset, quantity, price, value) per line, and the total value.

        The quantity of a liability is its principal plus its unpaid interest.
        """
        lines = []
        total = ZERO
        debt = field == "liabilities"
        if len(items) > 1 and len({item["asset"] for item in items}) < len(items):
            problems += duplicate_problems(items, field, source)
        for index, item in enumerate(items):
            asset = item["asset"]
            if asset not in self.assets:
                problems.append(
                    problem_at(
                        source, (field, index, "asset"), f"unknown asset `{asset}`", did_you_mean(asset, self.assets)
                    )
                )
                continue
            quantity = Decimal(item["principal"]) + Decimal(item["interest"]) if debt else Decimal(item["quantity"])
            price = Decimal(item["price"])
            value = quantity * price
            total += value
            lines.append((asset, quantity, price, value))
        return tuple(lines), total

    def _plan(
        self,
        *,
        holdings: Sequence[tuple[str, Decimal, Decimal, Decimal]],
        debts: Sequence[tuple[str, Decimal, Decimal, Decimal]],
        total_debt: Decimal,
        tier: Tier,
        execution_prices: Mapping[str, Any],
    ) -> Mapping[str, Any]:
        # Cash left after a takeover is returned in the asset of the largest debt.
        settlement_asset, _, settlement_price, _ = max(debts, key=lambda line: line[3])
        owed = {line[0] for line in debts}
        rules = PlanRules(
            fee_rate=tier.values["fee_rate"],
            fee_base=tier.fee_base,
            margin_level_rounding=self.margin_level.rounding,
            recovery_level=None if tier.recovery is None else tier.recovery.value,
            recovery_source=None if tier.recovery is None else tier.recovery.source,
        )
        plan_holdings = [
            Holding(
                asset=asset,
                quantity=quantity,
                price=price,
                execution_price=Decimal(execution_prices.get(asset, price)),
                quantity_rounding=self.assets[asset].quantity_rounding,
                liquid=self.assets[asset].liquid,
            )
            # collateral held in a borrowed asset repays it first, then the rest in the account's order
            for asset, quantity, price, _ in sorted(holdings, key=lambda line: line[0] not in owed)
        ]
        return plan(
            plan_holdings,
            debt=total_debt,
            settlement_asset=settlement_asset,
            settlement_price=settlement_price,
            returned_rounding=self.assets[settlement_asset].returned_rounding,
            rules=rules,
        )


def _compile_modes(
    document: PolicyDocument, margin_level_rounding: Rounding, common: Mapping[str, Parameter]
) -> tuple[dict[str, Mode], list[Problem]]:
    problems: list[Problem] = []
    modes: dict[str, Mode] = {}
    for mode_name, mode in document.data["modes"].items():
        fee_path = ("modes", mode_name, "liquidation_fee")
        fee_rate = document.parameter("fee_rate", (*fee_path, "rate"))
        fee_base = document.parameter("fee_base", (*fee_path, "base"))
        tiers: dict[Decimal, Tier] = {}
        previous: Decimal | None = None
        for index, row in enumerate(mode["leverages"]):
            path = ("modes", mode_name, "leverages", index)
            leverage, call, liquidation = row["leverage"], row["margin_call"], row["liquidation"]
            if previous is not None and leverage <= previous:
                problems.append(
                    document.problem(
                        (*path, "leverage"), f"expected leverages in increasing order, got {leverage} after {previous}"
                    )
                )
            previous = leverage
            if not call > liquidation:
                problems.append(
                    document.problem(
                        (*path, "margin_call"),
                        f"expected a margin call level greater than the liquidation level ({liquidation}), got {call}",
                    )
                )
            if "recovery" in row and not row["recovery"] > call:
                problems.append(
                    document.problem(
                        (*path, "recovery"),
                        f"expected a recovery level greater than the margin call level ({call}), got {row['recovery']}",
                    )
                )
            for key in ("margin_call", "liquidation", "recovery")[: 3 if "recovery" in row else 2]:
                problem = places_problem(document, (*path, key), margin_level_rounding, "margin levels")
                if problem is not None:
                    problems.append(problem)
            call_parameter = document.parameter("margin_call_level", (*path, "margin_call"))
            liquidation_parameter = document.parameter("liquidation_level", (*path, "liquidation"))
            provenance = {
                **common,
                "margin_call_level": call_parameter,
                "liquidation_level": liquidation_parameter,
                "fee_rate": fee_rate,
                "fee_base": fee_base,
            }
            values = {"margin_call_level": call, "liquidation_level": liquidation, "fee_rate": fee_rate.value}
            thresholds = FrozenDict({"margin_call": call, "liquidation": liquidation})
            recovery = document.parameter("recovery_level", (*path, "recovery")) if "recovery" in row else None
            tiers[leverage] = Tier(
                values=values, provenance=provenance, fee_base=fee_base.value, thresholds=thresholds, recovery=recovery
            )
        modes[mode_name] = Mode(tiers=tiers)
    return modes, problems


def _step_specs(document: PolicyDocument) -> dict[str, StepSpec]:
    return {
        "assets": StepSpec(
            name="total_asset_value",
            kind="input",
            description="sum of quantity x price over assets",
            detail=_lines_detail("asset_lines"),
        ),
        "liabilities": StepSpec(
            name="total_liability_value",
            kind="input",
            description="sum of (principal + interest) x price over liabilities",
            detail=_lines_detail("liability_lines"),
        ),
        "tier": StepSpec(
            name="tier",
            kind="lookup",
            description="thresholds of the account's mode and leverage",
            inputs=("mode", "leverage"),
            cites=("margin_call_level", "liquidation_level", "fee_rate"),
        ),
        "no_debt": StepSpec(
            name="margin_level",
            kind="derive",
            description="no debt: the margin level is undefined and status rules are skipped",
            inputs=("total_liability_value",),
        ),
        "collateral_value": StepSpec(
            name="collateral_value",
            kind="derive",
            description="sum of the assets' values after their haircut bands (the collateral policy in force)",
        ),
        "liquidation": StepSpec(
            name="liquidation",
            kind="plan",
            description="liquidation plan: regular sales of liquid assets, takeover of illiquid ones, fee, return",
            source=document.source(("liquidation",)),
            path="$.liquidation",
            cites=("fee_rate", "fee_base", "quantity_rounding", "returned_rounding"),
        ),
    }


def _needing_debt(derived: Sequence[Derived]) -> frozenset[str]:
    needs = {"margin_level", "collateral_margin_level"}
    for figure in derived:
        if needs.intersection(figure.expression.names):
            needs.add(figure.name)
    return frozenset(needs - {"margin_level", "collateral_margin_level"})


def _reading_collateral(status_table: StatusTable, derived: Sequence[Derived]) -> tuple[str, ...]:
    rules = [f"rule `{rule.id}`" for rule in status_table.rules if COLLATERAL_NAMES.intersection(rule.expression.names)]
    figures = [f"`{figure.name}`" for figure in derived if COLLATERAL_NAMES.intersection(figure.expression.names)]
    return (*rules, *figures)


def compile_margin(document: PolicyDocument) -> tuple[CompiledMarginPolicy | None, list[Problem]]:
    data = document.data
    margin_level = compile_ratio(
        document,
        name="margin_level",
        numerator="total_asset_value",
        denominator="total_liability_value",
        rounding_path=("margin_level",),
        description="margin level, then rounded for comparison as the policy states",
    )
    margin_level_rounding = margin_level.rounding
    collateral_margin_level = compile_ratio(
        document,
        name="collateral_margin_level",
        numerator="collateral_value",
        denominator="total_liability_value",
        rounding_path=("margin_level",),
        description="collateral margin level, rounded for comparison as the margin level is",
    )
    common = {
        "margin_level_rounding": document.parameter("margin_level_rounding", ("margin_level",)),
        "quantity_rounding": document.parameter("quantity_rounding", ("liquidation", "quantity_rounding")),
        "returned_rounding": document.parameter("returned_rounding", ("liquidation", "returned_rounding")),
    }
    modes, problems = _compile_modes(document, margin_level_rounding, common)
    liquidation = data["liquidation"]
    assets = {
        symbol: AssetSpec(
            quantity_rounding=rounding_of(int(spec["precision"]), str(liquidation["quantity_rounding"])),
            returned_rounding=rounding_of(int(spec["precision"]), str(liquidation["returned_rounding"])),
            liquid=spec["liquidity"] == "liquid",
        )
        for symbol, spec in data["assets"].items()
    }
    roundings = {"margin_level": margin_level_rounding, "collateral_margin_level": margin_level_rounding}
    scope = dict(INPUT_SCOPE)
    derived, found = compile_derived(document, ("derived",), scope, roundings, reserved=ENGINE_VALUES)
    problems += found
    status_table, found = compile_status_table(document, scope, roundings, outcome_keys=("status", "notification"))
    problems += found
    if problems or status_table is None:
        return None, problems
    compiled = CompiledMarginPolicy(
        ref=document.ref,
        modes=modes,
        assets=assets,
        margin_level=margin_level,
        derived=derived,
        needs_debt=_needing_debt(derived),
        status_table=status_table,
        steps=_step_specs(document),
        collateral_margin_level=collateral_margin_level,
        needs_collateral=_reading_collateral(status_table, derived),
    )
    return compiled, []


def _names_read(expression: str) -> set[str]:
    """The names an expression reads (it compiled: the syntax is valid)."""
    return {node.id for node in ast.walk(ast.parse(expression, mode="eval")) if isinstance(node, ast.Name)}


def check_across(document: PolicyDocument, related: Mapping[str, Sequence[CompiledPolicy]]) -> list[Problem]:
    """Every asset has collateral terms; expressions reading collateral figures have a collateral policy in force.

    `related` holds the collateral versions in force at some instant while
    this version is; the first of them must be in force when it starts.
    """
    versions = related.get(COLLATERAL, ())
    problems = coverage_problems(document, ("assets",), versions)
    start = document.ref.effective_from
    if any(version.ref.effective_from <= start for version in versions):
        return problems
    expressions = [(("rules", index, "when"), rule["when"]) for index, rule in enumerate(document.data["rules"])]
    expressions += [
        (("derived", index, "expression"), figure["expression"])
        for index, figure in enumerate(document.data.get("derived") or ())
    ]
    first = min((version.ref.effective_from for version in versions), default=None)
    for path, text in expressions:
        read = sorted(COLLATERAL_NAMES.intersection(_names_read(text)))
        if read:
            problems.append(
                document.problem(
                    path,
                    f"reads {', '.join(f'`{name}`' for name in read)}, and no `{COLLATERAL}` policy is in force when"
                    f" this version takes effect ({iso(start)})"
                    + (f"; the first takes effect at {iso(first)}" if first else "; none is loaded")
                    + f"; load a `{COLLATERAL}` policy in force from then",
                )
            )
    return problems


def reprice(account: Mapping[str, Any], prices: Mapping[str, Decimal]) -> Mapping[str, Any]:
    """New mark prices for the account's assets and liabilities."""
    return {
        **account,
        **{
            field: [{**line, "price": prices.get(line["asset"], line["price"])} for line in account[field]]
            for field in ("assets", "liabilities")
        },
    }


def advance(account: Mapping[str, Any], outcome: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A liquidation ends the account's simulation; other statuses change nothing."""
    return None if outcome["status"] == "liquidation" else account


def summarize(outcome: Mapping[str, Any]) -> dict[str, Any]:
    level = outcome["margin_level_compared"]
    notes = [f"notification: {outcome['notification']}"] if outcome["notification"] else []
    plan = outcome["liquidation"]
    if plan is not None:
        returned = ", ".join(f"{item['quantity']} {item['asset']}" for item in plan["returned"]) or "nothing"
        notes.append(f"liquidation ({plan['method']}): fee {plan['fee_value']}, returned {returned}")
    return {
        "status": outcome["status"],
        "figure": "ML n/a (no debt)" if level is None else f"ML {level}",
        "margin_level": level,
        "notes": notes,
    }


def assets(account: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(line["asset"] for field in ("assets", "liabilities") for line in account[field])


def explain_detail(step: Mapping[str, Any]) -> list[str] | None:
    """The asset and liability lines behind the account's totals."""
    if step["step"] in ("total_asset_value", "total_liability_value") and isinstance(step.get("detail"), list):
        return [f"{line['asset']}: {line['quantity']} x {line['price']} = {line['value']}" for line in step["detail"]]
    return None


def _collateral_lines(decision: Mapping[str, Any]) -> list[str]:
    outcome = decision["outcome"]
    if outcome.get("collateral_value") is None:
        return []
    lines = ["Collateral after haircuts:"]
    for step in decision.get("trace") or ():
        if step["step"].startswith("collateral_value:"):
            (value,) = step["inputs"].values()
            lines.append(f"  {step['step'].partition(':')[2]}: {value} counts {step['value']}")
    level = outcome["collateral_margin_level_compared"]
    lines.append(
        f"  collateral value {outcome['collateral_value']} of total asset value {outcome['total_asset_value']};"
        f" collateral margin level {'n/a (no debt)' if level is None else level}"
    )
    return lines


def explain_sections(decision: Mapping[str, Any]) -> list[str]:
    """The assets' values after haircuts, and the liquidation plan, step by step, when the account is liquidated."""
    collateral = _collateral_lines(decision)
    plan = decision["outcome"].get("liquidation")
    if not plan:
        return collateral
    lines = [*collateral, *([""] if collateral else []), f"Liquidation ({plan['method']}):"]
    for event in plan["steps"]:
        name = event["event"]
        if name == "regular_sale":
            level = event["margin_level_after"]
            lines.append(
                f"  sell {event['quantity']} {event['asset']} at {event['price']} = {event['value']}"
                f" for the {event['purpose']}; debt left {event['debt_after']}"
                + (f", margin level {level}" if level is not None else "")
            )
        elif name == "takeover":
            taken = ", ".join(f"{a['quantity']} {a['asset']} at {a['price']}" for a in event["assets"])
            lines.append(f"  takeover of {taken} = {event['proceeds']}; margin level {event['margin_level']}")
        elif name == "repay":
            lines.append(f"  repay {event['debt_repaid']}; cash left {event['cash_after']}")
        elif name == "fee":
            lines.append(f"  fee {event['value']} paid from takeover cash; cash left {event['cash_after']}")
        elif name == "recovered":
            lines.append(
                f"  stopped: margin level {event['margin_level']} is at or above the recovery level"
                f" {event['recovery_level']} ({event['source']})"
            )
    unpaid = f" (unpaid {plan['fee_unpaid']})" if Decimal(plan["fee_unpaid"]) != 0 else ""
    lines.append(
        f"  fee: {plan['fee_rate']} x {plan['fee_base']} {plan['fee_base_value']} = {plan['fee_value']}{unpaid}"
    )
    if plan.get("recovered"):
        lines.append(f"  debt left in the account: {plan['debt_remaining']}")
    elif Decimal(plan["debt_remaining"]) != 0:
        lines.append(f"  debt not covered: {plan['debt_remaining']}")
    returned = ", ".join(f"{item['quantity']} {item['asset']}" for item in plan["returned"]) or "nothing"
    lines.append(f"  returned to the user: {returned}")
    return lines


PRODUCT = Product(
    policy_kind="margin-trading",
    account_kind="spot-margin",
    policy_schema="margin-trading.schema.json",
    account_schema="spot-margin.account.schema.json",
    compile=compile_margin,
    reads=(COLLATERAL,),
    check_across=check_across,
    explain_detail=explain_detail,
    explain_sections=explain_sections,
    simulation=Simulation(reprice=reprice, advance=advance, summarize=summarize, assets=assets),
)

__all__ = ["PRODUCT", "CompiledMarginPolicy", "check_across", "compile_margin"]
