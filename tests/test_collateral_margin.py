"""Haircut values in margin decisions: the collateral value, the collateral margin level, the band arithmetic.

domain.md section 2: each asset's value counts band by band, each band at
its own ratio, like tax brackets; the published BTC example counts
120,000,000 as 100,000,000 + 20,000,000 x 0.975 = 119,500,000.  The bundled
margin rules compare `margin_level` (the exchange: "the Collateral Value will
not impact your Margin Level"); a policy may compare `collateral_margin_level`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, Engine
from policy_engine.explain import explain
from policy_engine.products.margin import compile_margin

from .conftest import AS_OF, POLICIES, example, margin_account
from .test_collateral_properties import policy_document

D = Decimal
COLLATERAL_YAML = (POLICIES / "collateral.yaml").read_text()
MARGIN_YAML = (POLICIES / "margin-trading.yaml").read_text()


def yaml_line(source: str) -> str:
    """The text of the line a `policies/collateral.yaml:N` source cites."""
    file, _, number = source.rpartition(":")
    assert file == "policies/collateral.yaml"
    return COLLATERAL_YAML.splitlines()[int(number) - 1].strip()


def haircut_steps(trace: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {step["step"]: step for step in trace if step["step"].startswith("collateral_value:")}


def test_published_btc_example_counts_119_5_million(engine: Engine) -> None:
    """120,000,000 of BTC counts 100,000,000 at 100% + 20,000,000 at 97.5% = 119,500,000."""
    decision = engine.evaluate(example("collateral-margin-btc.json"), AS_OF)
    outcome = decision.outcome
    assert (outcome["total_asset_value"], outcome["collateral_value"]) == (D(120000000), D(119500000))
    assert (outcome["margin_level"], outcome["collateral_margin_level"]) == (D("1.2"), D("1.195"))
    assert outcome["collateral_margin_level_compared"] == D("1.19500000")
    assert outcome["status"] == "ok"  # the bundled rules compare the margin level (1.2), above the call level
    (step,) = haircut_steps(decision.to_dict()["trace"]).values()
    assert (step["step"], step["kind"], step["inputs"], step["value"]) == (
        "collateral_value:BTC",
        "bands",
        {"BTC_value": "120000000"},
        "119500000.000",
    )
    bands = [(b["from"], b["to"], b["rate"], b["amount"], b["counted"]) for b in step["detail"]["bands"]]
    assert bands == [
        ("0", "100000000", "1", "100000000", "100000000"),
        ("100000000", "120000000", "0.975", "20000000", "19500000.000"),
    ]
    # each band cites the YAML line where it starts; its ratio is two lines below
    lines = COLLATERAL_YAML.splitlines()
    for band in step["detail"]["bands"]:
        number = int(band["source"].rpartition(":")[2])
        assert lines[number - 1].strip() == f"- from: {band['from']}"
        assert lines[number + 1].strip() == f"ratio: {band['rate']}"
    assert yaml_line(step["source"]) == "haircut:"


def test_values_spanning_several_bands(engine: Engine) -> None:
    """160,000,000 of BTC: 100M + 20M x 0.975 + 30M x 0.95 + 10M x 0.90 = 156,000,000."""
    account = margin_account(assets=[("BTC", "1000", "160000")], debt="1000000")
    outcome = engine.evaluate(account, AS_OF).outcome
    assert outcome["collateral_value"] == D(100000000) + D(19500000) + D(28500000) + D(9000000)


def test_the_open_last_band_counts_everything_above(engine: Engine) -> None:
    """1,000,000,000 of BTC: the 85% band is open, so all 820,000,000 above 180M count at 85%."""
    account = margin_account(assets=[("BTC", "10000", "100000")], debt="1000000")
    expected = D(100000000) + D(19500000) + D(28500000) + D(27000000) + D(820000000) * D("0.85")
    assert engine.evaluate(account, AS_OF).outcome["collateral_value"] == expected


def test_example_b_super_counts_at_rank_8_bands(engine: Engine) -> None:
    """Example B's 440,000 of SUPER: 100,000 + 150,000 x 0.8 + 190,000 x 0.6 = 334,000; ML stays 1.1."""
    outcome = engine.evaluate(example("margin-b-takeover.json"), AS_OF).outcome
    assert (outcome["collateral_value"], outcome["collateral_margin_level"]) == (D(334000), D("0.835"))
    assert (outcome["margin_level_compared"], outcome["status"]) == (D("1.1"), "liquidation")


def test_several_assets_each_use_their_own_bands(engine: Engine) -> None:
    """BTC at its bands, SUPER at its own, USDT in full; the total is their sum, each step its own input."""
    account = margin_account(
        assets=[("BTC", "1", "50000"), ("SUPER", "600000", "1"), ("USDT", "1000", "1")], debt="100000"
    )
    decision = engine.evaluate(account, AS_OF)
    steps = haircut_steps(decision.to_dict()["trace"])
    assert {name: (step["inputs"], D(step["value"])) for name, step in steps.items()} == {
        "collateral_value:BTC": ({"BTC_value": "50000"}, D(50000)),
        "collateral_value:SUPER": ({"SUPER_value": "600000"}, D(100000) + D(120000) + D(150000) + D(30000)),
        "collateral_value:USDT": ({"USDT_value": "1000"}, D(1000)),
    }
    assert [band["amount"] for band in steps["collateral_value:SUPER"]["detail"]["bands"]] == [
        "100000",
        "150000",
        "250000",
        "100000",
    ]
    assert decision.outcome["collateral_value"] == D(50000) + D(400000) + D(1000)


@pytest.mark.parametrize(("quantity", "expected"), [("0", D(0)), ("0.00000001", D("0.0005"))])
def test_zero_and_tiny_values(engine: Engine, quantity: str, expected: Decimal) -> None:
    """Nothing counts nothing; a hundred-millionth of a BTC counts in full in the first band."""
    account = margin_account(assets=[("BTC", quantity, "50000")], debt="1")
    decision = engine.evaluate(account, AS_OF)
    assert decision.outcome["collateral_value"] == expected
    (step,) = haircut_steps(decision.to_dict()["trace"]).values()
    assert len(step["detail"]["bands"]) == (0 if expected == 0 else 1)


def test_no_debt_reports_the_collateral_value_without_a_level(engine: Engine) -> None:
    account = margin_account(assets=[("BTC", "1000", "120000")], debt="0")
    outcome = engine.evaluate(account, AS_OF).outcome
    assert (outcome["collateral_value"], outcome["collateral_margin_level"]) == (D(119500000), None)
    assert outcome["collateral_margin_level_compared"] is None


def test_isolated_margin_accounts_count_haircuts_too(engine: Engine) -> None:
    """Haircuts are per asset, whatever the mode; only the transfer-in rule excludes isolated accounts."""
    account = margin_account(assets=[("BTC", "1000", "120000")], debt="100000000", mode="isolated", leverage=3)
    assert engine.evaluate(account, AS_OF).outcome["collateral_value"] == D(119500000)


def test_the_explanation_shows_the_band_arithmetic(engine: Engine) -> None:
    """Text: each band with its part and what it counts, its YAML line, then the collateral section."""
    decision = engine.evaluate(example("collateral-margin-btc.json"), AS_OF)
    text = explain(decision.to_dict(), engine.products["spot-margin"])
    btc = COLLATERAL_YAML.splitlines().index("  BTC:") + 1  # the line of `BTC:`; `haircut:` is 4 below
    assert (
        f"  collateral_value:BTC = 119500000.000, counted band by band from BTC_value 120000000"
        f"  [policies/collateral.yaml:{btc + 4}]\n"
        f"      band 1: from 0 to 100000000, rate 1: 100000000 counts 100000000"
        f"  [policies/collateral.yaml:{btc + 5} $.assets.BTC.haircut[0]]\n"
        f"      band 2: from 100000000 to 120000000, rate 0.975: 20000000 counts 19500000.000"
        f"  [policies/collateral.yaml:{btc + 8} $.assets.BTC.haircut[1]]\n"
        "  collateral_value = 119500000.000\n"
        "  collateral_margin_level = 1.195  (collateral_value / total_liability_value)"
        "  [policies/margin-trading.yaml:15]\n"
        "      compared as 1.19500000 (8 places, ROUND_HALF_EVEN)\n"
    ) in text
    assert text.endswith(
        "\nCollateral after haircuts:\n"
        "  BTC: 120000000 counts 119500000.000\n"
        "  collateral value 119500000.000 of total asset value 120000000; collateral margin level 1.19500000\n"
    )
    assert "Also read: collateral margin-collateral version 1 (policies/collateral.yaml, sha256 " in text


# --- a policy that compares the collateral margin level ---------------------------------------------------------

HAIRCUT_COST = "  - name: haircut_cost\n    expression: total_asset_value - collateral_value\n"
COMPARING = MARGIN_YAML.replace(
    "    when: margin_level <= margin_call_level", "    when: collateral_margin_level <= margin_call_level"
).replace("  - name: net_equity_value\n", HAIRCUT_COST + "  - name: net_equity_value\n")


@pytest.fixture(scope="module")
def comparing(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder: Path = tmp_path_factory.mktemp("comparing")
    (folder / "margin-trading.yaml").write_text(COMPARING)
    (folder / "collateral.yaml").write_text(COLLATERAL_YAML)
    return policy_engine.load(folder)


def test_a_policy_may_compare_the_collateral_margin_level(engine: Engine, comparing: Engine) -> None:
    """ML 1.75 is above the 1.16 call level, collateral ML 1.075 is not: only the comparing policy calls margin."""
    account = margin_account(assets=[("SUPER", "700000", "1")])  # counts 100,000 + 120,000 + 150,000 + 60,000
    bundled, compared = engine.evaluate(account, AS_OF), comparing.evaluate(account, AS_OF)
    assert (bundled.outcome["margin_level"], bundled.outcome["collateral_margin_level"]) == (D("1.75"), D("1.075"))
    assert (bundled.status, compared.status) == ("ok", "margin_call")
    (rule,) = [step for step in compared.to_dict()["trace"] if step["step"] == "rule:margin_call"]
    assert rule["comparison"]["left"] == {
        "name": "collateral_margin_level",
        "raw": "1.075",
        "compared": "1.07500000",
        "rounding": "8 places, ROUND_HALF_EVEN",
    }
    assert compared.outcome["derived"]["haircut_cost"] == D(270000)


def test_derived_figures_reading_the_collateral_margin_level_wait_for_debt(comparing: Engine) -> None:
    """With no debt, rules and figures reading a margin level are skipped; the collateral value is still there."""
    decision = comparing.evaluate(margin_account(assets=[("SUPER", "700000", "1")], debt="0"), AS_OF)
    assert (decision.status, decision.outcome["derived"]["haircut_cost"]) == ("ok", D(270000))


def test_without_a_collateral_policy_the_figures_are_null(tmp_path: Path) -> None:
    """Margin loaded alone: decisions as before, collateral figures null, no related policy."""
    (tmp_path / "margin-trading.yaml").write_text(MARGIN_YAML)
    decision = policy_engine.load(tmp_path).evaluate(example("margin-a-regular.json"), AS_OF)
    outcome = decision.outcome
    assert (outcome["collateral_value"], outcome["collateral_margin_level"], decision.related) == (None, None, ())
    assert not any(step.startswith("collateral") for step in decision.trace.names)


def test_before_the_collateral_policy_takes_effect_a_comparing_policy_refuses(tmp_path: Path) -> None:
    """An engine built from compiled policies without the lint at load: the decision says what is missing."""
    compiled, found = compile_margin(policy_document(COMPARING, kind="margin-trading", policy_id="spot-margin"))
    assert found == []
    assert compiled is not None
    raw = Engine([compiled])
    account = margin_account(assets=[("BTC", "10", "50000")])
    with pytest.raises(AccountError) as raised:
        raw.evaluate({**account}, "2026-03-01")
    assert [str(problem) for problem in raised.value.problems] == [
        "policies: $: rule `margin_call`, `haircut_cost` of `spot-margin` read collateral figures, and no"
        " `collateral` policy is in force at 2026-03-01T00:00:00Z"
    ]
