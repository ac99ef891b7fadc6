"""The collateral kind as other products read it: haircut values and the platform max-collateral check.

Margin and loans read the `collateral` policy in force at a decision's
instant (`Product.reads`); this module is all they see of it.  They call
`terms_in(related)` for the policy's `CollateralTerms`, then

- `haircut_value(asset, value, steps)`: the value after the asset's haircut
  bands, applied marginally like tax brackets; records one trace step citing
  the YAML line of every band the value spans, with the part in it and its
  ratio;
- `transfer_limit(asset, platform_total=..., price=..., steps=...)`: how much
  of the asset may still be transferred in under the max-collateral rule, a
  `TransferLimit`; records the steps that decided it (does the rule apply,
  the ratio platform total / upper limit, its band, the maximum);
- `covers(asset)`: whether the policy says what the asset counts for (an
  entry, or the `unlisted` one), for `coverage_problems`, the lint at load.

Every step recorded here carries its own inputs, so it renders in the
reading product's trace without reading names from its `env`;
`explain_step` renders them as text for the reading product's explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, cast, runtime_checkable

from ..errors import Problem, did_you_mean
from ..frozen import FrozenDict
from ..model import PolicyDocument, PolicyRef
from ..product import CompiledPolicy
from ..trace import StepSpec

KIND = "collateral"
"""The policy kind a reading product names in `reads`."""

Steps = list[tuple[StepSpec, Any]]

APPLIES_STEP = "max_collateral.applies"
RATIO_STEP = "max_collateral.ratio"
BAND_STEP = "max_collateral.band"
MAXIMUM_STEP = "max_collateral.max_transfer_in"


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferBand:
    """The band of the max-collateral rule a ratio fell in."""

    number: int
    """1 for the first band."""
    lower: Decimal
    upper: Decimal | None
    includes_from: bool
    range: str
    """The band as a condition on the ratio, edges included as the policy says: `80% <= ratio < 90%`."""
    source: str
    path: str

    def to_dict(self) -> FrozenDict:
        return FrozenDict({"number": self.number, "range": self.range, "source": self.source, "path": self.path})

    def detail(self) -> dict[str, Any]:
        """The band as the table kit's lookup steps show one (`band 3: from 0.9 to 1 [line]`)."""
        shown = {"index": self.number - 1, "from": self.lower, "to": self.upper}
        return {**shown, "source": self.source, "path": self.path}


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferLimit:
    """How much of an asset may still be transferred in, and the arithmetic behind it."""

    asset: str
    account_type: str | None
    applies: bool
    reason: str
    """Why the rule applies or not, in a sentence."""
    rank: int | None
    """None for an asset the policy does not list (it gets the `unlisted` terms)."""
    upper_limit: Decimal | None
    platform_total: Decimal
    price: Decimal
    ratio: Decimal | None
    """platform total / upper limit, exact (compared without rounding); None when the rule does not apply."""
    band: TransferBand | None
    up_to: Decimal | None = None
    """The band's `up_to` ratio, when it has one."""
    up_to_quantity: Decimal | None = None
    """up_to x upper limit - platform total, before rounding."""
    value: Decimal | None = None
    """The band's `value` (USDT-equivalent), when it has one."""
    value_quantity: Decimal | None = None
    """value / price, before rounding."""
    blocked: bool = False
    rounding: str | None = None
    """How the maximum was rounded (`8 places, ROUND_DOWN`)."""
    max_quantity: Decimal | None
    """The most that may be transferred in (0 when blocked); None when unlimited."""

    def allowed(self, quantity: Decimal) -> Decimal:
        """`quantity`, or the maximum when it is smaller."""
        maximum = self.max_quantity
        return quantity if maximum is None or quantity <= maximum else maximum

    def to_dict(self) -> FrozenDict:
        """The outcome fields: whether the rule applies, the ratio, the band and the maximum."""
        return FrozenDict(
            {
                "asset": self.asset,
                "applies": self.applies,
                "reason": self.reason,
                "rank": self.rank,
                "upper_limit": self.upper_limit,
                "platform_total": self.platform_total,
                "ratio": self.ratio,
                "band": None if self.band is None else self.band.to_dict(),
                "max_quantity": self.max_quantity,
            }
        )


@runtime_checkable
class CollateralTerms(Protocol):
    """What a collateral policy answers to the products that read it."""

    @property
    def ref(self) -> PolicyRef: ...

    @property
    def listed(self) -> frozenset[str]:
        """The assets with an entry of their own."""
        ...

    def covers(self, asset: str) -> bool:
        """Whether the policy says what `asset` counts for: an entry of its own, or the `unlisted` one."""
        ...

    def haircut_value(self, asset: str, value: Decimal, steps: Steps) -> Decimal:
        """`value` of `asset` after its haircut bands, recording the band-by-band step; `asset` must be covered."""
        ...

    def transfer_limit(
        self,
        asset: str,
        *,
        platform_total: Decimal,
        price: Decimal,
        steps: Steps,
        account_type: str | None = None,
    ) -> TransferLimit:
        """The max-collateral rule for a transfer of `asset` in, recording its steps.

        `platform_total` is the quantity already pledged across the counted
        accounts, `price` converts the rule's USDT-equivalent amounts into a
        quantity.  `account_type` is a margin account type the policy names
        (`ValueError` otherwise); None for an account that is not a margin
        account (a crypto loan), which the rule limits by its asset alone.
        """
        ...


_CONFORMING: dict[type, bool] = {}
"""Whether a compiled policy's class answers `CollateralTerms`: a runtime protocol check costs microseconds,
so it is made once per class, not once per decision."""


def _terms(policy: object) -> CollateralTerms | None:
    if policy is None:
        return None
    conforms = _CONFORMING.get(type(policy))
    if conforms is None:
        conforms = _CONFORMING[type(policy)] = isinstance(policy, CollateralTerms)
    return cast("CollateralTerms", policy) if conforms else None


def terms_in(related: Mapping[str, CompiledPolicy]) -> CollateralTerms | None:
    """The collateral policy among a decision's `related` policies, or None when none is in force."""
    return _terms(related.get(KIND))


def coverage_problems(
    document: PolicyDocument, path: tuple[str, ...], versions: Sequence[CompiledPolicy]
) -> list[Problem]:
    """Each asset named at `path` (a mapping by symbol) that a collateral version in `versions` does not cover.

    Located at the asset's key in the reading policy; `versions` are the
    collateral versions in force at some instant while the document is.
    """
    problems: list[Problem] = []
    for version in versions:
        policy = _terms(version)
        if policy is None:
            continue
        ref = policy.ref
        for asset in document.data_at(path) or ():
            if policy.covers(asset):
                continue
            problems.append(
                document.problem(
                    (*path, asset),
                    f"`{asset}` has no entry in the `assets` of collateral policy `{ref.id}` version {ref.version}"
                    f" ({ref.file}), which is in force while this version is, and that policy has no `unlisted`"
                    " entry; list the asset there, or say what an unlisted asset gets",
                    suggestion=did_you_mean(asset, policy.listed),
                    key=True,
                )
            )
    return problems


def _maximum_lines(detail: Mapping[str, Any]) -> list[str]:
    if detail.get("blocked"):
        return ["blocked: nothing may be transferred in"]
    if detail.get("unlimited"):
        return ["unlimited"]
    lines = []
    if "up_to" in detail:
        lines.append(
            f"up to {detail['up_to']} x upper limit {detail['upper_limit']} - platform total"
            f" {detail['platform_total']} = {detail['up_to_quantity']}"
        )
    if "value" in detail:
        lines.append(f"value {detail['value']} / price {detail['price']} = {detail['value_quantity']}")
    smaller = "the smaller, " if "up_to" in detail and "value" in detail else ""
    lines.append(f"{smaller}rounded {detail['rounding']}, at least 0")
    return lines


def explain_step(step: Mapping[str, Any]) -> list[str] | None:
    """Text lines for the detail of a step recorded by `transfer_limit` (dict form); None for any other step."""
    name = step["step"]
    detail = step.get("detail")
    if not isinstance(detail, Mapping):
        return None
    if name == APPLIES_STEP:
        return [str(detail["reason"])]
    if name == RATIO_STEP:
        return [f"{detail['asset']}: platform total {detail['platform_total']} / upper limit {detail['upper_limit']}"]
    if name == MAXIMUM_STEP:
        return _maximum_lines(detail)
    return None


__all__ = [
    "APPLIES_STEP",
    "BAND_STEP",
    "KIND",
    "MAXIMUM_STEP",
    "RATIO_STEP",
    "CollateralTerms",
    "TransferBand",
    "TransferLimit",
    "coverage_problems",
    "explain_step",
    "terms_in",
]
