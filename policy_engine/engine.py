"""The public engine: load a policy set once, evaluate accounts many times."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, getcontext, setcontext
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

from ._fastcheck import Check, compile_check
from ._numbers import epoch_microseconds, iso, parse_instant
from .accounts import freeze_account
from .decision import Decision
from .decision_log import DecisionLog, LogSink
from .documents import LoadLimits, compile_paths
from .errors import AccountError, EvaluationError, PolicyError, Problem, did_you_mean
from .model import PolicyRef
from .product import Account, CompiledPolicy, Product
from .registry import Registry, discovered
from .schema import describe, load_schema, schema_problems

# The engine's own arithmetic context: the caller's global context neither
# changes our decisions nor is changed by them.
DECIMAL_CONTEXT = Context(prec=28, traps=[InvalidOperation, DivisionByZero, Overflow])
_per_thread = threading.local()
_NOTHING: Mapping[str, CompiledPolicy] = MappingProxyType({})

Clock = Callable[[], datetime]
OperationSpec = str | tuple[str, Any]
"""`"name"`, `"name=value"` or `(name, value)`: a product's named operation and its argument."""


def _engine_context() -> Context:
    """This thread's copy of DECIMAL_CONTEXT (a context's flags are per object).

    Swapping contexts with setcontext costs a third of `localcontext()`, which
    copies the context on every call.
    """
    try:
        context: Context = _per_thread.context
    except AttributeError:
        context = _per_thread.context = DECIMAL_CONTEXT.copy()
    return context


def utc_now() -> datetime:
    """The default clock: the current instant, in UTC."""
    return datetime.now(UTC)


def _as_of_problem(message: str) -> AccountError:
    return AccountError([Problem(file="as_of", message=message)])


def resolve_instant(as_of: object, clock: Clock = utc_now) -> datetime:
    """The instant of a decision, in UTC: `as_of` when given, else the clock's.

    A datetime needs a timezone; a date means its midnight in UTC (as an ISO
    date string does).  Anything else is an `AccountError`.
    """
    if as_of is None:
        moment: datetime = clock()
        if moment.tzinfo is None:
            raise TypeError(f"the engine's clock returned {moment!r}, not an aware datetime")
    elif isinstance(as_of, datetime):
        if as_of.utcoffset() is None:
            raise _as_of_problem(
                f"expected a datetime with a timezone, got the naive {as_of.isoformat()}"
                " (for example datetime(2026, 3, 1, tzinfo=UTC))"
            )
        moment = as_of
    elif isinstance(as_of, date):
        moment = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    elif isinstance(as_of, str):
        parsed = parse_instant(as_of)
        if parsed is None:
            raise _as_of_problem(
                f"expected an ISO 8601 date (2026-03-01) or date-time with an offset"
                f" (2026-03-01T00:00:00Z), got {describe(as_of)}"
            )
        moment = parsed
    else:
        raise _as_of_problem(
            f"expected a datetime with a timezone, a date or an ISO 8601 string, got {describe(as_of)}"
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _as_of_problem(f"{moment.isoformat()} is outside the range of UTC date-times") from None


def _recorded(value: object) -> str | None:
    """An operation's value as the decision records it: text, so that `1`, `"1"` and `Decimal(1)` read alike."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@contextmanager
def engine_decimal_context() -> Iterator[None]:
    """Run a block in the engine's decimal context (a simulation's product hooks, say), whatever the caller's."""
    callers_context = getcontext()
    setcontext(_engine_context())
    try:
        yield
    finally:
        setcontext(callers_context)


class Engine:
    """A validated, compiled policy set.  Thread-safe for evaluation: it holds no per-call state."""

    def __init__(
        self,
        policies: Iterable[CompiledPolicy],
        *,
        registry: Registry | None = None,
        decision_log: DecisionLog | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._registry = registry or discovered()
        by_kind: dict[str, list[CompiledPolicy]] = {}
        for policy in policies:
            by_kind.setdefault(policy.ref.kind, []).append(policy)
        self._versions = {kind: sorted(found, key=lambda p: p.ref.effective_from) for kind, found in by_kind.items()}
        self._starts_us = {
            kind: [epoch_microseconds(p.ref.effective_from) for p in found] for kind, found in self._versions.items()
        }
        self._checks: dict[str, Check] = {
            kind: compile_check(load_schema(product.account_schema))
            for kind, product in self._registry.by_account_kind.items()
        }
        self._log = decision_log
        self._clock = clock or utc_now

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        """Every loaded policy version, by kind and then time."""
        return tuple(p.ref for kind in sorted(self._versions) for p in self._versions[kind])

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
        product = self._registry.by_account_kind.get(kind) if isinstance(kind, str) else None
        if product is None:
            raise AccountError([self._kind_problem(account, source)])
        return product

    def policy_for(self, account_kind: str, as_of: datetime | date | str | None = None) -> CompiledPolicy:
        """The policy version in force at `as_of` (now when None) for an account kind."""
        product = self._registry.by_account_kind.get(account_kind)
        if product is None:
            raise AccountError([self._kind_problem({"kind": account_kind}, "account")])
        return self._in_force(product.policy_kind, resolve_instant(as_of, self._clock))

    def _version_at(self, kind: str, moment: datetime) -> CompiledPolicy | None:
        """The version of `kind` in force at `moment`, or None (none loaded, or none in force yet)."""
        versions = self._versions.get(kind)
        if not versions:
            return None
        index = bisect_right(self._starts_us[kind], epoch_microseconds(moment)) - 1
        return versions[index] if index >= 0 else None

    def _in_force(self, kind: str, moment: datetime) -> CompiledPolicy:
        """The version of `kind` in force at `moment`; an `AccountError` saying why there is none."""
        policy = self._version_at(kind, moment)
        if policy is not None:
            return policy
        versions = self._versions.get(kind)
        if not versions:
            raise AccountError([Problem(file="policies", message=f"no `{kind}` policy is loaded")])
        first = versions[0].ref
        raise _as_of_problem(
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
        started = time.perf_counter_ns()
        given: object = account  # callers may pass anything; the types only say what works
        kind = given.get("kind") if isinstance(given, Mapping) else None
        check = self._checks.get(kind) if isinstance(kind, str) else None
        if check is None:
            raise AccountError([self._kind_problem(account, source)])
        product = self._registry.by_account_kind[kind]  # type: ignore[index]  # kind is a str here
        if not check(account):
            self._refuse(product, account, source)
        applied: tuple[tuple[str, Any], ...] = ()
        if operations:
            account, applied = self._apply(product, account, operations, source)
            if not check(account):
                self._refuse(product, account, source)
        frozen = freeze_account(account, source=source)
        moment = resolve_instant(as_of, self._clock)
        policy = self._in_force(product.policy_kind, moment)
        related = self._related(product, moment) if product.reads else _NOTHING
        callers_context = getcontext()
        setcontext(_engine_context())
        try:
            outcome, trace = policy.evaluate(account, source=source, as_of=moment, related=related)
        except ArithmeticError as error:
            raise EvaluationError(
                [
                    Problem(
                        file=policy.ref.file,
                        message=f"arithmetic failed while evaluating {source}: {type(error).__name__}",
                    )
                ]
            ) from error
        finally:
            setcontext(callers_context)
        decision = Decision(
            outcome=outcome,
            trace=trace,
            policy=policy.ref,
            related=tuple(p.ref for p in related.values()),
            account=frozen,
            as_of=moment,
            operations=applied,
        )
        if self._log is not None:
            self._log.record(decision, duration_ns=time.perf_counter_ns() - started)
        return decision

    def _related(self, product: Product, moment: datetime) -> Mapping[str, CompiledPolicy]:
        related = {}
        for kind in product.reads:
            policy = self._in_force(kind, moment) if kind in product.requires else self._version_at(kind, moment)
            if policy is not None:
                related[kind] = policy
        return related

    @staticmethod
    def _refuse(product: Product, account: Account, source: str) -> None:
        problems = schema_problems(product.account_schema, account, file=source, locate=lambda _p, _k: (0, 0))
        raise AccountError(problems or [Problem(file=source, message="the account does not fit its schema")])

    @staticmethod
    def _apply(
        product: Product, account: Account, operations: Sequence[OperationSpec], source: str
    ) -> tuple[Account, tuple[tuple[str, Any], ...]]:
        """The account after each operation in turn, and the operations as (name, value) pairs."""
        problems: list[Problem] = []
        applied: list[tuple[str, Any]] = []
        names = [operation.name for operation in product.operations]
        offered = f"expected one of: {', '.join(names)}" if names else f"{product.account_kind} accounts take none"
        for index, given in enumerate(operations):
            where = f"$[{index}]"
            spec: object = given  # callers may pass anything; the types only say what works
            if isinstance(spec, str):
                name, equals, text = spec.partition("=")
                value: Any = text if equals else None
            elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):  # noqa: PLR2004 - a pair
                name, value = spec[0], spec[1]
            else:
                expected = "expected `name`, `name=value` or (name, value)"
                problems.append(
                    Problem(file="operations", json_path=where, message=f"{expected}, got {describe(spec)}")
                )
                continue
            operation = product.operation(name)
            if operation is None:
                problems.append(
                    Problem(
                        file="operations",
                        json_path=where,
                        message=f"unknown operation `{name}` for {product.account_kind} accounts; {offered}",
                        suggestion=did_you_mean(name, names),
                    )
                )
                continue
            if operation.argument is None and value is not None:
                problems.append(
                    Problem(
                        file="operations", json_path=where, message=f"`{name}` takes no value, got {describe(value)}"
                    )
                )
                continue
            if operation.argument is not None and value is None:
                problems.append(
                    Problem(
                        file="operations",
                        json_path=where,
                        message=f"`{name}` needs a value: {name}={operation.argument}",
                    )
                )
                continue
            callers_context = getcontext()
            setcontext(_engine_context())  # a product's arithmetic never runs in the caller's context
            try:
                account = operation.apply(account, value)
            except (ValueError, ArithmeticError) as error:
                reason = str(error) if isinstance(error, ValueError) else f"arithmetic failed ({type(error).__name__})"
                problems.append(Problem(file="operations", json_path=where, message=f"`{name}`: {reason}"))
                continue
            finally:
                setcontext(callers_context)
            applied.append((name, _recorded(value)))
        if problems:
            raise AccountError(problems)
        return account, tuple(applied)

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

    Raises `PolicyError` with every problem found; nothing is loaded then.
    `decision_log` (a path, a text stream or a configured structlog logger)
    receives one JSON line per decision.  `products` replaces the products
    found through the `policy_engine.products` entry points; `clock` gives
    the instant of a decision made without `as_of` (by default the current
    UTC time).
    """
    registry = discovered() if products is None else Registry.of(products)
    compiled, problems = compile_paths(paths or ("policies",), limits or LoadLimits(), registry)
    if problems:
        raise PolicyError(problems)
    if decision_log is not None and not isinstance(decision_log, DecisionLog):
        decision_log = DecisionLog(decision_log)
    return Engine(compiled, registry=registry, decision_log=decision_log, clock=clock)
