"""`validate` goes as far as it can in every file (issue 16, item 3): one run lists what took three before."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from policy_engine.cli import main

from .conftest import BUNDLED_POLICIES, POLICIES


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _pack(tmp_path: Path) -> Path:
    """A copy of the bundled policies (without their tests), to break."""
    folder = tmp_path / "policies"
    folder.mkdir()
    for path in BUNDLED_POLICIES:
        shutil.copy(path, folder / path.name)
    return folder


def _edit(path: Path, *replacements: tuple[str, str]) -> None:
    text = path.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)


def test_schema_problems_do_not_hide_the_expression_problems_of_valid_parts(tmp_path: Path) -> None:
    """An unknown key and two broken expressions elsewhere in the same file: all three in one run (before, only
    the unknown key; the expressions came after fixing it)."""
    folder = _pack(tmp_path)
    margin = folder / "margin-trading.yaml"
    _edit(
        margin,
        ("default_status: ok\n", "default_status: ok\nbogus_key: 1\n"),
        ("expression: total_asset_value - total_liability_value", "expression: total_asset_value - nosuchname"),
        ("    when: margin_level <= margin_call_level", "    when: margin_level <="),
    )
    assert run("validate", str(folder)) == (
        1,
        "",
        f"{margin}:68:11: $.rules[1].when: invalid expression: invalid syntax\n"
        f"{margin}:72:1: $.bogus_key: unknown key\n"
        f"{margin}:77:17: $.derived[0].expression: at column 21 of `total_asset_value - nosuchname`:"
        " unknown name `nosuchname`\n"
        "3 problems found\n",
    )


def test_a_problem_the_schema_reports_is_not_reported_again_by_the_product(tmp_path: Path) -> None:
    """A `when` the schema refuses (empty) is one problem, not the schema's plus the expression compiler's; the
    other rule's broken expression is still found."""
    folder = _pack(tmp_path)
    margin = folder / "margin-trading.yaml"
    _edit(
        margin,
        ("when: margin_level <= liquidation_level", 'when: ""'),
        ("    when: margin_level <= margin_call_level", "    when: margin_level <= nosuchlevel"),
    )
    code, out, err = run("validate", str(folder))
    assert (code, out, err.splitlines()) == (
        1,
        "",
        [
            f"{margin}:64:11: $.rules[0].when: expected a boolean expression over margin_level, the tier's"
            " thresholds and the derived figures, got an empty string",
            f"{margin}:68:11: $.rules[1].when: at column 17 of `margin_level <= nosuchlevel`: unknown name"
            " `nosuchlevel`",
            "2 problems found",
        ],
    )


def test_a_file_failing_its_schema_still_takes_part_in_the_version_checks(tmp_path: Path) -> None:
    """A second file with the same id and version and an unknown key: both problems at once."""
    folder = _pack(tmp_path)
    second = folder / "margin-trading-copy.yaml"
    second.write_text((folder / "margin-trading.yaml").read_text().replace("default_status: ok\n",
                                                                           "default_status: ok\nbogus_key: 1\n"))
    first = folder / "margin-trading.yaml"
    code, _, err = run("validate", str(folder))
    assert (code, err.splitlines()) == (
        1,
        [
            f"{second}:72:1: $.bogus_key: unknown key",
            f"{first}:8:10: $.version: version 1 of `spot-margin` is also defined in {second}",
            f"{first}:9:17: $.effective_from: another version of `spot-margin` takes effect at the same instant,"
            f" in {second}",
            "3 problems found",
        ],
    )


def test_invalid_yaml_in_one_file_hides_neither_schema_nor_lint_problems_of_another(tmp_path: Path) -> None:
    """futures.yaml is not YAML; margin-trading.yaml has an unknown key in one copy of the pack and, in another,
    an asset the collateral policy does not list (a lint across files).  Both are reported beside the YAML
    problem: the broken file names its kind, so only that kind's lint across files waits for it."""
    folder = _pack(tmp_path)
    futures = folder / "futures.yaml"
    _edit(futures, ("\nid:", "\n  id:"))
    margin = folder / "margin-trading.yaml"
    original = margin.read_text()
    yaml_problem = (
        f"{futures}:8:5: $: invalid YAML: line 8 is indented more than the line above, which already has a value;"
        " expected its key at column 1, as the key above; did you mean `id: usds-m-futures`?"
    )

    _edit(margin, ("default_status: ok\n", "default_status: ok\nbogus_key: 1\n"))
    assert run("validate", str(folder))[2].splitlines() == [
        yaml_problem, f"{margin}:72:1: $.bogus_key: unknown key", "2 problems found"]

    margin.write_text(original)
    _edit(margin, ("  SUPER:\n", "  DOGE:\n    precision: 8\n    liquidity: liquid\n  SUPER:\n"))
    code, _, err = run("validate", str(folder))
    assert (code, err.splitlines()) == (
        1,
        [
            yaml_problem,
            f"{margin}:104:3: $.assets.DOGE: `DOGE` has no entry in the `assets` of collateral policy"
            " `margin-collateral` version 1 (policies/collateral.yaml), which is in force while this version"
            " is, and that policy has no `unlisted` entry; list the asset there, or say what an unlisted asset gets",
            "2 problems found",
        ],
    )


def test_invalid_yaml_naming_no_known_kind_still_holds_back_every_lint_across_files(tmp_path: Path) -> None:
    """A broken file whose kind cannot be read may be of any kind: the lint across files waits, as before."""
    folder = _pack(tmp_path)
    broken = folder / "zz-broken.yaml"
    broken.write_text("kind: [margin-trading\n")
    margin = folder / "margin-trading.yaml"
    _edit(margin, ("  SUPER:\n", "  DOGE:\n    precision: 8\n    liquidity: liquid\n  SUPER:\n"))
    code, _, err = run("validate", str(folder))
    assert (code, len(err.splitlines()), "DOGE" in err) == (1, 2, False)


def test_the_bundled_pack_still_validates() -> None:
    """The partial pass finds nothing in valid policies (it never runs on them)."""
    code, out, err = run("validate", str(POLICIES))
    assert (code, err) == (0, "")
    assert out.count("ok  ") == len(BUNDLED_POLICIES)


def test_a_duplicate_key_does_not_hide_the_schema_problems_of_its_file(tmp_path: Path) -> None:
    """A key given twice and an unknown key in one file: both in one run (before, only the duplicate; the
    unknown key came after fixing it). Nothing is compiled from a file with a duplicate key."""
    folder = _pack(tmp_path)
    margin = folder / "margin-trading.yaml"
    _edit(
        margin,
        ("version: 1\n", "version: 1\nversion: 2\n"),
        ("default_status: ok\n", "default_status: ok\nbogus_key: 1\n"),
    )
    code, out, err = run("validate", str(folder))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{margin}:9:1: $.version: duplicate key `version` (first defined on line 8)",
        f"{margin}:73:1: $.bogus_key: unknown key",
        "2 problems found",
    ]


def test_a_duplicate_key_alone_is_still_refused(tmp_path: Path) -> None:
    folder = _pack(tmp_path)
    margin = folder / "margin-trading.yaml"
    _edit(margin, ("version: 1\n", "version: 1\nversion: 1\n"))
    code, out, err = run("validate", str(folder))
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{margin}:9:1: $.version: duplicate key `version` (first defined on line 8)",
        "1 problem found",
    ]
