"""The decision record and its canonical JSON form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from .model import PolicyRef
from .trace import Trace


def to_plain(value: Any) -> Any:
    """`value` with Decimals as strings, tuples as lists and datetimes as ISO text.

    A float anywhere is a bug (inexact money), so it raises instead of being written.
    """
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Mapping):
        return {str(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        raise TypeError(f"float {value!r} in a decision: money and ratios must be Decimal")
    raise TypeError(f"cannot serialise {type(value).__name__} in a decision")


def freeze(value: Any) -> Any:
    """A read-only copy: mappings become read-only views, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def canonical_json(value: Any, *, indent: int | None = None) -> str:
    """Sorted keys, fixed separators, a trailing newline: byte-identical for equal values."""
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(to_plain(value), sort_keys=True, indent=indent, separators=separators, ensure_ascii=False) + "\n"


def input_digest(account: Mapping[str, Any]) -> str:
    """sha256 of the account's canonical JSON: equal inputs, equal digests."""
    return hashlib.sha256(canonical_json(account).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What a policy decided for one account, and why.

    `outcome` is the product's answer: a read-only mapping of plain values and
    Decimals, whose nested mappings are read-only and whose lists are tuples;
    `trace` holds the ordered steps that produced it.  Rendering is lazy:
    `to_dict()` and `to_json()` do the formatting work, not `evaluate()`.
    """

    outcome: Mapping[str, Any]
    trace: Trace
    policy: PolicyRef
    account: Mapping[str, Any]
    """A read-only copy of the account decided on: the one given *after* its `operations` were applied,
    so replaying a decision is evaluating `account` with no operations (`input_sha256` is its digest)."""
    as_of: datetime
    """The instant of the decision: the one asked for, or the engine's clock when none was."""
    related: tuple[PolicyRef, ...] = ()
    """The versions of the other policy kinds the product read, in force at `as_of`."""
    operations: tuple[tuple[str, Any], ...] = ()
    """The named operations applied to the account before evaluating, as (name, value)."""

    @property
    def status(self) -> str:
        return str(self.outcome["status"])

    @property
    def input_sha256(self) -> str:
        return input_digest(self.account)

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        """The decision as plain JSON values; `trace=False` leaves the trace out (outcome only)."""
        plain: dict[str, Any] = to_plain(
            {
                "account": {"kind": self.account.get("kind"), "id": self.account.get("account_id")},
                "as_of": self.as_of,
                "input_sha256": self.input_sha256,
                "operations": [{"name": name, "value": value} for name, value in self.operations],
                "outcome": self.outcome,
                "policy": self.policy.to_dict(),
                "related_policies": [ref.to_dict() for ref in self.related],
            }
        )
        if trace:
            plain["trace"] = to_plain(self.trace.to_list())
        return plain

    def to_json(self, *, indent: int | None = None, trace: bool = True) -> str:
        """Canonical JSON: sorted keys, fixed separators, a trailing newline; byte-identical for equal decisions."""
        return canonical_json(self.to_dict(trace=trace), indent=indent)
