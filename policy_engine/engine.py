"""The public engine: load a policy set once, evaluate accounts many times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import getcontext, setcontext
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from ._fastcheck import CompiledReader, reader_for
from ._numbers import iso
from .accounts import freeze_account, uncomputable
from .arithmetic import engine_context
from .clock import Clock, as_of_error, resolve_instant, utc_now
from .decision import Decision, made_decision
from .decision_log import DecisionLog, LogSink
from .documents import LoadLimits, compile_paths
from .errors import AccountError, PolicyError, Problem, did_you_mean
from .model import PolicyRef
from .operations import Applied, OperationSpec, apply_operations
from .product import Account, CompiledPolicy, Product
from .registry import Registry, discovered
from .reloading import DEFAULT_WATCH_INTERVAL, PolicySet, PolicySource, PolicyWatcher, Reloaded, not_reloadable
from .schema import describe, load_schema, schema_problems

_NOTHING: Mapping[str, CompiledPolicy] = MappingProxyType({})
_COMPILE_AT_USE = 12
"""An account kind's reader is compiled at its twelfth evaluation in the process: compiling costs about a dozen
evaluations' checks by jsonschema, after which the check and copy cost a fortieth of one."""


class Engine:
    """A validated, compiled policy set.  Thread-safe for evaluation: it holds no per-call state."""

    def __init__(
        self,
        policies: Iterable[CompiledPolicy],
        *,
        registry: Registry | None = None,
        decision_log: DecisionLog | None = None,
        clock: Clock | None = None,
        source: PolicySource | None = None,
    ) -> None:
        self._registry = registry or discovered()
        self._set = PolicySet.of(policies)
        """The policies, as one immutable snapshot: `reload` replaces it whole, and each call reads it once."""
        self._source = source
        """Where the policies were read from (`load`), for `reload`; None for an engine made from compiled ones."""
        self._reloading = threading.Lock()
        self._products = dict(self._registry.by_account_kind)  # a read-only view's `get` costs a method call
        self._readers: dict[str, CompiledReader] = {}
        """The compiled reader of each account kind, once the kind has been evaluated often enough (see `_reader`)."""
        self._log = decision_log
        self._clock = clock or utc_now

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        """Every loaded policy version, by kind and then time."""
        return self._set.refs

    @property
    def products(self) -> Mapping[str, Product]:
        """The products this engine knows, by account kind."""
        return self._registry.by_account_kind

    def close(self) -> None:
        """Close the decision log file, if the engine opened one."""
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def product_for(self, account: object, *, source: str = "account") -> Product:
        """The product of an account (by its `kind`); an `AccountError` naming the kinds there are otherwise."""
        kind = account.get("kind") if isinstance(account, Mapping) else None
        product = self._products.get(kind) if isinstance(kind, str) else None
        if product is None:
            raise AccountError([self._kind_problem(account, source)])
        return product

    def policy_for(self, account_kind: str, as_of: datetime | date | str | None = None) -> CompiledPolicy:
        """The policy version in force at `as_of` (now when None) for an account kind."""
        product = self._registry.by_account_kind.get(account_kind)
        if product is None:
            raise AccountError([self._kind_problem({"kind": account_kind}, "account")])
        return self._in_force(self._set, product.policy_kind, resolve_instant(as_of, self._clock))

    def reload(self) -> Reloaded:
        """Read the policies again (the paths and options of `load`) and put them in force if every one loads.

        Otherwise raise `PolicyError` with every problem: the engine keeps the
        policies it had.  An evaluation running meanwhile uses the old set or
        the new one, whole (`policy_engine.reloading`).  Returns the versions
        that changed.
        """
        with self._reloading:  # one reload at a time; evaluations never wait for it
            if self._source is None:
                raise not_reloadable()
            old, new = self._set, self._source.load()
            self._set = new  # the swap: one reference
        return Reloaded.between(old, new)

    def watch(
        self,
        interval: timedelta = DEFAULT_WATCH_INTERVAL,
        *,
        on_reload: Callable[[Reloaded], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
    ) -> PolicyWatcher:
        """A started daemon thread that calls `reload` when the policy files change; `stop()` it when done.

        A failed reload leaves the old policies in force; it is logged (structlog
        event `policy_reload_failed`) and passed to `on_error`.
        """
        if self._source is None:
            raise not_reloadable()
        watcher = PolicyWatcher(self.reload, self._source, interval=interval, on_reload=on_reload, on_error=on_error)
        return watcher.start()

    def _in_force(self, policies: PolicySet, kind: str, moment: datetime, source: str = "account") -> CompiledPolicy:
        """The version of `kind` in force at `moment`; an `AccountError` saying why there is none."""
        policy = policies.at(kind, moment)
        if policy is not None:
            return policy
        versions = policies.versions.get(kind)
        if not versions:  # cited at the account's kind: no folder is named, whatever the policies were loaded from
            message = f"expected a loaded `{kind}` policy to decide this kind of account, got none; load one"
            raise AccountError([Problem(file=source, json_path="$.kind", message=message)])
        first = versions[0].ref
        raise as_of_error(
            f"no version of `{first.id}` is in force at {iso(moment)};"
            f" the first takes effect at {iso(first.effective_from)}"
        )

    def evaluate(
        self,
        account: Mapping[str, Any],
        as_of: datetime | date | str | None = None,
        *,
        source: str = "account",
        operations: Sequence[OperationSpec] = (),
    ) -> Decision:
        """Decide for one account at `as_of` (the engine's clock when None); `source` names it in messages.

        `operations` are the product's named operations (what-ifs and events),
        applied in order before evaluating.  Raises `AccountError` when the
        account, an operation or `as_of` is invalid (all problems at once),
        `EvaluationError` when a policy expression fails on the account.
        """
        started = time.perf_counter_ns() if self._log is not None else 0
        given: object = account  # callers may pass anything; the types only say what works
        kind = given.get("kind") if isinstance(given, Mapping) else None
        read = self._readers.get(kind) if isinstance(kind, str) else None
        product = self._products.get(kind) if isinstance(kind, str) else None
        if product is None:
            raise AccountError([self._kind_problem(account, source)])
        if read is None:
            read = self._reader(kind, product)  # type: ignore[arg-type]  # kind is a str here
        applied: Applied = ()
        if operations:
            self._check(read, product, account, source)
            account, applied = apply_operations(product, account, operations)
        # the check and the read-only copy in one pass; None sends the account to the slow, wordy path
        frozen = read(account) if read is not None else None
        if frozen is None:
            self._check(read, product, account, source)
            frozen = freeze_account(account, source=source)  # refuses floats and numbers beyond 1e60
        moment = as_of if type(as_of) is datetime and as_of.tzinfo is UTC else resolve_instant(as_of, self._clock)
        policies = self._set  # read once: a reload meanwhile is seen whole or not at all
        latest = policies.latest.get(product.policy_kind)  # the newest version: `_in_force` without a call or a search
        in_force = latest is not None and moment >= latest[0]
        policy = latest[1] if in_force else self._in_force(policies, product.policy_kind, moment, source)  # type: ignore[index]
        related = self._related(policies, product, moment) if product.reads else _NOTHING
        callers_context = getcontext()
        setcontext(engine_context())
        try:
            outcome, trace = policy.evaluate(account, source=source, as_of=moment, related=related)
        except OverflowError as error:  # date arithmetic (a retry 12 hours after 9999-12-31), not a policy fault
            raise as_of_error(
                f"the decision at {iso(moment)} needs an instant beyond the range of dates (years 1 to 9999)"
            ) from error
        except ArithmeticError as error:  # the product's own arithmetic on valid values (policy expressions raise
            # EvaluationError themselves): the account's values together are beyond computing, not the policy
            raise uncomputable(frozen, source=source, error=error, policy=policy.ref.id) from error
        finally:
            setcontext(callers_context)
        refs = tuple(p.ref for p in related.values()) if related else ()
        decision = made_decision(outcome, trace, policy.ref, frozen, moment, refs, applied)
        if self._log is not None:
            self._log.record(decision, duration_ns=time.perf_counter_ns() - started)
        return decision

    def _related(self, policies: PolicySet, product: Product, moment: datetime) -> Mapping[str, CompiledPolicy]:
        related = {}
        for kind in product.reads:
            policy = self._in_force(policies, kind, moment) if kind in product.requires else policies.at(kind, moment)
            if policy is not None:
                related[kind] = policy
        return related

    def _reader(self, kind: str, product: Product) -> CompiledReader | None:
        """The kind's compiled reader, made at its `_COMPILE_AT_USE`-th evaluation in the process (None before)."""
        read = reader_for(load_schema(product.account_schema), uses=_COMPILE_AT_USE)
        if read is not None:
            self._readers[kind] = read
        return read

    @staticmethod
    def _check(read: CompiledReader | None, product: Product, account: Account, source: str) -> None:
        """Raise `AccountError` with every schema problem of `account`, if it has any."""
        if read is not None and read.check(account):
            return
        problems = schema_problems(product.account_schema, account, file=source, locate=lambda _p, _k: (0, 0))
        if problems or read is not None:
            raise AccountError(problems or [Problem(file=source, message="the account does not fit its schema")])

    def _kind_problem(self, account: object, source: str) -> Problem:
        kinds = sorted(self._registry.by_account_kind)
        if not isinstance(account, Mapping):
            return Problem(file=source, message=f"expected an object (an account), got {describe(account)}")
        kind = account.get("kind")
        if kind is None:
            return Problem(file=source, message=f"missing required key `kind`; expected one of {', '.join(kinds)}")
        suggestion = did_you_mean(kind, kinds) if isinstance(kind, str) else None
        return Problem(
            file=source,
            json_path="$.kind",
            suggestion=suggestion,
            message=f"expected an account kind ({', '.join(kinds)}), got {describe(kind)}",
        )


def load(
    *paths: str | Path,
    decision_log: str | Path | IO[str] | LogSink | DecisionLog | None = None,
    limits: LoadLimits | None = None,
    products: Iterable[Product] | None = None,
    clock: Clock | None = None,
) -> Engine:
    """Load, validate and compile the policies in `paths` (folders or files).

    Without `paths`, the folder `policies` in the current folder is read (a
    `PolicyError` says "no such file or folder" when there is none): write
    a starter pack there with `policy-engine init`, pass the paths, or load
    the pack bundled with the package, `load(policy_engine.BUNDLED)`.
    Policy test files (`*.test.yaml`) in a folder are skipped.
    Raises `PolicyError` with every problem found; nothing is loaded then.
    `decision_log` (a path, a text stream or a configured structlog logger)
    receives one JSON line per decision.  `products` replaces the products
    found through the `policy_engine.products` entry points; `clock` gives
    the instant of a decision made without `as_of` (by default the current
    UTC time).
    """
    registry = discovered() if products is None else Registry.of(products)
    source = PolicySource(paths or ("policies",), limits or LoadLimits(), registry)
    compiled, problems = compile_paths(source.paths, source.limits, registry)
    if problems:
        raise PolicyError(problems)
    if decision_log is not None and not isinstance(decision_log, DecisionLog):
        decision_log = DecisionLog(decision_log)
    return Engine(compiled, registry=registry, decision_log=decision_log, clock=clock, source=source)
