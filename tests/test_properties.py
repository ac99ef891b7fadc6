"""Property tests over every status, liquidation method and auto top-up action, the explanation and the clock.

The strategies draw a target first (margin: status, and the liquidation method
at liquidation; loans: status and auto top-up action) and then build an
account that must land on it, with the margin level or LTV derived from the
thresholds of the loaded policy.  Every test asserts the landing, so a run
covers every target and a strategy that drifts off its target fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal, localcontext
from functools import cache
from io import StringIO
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine import Engine
from policy_engine.cli import main
from policy_engine.decision import Decision
from policy_engine.explain import explain
from policy_engine.products.loans import CompiledLoanPolicy
from policy_engine.products.margin import CompiledMarginPolicy

from .conftest import AS_OF, POLICIES

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)
"""AS_OF as an instant: loan states are built relative to it."""
Q8 = D("0.00000001")
LEVEL_STEP = D("0.0001")
"""Spacing of the margin levels aimed at: coarse enough that rounding the debt to 8 places cannot cross it."""
SLACK = D("1.001")
"""Relative room kept between a liquidation's liquid proceeds and the amount they must (not) cover."""
EXACT = Context(prec=60)
"""Room for the strategies' own exact arithmetic (the engine computes at 28 digits)."""

STATUSES = ("ok", "margin_call", "liquidation")
METHODS = ("regular", "takeover", "regular_then_takeover")
MARGIN_TARGETS: tuple[tuple[str, str | None], ...] = (
    ("ok", None),
    ("margin_call", None),
    *(("liquidation", method) for method in METHODS),
)
ACTIONS = ("top_up", "partial_top_up", "none", "retry_scheduled", "disabled")
# The bundled auto top-up condition (`ltv >= margin_call_ltv and ltv < liquidation_ltv`) holds exactly
# at margin_call, so only a margin call can top up, retry or report disabled; `none` happens at every status.
LOAN_TARGETS: tuple[tuple[str, str], ...] = (
    ("ok", "none"),
    ("liquidation", "none"),
    *(("margin_call", action) for action in ACTIONS),
)
SEVERITY = {"ok": 0, "margin_call": 1, "liquidation": 2}
LOAN_OPERATIONS = ("reset", "manual_top_up")
"""The loan operations the strategies draw; a test checks this is every one the product offers."""
LOAN_PRICES = tuple(D(p) for p in ("1", "0.5", "2", "0.8", "1.25", "1000"))
"""Loan asset prices that divide exactly, so the LTV aimed at is the LTV computed."""
SOURCE = re.compile(r"[\w./-]+\.yaml:\d+")


def text(number: Decimal) -> str:
    """A decimal as account JSON writes it: plain notation, never `1E-8`."""
    return format(number, "f")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@cache
def bundled() -> tuple[CompiledMarginPolicy, CompiledLoanPolicy]:
    """The compiled bundled policies in force at AS_OF: the strategies read thresholds and rules here."""
    engine = policy_engine.load(POLICIES)
    margin = engine.policy_for("spot-margin", AS_OF)
    loans = engine.policy_for("crypto-loan", AS_OF)
    assert isinstance(margin, CompiledMarginPolicy)
    assert isinstance(loans, CompiledLoanPolicy)
    return margin, loans


# ---------------------------------------------------------------------------------------------------------------
# Margin accounts

Line = tuple[str, Decimal, Decimal]
"""(asset, quantity, price)."""

VALUES = st.decimals(min_value=D(1000), max_value=D(10**7), places=2)
ASSET_PRICES = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)
DEBT_PRICES = st.decimals(min_value=D("0.5"), max_value=D(2), places=4)
SHARES = st.decimals(min_value=D("0.01"), max_value=D("0.99"), places=2)
FACTORS = st.decimals(min_value=D("0.5"), max_value=D("1.5"), places=2)
INTEREST_SHARES = st.decimals(min_value=D(0), max_value=D("0.2"), places=2)
EXTRA_RATIOS = st.decimals(min_value=D("0.001"), max_value=D(10), places=3)


@dataclass(frozen=True)
class MarginCase:
    account: dict[str, Any]
    status: str
    method: str | None
    level: Decimal | None
    """The margin level aimed at (the computed one is at most this, by less than LEVEL_STEP); None: no debt."""


@dataclass(frozen=True)
class MarginSpace:
    """The bundled margin policy's choices, as strategies built once."""

    tiers: st.SearchStrategy[tuple[str, Decimal]]
    liquid: tuple[str, ...]
    illiquid: tuple[str, ...]
    any_assets: st.SearchStrategy[list[str]]
    liquid_assets: st.SearchStrategy[list[str]]
    illiquid_assets: st.SearchStrategy[list[str]]
    owed: st.SearchStrategy[list[str]]


@cache
def margin_space() -> MarginSpace:
    policy, _ = bundled()
    liquid = tuple(sorted(asset for asset, spec in policy.assets.items() if spec.liquid))
    illiquid = tuple(sorted(asset for asset, spec in policy.assets.items() if not spec.liquid))
    every = liquid + illiquid
    return MarginSpace(
        tiers=st.sampled_from([(mode, lev) for mode in sorted(policy.modes) for lev in policy.modes[mode].tiers]),
        liquid=liquid,
        illiquid=illiquid,
        any_assets=st.lists(st.sampled_from(every), min_size=1, max_size=4, unique=True),
        liquid_assets=st.lists(st.sampled_from(liquid), min_size=1, max_size=3, unique=True),
        illiquid_assets=st.lists(st.sampled_from(illiquid), min_size=1, unique=True),
        owed=st.lists(st.sampled_from(every), min_size=1, max_size=2, unique=True),
    )


@cache
def margin_levels(mode: str, leverage: Decimal, status: str) -> st.SearchStrategy[Decimal]:
    """Margin levels inside the status's band of the tier, multiples of LEVEL_STEP from its thresholds.

    The inclusive end of each band (`<=` in the bundled rules) is reachable: exactly the liquidation
    level for liquidation, exactly the call level for a margin call.
    """
    thresholds = bundled()[0].modes[mode].tiers[leverage].thresholds
    call, liquidation = thresholds["margin_call"], thresholds["liquidation"]
    if status == "ok":
        return st.integers(1, int(call * 2 / LEVEL_STEP)).map(lambda k: call + LEVEL_STEP * k)
    if status == "margin_call":
        steps = int(((call - liquidation) / LEVEL_STEP).to_integral_value(ROUND_CEILING))
        return st.integers(1, steps).map(lambda k: min(liquidation + LEVEL_STEP * k, call))
    return st.integers(0, int(liquidation * D("0.7") / LEVEL_STEP)).map(lambda k: liquidation - LEVEL_STEP * k)


def _holdings(draw: st.DrawFn, assets: Sequence[str]) -> list[Line]:
    """A line per asset, each worth about a drawn value of at least 1,000."""
    lines = []
    for asset in assets:
        price = draw(ASSET_PRICES)
        lines.append((asset, (draw(VALUES) / price).quantize(Q8, ROUND_HALF_EVEN), price))
    return lines


def _value(lines: Sequence[Line]) -> Decimal:
    return sum((quantity * price for _, quantity, price in lines), D(0))


def _worth(draw: st.DrawFn, assets: Sequence[str], worth: Decimal, rounding: str) -> list[Line]:
    """Lines of `assets` together worth about `worth` (quantities rounded as given), in drawn shares."""
    lines = []
    left = worth
    for index, asset in enumerate(assets):
        share = left if index == len(assets) - 1 else left * draw(SHARES)
        price = draw(ASSET_PRICES)
        quantity = (share / price).quantize(Q8, rounding)
        if quantity > 0:
            lines.append((asset, quantity, price))
        left -= share
    return lines


def _liquidated_holdings(draw: st.DrawFn, method: str, level: Decimal, mode: str, leverage: Decimal) -> list[Line]:
    """Collateral whose liquidation at `level` must take `method`.

    Debt = total value / level; the liquid part (sold at its mark price) must cover debt and fee with
    room (regular), or fall short of the debt or of debt + fee (regular then takeover).
    """
    space = margin_space()
    if method == "takeover":
        return _holdings(draw, draw(space.illiquid_assets))
    tier = bundled()[0].modes[mode].tiers[leverage]
    fee_rate = tier.values["fee_rate"]
    holdings = _holdings(draw, draw(space.liquid_assets))
    liquid = _value(holdings)
    illiquid = draw(space.illiquid_assets)
    with localcontext(EXACT):
        if method == "regular":
            # illiquid collateral may be held too while liquid >= SLACK x (1 + fee rate) x debt
            room = level / ((1 + fee_rate) * SLACK) - 1
            if room > 0 and draw(st.booleans()):
                holdings += _worth(draw, illiquid, liquid * room * draw(SHARES), ROUND_DOWN)
            return holdings
        # r = illiquid / liquid value, so debt = liquid x (1 + r) / level
        for_fee = 1 + fee_rate > SLACK * SLACK and level > SLACK and tier.fee_base == "liabilities"
        if for_fee and draw(st.booleans()):
            # SLACK x debt <= liquid <= (1 + fee rate) x debt / SLACK: the debt is paid, the fee is not
            low = max(level * SLACK / (1 + fee_rate) - 1, D(0))
            high = level / SLACK - 1
            ratio = low + (high - low) * draw(SHARES)
            event("regular_then_takeover: liquid collateral pays the debt, not the fee")
        else:
            ratio = max(level * SLACK - 1, D(0)) + draw(EXTRA_RATIOS)  # liquid < debt / SLACK
        return holdings + _worth(draw, illiquid, liquid * ratio, ROUND_CEILING)


def _liabilities(draw: st.DrawFn, debt: Decimal, prices: Mapping[str, Decimal]) -> list[dict[str, str]]:
    """One or two liabilities worth `debt` or a little more (quantities rounded up: the level only falls).

    An asset that is also held has the holding's price.
    """
    owed = draw(margin_space().owed)
    first = draw(SHARES) if len(owed) > 1 else D(1)
    lines = []
    with localcontext(EXACT):
        for index, asset in enumerate(owed):
            share = debt * first if index == 0 else debt * (1 - first)
            price = prices.get(asset) or draw(DEBT_PRICES)
            quantity = max((share / price).quantize(Q8, ROUND_CEILING), Q8)
            interest = (quantity * draw(INTEREST_SHARES)).quantize(Q8, ROUND_DOWN)
            lines.append(
                {
                    "asset": asset,
                    "principal": text(quantity - interest),
                    "interest": text(interest),
                    "price": text(price),
                }
            )
    return lines


@st.composite
def margin_cases(draw: st.DrawFn, target: tuple[str, str | None] | None = None) -> MarginCase:
    """A spot-margin account that must land on the target drawn first (or given)."""
    space = margin_space()
    status, method = target if target is not None else draw(st.sampled_from(MARGIN_TARGETS))
    mode, leverage = draw(space.tiers)
    level = draw(margin_levels(mode, leverage, status))
    aimed: Decimal | None = level
    execution: dict[str, str] = {}
    if method is None:
        holdings = _holdings(draw, draw(space.any_assets))
        for asset, _, price in holdings[: draw(st.integers(0, 2))]:
            execution[asset] = text((price * draw(FACTORS)).quantize(Q8))  # no effect unless liquidated
    else:
        holdings = _liquidated_holdings(draw, method, level, mode, leverage)
        for asset, _, price in holdings:
            if asset in space.illiquid:
                execution[asset] = text((price * draw(FACTORS)).quantize(Q8))
    liabilities: list[dict[str, str]] = []
    if status == "ok" and draw(st.booleans()):
        aimed = None  # no debt: the margin level is undefined and the status is the default
        event("margin: ok with no debt")
        if draw(st.booleans()):
            liabilities.append({"asset": space.liquid[0], "principal": "0", "interest": "0", "price": "1"})
    else:
        with localcontext(EXACT):
            liabilities = _liabilities(draw, _value(holdings) / level, {a: p for a, _, p in holdings})
    account: dict[str, Any] = {
        "kind": "spot-margin",
        "account_id": draw(st.sampled_from(["m-1", "user-c", "acct 7"])),
        "mode": mode,
        "leverage": int(leverage),
        "assets": [{"asset": a, "quantity": text(q), "price": text(p)} for a, q, p in holdings],
        "liabilities": liabilities,
    }
    if execution:
        account["execution_prices"] = execution
    return MarginCase(account=account, status=status, method=method, level=aimed)


def assert_margin_landed(case: MarginCase, decision: Decision) -> None:
    """The decision is the target's: status, liquidation method, and a margin level just under the one aimed at."""
    outcome = decision.outcome
    plan = outcome["liquidation"]
    assert (decision.status, plan["method"] if plan else None) == (case.status, case.method)
    tier = bundled()[0].modes[case.account["mode"]].tiers[case.account["leverage"]]
    assert outcome["thresholds"] == tier.thresholds
    if case.level is None:
        assert (outcome["margin_level"], outcome["rule"]) == (None, None)
    else:
        assert case.level - LEVEL_STEP < outcome["margin_level_compared"] <= case.level
    event(f"margin: {case.status} {case.method or ''}".rstrip())


# ---------------------------------------------------------------------------------------------------------------
# Loan accounts


@dataclass(frozen=True)
class Op:
    """One drawn operation: its name, its value (None or a quantity) and how it is spelled."""

    name: str
    value: Decimal | None
    spelling: str
    """`text` ("name" / "name=value"), `pair` ((name, Decimal)), `pair_text` ((name, "value"))."""

    def spec(self) -> str | tuple[str, Any]:
        if self.spelling == "pair":
            return (self.name, self.value)
        if self.spelling == "pair_text":
            return (self.name, None if self.value is None else text(self.value))
        return self.shown()

    def shown(self) -> str:
        """`name` or `name=value`: how the CLI's --op and the explanation's operations line write it."""
        return self.name if self.value is None else f"{self.name}={text(self.value)}"

    def recorded(self) -> tuple[str, str | None]:
        """The (name, value) the decision records, however it was spelled: the value as text."""
        return (self.name, None if self.value is None else text(self.value))

    def cli(self, flag: str) -> list[str]:
        if self.value is None:
            return [flag, self.name]
        separator = ":" if flag == "--event" else "="
        return [flag, f"{self.name}{separator}{text(self.value)}"]


@dataclass(frozen=True)
class LoanCase:
    account: dict[str, Any]
    status: str
    action: str
    ltv: Decimal
    operations: tuple[Op, ...]
    events: tuple[str, ...]
    """The applied events as the explanation lists them: the file's, then the operations'."""
    flags: tuple[str, ...]
    """`--op` or `--event`, one per operation, for the CLI."""
    how: str
    """Which way the target is reached (for the statistics)."""

    def specs(self) -> tuple[str | tuple[str, Any], ...]:
        return tuple(op.spec() for op in self.operations)


Event = tuple[str, Decimal | None]
EVENTS: st.SearchStrategy[list[Event]] = st.one_of(
    st.just([]),
    st.lists(
        st.one_of(
            st.just(("reset", None)),
            st.tuples(st.just("manual_top_up"), st.decimals(min_value=Q8, max_value=D(10), places=8)),
        ),
        min_size=1,
        max_size=2,
    ),
)
SPELLINGS = st.sampled_from(["text", "pair", "pair_text"])
FLAGS = st.sampled_from(["--op", "--event"])
COLLATERAL = st.decimals(min_value=D("0.001"), max_value=D(100), places=8)
COLLATERAL_PRICES = st.decimals(min_value=D(1), max_value=D(200000), places=2)
BALANCES = st.decimals(min_value=D(0), max_value=D(100), places=8)
EXTRA_BALANCES = st.one_of(st.just(D(0)), st.decimals(min_value=Q8, max_value=D(100), places=8))


@dataclass(frozen=True)
class LoanSpace:
    """The bundled loan policy's choices and auto top-up states, as strategies built once."""

    collateral: st.SearchStrategy[tuple[str, str]]
    """(loan type, collateral asset)."""
    fresh: st.SearchStrategy[dict[str, Any] | None]
    streak_due: st.SearchStrategy[dict[str, Any]]
    """In a failure streak short of max_attempts, the retry due."""
    short_streak_due: st.SearchStrategy[dict[str, Any]]
    """As streak_due, with room for one more failure before max_attempts."""
    waiting: st.SearchStrategy[dict[str, Any]]
    """In a failure streak short of max_attempts, the retry not yet due."""
    disabled_flag: st.SearchStrategy[dict[str, Any]]
    over_count: st.SearchStrategy[dict[str, Any]]
    last_failure: st.SearchStrategy[dict[str, Any]]
    """max_attempts - 1 failures, the retry due: the next failure disables."""
    anything: st.SearchStrategy[dict[str, Any] | None]


@cache
def loan_space() -> LoanSpace:
    _, policy = bundled()
    most = policy.top_up.max_attempts
    interval = policy.top_up.retry_interval // timedelta(seconds=1)
    due = st.integers(interval, interval + 30 * 86400).map(lambda s: NOW - timedelta(seconds=s))
    not_due = st.integers(0, interval - 1).map(lambda s: NOW - timedelta(seconds=s))
    any_time = st.one_of(st.none(), due, not_due)

    def state(failures: st.SearchStrategy[int], last: st.SearchStrategy[Any], disabled: bool) -> Any:
        return st.builds(
            lambda f, t, s: {
                "failed_attempts": f,
                "last_attempt_at": None if t is None else iso(t),
                "succeeded_before": s,
                "disabled": disabled,
            },
            failures,
            last,
            st.booleans(),
        )

    fresh = st.one_of(st.none(), state(st.just(0), any_time, False))
    streak_due = state(st.integers(1, most - 1), st.one_of(st.none(), due), False)
    waiting = state(st.integers(1, most - 1), not_due, False)
    disabled_flag = state(st.integers(0, most + 3), any_time, True)
    over_count = state(st.integers(most, most + 3), any_time, False)
    return LoanSpace(
        collateral=st.sampled_from(
            [(lt, asset) for lt in sorted(policy.loan_types) for asset in policy.loan_types[lt]]
        ),
        fresh=fresh,
        streak_due=streak_due,
        short_streak_due=state(st.integers(1, most - 2), st.one_of(st.none(), due), False),
        waiting=waiting,
        disabled_flag=disabled_flag,
        over_count=over_count,
        last_failure=state(st.just(most - 1), st.one_of(st.none(), due), False),
        anything=st.one_of(fresh, streak_due, waiting, disabled_flag, over_count),
    )


@cache
def loan_ltvs(loan_type: str, asset: str, status: str) -> st.SearchStrategy[Decimal]:
    """LTVs inside the status's band, at the policy's LTV precision; the inclusive (`>=`) ends are reachable."""
    _, policy = bundled()
    values = policy.loan_types[loan_type][asset].values
    call, liquidation = values["margin_call_ltv"], values["liquidation_ltv"]
    step = policy.ltv.rounding.quantum
    if status == "ok":
        return st.integers(1, int((call - D("0.05")) / step)).map(lambda k: call - step * k)
    if status == "margin_call":
        return st.integers(0, int((liquidation - call) / step) - 1).map(lambda k: call + step * k)
    return st.integers(0, int(liquidation / step)).map(lambda k: liquidation + step * k)


@dataclass(frozen=True)
class Plan:
    """How a loan's auto top-up reaches the action aimed at."""

    how: str
    states: st.SearchStrategy[dict[str, Any] | None]
    enabled: bool = True
    balance: str = "any"
    """`full` (covers the need), `partial` (some, not all), `zero` or `any`."""
    events: bool = True
    """Whether events may come first: each one ends a failure streak and re-enables auto top-up."""


def _plan(draw: st.DrawFn, status: str, action: str) -> Plan:
    space = loan_space()
    if action == "none":
        if status == "margin_call":
            return Plan("off", space.anything, enabled=False)
        return Plan("not triggered", space.anything, enabled=draw(st.booleans()))
    if action in ("top_up", "partial_top_up"):
        balance = "full" if action == "top_up" else "partial"
        if draw(st.booleans()):
            return Plan("after a streak", space.streak_due, balance=balance)
        return Plan("fresh", space.fresh, balance=balance)
    if action == "retry_scheduled":
        if draw(st.booleans()):
            return Plan("waiting", space.waiting, events=False)
        return Plan("failed attempt", st.one_of(space.fresh, space.short_streak_due), balance="zero")
    how = draw(st.sampled_from(["flag", "over-count", "last failure"]))
    if how == "flag":
        return Plan(how, space.disabled_flag, events=False)
    if how == "over-count":
        return Plan(how, space.over_count, events=False)
    return Plan(how, space.last_failure, balance="zero", events=False)


def _spot(draw: st.DrawFn, balance: str, asset: str, loan_asset: str, required: Decimal) -> dict[str, str] | None:
    """Spot balances: enough for the `required` collateral, part of it, none of it, or anything."""
    if balance == "full":
        return {asset: text(required.quantize(Q8, ROUND_CEILING) + draw(EXTRA_BALANCES))}
    if balance == "partial":
        return {asset: text(max((required * draw(SHARES)).quantize(Q8, ROUND_DOWN), Q8))}
    if balance == "zero":
        return draw(st.sampled_from([None, {asset: "0"}, {loan_asset: "5"}]))
    return draw(st.one_of(st.none(), BALANCES.map(lambda b: {asset: text(b)})))


@st.composite
def loan_cases(draw: st.DrawFn, target: tuple[str, str] | None = None) -> LoanCase:
    """A crypto loan (with events in the file and operations) that must land on the target drawn first."""
    _, policy = bundled()
    space = loan_space()
    status, action = target if target is not None else draw(st.sampled_from(LOAN_TARGETS))
    loan_type, asset = draw(space.collateral)
    loan_asset = draw(st.sampled_from(sorted(policy.assets - {asset})))
    ltv = draw(loan_ltvs(loan_type, asset, status))
    plan = _plan(draw, status, action)
    file_events = draw(EVENTS) if plan.events else []
    drawn_ops = draw(EVENTS) if plan.events else []
    states, how = plan.states, plan.how
    if (file_events or drawn_ops) and action != "none":
        states, how = space.anything, how + " after events"  # the events end any streak first
    state = draw(states)

    base = draw(COLLATERAL)
    quantity = base + sum((q for _, q in file_events + drawn_ops if q is not None), D(0))
    price = draw(COLLATERAL_PRICES)
    loan_price = draw(st.sampled_from(LOAN_PRICES))
    with localcontext(EXACT):
        debt = ltv * quantity * price / loan_price  # exact: the loan prices divide evenly
        interest = (debt * draw(INTEREST_SHARES)).quantize(Q8, ROUND_DOWN)
        initial = policy.loan_types[loan_type][asset].values["initial_ltv"]
        required = quantity * ltv / initial - quantity  # what restores the initial LTV, before rounding
    account: dict[str, Any] = {
        "kind": "crypto-loan",
        "account_id": draw(st.sampled_from(["loan-1", "l 2"])),
        "loan": {"asset": loan_asset, "principal": text(debt - interest), "interest": text(interest)},
        "collateral": {"asset": asset, "quantity": text(base)},
        "prices": {asset: text(price), loan_asset: text(loan_price)},
    }
    if loan_type != policy.default_loan_type or draw(st.booleans()):
        account["loan_type"] = loan_type
    spot = _spot(draw, plan.balance, asset, loan_asset, required)
    if spot is not None:
        account["spot_balances"] = spot
    top_up: dict[str, Any] = {"enabled": plan.enabled}
    if state is not None:
        top_up["state"] = state
    if file_events:
        top_up["events"] = [
            {"type": "reset"} if q is None else {"type": kind, "quantity": text(q)} for kind, q in file_events
        ]
    if plan.enabled or len(top_up) > 1 or draw(st.booleans()):
        account["auto_top_up"] = top_up
    operations = tuple(Op(name, value, draw(SPELLINGS)) for name, value in drawn_ops)
    return LoanCase(
        account=account,
        status=status,
        action=action,
        ltv=ltv,
        operations=operations,
        events=tuple("reset" if q is None else f"manual top-up of {text(q)}" for _, q in file_events + drawn_ops),
        flags=tuple(draw(FLAGS) for _ in operations),
        how=how,
    )


def assert_loan_landed(case: LoanCase, decision: Decision) -> None:
    """The decision is the target's: status, top-up action, the LTV aimed at, the operations applied."""
    outcome = decision.outcome
    top_up = outcome["top_up"]
    assert (decision.status, top_up["action"]) == (case.status, case.action)
    assert (outcome["ltv"], outcome["ltv_compared"]) == (case.ltv, case.ltv)
    assert top_up["triggered"] == (case.status == "margin_call")
    assert decision.operations == tuple(op.recorded() for op in case.operations)
    event(f"loan: {case.status} {case.action} ({case.how})")


# ---------------------------------------------------------------------------------------------------------------
# The explanation


def _sources(value: Any) -> set[str]:
    """Every `source` in a trace, however deep."""
    if isinstance(value, Mapping):
        found = {value["source"]} if isinstance(value.get("source"), str) else set()
        for item in value.values():
            found |= _sources(item)
        return found
    found = set()
    if isinstance(value, list):
        for item in value:
            found |= _sources(item)
    return found


def _heads(why: Sequence[str]) -> list[str]:
    """The first line of each step in the `Why:` block (indented two spaces; details indent six)."""
    assert all(line.startswith("  ") for line in why)
    assert all(line.startswith("      ") for line in why if line.startswith("   "))
    return [line[2:] for line in why if not line.startswith("   ")]


def assert_explanation_well_formed(text_: str, decision: Mapping[str, Any]) -> None:
    """The explanation of a decision dict names it, shows each step and cited line, and the product's section."""
    lines = text_.splitlines()
    outcome, account, policy = decision["outcome"], decision["account"], decision["policy"]
    assert text_.endswith("\n")
    assert lines[0] == f"Account {account['id']} ({account['kind']}): {outcome['status'].upper()}"
    sha = policy["sha256"][:12]
    assert lines[1] == f"Policy {policy['id']} version {policy['version']} ({policy['file']}, sha256 {sha})"
    why_at = lines.index("Why:")
    header = lines[2:why_at]
    operations = decision["operations"]
    expected_header = [
        f"Also read: {ref['kind']} {ref['id']} version {ref['version']} ({ref['file']}, sha256 {ref['sha256'][:12]})"
        for ref in decision["related_policies"]
    ]
    expected_header.append(f"As of {decision['as_of']}")
    if operations:
        shown = ", ".join(op["name"] if op["value"] is None else f"{op['name']}={op['value']}" for op in operations)
        expected_header.append(f"Operations applied first: {shown}")
    if outcome.get("rule"):
        notification = f"; notification: {outcome['notification']}" if outcome.get("notification") else ""
        expected_header.append(f"Decided by rule `{outcome['rule']}`{notification}")
    assert header == [*expected_header, ""]

    # One head line per trace step, in order, naming the step; a rule's verdict is the trace's.
    rest = lines[why_at + 1 :]
    end = rest.index("") if "" in rest else len(rest)
    why, sections = rest[:end], rest[end + 1 :]
    trace = decision["trace"]
    heads = _heads(why)
    assert len(heads) == len(trace)
    for head, step in zip(heads, trace, strict=True):
        if step["kind"] == "rule":
            verdict = step["comparison"]["result"] if "comparison" in step else step["value"]
            assert head.startswith(f"rule {step['step'].removeprefix('rule:')}: ")
            assert head.endswith(f" {'holds' if verdict else 'does not hold'}  [{step['source']}]")
        else:
            assert head.startswith(step["step"])
        if step["step"] == "status":
            assert head.startswith(f"status = {outcome['status']}")
    # Every cited YAML line appears, each parameter with its path.
    cited = _sources(trace)
    assert cited <= set(SOURCE.findall(text_))
    for step in trace:
        for parameter in step.get("parameters", []):
            assert f"= {parameter['value']}  [{parameter['source']} {parameter['path']}]" in text_
    # The text cites no line that the trace does not.
    assert set(SOURCE.findall(text_)) <= _sources(trace)

    if account["kind"] == "spot-margin":
        _assert_margin_text(why, sections, decision)
    else:
        _assert_loan_text(why, sections, decision)


def _assert_margin_text(why: Sequence[str], sections: Sequence[str], decision: Mapping[str, Any]) -> None:
    outcome = decision["outcome"]
    trace = {step["step"]: step for step in decision["trace"]}
    for name in ("total_asset_value", "total_liability_value"):
        # the lines behind each total, one per asset or liability
        at = why.index(f"  {name} = {trace[name]['value']}")
        lines = [f"      {d['asset']}: {d['quantity']} x {d['price']} = {d['value']}" for d in trace[name]["detail"]]
        assert list(why[at + 1 : at + 1 + len(lines)]) == lines
    assert not any(line.startswith("Auto top-up:") for line in sections)
    if outcome["collateral_value"] is not None:
        # the assets' values after haircuts come first, one line per asset, then the totals
        end = sections.index("") if "" in sections else len(sections)
        collateral, sections = sections[:end], sections[end + 1 :]
        haircuts = [step for step in decision["trace"] if step["step"].startswith("collateral_value:")]
        assert collateral[0] == "Collateral after haircuts:"
        assert collateral[1:-1] == [
            f"  {step['step'].partition(':')[2]}: {next(iter(step['inputs'].values()))} counts {step['value']}"
            for step in haircuts
        ]
        assert collateral[-1].startswith(f"  collateral value {outcome['collateral_value']} of total asset value")
    plan = outcome["liquidation"]
    if outcome["status"] != "liquidation":
        assert plan is None
        assert sections == []
        return
    events = [e["event"] for e in plan["steps"]]
    returned = ", ".join(f"{item['quantity']} {item['asset']}" for item in plan["returned"]) or "nothing"
    assert sections[0] == f"Liquidation ({plan['method']}):"
    assert sections[-1] == f"  returned to the user: {returned}"
    assert sum(line.startswith("  sell ") for line in sections) == events.count("regular_sale")
    assert sum(line.startswith("  takeover of ") for line in sections) == events.count("takeover")
    assert sum(line.startswith("  repay ") for line in sections) == events.count("repay")
    assert sum(" paid from takeover cash; cash left " in line for line in sections) == events.count("fee")
    assert (f"  debt not covered: {plan['debt_remaining']}" in sections) == (D(plan["debt_remaining"]) != 0)
    fee = f"  fee: {plan['fee_rate']} x {plan['fee_base']} {plan['fee_base_value']} = {plan['fee_value']}"
    assert sum(line.startswith(fee) for line in sections) == 1
    assert len(sections) == 1 + len(events) - 1 + 1 + (D(plan["debt_remaining"]) != 0) + 1


def _assert_loan_text(why: Sequence[str], sections: Sequence[str], decision: Mapping[str, Any]) -> None:
    top_up = decision["outcome"]["top_up"]
    state = top_up["next_state"]
    trace = decision["trace"]
    applied = trace[0]["detail"] if trace[0]["step"] == "events" else []
    if applied:
        # the events applied before evaluating: the file's, then the operations'
        at = why.index(f"  events = {len(applied)}")
        shown = [
            f"      manual top-up of {e['quantity']}" if e["type"] == "manual_top_up" else f"      {e['type']}"
            for e in applied
        ]
        assert list(why[at + 1 : at + 1 + len(applied)]) == shown
    assert not any(line.startswith("Liquidation (") for line in sections)
    assert sections[0] == f"Auto top-up: {top_up['action']}" + ("" if top_up["enabled"] else " (auto top-up is off)")
    needed = [line for line in sections if line.startswith("  needed ")]
    assert len(needed) == (1 if top_up["triggered"] else 0)
    if top_up["triggered"]:
        assert needed[0] == (
            f"  needed {top_up['required_quantity']} {top_up['asset']} to restore the initial LTV;"
            f" spot balance {top_up['spot_balance']}; moved {top_up['quantity']}"
        )
        assert f"  LTV after: {top_up['ltv_after_compared']} -> status {top_up['status_after']}" in sections
    assert (f"  next attempt at {top_up['next_attempt_at']}" in sections) == (top_up["next_attempt_at"] is not None)
    (next_state,) = [line for line in sections if line.startswith("  next state: ")]
    assert next_state == (
        f"  next state: {state['failed_attempts']} failed attempts, last attempt {state['last_attempt_at'] or 'none'},"
        f" succeeded before: {str(state['succeeded_before']).lower()}, disabled: {str(state['disabled']).lower()}"
    )
    notification = top_up["notification"]
    assert (f"  notification: {notification}" in sections) == (notification is not None)
    assert sum(line.startswith("  notification: ") for line in sections) == (notification is not None)


def explained(engine: Engine, decision: Decision) -> tuple[str, dict[str, Any]]:
    plain: dict[str, Any] = json.loads(decision.to_json())
    return explain(plain, engine.product_for(decision.account)), plain


def _expected_operations(case: LoanCase) -> list[dict[str, Any]]:
    return [{"name": op.name, "value": None if op.value is None else text(op.value)} for op in case.operations]


@settings(max_examples=150, deadline=None)
@given(case=margin_cases())
def test_margin_explanation_is_well_formed(engine: Engine, case: MarginCase) -> None:
    """Every margin decision explains: account and STATUS first, every step and cited line, the plan iff liquidated."""
    decision = engine.evaluate(case.account, AS_OF)
    assert_margin_landed(case, decision)
    rendered, plain = explained(engine, decision)
    assert plain["operations"] == []
    assert_explanation_well_formed(rendered, plain)


@settings(max_examples=150, deadline=None)
@given(case=loan_cases())
def test_loan_explanation_is_well_formed(engine: Engine, case: LoanCase) -> None:
    """Every loan decision explains: events and operations applied, every step and cited line, the auto top-up."""
    decision = engine.evaluate(case.account, AS_OF, operations=case.specs())
    assert_loan_landed(case, decision)
    rendered, plain = explained(engine, decision)
    assert plain["operations"] == _expected_operations(case)
    if case.operations:
        assert f"Operations applied first: {', '.join(op.shown() for op in case.operations)}" in rendered
    applied = plain["trace"][0]["detail"] if plain["trace"][0]["step"] == "events" else []
    assert (
        tuple(f"manual top-up of {e['quantity']}" if e["type"] == "manual_top_up" else e["type"] for e in applied)
        == case.events
    )
    assert_explanation_well_formed(rendered, plain)


@pytest.mark.parametrize("kind", ["spot-margin", "crypto-loan"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_cli_text_is_the_library_explanation(engine: Engine, kind: str, data: st.DataObject) -> None:
    """`evaluate - --format text` (with --op/--event) prints exactly the explanation of the library's decision."""
    operations: tuple[Op, ...] = ()
    flags: list[str] = []
    if kind == "spot-margin":
        margin = data.draw(margin_cases())
        account = margin.account
    else:
        loan = data.draw(loan_cases())
        account, operations = loan.account, loan.operations
        for op, flag in zip(operations, loan.flags, strict=True):
            flags += op.cli(flag)
    stdout, stderr = StringIO(), StringIO()
    argv = ["evaluate", "-", "--format", "text", "--as-of", AS_OF, "--policies", str(POLICIES), *flags]
    code = main(argv, stdin=StringIO(json.dumps(account)), stdout=stdout, stderr=stderr)
    assert (code, stderr.getvalue()) == (0, "")
    decision = engine.evaluate(account, AS_OF, operations=[op.shown() for op in operations])
    rendered, plain = explained(engine, decision)
    assert stdout.getvalue() == rendered
    assert_explanation_well_formed(stdout.getvalue(), plain)


DERIVED_CASES = [
    {
        "kind": "spot-margin",
        "account_id": "a",
        "mode": "cross_classic",
        "leverage": 5,
        "assets": [{"asset": "BTC", "quantity": "10", "price": "44000"}],
        "liabilities": [{"asset": "USDC", "principal": "400000", "interest": "0", "price": "1"}],
    },
    {
        "kind": "crypto-loan",
        "account_id": "l",
        "loan": {"asset": "USDT", "principal": "100", "interest": "0"},
        "collateral": {"asset": "BTC", "quantity": "0.01329077"},
        "prices": {"BTC": "9405.02319", "USDT": "1"},
    },
]


@pytest.mark.parametrize("account", DERIVED_CASES, ids=["margin", "loan"])
def test_explanation_cites_derived_figures(engine: Engine, account: dict[str, Any]) -> None:
    """The YAML line of every derived figure in the trace (margin level, LTV, `derived`) appears in the text."""
    rendered, plain = explained(engine, engine.evaluate(account, AS_OF))
    assert_explanation_well_formed(rendered, plain)


@pytest.mark.parametrize("target", MARGIN_TARGETS, ids=lambda t: " ".join(filter(None, t)))
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_margin_strategy_lands_on_every_target(
    engine: Engine, target: tuple[str, str | None], data: st.DataObject
) -> None:
    """For each status and liquidation method, the accounts built for it are decided so."""
    case = data.draw(margin_cases(target))
    assert (case.status, case.method) == target
    assert_margin_landed(case, engine.evaluate(case.account, AS_OF))


@pytest.mark.parametrize("target", LOAN_TARGETS, ids=" ".join)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_loan_strategy_lands_on_every_target(engine: Engine, target: tuple[str, str], data: st.DataObject) -> None:
    """For each status and auto top-up action, the loans built for it are decided so."""
    case = data.draw(loan_cases(target))
    assert (case.status, case.action) == target
    assert_loan_landed(case, engine.evaluate(case.account, AS_OF, operations=case.specs()))


def test_targets_are_every_status_and_operation_the_products_have(engine: Engine) -> None:
    """The targets are every status each bundled policy can set; the loan strategy draws every loan operation."""
    for policy in bundled():
        table = policy.status_table
        assert {table.default_status, *(rule.outcome["status"] for rule in table.rules)} == set(STATUSES)
    assert {status for status, _ in MARGIN_TARGETS} == {status for status, _ in LOAN_TARGETS} == set(STATUSES)
    assert {action for _, action in LOAN_TARGETS} == set(ACTIONS)
    assert tuple(op.name for op in engine.products["crypto-loan"].operations) == LOAN_OPERATIONS
    assert engine.products["spot-margin"].operations == ()


# ---------------------------------------------------------------------------------------------------------------
# Margin invariants, on strategies that reach every status and method


@settings(max_examples=150, deadline=None)
@given(case=margin_cases(), data=st.data())
def test_higher_collateral_price_never_worsens_status(engine: Engine, case: MarginCase, data: st.DataObject) -> None:
    """All else equal, raising a collateral price never moves the status towards liquidation."""
    before = engine.evaluate(case.account, AS_OF)
    assert_margin_landed(case, before)
    index = data.draw(st.integers(0, len(case.account["assets"]) - 1))
    bump = data.draw(st.decimals(min_value=D("0.01"), max_value=D(200000), places=2))
    raised = json.loads(json.dumps(case.account))
    line = raised["assets"][index]
    line["price"] = text(D(line["price"]) + bump)
    after = engine.evaluate(raised, AS_OF)
    assert SEVERITY[after.status] <= SEVERITY[before.status]
    event(f"monotonic: {before.status} -> {after.status}")


@settings(max_examples=150, deadline=None)
@given(case=st.sampled_from(METHODS).flatmap(lambda method: margin_cases(("liquidation", method))))
def test_liquidation_ledger_balances(engine: Engine, case: MarginCase) -> None:
    """Proceeds = debt repaid + fee paid + cash returned + rounding difference; quantities are conserved."""
    decision = engine.evaluate(case.account, AS_OF)
    assert_margin_landed(case, decision)
    outcome = decision.outcome
    plan = outcome["liquidation"]
    proceeds = sum((s["value"] for s in plan["sales"]), D(0)) + plan["takeover_proceeds"]
    fee_paid = plan["fee_value"] - plan["fee_unpaid"]
    assert proceeds == plan["debt_repaid"] + fee_paid + plan["cash_returned_value"] + plan["rounding_difference"]
    assert plan["debt_repaid"] + plan["debt_remaining"] == plan["debt_value"] == outcome["total_liability_value"]
    # every unit of collateral is sold, taken over or returned
    cash = plan["cash_returned"]
    returned = [
        {**r, "quantity": r["quantity"] - (cash["quantity"] if r["asset"] == cash["asset"] else 0)}
        for r in plan["returned"]
    ]
    assert len({r["asset"] for r in plan["returned"]}) == len(plan["returned"])  # one entry per asset
    assert all(r["quantity"] > 0 for r in plan["returned"])
    taken = [line for step in plan["steps"] if step["event"] == "takeover" for line in step["assets"]]
    for holding in case.account["assets"]:
        asset = holding["asset"]
        sold = sum((s["quantity"] for s in plan["sales"] if s["asset"] == asset), D(0))
        over = sum((t["quantity"] for t in taken if t["asset"] == asset), D(0))
        left = sum((r["quantity"] for r in returned if r["asset"] == asset), D(0))
        assert sold + over + left == D(holding["quantity"])
    assert {r["asset"] for r in returned if r["quantity"]} <= {h["asset"] for h in case.account["assets"]}
    if plan["cash_returned_value"] > 0:
        # returned in the largest debt's asset, rounded down: never more than the cash there is
        largest = max(case.account["liabilities"], key=lambda d: (D(d["principal"]) + D(d["interest"])) * D(d["price"]))
        price = D(largest["price"])
        assert cash["asset"] == largest["asset"]
        assert cash["quantity"] * price <= plan["cash_returned_value"] < (cash["quantity"] + Q8) * price
    # each sale is short of the amount it paid by at most half a unit of the asset's precision
    policy, _ = bundled()
    bound = sum((policy.assets[s["asset"]].quantity_rounding.quantum / 2 * s["price"] for s in plan["sales"]), D(0))
    assert -bound <= plan["rounding_difference"] <= 0
    assert outcome["margin_level_compared"] <= outcome["thresholds"]["liquidation"]


# ---------------------------------------------------------------------------------------------------------------
# One clock


def due_retry_loan(last: datetime, balance: str = "0.5") -> dict[str, Any]:
    """The seed's loan at a margin call, in a failure streak whose last attempt was at `last`."""
    return {
        "kind": "crypto-loan",
        "account_id": "loan-1",
        "loan": {"asset": "USDT", "principal": "100", "interest": "0"},
        "collateral": {"asset": "BTC", "quantity": "0.01329077"},
        "prices": {"BTC": "9405.02319", "USDT": "1"},
        "spot_balances": {"BTC": balance},
        "auto_top_up": {
            "enabled": True,
            "state": {"failed_attempts": 2, "last_attempt_at": iso(last), "succeeded_before": False, "disabled": False},
        },
    }


def test_loan_decision_without_as_of_is_the_fixed_clocks() -> None:
    """With a fixed clock, two evaluations without as_of are byte-identical and dated at the clock's instant."""
    fixed = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    engine = policy_engine.load(POLICIES, clock=lambda: fixed)
    account = due_retry_loan(fixed - timedelta(hours=13))
    first, second = engine.evaluate(account), engine.evaluate(json.loads(json.dumps(account)))
    assert first.to_json() == second.to_json()
    assert first.as_of == first.outcome["as_of"] == fixed
    assert json.loads(first.to_json())["as_of"] == json.loads(first.to_json())["outcome"]["as_of"] == iso(fixed)
    top_up = first.outcome["top_up"]
    assert (top_up["action"], top_up["attempted"], top_up["next_state"]["last_attempt_at"]) == (
        "top_up",
        True,
        iso(fixed),
    )


class SteppingClock:
    """A clock that returns the instants it is given, in turn, and counts its calls."""

    def __init__(self) -> None:
        self.instants: Iterator[datetime] = iter(())
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return next(self.instants)


@pytest.fixture(scope="module")
def stepping() -> tuple[Engine, SteppingClock]:
    clock = SteppingClock()
    return policy_engine.load(POLICIES, clock=clock), clock


offsets = st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])


@settings(max_examples=100, deadline=None)
@given(
    last=st.datetimes(
        min_value=datetime(2020, 2, 1),  # noqa: DTZ001 - hypothesis takes naive bounds and adds `timezones`
        max_value=datetime(2035, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    early=st.integers(min_value=1, max_value=12 * 3600),
    late=st.integers(min_value=0, max_value=30 * 86400),
    zone=offsets,
    balance=st.sampled_from(["0", "0.5"]),
)
def test_the_clock_is_the_single_source_of_time(
    stepping: tuple[Engine, SteppingClock], last: datetime, early: int, late: int, zone: timedelta, balance: str
) -> None:
    """Without as_of each decision asks the clock once and is dated, retried and recorded at that instant."""
    engine, clock = stepping
    interval = bundled()[1].top_up.retry_interval
    before_due = (last + interval - timedelta(seconds=early)).astimezone(timezone(zone))
    after_due = (last + interval + timedelta(seconds=late)).astimezone(timezone(zone))
    clock.instants = iter([before_due, before_due, after_due])
    calls = clock.calls
    account = due_retry_loan(last, balance)

    waiting, again = engine.evaluate(account), engine.evaluate(account)
    assert waiting.to_json() == again.to_json()
    assert waiting.as_of == waiting.outcome["as_of"] == before_due
    top_up = waiting.outcome["top_up"]
    assert (top_up["action"], top_up["attempted"], top_up["next_attempt_at"]) == (
        "retry_scheduled",
        False,
        last + interval,
    )
    assert top_up["next_state"]["last_attempt_at"] == iso(last)

    due = engine.evaluate(account)
    assert due.as_of == due.outcome["as_of"] == after_due
    top_up = due.outcome["top_up"]
    assert (top_up["attempted"], top_up["next_state"]["last_attempt_at"]) == (True, iso(after_due))
    if balance == "0":
        assert (top_up["action"], top_up["next_attempt_at"]) == ("retry_scheduled", after_due + interval)
    else:
        assert (top_up["action"], top_up["next_attempt_at"]) == ("top_up", None)
    assert clock.calls == calls + 3
    # an explicit as_of is used as given: the clock is not asked
    assert engine.evaluate(due_retry_loan(NOW - timedelta(days=1)), AS_OF).as_of == NOW
    assert clock.calls == calls + 3
