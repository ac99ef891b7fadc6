"""Named operations (what-ifs and events) applied to an account before it is evaluated.

A product declares its operations (`Product.operations`); the CLI's `--op`
and the library's `operations=` both come here.  Each is given as `"name"`,
`"name=value"` or `(name, value)`; every problem is reported at once, located
at the operation's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from .arithmetic import engine_decimal_context
from .errors import AccountError, Problem, did_you_mean
from .product import Account, Product
from .schema import describe

OperationSpec = str | tuple[str, Any]
"""`"name"`, `"name=value"` or `(name, value)`: a product's named operation and its argument."""
Applied = tuple[tuple[str, str | None], ...]
"""The operations as a decision records them: (name, value as text)."""


def recorded(value: object) -> str | None:
    """An operation's value as the decision records it: text, so that `1`, `"1"` and `Decimal(1)` read alike."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _parse(spec: object) -> tuple[str, Any] | None:
    if isinstance(spec, str):
        name, equals, text = spec.partition("=")
        return name, (text if equals else None)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):  # noqa: PLR2004 - a pair
        return spec[0], spec[1]
    return None


def apply_operations(
    product: Product, account: Account, operations: Sequence[OperationSpec]
) -> tuple[Account, Applied]:
    """The account after each operation in turn (in the engine's decimal context), and what was applied."""
    given: object = operations  # callers may pass anything; the types only say what works
    if isinstance(given, str):  # a string is a sequence too: "reset" would read as five operations
        raise AccountError(
            [
                Problem(
                    file="operations",
                    message=f"expected a list of operations, got {describe(given)}; write [{given!r}]",
                )
            ]
        )
    problems: list[Problem] = []
    applied: list[tuple[str, str | None]] = []
    names = [operation.name for operation in product.operations]
    offered = f"expected one of: {', '.join(names)}" if names else f"{product.account_kind} accounts take none"
    for index, spec in enumerate(operations):
        where = f"$[{index}]"

        def refuse(message: str, suggestion: str | None = None, where: str = where) -> None:
            problems.append(Problem(file="operations", json_path=where, message=message, suggestion=suggestion))

        parsed = _parse(spec)
        if parsed is None:
            refuse(f"expected `name`, `name=value` or (name, value), got {describe(spec)}")
            continue
        name, value = parsed
        operation = product.operation(name)
        if operation is None:
            refuse(
                f"unknown operation `{name}` for {product.account_kind} accounts; {offered}", did_you_mean(name, names)
            )
        elif operation.argument is None and value is not None:
            refuse(f"`{name}` takes no value, got {describe(value)}")
        elif operation.argument is not None and value is None:
            refuse(f"`{name}` needs a value: {name}={operation.argument}")
        else:
            try:
                with engine_decimal_context():  # a product's arithmetic never runs in the caller's context
                    account = operation.apply(account, value)
            except ValueError as error:
                refuse(f"`{name}`: {error}")
            except ArithmeticError as error:
                refuse(f"`{name}`: arithmetic failed ({type(error).__name__})")
            else:
                applied.append((name, recorded(value)))
    if problems:
        raise AccountError(problems)
    return account, tuple(applied)


__all__ = ["Applied", "OperationSpec", "apply_operations", "recorded"]
