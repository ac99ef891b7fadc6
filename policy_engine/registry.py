"""Which products there are: found through the entry-point group `policy_engine.products`.

Each entry point names a `Product` record (`module:ATTRIBUTE`); the bundled
products are declared the same way in `pyproject.toml`, so a separate package
adds a product by declaring an entry point, with no edit here.  A plug-in
that fails to import, is not a `Product`, or claims a kind another product
has is reported as a problem, never skipped in silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType

from .errors import Problem
from .product import Product
from .schema import schema_trouble

GROUP = "policy_engine.products"


@dataclass(frozen=True, kw_only=True, slots=True)
class Registry:
    """Products by policy kind and by account kind, and any problem found assembling them."""

    by_policy_kind: Mapping[str, Product]
    by_account_kind: Mapping[str, Product]
    problems: tuple[Problem, ...] = ()

    @classmethod
    def of(cls, products: Iterable[Product], *, origins: Sequence[str] = ()) -> Registry:
        """A registry of `products`; `origins[i]` names where product i came from, for messages.

        The first product of a kind wins; a later one claiming the same policy
        or account kind is a problem naming both.  Each product's schemas must
        load, and the kinds it `requires` must be read and registered.
        """
        by_policy: dict[str, Product] = {}
        by_account: dict[str, Product] = {}
        origin_of: dict[str, str] = {}
        problems: list[Problem] = []
        listed = list(products)
        for index, product in enumerate(listed):
            origin = origins[index] if index < len(origins) else f"product `{product.policy_kind}`"
            if product.policy_kind in by_policy:
                first = origin_of[product.policy_kind]
                message = f"policy kind `{product.policy_kind}` is already registered by {first}"
                problems.append(Problem(file=origin, message=message))
                continue
            if product.account_kind in by_account:
                owner = by_account[product.account_kind].policy_kind
                message = f"account kind `{product.account_kind}` is already used by `{owner}` ({origin_of[owner]})"
                problems.append(Problem(file=origin, message=message))
                continue
            unread = sorted(set(product.requires) - set(product.reads))
            if unread:
                problems.append(Problem(file=origin, message=f"`requires` names kinds not in `reads`: {unread}"))
            schemas = (("policy_schema", product.policy_schema), ("account_schema", product.account_schema))
            troubles = [(role, trouble) for role, ref in schemas if (trouble := schema_trouble(ref)) is not None]
            if troubles:  # not registered: reading its policies would fail on the missing schema
                problems += [Problem(file=origin, message=f"`{role}`: {trouble}") for role, trouble in troubles]
                continue
            by_policy[product.policy_kind] = product
            by_account[product.account_kind] = product
            origin_of[product.policy_kind] = origin
        for index, product in enumerate(listed):
            origin = origins[index] if index < len(origins) else f"product `{product.policy_kind}`"
            missing = sorted(set(product.requires) - set(by_policy))
            if missing and by_policy.get(product.policy_kind) is product:
                problems.append(Problem(file=origin, message=f"requires policy kinds no product registers: {missing}"))
        return cls(
            by_policy_kind=MappingProxyType(by_policy),
            by_account_kind=MappingProxyType(by_account),
            problems=tuple(problems),
        )


def _origin(entry: EntryPoint) -> str:
    return f"entry point `{entry.name} = {entry.value}` ({GROUP})"


def _load(entry: EntryPoint) -> tuple[Product | None, Problem | None]:
    origin = _origin(entry)
    try:
        loaded = entry.load()
    except Exception as error:
        return None, Problem(file=origin, message=f"cannot load the product: {type(error).__name__}: {error}")
    if not isinstance(loaded, Product):
        return None, Problem(
            file=origin, message=f"expected a policy_engine.product.Product, got {type(loaded).__name__}"
        )
    return loaded, None


@cache
def discovered() -> Registry:
    """The products declared by installed packages (cached; `discovered.cache_clear()` finds them anew)."""
    products: list[Product] = []
    origins: list[str] = []
    problems: list[Problem] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        product, problem = _load(entry)
        if problem is not None:
            problems.append(problem)
        if product is not None:
            products.append(product)
            origins.append(_origin(entry))
    if not products and not problems:
        problems.append(
            Problem(
                file=GROUP,
                message="no products are registered; install the package (pip install -e .) so that"
                " its entry points are declared",
            )
        )
    registry = Registry.of(products, origins=origins)
    return Registry(
        by_policy_kind=registry.by_policy_kind,
        by_account_kind=registry.by_account_kind,
        problems=(*problems, *registry.problems),
    )


__all__ = ["GROUP", "Registry", "discovered"]
