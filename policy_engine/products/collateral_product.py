"""The collateral product: policy kind `collateral`, account kind `margin-transfer`.

A `margin-transfer` account is one request to transfer an asset into a
margin account; its decision says whether the platform max-collateral rule
applies, the ratio platform total / upper limit and its band, the maximum
transfer-in quantity (null when unlimited) and how much of the request is
allowed.  A manual request over the maximum is refused (nothing moves); an
automatic one (`auto: true`) is capped at the maximum, and at a maximum of 0
its message says that another asset must be used.  Statuses: `allowed` (the
whole request), `capped`, `refused`.

Margin and loans read collateral policies through `collateral.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..product import Product
from .collateral import explain_step
from .collateral_policy import compile_collateral


def explain_sections(decision: Mapping[str, Any]) -> list[str]:
    """The request, the rule's verdict and the message."""
    outcome = decision["outcome"]
    how = "automatic" if outcome["auto"] else "manual"
    lines = [
        f"Transfer in: {outcome['quantity']} {outcome['asset']} ({how}) into a {outcome['account_type']} account",
    ]
    if not outcome["applies"]:
        lines.append(f"  max-collateral rule: does not apply ({outcome['reason']})")
    else:
        band = outcome["band"]
        maximum = outcome["max_quantity"]
        lines += [
            f"  max-collateral rule: platform total {outcome['platform_total']} of upper limit"
            f" {outcome['upper_limit']}, ratio {outcome['ratio']}",
            f"  band {band['number']} ({band['range']})  [{band['source']}]",
            f"  max transfer-in quantity: {'unlimited' if maximum is None else maximum}",
        ]
    verdicts = {
        "allowed": "allowed in full",
        "capped": f"capped: {outcome['allowed_quantity']} may move",
        "refused": "refused: nothing moves",
    }
    lines.append(f"  {verdicts[outcome['status']]}")
    if outcome["message"]:
        lines.append(f"  message: {outcome['message']}")
    return lines


PRODUCT = Product(
    policy_kind="collateral",
    account_kind="margin-transfer",
    policy_schema="collateral.schema.json",
    account_schema="margin-transfer.account.schema.json",
    compile=compile_collateral,
    explain_sections=explain_sections,
    explain_detail=explain_step,
)

__all__ = ["PRODUCT", "explain_sections"]
