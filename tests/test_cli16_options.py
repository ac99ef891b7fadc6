"""`batch --log-input` and `simulate --fail-on`, as `evaluate` has them (issue 16, items 2 and 5)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from policy_engine.cli import main

from .conftest import AS_OF, EXAMPLES, POLICIES


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _accounts(tmp_path: Path) -> Path:
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text(
        "".join(
            json.dumps(json.loads((EXAMPLES / name).read_text())) + "\n"
            for name in ("margin-a-regular.json", "loan-topup.json")
        )
    )
    return accounts


@pytest.mark.parametrize("workers", ["1", "2"])
def test_batch_log_input_lines_replay_to_the_same_decisions(tmp_path: Path, workers: str) -> None:
    """Each log line holds the account and the outcome, and the decision's own `decision_id`; evaluating the
    logged account at the logged instant gives the same outcome (in one process or in workers)."""
    out, log = tmp_path / "out.jsonl", tmp_path / "log.jsonl"
    code, _, _ = run("batch", str(_accounts(tmp_path)), "--out", str(out), "--policies", str(POLICIES),
                     "--as-of", AS_OF, "--log-file", str(log), "--log-input", "--workers", workers,
                     "--chunk-size", "1")
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert code == 0
    assert [(r["decision_id"], r["outcome"]) for r in records] == [
        (d["decision_id"], d["outcome"]) for d in decisions]
    for record in records:
        code, replayed, _ = run("evaluate", "-", "--policies", str(POLICIES), "--as-of", record["as_of"],
                                stdin=json.dumps(record["account"]))
        assert (code, json.loads(replayed)["decision_id"]) == (0, record["decision_id"])


def test_batch_log_input_without_a_log_file_is_refused(tmp_path: Path) -> None:
    """As for `evaluate`: exit 2 saying what is missing, and no output written."""
    out = tmp_path / "out.jsonl"
    assert run("batch", str(_accounts(tmp_path)), "--out", str(out), "--policies", str(POLICIES),
               "--log-input") == (2, "", "--log-input: $: expected --log-file as well: where to log\n1 problem found\n")
    assert not out.exists()


def test_simulate_fail_on_exits_5_when_a_status_occurs_along_the_path() -> None:
    """The loan's walk passes margin_call: `--fail-on margin_call` exits 5 after writing the whole timeline;
    a status the walk never reaches exits 0 with the same output."""
    argv = ["simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(EXAMPLES / "loan-prices.csv"),
            "--policies", str(POLICIES)]
    plain = run(*argv)
    failing = run(*argv, "--fail-on", "liquidation,margin_call")
    assert plain[0] == 0
    assert failing[:2] == (5, plain[1])
    assert failing[2].startswith("policy-engine: decisions with a status named by --fail-on: margin_call ")
    assert run(*argv, "--fail-on", "no_such_status") == plain
