"""`init`, `schema` and the default policy folder: the package works without this repository's folders."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

import policy_engine
from policy_engine.cli import main

from .conftest import AS_OF, BUNDLED_POLICIES, EXAMPLES, POLICIES, ROOT, bundled_schema_names, validate_ok_lines


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _pack_files() -> list[str]:
    """What init writes: the bundled pack, every schema, the examples (the repository's own files)."""
    policies = sorted(
        f"policies/{path.relative_to(POLICIES).as_posix()}" for path in POLICIES.rglob("*.y*ml") if path.is_file()
    )
    schemas = sorted(f"schemas/{path.name}" for path in (ROOT / "schemas").glob("*.json"))
    examples = sorted(f"examples/{path.name}" for path in EXAMPLES.iterdir() if path.is_file())
    return [*policies, *schemas, *examples]


_SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def test_init_writes_the_starter_pack_and_how_to_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`init DIR` writes policies (with their tests), schemas and examples, one line each, then the next commands."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run("init", "pack")
    files = _pack_files()
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        *(f"wrote pack/{file}" for file in files),
        "next: cd pack && policy-engine validate && policy-engine test"
        " && policy-engine evaluate examples/margin-a-regular.json --format text",
    ]
    for file in files:  # the schemas and examples byte for byte; policies up to their $schema line
        if not file.startswith("policies/"):
            assert (tmp_path / "pack" / file).read_bytes() == (ROOT / file).read_bytes(), file


def test_every_schema_line_of_the_pack_resolves_to_the_schema_of_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each YAML file's `$schema` path, taken relative to the file, names a written schema of the right kind."""
    monkeypatch.chdir(tmp_path)
    assert run("init", "pack")[0] == 0
    yaml_files = sorted((tmp_path / "pack" / "policies").rglob("*.yaml"))
    assert yaml_files
    for path in yaml_files:
        match = _SCHEMA_LINE.search(path.read_text())
        assert match is not None, path
        schema = json.loads((path.parent / match.group(1)).read_text())
        expected = "policy-test" if path.name.endswith(".test.yaml") else re.search(
            r"^kind: (\S+)$", path.read_text(), re.MULTILINE
        ).group(1)  # type: ignore[union-attr]  # every policy names its kind
        assert schema["$id"].endswith(f"/{expected}.schema.json"), path


def test_the_pack_validates_and_decides_from_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the written pack, `validate`, `test` and `evaluate` need no --policies: they read ./policies."""
    assert run("init", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    code, out, err = run("validate")
    assert (code, err) == (0, "")
    assert out == validate_ok_lines()
    code, out, err = run("test")
    cases = sum(path.read_text().count("\n  - name: ") for path in POLICIES.glob("*.test.yaml"))
    assert (code, err, out.splitlines()[-1].strip("= ")) == (0, "", f"{cases} passed, 0 failed")
    code, out, err = run("evaluate", "examples/margin-a-regular.json", "--as-of", AS_OF)
    expected = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES), "--as-of", AS_OF)
    assert (code, out, err) == expected  # the same decision, sha256 and cited file included
    assert json.loads(out)["outcome"]["status"] == "liquidation"


def test_init_overwrites_nothing_unless_forced(tmp_path: Path) -> None:
    """A second `init` lists every file in the way and writes nothing; `--force` writes them again."""
    assert run("init", str(tmp_path))[0] == 0
    edited = tmp_path / "policies" / "margin-trading.yaml"
    edited.write_text("kind: margin-trading\n")
    code, out, err = run("init", str(tmp_path))
    files = _pack_files()
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        *(
            f"{tmp_path / file}: $: the file exists; init writes nothing over an existing file (--force overwrites)"
            for file in sorted(files)
        ),
        f"{len(files)} problems found",
    ]
    assert edited.read_text() == "kind: margin-trading\n"
    assert run("init", str(tmp_path), "--force")[0] == 0
    assert edited.read_bytes() == (POLICIES / "margin-trading.yaml").read_bytes()


def test_a_failed_init_takes_back_what_it_wrote(tmp_path: Path) -> None:
    """A write that fails midway is exit 2 naming the path, not a traceback; the files written before are removed."""
    (tmp_path / "schemas").write_text("a file where the schemas folder goes")
    code, out, err = run("init", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"{tmp_path / 'schemas'}: $: cannot write the pack: File exists\n1 problem found\n"
    assert [path for path in (tmp_path / "policies").rglob("*") if path.is_file()] == []


def test_schema_lists_every_schema_with_what_it_checks() -> None:
    """`schema` alone lists the names `schema NAME` takes: every bundled schema, with what it checks."""
    names = bundled_schema_names()
    code, out, err = run("schema")
    assert (code, err) == (0, "")
    width = max(map(len, names))
    listed = [(line[:width].rstrip(), line[width:].strip()) for line in out.splitlines()]
    assert [name for name, _ in listed] == names
    described = dict(listed)
    for name in names:
        if name.endswith(".account"):
            assert described[name] == f"accounts of kind {name.removesuffix('.account')}"
        elif name not in ("policy-envelope", "policy-test"):
            assert described[name] == f"policies of kind {name}"
    assert described["policy-envelope"] == "every policy document: kind, id, version, effective_from"
    assert described["policy-test"] == "policy test files (*.test.yaml)"


def test_schema_prints_one_and_writes_them_all(tmp_path: Path) -> None:
    """`schema NAME` prints the schema file; `schema --out DIR` writes every one, byte for byte."""
    code, out, _ = run("schema", "spot-margin.account")
    assert (code, out) == (0, (ROOT / "schemas" / "spot-margin.account.schema.json").read_text())
    code, out, _ = run("schema", "--out", str(tmp_path / "schemas"))
    names = sorted(path.name for path in (ROOT / "schemas").glob("*.json"))
    assert (code, sorted(out.splitlines())) == (0, sorted(f"wrote {tmp_path / 'schemas' / name}" for name in names))
    for name in names:
        assert (tmp_path / "schemas" / name).read_bytes() == (ROOT / "schemas" / name).read_bytes()


def test_an_unknown_schema_name_lists_the_names() -> None:
    """A misspelt name is exit 2 with the names there are and the closest one."""
    assert run("schema", "spot-margin") == (
        2,
        "",
        f"schema: $: no schema named `spot-margin`; expected one of {', '.join(bundled_schema_names())};"
        " did you mean `spot-margin.account`?\n1 problem found\n",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("evaluate", str(EXAMPLES / "margin-a-regular.json")),
        ("simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(EXAMPLES / "loan-prices.csv")),
        ("population", "--count", "1"),
    ],
    ids=["evaluate", "simulate", "population"],
)
def test_without_a_policies_folder_the_error_says_how_to_start(
    argv: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --policies and no ./policies: exit 1 naming the default, `init` and --policies."""
    monkeypatch.chdir(tmp_path)
    assert run(*argv) == (
        1,
        "",
        "policies: $: no folder `policies` here, the default place for policies; write a starter pack with"
        " `policy-engine init`, or pass --policies PATH\n1 problem found\n",
    )


def test_validate_without_a_policies_folder_says_how_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`validate` with no path and no ./policies names `init` and the paths it takes."""
    monkeypatch.chdir(tmp_path)
    assert run("validate") == (
        1,
        "",
        "policies: $: no folder `policies` here, the default place for policies; write a starter pack with"
        " `policy-engine init`, or pass the policy files or folders to check\n1 problem found\n",
    )


def test_the_bundled_pack_loads_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`load(policy_engine.BUNDLED)` needs no folder of the user's, and cites the pack as `policies/...`."""
    monkeypatch.chdir(tmp_path)
    engine = policy_engine.load(policy_engine.BUNDLED)
    assert sorted(ref.file for ref in engine.policies) == [f"policies/{path.name}" for path in BUNDLED_POLICIES]
