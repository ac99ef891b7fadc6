"""Pieces every product uses to turn a validated document into compiled code.

A product calls these with its document and the scope of names its rules may
read; each returns the compiled piece together with the problems found, so
that one load reports everything at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._expressions import Expression, ExprType, compile_expression
from ._numbers import quantum
from .errors import EvaluationError, JsonPath, Problem, format_json_path
from .model import PolicyDocument, Rounding
from .trace import StepSpec

Problems = list[Problem]


def run(expression: Expression, env: Mapping[str, Any], spec: StepSpec) -> Any:
    """Evaluate a compiled expression; an arithmetic failure names the expression and its YAML line."""
    try:
        return expression.function(env)
    except ArithmeticError as error:
        file, _, line = (spec.source or "?:0").rpartition(":")
        inputs = ", ".join(f"{name} = {env.get(name)}" for name in expression.names)
        raise EvaluationError(
            [
                Problem(
                    file=file,
                    line=int(line),
                    col=1,
                    json_path=spec.path or "$",
                    message=f"`{expression.source}` failed with {type(error).__name__} for {inputs}",
                )
            ]
        ) from error


def expression_at(
    document: PolicyDocument, path: JsonPath, scope: Mapping[str, ExprType], expected: ExprType
) -> tuple[Expression | None, Problems]:
    """Compile the expression written at `path`; problems cite its line and column."""
    source = document.parameter("expression", path).value
    label = document.source(path)
    compiled = compile_expression(source, scope, expected=expected, label=label)
    if isinstance(compiled, Expression):
        return compiled, []
    problems = []
    mark = document.yaml.mark_of(path)
    for found in compiled:
        where = f"at column {found.column} of `{source}`: " if found.column else ""
        problems.append(
            Problem(
                file=document.file,
                line=mark.line,
                col=mark.col,
                json_path=format_json_path(path),
                message=where + found.message,
                suggestion=found.suggestion,
            )
        )
    return None, problems


def rounding_at(document: PolicyDocument, path: JsonPath) -> Rounding:
    """The schema-valid `{places, rounding}` mapping at `path`."""
    node = document.parameter("rounding", path).value
    places = int(node["places"])
    return Rounding(places=places, mode=node["rounding"], quantum=quantum(places))


@dataclass(frozen=True, kw_only=True, slots=True)
class Derived:
    """A named figure computed by a policy expression."""

    name: str
    expression: Expression
    spec: StepSpec


def compile_derived(
    document: PolicyDocument,
    path: JsonPath,
    scope: dict[str, ExprType],
    roundings: Mapping[str, Rounding],
) -> tuple[list[Derived], Problems]:
    """Compile the list of `{name, expression}` at `path`, each visible to the ones after it.

    `scope` is extended in place with each figure's name.
    """
    derived: list[Derived] = []
    problems: Problems = []
    entries: Sequence[Mapping[str, Any]] = document.data_at(path) or []
    for index, entry in enumerate(entries):
        name = entry["name"]
        if name in scope:
            problems.append(document.problem((*path, index, "name"), f"`{name}` is already defined; pick another name"))
            continue
        expression, found = expression_at(document, (*path, index, "expression"), scope, ExprType.DECIMAL)
        problems += found
        scope[name] = ExprType.DECIMAL
        if expression is None:
            continue
        spec = StepSpec(
            name=name,
            kind="derive",
            description=f"derived figure `{name}`",
            inputs=expression.names,
            expression=expression.source,
            source=document.source((*path, index)),
            path=format_json_path((*path, index)),
            roundings={k: v for k, v in roundings.items() if k in expression.names} or None,
        )
        derived.append(Derived(name=name, expression=expression, spec=spec))
    return derived, problems


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """One row of a first-hit rule table."""

    id: str
    expression: Expression
    outcome: Mapping[str, Any]
    """What the rule sets when it fires, for example `{status, notification}`."""
    spec: StepSpec


def compile_rules(
    document: PolicyDocument,
    path: JsonPath,
    scope: Mapping[str, ExprType],
    roundings: Mapping[str, Rounding],
    *,
    outcome_keys: Sequence[str],
) -> tuple[list[Rule], Problems]:
    """Compile the rule list at `path`: each has an `id`, a `when` condition and outcome keys."""
    rules: list[Rule] = []
    problems: Problems = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(document.data_at(path)):
        rule_id = entry["id"]
        if rule_id in seen:
            problems.append(
                document.problem(
                    (*path, index, "id"), f"duplicate rule id `{rule_id}` (first used by rule {seen[rule_id]})"
                )
            )
        seen.setdefault(rule_id, index)
        expression, found = expression_at(document, (*path, index, "when"), scope, ExprType.BOOL)
        problems += found
        if expression is None:
            continue
        spec = StepSpec(
            name=f"rule:{rule_id}",
            kind="rule",
            description=f"rule `{rule_id}`: does `{expression.source}` hold?",
            inputs=() if expression.comparison else expression.names,
            expression=expression.source,
            source=document.source((*path, index)),
            path=format_json_path((*path, index)),
            comparison=expression.comparison,
            roundings={k: v for k, v in roundings.items() if k in expression.names} or None,
        )
        outcome = {key: entry.get(key) for key in outcome_keys}
        rules.append(Rule(id=rule_id, expression=expression, outcome=outcome, spec=spec))
    return rules, problems


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusTable:
    """First-hit status rules with a default: the first rule that holds sets the status."""

    rules: Sequence[Rule]
    default_status: str
    default_spec: StepSpec
    fired_spec: StepSpec

    def decide(self, env: Mapping[str, Any], steps: list[tuple[StepSpec, Any]]) -> tuple[str, Rule | None]:
        """Run the rules in order, recording each check; return the status and the rule that set it."""
        for rule in self.rules:
            holds = run(rule.expression, env, rule.spec)
            steps.append((rule.spec, holds))
            if holds:
                status: str = rule.outcome["status"]
                steps.append((self.fired_spec, status))
                return status, rule
        steps.append((self.default_spec, self.default_status))
        return self.default_status, None

    def status_of(self, env: Mapping[str, Any]) -> str:
        """The status alone, without recording steps."""
        for rule in self.rules:
            if run(rule.expression, env, rule.spec):
                return str(rule.outcome["status"])
        return self.default_status


def compile_status_table(
    document: PolicyDocument,
    scope: Mapping[str, ExprType],
    roundings: Mapping[str, Rounding],
    *,
    outcome_keys: Sequence[str] = ("status",),
) -> tuple[StatusTable | None, Problems]:
    """The `rules` list and `default_status` of a document as a status table."""
    rules, problems = compile_rules(document, ("rules",), scope, roundings, outcome_keys=outcome_keys)
    if problems:
        return None, problems
    table = StatusTable(
        rules=rules,
        default_status=document.data["default_status"],
        default_spec=StepSpec(
            name="status",
            kind="status",
            description="no rule held: the default status applies",
            source=document.source(("default_status",)),
            path="$.default_status",
        ),
        fired_spec=StepSpec(name="status", kind="status", description="status set by the first rule that held"),
    )
    return table, []
