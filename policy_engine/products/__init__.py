"""Products: one module per policy kind, registered here by kind.

Adding a product is one schema, one module exposing a `Product`, and one
line in `PRODUCTS`, the way jsonschema maps keywords to functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ..errors import Problem
from ..model import PolicyDocument, PolicyRef
from ..trace import Trace


class CompiledPolicy(Protocol):
    """A policy compiled for evaluation: pure, no I/O, no logging."""

    @property
    def ref(self) -> PolicyRef: ...

    def evaluate(
        self, account: Mapping[str, Any], *, source: str, as_of: datetime | None = None
    ) -> tuple[Mapping[str, Any], Trace]:
        """The outcome and trace for a schema-valid account at `as_of` (now when None).

        Raises `AccountError` when the account does not fit the policy (an
        unknown mode or asset, say), citing `source` as the account's name.
        """
        ...


Compile = Callable[[PolicyDocument], tuple[CompiledPolicy | None, list[Problem]]]
Account = Mapping[str, Any]
Outcome = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class Product:
    """A policy kind: its schemas, its compiler, and how a simulation steps its accounts."""

    policy_kind: str
    account_kind: str
    policy_schema: str
    account_schema: str
    compile: Compile
    reprice: Callable[[Account, Mapping[str, Decimal]], Account]
    """The account with new market prices (asset symbol -> price)."""
    advance: Callable[[Account, Outcome], Account | None]
    """The account after the decision's effects, or None when the decision ends it (liquidation)."""
    summarize: Callable[[Outcome], dict[str, Any]]
    """One timeline entry: `status`, `figure` (the deciding ratio as text), `notes` and key values."""
    assets: Callable[[Account], frozenset[str]]
    """The asset symbols whose prices the account's decision depends on."""
    wake_at: Callable[[Outcome], datetime | None]
    """When the account must be evaluated again even if prices do not change (a retry that is due)."""


def _registry() -> dict[str, Product]:
    from . import loans, margin  # noqa: PLC0415 - products import this module for the Product type

    products = (margin.PRODUCT, loans.PRODUCT)
    return {product.policy_kind: product for product in products}


PRODUCTS: Mapping[str, Product] = _registry()
BY_ACCOUNT_KIND: Mapping[str, Product] = {p.account_kind: p for p in PRODUCTS.values()}
