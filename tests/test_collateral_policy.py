"""Collateral policies at load: the schema, the lint, and the lint across the margin and loan policies that read them.

Every problem is located at the YAML line at fault; all of them are reported
at once, and nothing loads while any remains.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import policy_engine
from policy_engine import PolicyError

from .conftest import POLICIES

COLLATERAL = (POLICIES / "collateral.yaml").read_text()
MARGIN = (POLICIES / "margin-trading.yaml").read_text()
LOANS = (POLICIES / "crypto-loans.yaml").read_text()


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def edited(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """Problems of loading `files` (name -> text) from one folder, as the user reads them; [] when it loads."""
    folder = tmp_path / "policies"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    try:
        policy_engine.load(folder)
    except PolicyError as error:
        return [str(problem).replace(str(folder), "policies") for problem in error.problems]
    return []


def test_the_bundled_set_loads_and_margin_and_loans_read_collateral() -> None:
    engine = policy_engine.load(POLICIES)
    assert {"collateral", "crypto-loan", "margin-trading"} <= {ref.kind for ref in engine.policies}
    reads = {product.policy_kind: product.reads for product in engine.products.values()}
    assert (reads["collateral"], reads["crypto-loan"], reads["margin-trading"]) == (
        (),
        ("collateral",),
        ("collateral",),
    )


# --- haircut bands --------------------------------------------------------------------------------------------


BTC_BANDS = """\
      - from: 0
        to: 100000000
        ratio: 1
      - from: 100000000
        to: 120000000
        ratio: 0.975
"""


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        (
            BTC_BANDS,
            BTC_BANDS.replace("      - from: 100000000\n", "      - from: 100000001\n"),
            "from: 100000001",
            "$.assets.BTC.haircut[1].from: expected 100000000 (where the previous band ends), got 100000001:"
            " a gap between bands",
        ),
        (
            BTC_BANDS,
            BTC_BANDS.replace("      - from: 100000000\n", "      - from: 99999999\n"),
            "from: 99999999",
            "$.assets.BTC.haircut[1].from: expected 100000000 (where the previous band ends), got 99999999:"
            " an overlap between bands",
        ),
        (
            BTC_BANDS,
            BTC_BANDS.replace("ratio: 0.975", "ratio: 1.01"),
            "ratio: 1.01",
            "$.assets.BTC.haircut[1].ratio: expected a number <= 1, got number 1.01",
        ),
        (
            BTC_BANDS,
            BTC_BANDS.replace("ratio: 1\n", "ratio: 0.9\n"),
            "ratio: 0.975",
            "$.assets.BTC.haircut[1].ratio: expected non-increasing rates: 0.975 after 0.9 in the band before",
        ),
        (
            BTC_BANDS,
            BTC_BANDS.replace("      - from: 0\n", "      - from: 5\n", 1),
            "from: 5",
            "$.assets.BTC.haircut[0].from: expected the first band to start at 0, got 5",
        ),
    ],
    ids=["gap", "overlap", "ratio-above-1", "ratio-increasing", "not-from-0"],
)
def test_haircut_band_lint(tmp_path: Path, old: str, new: str, needle: str, message: str) -> None:
    """Haircut bands are ordered, contiguous, from 0, with ratios in [0, 1] that do not increase."""
    text = edited(COLLATERAL, old, new)
    found = problems(tmp_path, {"collateral.yaml": text})
    line = line_of(text, needle)
    assert [p for p in found if f"collateral.yaml:{line}:" in p] != []
    assert any(p.endswith(message) and f"collateral.yaml:{line}:" in p for p in found), found


def test_a_closed_last_haircut_band_is_refused(tmp_path: Path) -> None:
    """Every value must fall in a band: the last one is open."""
    text = edited(
        COLLATERAL,
        "  USDT:\n    rank: 1\n    precision: 8\n    haircut:\n      - from: 0\n",
        "  USDT:\n    rank: 1\n    precision: 8\n    haircut:\n      - from: 0\n        to: 999\n",
    )
    line = line_of(text, "to: 999")
    assert problems(tmp_path, {"collateral.yaml": text}) == [
        f"policies/collateral.yaml:{line}:13: $.assets.USDT.haircut[0].to: expected the last band to be open"
        " (no `to`) so that every value falls in a band, got to: 999"
    ]


def test_upper_limits_belong_to_the_limited_ranks_only(tmp_path: Path) -> None:
    """A rank 7-10 asset without an upper limit, and a rank 1 asset with one: both located, at once."""
    text = edited(COLLATERAL, "    upper_limit: 3000000\n", "")
    eth = "  ETH:\n    # illustrative tiers in the shape of the published ones\n    rank: 2\n"
    text = edited(text, eth, eth + "    upper_limit: 5\n")
    assert problems(tmp_path, {"collateral.yaml": text}) == [
        f"policies/collateral.yaml:{line_of(text, 'upper_limit: 5')}:18: $.assets.ETH.upper_limit: unexpected"
        " `upper_limit`: ETH is rank 2, and the max-collateral rule limits only ranks 7, 8, 9, 10",
        f"policies/collateral.yaml:{line_of(text, '  ASSET3:') + 1}:5: $.assets.ASSET3: missing `upper_limit`:"
        " ASSET3 is rank 10, one the max-collateral rule limits (7, 8, 9, 10)",
    ]


# --- the max-collateral rule ----------------------------------------------------------------------------------


def test_rule_band_lint_reports_every_problem(tmp_path: Path) -> None:
    """Missing `includes_from`, an `up_to` at its band's start, a gap, an account type in both lists, a bad
    placeholder: all located, in one load."""
    text = edited(COLLATERAL, "    - from: 0.8\n      includes_from: true\n", "    - from: 0.8\n")
    text = edited(text, "      max_transfer_in:\n        up_to: 1\n", "      max_transfer_in:\n        up_to: 0.9\n")
    text = edited(text, "    - from: 1\n", "    - from: 1.1\n")
    text = edited(text, "    excluded: [isolated]", "    excluded: [isolated, cross_pro]")
    text = edited(text, "is capped at $max_quantity.", "is capped at $max_quantiy.")
    assert problems(tmp_path, {"collateral.yaml": text}) == [
        f"policies/collateral.yaml:{line_of(text, 'excluded: [isolated')}:26:"
        " $.max_collateral.account_types.excluded[1]: `cross_pro` is also listed in `counted`;"
        " an account type is one or the other",
        f"policies/collateral.yaml:{line_of(text, '- from: 0.8')}:7: $.max_collateral.bands[1]: missing"
        " `includes_from`: say which band a ratio of exactly 0.8 belongs to (true: this one, false: the band before)",
        f"policies/collateral.yaml:{line_of(text, 'up_to: 0.9')}:16: $.max_collateral.bands[2].max_transfer_in.up_to:"
        " expected `up_to` above the band's `from` (0.9), got 0.9: every ratio in the band is at or above it, so"
        " nothing could be transferred in; write `blocked`",
        f"policies/collateral.yaml:{line_of(text, '- from: 1.1')}:13: $.max_collateral.bands[3].from: expected 1"
        " (where the previous band ends), got 1.1: a gap between bands",
        f"policies/collateral.yaml:{line_of(text, 'capped:')}:13: $.max_collateral.messages.capped: unknown"
        " placeholder `$max_quantiy`; expected one of $asset, $band, $max_quantity, $quantity, $symbol;"
        " did you mean `max_quantity`?",
    ]


def test_the_first_rule_band_cannot_exclude_its_edge(tmp_path: Path) -> None:
    first = "    - from: 0\n      to: 0.8\n"
    text = edited(COLLATERAL, first, first.replace("to: 0.8", "includes_from: false\n      to: 0.8"))
    assert problems(tmp_path, {"collateral.yaml": text}) == [
        f"policies/collateral.yaml:{line_of(text, 'includes_from: false')}:22:"
        " $.max_collateral.bands[0].includes_from: expected the first band to include its `from`"
        " (there is no band before it), got false"
    ]


def test_max_transfer_in_must_say_something(tmp_path: Path) -> None:
    """An empty maximum, or a word the schema does not know, is refused by the schema."""
    text = edited(COLLATERAL, "      max_transfer_in: blocked", "      max_transfer_in: closed")
    (found,) = problems(tmp_path, {"collateral.yaml": text})
    assert found.startswith(f"policies/collateral.yaml:{line_of(text, 'max_transfer_in: closed')}:24:")
    assert "$.max_collateral.bands[3].max_transfer_in" in found


# --- across policies: what margin and loans name, collateral must cover -----------------------------------------


def test_a_margin_asset_without_collateral_terms_is_located_in_the_margin_policy(tmp_path: Path) -> None:
    """DOGE in the margin policy, absent from the collateral policy: located at DOGE in margin-trading.yaml."""
    margin = MARGIN + "  DOGE:\n    precision: 8\n    liquidity: liquid\n"
    found = problems(tmp_path, {"collateral.yaml": COLLATERAL, "margin-trading.yaml": margin})
    assert found == [
        f"policies/margin-trading.yaml:{line_of(margin, '  DOGE:')}:3: $.assets.DOGE: `DOGE` has no entry in the"
        " `assets` of collateral policy `margin-collateral` version 1 (policies/collateral.yaml), which is in force"
        " while this version is, and that policy has no `unlisted` entry; list the asset there, or say what an"
        " unlisted asset gets"
    ]


def test_a_loan_asset_without_collateral_terms_is_located_in_the_loan_policy(tmp_path: Path) -> None:
    loans = LOANS + "  USDE:\n    precision: 8\n"
    found = problems(tmp_path, {"collateral.yaml": COLLATERAL, "crypto-loans.yaml": loans})
    assert found == [
        f"policies/crypto-loans.yaml:{line_of(loans, '  USDE:')}:3: $.assets.USDE: `USDE` has no entry in the"
        " `assets` of collateral policy `margin-collateral` version 1 (policies/collateral.yaml), which is in force"
        " while this version is, and that policy has no `unlisted` entry; list the asset there, or say what an"
        " unlisted asset gets; did you mean `USDT`?"
    ]


def test_an_unlisted_entry_covers_every_asset(tmp_path: Path) -> None:
    """With `unlisted`, the collateral policy says what any asset gets: DOGE loads and counts at its bands."""
    unlisted = "\nunlisted:\n  haircut:\n    - {from: 0, ratio: 0.5}\n"
    collateral = edited(COLLATERAL, "\nmax_collateral:\n", unlisted + "\nmax_collateral:\n")
    margin = MARGIN + "  DOGE:\n    precision: 8\n    liquidity: liquid\n"
    assert problems(tmp_path, {"collateral.yaml": collateral, "margin-trading.yaml": margin}) == []
    engine = policy_engine.load(tmp_path / "policies")
    account = {
        "kind": "spot-margin",
        "account_id": "d",
        "mode": "cross_classic",
        "leverage": 3,
        "assets": [{"asset": "DOGE", "quantity": "1000", "price": "2"}],
        "liabilities": [{"asset": "USDT", "principal": "500", "interest": "0", "price": "1"}],
    }
    decision = engine.evaluate(account, "2026-03-01")
    assert (decision.outcome["collateral_value"], decision.outcome["collateral_margin_level"]) == (1000, 2)
    (step,) = [step for step in decision.to_dict()["trace"] if step["step"] == "collateral_value:DOGE"]
    assert step["inputs"] == {"value": "2000"}
    line = line_of(collateral, "{from: 0, ratio: 0.5}")
    assert step["detail"]["bands"][0]["source"] == f"policies/collateral.yaml:{line}"


def test_a_later_collateral_version_is_checked_too(tmp_path: Path) -> None:
    """A second collateral version dropping ETH, in force while the loan policy is: the loan policy's ETH is located."""
    v2 = edited(COLLATERAL, "version: 1\neffective_from: 2025-03-27", "version: 2\neffective_from: 2027-01-01")
    eth = v2.index("  ETH:\n")
    v2 = v2[:eth] + v2[v2.index("  BNB:\n") :]
    found = problems(tmp_path, {"collateral.yaml": COLLATERAL, "collateral-v2.yaml": v2, "crypto-loans.yaml": LOANS})
    assert found == [
        f"policies/crypto-loans.yaml:{line_of(LOANS, '  ETH:', 3)}:3: $.assets.ETH: `ETH` has no entry in the"
        " `assets` of collateral policy `margin-collateral` version 2 (policies/collateral-v2.yaml), which is in"
        " force while this version is, and that policy has no `unlisted` entry; list the asset there, or say what"
        " an unlisted asset gets"
    ]


# --- margin rules that compare the collateral margin level need a collateral policy -----------------------------

COMPARING = edited(
    MARGIN, "    when: margin_level <= liquidation_level", "    when: collateral_margin_level <= liquidation_level"
)


def test_rules_reading_collateral_figures_need_a_collateral_policy(tmp_path: Path) -> None:
    """Loaded without one, the rule is located and the fix suggested."""
    assert problems(tmp_path, {"margin-trading.yaml": COMPARING}) == [
        f"policies/margin-trading.yaml:{line_of(COMPARING, 'collateral_margin_level <=')}:11: $.rules[0].when:"
        " reads `collateral_margin_level`, and no `collateral` policy is in force when this version takes effect"
        " (2026-01-01T00:00:00Z); none is loaded; load a `collateral` policy in force from then"
    ]


def test_rules_reading_collateral_figures_need_it_in_force_from_the_start(tmp_path: Path) -> None:
    late = edited(COLLATERAL, "effective_from: 2025-03-27", "effective_from: 2026-06-01")
    found = problems(tmp_path, {"margin-trading.yaml": COMPARING, "collateral.yaml": late})
    assert len(found) == 1
    assert found[0].endswith(
        "no `collateral` policy is in force when this version takes effect (2026-01-01T00:00:00Z);"
        " the first takes effect at 2026-06-01T00:00:00Z; load a `collateral` policy in force from then"
    )


def test_rules_reading_collateral_figures_load_with_one(tmp_path: Path) -> None:
    assert problems(tmp_path, {"margin-trading.yaml": COMPARING, "collateral.yaml": COLLATERAL}) == []


def test_a_margin_policy_that_does_not_read_them_loads_alone(tmp_path: Path) -> None:
    assert problems(tmp_path, {"margin-trading.yaml": MARGIN}) == []


def test_a_broken_collateral_policy_is_reported_once(tmp_path: Path) -> None:
    """Its own problem only: the lint across policies is skipped, not run against a half set."""
    text = edited(COLLATERAL, BTC_BANDS, BTC_BANDS.replace("ratio: 0.975", "ratio: 0.99\n        bad: 1"))
    found = problems(tmp_path, {"collateral.yaml": text, "margin-trading.yaml": MARGIN, "crypto-loans.yaml": LOANS})
    assert len(found) == 1
    assert "$.assets.BTC.haircut[1]" in found[0]
