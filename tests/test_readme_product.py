"""The README's "Writing a product" example is real: its files are written out, loaded and run here."""

from __future__ import annotations

import importlib
import io
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import policy_engine
from policy_engine.cli import main
from policy_engine.explain import explain
from policy_engine.product import Product
from policy_engine.registry import GROUP, discovered

from .conftest import ROOT

SECTION = re.compile(r"^## Writing a product\n(.*?)^## ", re.S | re.M)
FILE_BLOCK = re.compile(r"^```\w+ (\S+)\n(.*?)^```\n", re.S | re.M)
TEXT_BLOCK = re.compile(r"^```text\n\$ (.*?)\n(.*?)^```\n", re.S | re.M)


def _section() -> str:
    found = SECTION.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found is not None, "the README has no 'Writing a product' section"
    return found.group(1)


@pytest.fixture
def credit_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The README's files written under tmp_path and installed there, as `pip install .` would declare them.

    The package's entry points go into a `*.dist-info` folder on `sys.path`, so that the engine finds the
    product exactly as it finds an installed one; the discovery cache is cleared around the test.
    """
    for name, text in FILE_BLOCK.findall(_section()):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    project = tomllib.loads((tmp_path / "pyproject.toml").read_text())["project"]
    dist = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    entries = "".join(f"{name} = {target}\n" for name, target in project["entry-points"][GROUP].items())
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{entries}")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    discovered.cache_clear()
    module = importlib.import_module("credit_line")
    yield module
    sys.modules.pop("credit_line", None)
    discovered.cache_clear()


def test_readme_lists_every_file_of_the_example() -> None:
    """The example names the module, both schemas, the package metadata, a policy and an account."""
    names = sorted(name for name, _ in FILE_BLOCK.findall(_section()))
    assert names == [
        "account.json",
        "credit_line/__init__.py",
        "credit_line/credit-line.account.schema.json",
        "credit_line/credit-line.schema.json",
        "policies/credit-line.yaml",
        "pyproject.toml",
    ]


def test_entry_point_names_the_product(credit_line: ModuleType, tmp_path: Path) -> None:
    """The package metadata declares the product under the engine's entry-point group."""
    metadata = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    declared = metadata["project"]["entry-points"]["policy_engine.products"]
    assert declared == {"credit-line": "credit_line:PRODUCT"}
    assert isinstance(credit_line.PRODUCT, Product)


def test_the_readme_command_prints_what_the_readme_shows(credit_line: ModuleType) -> None:
    """Installed through its entry point, the README's command prints the README's explanation, byte for byte."""
    command, shown = TEXT_BLOCK.findall(_section())[0]
    program, *argv = shlex.split(command)
    assert program == "policy-engine"
    assert sorted(discovered().by_policy_kind) == [
        "collateral",
        "credit-line",
        "crypto-loan",
        "futures-margin",
        "margin-trading",
    ]
    out, err = io.StringIO(), io.StringIO()
    assert (main(argv, stdout=out, stderr=err), err.getvalue()) == (0, "")
    assert out.getvalue() == shown


def test_example_output_is_what_the_readme_shows(credit_line: ModuleType, tmp_path: Path) -> None:
    """Passed to `load(products=...)` directly, the example account gives the explanation printed in the README."""
    _command, shown = TEXT_BLOCK.findall(_section())[0]
    engine = policy_engine.load(tmp_path / "policies", products=[credit_line.PRODUCT])
    account = json.loads((tmp_path / "account.json").read_text())
    decision = engine.evaluate(account, "2026-03-01")
    assert explain(json.loads(decision.to_json()), credit_line.PRODUCT) == shown
    assert decision.outcome["status"] == "warning"
