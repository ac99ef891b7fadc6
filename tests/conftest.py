"""Shared fixtures: the bundled policies, loaded once, and account builders."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLES = ROOT / "examples"
BUNDLED_POLICIES = sorted(path for path in POLICIES.glob("*.yaml") if not path.name.endswith(".test.yaml"))
"""The bundled policy files (not their tests), by name: expected lists follow the pack as products are added."""
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


def _envelope(path: Path) -> dict[str, str]:
    """A policy file's kind, id, version and effective date, read from its top-level lines."""
    return dict(re.findall(r"^(kind|id|version|effective_from): (\S+)", path.read_text(), re.MULTILINE))


def validate_ok_lines(folder: str = "policies") -> str:
    """What `validate` prints for the bundled pack copied to `folder`: one `ok` line per policy file."""
    lines = []
    for path in BUNDLED_POLICIES:
        envelope = _envelope(path)
        lines.append(
            f"ok  {folder}/{path.name}  {envelope['kind']} {envelope['id']} v{envelope['version']}"
            f" from {envelope['effective_from'][:10]}\n"
        )
    return "".join(lines)


def bundled_kinds() -> list[str]:
    """The policy kinds of the bundled pack, sorted."""
    return sorted(_envelope(path)["kind"] for path in BUNDLED_POLICIES)


def bundled_account_kinds() -> list[str]:
    """The account kinds of the bundled products, sorted (one account schema each)."""
    return sorted(
        path.name.removesuffix(".account.schema.json") for path in (ROOT / "schemas").glob("*.account.schema.json")
    )


def bundled_schema_names() -> list[str]:
    """The names `policy-engine schema NAME` takes: every bundled schema file without `.schema.json`."""
    return sorted(path.name.removesuffix(".schema.json") for path in (ROOT / "schemas").glob("*.schema.json"))
