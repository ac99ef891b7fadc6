"""The population generator: deterministic, every status, a share on the policies' own thresholds."""

from __future__ import annotations

import io
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import Engine
from policy_engine.accounts import parse_json_account
from policy_engine.cli import main
from policy_engine.population import generate, generator_kinds, population_kinds, population_lines
from policy_engine.products.loans import CompiledLoanPolicy
from policy_engine.products.margin import CompiledMarginPolicy

from .conftest import AS_OF, POLICIES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def decide(engine: Engine, kind: str, count: int = 300, *, seed: int = 5) -> list[dict[str, Any]]:
    """The decisions (outcome only, plain) of a population of one kind, decided at the instant it was made for."""
    lines = population_lines(engine, count, seed=seed, kinds=[kind], as_of=AS_OF)
    return [engine.evaluate(parse_json_account(line, source="x"), AS_OF).to_dict(trace=False) for line in lines]


@pytest.fixture(scope="module")
def decided(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    return {kind: decide(engine, kind) for kind in ("spot-margin", "crypto-loan")}


def test_same_seed_same_bytes_other_seed_other_accounts(engine: Engine) -> None:
    first = "".join(population_lines(engine, 50, seed=1, as_of=AS_OF))
    assert first == "".join(population_lines(engine, 50, seed=1, as_of=AS_OF))
    assert first != "".join(population_lines(engine, 50, seed=2, as_of=AS_OF))
    assert [json.loads(line)["kind"] for line in first.splitlines()[:4]] == [
        "crypto-loan",
        "spot-margin",
        "crypto-loan",
        "spot-margin",
    ]


def test_cli_file_and_stdout_are_the_same_bytes(tmp_path: Path) -> None:
    """`--out` writes the same bytes as stdout, in a file renamed into place; a note goes to stderr."""
    argv = ["population", "--count", "30", "--seed", "9", "--policies", str(POLICIES), "--as-of", AS_OF]
    code, stdout, stderr = run(*argv)
    assert code == 0
    assert stderr == f"population: 30 accounts (crypto-loan, spot-margin), seed 9, as of {AS_OF}, to stdout\n"
    out = tmp_path / "population.jsonl"
    assert run(*argv, "--out", str(out))[0] == 0
    assert out.read_text() == stdout
    assert sorted(item.name for item in tmp_path.iterdir()) == ["population.jsonl"]
    assert len(stdout.splitlines()) == 30


def test_unknown_kind_is_refused_with_a_suggestion() -> None:
    code, stdout, stderr = run("population", "--count", "3", "--kind", "spot-margn", "--policies", str(POLICIES))
    assert (code, stdout) == (2, "")
    assert stderr == (
        "--kind: $: no population generator for `spot-margn`; expected one of crypto-loan, futures-position,"
        " margin-transfer, spot-margin;"
        " did you mean `spot-margin`?\n1 problem found\n"
    )


@pytest.mark.parametrize("kind", ["spot-margin", "crypto-loan"])
def test_every_status_the_policy_can_give(engine: Engine, decided: dict[str, list[dict[str, Any]]], kind: str) -> None:
    """Every status of the policy's rules and its default appears, and every account decides."""
    policy = engine.policy_for(kind, AS_OF)
    table = policy.status_table  # type: ignore[attr-defined]  # both bundled products have one
    possible = {rule.outcome["status"] for rule in table.rules} | {table.default_status}
    statuses = Counter(decision["outcome"]["status"] for decision in decided[kind])
    assert set(statuses) == possible
    assert min(statuses.values()) >= 30


def test_margin_population_covers_methods_and_sits_on_thresholds(decided: dict[str, list[dict[str, Any]]]) -> None:
    """Every liquidation method; some margin levels exactly on a threshold (raw and compared), some only
    after the policy's rounding, and some accounts without debt."""
    outcomes = [decision["outcome"] for decision in decided["spot-margin"]]
    methods = {o["liquidation"]["method"] for o in outcomes if o["liquidation"]}
    assert methods == {"regular", "takeover", "regular_then_takeover"}
    exactly, rounded_onto = 0, 0
    for outcome in outcomes:
        thresholds = set(map(Decimal, outcome["thresholds"].values()))
        if outcome["margin_level"] is None:
            continue
        raw, compared = Decimal(outcome["margin_level"]), Decimal(outcome["margin_level_compared"])
        exactly += raw in thresholds
        rounded_onto += compared in thresholds and raw not in thresholds
    assert exactly >= 15
    assert rounded_onto >= 8
    assert sum(o["margin_level"] is None for o in outcomes) >= 8


def test_loan_population_covers_top_up_actions_and_thresholds(decided: dict[str, list[dict[str, Any]]]) -> None:
    outcomes = [decision["outcome"] for decision in decided["crypto-loan"]]
    actions = Counter(o["top_up"]["action"] for o in outcomes)
    assert set(actions) == {"none", "top_up", "partial_top_up", "retry_scheduled", "disabled"}
    on_threshold = [o for o in outcomes if Decimal(o["ltv_compared"]) in set(map(Decimal, o["thresholds"].values()))]
    assert len(on_threshold) >= 30
    assert any(Decimal(o["ltv"]) != Decimal(o["ltv_compared"]) for o in on_threshold)
    assert {o["top_up"]["result"] for o in outcomes} == {None, "succeeded", "failed"}


def test_thresholds_come_from_the_loaded_policies(tmp_path: Path) -> None:
    """Move a margin call level and a loan LTV in copies of the policies: accounts follow them there."""
    margin = (POLICIES / "margin-trading.yaml").read_text()
    loans = (POLICIES / "crypto-loans.yaml").read_text()
    (tmp_path / "margin-trading.yaml").write_text(margin.replace("margin_call: 1.16", "margin_call: 1.17"))
    (tmp_path / "crypto-loans.yaml").write_text(loans.replace("margin_call: 0.80", "margin_call: 0.81"))
    engine = policy_engine.load(tmp_path)
    margin_policy = engine.policy_for("spot-margin", AS_OF)
    loan_policy = engine.policy_for("crypto-loan", AS_OF)
    assert isinstance(margin_policy, CompiledMarginPolicy)
    assert isinstance(loan_policy, CompiledLoanPolicy)
    margin_levels = {
        engine.evaluate(account, AS_OF).outcome["margin_level"]
        for account in generate(engine, 600, seed=5, kinds=["spot-margin"], as_of=AS_OF)
        if (account["mode"], account["leverage"]) == ("cross_classic", 5)
    }
    assert Decimal("1.17") in margin_levels
    assert Decimal("1.16") not in margin_levels
    ltvs = {
        engine.evaluate(account, AS_OF).outcome["ltv"]
        for account in generate(engine, 600, seed=5, kinds=["crypto-loan"], as_of=AS_OF)
        if account["collateral"]["asset"] == "BTC"
        and account.get("loan_type", "cross_collateral") == "cross_collateral"
    }
    assert Decimal("0.81") in ltvs
    assert Decimal("0.80") not in ltvs


def test_library_api(engine: Engine) -> None:
    """`generate` gives account dicts of the kinds asked for; the kinds offered are those with a generator,
    the kinds mixed by default the first two (populations made before stay the same bytes)."""
    assert generator_kinds(engine) == ["crypto-loan", "futures-position", "margin-transfer", "spot-margin"]
    assert population_kinds(engine) == ["crypto-loan", "spot-margin"]
    accounts = list(generate(engine, 3, seed=4, kinds=["spot-margin"], as_of=AS_OF))
    assert [account["account_id"] for account in accounts] == [
        "spot-margin-4-0000001",
        "spot-margin-4-0000002",
        "spot-margin-4-0000003",
    ]
    assert all(engine.evaluate(account, AS_OF).status for account in accounts)
