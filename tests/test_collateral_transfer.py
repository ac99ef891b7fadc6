"""The platform max-collateral rule on `margin-transfer` requests (domain.md section 2, seed 002).

The bundled policy's bands: ratio = platform total / upper limit; below 80%
up to 80% of the limit; from 80% to 90% 50,000 USDT-equivalent; from 90% to
100% the smaller of the limit and 50,000 USDT-equivalent; from 100% blocked.
Each edge belongs to the band above it (the policy's `includes_from: true`).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, Engine

from .conftest import AS_OF, POLICIES, example

D = Decimal
SEED_MESSAGE = (
    "Asset 3 has reached platform max pledged collateral amount. The max transfer-in quantity is 10,000."
    " Please reduce the quantity or try with other tokens"
)


def transfer(
    asset: str,
    quantity: str,
    platform_total: str,
    *,
    price: str = "1",
    account_type: str = "cross_classic",
    auto: bool | None = None,
) -> dict[str, Any]:
    account: dict[str, Any] = {
        "kind": "margin-transfer",
        "account_id": "t",
        "account_type": account_type,
        "asset": asset,
        "quantity": quantity,
        "price": price,
        "platform_total": platform_total,
    }
    if auto is not None:
        account["auto"] = auto
    return account


def decide(engine: Engine, account: dict[str, Any]) -> dict[str, Any]:
    outcome: dict[str, Any] = dict(engine.evaluate(account, AS_OF).outcome)
    return outcome


def verdict(outcome: dict[str, Any]) -> tuple[Any, ...]:
    band = outcome["band"]
    return (
        outcome["status"],
        outcome["applies"],
        None if band is None else band["number"],
        outcome["max_quantity"],
        outcome["allowed_quantity"],
        outcome["allowed"],
    )


# --- the seed's three examples --------------------------------------------------------------------


def test_seed_example_1_below_80_percent(engine: Engine) -> None:
    """Limit 1,000,000, total 500,000: User 2 may transfer in up to 300,000 (1,000,000 x 80% - 500,000)."""
    outcome = decide(engine, example("margin-transfer-1-below-80.json"))
    assert verdict(outcome) == ("allowed", True, 1, D(300000), D(300000), True)
    assert (outcome["ratio"], outcome["band"]["range"], outcome["message"]) == (D("0.5"), "ratio < 80%", None)
    assert decide(engine, transfer("ASSET1", "300000.00000001", "500000"))["status"] == "refused"


def test_seed_example_1_then_80_percent(engine: Engine) -> None:
    """After User 2's 300,000 the ratio is 80%: User 3 may transfer only 50,000 USDT-equivalent."""
    outcome = decide(engine, transfer("ASSET1", "50000", "800000"))
    assert verdict(outcome) == ("allowed", True, 2, D(50000), D(50000), True)
    assert outcome["band"]["range"] == "80% <= ratio < 90%"


def test_seed_example_2_above_80_percent(engine: Engine) -> None:
    """Limit 2,000,000, total 1,700,000 (85%): User 2 may transfer only 50,000 of Asset 2's value."""
    outcome = decide(engine, example("margin-transfer-2-above-80.json"))
    assert verdict(outcome) == ("allowed", True, 2, D(50000), D(50000), True)
    assert outcome["ratio"] == D("0.85")


def test_seed_example_3_is_refused_with_the_seed_message(engine: Engine) -> None:
    """Limit 3,000,000, total 2,990,000, request 50,000: refused, max 10,000, the seed's message word for word.

    Erratum (domain.md): the seed heads it "> 100%" but the ratio is 99.67%, the 90-100% band.
    """
    outcome = decide(engine, example("margin-transfer-3-near-limit.json"))
    assert verdict(outcome) == ("refused", True, 3, D(10000), D(0), False)
    assert outcome["band"]["range"] == "90% <= ratio < 100%"
    assert outcome["message"] == SEED_MESSAGE
    assert (outcome["rank"], outcome["upper_limit"], outcome["platform_total"]) == (10, D(3000000), D(2990000))


def test_a_request_of_exactly_the_maximum_is_allowed(engine: Engine) -> None:
    """10,000 at a maximum of 10,000 fits."""
    assert verdict(decide(engine, transfer("ASSET3", "10000", "2990000"))) == (
        "allowed",
        True,
        3,
        D(10000),
        D(10000),
        True,
    )


# --- each band edge, from both sides -----------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "band", "maximum"),
    [
        ("799900", 1, D("100")),  # 79.99%: up to 80% of the limit
        ("800000", 2, D("50000")),  # 80%: the edge belongs to the band above
        ("899900", 2, D("50000")),  # 89.99%
        ("900000", 3, D("50000")),  # 90%: min(100,000 to the limit, 50,000)
        ("999900", 3, D("100")),  # 99.99%: min(100 to the limit, 50,000)
        ("1000000", 4, D("0")),  # 100%: blocked
        ("1000001", 4, D("0")),  # over 100%
        ("0", 1, D("800000")),  # nothing pledged yet
    ],
    ids=["79.99%", "80%", "89.99%", "90%", "99.99%", "100%", "over-100%", "0%"],
)
def test_band_edges(engine: Engine, total: str, band: int, maximum: Decimal) -> None:
    """ASSET1 (limit 1,000,000) at price 1: the band and the maximum on and beside each edge."""
    outcome = decide(engine, transfer("ASSET1", "1", total))
    assert (outcome["band"]["number"], outcome["max_quantity"]) == (band, maximum)
    assert outcome["ratio"] == D(total) / D(1000000)


def test_band_2_ignores_the_limit_as_the_seed_says(engine: Engine) -> None:
    """80-90% allows 50,000 USDT-equivalent even where that is more than the room left to 90%."""
    outcome = decide(engine, transfer("ASSET1", "50000", "899999"))
    assert (outcome["band"]["number"], outcome["max_quantity"], outcome["status"]) == (2, D(50000), "allowed")


@pytest.mark.parametrize(
    ("price", "maximum"),
    [
        ("2.5", D("20000")),  # 50,000 / 2.5
        ("0.3", D("166666.66666666")),  # 50,000 / 0.3, rounded down to 8 places
        ("50000", D("1")),
        ("0.00000001", D("5000000000000")),
        ("3", D("16666.66666666")),
    ],
)
def test_the_usdt_equivalent_is_converted_at_the_price(engine: Engine, price: str, maximum: Decimal) -> None:
    """In the 80-90% band the maximum is 50,000 / price, rounded down to the asset's precision."""
    outcome = decide(engine, transfer("ASSET2", "1", "1700000", price=price))
    assert (outcome["band"]["number"], outcome["max_quantity"]) == (2, maximum)


def test_near_the_limit_the_smaller_term_wins_at_any_price(engine: Engine) -> None:
    """90-100%: min(limit - total, 50,000 / price): the limit at a low price, the value at a high one."""
    cheap = decide(engine, transfer("ASSET2", "1", "1900000", price="0.1"))  # 500,000 by value, 100,000 to the limit
    dear = decide(engine, transfer("ASSET2", "1", "1900000", price="4"))  # 12,500 by value
    assert (cheap["max_quantity"], dear["max_quantity"]) == (D(100000), D(12500))


# --- who and what the rule applies to ------------------------------------------------------------------------


def test_isolated_accounts_are_excluded(engine: Engine) -> None:
    """The seed's example 3 into an isolated account: the rule does not apply, the whole request is allowed."""
    outcome = decide(engine, transfer("ASSET3", "50000", "2990000", account_type="isolated"))
    assert verdict(outcome) == ("allowed", False, None, None, D(50000), True)
    assert (outcome["ratio"], outcome["message"]) == (None, None)
    assert outcome["reason"] == "the rule does not apply to `isolated` accounts"


@pytest.mark.parametrize("account_type", ["cross_classic", "cross_pro", "portfolio_margin"])
def test_counted_account_types_are_limited(engine: Engine, account_type: str) -> None:
    """Cross Classic, Cross Pro and Portfolio Margin all meet the rule."""
    outcome = decide(engine, transfer("ASSET3", "50000", "2990000", account_type=account_type))
    assert verdict(outcome) == ("refused", True, 3, D(10000), D(0), False)


@pytest.mark.parametrize(("asset", "rank"), [("BTC", 1), ("ETH", 2), ("BNB", 3), ("USDT", 1), ("USDC", 1)])
def test_ranks_1_to_6_are_not_limited(engine: Engine, asset: str, rank: int) -> None:
    """Stablecoins, BTC and ETH (seed FAQ 1): any quantity, whatever the platform total."""
    outcome = decide(engine, transfer(asset, "1000000000", "999999999999"))
    assert verdict(outcome) == ("allowed", False, None, None, D(1000000000), True)
    assert outcome["reason"] == f"{asset} is rank {rank}; the rule limits ranks 7, 8, 9, 10"


# --- manual and automatic transfers ---------------------------------------------------------------------------


def test_an_automatic_transfer_is_capped_at_the_maximum(engine: Engine) -> None:
    """Auto top-up of 50,000 Asset 3 with 10,000 left: 10,000 moves, with a message saying so."""
    outcome = decide(engine, transfer("ASSET3", "50000", "2990000", auto=True))
    assert verdict(outcome) == ("capped", True, 3, D(10000), D(10000), False)
    assert outcome["message"] == (
        "Asset 3 is near the platform max pledged collateral amount: the automatic transfer is capped at 10,000."
    )


def test_an_automatic_transfer_capped_to_zero_says_use_another_asset(engine: Engine) -> None:
    """At the limit nothing moves, and the message says another asset must be used (seed FAQ 3 and 4)."""
    outcome = decide(engine, transfer("ASSET3", "50000", "3000000", auto=True))
    assert verdict(outcome) == ("refused", True, 4, D(0), D(0), False)
    assert outcome["message"] == (
        "Asset 3 has reached platform max pledged collateral amount: automatic transfers of it are blocked."
        " Please transfer another asset as collateral."
    )


def test_a_manual_transfer_at_the_limit_is_refused_with_the_maximum_stated(engine: Engine) -> None:
    """Manual, over 100%: refused, the seed's message with a maximum of 0."""
    outcome = decide(engine, transfer("ASSET3", "1", "3000001"))
    assert verdict(outcome) == ("refused", True, 4, D(0), D(0), False)
    assert "The max transfer-in quantity is 0." in outcome["message"]


def test_an_automatic_transfer_that_fits_is_allowed(engine: Engine) -> None:
    outcome = decide(engine, transfer("ASSET3", "0.00000001", "2990000", auto=True))
    assert verdict(outcome) == ("allowed", True, 3, D(10000), D("0.00000001"), True)


def test_a_name_less_asset_is_named_by_its_symbol(engine: Engine) -> None:
    """SUPER has no `name`: the message says SUPER."""
    outcome = decide(engine, transfer("SUPER", "1", "20000000"))
    assert outcome["message"].startswith("SUPER has reached platform max pledged collateral amount.")


# --- bad requests ---------------------------------------------------------------------------------------------


def test_unknown_asset_and_account_type_are_refused_together(engine: Engine) -> None:
    """A misspelled asset and account type: both named, with suggestions; nothing is decided."""
    with pytest.raises(AccountError) as raised:
        engine.evaluate(transfer("ASSET4", "1", "0", account_type="cross_clasic"), AS_OF)
    assert [str(problem) for problem in raised.value.problems] == [
        "account: $.account_type: unknown account type `cross_clasic`; expected one of cross_classic, cross_pro,"
        " isolated, portfolio_margin; did you mean `cross_classic`?",
        "account: $.asset: `ASSET4` is not listed in collateral policy `margin-collateral` version 1;"
        " did you mean `ASSET3`?",
    ]


def test_a_zero_quantity_is_refused_by_the_schema(engine: Engine) -> None:
    with pytest.raises(AccountError) as raised:
        engine.evaluate(transfer("ASSET3", "0", "0"), AS_OF)
    assert [problem.json_path for problem in raised.value.problems] == ["$.quantity"]


# --- a policy of another shape: an edge belonging to the band below, an unlimited band, unlisted assets ---------

OTHER = """\
kind: collateral
id: other-collateral
version: 1
effective_from: 2026-01-01
assets:
  TOKEN:
    rank: 5
    precision: 2
    upper_limit: 1000
    haircut:
      - {from: 0, ratio: 1}
unlisted:
  haircut:
    - {from: 0, to: 1000, ratio: 0.5}
    - {from: 1000, ratio: 0}
max_collateral:
  ranks: [5]
  account_types:
    counted: [cross]
    excluded: []
  quantity_rounding: ROUND_DOWN
  bands:
    - from: 0
      to: 0.5
      max_transfer_in: unlimited
    - from: 0.5
      includes_from: false
      to: 0.75
      max_transfer_in: {up_to: 0.75}
    - from: 0.75
      includes_from: false
      max_transfer_in: {value: 30}
  messages:
    refused: "$symbol: at most $max_quantity ($band)"
    capped: "$symbol capped at $max_quantity"
    blocked: "$symbol blocked"
"""


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder: Path = tmp_path_factory.mktemp("other")
    (folder / "collateral.yaml").write_text(OTHER)
    return policy_engine.load(folder)


@pytest.mark.parametrize(
    ("total", "band", "maximum"),
    [
        ("499.99", 1, None),  # unlimited
        ("500", 1, None),  # the 0.5 edge belongs to the band below: still unlimited
        ("500.01", 2, D("249.99")),  # up to 75%
        ("750", 2, D("0")),  # the 0.75 edge belongs to the band below: up to 75% leaves nothing
        ("750.01", 3, D("15.00")),  # 30 / price 2, at 2 places
        ("5000", 3, D("15.00")),
    ],
)
def test_edges_belong_where_the_policy_says(other: Engine, total: str, band: int, maximum: Decimal | None) -> None:
    """A user's table: `includes_from: false` puts each edge in the band below it; `unlimited` has no maximum."""
    outcome = decide(other, transfer("TOKEN", "1", total, price="2", account_type="cross"))
    assert (outcome["band"]["number"], outcome["max_quantity"]) == (band, maximum)


def test_band_ranges_say_which_side_each_edge_is_on(other: Engine) -> None:
    ranges = [
        decide(other, transfer("TOKEN", "1", total, price="2", account_type="cross"))["band"]["range"]
        for total in ("0", "600", "900")
    ]
    assert ranges == ["ratio <= 50%", "50% < ratio <= 75%", "ratio > 75%"]


def test_the_refusal_template_fills_in_symbol_maximum_and_band(other: Engine) -> None:
    outcome = decide(other, transfer("TOKEN", "200", "600", price="2", account_type="cross"))
    assert outcome["message"] == "TOKEN: at most 150 (50% < ratio <= 75%)"


def test_an_unlisted_asset_is_not_limited(other: Engine) -> None:
    """With an `unlisted` entry, any asset is accepted; the rule does not limit it."""
    outcome = decide(other, transfer("ANYTHING", "12345", "99999", account_type="cross"))
    assert verdict(outcome) == ("allowed", False, None, None, D(12345), True)
    assert outcome["reason"] == "ANYTHING is not listed; an unlisted asset is not limited"


def test_the_trace_cites_the_upper_limit_the_band_and_its_maximum(engine: Engine) -> None:
    """Each step of the rule cites its YAML line; the line holds what the step says it does."""
    lines = (POLICIES / "collateral.yaml").read_text().splitlines()
    trace = engine.evaluate(example("margin-transfer-3-near-limit.json"), AS_OF).to_dict()["trace"]
    assert [step["step"] for step in trace] == [
        "max_collateral.applies",
        "max_collateral.ratio",
        "max_collateral.band",
        "max_collateral.max_transfer_in",
        "transfer",
    ]
    cited = {step["step"]: lines[int(step["source"].rpartition(":")[2]) - 1].strip() for step in trace}
    assert cited == {
        "max_collateral.applies": "ranks: [7, 8, 9, 10]",
        "max_collateral.ratio": "upper_limit: 3000000",
        "max_collateral.band": "bands:",
        "max_collateral.max_transfer_in": "max_transfer_in:",
        "transfer": "messages:",
    }
    band = trace[2]["detail"]["band"]
    assert lines[int(band["source"].rpartition(":")[2]) - 1].strip() == "- from: 0.9"
    assert trace[3]["detail"] == {
        "rounding": "8 places, ROUND_DOWN",
        "up_to": "1",
        "upper_limit": "3000000",
        "platform_total": "2990000",
        "up_to_quantity": "10000",
        "value": "50000",
        "price": "1",
        "value_quantity": "50000",
    }
