"""Futures margin from domain.md section 4: brackets, maintenance margin, margin ratio, liquidation price, status.

From the domain reference (and seed 001), USDⓈ-M, one-way mode:
- notional = quantity x mark price; its bracket gives the maintenance margin
  rate and `cum`: MM = notional x MMR - cum;
- unrealised PnL = side x quantity x (mark - entry), side +1 long, -1 short;
- isolated: the position's own margin is its wallet balance, nothing else
  counts; cross: the futures wallet is shared, and the other positions'
  maintenance margin (TMM1) and unrealised PnL (UPNL1) count;
- margin ratio = maintenance margin / margin balance, liquidation at 100%;
  the green / yellow / red zones are policy bands;
- LP = (WB - TMM1 + UPNL1 + cum - side x Q x EP) / (Q x MMR - side x Q),
  checked on the published figures (isolated 1 BTC at 60,000 with WB 6,000:
  long 54,216.87, short 65,737.05; cross short 0.005 at 9,451.53: 11,383.99).

Conventions the domain reference leaves open, as the README ("Futures
margin") documents them:
- margin balance = WB + UPNL (+ UPNL1 in cross); the margin ratio counts the
  maintenance margin of every position the margin balance covers (MM + TMM1 in
  cross); the ratio is compared at the policy's places and rounding, and a
  margin balance of 0 or less has no ratio and is liquidated;
- effective leverage = notional / margin balance; initial margin =
  notional / leverage;
- the liquidation price is solved in the bracket that holds the notional *at
  that price* (MB - MM is monotonic in the price, so there is one root, and
  MM is continuous across brackets); a long with no root above 0, or a short
  with none above 0, has none; it is shown rounded toward the mark price (the
  policy's rounding per side); its distance is |mark - LP| / mark;
- a notional on a bracket edge belongs to the bracket the policy names
  (`bracket_edge_belongs_to`); solving for the liquidation price, the last
  bracket holds every notional above its start (a short's notional at its
  liquidation price may pass the table's end: it still has one);
- with the margin balance at or below 0 the status is `liquidation` without a
  rule (there is no ratio for a rule to compare).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, localcontext
from typing import Any

from .policy_data import ARITHMETIC, rounded

ZERO = Decimal(0)
FIGURES = (
    "notional",
    "mmr",
    "max_leverage",
    "maintenance_margin",
    "maintenance_total",
    "initial_margin",
    "unrealized_pnl",
    "margin_balance",
    "effective_leverage",
    "margin_ratio",
    "margin_ratio_compared",
    "zone",
    "status",
    "rule",
    "liquidation_price_raw",
    "liquidation_price",
    "liquidation_distance",
)
"""The outcome's figures the reference computes, with `bracket` and `liquidation_bracket` (their 1-based index)."""


def engine_figures(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """The engine outcome's figures the reference computes (the advice, notes and steps aside)."""
    figures = {name: outcome[name] for name in FIGURES}
    for name in ("bracket", "liquidation_bracket"):
        figures[name] = None if outcome[name] is None else outcome[name]["index"]
    return figures


def _holds(policy: Mapping[str, Any], band: Mapping[str, Any], notional: Decimal, *, last: bool = False) -> bool:
    """Whether `notional` is in the bracket `band`; the `last` bracket holds every notional above its start."""
    if policy["bracket_edge_belongs_to"] == "lower_bracket":
        return band["from"] < notional and (last or notional <= band["to"])
    return band["from"] <= notional and (last or notional < band["to"])


def _bracket(policy: Mapping[str, Any], brackets: list[Mapping[str, Any]], notional: Decimal) -> int:
    return next(number for number, band in enumerate(brackets, start=1) if _holds(policy, band, notional))


def futures_figures(policy: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    """The figures the domain reference gives for a valid futures position under `policy` (auto-add off)."""
    with localcontext(ARITHMETIC):
        return _figures(policy, account)


def _figures(policy: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    brackets = policy["symbols"][account["symbol"]]["brackets"]
    side = 1 if account["side"] == "long" else -1
    quantity, mark, entry = (Decimal(account[name]) for name in ("quantity", "mark_price", "entry_price"))
    cross = account["margin_mode"] == "cross"
    wallet = Decimal(account["wallet_balance"] if cross else account["position_margin"])
    others_mm = Decimal(account["other_maintenance_margin"]) if cross else ZERO
    others_pnl = Decimal(account["other_unrealized_pnl"]) if cross else ZERO

    notional = quantity * mark
    number = _bracket(policy, brackets, notional)
    band = brackets[number - 1]
    maintenance = notional * band["mmr"] - band["cum"]
    pnl = side * quantity * (mark - entry)
    balance = wallet + pnl + others_pnl
    total = maintenance + others_mm
    figures: dict[str, Any] = {
        "notional": notional,
        "bracket": number,
        "mmr": band["mmr"],
        "max_leverage": int(band["max_leverage"]),
        "maintenance_margin": maintenance,
        "maintenance_total": total,
        "initial_margin": notional / Decimal(account["leverage"]),
        "unrealized_pnl": pnl,
        "margin_balance": balance,
        "effective_leverage": None,
        "margin_ratio": None,
        "margin_ratio_compared": None,
        "zone": None,
        "status": "liquidation",
    }
    if balance > 0:
        ratio = total / balance
        compared = rounded(ratio, policy["margin_ratio"]["places"], policy["margin_ratio"]["rounding"])
        zone = next(
            z["zone"] for z in policy["zones"] if z["from"] <= compared and (z.get("to") is None or compared < z["to"])
        )
        figures |= {
            "effective_leverage": notional / balance,
            "margin_ratio": ratio,
            "margin_ratio_compared": compared,
            "zone": zone,
            "status": "liquidation" if compared >= 1 else {"red": "red", "yellow": "yellow"}.get(zone, "green"),
        }
    # the bundled rules, by status (the test checks that the policy still states them); with the margin balance
    # gone no rule is read: there is no ratio to compare
    fired = {"liquidation": "liquidation", "red": "red_zone", "yellow": "yellow_zone"}.get(figures["status"])
    figures["rule"] = fired if balance > 0 else None
    return figures | _liquidation(policy, brackets, side, quantity, entry, mark, wallet - others_mm + others_pnl)


def _liquidation(
    policy: Mapping[str, Any],
    brackets: list[Mapping[str, Any]],
    side: int,
    quantity: Decimal,
    entry: Decimal,
    mark: Decimal,
    covering: Decimal,
) -> dict[str, Any]:
    """LP by the published formula, in the bracket whose notional range holds Q x LP; `covering` is
    WB - TMM1 + UPNL1."""
    for number, band in enumerate(brackets, start=1):
        price = (covering + band["cum"] - side * quantity * entry) / (quantity * band["mmr"] - side * quantity)
        if price > 0 and _holds(policy, band, quantity * price, last=number == len(brackets)):
            mode = policy["liquidation_price"]["rounding"]["long" if side == 1 else "short"]
            return {
                "liquidation_price_raw": price,
                "liquidation_price": rounded(price, policy["liquidation_price"]["places"], mode),
                "liquidation_bracket": number,
                "liquidation_distance": abs(mark - price) / mark,
            }
    return {
        "liquidation_price_raw": None,
        "liquidation_price": None,
        "liquidation_bracket": None,
        "liquidation_distance": None,
    }
