"""Numbers and instants as this package reads them: Decimal (never float), UTC-aware times."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, Subnormal, Underflow

MAX_MAGNITUDE = 60
"""Decimal exponents beyond ±60 (1e60) are refused: no price, quantity or ratio is that large or small,
and a number like 1e50000000 would otherwise print as fifty million digits."""

MAX_COMPUTED_MAGNITUDE = 2 * MAX_MAGNITUDE
"""A number a policy expression computes (a derived figure, an amount) is zero or within 1e-120..1e120 in size,
room for the product or quotient of two inputs: one expression's `**` is bounded, a chain of figures each
squaring the last is not, and a number beyond this would be written out as thousands of digits."""

WIDE_CONTEXT = Context(prec=100, traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Subnormal])
"""Rounding to N places needs the value's integer digits plus N; this context has room for both."""


def quantum(places: int) -> Decimal:
    """`Decimal('0.01')` for 2 places."""
    return Decimal(1).scaleb(-places)


def in_range(value: Decimal) -> bool:
    """Zero, or a finite decimal whose exponent is within ±MAX_MAGNITUDE."""
    return value.is_finite() and (not value or abs(value.adjusted()) <= MAX_MAGNITUDE)


def is_number(value: object) -> bool:
    """A JSON number in this package: an int (not a bool) or a finite Decimal."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return isinstance(value, int) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, int) and not isinstance(value, bool)


def parse_decimal(value: object) -> Decimal | None:
    """The Decimal that a JSON number or a decimal string stands for, or None."""
    if type(value) is str:
        # Decimal() accepts surrounding spaces, `1_000` and non-ASCII digits; account amounts may not.
        if "_" in value or value != value.strip() or not value.isascii():
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    if is_number(value):
        return Decimal(value)  # type: ignore[arg-type]  # is_number narrowed it to int | Decimal
    return None


def json_decimal(text: str) -> Decimal:
    """A JSON number's text as an exact Decimal: `json`'s `parse_float`.

    A number no Decimal holds (an exponent beyond about 1e999999999999999999,
    which Decimal refuses or makes NaN, depending on the caller's context) is a
    `ValueError`, which the JSON readers report as a located problem.
    """
    try:
        number = Decimal(text)
    except ArithmeticError:
        number = None
    if number is None or not number.is_finite():
        shown = text if len(text) <= _SHOWN_DIGITS else text[:_SHOWN_DIGITS] + "..."
        raise ValueError(f"the number {shown} is beyond the range of decimal numbers")
    return number


_SHOWN_DIGITS = 40


def parse_instant(value: str) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or a date-time with an explicit offset."""
    try:
        if len(value) == len("2026-01-01"):
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 in UTC with a `Z`: `2026-01-01T00:00:00Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
