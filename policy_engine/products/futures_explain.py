"""Futures decisions for people: explanation sections, trace details and simulation timeline entries.

The explanation works on a decision's dict form (numbers as text); the
timeline summary on the outcome itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from .._numbers import WIDE_CONTEXT
from .futures_model import LIQUIDATION

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


def percent(ratio: Any) -> str:
    """A ratio as a percentage with 2 decimals (0.058 -> 5.80%); `n/a` for none."""
    if ratio is None:
        return "n/a"
    return f"{(Decimal(ratio) * HUNDRED).quantize(CENT, context=WIDE_CONTEXT):f}%"


def _price(value: Any) -> str:
    return "none" if value is None else str(value)


def _move(record: Mapping[str, Any]) -> str:
    before, after = _price(record["liquidation_price_before"]), _price(record["liquidation_price_after"])
    return (
        f"liquidation price {before} -> {after},"
        f" margin ratio {percent(record['margin_ratio_before'])} -> {percent(record['margin_ratio_after'])}"
    )


def _adjustment_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = []
    for record in records:
        limit = next((f" (at most {record[key]})" for key in ("max_addable", "max_removable") if key in record), "")
        lines.append(f"{record['type']} {record['amount']}{limit}: {_move(record)}")
    return lines


def _addition_lines(additions: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        f"added {item['amount']}"
        + ("" if Decimal(item["amount"]) == Decimal(item["wanted"]) else f" of {item['wanted']} wanted")
        + f": position margin {item['position_margin_after']}, wallet {item['wallet_balance_after']},"
        f" liquidation price {_price(item['liquidation_price_after'])},"
        f" margin ratio {percent(item['margin_ratio_after'])}"
        for item in additions
    ]


def _target_lines(recommended: Mapping[str, Any]) -> list[str]:
    lines = []
    for target in recommended["targets"]:
        head = f"{percent(target['distance'])} away (at {target['target_price']}): "
        if not target["needed"]:
            lines.append(head + "already met, nothing to add")
            continue
        cap = "" if target["within_cap"] else f", over the cap {recommended['cap']} ({recommended['cap_basis']})"
        lines.append(
            head + f"add {target['amount']}{cap} -> liquidation price {_price(target['liquidation_price_after'])},"
            f" margin ratio {percent(target['margin_ratio_after'])}"
        )
    return lines


def _partial_lines(partial: Mapping[str, Any]) -> list[str]:
    if not partial["possible"]:
        return [f"closing {percent(partial['fraction'])} rounds to no quantity at the symbol's quantity step"]
    return [
        f"close {partial['quantity_closed']}, keep {partial['quantity_left']}: realised PnL {partial['realised_pnl']},"
        f" liquidation price {_price(partial['liquidation_price_after'])},"
        f" margin ratio {percent(partial['margin_ratio_after'])}"
    ]


def explain_detail(step: Mapping[str, Any]) -> list[str] | None:
    """Readable lines for the product's own trace details."""
    detail = step.get("detail")
    name = step["step"]
    if detail is None:
        return None
    if name == "adjustments":
        return _adjustment_lines(detail)
    if name == "auto_add":
        return _addition_lines(detail)
    if name == "liquidation_price":
        return [f"shown as {_price(detail['shown'])} ({detail['rounding']}, toward the mark price)"]
    if name == "advice.recommended_add":
        return _target_lines(detail)
    if name == "advice.partial_stop_loss":
        return _partial_lines(detail)
    return None


_COLUMNS = ("new funds", "position", "realised loss", "liquidation price", "margin ratio")


def _row(label: str, cells: Sequence[str]) -> str:
    return f"  {label:<26}" + "".join(f"{cell:>19}" for cell in cells).rstrip()


def _comparison(outcome: Mapping[str, Any], advice: Mapping[str, Any]) -> list[str]:
    """Adding margin and a partial stop-loss side by side, with the position as it stands."""
    lines = [f"Adding margin or a partial stop-loss, at mark price {outcome['mark_price']}:", _row("", _COLUMNS)]
    quantity = outcome["quantity"]
    lines.append(
        _row(
            "as it stands",
            ["0", quantity, "0", _price(outcome["liquidation_price"]), percent(outcome["margin_ratio_compared"])],
        )
    )
    recommended = advice["recommended_add"]
    for target in recommended["targets"] if recommended else ():
        label = f"add for {percent(target['distance'])} away"
        if not target["needed"]:
            lines.append(_row(label, ["already met"]))
            continue
        lines.append(
            _row(
                label,
                [
                    target["amount"],
                    quantity,
                    "0",
                    _price(target["liquidation_price_after"]),
                    percent(target["margin_ratio_after"]),
                ],
            )
        )
    partial = advice["partial_stop_loss"]
    if partial["possible"]:
        lines.append(
            _row(
                f"partial stop-loss {percent(partial['fraction'])}",
                [
                    partial["new_funds"],
                    partial["quantity_left"],
                    partial["realised_loss"],
                    _price(partial["liquidation_price_after"]),
                    percent(partial["margin_ratio_after"]),
                ],
            )
        )
    return lines


def explain_sections(decision: Mapping[str, Any]) -> list[str]:
    """The position at a glance, auto-add margin, the advice and the comparison of the two ways out."""
    outcome = decision["outcome"]
    lp = outcome["liquidation_price"]
    where = (
        outcome["liquidation_price_note"]
        if lp is None
        else f"{lp}, {percent(outcome['liquidation_distance'])} from the mark price"
        + (f" ({outcome['liquidation_price_note']})" if outcome["liquidation_price_note"] else "")
    )
    lines = [
        f"Position: {outcome['side']} {outcome['quantity']} {outcome['symbol']}, {outcome['margin_mode']},"
        f" {outcome['leverage']}x, entry {outcome['entry_price']}, mark {outcome['mark_price']}",
        f"  bracket {outcome['bracket']['index']}: mmr {outcome['mmr']}, cum {outcome['bracket']['cum']},"
        f" max leverage {outcome['max_leverage']}x",
        f"  margin ratio {percent(outcome['margin_ratio_compared'])} ({outcome['zone'] or 'past liquidation'});"
        f" liquidation price {where}",
    ]
    automatic = outcome["auto_add"]
    if automatic is not None:
        lines += ["", "Auto-add margin: " + ("on" if automatic["enabled"] else "off")]
        if automatic["enabled"]:
            lines += ["  " + line for line in _addition_lines(automatic["additions"])]
            if automatic["wallet_ran_dry"]:
                lines.append("  the wallet ran dry with the position still at maintenance: liquidation")
            if automatic["cut_short"]:
                count = len(automatic["additions"])
                lines.append(f"  stopped after {count} additions in one decision (a safety bound)")
    advice = outcome["advice"]
    if advice is None:
        return [*lines, "", "Advice: none, the position is past liquidation."]
    add = advice["add_margin"]
    lines += ["", "Adding margin: " + ("allowed" if add["allowed"] else "not advised")]
    lines += [f"  {rule['id']} ({rule['verdict']}): {rule['reason']}" for rule in add["rules"]]
    if advice["recommended_add"] is None:
        lines.append("  recommended add: none needed")
    lines += ["", *_comparison(outcome, advice)]
    return lines


def summarize(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """One timeline entry: the margin ratio, each auto-add addition, and how a liquidation came."""
    notes = []
    automatic = outcome["auto_add"]
    ran_dry = bool(automatic and automatic["enabled"] and automatic["wallet_ran_dry"])
    if automatic and automatic["enabled"]:
        notes += [
            f"auto-add {item['amount']} -> margin ratio {percent(item['margin_ratio_after'])},"
            f" liquidation price {_price(item['liquidation_price_after'])}, wallet {item['wallet_balance_after']}"
            for item in automatic["additions"]
        ]
        if ran_dry and outcome["status"] == LIQUIDATION:
            notes.append("wallet empty: liquidation")
    if outcome["status"] == LIQUIDATION and not ran_dry:
        notes.append(f"liquidation (liquidation price {_price(outcome['liquidation_price'])})")
    return {
        "status": outcome["status"],
        "figure": f"MR {percent(outcome['margin_ratio_compared'])}",
        "margin_ratio": outcome["margin_ratio_compared"],
        "liquidation_price": outcome["liquidation_price"],
        "position_margin": outcome["position_margin"],
        "wallet_balance": outcome["wallet_balance"],
        "notes": notes,
    }


__all__ = ["explain_detail", "explain_sections", "percent", "summarize"]
