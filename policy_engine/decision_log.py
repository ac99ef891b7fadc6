"""One structlog JSON line per decision, written to a file or stream of the caller's choice.

The library never configures structlog globally: a path or stream gets a
logger of its own (`structlog.wrap_logger`), and a host service may pass any
bound logger it has configured itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Protocol

from ._numbers import iso
from .decision import Decision
from .errors import DecisionLogError, Problem


class LogSink(Protocol):
    def info(self, event: str, **fields: Any) -> Any: ...


class DecisionLog:
    """Writes `event="decision"` lines: ids (`decision_id` is the decision JSON's own), the decision's instant,
    every policy version used, the input digest, status and duration; with `with_input`, also the account
    decided on and the outcome, so that a log line can be replayed (evaluate `account` at `as_of` under the
    logged policy versions)."""

    def __init__(self, target: str | Path | IO[str] | LogSink, *, with_input: bool = False) -> None:
        self._with_input = with_input
        self._owned: IO[str] | None = None
        self._failed = False
        self._name = str(target) if isinstance(target, str | Path) else str(getattr(target, "name", "decision log"))
        if isinstance(target, str | Path):
            self._owned = Path(target).open("a", encoding="utf-8")  # noqa: SIM115 - closed by close()
            target = self._owned
        if hasattr(target, "write"):
            import structlog  # noqa: PLC0415 - only a process that logs decisions pays for importing it

            self._logger: LogSink = structlog.wrap_logger(
                structlog.WriteLogger(target),  # type: ignore[arg-type]  # an IO[str] here
                processors=[
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(sort_keys=True),
                ],
            )
        else:
            self._logger = target

    def record(self, decision: Decision, *, duration_ns: int) -> None:
        """Write the decision's line; `DecisionLogError` when it cannot be written."""
        replay: dict[str, Any] = {}
        if self._with_input:
            from ._plain import to_plain  # noqa: PLC0415 - only a replayable log needs it

            replay = {"account": to_plain(decision.account), "outcome": to_plain(decision.outcome)}
        try:
            self._write(decision, duration_ns, replay)
        except OSError as error:
            self._failed = True
            raise self._error(error) from error

    def _error(self, error: OSError) -> DecisionLogError:
        message = f"cannot write the decision log: {error.strerror or error}"
        return DecisionLogError([Problem(file=self._name, message=message)])

    def _write(self, decision: Decision, duration_ns: int, replay: dict[str, Any]) -> None:
        policy = decision.policy
        self._logger.info(
            "decision",
            **replay,
            decision_id=decision.decision_id,
            as_of=iso(decision.as_of),
            account_kind=decision.account.get("kind"),
            account_id=decision.account.get("account_id"),
            policy_id=policy.id,
            policy_version=policy.version,
            policy_sha256=policy.sha256,
            related_policies=[{"id": ref.id, "version": ref.version, "sha256": ref.sha256} for ref in decision.related],
            input_sha256=decision.input_sha256,
            status=decision.status,
            duration_us=duration_ns // 1000,
        )

    def close(self) -> None:
        """Close a log file this object opened; a failure that no write has reported yet is a `DecisionLogError`."""
        owned, self._owned = self._owned, None
        if owned is None:
            return
        try:
            owned.close()
        except OSError as error:
            if not self._failed:  # the lines already written may not have reached the file
                raise self._error(error) from error
