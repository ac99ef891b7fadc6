"""`FrozenDict`: the read-only mapping decisions are made of.

A decision's outcome must not change after it is made, yet it should be
pleasant to use: it prints like a dict, compares equal to a dict, and JSON
writers take it as one (orjson writes dict subclasses natively, with no
conversion pass).  Every method that would change it raises `TypeError`, as
a `types.MappingProxyType` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn


def _refuse(*_args: object, **_kwargs: object) -> NoReturn:
    raise TypeError("a decision is read-only: FrozenDict does not support item assignment or changes")


class FrozenDict(dict[str, Any]):
    """A dict that refuses every change; built once, in its final form."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, _memo: object) -> FrozenDict:
        return self


def slot_setters(cls: type, *names: str) -> tuple[Callable[[object, Any], None], ...]:
    """The setters of the slots `names` of a frozen slots dataclass, for an `__init__` written by hand.

    A frozen dataclass's generated `__init__` sets each field through
    `object.__setattr__`, which checks the type's `__setattr__` on every call:
    a decision's nine fields cost as much as a fifth of evaluating it.  The slot
    descriptors set the same fields without that check.
    """
    return tuple(cls.__dict__[name].__set__ for name in names)


__all__ = ["FrozenDict", "slot_setters"]
