"""The platform max-collateral rule from domain.md section 2: one transfer-in request (`margin-transfer`).

From the domain reference (and seed 002):
- the rule applies to assets of the limited ranks (7-10 in the seed), each with
  a platform-wide upper limit, and to transfers into the counted account types
  (Cross Classic, Cross Pro, Portfolio Margin); Isolated is excluded; other
  ranks are not limited;
- r = platform total / upper limit (exact: no rounding), and the band of r gives
  the maximum transfer-in: under 80%, up to 80% of the limit less the total;
  80-90%, 50,000 USDT-equivalent (converted at the asset's price); 90-100%, the
  smaller of what is left to the limit and 50,000 USDT-equivalent; from 100%,
  blocked (0).  The policy states the edges (`includes_from`) and the amounts;
- a request over the maximum is refused with the maximum stated ("The max
  transfer-in quantity is 10,000"); the rule also caps an automatic transfer.

Conventions the domain reference leaves open, as the README ("Collateral")
documents them:
- the maximum quantity is rounded to the asset's precision in the policy's
  `quantity_rounding` (down: never more than the rule allows);
- a manual request over the maximum is `refused` (nothing moves); an automatic
  one is `capped` at the maximum, or `refused` with the `blocked` message when
  the maximum is 0 (a top-up capped to 0 moves nothing);
- quantities in messages are written with thousands separators and without
  trailing zeros (the seed's "10,000").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

from .policy_data import ARITHMETIC, rounded

ZERO = Decimal(0)


def transfer_outcome(policy: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    """The figures the domain reference gives for a valid `margin-transfer` request under the collateral `policy`."""
    with localcontext(ARITHMETIC):
        return _outcome(policy, account)


def _band(bands: list[Mapping[str, Any]], ratio: Decimal) -> int:
    """The 1-based number of the band holding `ratio`: [from, to) when the band includes its start, else (from, to]."""
    for number, band in enumerate(bands, start=1):
        above_start = ratio >= band["from"] if band.get("includes_from", False) else ratio > band["from"]
        following = bands[number] if number < len(bands) else None
        below_end = (
            following is None
            or ratio < following["from"]
            or (ratio == following["from"] and not following.get("includes_from", False))
        )
        if (above_start or number == 1) and below_end:
            return number
    raise AssertionError(f"no band holds {ratio}")


def _message(template: str, name: str, quantity: Decimal) -> str:
    written = f"{quantity.normalize():,f}" if quantity != 0 else "0"
    return template.replace("$asset", name).replace("$max_quantity", written)


def _outcome(policy: Mapping[str, Any], account: Mapping[str, Any]) -> dict[str, Any]:
    rule = policy["max_collateral"]
    terms = policy["assets"][account["asset"]]
    quantity, price = Decimal(account["quantity"]), Decimal(account["price"])
    total, auto = Decimal(account["platform_total"]), account.get("auto", False)
    limit = None if terms.get("upper_limit") is None else Decimal(terms["upper_limit"])
    applies = terms["rank"] in rule["ranks"] and account["account_type"] in rule["account_types"]["counted"]
    outcome: dict[str, Any] = {
        "applies": applies,
        "rank": int(terms["rank"]),
        "upper_limit": limit,
        "platform_total": total,
        "quantity": quantity,
        "auto": auto,
        "ratio": None,
        "band": None,
        "max_quantity": None,
        "status": "allowed",
        "allowed_quantity": quantity,
        "allowed": True,
        "message": None,
    }
    if not applies or limit is None:  # a limited rank without a limit is refused at load
        return outcome
    ratio = total / limit
    number = _band(rule["bands"], ratio)
    most = rule["bands"][number - 1]["max_transfer_in"]
    if most == "blocked":
        maximum = ZERO
    else:
        candidates = []
        if "up_to" in most:
            candidates.append(most["up_to"] * limit - total)
        if "value" in most:
            candidates.append(most["value"] / price)
        maximum = rounded(max(min(candidates), ZERO), terms["precision"], rule.get("quantity_rounding", ROUND_DOWN))
    outcome |= {"ratio": ratio, "band": number, "max_quantity": maximum}
    if quantity <= maximum:
        return outcome
    name = terms.get("name", account["asset"])
    messages = rule["messages"]
    if auto and maximum > 0:
        template, status, allowed_quantity = messages["capped"], "capped", maximum
    else:
        template, status, allowed_quantity = messages["blocked" if auto else "refused"], "refused", ZERO
    return outcome | {
        "status": status,
        "allowed_quantity": allowed_quantity,
        "allowed": False,
        "message": _message(template, name, maximum),
    }


def engine_figures(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """The engine outcome's figures the reference computes (its wording and YAML lines aside)."""
    band = outcome["band"]
    figures = {key: outcome[key] for key in ("applies", "rank", "upper_limit", "platform_total", "quantity", "auto")}
    figures |= {key: outcome[key] for key in ("ratio", "max_quantity", "status", "allowed_quantity", "allowed")}
    return figures | {"band": None if band is None else band["number"], "message": outcome["message"]}


def haircut_figures(
    collateral: Mapping[str, Any], margin: Mapping[str, Any], account: Mapping[str, Any]
) -> dict[str, Any]:
    """Section 2's haircut for a spot-margin account: each holding's value counts band by band at the band's
    ratio, like tax brackets (120M of BTC counts 100M + 20M x 0.975); the collateral margin level is that value
    over the liabilities and interest, compared rounded as the `margin` policy rounds the margin level."""
    with localcontext(ARITHMETIC):
        counted = ZERO
        for line in account["assets"]:
            value = Decimal(line["quantity"]) * Decimal(line["price"])
            for band in collateral["assets"][line["asset"]]["haircut"]:
                inside = max(value - band["from"], ZERO)  # the part of the value above the band's start
                if band.get("to") is not None:
                    inside = min(inside, band["to"] - band["from"])  # and below its end
                counted += band["ratio"] * inside
        debt = sum(
            ((Decimal(line["principal"]) + Decimal(line["interest"])) * Decimal(line["price"]))
            for line in account["liabilities"]
        )
        level = counted / debt if debt else None
        places, mode = margin["margin_level"]["places"], margin["margin_level"]["rounding"]
        return {
            "collateral_value": counted,
            "collateral_margin_level": level,
            "collateral_margin_level_compared": None if level is None else rounded(level, places, mode),
        }
