"""The README's "Writing a product" example is real: its files are written out, loaded and run here."""

from __future__ import annotations

import importlib
import json
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import policy_engine
from policy_engine.explain import explain
from policy_engine.product import Product
from policy_engine.registry import discovered

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
    """The README's files written under tmp_path, and its product module imported from there."""
    for name, text in FILE_BLOCK.findall(_section()):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module("credit_line")
    yield module
    sys.modules.pop("credit_line", None)


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


def test_example_output_is_what_the_readme_shows(credit_line: ModuleType, tmp_path: Path) -> None:
    """Loaded next to the bundled products, the example account gives the explanation printed in the README."""
    command, shown = TEXT_BLOCK.findall(_section())[0]
    assert command == "policy-engine evaluate account.json --policies policies --as-of 2026-03-01 --format text"
    products = [*discovered().by_policy_kind.values(), credit_line.PRODUCT]
    engine = policy_engine.load(tmp_path / "policies", products=products)
    account = json.loads((tmp_path / "account.json").read_text())
    decision = engine.evaluate(account, "2026-03-01")
    assert explain(json.loads(decision.to_json()), credit_line.PRODUCT) == shown
    assert decision.outcome["status"] == "warning"
