"""The bundled JSON Schemas are checked here, once, instead of in every process that loads policies."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from policy_engine import schema as schema_module
from policy_engine.schema import SCHEMA_DIR, DecimalValidator, validator_for

from .conftest import ROOT

BUNDLED = sorted(path.name for path in SCHEMA_DIR.glob("*.json"))


def test_the_bundled_schemas_are_the_ones_in_the_repository() -> None:
    """Every schema the package ships is one of the repository's `schemas/`, so the check below covers them all."""
    assert sorted(path.name for path in (ROOT / "schemas").glob("*.json")) == BUNDLED
    assert "policy-envelope.schema.json" in BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_each_bundled_schema_is_a_valid_schema(name: str) -> None:
    """`check_schema` passes on every bundled schema: a broken one fails CI, not every start of the engine."""
    DecimalValidator.check_schema(json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8")))


def test_a_bundled_schema_is_not_checked_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the validator for a bundled schema skips the meta-schema check (two thirds of a first load)."""

    def refuse(_schema: object) -> None:
        raise AssertionError("check_schema ran on a bundled schema")

    monkeypatch.setattr(schema_module.DecimalValidator, "check_schema", refuse)
    validator = validator_for.__wrapped__("spot-margin.account.schema.json")
    assert validator.is_valid({"kind": "spot-margin"}) is False


def test_a_plug_in_schema_given_by_path_is_still_checked(tmp_path: Path) -> None:
    """A product from another package names its schema by `Path`; a broken one is refused when first used."""
    broken = tmp_path / "broken.schema.json"
    broken.write_text(json.dumps({"type": "objet"}), encoding="utf-8")
    with pytest.raises(jsonschema.SchemaError) as refused:
        validator_for.__wrapped__(broken)
    assert refused.value.message.startswith("'objet' is not valid under any of the given schemas")
