"""Differential test: crypto-loan decisions against an independent reference written from domain.md section 3.

`tests/reference/loans.py` computes the LTV, the status and the auto top-up
state machine straight from the domain reference and the policy's stated
choices; a seeded generator places thousands of loans around each
collateral's LTVs (on them, either side of the 4-place rounding, far below,
beyond liquidation) with every spot balance (none, empty, short, exact,
plenty), every auto top-up state (off, fresh, failure streaks timed just
before, at and after the retry, over the maximum, disabled, inconsistent) and
the manual top-up and reset events.  Every figure of every outcome must
agree.  The variant makes a partial top-up a failure, allows 2 attempts every
30 minutes and rounds the quantity up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from policy_engine import Engine

from .conftest import POLICIES, example
from .reference.accounts import loan_accounts
from .reference.compare import compare_all
from .reference.loans import loan_outcome
from .reference.policy_data import load_variants, policy_data

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)
BUNDLED = (POLICIES / "crypto-loans.yaml").read_text()
VARIANTS = {
    "bundled": BUNDLED,
    "strict-top-up": BUNDLED.replace("partial_top_up: success", "partial_top_up: failure")
    .replace("max_attempts: 6", "max_attempts: 2")
    .replace("retry_interval_hours: 12", "retry_interval_hours: 0.5")
    .replace("quantity_rounding: ROUND_HALF_UP", "quantity_rounding: ROUND_UP"),
}
ACCOUNTS = 2000


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Engine, dict[str, Any]]]:
    """Each variant's engine, loaded from its own folder, and its policy as plain data."""
    return load_variants(tmp_path_factory.mktemp("variants"), "crypto-loans.yaml", VARIANTS)


def test_the_variant_changes_what_it_says() -> None:
    """The variant differs from the bundled policy in four top-up settings, nowhere else."""
    bundled, variant = policy_data(BUNDLED, "b"), policy_data(VARIANTS["strict-top-up"], "v")
    changed = {key: value for key, value in variant["auto_top_up"].items() if bundled["auto_top_up"][key] != value}
    assert changed == {"partial_top_up": "failure", "max_attempts": 2, "retry_interval_hours": D("0.5"),
                       "quantity_rounding": "ROUND_UP"}
    assert {**variant, "auto_top_up": bundled["auto_top_up"]} == bundled


def test_the_reference_reads_the_rules_the_policy_states() -> None:
    """The reference hard-codes the bundled status rules and top-up condition: it must follow if they change."""
    policy = policy_data(BUNDLED, "b")
    assert [(rule["id"], rule["when"], rule["status"]) for rule in policy["rules"]] == [
        ("liquidation", "ltv >= liquidation_ltv", "liquidation"),
        ("margin_call", "ltv >= margin_call_ltv", "margin_call"),
    ]
    assert policy["auto_top_up"]["when"] == "ltv >= margin_call_ltv and ltv < liquidation_ltv"


def test_the_reference_reproduces_the_worked_example() -> None:
    """Seed 000: 100 USDT against 0.01329077 BTC at 9,405.02319 reaches 80% and tops up 0.0030671 BTC."""
    outcome = loan_outcome(policy_data(BUNDLED, "b"), example("loan-topup.json"), NOW)
    top_up = outcome["top_up"]
    assert (outcome["ltv_compared"], outcome["status"]) == (D("0.8000"), "margin_call")
    assert (top_up["action"], top_up["quantity"], top_up["ltv_after_compared"]) == ("top_up", D("0.0030671"), D("0.65"))


def test_the_reference_reproduces_the_published_ltv() -> None:
    """Published example: 100 / (0.01938571 x 7,400) = 69.71%."""
    account = {
        "kind": "crypto-loan", "account_id": "published",
        "loan": {"asset": "USDT", "principal": "100", "interest": "0"},
        "collateral": {"asset": "BTC", "quantity": "0.01938571"},
        "prices": {"BTC": "7400", "USDT": "1"},
    }
    outcome = loan_outcome(policy_data(BUNDLED, "b"), account, NOW)
    assert (outcome["ltv_compared"], outcome["status"], outcome["top_up"]["action"]) == (D("0.6971"), "ok", "none")


def _coverage(account: dict[str, Any], outcome: Mapping[str, Any]) -> set[str]:
    """The cases an account exercises, for the check that the generator reaches them all."""
    top_up = outcome["top_up"]
    settings = account.get("auto_top_up") or {}
    incoming = (settings.get("state") or {}).get("failed_attempts", 0)
    cases = {f"status:{outcome['status']}", f"action:{top_up['action']}", f"result:{top_up['result']}"}
    cases |= {f"event:{event['type']}" for event in settings.get("events") or ()}
    cases |= {name for name, held in (
        ("on-call-after-rounding", outcome["ltv"] != outcome["thresholds"]["margin_call"] == outcome["ltv_compared"]),
        ("exactly-on-call", outcome["ltv"] == outcome["thresholds"]["margin_call"]),
        ("exactly-on-liquidation", outcome["ltv"] == outcome["thresholds"]["liquidation"]),
        ("waiting-for-retry", top_up["action"] == "retry_scheduled" and not top_up["attempted"]),
        ("retry-made", top_up["attempted"] and incoming > 0),
        ("disabled-by-this-attempt", top_up["attempted"] and top_up["next_state"]["disabled"]),
        ("streak-ended-by-recovery", incoming > 0 and not top_up["triggered"] and
         top_up["next_state"]["failed_attempts"] == 0 and not top_up["next_state"]["disabled"]),
        ("loan-in-a-volatile-asset", account["loan"]["asset"] in ("BTC", "ETH")),
        ("status-changed-by-top-up", top_up["status_after"] != outcome["status"]),
    ) if held}
    return cases


EXPECTED_CASES = {
    "status:ok", "status:margin_call", "status:liquidation",
    "action:none", "action:top_up", "action:partial_top_up", "action:retry_scheduled", "action:disabled",
    "result:None", "result:succeeded", "result:failed", "event:manual_top_up", "event:reset",
    "on-call-after-rounding", "exactly-on-call", "exactly-on-liquidation", "waiting-for-retry", "retry-made",
    "disabled-by-this-attempt", "streak-ended-by-recovery", "loan-in-a-volatile-asset", "status-changed-by-top-up",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_figure_agrees_with_the_reference(
    engines: dict[str, tuple[Engine, dict[str, Any]]], variant: str
) -> None:
    """2,000 generated loans: LTVs, status, thresholds, the top-up, its notification and the next state agree."""
    engine, policy = engines[variant]
    disagreements, seen = compare_all(
        loan_accounts(policy, ACCOUNTS, seed=15, now=NOW),
        lambda account: engine.evaluate(account, as_of=NOW).outcome,
        lambda account: loan_outcome(policy, account, NOW),
        _coverage,
    )
    assert disagreements[:3] == []
    assert EXPECTED_CASES - seen == set()
