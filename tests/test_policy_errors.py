"""Bad policy edits: every problem reported at once, located, with exact text; nothing loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

import policy_engine
from policy_engine import PolicyError

from .conftest import POLICIES

BUNDLED = (POLICIES / "margin-trading.yaml").read_text()
FILE = "policies/margin-trading.yaml"


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def _load_edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, count: int = 1) -> list[str]:
    assert old in BUNDLED
    edited = BUNDLED.replace(old, new, count)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "margin-trading.yaml").write_text(edited)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    return [str(problem) for problem in raised.value.problems]


def test_bundled_policies_are_valid() -> None:
    """The shipped policy set loads without problems."""
    refs = policy_engine.load(POLICIES).policies
    assert [(ref.kind, ref.id, ref.version, ref.file) for ref in refs] == [
        ("collateral", "margin-collateral", 1, "policies/collateral.yaml"),
        ("crypto-loan", "crypto-loans", 1, "policies/crypto-loans.yaml"),
        ("futures-margin", "usds-m-futures", 1, "policies/futures.yaml"),
        ("margin-trading", "spot-margin", 1, FILE),
    ]


def test_misspelled_key_gets_a_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown key is located at the key itself, with a did-you-mean from the schema's keys."""
    problems = _load_edited(tmp_path, monkeypatch, "        liquidation: 1.18", "        liquidaton: 1.18")
    line = _line_of(BUNDLED, "liquidation: 1.18")
    assert problems == [
        f"{FILE}:{line - 2}:9: $.modes.isolated.leverages[0]: missing required key `liquidation`",
        f"{FILE}:{line}:9: $.modes.isolated.leverages[0].liquidaton: unknown key; allowed keys: leverage,"
        " liquidation, margin_call, recovery; did you mean `liquidation`?",
    ]


def test_call_ratio_must_exceed_liquidation_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Semantic lint: for every mode and leverage, margin call > liquidation."""
    problems = _load_edited(tmp_path, monkeypatch, "margin_call: 1.22", "margin_call: 1.18")
    line = _line_of(BUNDLED, "margin_call: 1.22")
    assert problems == [
        f"{FILE}:{line}:22: $.modes.isolated.leverages[0].margin_call: expected a margin call level greater"
        " than the liquidation level (1.18), got 1.18"]


def test_leverages_must_increase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tier tables are ordered: a leverage not above the previous one is refused."""
    problems = _load_edited(tmp_path, monkeypatch, "      - leverage: 10\n        margin_call: 1.1",
                            "      - leverage: 5\n        margin_call: 1.1")
    line = _line_of(BUNDLED, "- leverage: 10")
    assert problems == [
        f"{FILE}:{line}:19: $.modes.isolated.leverages[2].leverage: expected leverages in increasing order,"
        " got 5 after 5"]


def test_rates_must_be_below_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fee rate of 1 (100%) is outside [0, 1)."""
    problems = _load_edited(tmp_path, monkeypatch, "rate: 0.03", "rate: 1")
    line = _line_of(BUNDLED, "rate: 0.03")
    assert problems == [
        f"{FILE}:{line}:13: $.modes.cross_pro.liquidation_fee.rate: expected a number < 1, got number 1"]


def test_unknown_name_in_a_rule_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelled name in an expression fails at load time, with file, line and a suggestion."""
    problems = _load_edited(tmp_path, monkeypatch, "when: margin_level <= liquidation_level",
                            "when: margin_level <= liquidaton_level")
    line = _line_of(BUNDLED, "when: margin_level <= liquidation_level")
    assert problems == [
        f"{FILE}:{line}:11: $.rules[0].when: at column 17 of `margin_level <= liquidaton_level`:"
        " unknown name `liquidaton_level`; did you mean `liquidation_level`?"]


def test_sandbox_escape_is_refused_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attribute chains never reach evaluation."""
    problems = _load_edited(tmp_path, monkeypatch, "expression: total_asset_value - total_liability_value",
                            "expression: (1).__class__")
    line = _line_of(BUNDLED, "expression: total_asset_value")
    assert problems == [
        f"{FILE}:{line}:17: $.derived[0].expression: at column 1 of `(1).__class__`:"
        " attribute access (`a.b`) is not allowed"]


def test_yaml11_boolean_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`no` where a string is expected is not silently False."""
    problems = _load_edited(tmp_path, monkeypatch, "liquidity: illiquid", "liquidity: no")
    line = _line_of(BUNDLED, "liquidity: illiquid")
    assert problems == [
        f"{FILE}:{line}:16: $.assets.SUPER.liquidity: `no` is a boolean in YAML 1.1 and a string in"
        ' YAML 1.2; write "no" (quoted) for a string, or true/false']


def test_threshold_finer_than_the_compared_precision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A threshold with more places than margin levels are compared at could never be hit exactly."""
    problems = _load_edited(tmp_path, monkeypatch, "liquidation: 1.05", "liquidation: 1.050000001")
    line = _line_of(BUNDLED, "liquidation: 1.05")
    assert problems == [
        f"{FILE}:{line}:22: $.modes.isolated.leverages[2].liquidation: expected at most 8 decimal places"
        " (margin levels are compared at that precision), got 1.050000001"]


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three independent mistakes give three problems, sorted by line."""
    edited = (BUNDLED.replace("rate: 0.03", "rate: -0.01")
              .replace("liquidity: illiquid", "liquidity: iliquid")
              .replace("default_status: ok", "default_status: okay"))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "margin-trading.yaml").write_text(edited)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    assert [(p.json_path, p.suggestion) for p in raised.value.problems] == [
        ("$.modes.cross_pro.liquidation_fee.rate", None),
        ("$.default_status", "ok"),
        ("$.assets.SUPER.liquidity", "illiquid"),
    ]


def test_unknown_kind_suggests_the_right_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelled kind names the kinds there are."""
    problems = _load_edited(tmp_path, monkeypatch, "kind: margin-trading", "kind: margin-trade")
    assert problems == [
        f"{FILE}:6:7: $.kind: expected a policy kind (collateral, crypto-loan, futures-margin, margin-trading),"
        " got 'margin-trade';"
        " did you mean `margin-trading`?"]


def test_duplicate_version_across_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two files may not both define version 1 of one policy."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "a.yaml").write_text(BUNDLED)
    (tmp_path / "policies" / "b.yaml").write_text(BUNDLED)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    assert [str(p) for p in raised.value.problems] == [
        "policies/b.yaml:8:10: $.version: version 1 of `spot-margin` is also defined in policies/a.yaml",
        "policies/b.yaml:9:17: $.effective_from: another version of `spot-margin` takes effect at the same"
        " instant, in policies/a.yaml",
    ]


def test_a_later_version_needs_a_larger_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Versions of one policy increase with their effective dates."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "v2.yaml").write_text(BUNDLED.replace("version: 1", "version: 2"))
    later = BUNDLED.replace("effective_from: 2026-01-01", "effective_from: 2026-06-01")
    (tmp_path / "policies" / "v1-later.yaml").write_text(later)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    assert [str(p) for p in raised.value.problems] == [
        "policies/v1-later.yaml:8:10: $.version: expected a version above 2 (policies/v2.yaml), which takes"
        " effect earlier, got 1"]


def test_versions_are_chosen_by_as_of(tmp_path: Path) -> None:
    """With two versions, `as_of` picks the one in force; the decision names it."""
    (tmp_path / "v1.yaml").write_text(BUNDLED)
    (tmp_path / "v2.yaml").write_text(BUNDLED.replace("version: 1", "version: 2")
                                      .replace("effective_from: 2026-01-01", "effective_from: 2026-06-01")
                                      .replace("margin_call: 1.16", "margin_call: 1.2"))
    engine = policy_engine.load(tmp_path)
    account = {"kind": "spot-margin", "account_id": "x", "mode": "cross_classic", "leverage": 5,
               "assets": [{"asset": "BTC", "quantity": "10", "price": "47000"}],
               "liabilities": [{"asset": "USDC", "principal": "400000", "interest": "0", "price": "1"}]}
    before = engine.evaluate(account, as_of="2026-05-31T23:59:59Z")
    after = engine.evaluate(account, as_of="2026-06-01")
    assert (before.policy.version, before.status) == (1, "ok")
    assert (after.policy.version, after.status) == (2, "margin_call")


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    """Paths that hold no policies are problems, not an empty engine."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError) as raised:
        policy_engine.load(tmp_path / "empty", tmp_path / "nope")
    assert [p.message for p in raised.value.problems] == [
        "no policy files (*.yaml, *.yml) in this folder", "no such file or folder"]
