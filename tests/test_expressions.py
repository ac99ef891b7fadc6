"""Tests for `policy_engine._expressions`: the typed, sandboxed expression language."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, DivisionByZero, InvalidOperation
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from policy_engine._expressions import (
    FUNCTION_NAMES,
    MAX_DEPTH,
    MAX_SOURCE_LENGTH,
    MAX_STRING_LITERAL,
    ROUNDING_FUNCTIONS,
    Expression,
    ExpressionProblem,
    ExprType,
    compile_expression,
    reference_evaluate,
)

DEC = ExprType.DECIMAL
BOOL = ExprType.BOOL
STR = ExprType.STRING

SCOPE: Mapping[str, ExprType] = {
    "a": DEC,
    "b": DEC,
    "c": DEC,
    "x": DEC,
    "margin_level": DEC,
    "mode": STR,
    "flag": BOOL,
}
ENV: Mapping[str, Any] = {
    "a": Decimal("1.5"),
    "b": Decimal("-2.25"),
    "c": Decimal(0),
    "x": Decimal(3),
    "margin_level": Decimal("1.1"),
    "mode": "isolated",
    "flag": True,
}


def compiled(source: str, expected: ExprType = DEC) -> Expression:
    """Compile `source`, failing the test if it has problems."""
    result = compile_expression(source, SCOPE, expected=expected)
    assert isinstance(result, Expression), result
    return result


def refused(source: str, expected: ExprType = DEC) -> list[ExpressionProblem]:
    """Compile `source`, expecting problems; return them."""
    result = compile_expression(source, SCOPE, expected=expected)
    assert isinstance(result, list), f"{source!r} was accepted"
    return result


def both(expression: Expression, env: Mapping[str, Any] = ENV) -> tuple[Any, Any]:
    """The compiled result and the reference (simpleeval) result for `env`."""
    return expression.function(env), reference_evaluate(expression, env)


# --- literals --------------------------------------------------------------------------


def test_decimal_literals_make_one_tenth_plus_two_tenths_exactly_three_tenths() -> None:
    """`0.1 + 0.2 == 0.3` holds, because literals are Decimals read from their text."""
    assert both(compiled("0.1 + 0.2 == 0.3", BOOL)) == (True, True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0.1 + 0.2", "0.3"),
        ("1e-3", "0.001"),
        (".5", "0.5"),
        ("1.", "1"),
        ("42", "42"),
        ("0.10", "0.10"),
        ("1 / 3", "0.3333333333333333333333333333"),
        ("123456789.123456789", "123456789.123456789"),
    ],
    ids=["sum-of-tenths", "exponent", "leading-dot", "trailing-dot", "int", "trailing-zero",
         "one-third", "more-digits-than-a-float"],
)
def test_literals_are_decimals_from_their_text(source: str, expected: str) -> None:
    """Numeric literals keep their exact decimal text (and exponent), in both evaluators."""
    compiled_value, reference_value = both(compiled(source))
    assert (type(compiled_value), str(compiled_value)) == (Decimal, expected)
    assert (type(reference_value), str(reference_value)) == (Decimal, expected)


def test_checked_tree_holds_only_decimal_numeric_literals() -> None:
    """The tree kept for the reference evaluator has Decimal, not int or float, constants."""
    tree = compiled("a * 2 + 0.5 - round(b, 2)").tree
    constants: list[object] = [
        node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
    ]
    assert sorted(constants, key=str) == [Decimal("0.5"), Decimal(2), Decimal(2)]
    assert {type(value) for value in constants} == {Decimal}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("0x10", [ExpressionProblem("number literals are written in decimal digits, got `0x10`", 1)]),
        ("0o17", [ExpressionProblem("number literals are written in decimal digits, got `0o17`", 1)]),
        ("0b11", [ExpressionProblem("number literals are written in decimal digits, got `0b11`", 1)]),
        ("1_000", [ExpressionProblem("number literals are written in decimal digits, got `1_000`", 1)]),
        ("a + 0X1f", [ExpressionProblem("number literals are written in decimal digits, got `0X1f`", 5)]),
    ],
    ids=["hexadecimal", "octal", "binary", "underscored", "hex-operand"],
)
def test_non_decimal_number_literals_are_refused(source: str, expected: list[ExpressionProblem]) -> None:
    """Hexadecimal, octal, binary and underscored literals are problems, not crashes or guesses."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1e61", [ExpressionProblem("number literal `1e61` is out of range (at most 1e60 in size)", 1)]),
        ("1e-61", [ExpressionProblem("number literal `1e-61` is out of range (at most 1e60 in size)", 1)]),
        ("a * 1" + "0" * 61, [ExpressionProblem(
            f"number literal `1{'0' * 61}` is out of range (at most 1e60 in size)", 5)]),
    ],
    ids=["huge-exponent", "tiny-exponent", "sixty-two-digits"],
)
def test_number_literals_out_of_range_are_refused(source: str, expected: list[ExpressionProblem]) -> None:
    """Literals whose magnitude is beyond 1e60 either way are refused at load time."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [("1e60", "1E+60"), ("1e-60", "1E-60"), ("0e99", "0E+99"), ("0.0", "0.0")],
    ids=["largest", "smallest", "zero-with-exponent", "zero"],
)
def test_number_literals_at_the_range_limit_are_accepted(source: str, expected: str) -> None:
    """The range limit is inclusive, and zero is in range whatever its exponent."""
    assert str(compiled(source).function({})) == expected


# --- operators and functions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a + b", "-0.75"),
        ("a - b", "3.75"),
        ("a * b", "-3.375"),
        ("a / b", "-0.6666666666666666666666666667"),
        ("x ** 3", "27"),
        ("a ** 2", "2.25"),
        ("2 ** 64", "18446744073709551616"),
        ("a ** 0", "1"),
        ("-a", "-1.5"),
        ("+b", "-2.25"),
        ("-2 ** 2", "-4"),
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("a if flag else b", "1.5"),
        ("a if not flag else b", "-2.25"),
        ("min(a, b)", "-2.25"),
        ("min(a, b, x)", "-2.25"),
        ("max(a, b)", "1.5"),
        ("max(a, b, x)", "3"),
        ("abs(b)", "2.25"),
        ("abs(a)", "1.5"),
    ],
    ids=str,
)
def test_arithmetic_operators_and_functions(source: str, expected: str) -> None:
    """Each arithmetic operator and min/max/abs give the exact Decimal in both evaluators."""
    compiled_value, reference_value = both(compiled(source))
    assert (type(compiled_value), str(compiled_value)) == (Decimal, expected)
    assert (type(reference_value), str(reference_value)) == (Decimal, expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("round(2.5, 0)", "2"),
        ("round(3.5, 0)", "4"),
        ("round(2.675, 2)", "2.68"),
        ("round(2.665, 2)", "2.66"),
        ("round_half_even(2.5, 0)", "2"),
        ("round_half_up(2.5, 0)", "3"),
        ("round_half_up(-2.5, 0)", "-3"),
        ("round_half_up(2.665, 2)", "2.67"),
        ("round_down(2.789, 2)", "2.78"),
        ("round_down(-2.7, 0)", "-2"),
        ("round_up(2.1, 0)", "3"),
        ("round_up(-2.1, 0)", "-3"),
        ("round_up(2.001, 2)", "2.01"),
        ("floor(2.9, 0)", "2"),
        ("floor(-2.1, 0)", "-3"),
        ("ceil(2.1, 0)", "3"),
        ("ceil(-2.9, 0)", "-2"),
        ("floor(a, 3)", "1.500"),
        ("round(-0.25, 28)", "-0.2500000000000000000000000000"),
    ],
    ids=str,
)
def test_rounding_functions(source: str, expected: str) -> None:
    """Each rounding function quantizes to the given places with its own rounding mode."""
    compiled_value, reference_value = both(compiled(source))
    assert (type(compiled_value), str(compiled_value)) == (Decimal, expected)
    assert (type(reference_value), str(reference_value)) == (Decimal, expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a == a", True),
        ("a != b", True),
        ("a < b", False),
        ("a <= 1.5", True),
        ("a > b", True),
        ("a >= 1.50", True),
        ("b < a < x", True),
        ("a < b < x", False),
        ("mode == 'isolated'", True),
        ("mode != 'isolated'", False),
        ("flag and a > 1", True),
        ("flag and a > 2", False),
        ("not flag or a > 1", True),
        ("not flag", False),
        ("True", True),
        ("flag == False", False),
        ("(a < b) if flag else True", False),
    ],
    ids=str,
)
def test_comparisons_and_boolean_operators(source: str, expected: bool) -> None:
    """Comparisons and and/or/not give real booleans, in both evaluators."""
    assert both(compiled(source, BOOL)) == (expected, expected)
    assert type(compiled(source, BOOL).function(ENV)) is bool


def test_string_expressions() -> None:
    """A string name or literal can be the whole expression when a string is expected."""
    assert both(compiled("mode", STR)) == ("isolated", "isolated")
    assert both(compiled("'cross' if flag else mode", STR)) == ("cross", "cross")


@pytest.mark.parametrize(
    ("source", "kind", "expected"),
    [
        ("flag or a / c > 0", BOOL, True),
        ("not flag and a / c > 0", BOOL, False),
        ("a < b < a / c", BOOL, False),
        ("a if flag else a / c", DEC, Decimal("1.5")),
    ],
    ids=["or", "and", "chained-comparison", "if-else"],
)
def test_short_circuit_matches_in_both_evaluators(
    source: str, kind: ExprType, expected: object
) -> None:
    """`and`, `or`, chained comparisons and `if` skip the division by zero they do not reach."""
    assert both(compiled(source, kind)) == (expected, expected)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("a / c", DivisionByZero),
        ("c / c", InvalidOperation),
    ],
    ids=["divide-by-zero", "zero-by-zero"],
)
def test_arithmetic_errors_are_the_same_in_both_evaluators(
    source: str, error: type[ArithmeticError]
) -> None:
    """Decimal's own exceptions propagate unchanged from the compiled code and the reference."""
    expression = compiled(source)
    with pytest.raises(error):
        expression.function(ENV)
    with pytest.raises(error):
        reference_evaluate(expression, ENV)


@pytest.mark.parametrize(
    ("source", "expected"),
    [("round(10 ** 30, 2)", Decimal(10) ** 30), ("round(a, 28)", Decimal("1.5000000000000000000000000000"))],
    ids=["rounds-a-30-digit-number", "rounds-to-28-places"],
)
def test_rounding_has_room_beyond_the_working_precision(source: str, expected: Decimal) -> None:
    """Rounding to N places keeps N digits past the integer part, however many digits that makes."""
    assert both(compiled(source)) == (expected, expected)


def test_names_are_listed_in_first_use_order_once() -> None:
    """`names` holds each scope name read, once, in the order of first use."""
    assert compiled("x + a * x - min(b, a)", DEC).names == ("x", "a", "b")


@pytest.mark.parametrize(
    ("source", "expected"),
    [("a >= b", ("a", ">=", "b")), ("x != a", ("x", "!=", "a")), ("a >= 1", None),
     ("a < b < x", None), ("not a < b", None)],
    ids=["ge", "ne", "literal-operand", "chained", "negated"],
)
def test_comparison_shape(source: str, expected: tuple[str, str, str] | None) -> None:
    """`comparison` is (left, operator, right) only for a single `name op name` comparison."""
    assert compiled(source, BOOL).comparison == expected


def test_compiled_code_runs_without_builtins() -> None:
    """The compiled lambda runs with empty builtins, so nothing outside the sandbox is reachable."""
    function = compiled("min(a, b) + abs(x)").function
    assert getattr(function, "__globals__", {})["__builtins__"] == {}


def test_source_is_stripped() -> None:
    """Surrounding whitespace is dropped from `source`."""
    expression = compiled("  a + 1  ")
    assert (expression.source, expression.function(ENV)) == ("a + 1", Decimal("2.5"))


def test_comments_are_refused_at_the_hash() -> None:
    """A comment would be ignored yet shown as part of the expression: refused at its `#` (in the stripped text)."""
    assert refused("  a + 1  # one more  ") == [
        P(
            "comments are not allowed in expressions: `# one more` would be ignored when evaluating,"
            " yet shown as part of the expression; write notes as YAML comments",
            8,
        )
    ]


# --- refusals ---------------------------------------------------------------------------

ONLY_BUILTINS = (
    "only the built-in functions can be called: abs, ceil, floor, max, min, round, round_down,"
    " round_half_even, round_half_up, round_up"
)
BAD_OPERATOR = "operator `{}` is not allowed; use + - * / or ** (rounding: round_down, ...)"
BAD_POWER = "`**` needs a whole-number literal exponent from 0 to 64"
P = ExpressionProblem
NESTED = f"the expression is nested more than {MAX_DEPTH} levels deep"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("().__class__", [P("attribute access (`a.b`) is not allowed", 1)]),
        ("x.__class__.__bases__", [P("attribute access (`a.b`) is not allowed", 1)]),
        ("mode.upper()", [P(ONLY_BUILTINS, 1)]),
        ("a[0]", [P("subscripts (`a[b]`) are not allowed", 1)]),
        ("lambda: 1", [P("lambdas are not allowed", 1)]),
        ("[i for i in a]", [P("comprehensions are not allowed", 1)]),
        ("{i for i in a}", [P("comprehensions are not allowed", 1)]),
        ("{i: i for i in a}", [P("comprehensions are not allowed", 1)]),
        ("(i for i in a)", [P("generator expressions are not allowed", 1)]),
        ("f'{a}'", [P("f-strings are not allowed", 1)]),
        ("(y := 1)", [P("assignment expressions (`:=`) are not allowed", 2)]),
        ("[1, 2]", [P("lists are not allowed", 1)]),
        ("(1, 2)", [P("tuples are not allowed", 1)]),
        ("{1: 2}", [P("dicts are not allowed", 1)]),
        ("{1}", [P("sets are not allowed", 1)]),
        ("await a", [P("await is not allowed", 1)]),
        ("None", [P(
            "literal `None` is not allowed; use decimals, strings, true or false", 1)]),
        ("1j", [P(
            "literal `1j` is not allowed; use decimals, strings, true or false", 1)]),
    ],
    ids=["dunder-class-of-tuple", "dunder-bases", "method-call", "subscript", "lambda",
         "list-comprehension", "set-comprehension", "dict-comprehension", "generator", "f-string",
         "walrus", "list", "tuple", "dict", "set", "await", "none", "complex"],
)
def test_sandbox_refuses_python_constructs(source: str, expected: list[P]) -> None:
    """Attributes, subscripts, lambdas, comprehensions, f-strings, `:=` and containers: refused."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("open('x')", [P("unknown function `open`", 1)]),
        ("__import__('os')", [P("unknown function `__import__`", 1)]),
        ("eval('1')", [P("unknown function `eval`", 1)]),
        ("getattr(a, 'b')", [P("unknown function `getattr`", 1)]),
        ("Round(a, 2)", [P("unknown function `Round`", 1, "round")]),
        ("a()", [P("unknown function `a`", 1)]),
        ("min(a, b, key=abs)", [P("`min` takes no keyword arguments", 1)]),
        ("round(a, ndigits=2)", [P("`round` takes no keyword arguments", 1)]),
        ("abs(a, b)", [P("`abs` takes one argument", 1)]),
        ("min(a)", [P("`min` takes two or more arguments", 1)]),
        ("max()", [P("`max` takes two or more arguments", 1)]),
        ("round(a)", [P(
            "`round` takes two arguments: the value and a literal number of places", 1)]),
        ("round(a, b)", [P(
            "the places of `round` must be a whole-number literal from 0 to 28", 10)]),
        ("floor(a, 29)", [P(
            "the places of `floor` must be a whole-number literal from 0 to 28", 10)]),
        ("ceil(a, 2.0)", [P(
            "the places of `ceil` must be a whole-number literal from 0 to 28", 9)]),
    ],
    ids=["open", "dunder-import", "eval", "getattr", "misspelled-round", "call-a-name",
         "keyword-min", "keyword-round", "abs-two-args", "min-one-arg", "max-no-args",
         "round-one-arg", "round-name-places", "floor-too-many-places", "ceil-fraction-places"],
)
def test_calls_outside_the_whitelist_are_refused(
    source: str, expected: list[P]
) -> None:
    """Only min/max/abs and the rounding functions can be called, positionally, with valid arity."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2 ** a", [P(BAD_POWER, 1)]),
        ("2 ** 100000", [P(BAD_POWER, 1)]),
        ("2 ** 65", [P(BAD_POWER, 1)]),
        ("2 ** -1", [P(BAD_POWER, 1)]),
        ("2 ** 1.5", [P(BAD_POWER, 1)]),
        ("(a ** 64) ** 64", [P("powers cannot be nested: the base of `**` may not contain `**`", 1)]),
        ("1e999999999 + a", [P("number literal `1e999999999` is out of range (at most 1e60 in size)", 1)]),
        ("a % 2", [P(BAD_OPERATOR.format("%"), 1)]),
        ("a // 2", [P(BAD_OPERATOR.format("//"), 1)]),
        ("a & b", [P(BAD_OPERATOR.format("&"), 1)]),
        ("a << 1", [P(BAD_OPERATOR.format("<<"), 1)]),
        ("a @ b", [P(BAD_OPERATOR.format("@"), 1)]),
        ("~a", [P("operator `~` is not allowed", 1)]),
        ("a is b", [P("comparison `is` is not allowed; use == != < <= > >=", 1)]),
        ("a in b", [P("comparison `in` is not allowed; use == != < <= > >=", 1)]),
        ("'a' * 5", [P("`*` takes decimals: expected decimal, got string", 1)]),
    ],
    ids=["power-name", "power-huge", "power-65", "power-negative", "power-fraction", "power-nested",
         "literal-out-of-range", "modulo",
         "floor-division", "bit-and", "shift", "matmul", "invert", "is", "in", "string-repeat"],
)
def test_operators_outside_the_language_are_refused(
    source: str, expected: list[P]
) -> None:
    """`**` needs a small literal exponent; %, //, bitwise ops, is/in and `str * n` are refused."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("_x", [P("names starting with `_` are not allowed: `_x`", 1)]),
        ("__builtins__", [P(
            "names starting with `_` are not allowed: `__builtins__`", 1)]),
        ("margin_levl", [P("unknown name `margin_levl`", 1, "margin_level")]),
        ("a + zzz", [P("unknown name `zzz`", 5)]),
        ("min", [P("`min` is a function; call it, for example `min(a, b)`", 1)]),
        ("max + 1", [P("`max` is a function; call it, for example `max(a, b)`", 1)]),
    ],
    ids=["underscore", "dunder-builtins", "did-you-mean", "unknown", "bare-min", "bare-max-plus"],
)
def test_names_are_checked_against_the_scope(source: str, expected: list[P]) -> None:
    """Private names, unknown names (with a suggestion) and bare function names are refused."""
    assert refused(source) == expected


@pytest.mark.parametrize(
    ("name", "example"),
    [("min", "min(a, b)"), ("max", "max(a, b)"), ("abs", "abs(a)"), ("round", "round(a, 2)"),
     ("round_half_up", "round_half_up(a, 2)"), ("floor", "floor(a, 2)"), ("ceil", "ceil(a, 2)")],
    ids=["min", "max", "abs", "round", "round_half_up", "floor", "ceil"],
)
def test_bare_function_names_are_refused_with_an_example_call(name: str, example: str) -> None:
    """A function name used as a value is refused with an example of how to call it."""
    assert refused(name) == [ExpressionProblem(f"`{name}` is a function; call it, for example `{example}`", 1)]


def test_bare_function_messages_suggest_a_call_that_compiles() -> None:
    """The example call in the "is a function" message is itself a valid expression."""
    scope = {"a": DEC, "b": DEC}
    bad_examples = {}
    for name in sorted(FUNCTION_NAMES):
        problems = compile_expression(name, scope, expected=DEC)
        assert isinstance(problems, list)
        example = re.findall(r"`([^`]*)`", problems[0].message)[-1]
        if not isinstance(compile_expression(example, scope, expected=DEC), Expression):
            bad_examples[name] = example
    assert bad_examples == {}


@pytest.mark.parametrize(
    ("source", "expected_type", "expected"),
    [
        ("mode + 1", DEC, [P("`+` takes decimals: expected decimal, got string", 1)]),
        ("flag + 1", DEC, [P("`+` takes decimals: expected decimal, got boolean", 1)]),
        ("-mode", DEC, [P(
            "unary `-` / `+` take a decimal: expected decimal, got string", 1)]),
        ("1 if x else 2", DEC, [P(
            "the condition of `a if c else b`: expected boolean, got decimal", 1)]),
        ("x if flag else mode", DEC, [P(
            "both branches of `a if c else b` must have one type, got decimal and string", 1)]),
        ("not a", BOOL, [P("`not` takes a boolean: expected boolean, got decimal", 1)]),
        ("flag or a", BOOL, [P(
            "`and` / `or` take booleans: expected boolean, got decimal", 1)]),
        ("a == 'x'", BOOL, [P(
            "comparisons need operands of one type, got decimal and string", 1)]),
        ("mode < 'z'", BOOL, [P(
            "string values can only be compared with == and !=", 1)]),
        ("flag < True", BOOL, [P(
            "boolean values can only be compared with == and !=", 1)]),
        ("abs(mode)", DEC, [P("`abs` takes decimals: expected decimal, got string", 1)]),
        ("round(flag, 2)", DEC, [P(
            "`round` rounds a decimal: expected decimal, got boolean", 1)]),
    ],
    ids=["string-plus", "bool-plus", "negate-string", "decimal-condition", "mixed-branches",
         "not-decimal", "or-decimal", "decimal-eq-string", "string-ordering", "bool-ordering",
         "abs-string", "round-bool"],
)
def test_type_errors_are_refused(
    source: str, expected_type: ExprType, expected: list[P]
) -> None:
    """Operands of the wrong type are refused at load time with the expected and actual types."""
    assert refused(source, expected_type) == expected


@pytest.mark.parametrize(
    ("source", "expected_type", "expected"),
    [
        ("a + b", BOOL, [P("expected a boolean expression, got decimal", 1)]),
        ("a < b", DEC, [P("expected a decimal expression, got boolean", 1)]),
        ("mode", DEC, [P("expected a decimal expression, got string", 1)]),
        ("flag", STR, [P("expected a string expression, got boolean", 1)]),
    ],
    ids=["decimal-for-boolean", "boolean-for-decimal", "string-for-decimal", "boolean-for-string"],
)
def test_result_type_must_match_the_expected_type(
    source: str, expected_type: ExprType, expected: list[P]
) -> None:
    """A well-typed expression of the wrong result type is refused."""
    assert refused(source, expected_type) == expected


def test_all_problems_are_reported_together() -> None:
    """Independent problems in one expression are all returned, not only the first."""
    assert refused("_p + margin_levl + open(1)") == [
        P("names starting with `_` are not allowed: `_p`", 1),
        P("unknown name `margin_levl`", 6, "margin_level"),
        P("unknown function `open`", 20),
    ]


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["((a) ** 2) ** 3", "min(a ** 2, b) ** 2", "(a if a ** 2 > b else b) ** 2"],
    ids=["power-of-power", "power-inside-call", "power-inside-condition"],
)
def test_nested_powers_are_refused(source: str) -> None:
    """The base of `**` may not contain another `**`, so results stay bounded."""
    assert refused(source) == [
        ExpressionProblem("powers cannot be nested: the base of `**` may not contain `**`", 1)
    ]


def test_powers_side_by_side_are_allowed() -> None:
    """Powers that do not nest are fine, and `-a ** 2` is `-(a ** 2)`."""
    assert both(compiled("(a ** 2) * (b ** 2) - x ** 2")) == (Decimal("2.390625"),) * 2
    assert both(compiled("-a ** 2")) == (Decimal("-2.25"),) * 2


def test_deeply_nested_unary_minus_is_refused() -> None:
    """A 100-deep `-(-(-...))` is refused once, at the first node past the depth limit."""
    source = "-(" * 100 + "1" + ")" * 100
    assert refused(source) == [P(NESTED, 83)]


def test_nesting_up_to_the_limit_is_allowed() -> None:
    """Exactly MAX_DEPTH levels compile; one more is refused."""
    at_limit = "-(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    over = "-(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)
    assert both(compiled(at_limit)) == (Decimal("1.5"), Decimal("1.5"))
    assert refused(over) == [P(NESTED, 83)]


def test_deeply_nested_sums_are_refused() -> None:
    """A 100-deep `(1 + (1 + ...))` is refused at the nodes past the depth limit."""
    source = "(1 + " * 100 + "1" + ")" * 100
    assert refused(source) == [P(NESTED, 202), P(NESTED, 207)]


def test_redundant_parentheses_do_not_nest_the_tree() -> None:
    """200 parentheses around a literal add no depth: it compiles to that literal, in both."""
    source = "(" * 200 + "1" + ")" * 200
    assert both(compiled(source)) == (Decimal(1), Decimal(1))


def test_parentheses_beyond_the_parser_limit_are_a_problem() -> None:
    """201 nested parentheses exceed Python's parser limit and are reported, not raised."""
    source = "(" * 201 + "1" + ")" * 201
    assert refused(source) == [
        P("invalid expression: too many nested parentheses", 201)
    ]


def test_over_long_source_is_refused() -> None:
    """Sources longer than MAX_SOURCE_LENGTH are refused before parsing."""
    assert refused("a" + " + a" * 700) == [
        P(f"expressions are limited to {MAX_SOURCE_LENGTH} characters", 0)
    ]


def test_source_of_exactly_the_maximum_length_is_accepted() -> None:
    """The length limit is inclusive."""
    source = "a" + " " * (MAX_SOURCE_LENGTH - 1)
    assert compiled(source).source == "a"


def test_over_long_string_literal_is_refused() -> None:
    """String literals longer than MAX_STRING_LITERAL are refused; the limit is inclusive."""
    too_long = "'" + "x" * (MAX_STRING_LITERAL + 1) + "'"
    just_fits = "'" + "x" * MAX_STRING_LITERAL + "'"
    assert refused(f"mode == {too_long}", BOOL) == [
        P(f"string literals are limited to {MAX_STRING_LITERAL} characters", 9)
    ]
    assert both(compiled(just_fits, STR)) == ("x" * MAX_STRING_LITERAL,) * 2


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a +", [P("invalid expression: invalid syntax", 0)]),
        ("", [P("invalid expression: invalid syntax", 0)]),
        ("*a", [P("invalid expression: invalid syntax", 1)]),
        ("if", [P("invalid expression: invalid syntax", 1)]),
    ],
    ids=["dangling-operator", "empty", "starred", "statement-keyword"],
)
def test_syntax_errors_are_problems(source: str, expected: list[P]) -> None:
    """Text that is not a Python expression is one problem, not an exception."""
    assert refused(source) == expected


# --- differential test: compiled code against simpleeval ----------------------------------

DECIMAL_NAMES = ("a", "b", "c")
LITERALS = ("0", "1", "2", "0.1", "0.5", "3.25", "10", "1e-3", ".5", "1000000", "0.00000001")
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
ROUNDING = tuple(sorted(ROUNDING_FUNCTIONS))
DIFF_SCOPE: Mapping[str, ExprType] = {"a": DEC, "b": DEC, "c": DEC, "flag": BOOL, "mode": STR}


def _join(template: str) -> Callable[[tuple[str, ...]], str]:
    return lambda parts: template.format(*parts)


@functools.cache
def decimal_expressions(depth: int, powers: bool = True) -> st.SearchStrategy[str]:
    """Well-typed decimal expressions at most `depth` constructors deep (with `**` if `powers`)."""
    leaves = st.sampled_from(DECIMAL_NAMES + LITERALS)
    if depth == 0:
        return leaves
    sub = decimal_expressions(depth - 1, powers)
    condition = boolean_expressions(depth - 1, powers)
    branches = [
        leaves,
        st.tuples(sub, st.sampled_from(("+", "-", "*", "/")), sub).map(_join("({}) {} ({})")),
        st.tuples(st.sampled_from(("-", "+")), sub).map(_join("{}({})")),
        sub.map("abs({})".format),
        st.tuples(st.sampled_from(("min", "max")), st.lists(sub, min_size=2, max_size=3)).map(
            lambda parts: f"{parts[0]}({', '.join(parts[1])})"
        ),
        st.tuples(st.sampled_from(ROUNDING), sub, st.sampled_from(("0", "2", "8"))).map(_join("{}({}, {})")),
        st.tuples(sub, condition, sub).map(_join("({}) if ({}) else ({})")),
    ]
    if powers:
        # the sandbox refuses a power whose base holds another power, so bases are power-free
        base = decimal_expressions(depth - 1, powers=False)
        branches.append(st.tuples(base, st.sampled_from(("0", "1", "2", "3"))).map(_join("({}) ** {}")))
    return st.one_of(branches)


@functools.cache
def boolean_expressions(depth: int, powers: bool = True) -> st.SearchStrategy[str]:
    """Well-typed boolean expressions at most `depth` constructors deep (with `**` if `powers`)."""
    leaves = st.sampled_from(("flag", "True", "False", "mode == 'isolated'", "mode != 'cross'"))
    if depth == 0:
        return leaves
    sub = boolean_expressions(depth - 1, powers)
    number = decimal_expressions(depth - 1, powers)
    comparison = st.sampled_from(COMPARISONS)
    return st.one_of(
        leaves,
        st.tuples(number, comparison, number).map(_join("({}) {} ({})")),
        st.tuples(number, comparison, number, comparison, number).map(_join("({}) {} ({}) {} ({})")),
        st.tuples(sub, st.sampled_from(("and", "or")), sub).map(_join("({}) {} ({})")),
        sub.map("not ({})".format),
        st.tuples(sub, sub, sub).map(_join("({}) if ({}) else ({})")),
    )


VALUES = st.decimals(
    allow_nan=False, allow_infinity=False, places=8, min_value=-(10**6), max_value=10**6
)
ENVIRONMENTS = st.fixed_dictionaries(
    {
        "a": VALUES,
        "b": VALUES,
        "c": st.one_of(st.just(Decimal(0)), VALUES),
        "flag": st.booleans(),
        "mode": st.sampled_from(("isolated", "cross")),
    }
)


def outcome(call: Callable[[], Any]) -> tuple[str, type, str]:
    """What a call did: its value's type and text, or the arithmetic exception it raised."""
    try:
        value = call()
    except ArithmeticError as error:
        return ("raised", type(error), str(error))
    return ("value", type(value), str(value))


def _differential(source: str, kind: ExprType, env: Mapping[str, Any]) -> None:
    assume(len(source) <= MAX_SOURCE_LENGTH)
    expression = compile_expression(source, DIFF_SCOPE, expected=kind)
    assert isinstance(expression, Expression), (source, expression)
    assert expression.result_type is kind
    fast = outcome(lambda: expression.function(env))
    reference = outcome(lambda: reference_evaluate(expression, env))
    assert fast == reference, source
    if fast[0] == "value":
        assert fast[1] is (bool if kind is BOOL else Decimal), source


@settings(max_examples=200, deadline=None)
@given(source=decimal_expressions(3), env=ENVIRONMENTS)
def test_compiled_decimal_expressions_match_simpleeval(source: str, env: dict[str, Any]) -> None:
    """Compiled decimal expressions return what simpleeval returns, or raise the same error."""
    _differential(source, DEC, env)


@settings(max_examples=200, deadline=None)
@given(source=boolean_expressions(3), env=ENVIRONMENTS)
def test_compiled_boolean_expressions_match_simpleeval(source: str, env: dict[str, Any]) -> None:
    """Compiled boolean expressions return what simpleeval returns, or raise the same error."""
    _differential(source, BOOL, env)
