"""Decisions written from pieces give the reference writer's bytes.

`Decision.to_json()` writes the trace with a function generated per step
(`StepSpec.render_json`) and embeds the policy's JSON written at load.  These
tests hold every byte of it to the strict reference, `canonical_json` over
`to_plain` of the decision's dict form, on the bundled products' decisions in
every status and liquidation method and on steps built to hit each branch of
the generator: rounded and cited operands, comparisons, details, inputs read
from the recorded value, values that need an exponent-free form, text that
needs escaping, and values the fast path cannot write.
"""

from __future__ import annotations

import json
import pickle
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings

from policy_engine import Engine
from policy_engine._plain import to_plain
from policy_engine.compiler import rounding_of
from policy_engine.decision import canonical_json
from policy_engine.frozen import FrozenDict
from policy_engine.model import Parameter
from policy_engine.trace import StepSpec, Trace

from .conftest import AS_OF, EXAMPLES, example
from .test_properties import LoanCase, MarginCase, loan_cases, margin_cases


def reference(decision: Any, *, trace: bool = True) -> str:
    return canonical_json(decision._raw(trace=trace))


def assert_written_as_reference(decision: Any) -> None:
    assert decision.to_json() == reference(decision)
    assert decision.to_json(trace=False) == reference(decision, trace=False)
    assert decision.to_json(indent=2) == canonical_json(decision._raw(trace=True), indent=2)


@pytest.mark.parametrize("name", sorted(path.name for path in EXAMPLES.glob("*.json")))
def test_every_example_decision_is_written_as_the_reference_writes_it(engine: Engine, name: str) -> None:
    as_of = "2020-07-25T17:18:38Z" if name.startswith("loan") else AS_OF  # the seed's example is of that day
    assert_written_as_reference(engine.evaluate(example(name), as_of))


@settings(max_examples=60, deadline=None)
@given(case=margin_cases())
def test_margin_decisions_in_every_status_and_method_are_written_as_the_reference(
    engine: Engine, case: MarginCase
) -> None:
    assert_written_as_reference(engine.evaluate(case.account, AS_OF))


@settings(max_examples=60, deadline=None)
@given(case=loan_cases())
def test_loan_decisions_with_operations_are_written_as_the_reference(engine: Engine, case: LoanCase) -> None:
    assert_written_as_reference(engine.evaluate(case.account, AS_OF, operations=case.specs()))


def written(spec: StepSpec, value: Any, env: dict[str, Any], provenance: dict[str, Parameter]) -> str:
    """The step by its generated function, after checking it against the reference."""
    text = spec.render_json(value, env, provenance)
    assert text == canonical_json(spec.render(value, env, provenance)).removesuffix("\n")
    return text


LEVEL = Parameter(name="limit", value=Decimal("1.1"), json_path='$.rules[0]."quoted"', source="p/x.yaml:3")
ROUNDING = rounding_of(2, "ROUND_HALF_UP")
ENV = {
    "level": Decimal("1.2345"),
    "level_raw": Decimal("1.23449999"),
    "limit": Decimal("1.1"),
    "tiny": Decimal("0E-8"),
    "big": Decimal("1E+3"),
    "name": 'a "quoted" name\n\u00e9\t%s',
    "flag": True,
    "nothing": None,
    "count": 7,
    "lines": (FrozenDict({"q": Decimal("1.50"), "at": "x"}), MappingProxyType({"z": Decimal("1E-9")})),
}


@pytest.mark.parametrize(
    "spec",
    [
        StepSpec(name="plain", kind="input", description="no inputs, no source"),
        StepSpec(
            name="rule:x",
            kind="rule",
            description='does `level <= limit` hold? 100% "sure"',
            inputs=(),
            expression="level <= limit",
            source="p/x.yaml:9",
            path="$.rules[0]",
            comparison=("level", "<=", "limit"),
            roundings={"level": ROUNDING},
        ),
        StepSpec(
            name="derived",
            kind="derive",
            description="every kind of input",
            inputs=("tiny", "big", "name", "flag", "nothing", "count", "lines", "level", "limit", "missing", "level"),
            expression="tiny + big",
            source="p/x.yaml:1",
            roundings={"level": ROUNDING},
            cites=("limit", "absent"),
        ),
        StepSpec(
            name="detailed",
            kind="plan",
            description="detail, value_of, a cited parameter",
            detail=lambda value, env: {"compared": env["level"], "lines": env["lines"], "value": value},
            value_of=lambda recorded: recorded[0],
            cites=("limit",),
            source="p/x.yaml:2",
            path=None,
        ),
        StepSpec(
            name="table",
            kind="lookup",
            description="inputs read from the recorded value",
            inputs_of=lambda recorded: MappingProxyType({"b": recorded[1], "a": Decimal("2.50")}),
            value_of=lambda recorded: recorded[0],
        ),
    ],
    ids=lambda spec: spec.name,
)
@pytest.mark.parametrize(
    "value",
    [Decimal("1.5"), Decimal("0E-8"), Decimal("-1E+2"), True, False, None, "s\"\\", 12, (Decimal("3E-7"), "x")],
    ids=repr,
)
def test_each_branch_of_a_generated_step_is_written_as_the_reference(spec: StepSpec, value: Any) -> None:
    if spec.value_of is not None or spec.inputs_of is not None:
        value = (value, Decimal("1E+1"))
    for provenance in ({}, {"limit": LEVEL, "level": LEVEL}):
        json.loads(written(spec, value, ENV, provenance))


def test_the_cited_parameters_follow_the_provenance_they_come_from() -> None:
    """The `parameters` text is kept per provenance mapping: another mapping gets its own."""
    spec = StepSpec(name="tier", kind="lookup", description="d", cites=("limit",))
    other = Parameter(name="limit", value=Decimal(2), json_path="$.other", source="p/y.yaml:7")
    first, second = {"limit": LEVEL}, {"limit": other}
    assert '"$.rules[0].\\"quoted\\""' in written(spec, None, {}, first)
    assert '"$.other"' in written(spec, None, {}, second)
    assert '"$.rules[0].\\"quoted\\""' in written(spec, None, {}, first)
    for _ in range(300):  # more provenance mappings than the cache keeps
        written(spec, None, {}, {"limit": other})


def test_a_value_the_fast_writer_refuses_falls_back_to_the_reference(engine: Engine) -> None:
    """An integer beyond 64 bits in a step's value: the decision is still written, as the reference writes it."""
    decision = engine.evaluate(example("margin-a-regular.json"), AS_OF)
    big = StepSpec(name="big", kind="input", description="beyond 64 bits")
    trace = Trace((*decision.trace.steps, (big, [2**70])), decision.trace.env, decision.trace.provenance)
    edited = type(decision)(
        outcome=decision.outcome,
        trace=trace,
        policy=decision.policy,
        account=decision.account,
        as_of=decision.as_of,
    )
    assert edited.to_json() == reference(edited)
    assert '"value":[1180591620717411303424]' in edited.to_json()


def test_the_trace_text_is_the_trace_list_written_by_the_reference(engine: Engine) -> None:
    decision = engine.evaluate(example("margin-c-regular-then-takeover.json"), AS_OF)
    assert decision.trace.json_text() == canonical_json(to_plain(decision.trace.to_list())).removesuffix("\n")


def test_policy_refs_still_pickle_once_decisions_are_written(engine: Engine) -> None:
    """Batch workers receive the engine's `PolicyRef`s pickled: the JSON kept on them must not stop that."""
    engine.evaluate(example("margin-a-regular.json"), AS_OF).to_json()
    assert pickle.loads(pickle.dumps(engine.policies)) == engine.policies  # noqa: S301 - our own bytes
