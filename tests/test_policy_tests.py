"""Policy tests (`*.test.yaml` beside the policies) and `policy-engine test`."""

from __future__ import annotations

import io
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.cli import main
from policy_engine.policy_tests import MISSING, matches, read_test_file, select

from .conftest import BUNDLED_POLICIES, POLICIES

D = Decimal
BUNDLED_TESTS = {path.name: path.read_text().count("\n  - name: ") for path in sorted(POLICIES.glob("*.test.yaml"))}
"""Cases per bundled test file: the counts below follow the pack, so a product adding its tests breaks none."""
TOTAL = sum(BUNDLED_TESTS.values())


def banner(text: str) -> str:
    """The summary line as the report centres it in 80 columns."""
    padded = f" {text} "
    left = (80 - len(padded)) // 2
    return "=" * left + padded + "=" * (80 - len(padded) - left) + "\n"


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the bundled policies and their tests, to edit, as `policies` in the current folder."""
    shutil.copytree(POLICIES, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    return Path("policies")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


# --- the bundled tests ------------------------------------------------------------------------------------------


def test_the_bundled_policy_tests_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """`policy-engine test` in the repository: every bundled case passes, pytest-like output, exit 0."""
    monkeypatch.chdir(POLICIES.parent)
    files = "".join(f"policies/{name} {'.' * count}\n" for name, count in BUNDLED_TESTS.items())
    assert run("test") == (0, files + "\n" + banner(f"{TOTAL} passed, 0 failed"), "")


def test_every_seed_example_has_a_bundled_test() -> None:
    """Examples A, B, C (seed 003) and the top-up and published LTV examples (seed 000) are policy tests."""
    names = []
    for path in sorted(POLICIES.glob("*.test.yaml")):
        cases, problems = read_test_file(path.read_text(), file=str(path))
        assert problems == []
        names += [case.name for case in cases]
    assert {
        "margin-A-before-the-drop",
        "margin-A-regular",
        "margin-B-takeover",
        "margin-C-regular-then-takeover",
        "loan-seed-top-up",
        "loan-published-ltv",
    } <= set(names)


def test_verbose_lists_each_test(pack: Path) -> None:
    """`-v` prints a PASS or FAIL line per test instead of the dots."""
    assert run("test", "-v", "-k", "loan") == (
        0,
        "PASS policies/crypto-loans.test.yaml::loan-seed-top-up\n"
        "PASS policies/crypto-loans.test.yaml::loan-published-ltv\n"
        "PASS policies/crypto-loans.test.yaml::loan-empty-spot-wallet\n"
        "PASS policies/crypto-loans.test.yaml::loan-short-spot-wallet\n"
        "\n" + banner(f"4 passed, 0 failed, {TOTAL - 4} deselected"),
        "",
    )


# --- test files are not policies ---------------------------------------------------------------------------------


def test_the_loader_skips_test_files_in_a_folder() -> None:
    """Loading the folder loads the policies; the `.test.yaml` files beside them are not read as policies."""
    assert any(POLICIES.glob("*.test.yaml"))
    assert sorted(ref.file for ref in policy_engine.load(POLICIES).policies) == [
        f"policies/{path.name}" for path in BUNDLED_POLICIES
    ]


def test_a_test_file_named_as_a_policy_says_what_it_is() -> None:
    """`validate x.test.yaml` says it is a policy test and how to run it, not "unknown kind"."""
    test_file = POLICIES / "margin-trading.test.yaml"
    assert run("validate", str(test_file)) == (
        1,
        "",
        f"{test_file}: $: a policy test file, not a policy; run it with `policy-engine test`\n1 problem found\n",
    )


# --- failures --------------------------------------------------------------------------------------------------


def test_a_tier_change_fails_the_tests_it_breaks_with_a_diff(pack: Path) -> None:
    """Lowering the 5x liquidation level to 1.05 turns example A into a margin call: the report shows the YAML lines
    that expected otherwise (-) over what the outcome has (+), and the run exits 5."""
    _edit(pack / "margin-trading.yaml", "      - leverage: 5\n        margin_call: 1.16\n        liquidation: 1.1",
          "      - leverage: 5\n        margin_call: 1.16\n        liquidation: 1.05")
    code, out, err = run("test", "-k", "margin-A-regular")
    test_file = "policies/margin-trading.test.yaml"
    assert (code, err) == (5, "")
    assert out == (
        f"{test_file} F\n"
        "\n"
        "=================================== FAILURES ===================================\n"
        f"_____________ {test_file}::margin-A-regular ______________\n"
        "A: BTC 44,000 -> ML 1.1 -> regular liquidation; sell 9.09090909 BTC for the debt, fee 0.18181818 BTC"
        " (8,000 USDC), 0.72727273 BTC left.\n"
        "\n"
        f"{test_file}:38:11: $.tests[1].rule: another rule decided\n"
        "- 38 |     rule: liquidation\n"
        "+    |     rule: margin_call\n"
        f"{test_file}:40:15: $.tests[1].expect.status: not the same text\n"
        "- 40 |       status: liquidation\n"
        "+    |       status: margin_call\n"
        f"{test_file}:41:21: $.tests[1].expect.notification: not the same text\n"
        "- 41 |       notification: liquidation_call\n"
        "+    |       notification: margin_call\n"
        f"{test_file}:44:7: $.tests[1].expect.liquidation: expected a mapping\n"
        "- 44 |       liquidation:\n"
        "- 45 |         method: regular\n"
        "- 46 |         fee_value: 8000\n"
        "- 47 |         sales:\n"
        "- 48 |           - {asset: BTC, quantity: 9.09090909, purpose: debt}\n"
        "- 49 |           - {asset: BTC, quantity: 0.18181818, purpose: fee}\n"
        "- 50 |         debt_repaid: 400000\n"
        "- 51 |         debt_remaining: 0\n"
        "- 52 |         returned:\n"
        "- 53 |           - {asset: BTC, quantity: 0.72727273}\n"
        "+    |       liquidation: null\n"
        "\n" + banner(f"0 passed, 1 failed, {TOTAL - 1} deselected")
    )


def test_flow_style_and_missing_keys_in_the_diff(pack: Path) -> None:
    """A value inside a flow mapping is shown under its key; a key the outcome lacks gets a did-you-mean."""
    test_file = pack / "margin-trading.test.yaml"
    _edit(test_file, "          - {event: fee, value: 8000, cash_after: 27000}",
          "          - {event: fee, value: 8000, cash_after: 27001}")
    _edit(test_file, "      takeover_proceeds: 435000\n", "      takeover_procceds: 435000\n")
    code, out, _ = run("test", str(test_file), "-k", "B-takeover")
    assert code == 5
    assert out.split("\n\n")[2].splitlines() == [
        f"{test_file}:73:28: $.tests[2].expect.liquidation.takeover_procceds: no `takeover_procceds` here;"
        " did you mean `takeover_proceeds`?",
        "- 73 |         takeover_procceds: 435000",
        "+    |         (no `takeover_procceds` in the outcome)",
        f"{test_file}:78:51: $.tests[2].expect.liquidation.steps[2].cash_after: not the same number",
        "- 78 |           - {event: fee, value: 8000, cash_after: 27001}",
        "+    |                                       cash_after: 27000.00",
    ]


def test_an_account_problem_is_shown_at_its_line_in_the_test_file(pack: Path) -> None:
    """A case whose account is invalid fails, its problem placed on the account's line in the test file."""
    test_file = pack / "crypto-loans.test.yaml"
    _edit(test_file, "      spot_balances: {BTC: 0.001}", "      spot_balances: {BTC: -1}")
    code, out, _ = run("test", str(test_file), "-k", "short")
    assert code == 5
    assert out.split("\n\n")[2].splitlines() == [
        f"the decision failed at {test_file}:73:",
        f"{test_file}:82:28: $.tests[3].account.spot_balances.BTC: expected a decimal number >= 0, at most 1e60"
        ' (a string such as "12.5", or a JSON number), got number -1',
    ]


def test_an_expression_failing_in_a_case_is_a_failed_test(pack: Path) -> None:
    """A derived figure dividing by the liabilities fails the no-debt case (division by zero); others pass."""
    _edit(pack / "margin-trading.yaml", "expression: total_asset_value - total_liability_value",
          "expression: total_asset_value / total_liability_value")
    code, out, _ = run("test", "-k", "B-takeover or levels or no-debt")
    assert code == 5
    assert out.splitlines()[0] == "policies/margin-trading.test.yaml ..F"
    assert out.splitlines()[-1].strip("= ") == f"2 passed, 1 failed, {TOTAL - 3} deselected"
    assert "`total_asset_value / total_liability_value` failed with DivisionByZero" in out


def test_json_report(pack: Path) -> None:
    """`--format json`: counts and each case with its mismatches, expected and actual as the decision JSON writes."""
    _edit(pack / "crypto-loans.test.yaml", "      ltv_compared: 0.6971", "      ltv_compared: 0.6972")
    code, out, _ = run("test", "-k", "loan-published", "--format", "json")
    test_file = "policies/crypto-loans.test.yaml"
    assert code == 5
    assert json.loads(out) == {
        "passed": 0,
        "failed": 1,
        "deselected": TOTAL - 1,
        "tests": [
            {
                "id": f"{test_file}::loan-published-ltv",
                "file": test_file,
                "name": "loan-published-ltv",
                "line": 35,
                "passed": False,
                "mismatches": [
                    {
                        "file": test_file,
                        "line": 49,
                        "col": 21,
                        "json_path": "$.tests[1].expect.ltv_compared",
                        "message": "not the same number",
                        "expected": "0.6972",
                        "actual": "0.6971",
                    }
                ],
                "problems": [],
            }
        ],
    }


def test_a_test_file_from_stdin(pack: Path) -> None:
    """`test -` reads one test file from stdin, named `<stdin>`, against --policies."""
    text = (pack / "crypto-loans.test.yaml").read_text().replace("rule: null", "rule: margin_call")
    code, out, _ = run("test", "-", "--policies", str(pack), stdin=text)
    assert code == 5
    assert out.splitlines()[0] == "<stdin> .F.."
    assert out.split("\n\n")[2].splitlines() == [
        "<stdin>:46:11: $.tests[1].rule: another rule decided",
        "- 46 |     rule: margin_call",
        "+    |     rule: null",
    ]


# --- bad test files and selections --------------------------------------------------------------------------------


def test_every_problem_of_every_test_file_at_once(pack: Path) -> None:
    """Schema problems and a name used twice, in two files, all reported before anything runs: exit 2."""
    _edit(pack / "crypto-loans.test.yaml", "    rule: null\n", "")
    _edit(pack / "margin-trading.test.yaml", "  - name: margin-B-takeover", "  - name: margin-A-regular")
    code, out, err = run("test")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "policies/crypto-loans.test.yaml:35:5: $.tests[1]: missing required key `rule`",
        "policies/margin-trading.test.yaml:55:11: $.tests[2].name: the name `margin-A-regular` is also the name of"
        " test 2; give each test its own",
        "2 problems found",
    ]


def test_a_folder_without_tests_and_a_k_selecting_none(tmp_path: Path) -> None:
    """No test files is exit 2 naming the folder; so is a -k that leaves nothing to run."""
    shutil.copy(POLICIES / "margin-trading.yaml", tmp_path)
    assert run("test", str(tmp_path)) == (
        2, "", f"{tmp_path}: $: no policy tests (*.test.yaml, *.test.yml) in this folder\n1 problem found\n")
    assert run("test", str(POLICIES), "-k", "options") == (
        2, "", f"-k: $: no test matches 'options'; {TOTAL} deselected\n1 problem found\n")


def test_a_malformed_k_expression_is_an_input_error() -> None:
    """`-k "margin and"` says what it expected."""
    assert run("test", str(POLICIES), "-k", "margin and") == (
        2, "", "-k: $: -k 'margin and': expected a name, got the end\n1 problem found\n")


def _ids(*names: str) -> list[Any]:
    cases, _ = read_test_file(
        "tests:\n" + "".join(
            f"  - {{name: {name}, as_of: 2026-01-01, account: {{}}, rule: null, expect: {{}}}}\n" for name in names
        ),
        file="x.test.yaml",
    )
    return cases


@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("margin", ["margin-a", "margin-b", "margin-c"]),
        ("MARGIN-B", ["margin-b"]),
        ("not margin", ["loan-1"]),
        ("margin and not b or loan", ["margin-a", "margin-c", "loan-1"]),
        ("margin and (b or loan)", ["margin-b"]),
        ("not (-a or -b) and not loan", ["margin-c"]),
    ],
)
def test_k_selects_like_pytest(expression: str, kept: list[str]) -> None:
    """Words are case-insensitive substrings of FILE::NAME; `not` binds tightest, then `and`, then `or`."""
    selected, deselected = select(_ids("margin-a", "margin-b", "margin-c", "loan-1"), expression)
    assert ([case.name for case in selected], deselected) == (kept, 4 - len(kept))


# --- the subset match ----------------------------------------------------------------------------------------------


def _found(expected: Any, actual: Any) -> list[tuple[Any, ...]]:
    return [(m.path, m.message) for m in matches(expected, actual)]


def test_a_mapping_checks_only_the_keys_it_names() -> None:
    """Keys left out are not checked; nested mappings are subsets too."""
    assert _found({"a": {"b": D(1)}}, {"a": {"b": "1", "c": "x"}, "d": "y"}) == []


def test_numbers_match_by_value_strings_by_text() -> None:
    """`1.1` matches "1.10000000"; the string "1.1" does not; a number never matches a word or a boolean."""
    assert _found({"x": D("1.1")}, {"x": "1.10000000"}) == []
    assert _found({"x": "1.1"}, {"x": "1.10000000"}) == [(("x",), "not the same text")]
    assert _found({"x": D(1)}, {"x": "one"}) == [(("x",), "not the same number")]
    assert _found({"x": 1}, {"x": True}) == [(("x",), "not the same number")]
    assert _found({"x": D(0)}, {"x": "NaN"}) == [(("x",), "not the same number")]


def test_null_and_booleans_match_only_themselves() -> None:
    """null is not 0 or an empty text; false is not 0."""
    assert _found({"a": None, "b": False}, {"a": None, "b": False}) == []
    assert _found({"a": None, "b": False}, {"a": "0", "b": 0}) == [(("a",), "not the same"), (("b",), "not the same")]


def test_lists_match_item_by_item_with_the_same_length() -> None:
    """A list states every item; each item may be a subset mapping."""
    actual = {"xs": [{"a": "1", "b": "2"}, {"a": "3"}]}
    assert _found({"xs": [{"a": 1}, {"a": 3}]}, actual) == []
    assert _found({"xs": [{"a": 1}]}, actual) == [(("xs",), "expected 1 items, got 2 items")]
    assert _found({"xs": [{"a": 1}, {"a": 4}]}, actual) == [(("xs", 1, "a"), "not the same number")]


def test_a_missing_key_is_named_with_the_closest_one() -> None:
    """The mismatch for a key the outcome lacks carries no actual value and suggests the nearest key."""
    (mismatch,) = matches({"statsu": "ok"}, {"status": "ok", "rule": None})
    assert (mismatch.actual, mismatch.message) == (MISSING, "no `statsu` here; did you mean `status`?")
