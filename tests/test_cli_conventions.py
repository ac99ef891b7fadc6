"""Command-line conventions: version, help, exit codes, standard input, JSON problems, --fail-on."""

from __future__ import annotations

import io
import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import policy_engine
from policy_engine.cli import main
from policy_engine.exit_codes import EXIT_CODES

from .conftest import AS_OF, EXAMPLES, POLICIES, ROOT, bundled_account_kinds

EXAMPLE_A = str(EXAMPLES / "margin-a-regular.json")


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


# --- version and help ----------------------------------------------------------------------------------------


def test_version_has_one_source_of_truth() -> None:
    """`__version__` and `--version` are the installed metadata's, which is pyproject.toml's version."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert policy_engine.__version__ == version("policy-engine") == declared
    assert run("--version") == (0, f"policy-engine {declared}\n", "")


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    """The lazy `__version__` does not make every other name resolve."""
    with pytest.raises(AttributeError, match="has no attribute 'lod'"):
        policy_engine.lod  # type: ignore[attr-defined]  # noqa: B018 - the access is the test


def test_help_lists_every_exit_code() -> None:
    """`policy-engine --help` ends with the exit code table, one entry per code, in order."""
    code, out, _ = run("--help")
    listed = re.findall(r"^  (\d+) +(\w+) ", out.split("exit codes:\n", 1)[1], re.MULTILINE)
    assert code == 0
    assert listed == [(str(exit_code.code), exit_code.name) for exit_code in EXIT_CODES]


def test_help_shows_defaults() -> None:
    """Options with a default say it, whether or not their help text did already."""
    _, out, _ = run("batch", "--help")
    assert "full decisions, or the outcome without the trace (default: full)" in " ".join(out.split())
    _, out, _ = run("init", "--help")
    assert "where to write the pack (created if missing) (default: .)" in " ".join(out.split())


def _readme_exit_codes() -> list[tuple[int, str, str]]:
    """The rows of the README's exit code table: `| 0 | `ok` | meaning |`."""
    section = (ROOT / "README.md").read_text().split("### Exit codes\n", 1)[1]
    table = section.strip().split("\n\n")[0]
    rows = [line.strip("|").split("|") for line in table.splitlines()[2:]]
    return [(int(code), name.strip().strip("`"), meaning.strip()) for code, name, meaning in rows]


def test_readme_exit_code_table_is_the_cli_s() -> None:
    """The README's table lists the same codes, names and meanings as `policy_engine.exit_codes`."""
    assert _readme_exit_codes() == [(exit_code.code, exit_code.name, exit_code.meaning) for exit_code in EXIT_CODES]


# --- standard input --------------------------------------------------------------------------------------------


def test_validate_reads_one_policy_document_from_stdin() -> None:
    """`validate -` checks a document on stdin and names it `<stdin>`, in text and JSON."""
    text = (POLICIES / "margin-trading.yaml").read_text()
    assert run("validate", "-", stdin=text) == (
        0,
        "ok  <stdin>  margin-trading spot-margin v1 from 2026-01-01\n",
        "",
    )
    code, out, _ = run("validate", "-", "--format", "json", stdin=text)
    assert (code, [policy["file"] for policy in json.loads(out)["policies"]]) == (0, ["<stdin>"])


def test_validate_stdin_problems_name_stdin_with_their_line() -> None:
    """A problem in the document on stdin is `<stdin>:LINE:COL`, like a file's, and files beside it keep their names."""
    text = (POLICIES / "margin-trading.yaml").read_text().replace("rate: 0.03", "rate: yes")
    code, out, err = run("validate", "-", str(POLICIES / "crypto-loans.yaml"), stdin=text)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "<stdin>:52:13: $.modes.cross_pro.liquidation_fee.rate: `yes` is a boolean in YAML 1.1 and a string in"
        ' YAML 1.2; write "yes" (quoted) for a string, or true/false',
        "1 problem found",
    ]


def test_validate_stdin_clash_names_stdin_in_the_message() -> None:
    """A problem naming the other file of a clash names `<stdin>`, not a temporary file."""
    policy = str(POLICIES / "margin-trading.yaml")
    assert run("validate", "-", policy, stdin=(POLICIES / "margin-trading.yaml").read_text()) == (
        1,
        "",
        f"{policy}:8:10: $.version: version 1 of `spot-margin` is also defined in <stdin>\n"
        f"{policy}:9:17: $.effective_from: another version of `spot-margin` takes effect at the same instant,"
        " in <stdin>\n2 problems found\n",
    )


def test_stdin_can_be_read_once() -> None:
    """`validate - -` is refused: there is one standard input."""
    assert run("validate", "-", "-") == (
        2, "", "<stdin>: $: - is given twice; standard input can be read once\n1 problem found\n")


def test_policies_from_stdin_are_refused_with_the_way_to_check_one() -> None:
    """`--policies -` is not a file named `-`: it is refused, pointing at `validate -`."""
    assert run("evaluate", EXAMPLE_A, "--policies", "-") == (
        2,
        "",
        "--policies: $: expected a policy file or folder, got - (standard input cannot hold a policy set);"
        " `policy-engine validate -` checks one policy document read from standard input\n1 problem found\n",
    )


def test_log_file_dash_is_standard_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--log-file -` writes the decision's log line to stderr, the decision to stdout, and no file named `-`."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run("evaluate", EXAMPLE_A, "--policies", str(POLICIES), "--as-of", AS_OF, "--log-file", "-")
    (line,) = err.splitlines()
    record = json.loads(line)
    assert code == 0
    assert (record["event"], record["input_sha256"]) == ("decision", json.loads(out)["input_sha256"])
    assert list(tmp_path.iterdir()) == []


def test_log_input_makes_a_line_that_replays_to_the_same_decision(tmp_path: Path) -> None:
    """`--log-input` adds the account (after its operations) and the outcome; evaluating that account at the
    logged `as_of` under the logged policy version gives the same input digest and outcome."""
    log = tmp_path / "decisions.jsonl"
    code, out, _ = run("evaluate", str(EXAMPLES / "loan-topup.json"), "--policies", str(POLICIES),
                       "--as-of", "2020-07-25T17:18:38Z", "--op", "manual_top_up=0.001", "--log-file", str(log),
                       "--log-input")
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    decision = json.loads(out)
    assert code == 0
    assert (record["outcome"], record["related_policies"]) == (decision["outcome"], [])
    assert record["account"]["auto_top_up"]["events"] == [{"quantity": "0.001", "type": "manual_top_up"}]
    code, replayed, _ = run("evaluate", "-", "--policies", str(POLICIES), "--as-of", record["as_of"],
                            stdin=json.dumps(record["account"]))
    assert (code, json.loads(replayed)["outcome"], json.loads(replayed)["input_sha256"]) == (
        0, record["outcome"], record["input_sha256"])
    assert json.loads(replayed)["policy"]["sha256"] == record["policy_sha256"]


def test_log_input_without_a_log_file_is_refused() -> None:
    """`--log-input` alone would log nothing: exit 2 saying what is missing."""
    assert run("evaluate", EXAMPLE_A, "--policies", str(POLICIES), "--log-input") == (
        2, "", "--log-input: $: expected --log-file as well: where to log\n1 problem found\n")


def test_batch_log_file_dash_is_standard_error_and_out_dash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """batch: `--log-file -` logs to stderr; `--out -` is refused rather than written to a file named `-`."""
    monkeypatch.chdir(tmp_path)
    accounts = tmp_path / "accounts.jsonl"
    accounts.write_text((EXAMPLES / "margin-a-regular.json").read_text().replace("\n", "") + "\n")
    code, out, err = run("batch", str(accounts), "--out", "out.jsonl", "--policies", str(POLICIES), "--as-of", AS_OF,
                         "--log-file", "-", "--summary", "json")
    assert (code, json.loads(out)["decided"]) == (0, 1)
    assert json.loads(err.splitlines()[0])["event"] == "decision"
    assert run("batch", str(accounts), "--out", "-", "--policies", str(POLICIES)) == (
        2,
        "",
        "--out: $: expected a file name, got - (batch writes its output under a temporary name and renames it at"
        " the end, which standard output cannot do)\n1 problem found\n",
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["accounts.jsonl", "out.jsonl"]


# --- problems as JSON ------------------------------------------------------------------------------------------


def test_evaluate_problems_as_json_on_stdout() -> None:
    """`evaluate --format json` with a bad account: the error document on stdout, nothing on stderr."""
    code, out, err = run("evaluate", "-", "--policies", str(POLICIES), "--format", "json",
                         stdin='{"kind": "spot-margn"}')
    assert (code, err) == (2, "")
    assert json.loads(out) == {
        "error": "input",
        "exit_code": 2,
        "problems": [
            {
                "file": "<stdin>",
                "line": 1,
                "col": 10,
                "json_path": "$.kind",
                "message": f"expected an account kind ({', '.join(bundled_account_kinds())}), got string 'spot-margn'",
                "suggestion": "spot-margin",
            }
        ],
    }


def test_without_format_json_problems_stay_text() -> None:
    """evaluate's default output is JSON, but its problems are text on stderr unless --format json is given."""
    code, out, err = run("evaluate", "-", "--policies", str(POLICIES), stdin='{"kind": "spot-margn"}')
    assert (code, out) == (2, "")
    assert err.endswith("did you mean `spot-margin`?\n1 problem found\n")


def test_validate_problems_as_json_keep_valid_false(tmp_path: Path) -> None:
    """validate's JSON failure is the common shape plus its `valid: false`."""
    bad = tmp_path / "margin.yaml"
    bad.write_text((POLICIES / "margin-trading.yaml").read_text().replace("version: 1", "version: 0"))
    code, out, err = run("validate", str(bad), "--format", "json")
    document = json.loads(out)
    assert (code, err) == (1, "")
    assert (document["valid"], document["error"], document["exit_code"]) == (False, "policy", 1)
    assert [(p["line"], p["json_path"]) for p in document["problems"]] == [(8, "$.version")]


def test_simulate_jsonl_problems_are_one_json_line(tmp_path: Path) -> None:
    """simulate --format jsonl: a bad price path is one compact JSON line on stdout."""
    prices = tmp_path / "prices.csv"
    prices.write_text("timestamp,asset,price\n2020-07-25T12:00:00Z,BTC,abc\n")
    code, out, err = run("simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(prices), "--policies",
                         str(POLICIES), "--format", "jsonl")
    (line,) = out.splitlines()
    document = json.loads(line)
    assert (code, err) == (2, "")
    assert (document["error"], document["exit_code"], document["problems"][0]["file"]) == ("input", 2, str(prices))


def test_missing_policies_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The missing ./policies problem is a JSON document too, with --format json."""
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("evaluate", EXAMPLE_A, "--format", "json")
    assert (code, json.loads(out)["error"], json.loads(out)["problems"][0]["file"]) == (1, "policy", "policies")


def test_internal_error_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a bug is the JSON error document when JSON was asked for."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("policy_engine.documents.compile_paths", broken)  # what validate loads with
    code, out, err = run("validate", str(POLICIES), "--format", "json")
    assert (code, err) == (3, "")
    assert json.loads(out) == {
        "error": "internal",
        "exit_code": 3,
        "valid": False,
        "problems": [
            {
                "file": "policy-engine",
                "line": 0,
                "col": 0,
                "json_path": "$",
                "message": "internal error: RuntimeError: disk on fire; please report it",
                "suggestion": None,
            }
        ],
    }


# --- exit codes from decisions ----------------------------------------------------------------------------------


def test_fail_on_a_status_exits_5_after_writing_the_decision() -> None:
    """`--fail-on liquidation` on example A: the decision on stdout, a line on stderr, exit 5."""
    code, out, err = run("evaluate", EXAMPLE_A, "--policies", str(POLICIES), "--as-of", AS_OF,
                         "--fail-on", "margin_call,liquidation")
    assert (code, json.loads(out)["outcome"]["status"]) == (5, "liquidation")
    assert err == "policy-engine: decisions with a status named by --fail-on: liquidation 1\n"


def test_fail_on_other_statuses_exits_0() -> None:
    """A status not named passes: exit 0, nothing on stderr."""
    code, _, err = run("evaluate", EXAMPLE_A, "--policies", str(POLICIES), "--as-of", AS_OF,
                       "--fail-on", "margin_call", "--fail-on", "ok")
    assert (code, err) == (0, "")


def test_fail_on_refuses_an_empty_status() -> None:
    """`--fail-on liquidation,` is a usage error, not a status named ''."""
    code, _, err = run("evaluate", EXAMPLE_A, "--fail-on", "liquidation,")
    assert code == 2
    assert "expected STATUS[,STATUS], got 'liquidation,'" in err


def test_batch_fail_on_counts_the_statuses(tmp_path: Path) -> None:
    """batch --fail-on: exit 5 with the count per named status, after writing the whole output."""
    accounts = tmp_path / "accounts.jsonl"
    lines = [(EXAMPLES / name).read_text().replace("\n", "") for name in
             ("margin-a-regular.json", "margin-b-takeover.json", "loan-topup.json")]
    accounts.write_text("\n".join(lines) + "\n")
    code, _, err = run("batch", str(accounts), "--out", str(tmp_path / "out.jsonl"), "--policies", str(POLICIES),
                       "--as-of", "2026-03-01T00:00:00Z", "--fail-on", "liquidation")
    assert code == 5
    assert err.splitlines()[-1] == "policy-engine: decisions with a status named by --fail-on: liquidation 2"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3


@pytest.fixture
def dividing_policy(tmp_path: Path) -> Path:
    """The bundled margin policy with a derived figure that divides by the liabilities: valid, fails on no debt."""
    policy = tmp_path / "margin.yaml"
    policy.write_text(
        (POLICIES / "margin-trading.yaml")
        .read_text()
        .replace("total_asset_value - total_liability_value", "total_asset_value / total_liability_value")
    )
    return policy


NO_DEBT = (
    '{"kind": "spot-margin", "account_id": "no-debt", "mode": "isolated", "leverage": 3,'
    ' "assets": [{"asset": "BTC", "quantity": "1", "price": "50000"}], "liabilities": []}'
)


def test_an_expression_failing_on_an_input_exits_4_not_1(dividing_policy: Path) -> None:
    """The policy validates and decides an account with debt; on one without, the division fails: exit 4."""
    assert run("validate", str(dividing_policy))[0] == 0
    assert run("evaluate", EXAMPLE_A, "--policies", str(dividing_policy), "--as-of", AS_OF)[0] == 0
    code, out, err = run("evaluate", "-", "--policies", str(dividing_policy), "--as-of", AS_OF, stdin=NO_DEBT)
    assert (code, out) == (4, "")
    # the trace's citation (folder/file) names the policy here; paths as given are the loader's part of issue 16
    assert err == (
        f"{dividing_policy.parent.name}/margin.yaml:75:1: $.derived[0]: `total_asset_value / total_liability_value`"
        " failed with DivisionByZero for total_asset_value = 50000, total_liability_value = 0\n1 problem found\n"
    )


def test_an_expression_failure_as_json_is_an_evaluation_error(dividing_policy: Path) -> None:
    """With --format json the same failure is `{"error": "evaluation", "exit_code": 4, ...}`."""
    code, out, _ = run("evaluate", "-", "--policies", str(dividing_policy), "--as-of", AS_OF, "--format", "json",
                       stdin=NO_DEBT)
    document = json.loads(out)
    assert (code, document["error"], document["exit_code"]) == (4, "evaluation", 4)
    assert document["problems"][0]["json_path"] == "$.derived[0]"
