"""The seam every product plugs into: what a product is and what its compiled policy does.

A product is a frozen record of plain callables (the way jsonschema maps a
keyword to a function), found through the entry-point group
`policy_engine.products`.  Generic code (the engine, the explanation, the
CLI, the simulation) asks the record and never names a product.  The optional
parts have clear refusals when absent: a product without `simulation` cannot
be simulated, one without `operations` takes none.

This module imports only records (model, trace, errors), so products and
the engine both import it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from .errors import Problem
from .model import PolicyDocument, PolicyRef
from .trace import Trace

Account = Mapping[str, Any]
Outcome = Mapping[str, Any]
SchemaRef = str | Path
"""A bundled schema's file name (`margin-trading.schema.json`), or the path of a schema file."""


class CompiledPolicy(Protocol):
    """One policy version compiled for evaluation: pure, no I/O, no clock, no logging."""

    @property
    def ref(self) -> PolicyRef: ...

    def evaluate(
        self, account: Account, *, source: str, as_of: datetime, related: Mapping[str, CompiledPolicy]
    ) -> tuple[Outcome, Trace]:
        """The outcome and trace for a schema-valid account.

        The outcome is a read-only mapping with at least `status` (a string);
        `rule` and `notification`, when present, are shown by the generic
        explanation.  `as_of` is the instant of the decision (aware, UTC), resolved once by
        the engine; `related` holds the version in force at that instant of
        each policy kind the product reads (a kind that is not loaded, or has
        no version in force then, is absent).  Raises `AccountError` when the
        account does not fit the policy, citing `source` as the account's name.
        """
        ...


Compile = Callable[[PolicyDocument], tuple[CompiledPolicy | None, list[Problem]]]
CheckAcross = Callable[[PolicyDocument, Mapping[str, Sequence[CompiledPolicy]]], list[Problem]]
"""Lint across policies: one version's document, and every version of each kind it reads that is
in force at some instant while this version is (by kind).  Returns located problems."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Operation:
    """A named what-if or event applied to an account before it is evaluated.

    `apply(account, value)` returns a new account (it never changes its
    argument) and raises `ValueError` with a message naming what was expected
    when the value is wrong.  `value` is None when the operation takes no
    argument, otherwise the text after `=` on the command line or the value a
    library caller passed.
    """

    name: str
    help: str
    apply: Callable[[Account, Any], Account]
    argument: str | None = None
    """The argument's name in help text (`QUANTITY`), or None when the operation takes none."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Simulation:
    """How a simulation steps an account of this product through a price path."""

    reprice: Callable[[Account, Mapping[str, Decimal]], Account]
    """The account with new market prices (asset symbol -> price)."""
    advance: Callable[[Account, Outcome], Account | None]
    """The account after the decision's effects, or None when the decision ends it (liquidation)."""
    summarize: Callable[[Outcome], dict[str, Any]]
    """One timeline entry: `status`, `figure` (the deciding ratio as text), `notes` and key values."""
    assets: Callable[[Account], frozenset[str]]
    """The asset symbols whose prices the account's decision depends on."""
    wake_at: Callable[[Outcome], datetime | None] = lambda _outcome: None
    """When the account must be evaluated again even if prices do not change (a retry that is due)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Product:
    """A policy kind and its account kind: schemas, compiler, and the optional parts."""

    policy_kind: str
    account_kind: str
    policy_schema: SchemaRef
    account_schema: SchemaRef
    compile: Compile
    reads: tuple[str, ...] = ()
    """Other policy kinds the product reads, passed in as `related` when a version is in force."""
    requires: tuple[str, ...] = ()
    """Kinds among `reads` that must be loaded: loading without one is a policy error."""
    check_across: CheckAcross | None = None
    explain_sections: Callable[[Mapping[str, Any]], Sequence[str]] | None = None
    """Extra lines for the text explanation, from the decision's dict form (a liquidation plan, say)."""
    explain_detail: Callable[[Mapping[str, Any]], Sequence[str] | None] | None = None
    """Lines for one trace step's product-specific `detail` (dict form), or None to use the generic ones."""
    operations: tuple[Operation, ...] = ()
    simulation: Simulation | None = None

    def operation(self, name: str) -> Operation | None:
        for operation in self.operations:
            if operation.name == name:
                return operation
        return None


__all__ = [
    "Account",
    "CheckAcross",
    "Compile",
    "CompiledPolicy",
    "Operation",
    "Outcome",
    "Product",
    "SchemaRef",
    "Simulation",
]
