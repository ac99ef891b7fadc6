"""Pieces every product uses to turn a validated document into compiled code.

A product calls these with its document and the scope of names its rules may
read; each returns the compiled piece together with the problems found, so
that one load reports everything at once.  Rule tables live in `rules.py`,
bands and brackets in `bands.py`; this module has expressions, derived
figures, roundings, the rounded-ratio step and the decimal-places lint.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._expressions import Expression, ExprType, compile_expression, name_refusal
from ._numbers import MAX_COMPUTED_MAGNITUDE, quantum
from ._plain import json_text
from .errors import EvaluationError, JsonPath, Problem, format_json_path
from .model import PolicyDocument, Rounding
from .trace import Env, StepSpec, with_json_text

Problems = list[Problem]


def run(expression: Expression, env: Mapping[str, Any], spec: StepSpec) -> Any:
    """Evaluate a compiled expression; an arithmetic failure names the expression and its YAML line.

    A number it computes must be zero or within `MAX_COMPUTED_MAGNITUDE` (1e-60 to 1e60 in size): each
    expression's `**` is bounded, but figures built on figures are not, and a figure beyond the bound
    would be written out as thousands of digits.  Such a figure is an evaluation problem naming it.
    """
    try:
        value = expression.function(env)
    except ArithmeticError as error:
        raise _failed(expression, env, spec, f"failed with {type(error).__name__}") from error
    if type(value) is Decimal and value and not -MAX_COMPUTED_MAGNITUDE <= value.adjusted() <= MAX_COMPUTED_MAGNITUDE:
        size = "large" if value.adjusted() > 0 else "small"
        raise _failed(
            expression,
            env,
            spec,
            f"makes {spec.description or spec.name} too {size}: about 1e{value.adjusted()} (computed numbers are"
            f" zero or within 1e-{MAX_COMPUTED_MAGNITUDE} to 1e{MAX_COMPUTED_MAGNITUDE} in size,"
            " MAX_COMPUTED_MAGNITUDE)",
        )
    return value


def _failed(expression: Expression, env: Mapping[str, Any], spec: StepSpec, what: str) -> EvaluationError:
    """The evaluation problem of an expression, at its YAML line, with the values it read."""
    file, _, line = (spec.source or "?:0").rpartition(":")
    inputs = ", ".join(f"{name} = {env.get(name)}" for name in expression.names)
    return EvaluationError(
        [
            Problem(
                file=file,
                line=int(line),
                col=1,
                json_path=spec.path or "$",
                message=f"`{expression.source}` {what} for {inputs}",
            )
        ]
    )


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
    return rounding_of(int(node["places"]), node["rounding"])


def rounding_of(places: int, mode: str) -> Rounding:
    """A `Rounding` to `places` decimal places in a `decimal` rounding mode (`ROUND_HALF_UP`)."""
    return Rounding(places=places, mode=mode, quantum=quantum(places))


def places_problem(document: PolicyDocument, path: JsonPath, rounding: Rounding, compared: str) -> Problem | None:
    """A problem when the number at `path` is finer than `rounding`, the precision `compared` are compared at.

    A threshold of 1.105 compared against levels rounded to 2 places could
    never be met exactly; the lint says so at load.
    """
    value: Decimal = document.data_at(path)
    if value == rounding.apply(value):
        return None
    return document.problem(
        path,
        f"expected at most {rounding.places} decimal places ({compared} are compared at that precision), got {value}",
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class RoundedRatio:
    """`numerator / denominator`, kept raw as `<name>_raw` and rounded as `<name>` for comparisons.

    Its trace step shows the formula, the raw value, the compared value and
    the rounding, citing the YAML line of the rounding.
    """

    name: str
    raw_name: str
    rounding: Rounding
    spec: StepSpec

    def compute(self, numerator: Decimal, denominator: Decimal, env: dict[str, Any], steps: list[Any]) -> Decimal:
        """Set `<name>_raw` and `<name>` in `env`, record the step, and return the raw ratio."""
        raw = numerator / denominator
        env[self.raw_name] = raw
        rounding = self.rounding
        env[self.name] = compared = rounding.context.quantize(raw, rounding.quantum)
        steps.append((self.spec, (raw, compared)))
        return raw


def compile_ratio(
    document: PolicyDocument,
    *,
    name: str,
    numerator: str,
    denominator: str,
    rounding_path: JsonPath,
    description: str,
) -> RoundedRatio:
    """The rounded ratio `name` = `numerator / denominator`, rounded as the `{places, rounding}` at `rounding_path`."""
    rounding = rounding_at(document, rounding_path)

    # the step records (raw, compared): the compared value is the step's own, not read back by name
    def compared(recorded: tuple[Decimal, Decimal], _env: Env) -> dict[str, Any]:
        return {"compared": recorded[1], "rounding": rounding.describe()}

    described = f',"rounding":{json_text(rounding.describe())}}}'

    def compared_text(recorded: tuple[Decimal, Decimal], _env: Env) -> str:
        return f'{{"compared":{json_text(recorded[1])}{described}'

    with_json_text(compared, compared_text)

    def raw(recorded: tuple[Decimal, Decimal]) -> Decimal:
        return recorded[0]

    spec = StepSpec(
        name=name,
        kind="derive",
        description=description,
        inputs=(numerator, denominator),
        expression=f"{numerator} / {denominator}",
        source=document.source(rounding_path),
        path=format_json_path(rounding_path),
        roundings={name: rounding},
        detail=compared,
        value_of=raw,
    )
    return RoundedRatio(name=name, raw_name=f"{name}_raw", rounding=rounding, spec=spec)


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
    *,
    reserved: Collection[str] = (),
) -> tuple[list[Derived], Problems]:
    """Compile the list of `{name, expression}` at `path`, each visible to the ones after it.

    `scope` is extended in place with each figure's name.  A name may not be one of
    the product's own values: those in `scope`, the `reserved` ones it keeps beside
    them, or the `<name>_raw` of a rounded name.
    """
    derived: list[Derived] = []
    problems: Problems = []
    entries: Sequence[Mapping[str, Any]] = document.data_at(path) or []
    for index, entry in enumerate(entries):
        name = entry["name"]
        refusal = name_refusal(name, scope, reserved=reserved, rounded=roundings)
        if refusal is not None:
            problems.append(document.problem((*path, index, "name"), refusal))
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
