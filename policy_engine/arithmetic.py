"""The engine's own decimal context: the caller's global context neither changes decisions nor is changed by them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Context, DivisionByZero, InvalidOperation, Overflow, Subnormal, Underflow, getcontext, setcontext

DECIMAL_CONTEXT = Context(prec=28, traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Subnormal])
"""Underflow and Subnormal are trapped: a result too small for the exponent range would silently become 0."""
_per_thread = threading.local()


def engine_context() -> Context:
    """This thread's copy of DECIMAL_CONTEXT (a context's flags are per object).

    Swapping contexts with setcontext costs a third of `localcontext()`, which
    copies the context on every call.
    """
    try:
        context: Context = _per_thread.context
    except AttributeError:
        context = _per_thread.context = DECIMAL_CONTEXT.copy()
    return context


@contextmanager
def engine_decimal_context() -> Iterator[None]:
    """Run a block in the engine's decimal context (an operation, a simulation's hooks), whatever the caller's."""
    callers_context = getcontext()
    setcontext(engine_context())
    try:
        yield
    finally:
        setcontext(callers_context)


__all__ = ["DECIMAL_CONTEXT", "engine_context", "engine_decimal_context"]
