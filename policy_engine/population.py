"""Synthetic account populations: realistic accounts of each account kind, made from a seed.

For benchmarks, batch tests and impact analysis.  Each account kind has a
generator here (`GENERATORS`, keyed by account kind); it reads the policy
version in force at the population's instant from the engine (tiers, LTV
sets, roundings, retry interval), never numbers written here, and places
each account in a zone relative to those thresholds:

- spot-margin: above the margin call level, between the call and the
  liquidation level, below the liquidation level, *exactly on* the call or
  liquidation level (the raw margin level equal to it), *rounding onto* it
  (raw within the policy's rounding, as in the domain's example C), or
  without debt;
- crypto-loan: below the initial LTV, between initial and margin call,
  between margin call and liquidation, beyond liquidation, exactly on the
  initial, margin call or liquidation LTV, or rounding onto the last two;
  with auto top-up on or off, spot balances that cover, partly cover or do
  not cover a top-up, failure streaks whose retry is or is not due, and
  disabled top-ups;
- futures-position (`population_futures.py`): every symbol and bracket, long
  and short, isolated and cross, margin ratios between the zones' edges and
  the ratio the liquidation rule compares with, *exactly on* one of those
  edges, a notional exactly on a bracket edge, or no margin balance left;
- margin-transfer (`population_transfer.py`): the platform total inside each
  band of the max-collateral rule, exactly on a band edge, around the upper
  limit, or outside the rule; quantities under, on and over the maximum.

Shares (per mille) are in `MARGIN_ZONES`, `LOAN_ZONES`, `FUTURES_ZONES` and
`TRANSFER_ZONES`; 16% of margin accounts, 20% of loans, 15% of futures
positions and 15% of transfers sit on a threshold.  Without `kinds`, a
population mixes `DEFAULT_KINDS` (spot-margin and crypto-loan: the bytes
made before the other generators came).  The shared draws are in
`population_draws.py`.  Amounts are log-uniform,
prices are a fixed market snapshot (`REFERENCE_PRICES`) moved by up to ±10%.
Only integer draws from `random.Random(seed)` and exact `Decimal`
arithmetic are used, and accounts are written as canonical JSON, so the
same seed, count, kinds, instant and policies give a byte-identical file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from random import Random
from typing import Any

from ._numbers import iso
from .clock import resolve_instant
from .decision import canonical_json
from .engine import Engine
from .errors import AccountError, Problem, did_you_mean
from .model import Rounding
from .population_draws import (
    EXACT,
    ONE,
    QUANTITY,
    REFERENCE_PRICES,
    ZERO,
    Generator,
    Maker,
)
from .population_draws import amount as _amount
from .population_draws import chance as _chance
from .population_draws import fraction as _fraction
from .population_draws import places as _places
from .population_draws import price as _price
from .population_draws import quantum as _quantum
from .population_draws import reference_price as _reference_price
from .population_draws import significant as _significant
from .population_draws import zone as _zone
from .population_futures import _futures_maker
from .population_transfer import _transfer_maker
from .product import CompiledPolicy
from .products.loans import CompiledLoanPolicy
from .products.margin import CompiledMarginPolicy

MARGIN_ZONES: Mapping[str, int] = {
    "above_call": 500,
    "call_zone": 150,
    "below_liquidation": 120,
    "on_call": 50,
    "rounds_to_call": 30,
    "on_liquidation": 50,
    "rounds_to_liquidation": 30,
    "no_debt": 70,
}
LOAN_ZONES: Mapping[str, int] = {
    "below_initial": 350,
    "initial_zone": 200,
    "call_zone": 150,
    "beyond_liquidation": 100,
    "on_initial": 30,
    "on_call": 60,
    "rounds_to_call": 40,
    "on_liquidation": 40,
    "rounds_to_liquidation": 30,
}


def _on_or_rounding_onto(
    threshold: Decimal, places: int, rounds: Callable[[Decimal], Decimal], *, exact: bool
) -> Decimal:
    """The threshold itself, or a raw value the policy's rounding turns into it (0.3 of a unit away)."""
    if exact:
        return threshold
    step = Decimal(3).scaleb(-(places + 1))
    for candidate in (threshold - step, threshold + step):
        if rounds(candidate) == threshold:
            return candidate
    raise AssertionError(f"no value within a rounding unit of {threshold} rounds onto it")


def _between(rng: Random, low: Decimal, high: Decimal, places: int, rounds: Callable[[Decimal], Decimal]) -> Decimal:
    """A value strictly between two thresholds, also after the policy's rounding."""
    for _ in range(20):
        value = (low + (high - low) * _fraction(rng, 1, 999)).quantize(Decimal(1).scaleb(-places))
        if low < rounds(value) < high:
            return value
    return ((low + high) / 2).quantize(Decimal(1).scaleb(-places))


def _split(rng: Random, total: Decimal, share_low: int, share_high: int) -> tuple[Decimal, Decimal]:
    """(principal, interest) adding up to `total` exactly; interest a small share of it."""
    interest = EXACT.multiply(total, _fraction(rng, share_low, share_high) / 100).quantize(QUANTITY, ROUND_DOWN)
    return EXACT.subtract(total, interest), interest


def _margin_maker(policy: CompiledPolicy) -> Maker:
    if not isinstance(policy, CompiledMarginPolicy):
        raise TypeError(f"expected a margin-trading policy, got {type(policy).__name__}")
    tiers = [
        (mode_name, int(leverage), tier.values["margin_call_level"], tier.values["liquidation_level"])
        for mode_name, mode in policy.modes.items()
        for leverage, tier in mode.tiers.items()
    ]
    rounding = policy.margin_level.rounding
    stable = [symbol for symbol in policy.assets if _reference_price(symbol) == ONE]
    volatile = [symbol for symbol in policy.assets if _reference_price(symbol) != ONE]
    liquid = [symbol for symbol in volatile if policy.assets[symbol].liquid]
    illiquid = [symbol for symbol in volatile if not policy.assets[symbol].liquid]

    def make(rng: Random, account_id: str, _as_of: datetime) -> dict[str, Any]:
        mode_name, leverage, call, liquidation = rng.choice(tiers)
        zone = _zone(rng, MARGIN_ZONES)
        target = _margin_target(rng, zone, call, liquidation, rounding)
        on_threshold = zone.startswith(("on_", "rounds_to_"))
        liabilities = [] if zone == "no_debt" else _margin_debts(rng, stable, volatile, on_threshold=on_threshold)
        debt_value = ZERO
        for line in liabilities:
            debt_value = EXACT.add(
                debt_value, EXACT.multiply(EXACT.add(line["principal"], line["interest"]), line["price"])
            )
        asset_value = EXACT.multiply(target, debt_value) if liabilities else _amount(rng, 2, 6)
        assets = _margin_collateral(rng, asset_value, liquid, illiquid, stable, on_threshold=on_threshold)
        account: dict[str, Any] = {
            "kind": "spot-margin",
            "account_id": account_id,
            "mode": mode_name,
            "leverage": leverage,
            "assets": assets,
            "liabilities": liabilities,
        }
        sold_below_mark = {
            line["asset"]: _significant(line["price"] * _fraction(rng, 950, 999), 7)
            for line in assets
            if line["asset"] in illiquid and _chance(rng, 500)
        }
        if sold_below_mark:
            account["execution_prices"] = sold_below_mark
        return account

    return make


def _margin_target(rng: Random, zone: str, call: Decimal, liquidation: Decimal, rounding: Rounding) -> Decimal:
    """The margin level the account is built to have (0 for no debt)."""
    if zone == "above_call":
        return call * (1 + _fraction(rng, 1, 2000))
    if zone == "call_zone":
        return _between(rng, liquidation, call, rounding.places, rounding.apply)
    if zone == "below_liquidation":
        return (liquidation * (1 - _fraction(rng, 1, 300))).quantize(rounding.quantum)
    if zone.endswith("_call"):
        return _on_or_rounding_onto(call, rounding.places, rounding.apply, exact=zone == "on_call")
    if zone.endswith("_liquidation"):
        return _on_or_rounding_onto(liquidation, rounding.places, rounding.apply, exact=zone == "on_liquidation")
    return ZERO


def _margin_debts(
    rng: Random, stable: Sequence[str], volatile: Sequence[str], *, on_threshold: bool
) -> list[dict[str, Any]]:
    """One or two debts, stablecoins mostly; on a threshold stablecoins only, in whole units, so that
    target x debt needs no more places than a quantity has."""
    liabilities: list[dict[str, Any]] = []
    for _ in range(2 if _chance(rng, 200) else 1):
        volatile_debt = bool(volatile) and (not stable or (not on_threshold and _chance(rng, 200)))
        owed = {line["asset"] for line in liabilities}
        candidates = [symbol for symbol in (volatile if volatile_debt else stable) if symbol not in owed]
        if not candidates:
            break
        asset = rng.choice(candidates)
        price = _price(rng, asset)
        value = _amount(rng, 2, 6)
        if on_threshold and price == ONE:
            principal = value.quantize(ONE)
            interest = (principal * _fraction(rng, 0, 20) / 100).quantize(ONE, ROUND_DOWN)
        else:
            principal, interest = _split(rng, (value / price).quantize(QUANTITY), 0, 20)
        liabilities.append({"asset": asset, "principal": principal, "interest": interest, "price": price})
    return liabilities


def _margin_collateral(
    rng: Random,
    asset_value: Decimal,
    liquid: Sequence[str],
    illiquid: Sequence[str],
    stable: Sequence[str],
    *,
    on_threshold: bool,
) -> list[dict[str, Any]]:
    """Holdings worth `asset_value`: up to three volatile assets (an illiquid one now and then) and a
    balancing one (a stablecoin where the policy has one) that makes the total exact on a threshold."""
    chosen: list[str] = []
    if illiquid and _chance(rng, 60):  # illiquid holdings only: a takeover without regular sales
        chosen.append(rng.choice(illiquid))
        balancing: str | None = chosen.pop()
    else:
        for _ in range(rng.randint(1, 3)):
            pool = illiquid if illiquid and _chance(rng, 170) else liquid or illiquid
            left = [symbol for symbol in pool if symbol not in chosen]
            if left:
                chosen.append(rng.choice(left))
        balancing = rng.choice(stable) if stable else (chosen.pop() if chosen else None)
    assets: list[dict[str, Any]] = []
    spent = ZERO
    for symbol in chosen:
        price = _price(rng, symbol)
        share = asset_value * _fraction(rng, 50, 850 // len(chosen))
        # on a threshold quantity x price may have no more places than a quantity, so the balance stays short
        quantum = _quantum(8 - _places(price)) if on_threshold else QUANTITY
        quantity = (share / price).quantize(quantum, ROUND_DOWN)
        assets.append({"asset": symbol, "quantity": quantity, "price": price})
        spent = EXACT.add(spent, EXACT.multiply(quantity, price))
    if balancing is not None:
        rest = EXACT.subtract(asset_value, spent)
        price = _price(rng, balancing)
        if not on_threshold:
            quantity = (rest / price).quantize(QUANTITY)
        elif price == ONE:
            quantity = rest
        else:  # a power-of-ten quantity makes the price exact: rest / 10^k
            power = (rest / price).adjusted()
            quantity, price = Decimal(1).scaleb(power), rest.scaleb(-power).normalize(EXACT)
        assets.append({"asset": balancing, "quantity": quantity, "price": price})
    return assets


def _loan_maker(policy: CompiledPolicy) -> Maker:
    if not isinstance(policy, CompiledLoanPolicy):
        raise TypeError(f"expected a crypto-loan policy, got {type(policy).__name__}")
    choices = [
        (loan_type, asset, thresholds.values)
        for loan_type, table in policy.loan_types.items()
        for asset, thresholds in table.items()
    ]
    loan_assets: dict[str, tuple[list[str], list[str]]] = {}  # by collateral: (any other asset, stablecoins)
    for _loan_type, asset, _values in choices:
        others = sorted(policy.assets - {asset})  # sorted: a set's order changes between runs
        loan_assets[asset] = (others, [symbol for symbol in others if _reference_price(symbol) == ONE])

    def make(rng: Random, account_id: str, as_of: datetime) -> dict[str, Any]:
        loan_type, collateral_asset, values = rng.choice(choices)
        others, stable = loan_assets[collateral_asset]
        loan_asset = rng.choice(stable if stable and _chance(rng, 900) else others)
        return _loan_account(
            policy,
            rng,
            account_id,
            as_of,
            loan_type=loan_type,
            collateral_asset=collateral_asset,
            loan_asset=loan_asset,
            thresholds=values,
        )

    return make


def _loan_account(
    policy: CompiledLoanPolicy,
    rng: Random,
    account_id: str,
    as_of: datetime,
    *,
    loan_type: str,
    collateral_asset: str,
    loan_asset: str,
    thresholds: Mapping[str, Decimal],
) -> dict[str, Any]:
    zone = _zone(rng, LOAN_ZONES)
    target = _loan_target(rng, zone, thresholds, policy.ltv.rounding)
    on_threshold = zone.startswith(("on_", "rounds_to_"))
    collateral_price = _price(rng, collateral_asset)
    loan_price = _price(rng, loan_asset)
    quantum = QUANTITY
    if on_threshold:  # whole prices and a coarser quantity keep target x collateral value within 8 places
        if collateral_price.adjusted() >= 2:  # noqa: PLR2004 - 100 and more
            collateral_price = collateral_price.quantize(ONE)
        quantum = _quantum(8 - _places(target) - _places(collateral_price))
    quantity = max(quantum, (_amount(rng, 2, 6) / collateral_price).quantize(quantum))
    debt_value = EXACT.multiply(target, EXACT.multiply(quantity, collateral_price))
    if not on_threshold:
        owed = (debt_value / loan_price).quantize(QUANTITY)
    elif loan_price == ONE:
        owed = debt_value
    else:  # a power-of-ten quantity owed makes the price exact: debt value / 10^k
        power = (debt_value / loan_price).adjusted()
        owed, loan_price = Decimal(1).scaleb(power), debt_value.scaleb(-power).normalize(EXACT)
    principal, interest = _split(rng, owed, 0, 3) if _chance(rng, 670) else (owed, ZERO)
    account: dict[str, Any] = {
        "kind": "crypto-loan",
        "account_id": account_id,
        "loan": {"asset": loan_asset, "principal": principal, "interest": interest},
        "collateral": {"asset": collateral_asset, "quantity": quantity},
        "prices": {collateral_asset: collateral_price, loan_asset: loan_price},
    }
    if loan_type != policy.default_loan_type or _chance(rng, 500):
        account["loan_type"] = loan_type
    balance = _spot_balance(rng, quantity)
    if balance is not None:
        account["spot_balances"] = {collateral_asset: balance}
    if _chance(rng, 700):
        account["auto_top_up"] = {"enabled": True, "state": _top_up_state(policy, rng, as_of)}
    elif _chance(rng, 500):
        account["auto_top_up"] = {"enabled": False}
    return account


def _loan_target(rng: Random, zone: str, thresholds: Mapping[str, Decimal], rounding: Rounding) -> Decimal:
    """The LTV the loan is built to have."""
    initial, call, liquidation = (
        thresholds["initial_ltv"],
        thresholds["margin_call_ltv"],
        thresholds["liquidation_ltv"],
    )
    if zone == "below_initial":
        return (initial * _fraction(rng, 200, 999)).quantize(rounding.quantum)
    if zone == "initial_zone":
        return _between(rng, initial, call, rounding.places, rounding.apply)
    if zone == "call_zone":
        return _between(rng, call, liquidation, rounding.places, rounding.apply)
    if zone == "beyond_liquidation":
        return (liquidation * (1 + _fraction(rng, 1, 150))).quantize(rounding.quantum)
    if zone == "on_initial":
        return initial
    if zone.endswith("_call"):
        return _on_or_rounding_onto(call, rounding.places, rounding.apply, exact=zone == "on_call")
    return _on_or_rounding_onto(liquidation, rounding.places, rounding.apply, exact=zone == "on_liquidation")


def _spot_balance(rng: Random, collateral_quantity: Decimal) -> Decimal | None:
    """None (no spot wallet entry), zero, a little, or plenty of the collateral asset."""
    draw = rng.randrange(10)
    if draw < 2:  # noqa: PLR2004 - 20% without an entry
        return None
    if draw < 3:  # noqa: PLR2004 - 10% at zero
        return ZERO
    share = _fraction(rng, 1, 60) if draw < 6 else _fraction(rng, 300, 1500)  # noqa: PLR2004 - 30% a little
    return (collateral_quantity * share).quantize(QUANTITY)


def _top_up_state(policy: CompiledLoanPolicy, rng: Random, as_of: datetime) -> dict[str, Any]:
    """A fresh state (60%), a failure streak with its retry due or not yet (30%), or disabled (10%)."""
    rules = policy.top_up
    if _chance(rng, 600):
        return {"failed_attempts": 0, "last_attempt_at": None, "succeeded_before": _chance(rng, 300), "disabled": False}
    interval_minutes = max(1, int(rules.retry_interval.total_seconds() // 60))
    last = iso(as_of - timedelta(minutes=rng.randint(1, 2 * interval_minutes)))
    if _chance(rng, 750):
        failed = rng.randint(1, max(1, rules.max_attempts - 1))
        return {"failed_attempts": failed, "last_attempt_at": last, "succeeded_before": False, "disabled": False}
    return {
        "failed_attempts": rules.max_attempts,
        "last_attempt_at": last,
        "succeeded_before": _chance(rng, 500),
        "disabled": True,
    }


GENERATORS: Mapping[str, Generator] = {
    "spot-margin": _margin_maker,
    "crypto-loan": _loan_maker,
    "futures-position": _futures_maker,
    "margin-transfer": _transfer_maker,
}
"""Account kind -> generator, for the bundled products."""


DEFAULT_KINDS = ("crypto-loan", "spot-margin")
"""The kinds a population mixes when none are named: the first two generators only, so that a seed, count
and instant give the same bytes as before the futures and transfer generators came (name those with `kinds`)."""


def generator_kinds(engine: Engine) -> list[str]:
    """The account kinds this engine can make a population of: a generator here and a product loaded."""
    return sorted(kind for kind in GENERATORS if kind in engine.products)


def population_kinds(engine: Engine) -> list[str]:
    """The kinds a population mixes when none are named: `DEFAULT_KINDS` that are loaded (every loaded kind
    with a generator when none of them is)."""
    offered = generator_kinds(engine)
    return [kind for kind in offered if kind in DEFAULT_KINDS] or offered


def default_instant(engine: Engine, kinds: Sequence[str]) -> datetime:
    """The start of the newest loaded version of the kinds' policies: an instant every kind has a policy at."""
    starts = [
        ref.effective_from
        for ref in engine.policies
        if ref.kind in {engine.products[kind].policy_kind for kind in kinds}
    ]
    if not starts:
        raise AccountError([Problem(file="policies", message=f"no policy is loaded for {', '.join(kinds)}")])
    return max(starts)


def generate(
    engine: Engine,
    count: int,
    *,
    seed: int,
    kinds: Sequence[str] | None = None,
    as_of: datetime | str | None = None,
) -> Iterator[dict[str, Any]]:
    """`count` synthetic accounts, the kinds taking turns (`population_kinds` when None).

    `as_of` is the instant the population is made for: the policy version in
    force then gives the thresholds, and failed top-up attempts are placed
    before it (decide the population at this instant or later).  By default,
    `default_instant`.  The arguments are checked at once (an `AccountError`
    for an unknown kind); the accounts are made as they are iterated.
    """
    offered = generator_kinds(engine)
    chosen = list(kinds) if kinds else population_kinds(engine)
    for kind in chosen:
        if kind not in offered:
            raise AccountError(
                [
                    Problem(
                        file="--kind",
                        message=f"no population generator for `{kind}`; expected one of {', '.join(offered)}",
                        suggestion=did_you_mean(kind, offered),
                    )
                ]
            )
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    moment = resolve_instant(as_of) if as_of is not None else default_instant(engine, chosen)
    makers = [(kind, GENERATORS[kind](engine.policy_for(kind, moment))) for kind in chosen]
    return _accounts(makers, count, seed, moment)


def _accounts(makers: Sequence[tuple[str, Maker]], count: int, seed: int, moment: datetime) -> Iterator[dict[str, Any]]:
    rng = Random(seed)  # noqa: S311 - synthetic data, repeatable by design
    for index in range(count):
        kind, make = makers[index % len(makers)]
        yield make(rng, f"{kind}-{seed}-{index + 1:07d}", moment)


def population_lines(
    engine: Engine,
    count: int,
    *,
    seed: int,
    kinds: Sequence[str] | None = None,
    as_of: datetime | str | None = None,
) -> Iterator[str]:
    """The population as JSON Lines: each account's canonical JSON (sorted keys, decimals as strings)."""
    return map(canonical_json, generate(engine, count, seed=seed, kinds=kinds, as_of=as_of))


__all__ = [
    "DEFAULT_KINDS",
    "GENERATORS",
    "LOAN_ZONES",
    "MARGIN_ZONES",
    "REFERENCE_PRICES",
    "default_instant",
    "generate",
    "generator_kinds",
    "population_kinds",
    "population_lines",
]
