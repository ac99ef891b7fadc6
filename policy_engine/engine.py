"""The public engine: load a policy set once, evaluate accounts many times."""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Context, DivisionByZero, InvalidOperation, Overflow, getcontext, setcontext
from pathlib import Path
from typing import IO, Any

from ._fastcheck import Check, compile_check
from ._numbers import epoch_microseconds, iso, parse_instant
from .accounts import freeze_account
from .decision import Decision
from .decision_log import DecisionLog, LogSink
from .documents import LoadLimits, compile_paths
from .errors import AccountError, EvaluationError, PolicyError, Problem, did_you_mean
from .model import PolicyRef
from .products import BY_ACCOUNT_KIND, PRODUCTS, CompiledPolicy
from .schema import describe, load_schema, schema_problems

# The engine's own arithmetic context: the caller's global context neither
# changes our decisions nor is changed by them.
DECIMAL_CONTEXT = Context(prec=28, traps=[InvalidOperation, DivisionByZero, Overflow])
_per_thread = threading.local()


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


def _instant(as_of: datetime | str | None) -> datetime | None:
    if as_of is None or isinstance(as_of, datetime):
        if isinstance(as_of, datetime) and as_of.tzinfo is None:
            raise ValueError("as_of needs a timezone (for example 2026-03-01T00:00:00+00:00)")
        return as_of
    parsed = parse_instant(as_of)
    if parsed is None:
        raise ValueError(f"as_of: expected an ISO 8601 date or date-time with an offset, got {as_of!r}")
    return parsed


class Engine:
    """A validated, compiled policy set.  Thread-safe for evaluation: it holds no per-call state."""

    def __init__(self, policies: Iterable[CompiledPolicy], *, decision_log: DecisionLog | None = None) -> None:
        by_kind: dict[str, list[CompiledPolicy]] = {}
        for policy in policies:
            by_kind.setdefault(policy.ref.kind, []).append(policy)
        self._versions = {kind: sorted(found, key=lambda p: p.ref.effective_from) for kind, found in by_kind.items()}
        self._starts_ns = {
            kind: [epoch_microseconds(p.ref.effective_from) * 1000 for p in found]
            for kind, found in self._versions.items()
        }
        self._checks: dict[str, Check] = {
            product.account_kind: compile_check(load_schema(product.account_schema)) for product in PRODUCTS.values()
        }
        self._log = decision_log

    @property
    def policies(self) -> tuple[PolicyRef, ...]:
        """Every loaded policy version, by kind and then time."""
        return tuple(p.ref for kind in sorted(self._versions) for p in self._versions[kind])

    def close(self) -> None:
        """Close the decision log file, if the engine opened one."""
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def policy_for(self, account_kind: str, as_of: datetime | str | None = None) -> CompiledPolicy:
        """The policy version in force at `as_of` (now when None) for an account kind."""
        product = BY_ACCOUNT_KIND[account_kind]
        versions = self._versions.get(product.policy_kind)
        if not versions:
            raise AccountError([Problem(file="policies", message=f"no `{product.policy_kind}` policy is loaded")])
        moment = _instant(as_of)
        now_ns = time.time_ns() if moment is None else epoch_microseconds(moment) * 1000
        index = bisect_right(self._starts_ns[product.policy_kind], now_ns) - 1
        if index < 0:
            first = versions[0].ref
            raise AccountError(
                [
                    Problem(
                        file="as_of",
                        message=f"no version of `{first.id}` is in force at {iso(moment) if moment else 'this time'};"
                        f" the first takes effect at {iso(first.effective_from)}",
                    )
                ]
            )
        return versions[index]

    def evaluate(
        self, account: Mapping[str, Any], as_of: datetime | str | None = None, *, source: str = "account"
    ) -> Decision:
        """Decide for one account; `source` names the account in error messages.

        Raises `AccountError` when the account is invalid (all problems at
        once), `EvaluationError` when a policy expression fails on it.
        """
        started = time.perf_counter_ns()
        given: object = account  # callers may pass anything; the types only say what works
        kind = given.get("kind") if isinstance(given, Mapping) else None
        check = self._checks.get(kind) if isinstance(kind, str) else None
        if check is None:
            raise AccountError([self._kind_problem(account, source)])
        if not check(account):
            product = BY_ACCOUNT_KIND[kind]  # type: ignore[index]  # kind is a str here
            problems = schema_problems(product.account_schema, account, file=source, locate=lambda _p, _k: (0, 0))
            raise AccountError(problems or [Problem(file=source, message="the account does not fit its schema")])
        frozen = freeze_account(account, source=source)
        moment = _instant(as_of)
        policy = self.policy_for(kind, moment)  # type: ignore[arg-type]  # kind is a str here
        callers_context = getcontext()
        setcontext(_engine_context())
        try:
            outcome, trace = policy.evaluate(account, source=source, as_of=moment)
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
        decision = Decision(outcome=outcome, trace=trace, policy=policy.ref, account=frozen, as_of=moment)
        if self._log is not None:
            self._log.record(decision, duration_ns=time.perf_counter_ns() - started)
        return decision

    @staticmethod
    def _kind_problem(account: object, source: str) -> Problem:
        kinds = sorted(BY_ACCOUNT_KIND)
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
) -> Engine:
    """Load, validate and compile the policies in `paths` (folders or files).

    Raises `PolicyError` with every problem found; nothing is loaded then.
    `decision_log` (a path, a text stream or a configured structlog logger)
    receives one JSON line per decision.
    """
    compiled, problems = compile_paths(paths or ("policies",), limits or LoadLimits())
    if problems:
        raise PolicyError(problems)
    if decision_log is not None and not isinstance(decision_log, DecisionLog):
        decision_log = DecisionLog(decision_log)
    return Engine(compiled, decision_log=decision_log)
