"""Crypto loans from domain.md section 3: LTV, status, and the auto top-up state machine.

From the domain reference:
- LTV = (principal + accrued interest) / (collateral quantity x collateral
  price), in the quote currency: the debt is valued at the loan asset's price;
- per collateral asset an initial, a margin-call and a liquidation LTV;
- the top-up that restores the initial LTV is (loan / price) / initial LTV -
  collateral quantity (the seed's 0.0030671 BTC, with the erratum);
- auto top-up is off by default; it acts when the LTV reaches the margin-call
  level, moving the collateral asset from the spot wallet; a balance of 0 is
  no top-up (a failed attempt), an insufficient one moves all there is; after
  a success it tops up again whenever triggered; after a failure it retries
  every retry interval; after the policy's number of attempts it is disabled
  until a successful manual top-up or a reset; a completed top-up gives a
  notification and a record of the policy's record type.

The policy file's stated choices (crypto-loans.yaml): LTVs compared at 4
places half-up, `>=` at both levels, the top-up condition `ltv >=
margin_call_ltv and ltv < liquidation_ltv`, the quantity rounded half-up to the
collateral's precision, 12 hours, 6 attempts in total, a partial top-up a
success.  And the README's ("Crypto loans"): events are applied before the
decision, a streak of failures ends when the condition stops holding, an
attempt is timed against the decision's instant, `next_state` is what the next
request sends.  A failure count at or over the maximum reads as used up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from string import Template
from typing import Any

from .policy_data import ARITHMETIC, WIDE, rounded

ZERO = Decimal(0)
FRESH = {"failed_attempts": 0, "last_attempt_at": None, "succeeded_before": False, "disabled": False}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percent(ltv: Decimal) -> str:
    """An LTV as the notifications show it: a percentage with two places (half-even)."""
    return f"{(ltv * 100).quantize(Decimal('0.01'), context=WIDE):f}%"


def loan_outcome(policy: Mapping[str, Any], account: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The outcome the domain reference gives for a valid crypto-loan account decided at `now`."""
    with localcontext(ARITHMETIC):
        return _outcome(policy, account, now)


def _outcome(  # noqa: PLR0912, PLR0915 - a straight-line reference reads top to bottom
    policy: Mapping[str, Any], account: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    places, ltv_mode = policy["ltv"]["places"], policy["ltv"]["rounding"]
    loan_type = account.get("loan_type") or policy["default_loan_type"]
    loan_asset, collateral_asset = account["loan"]["asset"], account["collateral"]["asset"]
    row = policy["loan_types"][loan_type]["collateral"][collateral_asset]
    initial, call, liquidation = row["initial"], row["margin_call"], row["liquidation"]
    top = policy["auto_top_up"]
    interval = timedelta(microseconds=int(top["retry_interval_hours"] * 3_600_000_000))
    max_attempts = int(top["max_attempts"])

    def status_of(compared: Decimal) -> str:
        if compared >= liquidation:
            return "liquidation"
        return "margin_call" if compared >= call else "ok"

    # events since the last decision come first
    settings = account.get("auto_top_up") or {"enabled": False}
    state = dict(settings.get("state") or FRESH)
    quantity = Decimal(account["collateral"]["quantity"])
    for event in settings.get("events") or ():
        if event["type"] == "manual_top_up":
            quantity += Decimal(event["quantity"])
            state.update(failed_attempts=0, succeeded_before=True, disabled=False)
        else:
            state.update(failed_attempts=0, disabled=False)

    prices = {asset: Decimal(price) for asset, price in account["prices"].items()}
    debt_value = (Decimal(account["loan"]["principal"]) + Decimal(account["loan"]["interest"])) * prices[loan_asset]
    collateral_price = prices[collateral_asset]
    collateral_value = quantity * collateral_price
    ltv = debt_value / collateral_value
    compared = rounded(ltv, places, ltv_mode)
    status = status_of(compared)

    enabled = bool(settings.get("enabled"))
    triggered = call <= compared < liquidation
    precision = policy["assets"][collateral_asset]["precision"]
    required = rounded((debt_value / collateral_price) / initial - quantity, precision, top["quantity_rounding"])
    if required <= 0:
        required = ZERO  # the collateral already restores the initial LTV (and no -0E-8)
    balance = Decimal((account.get("spot_balances") or {}).get(collateral_asset, 0))
    last = datetime.fromisoformat(state["last_attempt_at"]) if state["last_attempt_at"] else None
    failures = int(state["failed_attempts"])

    action, attempted, result, moved, next_attempt, record = "none", False, None, ZERO, None, None
    if failures >= max_attempts:
        state["disabled"] = True
    acting = enabled and triggered and required > 0
    if enabled and not triggered and failures and not state["disabled"]:
        state["failed_attempts"] = 0  # the LTV recovered: the streak is over
    elif acting and state["disabled"]:
        action = "disabled"
    elif acting and failures and last is not None and now < last + interval:
        action, next_attempt = "retry_scheduled", last + interval
    elif acting:
        attempted = True
        state["last_attempt_at"] = iso(now)
        moved = min(required, balance)
        partial = moved < required
        succeeded = moved > 0 and (not partial or top["partial_top_up"] == "success")
        result = "succeeded" if succeeded else "failed"
        if moved > 0:
            action, record = ("partial_top_up" if partial else "top_up"), top["record_type"]
        if succeeded:
            state.update(failed_attempts=0, succeeded_before=True)
        else:
            state["failed_attempts"] = failures + 1
            if state["failed_attempts"] >= max_attempts:
                state["disabled"] = True
                action = "disabled" if moved == 0 else action
            else:
                next_attempt = now + interval
                action = "retry_scheduled" if moved == 0 else action

    collateral_after = quantity + moved
    ltv_after = debt_value / (collateral_after * collateral_price)
    compared_after = rounded(ltv_after, places, ltv_mode)
    notification = None
    if attempted:
        if result == "failed" and state["disabled"]:
            key = "disabled"
        elif action in ("top_up", "partial_top_up"):
            key = action
        else:
            key = "failed"
        notification = Template(top["notifications"][key]).safe_substitute(
            quantity=f"{moved:f}",
            asset=collateral_asset,
            ltv_before=percent(compared),
            ltv_after=percent(compared_after),
            next_attempt_at=iso(next_attempt) if next_attempt else "",
            attempts=str(max_attempts),
        )
    fired = next((rule for rule in policy["rules"] if rule["status"] == status), None)
    return {
        "as_of": now,
        "loan_type": loan_type,
        "loan_asset": loan_asset,
        "collateral_asset": collateral_asset,
        "collateral_quantity": quantity,
        "debt_value": debt_value,
        "collateral_value": collateral_value,
        "ltv": ltv,
        "ltv_compared": compared,
        "status": status,
        "rule": fired["id"] if fired else None,
        "thresholds": {"initial": initial, "margin_call": call, "liquidation": liquidation},
        "top_up": {
            "action": action,
            "attempted": attempted,
            "result": result,
            "quantity": moved,
            "next_attempt_at": next_attempt,
            "record_type": record,
            "next_state": state,
            "asset": collateral_asset,
            "enabled": enabled,
            "triggered": triggered,
            "required_quantity": required,
            "spot_balance": balance,
            "ltv_after": ltv_after,
            "ltv_after_compared": compared_after,
            "status_after": status_of(compared_after),
            "collateral_after": collateral_after,
            "capped_by": None,  # the generated accounts carry no platform total (the cap: test_collateral_loans)
            "notification": notification,
        },
    }
