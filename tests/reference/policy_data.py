"""The bundled policies as plain data: numbers as Decimal, nothing interpreted."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import policy_engine
from policy_engine import Engine
from policy_engine.loader import parse_yaml

POLICIES = Path(__file__).resolve().parent.parent.parent / "policies"
ARITHMETIC = Context(prec=28)
"""Python's default decimal context: 28 significant digits, half-even (domain.md: Decimal end to end)."""
WIDE = Context(prec=100)
"""For rounding to a number of places: room for the integer digits and the places."""


def policy_data(text: str, file: str) -> dict[str, Any]:
    document, problems = parse_yaml(text, file=file)
    assert document is not None, problems
    data: dict[str, Any] = document.data
    return data


def bundled(name: str) -> dict[str, Any]:
    """The policy `policies/<name>` as a mapping of plain values."""
    return policy_data((POLICIES / name).read_text(), name)


def rounded(value: Decimal, places: int, mode: str) -> Decimal:
    """`value` rounded to `places` decimal places in the `decimal` rounding `mode`."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=mode, context=WIDE)


def load_variants(
    folder: Path, file_name: str, variants: Mapping[str, str], beside: Mapping[str, str] | None = None
) -> dict[str, tuple[Engine, dict[str, Any]]]:
    """Each variant's text written as `file_name` in its own sub-folder (with the `beside` files, name -> text),
    loaded, and read as plain data."""
    loaded = {}
    for name, text in variants.items():
        (folder / name).mkdir()
        (folder / name / file_name).write_text(text)
        for other, other_text in (beside or {}).items():
            (folder / name / other).write_text(other_text)
        loaded[name] = (policy_engine.load(folder / name), policy_data(text, name))
    return loaded
