"""Comparing an engine outcome with a reference outcome, figure by figure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

Path = tuple[str | int, ...]


def _where(path: Path) -> str:
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def differences(engine: Any, reference: Any, path: Path = ()) -> list[str]:
    """Every place where the two outcomes differ: a key, a length, a value or its type.

    Mappings compare as dicts (a read-only one too) and sequences as lists (a
    tuple too); Decimals compare by value (`1.10` equals `1.1`), and a Decimal
    never equals an int, a bool or a string here.
    """
    if isinstance(engine, dict) and isinstance(reference, dict):
        if engine.keys() != reference.keys():
            return [
                f"{_where(path)}: keys only in the engine {sorted(engine.keys() - reference.keys())},"
                f" only in the reference {sorted(reference.keys() - engine.keys())}"
            ]
        found: list[str] = []
        for key, value in engine.items():
            found += differences(value, reference[key], (*path, key))
        return found
    if isinstance(engine, list | tuple) and isinstance(reference, list | tuple):
        if len(engine) != len(reference):
            return [f"{_where(path)}: {len(engine)} items in the engine, {len(reference)} in the reference"]
        found = []
        for index, (mine, theirs) in enumerate(zip(engine, reference, strict=True)):
            found += differences(mine, theirs, (*path, index))
        return found
    if type(engine) is not type(reference) or engine != reference:
        return [f"{_where(path)}: engine {engine!r}, reference {reference!r}"]
    return []


Account = dict[str, Any]
Outcome = Mapping[str, Any]


def compare_all(
    accounts: Iterable[Account],
    decide: Callable[[Account], Outcome],
    reference: Callable[[Account], Any],
    cases: Callable[[Account, Outcome], set[str]],
) -> tuple[list[tuple[Account, list[str]]], set[str]]:
    """Each account's differences between `decide` (the engine) and `reference`, and the cases the accounts reach."""
    disagreements, seen = [], set()
    for account in accounts:
        outcome = decide(account)
        found = differences(outcome, reference(account))
        if found:
            disagreements.append((account, found[:5]))
        seen |= cases(account, outcome)
    return disagreements, seen
