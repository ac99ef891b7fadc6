"""Messages issue 16 (item 4) found wanting: YAML syntax, account lines, paths as given, the `$schema` line."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from policy_engine.cli import main
from policy_engine.loader import parse_yaml

from .conftest import AS_OF, BUNDLED_POLICIES, EXAMPLES, POLICIES


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _pack(folder: Path) -> Path:
    """A copy of the bundled policies (without their tests) in `folder`/policies, with the schemas beside it."""
    policies = folder / "policies"
    policies.mkdir(parents=True)
    for path in BUNDLED_POLICIES:
        shutil.copy(path, policies / path.name)
    shutil.copytree(POLICIES.parent / "schemas", folder / "schemas")
    return policies


# --- YAML syntax in the house style ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "margin_level:\n    places: 8\n  rounding: ROUND_HALF_EVEN\n",
            "f.yaml:3:3: $: invalid YAML: bad indentation: expected a key at column 5 (as the line above) or 1 (as"
            " in the mapping from line 1), got column 3; indent it as one of them, or the line above as this one",
        ),
        (
            "rules:\n  - id: a\n  status: ok\n",
            "f.yaml:3:3: $: invalid YAML: bad indentation: expected a list item `- ` at column 3 (as in the list"
            " from line 2), or a line indented less to end it; got a key at column 3",
        ),
        (
            "a:\n  b: 1\nc: 2\n- d\n",
            "f.yaml:4:1: $: invalid YAML: bad indentation: expected a key at column 1 (as in the mapping from"
            " line 1), or a line indented less to end it; got a list item at column 1",
        ),
        (
            "kind: margin-trading\n  id: spot-margin\n",
            "f.yaml:2:5: $: invalid YAML: line 2 is indented more than the line above, which already has a value;"
            " expected its key at column 1, as the key above; did you mean `id: spot-margin`?",
        ),
        (
            "a:\n\tb: 1\n",
            "f.yaml:2:1: $: invalid YAML: a tab character; YAML indents with spaces, never tabs;"
            " did you mean `  b: 1`?",
        ),
        (
            "a: 1\nb\nc: 2\n",
            "f.yaml:3:1: $: invalid YAML: expected `key: value` on line 2, got `b` with no `:`",
        ),
        (
            "a: {b: 1\n",
            "f.yaml:2:1: $: invalid YAML: expected `,` or `}` in the `{` opened on line 1, column 4;"
            " got the end of the file",
        ),
    ],
    ids=["dedent-to-no-column", "key-among-list-items", "list-item-in-a-mapping", "over-indented-key", "tab",
         "key-without-colon", "unclosed-brace"],
)
def test_yaml_syntax_problems_say_what_was_expected_and_found(text: str, expected: str) -> None:
    """PyYAML's parser words (`expected <block end>, but found '?'`) become what was expected and found."""
    document, problems = parse_yaml(text, file="f.yaml")
    assert (document, [str(problem) for problem in problems]) == (None, [expected])


def test_a_bad_indent_in_a_policy_is_reported_by_validate(tmp_path: Path) -> None:
    """The issue's case, through the command line: `places` indented two more than `rounding` below it."""
    policy = tmp_path / "margin.yaml"
    policy.write_text((POLICIES / "margin-trading.yaml").read_text().replace("  places: 8\n", "    places: 8\n"))
    assert run("validate", str(policy)) == (
        1,
        "",
        f"{policy}:17:3: $: invalid YAML: bad indentation: expected a key at column 5 (as the line above) or 1 (as"
        " in the mapping from line 6), got column 3; indent it as one of them, or the line above as this one\n"
        "1 problem found\n",
    )


# --- account problems carry a line and a column ----------------------------------------------------------------


def test_json_account_problems_carry_line_and_column(tmp_path: Path) -> None:
    """A JSON account's problems give `file:line:col`, as policy problems do (they gave the JSON path only)."""
    account = json.loads((EXAMPLES / "margin-a-regular.json").read_text())
    del account["assets"][0]["quantity"]
    account["assets"][0]["price"] = "abc"
    path = tmp_path / "account.json"
    path.write_text(json.dumps(account, indent=2))
    assert run("evaluate", str(path), "--policies", str(POLICIES)) == (
        2,
        "",
        f"{path}:7:5: $.assets[0]: missing required key `quantity`\n"
        f"{path}:9:16: $.assets[0].price: expected a decimal number > 0, at most 1e60 (a string such as \"12.5\","
        " or a JSON number), got string 'abc'\n"
        "2 problems found\n",
    )


def test_yaml_account_problems_carry_line_and_column(tmp_path: Path) -> None:
    """The same for a YAML account, and for `simulate`."""
    path = tmp_path / "account.yaml"
    path.write_text(
        "kind: spot-margin\naccount_id: a\nmode: cross_classic\nleverage: 5\nassets:\n"
        "  - asset: BTC\n    quantity: '10'\n    price: abc\n"
        "liabilities:\n  - asset: USDC\n    principal: '400000'\n    interest: '0'\n    price: '1'\n"
    )
    message = (
        f"{path}:8:12: $.assets[0].price: expected a decimal number > 0, at most 1e60 (a string such as \"12.5\","
        " or a JSON number), got string 'abc'\n1 problem found\n"
    )
    assert run("evaluate", str(path), "--policies", str(POLICIES)) == (2, "", message)
    prices = tmp_path / "prices.csv"
    prices.write_text("timestamp,asset,price\n2026-02-01T00:00:00Z,BTC,44000\n")
    assert run("simulate", str(path), "--prices", str(prices), "--policies", str(POLICIES)) == (2, "", message)


def test_a_missing_policy_kind_is_cited_at_the_account_not_a_folder(tmp_path: Path) -> None:
    """A loan account with only the margin policies loaded from a file: the problem is the account's `kind`; it
    named a folder `policies` that was never passed."""
    code, out, err = run("evaluate", str(EXAMPLES / "loan-topup.json"), "--policies",
                         str(POLICIES / "margin-trading.yaml"), "--policies", str(POLICIES / "collateral.yaml"))
    assert (code, out, err) == (
        2,
        "",
        f"{EXAMPLES / 'loan-topup.json'}:2:11: $.kind: expected a loaded `crypto-loan` policy to decide this kind"
        " of account, got none; load one\n1 problem found\n",
    )


# --- paths shown as given ----------------------------------------------------------------------------------------


def test_a_relative_policy_folder_is_cited_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--policies ../proj/policies`: decisions, explanations and validate's lines cite
    `../proj/policies/margin-trading.yaml`, not `policies/margin-trading.yaml` (two such folders were alike)."""
    _pack(tmp_path / "proj")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    account = str(EXAMPLES / "margin-a-regular.json")
    code, out, _ = run("evaluate", account, "--as-of", AS_OF, "--policies", "../proj/policies/")
    decision = json.loads(out)
    assert (code, decision["policy"]["file"], decision["related_policies"][0]["file"]) == (
        0, "../proj/policies/margin-trading.yaml", "../proj/policies/collateral.yaml")
    assert {step["source"].rsplit(":", 1)[0] for step in decision["trace"] if "source" in step} == {
        "../proj/policies/margin-trading.yaml", "../proj/policies/collateral.yaml"}
    _, text, _ = run("evaluate", account, "--as-of", AS_OF, "--policies", "../proj/policies", "--format", "text")
    assert "Policy spot-margin version 1 (../proj/policies/margin-trading.yaml, sha256 " in text
    code, out, _ = run("validate", "../proj/policies")
    assert (code, [line.split()[1] for line in out.splitlines()]) == (
        0, [f"../proj/policies/{path.name}" for path in BUNDLED_POLICIES])


def test_the_default_folder_and_an_absolute_path_cite_policies_slash_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`./policies`, `policies/` and an absolute path all cite `policies/<file>`: the golden files stay as they
    are, and an absolute path does not make a decision's bytes depend on where the folder is."""
    folder = _pack(tmp_path)
    monkeypatch.chdir(tmp_path)
    account = str(EXAMPLES / "margin-a-regular.json")
    outputs = {
        run("evaluate", account, "--as-of", AS_OF, "--policies", given)[1]
        for given in ("policies", "./policies/", str(folder))
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop())["policy"]["file"] == "policies/margin-trading.yaml"


# --- the $schema line ----------------------------------------------------------------------------------------------


def test_a_missing_or_mismatched_schema_line_is_a_problem_with_the_line_to_paste(tmp_path: Path) -> None:
    """Deleting the `$schema` line, or pointing it at another kind's schema, no longer validates; the suggestion
    is the line to paste, pointing at the `schemas` folder beside the policies."""
    folder = _pack(tmp_path)
    margin, loans = folder / "margin-trading.yaml", folder / "crypto-loans.yaml"
    margin.write_text(margin.read_text().split("\n", 1)[1])
    loans.write_text(loans.read_text().replace("crypto-loan.schema.json", "futures-margin.schema.json", 1))
    assert run("validate", str(folder)) == (
        1,
        "",
        f"{loans}:1:33: $: expected the `$schema=` line to name crypto-loan.schema.json, the schema of this file's"
        " kind, got ../schemas/futures-margin.schema.json; did you mean"
        " `# yaml-language-server: $schema=../schemas/crypto-loan.schema.json`?\n"
        f"{margin}:1:1: $: expected a `# yaml-language-server: $schema=` line naming margin-trading.schema.json,"
        " so that editors check this file as it is typed; got none; did you mean"
        " `# yaml-language-server: $schema=../schemas/margin-trading.schema.json`?\n"
        "2 problems found\n",
    )


def test_the_schema_line_points_at_the_nearest_schemas_folder(tmp_path: Path) -> None:
    """A policy two folders below `schemas/`: the line to paste climbs two folders."""
    folder = _pack(tmp_path)
    deeper = folder / "spot" / "v1"
    deeper.mkdir(parents=True)
    margin = deeper / "margin-trading.yaml"
    (folder / "margin-trading.yaml").rename(margin)
    margin.write_text(margin.read_text().split("\n", 1)[1])
    code, _, err = run("validate", str(folder))
    assert (code, err.splitlines()[0].rsplit("; did you mean ", 1)[1]) == (
        1, "`# yaml-language-server: $schema=../../../schemas/margin-trading.schema.json`?")


def test_the_bundled_pack_and_the_starter_pack_pass_the_schema_line_check(tmp_path: Path) -> None:
    """Both packs carry the right line in every policy file."""
    assert run("validate", str(POLICIES))[0] == 0
    assert run("init", str(tmp_path / "pack"))[0] == 0
    code, _, err = run("validate", str(tmp_path / "pack" / "policies"))
    assert (code, err) == (0, "")


def test_loading_for_decisions_does_not_read_the_schema_line(tmp_path: Path) -> None:
    """The line is for editors: `evaluate` decides with a policy that lacks it."""
    folder = _pack(tmp_path)
    margin = folder / "margin-trading.yaml"
    margin.write_text(margin.read_text().split("\n", 1)[1])
    code, _, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(folder))
    assert (code, err) == (0, "")
