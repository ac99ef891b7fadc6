"""The instant of a decision: the one asked for, or the engine's clock, resolved once and in UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from ._numbers import parse_instant
from .errors import AccountError, Problem
from .schema import describe

Clock = Callable[[], datetime]
"""A zero-argument callable returning an aware datetime: the instant of a decision made without `as_of`."""


def utc_now() -> datetime:
    """The default clock: the current instant, in UTC."""
    return datetime.now(UTC)


def as_of_error(message: str) -> AccountError:
    """An `AccountError` about the decision's instant."""
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
            raise as_of_error(
                f"expected a datetime with a timezone, got the naive {as_of.isoformat()}"
                " (for example datetime(2026, 3, 1, tzinfo=UTC))"
            )
        moment = as_of
    elif isinstance(as_of, date):
        moment = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    elif isinstance(as_of, str):
        parsed = parse_instant(as_of)
        if parsed is None:
            raise as_of_error(
                f"expected an ISO 8601 date (2026-03-01) or date-time with an offset"
                f" (2026-03-01T00:00:00Z), got {describe(as_of)}"
            )
        moment = parsed
    else:
        raise as_of_error(f"expected a datetime with a timezone, a date or an ISO 8601 string, got {describe(as_of)}")
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise as_of_error(f"{moment.isoformat()} is outside the range of UTC date-times") from None


__all__ = ["Clock", "as_of_error", "resolve_instant", "utc_now"]
