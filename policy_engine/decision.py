"""The decision record and its canonical JSON form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ._numbers import iso
from ._plain import COMPACT, native, to_plain
from .frozen import slot_setters
from .model import PolicyRef
from .trace import Trace


def canonical_json(value: Any, *, indent: int | None = None) -> str:
    """Sorted keys, fixed separators, a trailing newline: byte-identical for equal values."""
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(to_plain(value), sort_keys=True, indent=indent, separators=separators, ensure_ascii=False) + "\n"


_COMPACT = COMPACT
_REFERENCE_WRITES = ("64-bit", "key must be str")
"""What orjson refuses and the reference writes: integers beyond 64 bits, keys that are not strings."""
_INDENTED = _COMPACT | orjson.OPT_INDENT_2


def fast_canonical_json(value: Any, *, indent: int | None = None) -> bytes:
    """The bytes of `canonical_json(value)`, written by orjson in one pass, without a plain copy first.

    Decimals and read-only maps are converted as orjson meets them.  It does
    not walk the value looking for floats (orjson writes them as numbers):
    floats are refused where values enter (accounts, YAML, expressions), and
    the strict `canonical_json` stays the reference the tests hold it to.  A
    value orjson refuses (an integer beyond 64 bits, a key that is not a
    string) is written by the reference instead.
    """
    try:
        return orjson.dumps(value, default=native, option=_INDENTED if indent else _COMPACT) + b"\n"
    except orjson.JSONEncodeError as error:
        if isinstance(error.__cause__, TypeError):  # raised by `native`: a value no decision may hold
            raise error.__cause__ from None
        if any(reason in str(error) for reason in _REFERENCE_WRITES):
            return canonical_json(value, indent=indent).encode()
        raise


def input_digest(account: Mapping[str, Any]) -> str:
    """sha256 of the account's canonical JSON: equal inputs, equal digests."""
    return hashlib.sha256(fast_canonical_json(account)).hexdigest()


_NO_OPERATIONS = b"[]\n"
_LAST_INSTANT: list[tuple[datetime, str]] = []
"""The last instant an id was made for and its ISO text: writing it costs more than the hashing, and a batch
decides every row at one instant."""


def _instant_text(moment: datetime) -> str:
    last = _LAST_INSTANT
    if last and last[0][0] == moment:  # equal aware datetimes are one instant: one UTC text
        return last[0][1]
    text = iso(moment)
    last[:] = [(moment, text)]
    return text


def decision_id(
    input_sha256: str,
    policy: PolicyRef,
    related: tuple[PolicyRef, ...],
    as_of: datetime,
    operations: tuple[tuple[str, Any], ...],
) -> str:
    """sha256 of what a decision answers: the input's digest, every policy file's sha256 (the main one, then the
    related ones in the order the product read them), the instant and the operations applied.

    The same account, policy versions, instant and operations give the same id, on any machine and in any run,
    so the decision stays byte-identical; a log line carries the same id.  Each part is one line of the hashed
    text (digests and an ISO instant hold no newline; the operations are canonical JSON on the last line).
    """
    operations_json = (
        fast_canonical_json([[name, value] for name, value in operations]) if operations else _NO_OPERATIONS
    )
    policies = " ".join([policy.sha256, *[ref.sha256 for ref in related]])
    head = f"{input_sha256}\n{policies}\n{_instant_text(as_of)}\n".encode()
    return hashlib.sha256(head + operations_json).hexdigest()


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
    _digest: list[str] = field(default_factory=list, init=False, repr=False, compare=False)
    """The input digest, then the decision id, once computed (a decision is immutable, so they never change)."""

    def __init__(
        self,
        *,
        outcome: Mapping[str, Any],
        trace: Trace,
        policy: PolicyRef,
        account: Mapping[str, Any],
        as_of: datetime,
        related: tuple[PolicyRef, ...] = (),
        operations: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        # the dataclass's own __init__, without `object.__setattr__` per field (see `slot_setters`)
        _set_outcome(self, outcome)
        _set_trace(self, trace)
        _set_policy(self, policy)
        _set_account(self, account)
        _set_as_of(self, as_of)
        _set_related(self, related)
        _set_operations(self, operations)
        _set_digest(self, [])

    @property
    def status(self) -> str:
        return str(self.outcome["status"])

    @property
    def input_sha256(self) -> str:
        """sha256 of the canonical JSON of `account`, computed once."""
        if not self._digest:
            self._digest.append(input_digest(self.account))
        return self._digest[0]

    @property
    def decision_id(self) -> str:
        """The decision's content id, computed once: equal questions, equal ids (see `decision_id`)."""
        digests = self._digest
        if len(digests) < 2:  # noqa: PLR2004 - [input digest, decision id]
            input_sha256 = digests[0] if digests else self.input_sha256
            digests.append(decision_id(input_sha256, self.policy, self.related, self.as_of, self.operations))
        return digests[1]

    def _raw(self, *, trace: bool) -> dict[str, Any]:
        """The decision's JSON shape with its values as they are (Decimals, read-only maps, datetimes)."""
        raw: dict[str, Any] = {
            "account": {"kind": self.account.get("kind"), "id": self.account.get("account_id")},
            "as_of": self.as_of,
            "decision_id": self.decision_id,
            "input_sha256": self.input_sha256,
            "operations": [{"name": name, "value": value} for name, value in self.operations],
            "outcome": self.outcome,
            "policy": self.policy.as_dict,
            "related_policies": [ref.as_dict for ref in self.related],
        }
        if trace:
            raw["trace"] = self.trace.to_list()
        return raw

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        """The decision as plain JSON values (Decimals as text); `trace=False` leaves the trace out.

        Strict: a float anywhere raises, as `canonical_json` does.
        """
        plain: dict[str, Any] = to_plain(self._raw(trace=trace))
        return plain

    def to_json_bytes(self, *, indent: int | None = None, trace: bool = True) -> bytes:
        """`to_json()` as UTF-8 bytes, for writers that take bytes (no decode and encode again)."""
        if indent:
            return fast_canonical_json(self._raw(trace=trace), indent=indent)
        try:
            return self._compact(trace=trace)
        except (orjson.JSONEncodeError, TypeError, ValueError):
            # a value orjson refuses (an integer beyond 64 bits, say): the general path writes it, or says why not
            return fast_canonical_json(self._raw(trace=trace))

    def _compact(self, *, trace: bool) -> bytes:
        """The compact canonical bytes, from parts written once: the policy's JSON at load, the trace's steps
        from the pieces of text each step fixed at load (`StepSpec.render_json`)."""
        account = self.account
        raw: dict[str, Any] = {
            "account": {"kind": account.get("kind"), "id": account.get("account_id")},
            "as_of": self.as_of,
            "decision_id": self.decision_id,
            "input_sha256": self.input_sha256,
            "operations": [{"name": name, "value": value} for name, value in self.operations],
            "outcome": self.outcome,
            "policy": orjson.Fragment(self.policy.written[0] if self.policy.written else self.policy.json()),
            "related_policies": [orjson.Fragment(ref.json()) for ref in self.related],
        }
        if trace:
            raw["trace"] = orjson.Fragment(self.trace.json_text())
        return orjson.dumps(raw, default=native, option=_COMPACT) + b"\n"

    def to_json(self, *, indent: int | None = None, trace: bool = True) -> str:
        """Canonical JSON: sorted keys, fixed separators, a trailing newline; byte-identical for equal decisions."""
        return self.to_json_bytes(indent=indent, trace=trace).decode()


_set_outcome, _set_trace, _set_policy, _set_account, _set_as_of, _set_related, _set_operations, _set_digest = (
    slot_setters(Decision, "outcome", "trace", "policy", "account", "as_of", "related", "operations", "_digest")
)


def made_decision(  # noqa: PLR0917 - the record's fields, in order: positions are the point
    outcome: Mapping[str, Any],
    trace: Trace,
    policy: PolicyRef,
    account: Mapping[str, Any],
    as_of: datetime,
    related: tuple[PolicyRef, ...],
    operations: tuple[tuple[str, Any], ...],
) -> Decision:
    """`Decision(...)` by position, for the engine: a third cheaper than the keyword call, the same record."""
    decision: Decision = _new(Decision)
    _set_outcome(decision, outcome)
    _set_trace(decision, trace)
    _set_policy(decision, policy)
    _set_account(decision, account)
    _set_as_of(decision, as_of)
    _set_related(decision, related)
    _set_operations(decision, operations)
    _set_digest(decision, [])
    return decision


_new = object.__new__
