"""Differential test: transfer-in decisions against an independent reference written from domain.md section 2.

`tests/reference/collateral.py` computes the platform max-collateral rule
straight from the domain reference (ratio, band, maximum transfer-in,
allowed quantity, status and message); a seeded generator places thousands of
requests on and around every band edge, with quantities at, just over and
just under the maximum, manual and automatic, for every account type and for
limited and unlimited assets.  The variant moves the edges into the band
below and lets the 80-90% band also stop at the limit, so that the policy's
choices are exercised too.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest

from policy_engine import Engine

from .conftest import AS_OF, POLICIES, example
from .reference.collateral import engine_figures, haircut_figures, transfer_outcome
from .reference.compare import compare_all, differences
from .reference.policy_data import load_variants, policy_data
from .reference.transfer_accounts import haircut_accounts, transfer_accounts

D = Decimal
BUNDLED = (POLICIES / "collateral.yaml").read_text()
VALUE_ONLY = "      max_transfer_in:\n        value: 50000\n"
VARIANTS = {
    "bundled": BUNDLED,
    "edges-below-and-capped-at-limit": BUNDLED.replace("includes_from: true", "includes_from: false").replace(
        VALUE_ONLY, VALUE_ONLY.replace("value", "up_to: 1\n        value")
    ),
}
ACCOUNTS = 2000


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Engine, dict[str, Any]]]:
    """Each variant's engine, loaded from its own folder, and its policy as plain data."""
    return load_variants(tmp_path_factory.mktemp("variants"), "collateral.yaml", VARIANTS)


def test_the_variant_changes_what_it_says() -> None:
    """The variant differs from the bundled policy in the bands' edges and the 80-90% band's cap, nowhere else."""
    bundled, variant = policy_data(BUNDLED, "b"), policy_data(VARIANTS["edges-below-and-capped-at-limit"], "v")
    bands = variant["max_collateral"]["bands"]
    assert [band.get("includes_from") for band in bands] == [None, False, False, False]
    assert bands[1]["max_transfer_in"] == {"up_to": D(1), "value": 50000}
    rule = {**variant["max_collateral"], "bands": bundled["max_collateral"]["bands"]}
    assert {**variant, "max_collateral": rule} == bundled


@pytest.mark.parametrize(
    ("name", "status", "band", "max_quantity", "allowed_quantity"),
    [
        ("margin-transfer-1-below-80.json", "allowed", 1, D(300000), D(300000)),
        ("margin-transfer-2-above-80.json", "allowed", 2, D(50000), D(50000)),
        ("margin-transfer-3-near-limit.json", "refused", 3, D(10000), D(0)),
    ],
    ids=["seed-1", "seed-2", "seed-3"],
)
def test_the_reference_reproduces_the_seed_examples(
    name: str, status: str, band: int, max_quantity: Decimal, allowed_quantity: Decimal
) -> None:
    """The seed's three examples (domain.md section 2, with the erratum on example 3's band), by the reference."""
    outcome = transfer_outcome(policy_data(BUNDLED, "b"), example(name))
    assert (outcome["status"], outcome["band"], outcome["max_quantity"], outcome["allowed_quantity"]) == (
        status,
        band,
        max_quantity,
        allowed_quantity,
    )
    if status == "refused":
        assert outcome["message"] == (
            "Asset 3 has reached platform max pledged collateral amount. The max transfer-in quantity is 10,000."
            " Please reduce the quantity or try with other tokens"
        )


def _coverage(account: dict[str, Any], outcome: Mapping[str, Any], policy: dict[str, Any]) -> set[str]:
    """The cases an account exercises (`outcome`: the engine's figures), for the check that the generator reaches
    them all."""
    cases = {f"status:{outcome['status']}", f"auto:{account.get('auto', False)}"}
    if not outcome["applies"]:
        return cases | {"does-not-apply"}
    cases.add(f"band:{outcome['band']}")
    if outcome["ratio"] in {band["from"] for band in policy["max_collateral"]["bands"]}:
        cases.add("ratio-on-an-edge")
    if outcome["quantity"] == outcome["max_quantity"]:
        cases.add("quantity-exactly-the-maximum")
    if outcome["max_quantity"] == 0:
        cases.add("maximum-0")
    return cases


EXPECTED_CASES = {
    "status:allowed",
    "status:capped",
    "status:refused",
    "auto:True",
    "auto:False",
    "does-not-apply",
    "band:1",
    "band:2",
    "band:3",
    "band:4",
    "ratio-on-an-edge",
    "quantity-exactly-the-maximum",
    "maximum-0",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_figure_agrees_with_the_reference(
    engines: dict[str, tuple[Engine, dict[str, Any]]], variant: str
) -> None:
    """2,000 generated requests: applicability, ratio, band, maximum, allowed quantity, status and message agree."""
    engine, policy = engines[variant]
    disagreements, seen = compare_all(
        transfer_accounts(policy, ACCOUNTS, seed=15),
        lambda account: engine_figures(engine.evaluate(account, as_of=AS_OF).outcome),
        lambda account: transfer_outcome(policy, account),
        lambda account, outcome: _coverage(account, outcome, policy),
    )
    assert disagreements[:3] == []
    assert EXPECTED_CASES - seen == set()


def test_the_comparison_sees_a_wrong_figure(engine: Engine) -> None:
    """The projection compares what it names: a maximum off by one unit is a difference."""
    account = example("margin-transfer-3-near-limit.json")
    figures = engine_figures(engine.evaluate(account, as_of=AS_OF).outcome)
    reference = transfer_outcome(policy_data(BUNDLED, "b"), account)
    assert differences(figures, reference) == []
    assert differences(figures, {**reference, "max_quantity": D("10000.00000001")}) == [
        "$.max_quantity: engine Decimal('10000.00000000'), reference Decimal('10000.00000001')"
    ]


HAIRCUT_FIGURES = ("collateral_value", "collateral_margin_level", "collateral_margin_level_compared")


def _bands_reached(account: dict[str, Any], collateral: dict[str, Any]) -> set[str]:
    """Each holding's asset and the haircut band its value ends in (`on-edge` when exactly on a band's start)."""
    cases = set()
    for line in account["assets"]:
        value = D(line["quantity"]) * D(line["price"])
        bands = collateral["assets"][line["asset"]]["haircut"]
        index = max(number for number, band in enumerate(bands) if value >= band["from"])
        cases.add(f"{line['asset']}:{index}")
        if value == bands[index]["from"] and index > 0:
            cases.add("on-edge")
    return cases


def test_haircut_figures_agree_with_the_reference(engine: Engine) -> None:
    """1,000 margin accounts with holdings on and around every haircut band edge of every asset: the collateral
    value and collateral margin level (raw and compared) agree."""
    collateral = policy_data(BUNDLED, "c")
    margin = policy_data((POLICIES / "margin-trading.yaml").read_text(), "m")
    disagreements, seen = compare_all(
        haircut_accounts(collateral, margin, 1000, seed=15),
        lambda account: {key: engine.evaluate(account, as_of=AS_OF).outcome[key] for key in HAIRCUT_FIGURES},
        lambda account: haircut_figures(collateral, margin, account),
        lambda account, _outcome: _bands_reached(account, collateral),
    )
    assert disagreements[:3] == []
    every_band = {
        f"{asset}:{index}" for asset in margin["assets"] for index in range(len(collateral["assets"][asset]["haircut"]))
    }
    assert (every_band | {"on-edge"}) - seen == set()
