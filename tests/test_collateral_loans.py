"""The loans' auto top-up meets the platform max-collateral rule (domain.md sections 2 and 3).

A crypto-loan account may carry its collateral asset's platform-wide total
(`collateral.platform_total`); an auto top-up of an asset the rule limits is
then capped at the rule's maximum, `capped_by` says so, and a top-up capped
to 0 is a failed attempt for the retry state machine.  ASSET3: rank 10, upper
limit 3,000,000; the bundled loan policy's ASSET3 set is 65% / 80% / 90%.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from policy_engine import AccountError, Engine
from policy_engine.explain import explain

from .conftest import AS_OF, example

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)
CAP_STEPS = ["max_collateral.applies", "max_collateral.ratio", "max_collateral.band", "max_collateral.max_transfer_in"]


def asset3_loan(
    platform_total: str | None = "2999990", *, balance: str = "50000", state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """80 USDT on 100 ASSET3 at 1: LTV 80%, a margin call; 23.07692308 restores 65%."""
    account = example("collateral-loan-topup-capped.json")
    if platform_total is None:
        del account["collateral"]["platform_total"]
    else:
        account["collateral"]["platform_total"] = platform_total
    account["spot_balances"] = {"ASSET3": balance}
    if state is not None:
        account["auto_top_up"]["state"] = state
    return account


def failures(count: int, hours_ago: int = 12) -> dict[str, Any]:
    last = (NOW - timedelta(hours=hours_ago)).isoformat()
    return {"failed_attempts": count, "last_attempt_at": last, "succeeded_before": False, "disabled": False}


def top_up_of(engine: Engine, account: dict[str, Any]) -> dict[str, Any]:
    top_up: dict[str, Any] = dict(engine.evaluate(account, AS_OF).outcome["top_up"])
    return top_up


def test_a_top_up_is_capped_by_the_rule(engine: Engine) -> None:
    """10 ASSET3 left before the limit: 10 moves of the 23.07692308 needed; the decision names the limit and band."""
    top_up = top_up_of(engine, asset3_loan())
    assert (top_up["action"], top_up["result"], top_up["quantity"], top_up["required_quantity"]) == (
        "partial_top_up",
        "succeeded",
        D(10),
        D("23.07692308"),
    )
    assert top_up["capped_by"] == {
        "rule": "max_collateral",
        "limit": D(10),
        "band": {
            "number": 3,
            "range": "90% <= ratio < 100%",
            "source": top_up["capped_by"]["band"]["source"],
            "path": "$.max_collateral.bands[2]",
        },
        "ratio": D(2999990) / D(3000000),
        "upper_limit": D(3000000),
        "platform_total": D(2999990),
    }
    assert (top_up["collateral_after"], top_up["ltv_after_compared"], top_up["status_after"]) == (
        D(110),
        D("0.7273"),
        "ok",
    )
    assert top_up["notification"] == (
        "Auto Top-up completed partially: 10.00000000 ASSET3 moved to collateral, the most the platform's maximum"
        " collateral for ASSET3 allows; LTV 80.00% -> 72.73%."
    )


def test_a_top_up_capped_to_zero_is_a_failed_attempt(engine: Engine) -> None:
    """At the limit nothing moves: a failed attempt, retried 12 hours later, with a message to use another asset."""
    top_up = top_up_of(engine, asset3_loan("3000000"))
    assert (top_up["action"], top_up["attempted"], top_up["result"], top_up["quantity"]) == (
        "retry_scheduled",
        True,
        "failed",
        D(0),
    )
    assert (top_up["capped_by"]["limit"], top_up["capped_by"]["band"]["range"]) == (D(0), "ratio >= 100%")
    assert top_up["next_state"] == {
        "failed_attempts": 1,
        "last_attempt_at": "2026-03-01T00:00:00Z",
        "succeeded_before": False,
        "disabled": False,
    }
    assert top_up["next_attempt_at"] == NOW + timedelta(hours=12)
    assert top_up["notification"] == (
        "Auto Top-up failed: ASSET3 has reached the platform's maximum collateral amount. Top up with another"
        " asset. Next attempt at 2026-03-01T12:00:00Z."
    )


def test_the_sixth_capped_failure_disables_auto_top_up(engine: Engine) -> None:
    """Capped failures count like any other: the sixth in a row disables auto top-up."""
    top_up = top_up_of(engine, asset3_loan("3000000", state=failures(5)))
    assert (top_up["action"], top_up["result"], top_up["next_state"]["disabled"]) == ("disabled", "failed", True)
    assert top_up["notification"] == (
        "Auto Top-up is disabled after 6 failed attempts. Top up manually or reset Auto Top-up."
    )


def test_a_capped_failure_waits_for_its_retry(engine: Engine) -> None:
    """Within 12 hours of a capped failure no attempt is made, and no cap is reported."""
    top_up = top_up_of(engine, asset3_loan("3000000", state=failures(1, hours_ago=1)))
    assert (top_up["action"], top_up["attempted"], top_up["capped_by"]) == ("retry_scheduled", False, None)


def test_a_retry_after_others_withdrew_succeeds(engine: Engine) -> None:
    """The platform total fell below 80% since the capped failure: the due retry moves all it needs."""
    top_up = top_up_of(engine, asset3_loan("1000000", state=failures(1)))
    assert (top_up["action"], top_up["quantity"], top_up["capped_by"]) == ("top_up", D("23.07692308"), None)
    assert top_up["next_state"]["failed_attempts"] == 0


def test_a_cap_above_the_need_is_not_reported(engine: Engine) -> None:
    """10,000 may move and 23.07692308 is needed: a whole top-up, `capped_by` null; the rule's steps are traced."""
    decision = engine.evaluate(asset3_loan("2990000"), AS_OF)
    top_up = decision.outcome["top_up"]
    assert (top_up["action"], top_up["quantity"], top_up["capped_by"]) == ("top_up", D("23.07692308"), None)
    names = list(decision.trace.names)
    assert names[names.index("auto_top_up.when") + 1 : names.index("auto_top_up")] == CAP_STEPS


def test_the_wallet_short_of_the_cap_is_not_a_cap(engine: Engine) -> None:
    """5 in the wallet, 10 allowed: 5 moves, limited by the wallet, not by the rule."""
    top_up = top_up_of(engine, asset3_loan(balance="5"))
    assert (top_up["action"], top_up["quantity"], top_up["capped_by"]) == ("partial_top_up", D(5), None)


def test_an_asset_the_rule_does_not_limit_is_not_capped(engine: Engine) -> None:
    """BTC (rank 1) with any platform total: the rule does not apply."""
    account = example("loan-topup.json")
    account["collateral"]["platform_total"] = "1000000000"
    decision = engine.evaluate(account, AS_OF)
    top_up = decision.outcome["top_up"]
    assert (top_up["action"], top_up["quantity"], top_up["capped_by"]) == ("top_up", D("0.0030671"), None)
    (step,) = [step for step in decision.to_dict()["trace"] if step["step"].startswith("max_collateral")]
    assert (step["step"], step["value"], step["detail"]) == (
        "max_collateral.applies",
        False,
        {"reason": "BTC is rank 1; the rule limits ranks 7, 8, 9, 10"},
    )


def test_without_a_platform_total_the_rule_is_not_consulted(engine: Engine) -> None:
    decision = engine.evaluate(asset3_loan(None), AS_OF)
    assert decision.outcome["top_up"]["quantity"] == D("23.07692308")
    assert not any(name.startswith("max_collateral") for name in decision.trace.names)


def test_a_platform_total_with_no_collateral_policy_in_force_is_refused(engine: Engine) -> None:
    """In 2020 no collateral policy is in force: the total cannot be checked, and the account field is named."""
    with pytest.raises(AccountError) as raised:
        engine.evaluate(asset3_loan(), "2020-07-25T00:00:00Z")
    assert [str(problem) for problem in raised.value.problems] == [
        "account: $.collateral.platform_total: the platform total cannot be checked: no `collateral` policy is in"
        " force at 2020-07-25T00:00:00Z; load one, or leave the platform total out"
    ]


def test_a_simulation_step_adds_the_moved_quantity_to_the_platform_total(engine: Engine) -> None:
    """After a top-up the platform holds what moved: the next decision sees a total 10 higher."""
    account = asset3_loan()
    product = engine.products["crypto-loan"]
    assert product.simulation is not None
    after = product.simulation.advance(account, engine.evaluate(account, AS_OF).outcome)
    assert after is not None
    assert (after["collateral"]["platform_total"], after["collateral"]["quantity"]) == (D(3000000), D(110))
    assert after["spot_balances"]["ASSET3"] == D(49990)


def test_the_explanation_says_the_top_up_was_capped(engine: Engine) -> None:
    decision = engine.evaluate(asset3_loan(), AS_OF)
    text = explain(decision.to_dict(), engine.products["crypto-loan"])
    assert (
        "\nAuto top-up: partial_top_up\n"
        "  needed 23.07692308 ASSET3 to restore the initial LTV; spot balance 50000; moved 10.00000000\n"
        "  capped by the platform max-collateral rule: at most 10.00000000 ASSET3 (band 3, 90% <= ratio < 100%)\n"
        "  LTV after: 0.7273 -> status ok\n"
    ) in text
    assert ("  max_collateral.max_transfer_in = 10.00000000  [policies/collateral.yaml:") in text
    assert "      up to 1 x upper limit 3000000 - platform total 2999990 = 10\n" in text
    assert "      ASSET3: platform total 2999990 / upper limit 3000000\n" in text
