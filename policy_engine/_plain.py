"""Plain JSON values from the package's own: Decimals as text, tuples as lists, datetimes as ISO text.

Also the canonical JSON text of one value as orjson writes it (`json_text`),
for writers that put a decision together from pieces rendered ahead of time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring  # the C string escaper of json.dumps: orjson's escapes, as text
from types import MappingProxyType
from typing import Any

import orjson


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


def native(value: Any) -> Any:
    """orjson's `default`: what it cannot write itself, in the form `to_plain` gives it.

    Decimal as text, a read-only map (a `MappingProxyType`) as a dict; anything
    else is a value no decision may hold.
    """
    kind = type(value)
    if kind is Decimal or isinstance(value, Decimal):
        # str() is five times cheaper than format(); it differs only where it would write an exponent
        text = str(value)
        return text if "E" not in text else format(value, "f")
    if kind is MappingProxyType or isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__} in a decision")


COMPACT = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
"""The canonical form for orjson: sorted keys, UTC written as `Z`, no spaces."""


def json_text(value: Any) -> str:
    """`value` as canonical compact JSON text, as orjson writes it with `native` (the scalars without calling it).

    Raises what orjson raises (an integer beyond 64 bits inside a container, a
    lone surrogate): callers that need the reference writer's fallback catch it.
    """
    kind = type(value)
    if kind is Decimal:
        text = str(value)
        return f'"{text}"' if "E" not in text else f'"{value:f}"'
    if kind is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)  # orjson's digits; beyond 64 bits, the reference writer's
    return orjson.dumps(value, default=native, option=COMPACT).decode()
