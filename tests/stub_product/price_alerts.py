"""Price alerts on a watched portfolio: a stub product built from the shared table kit.

Policy kind `price-alert`, account kind `price-watch`.  An account holds
positions (asset, quantity, entry price) and current prices.  The policy gives
each asset price zones (a band table with labels) and a list of alert rules
(a rule table at `alerts` with hit policy `collect`).  The drawdown,
`(cost - market value) / cost`, is a rounded ratio; the thresholds it is
compared with are linted against its rounding.

Names the alert rules may read: `drawdown` (rounded as the policy says),
`drawdown_warning`, `drawdown_critical`, `worst_zone` (`red`, `amber` or
`green`: the worst zone of any position), `market_value`, `cost_value`, `loss`.

The product reads `crypto-loan` policies: every asset it watches must be
defined in the loan policy's `assets` (a lint across kinds), and a decision
says which held assets the loan policy in force accepts as collateral.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from policy_engine._expressions import ExprType
from policy_engine.bands import BandTable, compile_bands
from policy_engine.compiler import RoundedRatio, compile_ratio, places_problem
from policy_engine.errors import AccountError, Problem, did_you_mean, problem_at
from policy_engine.model import PolicyDocument, PolicyRef
from policy_engine.product import Account, CompiledPolicy, Operation, Product, Simulation
from policy_engine.products.loans import CompiledLoanPolicy
from policy_engine.rules import RuleTable, compile_rule_table
from policy_engine.trace import Env, StepSpec, Trace

HERE = Path(__file__).resolve().parent
LOANS = "crypto-loan"
HUNDRED = Decimal(100)
PERCENT = Decimal("0.01")
ZONES = ("red", "amber", "green")
"""Zone labels from worst to best."""
SEVERITIES = ("quiet", "warning", "critical")
"""Statuses from least to most severe; `quiet` when no alert fires."""
THRESHOLDS = ("drawdown_warning", "drawdown_critical")

SCOPE: Mapping[str, ExprType] = {
    "drawdown": ExprType.DECIMAL,
    "drawdown_warning": ExprType.DECIMAL,
    "drawdown_critical": ExprType.DECIMAL,
    "worst_zone": ExprType.STRING,
    "market_value": ExprType.DECIMAL,
    "cost_value": ExprType.DECIMAL,
    "loss": ExprType.DECIMAL,
}


def _positions_detail(_value: object, env: Env) -> Any:
    return env["positions"]


def _loan_value(value: PolicyRef | None) -> str | None:
    return None if value is None else f"{value.id} v{value.version}"


STEPS: Mapping[str, StepSpec] = {
    "positions": StepSpec(
        name="positions", kind="input", description="the positions watched", detail=_positions_detail
    ),
    "market_value": StepSpec(
        name="market_value", kind="input", description="sum of quantity x current price over the positions"
    ),
    "cost_value": StepSpec(
        name="cost_value", kind="input", description="sum of quantity x entry price over the positions"
    ),
    "loss": StepSpec(
        name="loss",
        kind="derive",
        description="what the positions lost since they were bought",
        inputs=("cost_value", "market_value"),
        expression="cost_value - market_value",
    ),
    "worst_zone": StepSpec(name="worst_zone", kind="derive", description="the worst zone of any position"),
    "status": StepSpec(name="status", kind="status", description="the most severe alert that fired"),
    "loan_policy": StepSpec(
        name="loan_policy",
        kind="input",
        description="the crypto-loan policy in force, read for collateral eligibility",
        value_of=_loan_value,
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledAlertPolicy:
    ref: PolicyRef
    zones: Mapping[str, BandTable]
    thresholds: Mapping[str, Decimal]
    provenance: Mapping[str, Any]
    drawdown: RoundedRatio
    alerts: RuleTable

    def evaluate(
        self,
        account: Mapping[str, Any],
        *,
        source: str,
        as_of: datetime,
        related: Mapping[str, CompiledPolicy],
    ) -> tuple[Mapping[str, Any], Trace]:
        """Zones per held asset, the drawdown, every alert that holds, and the loan collateral read."""
        prices = self._prices(account, source)
        positions = [
            {
                "asset": position["asset"],
                "quantity": Decimal(position["quantity"]),
                "entry_price": Decimal(position["entry_price"]),
                "price": prices[position["asset"]],
            }
            for position in account["positions"]
        ]
        env: dict[str, Any] = {"positions": tuple(MappingProxyType(p) for p in positions), **self.thresholds}
        steps: list[tuple[StepSpec, Any]] = [(STEPS["positions"], len(positions))]
        zones: dict[str, str] = {}
        for position in positions:
            asset = position["asset"]
            env[f"{asset}_price"] = position["price"]
            band = self.zones[asset].lookup(position["price"], steps)
            assert band is not None  # zones start at 0 and the last is open; prices are > 0
            zones[asset] = band.label
        market_value = sum((p["quantity"] * p["price"] for p in positions), Decimal(0))
        cost_value = sum((p["quantity"] * p["entry_price"] for p in positions), Decimal(0))
        loss = cost_value - market_value
        env.update(market_value=market_value, cost_value=cost_value, loss=loss)
        steps += [
            (STEPS["market_value"], market_value),
            (STEPS["cost_value"], cost_value),
            (STEPS["loss"], loss),
        ]
        drawdown = self.drawdown.compute(loss, cost_value, env, steps)
        worst = min(zones.values(), key=ZONES.index)
        env["worst_zone"] = worst
        steps.append((STEPS["worst_zone"], worst))
        fired = self.alerts.collect(env, steps)
        status = max((str(rule.outcome["severity"]) for rule in fired), key=SEVERITIES.index, default="quiet")
        steps.append((STEPS["status"], status))
        loans = related.get(LOANS)
        collateral: tuple[str, ...] | None = None
        if isinstance(loans, CompiledLoanPolicy):
            accepted = loans.loan_types[loans.default_loan_type]
            collateral = tuple(sorted(asset for asset in zones if asset in accepted))
        steps.append((STEPS["loan_policy"], loans.ref if loans is not None else None))
        outcome = {
            "as_of": as_of,
            "status": status,
            "alerts": tuple(MappingProxyType({"id": rule.id, "severity": rule.outcome["severity"]}) for rule in fired),
            "zones": MappingProxyType(zones),
            "worst_zone": worst,
            "market_value": market_value,
            "cost_value": cost_value,
            "drawdown": drawdown,
            "drawdown_compared": env["drawdown"],
            "loan_policy": None if loans is None else f"{loans.ref.id} v{loans.ref.version}",
            "loan_collateral": collateral,
        }
        return MappingProxyType(outcome), Trace(tuple(steps), MappingProxyType(env), self.provenance)

    def _prices(self, account: Mapping[str, Any], source: str) -> dict[str, Decimal]:
        problems: list[Problem] = []
        prices = {asset: Decimal(price) for asset, price in account["prices"].items()}
        seen: set[str] = set()
        for index, position in enumerate(account["positions"]):
            asset = position["asset"]
            if asset not in self.zones:
                problems.append(
                    problem_at(
                        source,
                        ("positions", index, "asset"),
                        f"`{asset}` is not watched by {self.ref.id} version {self.ref.version};"
                        f" expected one of {', '.join(sorted(self.zones))}",
                        did_you_mean(asset, self.zones),
                    )
                )
            elif asset not in prices:
                problems.append(problem_at(source, ("prices",), f"missing the price of `{asset}`"))
            if asset in seen:
                problems.append(
                    problem_at(source, ("positions", index, "asset"), f"a second position in `{asset}`; hold one")
                )
            seen.add(asset)
        if problems:
            raise AccountError(problems)
        return prices


def compile_alerts(document: PolicyDocument) -> tuple[CompiledAlertPolicy | None, list[Problem]]:
    data = document.data
    drawdown = compile_ratio(
        document,
        name="drawdown",
        numerator="loss",
        denominator="cost_value",
        rounding_path=("drawdown",),
        description="drawdown of the positions, then rounded for comparison as the policy states",
    )
    problems: list[Problem] = []
    for name in THRESHOLDS:
        problem = places_problem(document, ("thresholds", name), drawdown.rounding, "drawdowns")
        if problem is not None:
            problems.append(problem)
    zones: dict[str, BandTable] = {}
    for asset in data["assets"]:
        table, found = compile_bands(
            document,
            ("assets", asset, "zones"),
            name=f"zone:{asset}",
            input_name=f"{asset}_price",
            description=f"the price zone of {asset}",
            rate_key=None,
            label_key="label",
            rate_range=None,
        )
        problems += found
        if table is not None:
            zones[asset] = table
    alerts, found = compile_rule_table(
        document, ("alerts",), SCOPE, {"drawdown": drawdown.rounding}, outcome_keys=("severity",), hit="collect"
    )
    problems += found
    if problems or alerts is None:
        return None, problems
    compiled = CompiledAlertPolicy(
        ref=document.ref,
        zones=zones,
        thresholds={name: data["thresholds"][name] for name in THRESHOLDS},
        provenance={name: document.parameter(name, ("thresholds", name)) for name in THRESHOLDS},
        drawdown=drawdown,
        alerts=alerts,
    )
    return compiled, []


def check_across(document: PolicyDocument, related: Mapping[str, Sequence[CompiledPolicy]]) -> list[Problem]:
    """Every watched asset is defined in the `assets` of each crypto-loan version in force while this one is."""
    problems: list[Problem] = []
    for loans in related.get(LOANS, ()):
        if not isinstance(loans, CompiledLoanPolicy):
            continue
        ref = loans.ref
        for asset in document.data["assets"]:
            if asset not in loans.assets:
                problems.append(
                    document.problem(
                        ("assets", asset),
                        f"`{asset}` is not defined in the `assets` of `{ref.id}` version {ref.version}"
                        f" ({ref.file}), which is in force while this version is",
                        suggestion=did_you_mean(asset, loans.assets),
                        key=True,
                    )
                )
    return problems


def shift(account: Account, value: object) -> Account:
    """Every price moved by `value` percent (-40 takes 40% off, 10 adds 10%)."""
    percent = None
    if isinstance(value, str | int | Decimal) and not isinstance(value, bool):
        try:
            percent = Decimal(value)
        except InvalidOperation:
            percent = None
    if percent is None or not percent.is_finite() or percent <= -HUNDRED or abs(percent) > HUNDRED * HUNDRED:
        raise ValueError(f"expected a percentage above -100 and at most 10000 (such as -40 or 12.5), got {value!r}")
    factor = 1 + percent / HUNDRED
    return {**account, "prices": {asset: Decimal(price) * factor for asset, price in account["prices"].items()}}


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * HUNDRED).quantize(PERCENT):f}%"


def reprice(account: Account, prices: Mapping[str, Decimal]) -> Account:
    return {**account, "prices": {**account["prices"], **prices}}


def advance(account: Account, _outcome: Mapping[str, Any]) -> Account | None:
    """Alerts change nothing in the account; a watch never ends."""
    return account


def summarize(outcome: Mapping[str, Any]) -> dict[str, Any]:
    alerts = [alert["id"] for alert in outcome["alerts"]]
    zones = outcome["zones"]
    notes = [", ".join(f"{asset} {zone}" for asset, zone in zones.items())]
    if alerts:
        notes.append("alerts: " + ", ".join(alerts))
    return {
        "status": outcome["status"],
        "figure": f"drawdown {_percent(outcome['drawdown_compared'])}",
        "drawdown": outcome["drawdown_compared"],
        "notes": notes,
    }


def assets(account: Account) -> frozenset[str]:
    return frozenset(position["asset"] for position in account["positions"])


def explain_detail(step: Mapping[str, Any]) -> list[str] | None:
    """The positions, one a line."""
    if step["step"] != "positions":
        return None
    return [
        f"{p['asset']}: {p['quantity']} bought at {p['entry_price']}, now {p['price']}"
        for p in step.get("detail") or ()
    ]


def explain_sections(decision: Mapping[str, Any]) -> list[str]:
    """The alerts that fired, the zones, and what the loan policy accepts as collateral."""
    outcome = decision["outcome"]
    fired = ", ".join(f"{alert['id']} ({alert['severity']})" for alert in outcome["alerts"]) or "none"
    lines = [
        f"Alerts fired: {fired}",
        "Zones: " + ", ".join(f"{asset} {zone}" for asset, zone in outcome["zones"].items()),
    ]
    if outcome["loan_policy"] is None:
        lines.append("Loan collateral: no crypto-loan policy in force")
    else:
        accepted = ", ".join(outcome["loan_collateral"]) or "none"
        lines.append(f"Loan collateral under {outcome['loan_policy']}: {accepted}")
    return lines


PRODUCT = Product(
    policy_kind="price-alert",
    account_kind="price-watch",
    policy_schema=HERE / "price-alert.schema.json",
    account_schema=HERE / "price-watch.account.schema.json",
    compile=compile_alerts,
    reads=(LOANS,),
    check_across=check_across,
    explain_sections=explain_sections,
    explain_detail=explain_detail,
    operations=(
        Operation(
            name="shift",
            argument="PERCENT",
            help="move every price by PERCENT percent, -40 takes 40 percent off",
            apply=shift,
        ),
    ),
    simulation=Simulation(reprice=reprice, advance=advance, summarize=summarize, assets=assets),
)

__all__ = ["PRODUCT", "CompiledAlertPolicy", "check_across", "compile_alerts"]
