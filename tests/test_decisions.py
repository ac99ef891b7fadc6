"""Decisions: deterministic bytes, traceable numbers, exact decimals, and the decision log."""

from __future__ import annotations

import decimal
import hashlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policy_engine
from policy_engine import Engine
from policy_engine.decision import canonical_json

from .conftest import AS_OF, POLICIES, ROOT, example, margin_account

SCHEMAS = ROOT / "schemas"


def test_same_input_gives_byte_identical_json(engine: Engine) -> None:
    """Two evaluations of equal inputs, even from fresh engines, serialise to the same bytes."""
    first = engine.evaluate(example("margin-c-regular-then-takeover.json"), AS_OF).to_json()
    second = policy_engine.load(POLICIES).evaluate(example("margin-c-regular-then-takeover.json"), AS_OF).to_json()
    assert first == second
    assert first.endswith("\n")


def test_decision_carries_policy_identity(engine: Engine) -> None:
    """The decision names the policy id, version and the sha256 of the file's bytes."""
    decision = engine.evaluate(example("margin-a-regular.json"))
    expected = hashlib.sha256((POLICIES / "margin-trading.yaml").read_bytes()).hexdigest()
    assert (decision.policy.id, decision.policy.version, decision.policy.sha256) == ("spot-margin", 1, expected)
    assert decision.to_dict()["input_sha256"] == decision.input_sha256


def test_every_cited_parameter_points_at_its_yaml_line(engine: Engine) -> None:
    """Each policy value in the trace cites a `file:line` whose line holds that value."""
    lines = (POLICIES / "margin-trading.yaml").read_text().splitlines()
    trace = engine.evaluate(example("margin-b-takeover.json")).to_dict()["trace"]
    cited: list[dict[str, Any]] = [p for step in trace for p in step.get("parameters", [])]
    comparisons = [step["comparison"]["right"] for step in trace if "comparison" in step]
    assert {c["name"] for c in cited} >= {"margin_call_level", "liquidation_level", "fee_rate"}
    for parameter in cited + comparisons:
        file, line = parameter["source"].rsplit(":", 1)
        assert file == "policies/margin-trading.yaml"
        key = parameter["path"].rsplit(".", 1)[-1]
        assert lines[int(line) - 1].strip() in (f"{key}: {parameter['value']}", f"- {key}: {parameter['value']}")


def test_comparison_shows_raw_compared_operator_and_threshold(engine: Engine) -> None:
    """A rule step records the raw value, the rounded value compared, the operator and the threshold."""
    trace = engine.evaluate(example("margin-c-regular-then-takeover.json")).to_dict()["trace"]
    (rule,) = [step for step in trace if step["step"] == "rule:liquidation"]
    assert rule["comparison"] == {
        "left": {"name": "margin_level", "raw": "1.100000000375", "compared": "1.10000000",
                 "rounding": "8 places, ROUND_HALF_EVEN"},
        "operator": "<=",
        "right": {"name": "liquidation_level", "value": "1.1",
                  "path": "$.modes.cross_classic.leverages[1].liquidation",
                  "source": "policies/margin-trading.yaml:33"},
        "result": True,
    }


def test_floats_are_refused_in_accounts(engine: Engine) -> None:
    """A binary float in an account is an error naming the field, never silently rounded."""
    account = margin_account(assets=[("BTC", "10", "44000")])
    account["assets"][0]["price"] = 44000.1
    with pytest.raises(policy_engine.AccountError) as raised:
        engine.evaluate(account)
    assert [str(p) for p in raised.value.problems] == [
        "account: $.assets[0].price: expected a string or a number, got binary float 44000.1"
        " (floats are inexact; use a string or Decimal)"]


def test_serialiser_refuses_floats() -> None:
    """canonical_json raises on a float instead of writing an inexact number."""
    with pytest.raises(TypeError, match=r"float 0\.1 in a decision"):
        canonical_json({"x": 0.1})


def test_callers_decimal_context_does_not_change_decisions(engine: Engine) -> None:
    """The engine computes in its own decimal context."""
    expected = engine.evaluate(example("margin-c-regular-then-takeover.json"), AS_OF).to_json()
    with decimal.localcontext() as context:
        context.prec = 6
        context.rounding = decimal.ROUND_FLOOR
        assert engine.evaluate(example("margin-c-regular-then-takeover.json"), AS_OF).to_json() == expected


def test_library_decision_log_to_a_stream() -> None:
    """`load(decision_log=stream)` writes one JSON line per decision to that stream."""
    stream = io.StringIO()
    engine = policy_engine.load(POLICIES, decision_log=stream)
    engine.evaluate(example("margin-a-regular.json"))
    engine.evaluate(example("margin-b-takeover.json"))
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["event"], r["account_id"], r["status"]) for r in records] == [
        ("decision", "user-a", "liquidation"), ("decision", "user-b", "liquidation")]
    assert records[0]["decision_id"] != records[1]["decision_id"]


def _properties(schema: Any, path: str = "$") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            found.append((f"{path}.{name}", sub))
        for key, sub in schema.items():
            if key != "description":
                found += _properties(sub, f"{path}.{key}")
    elif isinstance(schema, list):
        for index, sub in enumerate(schema):
            found += _properties(sub, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("schema_file", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_schemas_are_2020_12_with_id_and_descriptions(schema_file: Path) -> None:
    """Each schema declares draft 2020-12 and an $id, and every property has a description."""
    schema = json.loads(schema_file.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(schema_file.name)
    undocumented = [path for path, sub in _properties(schema) if "description" not in sub]
    assert undocumented == []


@pytest.mark.parametrize("policy_file", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_policies_point_editors_at_their_schema(policy_file: Path) -> None:
    """The first line tells yaml-language-server which schema to use, and the schema exists."""
    first = policy_file.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=../schemas/")
    assert (POLICIES / first.split("$schema=", 1)[1]).resolve().is_file()


prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(200000), places=2)
quantities = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(1000), places=8)


# The monotonicity and ledger-balance properties live in test_properties.py, on strategies that reach
# every status and every liquidation method.


@settings(max_examples=100, deadline=None)
@given(quantity=quantities, price=prices, debt=st.decimals(min_value=Decimal(0), max_value=Decimal(10**6), places=2))
def test_evaluation_is_deterministic(engine: Engine, quantity: Decimal, price: Decimal, debt: Decimal) -> None:
    """Evaluating the same account twice gives identical bytes."""
    account = margin_account(assets=[("BTC", str(quantity), str(price))], debt=str(debt))
    assert engine.evaluate(account, AS_OF).to_json() == engine.evaluate(dict(account), AS_OF).to_json()


def test_decision_is_immutable(engine: Engine) -> None:
    """Neither the decision, its outcome, nor the nested plan can be changed after the fact."""
    decision = engine.evaluate(example("margin-a-regular.json"))
    with pytest.raises(AttributeError):
        decision.policy = decision.policy  # type: ignore[misc]  # the frozen dataclass refuses it
    with pytest.raises(TypeError):
        decision.outcome["status"] = "ok"  # type: ignore[index]  # a read-only mapping refuses it
    with pytest.raises(TypeError):
        decision.outcome["liquidation"]["returned"][0]["quantity"] = Decimal(1)
    with pytest.raises(TypeError):
        decision.outcome["thresholds"]["liquidation"] = Decimal(0)
