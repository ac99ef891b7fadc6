"""Crypto loans: LTV, status by first-hit rules, and the auto top-up state machine.

Names the policy's expressions may read: `ltv` (rounded as the policy's `ltv`
says), `initial_ltv`, `margin_call_ltv`, `liquidation_ltv` (of the account's
loan type and collateral asset), `debt_value` and `collateral_value`.

Auto top-up, per decision (the state comes in with the account and goes out
as `next_state`, so a caller can feed it back):

1. Events since the last decision are applied first: a successful manual
   top-up adds its quantity to the collateral, ends a failure streak and
   re-enables auto top-up; a reset ends a failure streak and re-enables it.
2. If auto top-up is enabled and its `when` condition holds:
   - disabled (after `max_attempts` failures in a row): nothing happens;
   - in a failure streak and the retry is not yet due: nothing happens, and
     `next_attempt_at` says when it is;
   - otherwise an attempt is made: the spot balance of the collateral asset
     is moved, up to the quantity that restores the initial LTV.  Nothing to
     move is a failed attempt; the whole, insufficient balance is a partial
     top-up, a success or a failure as the policy says.  The failure that
     uses up `max_attempts` disables auto top-up.

The platform max-collateral rule (the `collateral` policy in force, read
through `collateral.py`) caps the quantity moved when the account carries the
collateral asset's platform-wide total (`collateral.platform_total`) and the
rule limits that asset: the top-up says so in `capped_by` (the limit and the
band), and a top-up capped to 0 is a failed attempt like an empty wallet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from string import Template
from types import MappingProxyType
from typing import Any

from .._expressions import Expression, ExprType
from .._numbers import WIDE_CONTEXT, in_range, iso, parse_decimal, parse_instant
from ..compiler import RoundedRatio, compile_ratio, expression_at, places_problem, rounding_of, run
from ..errors import AccountError, Problem, did_you_mean, problem_at
from ..frozen import FrozenDict
from ..model import Parameter, PolicyDocument, PolicyRef, Rounding
from ..product import Account, CompiledPolicy, Operation, Product, Simulation
from ..rules import StatusTable, compile_status_table
from ..templates import compile_templates
from ..trace import Env, StepSpec, Trace
from .collateral import KIND as COLLATERAL
from .collateral import TransferLimit, coverage_problems, explain_step, terms_in

ZERO = Decimal(0)
HUNDRED = Decimal(100)
PERCENT = Decimal("0.01")

SCOPE: Mapping[str, ExprType] = {
    "ltv": ExprType.DECIMAL,
    "initial_ltv": ExprType.DECIMAL,
    "margin_call_ltv": ExprType.DECIMAL,
    "liquidation_ltv": ExprType.DECIMAL,
    "debt_value": ExprType.DECIMAL,
    "collateral_value": ExprType.DECIMAL,
}
TEMPLATE_NAMES = frozenset({"quantity", "asset", "ltv_before", "ltv_after", "next_attempt_at", "attempts"})
FRESH_STATE: Mapping[str, Any] = MappingProxyType(
    {"failed_attempts": 0, "last_attempt_at": None, "succeeded_before": False, "disabled": False}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Thresholds:
    """The LTV thresholds of one (loan type, collateral asset), with their provenance."""

    values: Mapping[str, Decimal]
    provenance: Mapping[str, Parameter]
    outcome: Mapping[str, Decimal]


@dataclass(frozen=True, kw_only=True, slots=True)
class TopUpRules:
    when: Any
    """The compiled `when` expression."""
    quantity_roundings: Mapping[str, Rounding]
    """By collateral asset: its precision, the policy's `auto_top_up.quantity_rounding`."""
    retry_interval: timedelta
    max_attempts: int
    partial_is_success: bool
    record_type: str
    notifications: Mapping[str, Message]


@dataclass(frozen=True, slots=True)
class Message:
    """A notification template split once into its text and its placeholders.

    `fill(values)` is `Template(text).safe_substitute(values)` without a
    regular expression and a callback per placeholder on each decision: a
    placeholder missing from `values` is kept as written.
    """

    pieces: tuple[tuple[str | None, str], ...]
    """(placeholder name or None for text, the text as written), in order."""
    names: frozenset[str]

    @classmethod
    def of(cls, template: Template) -> Message:
        pieces: list[tuple[str | None, str]] = []
        text, at = template.template, 0
        for match in template.pattern.finditer(text):
            pieces.append((None, text[at : match.start()]))
            name = match.group("named") or match.group("braced")
            escaped = match.group("escaped") is not None
            pieces.append((name, template.delimiter if escaped else match.group()))  # `$$` is a dollar sign
            at = match.end()
        pieces.append((None, text[at:]))
        return cls(
            pieces=tuple((name, written) for name, written in pieces if name or written),
            names=frozenset(name for name, _ in pieces if name),
        )

    def fill(self, values: Mapping[str, str]) -> str:
        return "".join([written if name is None else values.get(name, written) for name, written in self.pieces])


def _percent(ltv: Decimal) -> str:
    return f"{(ltv * HUNDRED).quantize(PERCENT, context=WIDE_CONTEXT):f}%"


def _events_detail(_value: object, env: Env) -> Any:
    return env["events"]


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledLoanPolicy:
    ref: PolicyRef
    loan_types: Mapping[str, Mapping[str, Thresholds]]
    default_loan_type: str
    assets: frozenset[str]
    ltv: RoundedRatio
    status_table: StatusTable
    top_up: TopUpRules
    steps: Mapping[str, StepSpec]

    def evaluate(
        self,
        account: Mapping[str, Any],
        *,
        source: str,
        as_of: datetime,
        related: Mapping[str, CompiledPolicy],
    ) -> tuple[Mapping[str, Any], Trace]:
        """The loan decision at `as_of`, the instant retries are timed against."""
        now = as_of
        thresholds, loan_asset, collateral_asset, prices = self._read(account, source)
        loan = account["loan"]
        settings = account.get("auto_top_up") or {"enabled": False}
        state = dict(settings.get("state") or FRESH_STATE)
        quantity = Decimal(account["collateral"]["quantity"])
        quantity, events = self._apply_events(settings.get("events") or (), state, quantity)

        loan_quantity = Decimal(loan["principal"]) + Decimal(loan["interest"])
        collateral_price = prices[collateral_asset]
        debt_value = loan_quantity * prices[loan_asset]
        collateral_value = quantity * collateral_price
        env: dict[str, Any] = {
            "debt_value": debt_value,
            "collateral_value": collateral_value,
            "events": events,
            "loan_type": account.get("loan_type") or self.default_loan_type,
            "collateral_asset": collateral_asset,
            **thresholds.values,
        }
        steps: list[tuple[StepSpec, Any]] = []
        if events:
            steps.append((self.steps["events"], len(events)))
        steps += [
            (self.steps["thresholds"], thresholds.outcome),
            (self.steps["debt_value"], debt_value),
            (self.steps["collateral_value"], collateral_value),
        ]
        ltv = self.ltv.compute(debt_value, collateral_value, env, steps)
        status, fired = self.status_table.decide(env, steps)

        enabled = bool(settings.get("enabled"))
        triggered = bool(run(self.top_up.when, env, self.steps["trigger"]))
        steps.append((self.steps["trigger"], triggered))
        required = (debt_value / collateral_price) / thresholds.values["initial_ltv"] - quantity
        required = self.top_up.quantity_roundings[collateral_asset].apply(required)
        if required <= 0:
            required = ZERO  # also turns a rounded -0E-8 into a plain 0
        balance = Decimal((account.get("spot_balances") or {}).get(collateral_asset, 0))
        last_attempt = parse_instant(state["last_attempt_at"]) if state["last_attempt_at"] else None
        if last_attempt is not None and now < last_attempt:
            raise AccountError(
                [
                    problem_at(
                        source,
                        ("auto_top_up", "state", "last_attempt_at"),
                        f"the last attempt ({state['last_attempt_at']}) is later than the time of"
                        f" this decision ({iso(now)}); pass a later as_of",
                    )
                ]
            )
        limit = None
        platform_total = account["collateral"].get("platform_total")
        if platform_total is not None and enabled and triggered and required > 0:
            limit = self._transfer_limit(
                related,
                asset=collateral_asset,
                platform_total=Decimal(platform_total),
                price=collateral_price,
                source=source,
                now=now,
                steps=steps,
            )
        cap = limit.max_quantity if limit is not None and limit.applies else None
        top_up = self._top_up(
            enabled=enabled,
            triggered=triggered,
            state=state,
            last=last_attempt,
            now=now,
            required=required,
            balance=balance,
            cap=cap,
        )
        moved = top_up["quantity"]
        ltv_after = debt_value / ((quantity + moved) * collateral_price)
        ltv_after_compared = self.ltv.rounding.apply(ltv_after)
        status_after = status  # nothing moved: the same figures, so the same status
        if moved:
            after_env = {**env, "ltv": ltv_after_compared, "collateral_value": (quantity + moved) * collateral_price}
            status_after = self.status_table.status_of(after_env)
        top_up.update(
            asset=collateral_asset,
            enabled=enabled,
            triggered=triggered,
            required_quantity=required,
            spot_balance=balance,
            ltv_after=ltv_after,
            ltv_after_compared=ltv_after_compared,
            status_after=status_after,
            collateral_after=quantity + moved,
            capped_by=None if cap is None else _capped_by(limit, cap, top_up, min(required, balance)),
        )
        top_up["notification"] = self._notification(top_up, env["ltv"], ltv_after_compared)
        env["top_up"] = frozen_top_up = FrozenDict(top_up)
        steps.append((self.steps["top_up"], top_up["action"]))
        outcome = {
            "as_of": now,
            "loan_type": env["loan_type"],
            "loan_asset": loan_asset,
            "collateral_asset": collateral_asset,
            "collateral_quantity": quantity,
            "debt_value": debt_value,
            "collateral_value": collateral_value,
            "ltv": ltv,
            "ltv_compared": env["ltv"],
            "status": status,
            "rule": fired.id if fired else None,
            "thresholds": thresholds.outcome,
            "top_up": frozen_top_up,
        }
        return FrozenDict(outcome), Trace(tuple(steps), MappingProxyType(env), thresholds.provenance)

    @staticmethod
    def _transfer_limit(
        related: Mapping[str, CompiledPolicy],
        *,
        asset: str,
        platform_total: Decimal,
        price: Decimal,
        source: str,
        now: datetime,
        steps: list[tuple[StepSpec, Any]],
    ) -> TransferLimit:
        """The max-collateral rule for the top-up's asset, from the collateral policy in force."""
        terms = terms_in(related) if related else None
        if terms is None:
            raise AccountError(
                [
                    problem_at(
                        source,
                        ("collateral", "platform_total"),
                        f"the platform total cannot be checked: no `{COLLATERAL}` policy is in force at {iso(now)};"
                        " load one, or leave the platform total out",
                    )
                ]
            )
        return terms.transfer_limit(asset, platform_total=platform_total, price=price, steps=steps)

    def _read(self, account: Mapping[str, Any], source: str) -> tuple[Thresholds, str, str, dict[str, Decimal]]:
        problems: list[Problem] = []
        loan_type = account.get("loan_type") or self.default_loan_type
        table = self.loan_types.get(loan_type)
        if table is None:
            problems.append(
                problem_at(
                    source,
                    ("loan_type",),
                    f"unknown loan type `{loan_type}`; expected one of {', '.join(sorted(self.loan_types))}",
                    did_you_mean(loan_type, self.loan_types),
                )
            )
        loan_asset = account["loan"]["asset"]
        collateral_asset = account["collateral"]["asset"]
        if loan_asset not in self.assets:
            problems.append(
                problem_at(
                    source,
                    ("loan", "asset"),
                    f"unknown asset `{loan_asset}`",
                    did_you_mean(loan_asset, self.assets),
                )
            )
        thresholds = table.get(collateral_asset) if table is not None else None
        if table is not None and thresholds is None:
            problems.append(
                problem_at(
                    source,
                    ("collateral", "asset"),
                    f"`{collateral_asset}` is not accepted as collateral for"
                    f" {loan_type} loans; expected one of {', '.join(sorted(table))}",
                    did_you_mean(collateral_asset, table),
                )
            )
        events = (account.get("auto_top_up") or {}).get("events") or ()
        for index, event in enumerate(events):
            if event["type"] == "manual_top_up" and "quantity" not in event:
                problems.append(
                    problem_at(
                        source,
                        ("auto_top_up", "events", index),
                        "a manual top-up needs the `quantity` it added to the collateral",
                    )
                )
        if loan_asset == collateral_asset:
            problems.append(
                problem_at(
                    source,
                    ("collateral", "asset"),
                    f"the collateral cannot be the borrowed"
                    f" asset `{loan_asset}`: its LTV would never move with the price",
                )
            )
        prices = {asset: Decimal(price) for asset, price in account["prices"].items()}
        for field, asset in (("loan", loan_asset), ("collateral", collateral_asset)):
            if asset not in prices:
                problems.append(problem_at(source, ("prices",), f"missing the price of the {field} asset `{asset}`"))
        if problems or thresholds is None:
            raise AccountError(problems)
        return thresholds, loan_asset, collateral_asset, prices

    @staticmethod
    def _apply_events(
        events: Any, state: dict[str, Any], quantity: Decimal
    ) -> tuple[Decimal, tuple[Mapping[str, Any], ...]]:
        applied = []
        for event in events:
            if event["type"] == "manual_top_up":
                added = Decimal(event["quantity"])
                quantity += added
                state.update(failed_attempts=0, succeeded_before=True, disabled=False)
                applied.append(FrozenDict({"type": "manual_top_up", "quantity": added}))
            else:
                state.update(failed_attempts=0, disabled=False)
                applied.append(FrozenDict({"type": "reset"}))
        return quantity, tuple(applied)

    def _top_up(
        self,
        *,
        enabled: bool,
        triggered: bool,
        state: dict[str, Any],
        last: datetime | None,
        now: datetime,
        required: Decimal,
        balance: Decimal,
        cap: Decimal | None = None,
    ) -> dict[str, Any]:
        """The action, whether an attempt was made and how it went, the quantity moved, the next state.

        `cap` is the most the max-collateral rule lets move (None: no limit).
        """
        rules = self.top_up
        result: dict[str, Any] = {
            "action": "none",
            "attempted": False,
            "result": None,
            "quantity": ZERO,
            "next_attempt_at": None,
            "record_type": None,
        }
        failures = int(state["failed_attempts"])
        if failures >= rules.max_attempts:
            state["disabled"] = True  # an over-count from outside is read as used up
        acting = enabled and triggered and required > 0
        if enabled and not triggered and failures and not state["disabled"]:
            state["failed_attempts"] = 0  # the LTV recovered: the failure streak is over
        elif acting and state["disabled"]:
            result["action"] = "disabled"
        elif acting and failures and last is not None and now < last + rules.retry_interval:
            result.update(action="retry_scheduled", next_attempt_at=last + rules.retry_interval)
        elif acting:
            moved = min(required, balance)
            if cap is not None and cap < moved:
                moved = cap  # capped to 0, it is a failed attempt like an empty wallet
            partial = moved < required
            succeeded = moved > 0 and (not partial or rules.partial_is_success)
            state["last_attempt_at"] = iso(now)
            result.update(attempted=True, result="succeeded" if succeeded else "failed")
            if moved > 0:
                action = "partial_top_up" if partial else "top_up"
                result.update(action=action, quantity=moved, record_type=rules.record_type)
            if succeeded:
                state.update(failed_attempts=0, succeeded_before=True)
            else:
                state["failed_attempts"] = failures + 1
                if state["failed_attempts"] >= rules.max_attempts:
                    state["disabled"] = True
                    result["action"] = "disabled" if moved == 0 else result["action"]
                else:
                    result["next_attempt_at"] = now + rules.retry_interval
                    result["action"] = "retry_scheduled" if moved == 0 else result["action"]
        result["next_state"] = FrozenDict(state)
        return result

    def _notification(self, top_up: Mapping[str, Any], ltv_before: Decimal, ltv_after: Decimal) -> str | None:
        """The message for what this decision did; none while waiting or when already disabled."""
        if not top_up["attempted"]:
            return None
        if top_up["result"] == "failed" and top_up["next_state"]["disabled"]:
            key = "disabled"
        elif top_up["action"] in ("top_up", "partial_top_up"):
            key = top_up["action"]
        else:
            key = "failed"
        if top_up["capped_by"] is not None:
            capped_key = {"partial_top_up": "capped_top_up", "failed": "capped_failed"}.get(key)
            if capped_key is not None and capped_key in self.top_up.notifications:
                key = capped_key
        message = self.top_up.notifications[key]
        names = message.names  # only what the template shows is formatted
        values = {"asset": top_up["asset"], "attempts": str(self.top_up.max_attempts)}
        if "quantity" in names:
            values["quantity"] = f"{top_up['quantity']:f}"
        if "ltv_before" in names:
            values["ltv_before"] = _percent(ltv_before)
        if "ltv_after" in names:
            values["ltv_after"] = _percent(ltv_after)
        if "next_attempt_at" in names:
            values["next_attempt_at"] = iso(top_up["next_attempt_at"]) if top_up["next_attempt_at"] else ""
        return message.fill(values)


def _compile_thresholds(
    document: PolicyDocument, ltv_rounding: Rounding, common: Mapping[str, Parameter]
) -> tuple[dict[str, dict[str, Thresholds]], list[Problem]]:
    problems: list[Problem] = []
    loan_types: dict[str, dict[str, Thresholds]] = {}
    names = {"initial": "initial_ltv", "margin_call": "margin_call_ltv", "liquidation": "liquidation_ltv"}
    for loan_type, spec in document.data["loan_types"].items():
        table: dict[str, Thresholds] = {}
        for asset, row in spec["collateral"].items():
            path = ("loan_types", loan_type, "collateral", asset)
            if asset not in document.data["assets"]:
                problems.append(
                    document.problem(
                        path,
                        f"`{asset}` is not defined in `assets`",
                        key=True,
                        suggestion=did_you_mean(asset, document.data["assets"]),
                    )
                )
            if not row["initial"] < row["margin_call"] < row["liquidation"]:
                problems.append(
                    document.problem(
                        path,
                        "expected initial < margin_call < liquidation, got"
                        f" {row['initial']}, {row['margin_call']}, {row['liquidation']}",
                    )
                )
            for key in row:
                problem = places_problem(document, (*path, key), ltv_rounding, "LTVs")
                if problem is not None:
                    problems.append(problem)
            provenance = {
                **common,
                **{names[key]: document.parameter(names[key], (*path, key)) for key in names},
                "collateral_precision": document.parameter("collateral_precision", ("assets", asset, "precision")),
            }
            values = {names[key]: row[key] for key in names}
            table[asset] = Thresholds(
                values=values, provenance=provenance, outcome=FrozenDict({key: row[key] for key in names})
            )
        loan_types[loan_type] = table
    if document.data["default_loan_type"] not in loan_types:
        name = document.data["default_loan_type"]
        problems.append(
            document.problem(
                ("default_loan_type",), f"unknown loan type `{name}`", suggestion=did_you_mean(name, loan_types)
            )
        )
    return loan_types, problems


def _capped_by(
    limit: TransferLimit | None, cap: Decimal, top_up: Mapping[str, Any], wanted: Decimal
) -> FrozenDict | None:
    """The max-collateral limit and band, when they cut an attempt's quantity (`wanted`: needed and held)."""
    if limit is None or not top_up["attempted"] or cap >= wanted:
        return None
    return FrozenDict(
        {
            "rule": "max_collateral",
            "limit": cap,
            "band": limit.band.to_dict() if limit.band is not None else None,
            "ratio": limit.ratio,
            "upper_limit": limit.upper_limit,
            "platform_total": limit.platform_total,
        }
    )


def _step_specs(document: PolicyDocument, ltv_rounding: Rounding, when: Expression) -> dict[str, StepSpec]:
    # the LTV step itself is the kit's rounded ratio (`compile_ratio`)
    return {
        "events": StepSpec(
            name="events", kind="input", description="events applied before evaluating", detail=_events_detail
        ),
        "thresholds": StepSpec(
            name="thresholds",
            kind="lookup",
            description="LTV thresholds of the loan type and collateral asset",
            inputs=("loan_type", "collateral_asset"),
            cites=("initial_ltv", "margin_call_ltv", "liquidation_ltv"),
        ),
        "debt_value": StepSpec(
            name="debt_value", kind="input", description="(principal + interest) x the loan asset's price"
        ),
        "collateral_value": StepSpec(
            name="collateral_value", kind="input", description="collateral quantity x the collateral asset's price"
        ),
        "trigger": StepSpec(
            name="auto_top_up.when",
            kind="rule",
            description="does the auto top-up condition hold?",
            expression=when.source,
            source=document.source(("auto_top_up", "when")),
            path="$.auto_top_up.when",
            inputs=() if when.comparison else when.names,
            comparison=when.comparison,
            roundings={"ltv": ltv_rounding},
        ),
        "top_up": StepSpec(
            name="auto_top_up",
            kind="plan",
            description="auto top-up: state machine, quantity to restore the initial LTV, next state",
            source=document.source(("auto_top_up",)),
            path="$.auto_top_up",
            cites=(
                "quantity_rounding",
                "collateral_precision",
                "retry_interval_hours",
                "max_attempts",
                "partial_top_up",
                "record_type",
                "initial_ltv",
            ),
        ),
    }


def compile_loans(document: PolicyDocument) -> tuple[CompiledLoanPolicy | None, list[Problem]]:
    data = document.data
    ltv = compile_ratio(
        document,
        name="ltv",
        numerator="debt_value",
        denominator="collateral_value",
        rounding_path=("ltv",),
        description="LTV, then rounded for comparison as the policy states",
    )
    ltv_rounding = ltv.rounding
    top = ("auto_top_up",)
    common = {
        name: document.parameter(name, (*top, name))
        for name in ("quantity_rounding", "retry_interval_hours", "max_attempts", "partial_top_up", "record_type")
    }
    common["ltv_rounding"] = document.parameter("ltv_rounding", ("ltv",))
    loan_types, problems = _compile_thresholds(document, ltv_rounding, common)
    roundings = {"ltv": ltv_rounding}
    status_table, found = compile_status_table(document, SCOPE, roundings)
    problems += found
    when, found = expression_at(document, (*top, "when"), SCOPE, ExprType.BOOL)
    problems += found
    templates, found = compile_templates(document, (*top, "notifications"), TEMPLATE_NAMES)
    problems += found
    if problems or status_table is None or when is None:
        return None, problems
    settings = data["auto_top_up"]
    rules = TopUpRules(
        when=when,
        quantity_roundings={
            symbol: rounding_of(int(spec["precision"]), str(settings["quantity_rounding"]))
            for symbol, spec in data["assets"].items()
        },
        retry_interval=timedelta(microseconds=int(settings["retry_interval_hours"] * 3_600_000_000)),
        max_attempts=int(settings["max_attempts"]),
        partial_is_success=settings["partial_top_up"] == "success",
        record_type=settings["record_type"],
        notifications={key: Message.of(template) for key, template in templates.items()},
    )
    compiled = CompiledLoanPolicy(
        ref=document.ref,
        loan_types=loan_types,
        default_loan_type=data["default_loan_type"],
        assets=frozenset(data["assets"]),
        ltv=ltv,
        status_table=status_table,
        top_up=rules,
        steps=_step_specs(document, ltv_rounding, when),
    )
    return compiled, []


def reprice(account: Mapping[str, Any], prices: Mapping[str, Decimal]) -> Mapping[str, Any]:
    """New index prices."""
    return {**account, "prices": {**account["prices"], **prices}}


def advance(account: Mapping[str, Any], outcome: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Move the topped-up collateral, keep the next auto top-up state; liquidation ends the loan."""
    top_up = outcome["top_up"]
    if top_up["status_after"] == "liquidation":
        return None
    asset, moved = top_up["asset"], top_up["quantity"]
    balances = dict(account.get("spot_balances") or {})
    if moved:
        balances[asset] = Decimal(balances.get(asset, 0)) - moved
    settings = dict(account.get("auto_top_up") or {"enabled": False})
    settings["state"] = dict(top_up["next_state"])
    settings.pop("events", None)
    collateral = {**account["collateral"], "quantity": top_up["collateral_after"]}
    if moved and collateral.get("platform_total") is not None:
        collateral["platform_total"] = Decimal(collateral["platform_total"]) + moved  # the platform holds it now
    return {**account, "collateral": collateral, "spot_balances": balances, "auto_top_up": settings}


def summarize(outcome: Mapping[str, Any]) -> dict[str, Any]:
    top_up = outcome["top_up"]
    notes = []
    action = top_up["action"]
    if action in ("top_up", "partial_top_up"):
        notes.append(
            f"{action.replace('_', ' ')} {top_up['quantity']:f} {top_up['asset']}"
            f" -> LTV {_percent(top_up['ltv_after_compared'])}"
        )
    if top_up["result"] == "failed":
        disabled = top_up["next_state"]["disabled"]
        notes.append(
            "attempt failed; auto top-up disabled"
            if disabled
            else f"attempt failed; retry at {iso(top_up['next_attempt_at'])}"
        )
    elif action == "retry_scheduled":
        notes.append(f"waiting; retry at {iso(top_up['next_attempt_at'])}")
    elif action == "disabled":
        notes.append("auto top-up is disabled")
    if top_up["status_after"] == "liquidation":
        notes.append("liquidation")
    return {
        "status": outcome["status"],
        "figure": f"LTV {_percent(outcome['ltv_compared'])}",
        "ltv": outcome["ltv_compared"],
        "top_up": action,
        "quantity": top_up["quantity"],
        "next_state": top_up["next_state"],
        "notes": notes,
    }


def wake_at(outcome: Mapping[str, Any]) -> datetime | None:
    moment: datetime | None = outcome["top_up"]["next_attempt_at"]
    return moment


def assets(account: Mapping[str, Any]) -> frozenset[str]:
    return frozenset((account["loan"]["asset"], account["collateral"]["asset"]))


def _with_event(account: Account, event: Mapping[str, Any]) -> Account:
    settings = dict(account.get("auto_top_up") or {"enabled": False})
    settings["events"] = [*(settings.get("events") or ()), event]
    return {**account, "auto_top_up": settings}


def reset(account: Account, _value: None) -> Account:
    """A reset of auto top-up: the failure streak ends and a disabled auto top-up is enabled again."""
    return _with_event(account, {"type": "reset"})


def manual_top_up(account: Account, value: object) -> Account:
    """A successful manual top-up of `value` collateral, which also ends a failure streak."""
    quantity = parse_decimal(value)
    if quantity is None or quantity <= 0 or not in_range(quantity):
        raise ValueError(f"expected a decimal quantity > 0 (such as 0.001), got {value!r}")
    return _with_event(account, {"type": "manual_top_up", "quantity": quantity})


def check_across(document: PolicyDocument, related: Mapping[str, Sequence[CompiledPolicy]]) -> list[Problem]:
    """Every asset has collateral terms in each collateral version in force while this version is."""
    return coverage_problems(document, ("assets",), related.get(COLLATERAL, ()))


def explain_detail(step: Mapping[str, Any]) -> list[str] | None:
    """The events applied before evaluating, one a line; the max-collateral steps."""
    if step["step"] != "events":
        return explain_step(step)
    return [
        "manual top-up of " + str(event["quantity"]) if event["type"] == "manual_top_up" else str(event["type"])
        for event in step.get("detail") or ()
    ]


def explain_sections(decision: Mapping[str, Any]) -> list[str]:
    """What auto top-up did, what it needed, and the state to send next time."""
    top_up = decision["outcome"]["top_up"]
    state = top_up["next_state"]
    lines = [f"Auto top-up: {top_up['action']}" + ("" if top_up["enabled"] else " (auto top-up is off)")]
    if top_up["triggered"]:
        lines.append(
            f"  needed {top_up['required_quantity']} {top_up['asset']} to restore the initial LTV;"
            f" spot balance {top_up['spot_balance']}; moved {top_up['quantity']}"
        )
        capped = top_up["capped_by"]
        if capped is not None:
            lines.append(
                f"  capped by the platform max-collateral rule: at most {capped['limit']} {top_up['asset']}"
                f" (band {capped['band']['number']}, {capped['band']['range']})"
            )
        lines.append(f"  LTV after: {top_up['ltv_after_compared']} -> status {top_up['status_after']}")
    if top_up["next_attempt_at"]:
        lines.append(f"  next attempt at {top_up['next_attempt_at']}")
    lines.append(
        f"  next state: {state['failed_attempts']} failed attempts, last attempt {state['last_attempt_at'] or 'none'},"
        f" succeeded before: {str(state['succeeded_before']).lower()}, disabled: {str(state['disabled']).lower()}"
    )
    if top_up["notification"]:
        lines.append(f"  notification: {top_up['notification']}")
    return lines


PRODUCT = Product(
    policy_kind="crypto-loan",
    account_kind="crypto-loan",
    policy_schema="crypto-loan.schema.json",
    account_schema="crypto-loan.account.schema.json",
    compile=compile_loans,
    reads=(COLLATERAL,),
    check_across=check_across,
    explain_detail=explain_detail,
    explain_sections=explain_sections,
    operations=(
        Operation(
            name="reset",
            help="reset auto top-up: end a failure streak and enable it again",
            apply=reset,
        ),
        Operation(
            name="manual_top_up",
            argument="QUANTITY",
            help="a successful manual top-up adding QUANTITY to the collateral",
            apply=manual_top_up,
        ),
    ),
    simulation=Simulation(reprice=reprice, advance=advance, summarize=summarize, assets=assets, wake_at=wake_at),
)

__all__ = ["PRODUCT", "CompiledLoanPolicy", "check_across", "compile_loans"]
