"""A decision explained to a person, from its canonical dict form.

The text is built from the trace alone, so every product gets an explanation:
the status and the rule that set it, each comparison with its raw and
compared values and the YAML line of its threshold, each figure and the
parameters it used, then product sections such as a liquidation plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def _value(entry: Any) -> str:
    if isinstance(entry, Mapping):
        if "compared" in entry:
            return f"{entry['compared']} (raw {entry['raw']}, rounded {entry['rounding']})"
        return str(entry.get("value"))
    return "none" if entry is None else str(entry)


def _cited(entry: Any) -> str:
    if isinstance(entry, Mapping) and "source" in entry:
        return f"  [{entry['source']} {entry['path']}]"
    return ""


def _step_lines(step: Mapping[str, Any]) -> list[str]:
    kind = step["kind"]
    if kind == "rule" and "comparison" in step:
        comparison = step["comparison"]
        left, right = comparison["left"], comparison["right"]
        verdict = "holds" if comparison["result"] else "does not hold"
        return [
            f"rule {step['step'].removeprefix('rule:')}: {left['name']} {comparison['operator']}"
            f" {right['name']} {verdict}  [{step['source']}]",
            f"    {left['name']} = {_value(left)}{_cited(left)}",
            f"    {right['name']} = {_value(right)}{_cited(right)}",
        ]
    if kind == "rule":
        verdict = "holds" if step["value"] else "does not hold"
        lines = [f"rule {step['step'].removeprefix('rule:')}: {step['expression']} {verdict}  [{step['source']}]"]
        lines += [f"    {name} = {_value(entry)}{_cited(entry)}" for name, entry in step.get("inputs", {}).items()]
        return lines
    if kind == "plan":
        return [f"{step['step']}: {step['value']}  [{step['source']}]"] + [
            f"    {parameter['name']} = {parameter['value']}  [{parameter['source']} {parameter['path']}]"
            for parameter in step.get("parameters", [])
        ]
    head = f"{step['step']} = {_value(step['value']) if not isinstance(step['value'], Mapping) else ''}".rstrip(" =")
    if step["value"] is None and kind == "derive":
        head = f"{step['step']}: {step['description']}"
    if kind == "derive" and step.get("expression"):
        head += f"  ({step['expression']})"
    if kind == "status" and step.get("source"):
        head += f"  [{step['source']}]"
    if kind == "lookup":
        head = f"{step['step']} for " + ", ".join(f"{name} {value}" for name, value in step.get("inputs", {}).items())
    lines = [head]
    if isinstance(step["value"], Mapping) and not step.get("parameters"):
        lines += [f"    {name} = {value}" for name, value in step["value"].items()]
    detail = step.get("detail")
    if isinstance(detail, Mapping) and "compared" in detail:
        lines.append(f"    compared as {detail['compared']} ({detail['rounding']})")
    elif isinstance(detail, list):
        lines += [f"    {line['asset']}: {line['quantity']} x {line['price']} = {line['value']}" for line in detail]
    lines += [
        f"    {parameter['name']} = {parameter['value']}  [{parameter['source']} {parameter['path']}]"
        for parameter in step.get("parameters", [])
    ]
    return lines


def _nonzero(text: str) -> bool:
    return Decimal(text) != 0


def _liquidation_lines(plan: Mapping[str, Any]) -> list[str]:
    lines = [f"Liquidation ({plan['method']}):"]
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
    unpaid = f" (unpaid {plan['fee_unpaid']})" if _nonzero(plan["fee_unpaid"]) else ""
    lines.append(
        f"  fee: {plan['fee_rate']} x {plan['fee_base']} {plan['fee_base_value']} = {plan['fee_value']}{unpaid}"
    )
    if _nonzero(plan["debt_remaining"]):
        lines.append(f"  debt not covered: {plan['debt_remaining']}")
    returned = ", ".join(f"{item['quantity']} {item['asset']}" for item in plan["returned"]) or "nothing"
    lines.append(f"  returned to the user: {returned}")
    return lines


def _top_up_lines(top_up: Mapping[str, Any]) -> list[str]:
    state = top_up["next_state"]
    lines = [f"Auto top-up: {top_up['action']}" + ("" if top_up["enabled"] else " (auto top-up is off)")]
    if top_up["triggered"]:
        lines.append(
            f"  needed {top_up['required_quantity']} {top_up['asset']} to restore the initial LTV;"
            f" spot balance {top_up['spot_balance']}; moved {top_up['quantity']}"
        )
        lines.append(f"  LTV after: {top_up['ltv_after_compared']} -> status {top_up['status_after']}")
    if top_up["next_attempt_at"]:
        lines.append(f"  next attempt at {top_up['next_attempt_at']}")
    lines.append(
        f"  next state: {state['failed_attempts']} failed attempts, last attempt {state['last_attempt_at']},"
        f" succeeded before: {str(state['succeeded_before']).lower()}, disabled: {str(state['disabled']).lower()}"
    )
    if top_up["notification"]:
        lines.append(f"  notification: {top_up['notification']}")
    return lines


def explain(decision: Mapping[str, Any]) -> str:
    """A multi-line explanation of a decision's dict form (`Decision.to_dict()`)."""
    policy, account, outcome = decision["policy"], decision["account"], decision["outcome"]
    lines = [
        f"Account {account['id']} ({account['kind']}): {str(outcome['status']).upper()}",
        f"Policy {policy['id']} version {policy['version']} ({policy['file']}, sha256 {policy['sha256'][:12]})",
    ]
    if outcome.get("rule"):
        lines.append(
            f"Decided by rule `{outcome['rule']}`"
            + (f"; notification: {outcome['notification']}" if outcome.get("notification") else "")
        )
    lines += ["", "Why:"]
    for step in decision["trace"]:
        lines += ["  " + line for line in _step_lines(step)]
    if outcome.get("liquidation"):
        lines += ["", *_liquidation_lines(outcome["liquidation"])]
    if outcome.get("top_up"):
        lines += ["", *_top_up_lines(outcome["top_up"])]
    return "\n".join(lines) + "\n"
