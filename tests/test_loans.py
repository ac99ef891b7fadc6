"""Crypto loans (domain.md section 3, seed 000): LTV, statuses and the auto top-up state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine import Engine

from .conftest import POLICIES, example

D = Decimal
SEED_TIME = "2020-07-25T17:18:38Z"
T0 = datetime(2020, 7, 25, 12, tzinfo=UTC)
LOANS_YAML = (POLICIES / "crypto-loans.yaml").read_text()


def loan(
    *,
    quantity: str = "0.01329077",
    price: str = "9405.02319",
    balance: str | None = "0.5",
    principal: str = "100",
    interest: str = "0",
    enabled: bool = True,
    state: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    asset: str = "BTC",
) -> dict[str, Any]:
    account: dict[str, Any] = {
        "kind": "crypto-loan",
        "account_id": "loan-1",
        "loan": {"asset": "USDT", "principal": principal, "interest": interest},
        "collateral": {"asset": asset, "quantity": quantity},
        "prices": {asset: price, "USDT": "1"},
        "auto_top_up": {"enabled": enabled},
    }
    if balance is not None:
        account["spot_balances"] = {asset: balance}
    if state is not None:
        account["auto_top_up"]["state"] = state
    if events is not None:
        account["auto_top_up"]["events"] = events
    return account


def state(
    failed: int = 0, last: datetime | None = None, succeeded: bool = False, disabled: bool = False
) -> dict[str, Any]:
    return {
        "failed_attempts": failed,
        "last_attempt_at": last.isoformat() if last else None,
        "succeeded_before": succeeded,
        "disabled": disabled,
    }


def test_seed_example_reaches_80_percent_and_tops_up(engine: Engine) -> None:
    """100 USDT on 0.01329077 BTC at 9,405.02319: LTV 80% after rounding; top up 0.0030671 BTC to 65%."""
    outcome = engine.evaluate(example("loan-topup.json"), as_of=SEED_TIME).outcome
    top_up = outcome["top_up"]
    assert outcome["ltv"] == D(100) / (D("0.01329077") * D("9405.02319"))
    assert outcome["ltv"] < D("0.8")  # raw 0.79999999960: only the policy's rounding reaches 80%
    assert (outcome["ltv_compared"], outcome["status"], outcome["rule"]) == (D("0.8000"), "margin_call", "margin_call")
    assert outcome["thresholds"] == {"initial": D("0.65"), "margin_call": D("0.80"), "liquidation": D("0.90")}
    assert (top_up["action"], top_up["quantity"], top_up["required_quantity"]) == (
        "top_up",
        D("0.0030671"),
        D("0.0030671"),
    )
    assert (top_up["ltv_after_compared"], top_up["status_after"], top_up["record_type"]) == (
        D("0.6500"),
        "ok",
        "Auto Top-up",
    )
    assert top_up["notification"] == (
        "Auto Top-up completed: 0.00306710 BTC moved from your Spot Wallet to collateral; LTV 80.00% -> 65.00%."
    )
    assert dict(top_up["next_state"]) == {
        "failed_attempts": 0,
        "last_attempt_at": SEED_TIME,
        "succeeded_before": True,
        "disabled": False,
    }


def test_published_ltv_example(engine: Engine) -> None:
    """Published: 100 / (0.01938571 x 7,400) = 69.71%."""
    outcome = engine.evaluate(loan(quantity="0.01938571", price="7400"), as_of=SEED_TIME).outcome
    assert (outcome["ltv_compared"], outcome["status"]) == (D("0.6971"), "ok")


def test_zero_spot_balance_is_a_failed_attempt(engine: Engine) -> None:
    """Spot balance 0: nothing moves, the attempt counts as failed, a retry is due 12 hours later."""
    top_up = engine.evaluate(loan(balance="0"), as_of=T0).outcome["top_up"]
    assert (top_up["action"], top_up["quantity"], top_up["attempted"]) == ("retry_scheduled", 0, True)
    assert top_up["next_attempt_at"] == T0 + timedelta(hours=12)
    assert dict(top_up["next_state"]) == {
        "failed_attempts": 1,
        "last_attempt_at": "2020-07-25T12:00:00Z",
        "succeeded_before": False,
        "disabled": False,
    }
    assert top_up["notification"] == (
        "Auto Top-up failed: no BTC in your Spot Wallet. Next attempt at 2020-07-26T00:00:00Z."
    )
    assert top_up["record_type"] is None


def test_missing_spot_balance_counts_as_zero(engine: Engine) -> None:
    """No spot_balances entry for the collateral asset is a balance of 0."""
    top_up = engine.evaluate(loan(balance=None), as_of=T0).outcome["top_up"]
    assert (top_up["action"], top_up["spot_balance"]) == ("retry_scheduled", 0)


def test_insufficient_balance_moves_all_of_it(engine: Engine) -> None:
    """A balance short of the need is moved whole: a partial top-up, a success as bundled."""
    top_up = engine.evaluate(loan(balance="0.001"), as_of=T0).outcome["top_up"]
    assert (top_up["action"], top_up["quantity"], top_up["record_type"]) == (
        "partial_top_up",
        D("0.001"),
        "Auto Top-up",
    )
    assert top_up["ltv_after_compared"] == D("0.7440")
    assert (top_up["next_state"]["failed_attempts"], top_up["next_state"]["succeeded_before"]) == (0, True)


def test_partial_top_up_can_count_as_a_failure(tmp_path: Path) -> None:
    """With `partial_top_up: failure` the partial move still happens but counts as a failed attempt."""
    (tmp_path / "loans.yaml").write_text(LOANS_YAML.replace("partial_top_up: success", "partial_top_up: failure"))
    engine = policy_engine.load(tmp_path)
    top_up = engine.evaluate(loan(balance="0.001"), as_of=T0).outcome["top_up"]
    assert (top_up["action"], top_up["quantity"]) == ("partial_top_up", D("0.001"))
    assert (top_up["next_state"]["failed_attempts"], top_up["next_attempt_at"]) == (1, T0 + timedelta(hours=12))


def test_no_limit_after_success(engine: Engine) -> None:
    """After a success, every later trigger tops up again: there is no count of successes."""
    for previous in range(10):
        last = T0 - timedelta(hours=previous + 1)
        top_up = engine.evaluate(loan(state=state(succeeded=True, last=last)), as_of=T0).outcome["top_up"]
        assert (top_up["action"], top_up["quantity"]) == ("top_up", D("0.0030671"))


def test_retry_waits_for_the_interval(engine: Engine) -> None:
    """In a failure streak, before the retry is due nothing is attempted and the due time is given."""
    account = loan(balance="0.5", state=state(failed=1, last=T0))
    top_up = engine.evaluate(account, as_of=T0 + timedelta(hours=6)).outcome["top_up"]
    assert (top_up["action"], top_up["attempted"], top_up["quantity"]) == ("retry_scheduled", False, 0)
    assert (top_up["next_attempt_at"], top_up["notification"]) == (T0 + timedelta(hours=12), None)
    due = engine.evaluate(account, as_of=T0 + timedelta(hours=12)).outcome["top_up"]
    assert (due["action"], due["quantity"], due["next_state"]["failed_attempts"]) == ("top_up", D("0.0030671"), 0)


def test_six_attempts_in_total_then_disabled(engine: Engine) -> None:
    """The bundled reading of the seed: 6 attempts in total, then auto top-up is disabled."""
    account = loan(balance="0")
    moment = T0
    actions = []
    for _ in range(8):
        top_up = engine.evaluate(account, as_of=moment).outcome["top_up"]
        actions.append((top_up["action"], top_up["attempted"], top_up["next_state"]["failed_attempts"]))
        account["auto_top_up"]["state"] = dict(top_up["next_state"])
        moment += timedelta(hours=12)
    assert actions == [("retry_scheduled", True, n) for n in range(1, 6)] + [
        ("disabled", True, 6),
        ("disabled", False, 6),
        ("disabled", False, 6),
    ]


def test_disabled_message(engine: Engine) -> None:
    """The attempt that uses up the count says so, once."""
    top_up = engine.evaluate(loan(balance="0", state=state(failed=5, last=T0)), as_of=T0 + timedelta(hours=12)).outcome[
        "top_up"
    ]
    assert top_up["notification"] == (
        "Auto Top-up is disabled after 6 failed attempts. Top up manually or reset Auto Top-up."
    )
    assert top_up["next_state"]["disabled"] is True


@pytest.mark.parametrize(
    ("event", "expected_quantity"),
    [({"type": "manual_top_up", "quantity": "0.0002"}, D("0.00399175")), ({"type": "reset"}, D("0.00419175"))],
    ids=["manual-top-up", "reset"],
)
def test_disabled_until_manual_top_up_or_reset(
    engine: Engine, event: dict[str, Any], expected_quantity: Decimal
) -> None:
    """A successful manual top-up (added to the collateral) or a reset re-enables auto top-up.

    At 8,800 the LTV is 85.5%; after a manual top-up of 0.0002 BTC it is 84.2%, still over the call level.
    """
    disabled = loan(price="8800", state=state(failed=6, last=T0, disabled=True))
    assert engine.evaluate(disabled, as_of=T0 + timedelta(days=1)).outcome["top_up"]["action"] == "disabled"
    revived = loan(price="8800", state=state(failed=6, last=T0, disabled=True), events=[event])
    top_up = engine.evaluate(revived, as_of=T0 + timedelta(days=1)).outcome["top_up"]
    assert (top_up["action"], top_up["quantity"]) == ("top_up", expected_quantity)
    assert (top_up["next_state"]["disabled"], top_up["next_state"]["failed_attempts"]) == (False, 0)


def test_auto_top_up_off(engine: Engine) -> None:
    """Off by default: nothing moves and the state is unchanged, whatever the LTV."""
    account = loan(enabled=False)
    del account["auto_top_up"]
    outcome = engine.evaluate(account, as_of=T0).outcome
    assert (outcome["status"], outcome["top_up"]["action"], outcome["top_up"]["enabled"]) == (
        "margin_call",
        "none",
        False,
    )
    assert dict(outcome["top_up"]["next_state"]) == state()


@pytest.mark.parametrize(
    ("ltv", "status"),
    [
        ("0.79994", "ok"),
        ("0.79995", "margin_call"),
        ("0.80", "margin_call"),
        ("0.89994", "margin_call"),
        ("0.89995", "liquidation"),
        ("0.90", "liquidation"),
        ("0.65", "ok"),
    ],
    ids=[
        "below-call",
        "rounds-to-call",
        "at-call",
        "below-liquidation",
        "rounds-to-liquidation",
        "at-liquidation",
        "at-initial",
    ],
)
def test_status_at_each_threshold(engine: Engine, ltv: str, status: str) -> None:
    """`>=` at 4 places, half-up: 0.79995 is 0.8000 and calls; 0.79994 is 0.7999 and does not."""
    account = loan(quantity="1", price="100000", principal=str(D(ltv) * 100000), enabled=False)
    assert engine.evaluate(account, as_of=T0).outcome["status"] == status


def test_flexible_loan_type_has_its_own_thresholds(engine: Engine) -> None:
    """The published flexible-loan set (65/75/83) applies when the account names it."""
    account = loan(quantity="1", price="100000", principal="76000", enabled=False)
    account["loan_type"] = "flexible"
    outcome = engine.evaluate(account, as_of=T0).outcome
    assert (outcome["status"], outcome["thresholds"]["liquidation"]) == ("margin_call", D("0.83"))


def test_trace_cites_every_threshold_and_parameter(engine: Engine) -> None:
    """Each cited parameter's source line holds that parameter and value."""
    lines = LOANS_YAML.splitlines()
    trace = engine.evaluate(example("loan-topup.json"), as_of=SEED_TIME).to_dict()["trace"]
    cited = [p for step in trace for p in step.get("parameters", [])]
    assert {p["name"] for p in cited} == {
        "initial_ltv",
        "margin_call_ltv",
        "liquidation_ltv",
        "quantity_rounding",
        "retry_interval_hours",
        "max_attempts",
        "partial_top_up",
        "record_type",
        "collateral_precision",
    }
    for parameter in cited:
        line = int(parameter["source"].rsplit(":", 1)[1])
        key = parameter["path"].rsplit(".", 1)[-1]
        assert lines[line - 1].strip().startswith(f"{key}: {parameter['value']}")


def test_unknown_collateral_and_missing_price(engine: Engine) -> None:
    """Collateral the loan type does not accept, and a missing price, are input problems."""
    account = loan(asset="DOGE")
    del account["prices"]["DOGE"]
    with pytest.raises(policy_engine.AccountError) as raised:
        engine.evaluate(account, as_of=T0)
    assert [str(p) for p in raised.value.problems] == [
        "account: $.collateral.asset: `DOGE` is not accepted as collateral for cross_collateral loans;"
        " expected one of ASSET3, BTC, ETH",
        "account: $.prices: missing the price of the collateral asset `DOGE`",
    ]


quantities = st.decimals(min_value=D("0.001"), max_value=D(100), places=8)
prices = st.decimals(min_value=D(100), max_value=D(200000), places=2)
ratios = st.decimals(min_value=D("0.5"), max_value=D("0.95"), places=4)


@settings(max_examples=200, deadline=None)
@given(quantity=quantities, price=prices, ltv=ratios, balance=st.decimals(min_value=D(0), max_value=D(100), places=8))
def test_top_up_never_increases_ltv(
    engine: Engine, quantity: Decimal, price: Decimal, ltv: Decimal, balance: Decimal
) -> None:
    """Whatever moves, the LTV after is at most the LTV before."""
    principal = (quantity * price * ltv).quantize(D("0.01"))
    top_up = engine.evaluate(
        loan(quantity=str(quantity), price=str(price), principal=str(principal), balance=str(balance)), as_of=T0
    ).outcome
    assert top_up["top_up"]["ltv_after"] <= top_up["ltv"]


@settings(max_examples=200, deadline=None)
@given(quantity=quantities, price=prices, ltv=st.decimals(min_value=D("0.8"), max_value=D("0.8999"), places=4))
def test_full_top_up_restores_the_initial_ltv(engine: Engine, quantity: Decimal, price: Decimal, ltv: Decimal) -> None:
    """After a full top-up the collateral is the exact need to the asset's precision, and LTV compares as 65%."""
    principal = quantity * price * ltv
    outcome = engine.evaluate(
        loan(quantity=str(quantity), price=str(price), principal=str(principal), balance="1000"), as_of=T0
    ).outcome
    top_up = outcome["top_up"]
    exact = principal / price / D("0.65")
    assert top_up["action"] == "top_up"
    assert abs(top_up["collateral_after"] - exact) <= D("0.000000005")
    assert top_up["ltv_after_compared"] == D("0.6500")
    assert top_up["ltv_after"].quantize(D("0.0001"), rounding=ROUND_HALF_UP) == D("0.6500")


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=48), min_size=1, max_size=20),
    balances=st.lists(st.sampled_from(["0", "0", "0", "0.001"]), min_size=20, max_size=20),
)
def test_never_more_failed_attempts_than_configured(engine: Engine, gaps: list[int], balances: list[str]) -> None:
    """However often and whenever it is evaluated, a failure streak never exceeds max_attempts."""
    account = loan(balance="0")
    moment = T0
    attempts_in_streak = 0
    for gap, balance in zip(gaps, balances, strict=False):
        moment += timedelta(hours=gap)
        account["spot_balances"] = {"BTC": balance}
        top_up = engine.evaluate(account, as_of=moment).outcome["top_up"]
        failed = top_up["attempted"] and top_up["next_state"]["failed_attempts"] > 0
        attempts_in_streak = attempts_in_streak + 1 if failed else (0 if top_up["attempted"] else attempts_in_streak)
        assert attempts_in_streak <= 6
        assert top_up["next_state"]["failed_attempts"] <= 6
        account["auto_top_up"]["state"] = dict(top_up["next_state"])


def test_no_top_up_at_the_liquidation_level(engine: Engine) -> None:
    """At or past liquidation the loan is liquidated: the bundled condition does not top up there."""
    outcome = engine.evaluate(loan(price="5000"), as_of=T0).outcome
    top_up = outcome["top_up"]
    assert (outcome["status"], top_up["triggered"], top_up["action"], top_up["status_after"]) == (
        "liquidation",
        False,
        "none",
        "liquidation",
    )


def test_recovery_ends_a_failure_streak(engine: Engine) -> None:
    """When the LTV falls back below the call level, the next margin call starts a fresh count."""
    recovered = engine.evaluate(loan(price="12000", state=state(failed=4, last=T0)), as_of=T0 + timedelta(days=1))
    assert dict(recovered.outcome["top_up"]["next_state"]) == {
        "failed_attempts": 0,
        "last_attempt_at": T0.isoformat(),
        "succeeded_before": False,
        "disabled": False,
    }


def test_an_over_count_reads_as_used_up(engine: Engine) -> None:
    """A state with more failures than max_attempts is disabled, never an extra attempt."""
    top_up = engine.evaluate(loan(balance="0", state=state(failed=10, last=T0)), as_of=T0 + timedelta(days=1)).outcome[
        "top_up"
    ]
    assert (top_up["action"], top_up["attempted"], top_up["next_state"]["failed_attempts"]) == ("disabled", False, 10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"auto_top_up": {"enabled": True, "events": [{"type": "manual_top_up"}]}},
            "account: $.auto_top_up.events[0]: a manual top-up needs the `quantity` it added to the collateral",
        ),
        (
            {"loan": {"asset": "BTC", "principal": "1", "interest": "0"}},
            "account: $.collateral.asset: the collateral cannot be the borrowed asset `BTC`: its LTV would never"
            " move with the price",
        ),
        (
            {"auto_top_up": {"enabled": True, "state": state(failed=1, last=T0 + timedelta(days=2))}},
            "account: $.auto_top_up.state.last_attempt_at: the last attempt (2020-07-27T12:00:00+00:00) is later"
            " than the time of this decision (2020-07-25T12:00:00Z); pass a later as_of",
        ),
    ],
    ids=["manual-top-up-without-quantity", "same-asset", "time-going-backwards"],
)
def test_inconsistent_accounts_are_refused(engine: Engine, change: dict[str, Any], message: str) -> None:
    """Inputs that cannot describe a real loan are input errors, not guesses."""
    account = {**loan(), **change}
    with pytest.raises(policy_engine.AccountError) as raised:
        engine.evaluate(account, as_of=T0)
    assert [str(p) for p in raised.value.problems] == [message]


def test_times_are_utc(engine: Engine) -> None:
    """An as_of with an offset gives UTC times in the next state and the retry time."""
    top_up = engine.evaluate(loan(balance="0"), as_of="2020-07-25T14:00:00+02:00").outcome["top_up"]
    assert (top_up["next_state"]["last_attempt_at"], top_up["next_attempt_at"]) == (
        "2020-07-25T12:00:00Z",
        T0 + timedelta(hours=12),
    )
    assert str(top_up["next_attempt_at"].tzinfo) == "UTC"
