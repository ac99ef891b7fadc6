"""The futures-margin policy's load-time checks: every problem located at its line, all of them at once."""

from __future__ import annotations

from pathlib import Path

import pytest

import policy_engine
from policy_engine import PolicyError

from .conftest import POLICIES

BUNDLED = (POLICIES / "futures.yaml").read_text()
FILE = "policies/futures.yaml"


def problems_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *edits: tuple[str, str]) -> list[str]:
    """The problems of the bundled futures policy with each `(old, new)` edit made once."""
    text = BUNDLED
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "futures.yaml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PolicyError) as raised:
        policy_engine.load("policies")
    return [str(problem) for problem in raised.value.problems]


def test_the_bundled_policy_loads() -> None:
    refs = [ref for ref in policy_engine.load(POLICIES).policies if ref.kind == "futures-margin"]
    assert [(ref.id, ref.version, ref.file) for ref in refs] == [("usds-m-futures", 1, FILE)]


def test_a_wrong_cum_is_refused_with_the_recomputed_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cum = from x (mmr - previous mmr) + previous cum: 1,400 is not 1,500, and the message shows the sum."""
    problems = problems_after(tmp_path, monkeypatch, ("max_leverage: 75, cum: 1500", "max_leverage: 75, cum: 1400"))
    assert problems == [
        f"{FILE}:55:73: $.symbols.BTCUSDT.brackets[2].cum: expected 1500 = 800000 x (0.0065 - 0.005) + 300"
        " (the previous band's cum), got 1400; did you mean `cum: 1500`?"
    ]


def test_a_cum_may_be_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a declared cum the kit computes it; the decision cites the bracket's row for it."""
    text = BUNDLED.replace(", max_leverage: 100, cum: 300}", ", max_leverage: 100}")
    (tmp_path / "futures.yaml").write_text(text)
    engine = policy_engine.load(tmp_path / "futures.yaml")
    account = {
        "kind": "futures-position",
        "account_id": "x",
        "symbol": "BTCUSDT",
        "margin_mode": "isolated",
        "side": "long",
        "quantity": "10",
        "leverage": 10,
        "entry_price": "50000",
        "mark_price": "50000",
        "position_margin": "50000",
        "account_equity": "100000",
    }
    decision = engine.evaluate(account, as_of="2026-03-01")
    assert decision.outcome["bracket"]["cum"] == 300
    (step,) = [step for step in decision.to_dict()["trace"] if step["step"] == "maintenance_margin"]
    assert step["parameters"][1] == {
        "name": "cum",
        "path": "$.symbols.BTCUSDT.brackets[1]",
        "source": f"{tmp_path.name}/futures.yaml:54",
        "value": "300",
    }


def test_bracket_shape_problems_all_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rising leverage, an mmr at the initial margin rate, a gap (which also moves the cum): all in one load."""
    problems = problems_after(
        tmp_path,
        monkeypatch,
        ("{from: 50000000, to: 100000000,", "{from: 50000001, to: 100000000,"),
        ("mmr: 0.01, max_leverage: 50, cum: 12000}", "mmr: 0.01, max_leverage: 80, cum: 12000}"),
        ("mmr: 0.1, max_leverage: 5, cum: 135365", "mmr: 0.1, max_leverage: 10, cum: 135365"),
    )
    assert problems == [
        f"{FILE}:56:64: $.symbols.BTCUSDT.brackets[3].max_leverage: expected maximum leverages that never increase:"
        " 80 after 75",
        f"{FILE}:76:43: $.symbols.ETHUSDT.brackets[5].mmr: expected an mmr below the initial margin rate"
        " 1 / max_leverage (0.1), got 0.1: a position would open already liquidated",
        f"{FILE}:80:16: $.symbols.ETHUSDT.brackets[9].from: expected 50000000 (where the previous band ends),"
        " got 50000001: a gap between bands",
        f"{FILE}:80:73: $.symbols.ETHUSDT.brackets[9].cum: expected 15010365.25 = 50000001 x (0.5 - 0.25) + 2510365"
        " (the previous band's cum), got 15010365; did you mean `cum: 15010365.25`?",
    ]


def test_zone_and_status_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zone edge finer than the compared precision, a repeated label, a status that is no zone."""
    problems = problems_after(
        tmp_path,
        monkeypatch,
        ("{from: 0, to: 0.5, zone: green}", "{from: 0, to: 0.50005, zone: green}"),
        ("{from: 0.5, to: 0.8, zone: yellow}", "{from: 0.50005, to: 0.8, zone: green}"),
        ("    status: red\n", "    status: crimson\n"),
    )
    assert problems == [
        f"{FILE}:85:19: $.zones[0].to: expected at most 4 decimal places (margin ratios are compared at that"
        " precision), got 0.50005",
        f"{FILE}:86:12: $.zones[1].from: expected at most 4 decimal places (margin ratios are compared at that"
        " precision), got 0.50005",
        f"{FILE}:86:36: $.zones[1].zone: duplicate zone `green`",
        f"{FILE}:98:13: $.rules[1].status: expected `liquidation` or a zone (green, red), got `crimson`",
        # the zone renamed away, the yellow rule's status is no zone any more
        f"{FILE}:101:13: $.rules[2].status: expected `liquidation` or a zone (green, red), got `yellow`",
    ]


def test_advice_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A threshold shadowing a figure, distances out of order, a rule reading a name that does not exist."""
    problems = problems_after(
        tmp_path,
        monkeypatch,
        ("    max_backup_share: 0.50\n", "    max_backup_share: 0.50\n    notional: 5\n"),
        ("liquidation_distances: [0.05, 0.10]", "liquidation_distances: [0.10, 0.05]"),
        ("when: zone != 'green'", "when: zone != 'green' and margin_ratoi > 0"),
    )
    assert problems == [
        f"{FILE}:131:5: $.advice.thresholds.notional: `notional` is already a figure rules read;"
        " give the threshold another name",
        f"{FILE}:134:35: $.advice.recommended_add.liquidation_distances[1]: expected increasing distances:"
        " 0.05 after 0.10",
        f"{FILE}:165:13: $.advice.rules[6].when: at column 21 of `zone != 'green' and margin_ratoi > 0`:"
        " unknown name `margin_ratoi`; did you mean `margin_ratio`?",
    ]
