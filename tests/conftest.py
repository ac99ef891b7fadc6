"""Shared fixtures: the bundled policies, loaded once, and account builders."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLES = ROOT / "examples"
AS_OF = "2026-03-01T00:00:00Z"
"""An instant inside the bundled policies' validity, for decisions that must be reproducible."""


@pytest.fixture(scope="session")
def engine() -> Engine:
    return policy_engine.load(POLICIES)


def example(name: str) -> dict[str, Any]:
    """One of the bundled example accounts, parsed with exact decimals."""
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(), parse_float=Decimal)
    return data


def margin_account(
    *,
    assets: list[tuple[str, str, str]],
    debt: str = "400000",
    interest: str = "0",
    mode: str = "cross_classic",
    leverage: int = 5,
    execution_prices: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A spot-margin account with USDC debt; assets are (asset, quantity, price)."""
    account: dict[str, Any] = {
        "kind": "spot-margin",
        "account_id": "test",
        "mode": mode,
        "leverage": leverage,
        "assets": [{"asset": a, "quantity": q, "price": p} for a, q, p in assets],
        "liabilities": [{"asset": "USDC", "principal": debt, "interest": interest, "price": "1"}],
    }
    if execution_prices is not None:
        account["execution_prices"] = execution_prices
    return account
