"""Rule tables: rows of `{id, when, ...}` at any path of a policy, with hit policy `first` or `collect`.

`first` runs the rules in order and stops at the first that holds (a status
table); `collect` runs every rule and returns all that held (advice rules
that each add a reason).  Every check is a trace step citing the rule's YAML
line, with the comparison's operands when the condition is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ._expressions import Expression, ExprType
from .compiler import expression_at, run
from .errors import JsonPath, Problem, format_json_path
from .model import PolicyDocument, Rounding
from .trace import StepSpec

HitPolicy = Literal["first", "collect"]
Steps = list[tuple[StepSpec, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """One row of a rule table."""

    id: str
    expression: Expression
    outcome: Mapping[str, Any]
    """What the rule sets when it holds, for example `{status, notification}`."""
    spec: StepSpec


def _fired_ids(value: Any) -> list[str]:
    return [rule.id for rule in value]


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleTable:
    """Compiled rules in YAML order, and how many may fire."""

    rules: Sequence[Rule]
    hit: HitPolicy
    result_spec: StepSpec
    """The step recording the result: the rule that fired first, or every rule that fired."""

    def first(self, env: Mapping[str, Any], steps: Steps) -> Rule | None:
        """The first rule that holds (None when none does), recording each check."""
        append = steps.append
        for rule in self.rules:
            try:
                holds = rule.expression.function(env)
            except ArithmeticError:
                holds = run(rule.expression, env, rule.spec)  # raises it again, naming the rule's line
            append((rule.spec, holds))
            if holds:
                return rule
        return None

    def collect(self, env: Mapping[str, Any], steps: Steps) -> tuple[Rule, ...]:
        """Every rule that holds, in YAML order, recording each check and then the list."""
        fired = []
        for rule in self.rules:
            holds = run(rule.expression, env, rule.spec)
            steps.append((rule.spec, holds))
            if holds:
                fired.append(rule)
        result = tuple(fired)
        steps.append((self.result_spec, result))
        return result

    def decide(self, env: Mapping[str, Any], steps: Steps) -> tuple[Rule, ...]:
        """The table's result by its hit policy: at most one rule for `first`, all that hold for `collect`."""
        if self.hit == "collect":
            return self.collect(env, steps)
        rule = self.first(env, steps)
        return () if rule is None else (rule,)

    def first_quietly(self, env: Mapping[str, Any]) -> Rule | None:
        """The first rule that holds, without recording steps (a what-if)."""
        for rule in self.rules:
            if run(rule.expression, env, rule.spec):
                return rule
        return None


def compile_rule_table(
    document: PolicyDocument,
    path: JsonPath,
    scope: Mapping[str, ExprType],
    roundings: Mapping[str, Rounding],
    *,
    outcome_keys: Sequence[str],
    hit: HitPolicy = "first",
    condition_key: str = "when",
) -> tuple[RuleTable | None, list[Problem]]:
    """Compile the rule list at `path`: each row has an `id`, a condition and the `outcome_keys` it sets."""
    rules: list[Rule] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(document.data_at(path) or ()):
        rule_id = entry["id"]
        if rule_id in seen:
            problems.append(
                document.problem(
                    (*path, index, "id"), f"duplicate rule id `{rule_id}` (first used by rule {seen[rule_id]})"
                )
            )
        seen.setdefault(rule_id, index)
        expression, found = expression_at(document, (*path, index, condition_key), scope, ExprType.BOOL)
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
        outcome = MappingProxyType({key: entry.get(key) for key in outcome_keys})
        rules.append(Rule(id=rule_id, expression=expression, outcome=outcome, spec=spec))
    if problems:
        return None, problems
    table_path = format_json_path(path)
    result_spec = StepSpec(
        name=table_path.removeprefix("$."),
        kind="collect" if hit == "collect" else "status",
        description=f"every rule of {table_path} that held" if hit == "collect" else "the first rule that held",
        source=document.source(path),
        path=table_path,
        value_of=_fired_ids,
    )
    return RuleTable(rules=tuple(rules), hit=hit, result_spec=result_spec), []


@dataclass(frozen=True, kw_only=True, slots=True)
class StatusTable:
    """First-hit status rules with a default: the first rule that holds sets the status."""

    table: RuleTable
    default_status: str
    default_spec: StepSpec
    fired_spec: StepSpec

    @property
    def rules(self) -> Sequence[Rule]:
        return self.table.rules

    def decide(self, env: Mapping[str, Any], steps: Steps) -> tuple[str, Rule | None]:
        """Run the rules in order, recording each check; return the status and the rule that set it."""
        rule = self.table.first(env, steps)
        if rule is None:
            steps.append((self.default_spec, self.default_status))
            return self.default_status, None
        status: str = rule.outcome["status"]
        steps.append((self.fired_spec, status))
        return status, rule

    def status_of(self, env: Mapping[str, Any]) -> str:
        """The status alone, without recording steps."""
        rule = self.table.first_quietly(env)
        return self.default_status if rule is None else str(rule.outcome["status"])


def compile_status_table(
    document: PolicyDocument,
    scope: Mapping[str, ExprType],
    roundings: Mapping[str, Rounding],
    *,
    path: JsonPath = ("rules",),
    default_path: JsonPath = ("default_status",),
    outcome_keys: Sequence[str] = ("status",),
) -> tuple[StatusTable | None, list[Problem]]:
    """The first-hit rules at `path` and the status at `default_path`, as a status table."""
    table, problems = compile_rule_table(document, path, scope, roundings, outcome_keys=outcome_keys)
    if table is None:
        return None, problems
    status_table = StatusTable(
        table=table,
        default_status=document.data_at(default_path),
        default_spec=StepSpec(
            name="status",
            kind="status",
            description="no rule held: the default status applies",
            source=document.source(default_path),
            path=format_json_path(default_path),
        ),
        fired_spec=StepSpec(name="status", kind="status", description="status set by the first rule that held"),
    )
    return status_table, []
