"""The command line, run in-process through main(argv) with captured streams."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.cli import main

from .conftest import EXAMPLES, POLICIES, ROOT


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_validate_ok() -> None:
    """Valid policies: exit 0 and one line per policy version on stdout."""
    assert run("validate", str(POLICIES)) == (
        0,
        "ok  policies/collateral.yaml  collateral margin-collateral v1 from 2025-03-27\n"
        "ok  policies/crypto-loans.yaml  crypto-loan crypto-loans v1 from 2020-01-01\n"
        "ok  policies/futures.yaml  futures-margin usds-m-futures v1 from 2026-01-01\n"
        "ok  policies/margin-trading.yaml  margin-trading spot-margin v1 from 2026-01-01\n",
        "",
    )


def test_validate_reports_problems_on_stderr(tmp_path: Path) -> None:
    """Invalid policies: exit 1, every problem and a count on stderr, nothing on stdout."""
    bad = tmp_path / "margin.yaml"
    bad.write_text((POLICIES / "margin-trading.yaml").read_text().replace("rate: 0.03", "rate: yes"))
    code, out, err = run("validate", str(bad))
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == "1 problem found"
    assert "$.modes.cross_pro.liquidation_fee.rate: `yes` is a boolean in YAML 1.1" in err


def test_evaluate_json_is_the_canonical_decision() -> None:
    """JSON output is the decision's canonical JSON, sorted keys, decimals as strings."""
    code, out, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES))
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert decision["outcome"]["status"] == "liquidation"
    assert decision["outcome"]["liquidation"]["returned"] == [{"asset": "BTC", "quantity": "0.72727273"}]
    assert list(decision) == [
        "account",
        "as_of",
        "decision_id",
        "input_sha256",
        "operations",
        "outcome",
        "policy",
        "related_policies",
        "trace",
    ]


def test_evaluate_text_explains_with_sources() -> None:
    """Text output states the status, the comparison that decided it and the YAML line of the threshold."""
    code, out, _ = run("evaluate", str(EXAMPLES / "margin-b-takeover.json"), "--policies", str(POLICIES),
                       "--format", "text")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "Account user-b (spot-margin): LIQUIDATION"
    assert "  rule liquidation: margin_level <= liquidation_level holds  [policies/margin-trading.yaml:63]" in lines
    assert ("      liquidation_level = 1.1  [policies/margin-trading.yaml:33"
            " $.modes.cross_classic.leverages[1].liquidation]") in lines
    assert "  returned to the user: 27000.00000000 USDC" in lines


def test_evaluate_reads_yaml_from_stdin() -> None:
    """`-` reads standard input; YAML accounts work too."""
    account = """
kind: spot-margin
account_id: yaml-user
mode: isolated
leverage: 10
assets: [{asset: BTC, quantity: 1, price: 50000}]
liabilities: [{asset: USDC, principal: 40000, interest: 0, price: 1}]
"""
    code, out, _ = run("evaluate", "-", "--policies", str(POLICIES), stdin=account)
    assert (code, json.loads(out)["outcome"]["status"]) == (0, "ok")


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ('{"kind": "spot-margin"', "<stdin>:1:23: $: invalid JSON: Expecting ',' delimiter"),
        ('{"kind": "spot-margn"}', "<stdin>:1:10: $.kind: expected an account kind (crypto-loan, futures-position,"
                                   " margin-transfer, spot-margin), got string"
                                   " 'spot-margn'; did you mean `spot-margin`?"),
        ('{"kind": "spot-margin", "account_id": "x", "mode": "isolated", "leverage": 4, "assets": [],'
         ' "liabilities": []}',
         "<stdin>:1:76: $.leverage: leverage 4 is not offered in mode `isolated`; expected one of 3, 5, 10"),
        ('{"kind": "spot-margin", "account_id": "x", "mode": "isolate", "leverage": 3, "assets": [],'
         ' "liabilities": []}',
         "<stdin>:1:52: $.mode: unknown mode `isolate`; expected one of cross_classic, cross_pro, isolated;"
         " did you mean `isolated`?"),
        ('{"kind": "spot-margin", "account_id": "x", "mode": "isolated", "leverage": 3,'
         ' "assets": [{"asset": "BTC", "quantity": "ten", "price": "1"}], "liabilities": []}',
         "<stdin>:1:119: $.assets[0].quantity: expected a decimal number >= 0, at most 1e60"
         ' (a string such as "12.5", or a JSON number), got string \'ten\''),
        ('{"kind": "spot-margin", "account_id": "x", "mode": "isolated", "leverage": NaN,'
         ' "assets": [], "liabilities": []}', "<stdin>: $: invalid JSON: NaN is not a finite number"),
    ],
    ids=["bad-json", "unknown-kind", "unknown-leverage", "unknown-mode", "bad-quantity", "nan"],
)
def test_bad_input_exits_2_naming_the_field(account: str, expected: str) -> None:
    """Bad accounts exit 2 with the field and what was expected; never a traceback."""
    code, out, err = run("evaluate", "-", "--policies", str(POLICIES), stdin=account)
    assert (code, out, err.splitlines()[0]) == (2, "", expected)


def test_missing_required_fields_are_all_listed() -> None:
    """Every missing field is reported at once."""
    code, _, err = run("evaluate", "-", "--policies", str(POLICIES), stdin='{"kind": "spot-margin"}')
    assert code == 2
    assert err.splitlines() == [
        "<stdin>: $: missing required key `account_id`",
        "<stdin>: $: missing required key `assets`",
        "<stdin>: $: missing required key `leverage`",
        "<stdin>: $: missing required key `liabilities`",
        "<stdin>: $: missing required key `mode`",
        "5 problems found",
    ]


def test_missing_account_file_and_bad_as_of(tmp_path: Path) -> None:
    """A missing file or a malformed --as-of is bad input (exit 2)."""
    assert run("evaluate", str(tmp_path / "nope.json"), "--policies", str(POLICIES))[0] == 2
    code, _, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES),
                       "--as-of", "yesterday")
    assert (code, err) == (
        2,
        "as_of: $: expected an ISO 8601 date (2026-03-01) or date-time with an offset (2026-03-01T00:00:00Z),"
        " got string 'yesterday'\n1 problem found\n",
    )


def test_as_of_before_any_version() -> None:
    """No version in force at --as-of is an input problem."""
    code, _, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES),
                       "--as-of", "2020-01-01")
    assert code == 2
    assert err.splitlines()[0] == ("as_of: $: no version of `spot-margin` is in force at 2020-01-01T00:00:00Z;"
                                   " the first takes effect at 2026-01-01T00:00:00Z")


def test_log_file_gets_one_json_line_per_decision(tmp_path: Path) -> None:
    """--log-file writes a structlog JSON line per decision, and nothing of it reaches stdout."""
    log = tmp_path / "decisions.jsonl"
    code, out, _ = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES),
                       "--log-file", str(log))
    decision = json.loads(out)
    (line,) = log.read_text().splitlines()
    record = json.loads(line)
    assert code == 0
    assert set(record) == {"event", "decision_id", "timestamp", "as_of", "account_kind", "account_id", "policy_id",
                           "policy_version", "policy_sha256", "related_policies", "input_sha256", "status",
                           "duration_us"}
    assert (record["event"], record["status"], record["input_sha256"], record["policy_sha256"], record["as_of"]) == (
        "decision", "liquidation", decision["input_sha256"], decision["policy"]["sha256"], decision["as_of"])
    assert decision["decision_id"] == record["decision_id"]


def test_usage_errors_exit_2() -> None:
    """An unknown command is a usage error on stderr."""
    code, out, err = run("frobnicate")
    assert (code, out) == (2, "")
    assert err.startswith("policy-engine: argument command: invalid choice: 'frobnicate'")


def test_python_dash_m_smoke() -> None:
    """`python -m policy_engine` runs the same CLI in a real process."""
    done = subprocess.run(
        [sys.executable, "-m", "policy_engine", "evaluate", "examples/margin-c-regular-then-takeover.json",
         "--format", "text"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[0] == "Account user-c (spot-margin): LIQUIDATION"


def test_internal_errors_are_a_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected failure prints one line and exits 3."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("policy_engine.cli.load", broken)
    assert run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES)) == (
        3, "", "policy-engine: internal error: RuntimeError: disk on fire; please report it\n")


def test_unusable_log_file_is_an_input_error(tmp_path: Path) -> None:
    """A --log-file that cannot be opened exits 2 naming the option, before anything is decided."""
    missing = tmp_path / "no-such-folder" / "log.jsonl"
    code, out, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES),
                         "--log-file", str(missing))
    assert (code, out, err) == (
        2, "", f"{missing}: $: --log-file: cannot open it: No such file or directory\n1 problem found\n")
