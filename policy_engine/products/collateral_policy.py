"""Collateral policies compiled: haircut bands per asset and the platform max-collateral rule.

A `collateral` policy lists assets with their rank, precision and haircut
bands (marginal, like tax brackets), and for the ranks the rule limits their
platform-wide upper limit.  The rule's bands split the ratio platform total /
upper limit; each says the most that may still be transferred in while the
ratio is in it (`up_to` a ratio of the limit, a USDT-equivalent `value`, the
smaller of both, `unlimited` or `blocked`) and which band its `from` edge
belongs to (`includes_from`).  The ratio is compared exactly, so the edge
rule alone decides a ratio on an edge.

Lint, beyond the schema: haircut bands start at 0, are contiguous, the last
open, ratios non-increasing (the table kit); an asset of a limited rank has
an `upper_limit` and no other asset has one; rule bands start at 0, are
contiguous, the last open, every band but the first says `includes_from` and
the first does not exclude its edge; an `up_to` above the band's `from`; an
account type not both counted and excluded; message placeholders known.

The compiled policy answers the read interface of `collateral.py` and
decides `margin-transfer` requests (`evaluate`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, getcontext, setcontext
from string import Template
from types import MappingProxyType
from typing import Any

from .._stepjson import DETAIL_JSON_TEXT
from ..arithmetic import engine_context
from ..bands import BandTable, Marginal, compile_bands
from ..compiler import rounding_of
from ..errors import AccountError, Problem, did_you_mean, format_json_path, problem_at
from ..frozen import FrozenDict
from ..model import PolicyDocument, PolicyRef, Rounding
from ..product import CompiledPolicy
from ..templates import compile_templates
from ..trace import Env, StepSpec, Trace, with_json_text
from .collateral import (
    APPLIES_STEP,
    BAND_STEP,
    MAXIMUM_STEP,
    RATIO_STEP,
    Steps,
    TransferBand,
    TransferLimit,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
RULE = ("max_collateral",)
MESSAGE_NAMES = frozenset({"asset", "symbol", "max_quantity", "quantity", "band"})
_NO_ENV: Env = MappingProxyType({})


def _plain(number: Decimal) -> Decimal:
    """`number` without trailing zeros or an exponent: 10000.00000000 -> 10000, 0.80 -> 0.8."""
    normal = number.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def grouped(quantity: Decimal) -> str:
    """A quantity as a message shows it: thousands separators, no trailing zeros (`10,000`)."""
    return format(_plain(quantity), ",f")


def _percent(ratio: Decimal) -> str:
    return f"{_plain(ratio * HUNDRED):f}%"


@dataclass(frozen=True, kw_only=True, slots=True)
class HaircutBands:
    """An asset's haircut bands: the total computed at once, the band-by-band parts only when the trace renders.

    Every margin decision counts every asset through its bands, so the
    evaluation computes the total alone (the kit's `BandTable.marginal`
    builds a record per band part); the step records the value and the total,
    and renders the parts through the table kit's own marginal step.
    """

    table: BandTable
    rows: tuple[tuple[Decimal, Decimal | None, Decimal], ...]
    """(from, to, ratio) per band."""
    spec: StepSpec

    def apply(self, value: Decimal, steps: Steps, spec: StepSpec | None = None) -> Decimal:
        """`value` counted band by band (the kit's `marginal(value).total`), recording the step."""
        total = ZERO
        for lower, upper, ratio in self.rows:
            if value <= lower:
                break
            total += ((value if upper is None or value < upper else upper) - lower) * ratio
        steps.append((spec or self.spec, (value, total)))
        return total

    def named(self, name: str, description: str) -> StepSpec:
        """The step under another name (an unlisted asset's)."""
        return dataclasses.replace(self.spec, name=name, description=description)


def _haircut_bands(table: BandTable) -> HaircutBands:
    kit = table.marginal_spec
    render_detail, render_inputs = kit.detail, kit.inputs_of
    assert render_detail is not None  # noqa: S101 - the kit's marginal step renders its detail
    assert render_inputs is not None  # noqa: S101 - and its inputs from what it recorded

    def recomputed(recorded: tuple[Decimal, Decimal]) -> tuple[Decimal, Marginal]:
        # rendered when the caller asks, in the caller's decimal context: recompute the parts in the engine's
        # (setcontext as `engine_decimal_context` does, without a generator per step written)
        callers_context = getcontext()
        setcontext(engine_context())
        try:
            return recorded[0], table.marginal(recorded[0])
        finally:
            setcontext(callers_context)

    def detail(recorded: tuple[Decimal, Decimal], env: Env) -> Any:
        return render_detail(recomputed(recorded), env)

    render_text = getattr(render_detail, DETAIL_JSON_TEXT, None)
    if render_text is not None:

        def text(recorded: tuple[Decimal, Decimal], env: Env) -> str:
            return str(render_text(recomputed(recorded), env))

        with_json_text(detail, text)

    def inputs(recorded: tuple[Decimal, Decimal]) -> Mapping[str, Any]:
        return render_inputs(recorded)

    def total(recorded: tuple[Decimal, Decimal]) -> Decimal:
        return recorded[1]

    spec = dataclasses.replace(kit, value_of=total, detail=detail, inputs_of=inputs)
    rows = tuple((band.lower, band.upper, band.rate if band.rate is not None else Decimal(1)) for band in table.bands)
    return HaircutBands(table=table, rows=rows, spec=spec)


@dataclass(frozen=True, kw_only=True, slots=True)
class AssetTerms:
    symbol: str
    name: str
    """The asset's name in messages."""
    rank: int
    upper_limit: Decimal | None
    quantity_rounding: Rounding
    """A maximum quantity: the asset's precision, the rule's `quantity_rounding`."""
    haircut: HaircutBands
    ratio_spec: StepSpec | None
    """The step of the ratio platform total / upper limit, citing the asset's `upper_limit` line."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Cap:
    """What one band of the rule allows, and the step reporting the maximum it gives."""

    up_to: Decimal | None
    value: Decimal | None
    blocked: bool
    range: TransferBand
    spec: StepSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class TransferRule:
    ranks: frozenset[int]
    counted: frozenset[str]
    excluded: frozenset[str]
    bands: BandTable
    includes_from: tuple[bool, ...]
    caps: tuple[Cap, ...]
    messages: Mapping[str, Template]

    def band_index(self, ratio: Decimal) -> int:
        """The band `ratio` (>= 0) falls in: the one it is inside, or on an edge the one the edge belongs to."""
        band = self.bands.find(ratio)
        assert band is not None  # noqa: S101 - lint: the bands start at 0 and the last is open
        index = band.index
        if index > 0 and ratio == band.lower and not self.includes_from[index]:
            index -= 1
        return index


# Each transfer step records the whole `TransferLimit` and renders its own part of it.


def _applies_inputs(limit: TransferLimit) -> dict[str, Any]:
    return {"asset": limit.asset, "account_type": limit.account_type, "rank": limit.rank}


def _ratio_detail(limit: TransferLimit, _env: Env) -> dict[str, Any]:
    return {"asset": limit.asset, "platform_total": limit.platform_total, "upper_limit": limit.upper_limit}


def _band_value(limit: TransferLimit) -> str | None:
    return None if limit.band is None else limit.band.range


def _band_detail(limit: TransferLimit, _env: Env) -> dict[str, Any] | None:
    return None if limit.band is None else {"band": limit.band.detail()}


def _maximum_detail(limit: TransferLimit, _env: Env) -> dict[str, Any]:
    if limit.blocked:
        return {"blocked": True}
    if limit.max_quantity is None:
        return {"unlimited": True}
    detail: dict[str, Any] = {"rounding": limit.rounding}
    if limit.up_to is not None:
        detail.update(
            up_to=limit.up_to,
            upper_limit=limit.upper_limit,
            platform_total=limit.platform_total,
            up_to_quantity=limit.up_to_quantity,
        )
    if limit.value is not None:
        detail.update(value=limit.value, price=limit.price, value_quantity=limit.value_quantity)
    return detail


def _maximum_value(limit: TransferLimit) -> Decimal | None:
    return limit.max_quantity


@dataclass(frozen=True, kw_only=True, slots=True)
class CompiledCollateralPolicy:
    ref: PolicyRef
    assets: Mapping[str, AssetTerms]
    unlisted: HaircutBands | None
    rule: TransferRule
    steps: Mapping[str, StepSpec]
    _unlisted_specs: dict[str, StepSpec] = field(default_factory=dict, repr=False, compare=False)
    """The haircut step of each unlisted asset met so far, named after it."""

    @property
    def listed(self) -> frozenset[str]:
        return frozenset(self.assets)

    def covers(self, asset: str) -> bool:
        return asset in self.assets or self.unlisted is not None

    def haircut_value(self, asset: str, value: Decimal, steps: Steps) -> Decimal:
        terms = self.assets.get(asset)
        if terms is not None:
            return terms.haircut.apply(value, steps)
        if self.unlisted is None:
            raise KeyError(f"`{asset}` is not covered by collateral policy `{self.ref.id}` version {self.ref.version}")
        spec = self._unlisted_specs.get(asset)
        if spec is None:
            spec = self._unlisted_specs[asset] = self.unlisted.named(
                f"collateral_value:{asset}",
                f"value of {asset} (not listed) after the `unlisted` haircut bands, band by band",
            )
        return self.unlisted.apply(value, steps, spec)

    def transfer_limit(
        self,
        asset: str,
        *,
        platform_total: Decimal,
        price: Decimal,
        steps: Steps,
        account_type: str | None = None,
    ) -> TransferLimit:
        rule = self.rule
        if account_type is not None and account_type not in rule.counted and account_type not in rule.excluded:
            raise ValueError(f"unknown account type `{account_type}`")
        terms = self.assets.get(asset)
        rank = None if terms is None else terms.rank
        reason = None
        if account_type in rule.excluded:
            reason = f"the rule does not apply to `{account_type}` accounts"
        elif terms is None:
            reason = f"{asset} is not listed; an unlisted asset is not limited"
        elif terms.upper_limit is None:
            reason = f"{asset} is rank {rank}; the rule limits ranks {', '.join(map(str, sorted(rule.ranks)))}"
        if terms is None or terms.upper_limit is None or reason is not None:
            limit = TransferLimit(
                asset=asset,
                account_type=account_type,
                applies=False,
                reason=reason or "",
                rank=rank,
                upper_limit=None if terms is None else terms.upper_limit,
                platform_total=platform_total,
                price=price,
                ratio=None,
                band=None,
                max_quantity=None,
            )
            steps.append((self.steps["applies"], limit))
            return limit
        upper_limit = terms.upper_limit
        ratio = platform_total / upper_limit
        cap = rule.caps[rule.band_index(ratio)]
        up_to_quantity = None if cap.up_to is None else cap.up_to * upper_limit - platform_total
        value_quantity = None if cap.value is None else cap.value / price
        terms_given = [term for term in (up_to_quantity, value_quantity) if term is not None]
        maximum: Decimal | None
        if cap.blocked:
            maximum = ZERO
        elif terms_given:
            maximum = terms.quantity_rounding.apply(min(terms_given))
            if maximum <= 0:
                maximum = ZERO  # also turns a rounded -0E-8 into a plain 0
        else:
            maximum = None
        limit = TransferLimit(
            asset=asset,
            account_type=account_type,
            applies=True,
            reason=f"{asset} is rank {rank}, limited to {upper_limit} on the platform",
            rank=rank,
            upper_limit=upper_limit,
            platform_total=platform_total,
            price=price,
            ratio=ratio,
            band=cap.range,
            up_to=cap.up_to,
            up_to_quantity=up_to_quantity,
            value=cap.value,
            value_quantity=value_quantity,
            blocked=cap.blocked,
            rounding=terms.quantity_rounding.describe(),
            max_quantity=maximum,
        )
        assert terms.ratio_spec is not None  # noqa: S101 - compiled for every asset with an upper limit
        steps += [(self.steps["applies"], limit), (terms.ratio_spec, limit), (self.steps["band"], limit)]
        steps.append((cap.spec, limit))
        return limit

    def evaluate(
        self,
        account: Mapping[str, Any],
        *,
        source: str,
        as_of: datetime,
        related: Mapping[str, CompiledPolicy],
    ) -> tuple[Mapping[str, Any], Trace]:
        """The decision on a `margin-transfer` request: how much of it the max-collateral rule allows."""
        asset, account_type = account["asset"], account["account_type"]
        self._check(asset, account_type, source)
        quantity = Decimal(account["quantity"])
        auto = bool(account.get("auto", False))
        steps: Steps = []
        limit = self.transfer_limit(
            asset,
            platform_total=Decimal(account["platform_total"]),
            price=Decimal(account["price"]),
            steps=steps,
            account_type=account_type,
        )
        maximum = limit.max_quantity
        message_key = None
        if maximum is None or quantity <= maximum:
            status, allowed_quantity = "allowed", quantity
        elif auto:
            allowed_quantity = maximum
            status, message_key = ("capped", "capped") if maximum > 0 else ("refused", "blocked")
        else:
            status, allowed_quantity, message_key = "refused", ZERO, "refused"
        message = None
        if message_key is not None and maximum is not None:
            terms = self.assets[asset]
            message = self.rule.messages[message_key].safe_substitute(
                asset=terms.name,
                symbol=asset,
                max_quantity=grouped(maximum),
                quantity=grouped(quantity),
                band=limit.band.range if limit.band is not None else "",
            )
        steps.append((self.steps["transfer"], (quantity, maximum, auto, status)))
        outcome = {
            **limit.to_dict(),
            "status": status,
            "rule": None,  # no rule table: the rule's band decides, named in `band`
            "account_type": account_type,
            "auto": auto,
            "quantity": quantity,
            "allowed_quantity": allowed_quantity,
            "allowed": status == "allowed",
            "message": message,
        }
        return FrozenDict(outcome), Trace(tuple(steps), _NO_ENV, {})

    def _check(self, asset: str, account_type: str, source: str) -> None:
        problems = []
        if not self.covers(asset):
            problems.append(
                problem_at(
                    source,
                    ("asset",),
                    f"`{asset}` is not listed in collateral policy `{self.ref.id}` version {self.ref.version}",
                    did_you_mean(asset, self.assets),
                )
            )
        types = self.rule.counted | self.rule.excluded
        if account_type not in types:
            problems.append(
                problem_at(
                    source,
                    ("account_type",),
                    f"unknown account type `{account_type}`; expected one of {', '.join(sorted(types))}",
                    did_you_mean(account_type, types),
                )
            )
        if problems:
            raise AccountError(problems)


def _transfer_inputs(recorded: tuple[Decimal, Decimal | None, bool, str]) -> dict[str, Any]:
    quantity, maximum, auto, _ = recorded
    return {"quantity": quantity, "max_quantity": maximum, "auto": auto}


def _transfer_status(recorded: tuple[Decimal, Decimal | None, bool, str]) -> str:
    return recorded[3]


def _step_specs(document: PolicyDocument) -> dict[str, StepSpec]:
    return {
        "applies": StepSpec(
            name=APPLIES_STEP,
            kind="derive",
            description="does the max-collateral rule limit this transfer (the account type and the asset's rank)?",
            source=document.source((*RULE, "ranks")),
            path=format_json_path((*RULE, "ranks")),
            inputs_of=_applies_inputs,
            value_of=lambda limit: limit.applies,
            detail=lambda limit, _env: {"reason": limit.reason},
        ),
        "band": StepSpec(
            name=BAND_STEP,
            kind="lookup",
            description="the band of the ratio; an edge belongs to the band its `includes_from` says",
            source=document.source((*RULE, "bands")),
            path=format_json_path((*RULE, "bands")),
            inputs_of=lambda limit: {"ratio": limit.ratio},
            value_of=_band_value,
            detail=_band_detail,
        ),
        "transfer": StepSpec(
            name="transfer",
            kind="status",
            description="the request against the maximum: allowed whole, capped (automatic) or refused",
            source=document.source((*RULE, "messages")),
            path=format_json_path((*RULE, "messages")),
            value_of=_transfer_status,
            detail=lambda recorded, _env: _transfer_inputs(recorded),
        ),
    }


def _range_text(lower: Decimal, upper: Decimal | None, includes_lower: bool, includes_upper: bool) -> str:
    low = "" if lower == 0 else f"{_percent(lower)} {'<=' if includes_lower else '<'} "
    if upper is None:
        return f"ratio {'>=' if includes_lower else '>'} {_percent(lower)}" if low else "any ratio"
    return f"{low}ratio {'<=' if includes_upper else '<'} {_percent(upper)}"


def _compile_rule(document: PolicyDocument) -> tuple[TransferRule | None, list[Problem]]:
    data = document.data["max_collateral"]
    bands_path = (*RULE, "bands")
    bands, problems = compile_bands(
        document,
        bands_path,
        name=BAND_STEP,
        input_name="ratio",
        description="the band of the ratio platform total / upper limit",
        rate_key=None,
        rate_range=None,
    )
    rows = data["bands"]
    includes = []
    for index, row in enumerate(rows):
        where = (*bands_path, index)
        given = row.get("includes_from")
        if index == 0 and given is False:
            problems.append(
                document.problem(
                    (*where, "includes_from"),
                    "expected the first band to include its `from` (there is no band before it), got false",
                )
            )
        if index > 0 and given is None:
            problems.append(
                document.problem(
                    where,
                    f"missing `includes_from`: say which band a ratio of exactly {row['from']} belongs to"
                    " (true: this one, false: the band before)",
                )
            )
        includes.append(given is not False)
        cap = row["max_transfer_in"]
        if isinstance(cap, Mapping) and cap.get("up_to") is not None and cap["up_to"] <= row["from"]:
            problems.append(
                document.problem(
                    (*where, "max_transfer_in", "up_to"),
                    f"expected `up_to` above the band's `from` ({row['from']}), got {cap['up_to']}: every ratio"
                    " in the band is at or above it, so nothing could be transferred in; write `blocked`",
                )
            )
    counted, excluded = data["account_types"]["counted"], data["account_types"]["excluded"]
    problems += [
        document.problem(
            (*RULE, "account_types", "excluded", excluded.index(name)),
            f"`{name}` is also listed in `counted`; an account type is one or the other",
        )
        for name in excluded
        if name in counted
    ]
    messages, found = compile_templates(document, (*RULE, "messages"), MESSAGE_NAMES)
    problems += found
    if problems or bands is None:
        return None, problems
    caps = []
    for index, row in enumerate(rows):
        band = bands.bands[index]
        cap = row["max_transfer_in"]
        next_includes = includes[index + 1] if index + 1 < len(rows) else False
        where = (*bands_path, index)
        band_range = TransferBand(
            number=index + 1,
            lower=band.lower,
            upper=band.upper,
            includes_from=includes[index],
            range=_range_text(band.lower, band.upper, includes[index], not next_includes),
            source=band.source,
            path=band.path,
        )
        mapping = cap if isinstance(cap, Mapping) else {}
        caps.append(
            Cap(
                up_to=mapping.get("up_to"),
                value=mapping.get("value"),
                blocked=cap == "blocked",
                range=band_range,
                spec=StepSpec(
                    name=MAXIMUM_STEP,
                    kind="derive",
                    description=f"the most that may be transferred in while {band_range.range}",
                    source=document.source((*where, "max_transfer_in")),
                    path=format_json_path((*where, "max_transfer_in")),
                    value_of=_maximum_value,
                    detail=_maximum_detail,
                ),
            )
        )
    rule = TransferRule(
        ranks=frozenset(int(rank) for rank in data["ranks"]),
        counted=frozenset(counted),
        excluded=frozenset(excluded),
        bands=bands,
        includes_from=tuple(includes),
        caps=tuple(caps),
        messages=MappingProxyType(messages),
    )
    return rule, []


def _compile_asset(
    document: PolicyDocument, symbol: str, spec: Mapping[str, Any], ranks: frozenset[int], mode: str
) -> tuple[AssetTerms | None, list[Problem]]:
    path = ("assets", symbol)
    rank = int(spec["rank"])
    upper_limit = spec.get("upper_limit")
    problems: list[Problem] = []
    if rank in ranks and upper_limit is None:
        problems.append(
            document.problem(
                path,
                f"missing `upper_limit`: {symbol} is rank {rank}, one the max-collateral rule limits"
                f" ({', '.join(map(str, sorted(ranks)))})",
            )
        )
    if rank not in ranks and upper_limit is not None:
        problems.append(
            document.problem(
                (*path, "upper_limit"),
                f"unexpected `upper_limit`: {symbol} is rank {rank}, and the max-collateral rule limits only"
                f" ranks {', '.join(map(str, sorted(ranks)))}",
            )
        )
    haircut, found = compile_bands(
        document,
        (*path, "haircut"),
        name=f"collateral_value:{symbol}",
        input_name=f"{symbol}_value",
        description=f"value of {symbol} after its haircut bands, band by band",
        rate_key="ratio",
        direction="non-increasing",
    )
    problems += found
    if problems or haircut is None:
        return None, problems
    ratio_spec = None
    if upper_limit is not None:
        ratio_spec = StepSpec(
            name=RATIO_STEP,
            kind="derive",
            description="ratio of the platform total to the upper limit, compared exactly",
            expression="platform_total / upper_limit",
            source=document.source((*path, "upper_limit")),
            path=format_json_path((*path, "upper_limit")),
            value_of=lambda limit: limit.ratio,
            detail=_ratio_detail,
        )
    terms = AssetTerms(
        symbol=symbol,
        name=spec.get("name") or symbol,
        rank=rank,
        upper_limit=upper_limit,
        quantity_rounding=rounding_of(int(spec["precision"]), mode),
        haircut=_haircut_bands(haircut),
        ratio_spec=ratio_spec,
    )
    return terms, []


def compile_collateral(document: PolicyDocument) -> tuple[CompiledCollateralPolicy | None, list[Problem]]:
    data = document.data
    rule, problems = _compile_rule(document)
    ranks = frozenset(int(rank) for rank in data["max_collateral"]["ranks"])
    mode = str(data["max_collateral"]["quantity_rounding"])
    assets: dict[str, AssetTerms] = {}
    for symbol, spec in data["assets"].items():
        terms, found = _compile_asset(document, symbol, spec, ranks, mode)
        problems += found
        if terms is not None:
            assets[symbol] = terms
    unlisted = None
    if "unlisted" in data:
        unlisted_table, found = compile_bands(
            document,
            ("unlisted", "haircut"),
            name="collateral_value:unlisted",
            input_name="value",
            description="value of an unlisted asset after the `unlisted` haircut bands, band by band",
            rate_key="ratio",
            direction="non-increasing",
        )
        problems += found
        unlisted = None if unlisted_table is None else _haircut_bands(unlisted_table)
    if problems or rule is None:
        return None, problems
    compiled = CompiledCollateralPolicy(
        ref=document.ref,
        assets=MappingProxyType(assets),
        unlisted=unlisted,
        rule=rule,
        steps=_step_specs(document),
    )
    return compiled, []


__all__ = ["CompiledCollateralPolicy", "compile_collateral", "grouped"]
