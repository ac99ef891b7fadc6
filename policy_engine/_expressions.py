"""Sandboxed policy expressions: checked once at load, compiled to plain Decimal code.

The language is the subset of Python that simpleeval evaluates, narrowed to
what risk rules need and typed:

- values are decimals, strings or booleans; numeric literals are `Decimal`
  (read from the literal's own text, so `0.1` is exactly one tenth);
- `+ - * /` on decimals, `**` with an integer literal exponent of at most
  `MAX_EXPONENT`; comparisons (`==` and `!=` only for strings); `and`, `or`,
  `not` on booleans; `a if condition else b`;
- calls to `min`, `max`, `abs` and the rounding functions in `ROUNDING_FUNCTIONS`,
  whose second argument is a literal number of places;
- nothing else: no attributes, subscripts, lambdas, comprehensions, f-strings,
  keyword arguments, comments or names starting with `_`;
- names are plain ASCII (Python would NFKC-normalise `margin_level` written in
  fullwidth letters into `margin_level`, so the text would not say what runs),
  and the text holds no lone surrogates, control or invisible formatting
  characters.

Every name must be declared in the scope the caller passes, so a misspelled
name is a load-time error.  A checked expression is compiled to a Python
lambda that reads its names from one mapping argument; `reference_evaluate` runs the
same tree through simpleeval, which defines the semantics the compiled code is
tested against.
"""

from __future__ import annotations

import ast
import enum
import io
import keyword
import operator
import re
import tokenize
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from typing import Any, cast

from ._numbers import MAX_MAGNITUDE, WIDE_CONTEXT, in_range, quantum
from .errors import did_you_mean

MAX_SOURCE_LENGTH = 2_000
MAX_DEPTH = 40
MAX_STRING_LITERAL = 200
MAX_EXPONENT = 64
MAX_PLACES = 28

# Digits with an optional fraction and exponent; not 0x10, 1_000 or 1j.
_DECIMAL_LITERAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# The line breaks Python's tokenizer counts (not \f, \v or U+2028, which str.splitlines also splits at).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Unicode categories refused anywhere in an expression: controls, invisible formatting, lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_WHITESPACE_CONTROLS = frozenset("\t\n\r")


class ExprType(enum.Enum):
    DECIMAL = "decimal"
    STRING = "string"
    BOOL = "boolean"


ROUNDING_FUNCTIONS: Mapping[str, str] = {
    "round": ROUND_HALF_EVEN,
    "round_half_even": ROUND_HALF_EVEN,
    "round_half_up": ROUND_HALF_UP,
    "round_down": ROUND_DOWN,
    "round_up": ROUND_UP,
    "floor": ROUND_FLOOR,
    "ceil": ROUND_CEILING,
}
FUNCTION_NAMES = frozenset({"min", "max", "abs", *ROUNDING_FUNCTIONS})
_EXAMPLE_CALLS = {"min": "min(a, b)", "max": "max(a, b)", "abs": "abs(a)"}


def _rounding_function(mode: str) -> Callable[[Decimal, Decimal], Decimal]:
    def round_to(value: Decimal, places: Decimal) -> Decimal:
        # rounding to N places needs room for N digits past the integer part
        return value.quantize(quantum(int(places)), rounding=mode, context=WIDE_CONTEXT)

    return round_to


REFERENCE_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    **{name: _rounding_function(mode) for name, mode in ROUNDING_FUNCTIONS.items()},
}

_ARITHMETIC = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARISONS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
REFERENCE_OPERATORS: Mapping[type, Callable[..., Any]] = {**_ARITHMETIC, **_COMPARISONS, **_UNARY}  # type: ignore[dict-item]  # one mapping of operator node types to functions

_REFUSED: Mapping[type, str] = {
    ast.Attribute: "attribute access (`a.b`) is not allowed",
    ast.Subscript: "subscripts (`a[b]`) are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (`:=`) are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
}

_OPERATOR_SYMBOLS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Invert: "~",
}


@dataclass(frozen=True, slots=True)
class ExpressionProblem:
    """What is wrong with an expression, and where in its text (1-based column)."""

    message: str
    column: int = 0
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked, compiled expression."""

    source: str
    names: tuple[str, ...]
    """The scope names it reads, in first-use order."""
    result_type: ExprType
    function: Callable[[Mapping[str, Any]], Any]
    """The compiled code: call it with a mapping that holds every name in `names`."""
    tree: ast.expr
    """The checked tree with `Decimal` literals, for the reference evaluator."""
    comparison: tuple[str, str, str] | None
    """(left name, operator, right name) when the whole expression is `name op name`."""


def describe_character(character: str) -> str:
    """A character by code point and Unicode name (`U+FF4D FULLWIDTH LATIN SMALL LETTER M`), safe to print."""
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" {name}" if name else "")


def _line_starts(source: str) -> list[int]:
    return [0, *(match.end() for match in _LINE_BREAK.finditer(source))]


def _hidden_character_problems(source: str) -> list[ExpressionProblem]:
    """Lone surrogates, control and invisible formatting characters, refused before parsing.

    A lone surrogate is not text: Python's parser raises `UnicodeEncodeError` on
    it.  Bidirectional and zero-width characters make the text read otherwise
    than it runs ("Trojan Source").  The message gives the column but does not
    quote the expression, which a terminal could not print, or would reorder.
    """
    hidden = [
        (index, character)
        for index, character in enumerate(source)
        if unicodedata.category(character) in _HIDDEN_CATEGORIES and character not in _WHITESPACE_CONTROLS
    ]
    if not hidden:
        return []
    index, character = hidden[0]
    if unicodedata.category(character) == "Cs":
        what = "a lone surrogate (half of a UTF-16 pair, not a character)"
    else:
        what = "an invisible control or formatting character"
    more = f", and {len(hidden) - 1} more after it" if len(hidden) > 1 else ""
    return [
        ExpressionProblem(
            f"character {index + 1} of the expression is {describe_character(character)}, {what}{more};"
            " expressions are written in printable characters"
        )
    ]


def _comment_problems(source: str) -> list[ExpressionProblem]:
    """A `#` comment is dropped by the parser, yet the trace would show it as part of the condition."""
    starts = _line_starts(source)
    problems = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                row, col = token.start
                problems.append(
                    ExpressionProblem(
                        f"comments are not allowed in expressions: `{token.string}` would be ignored when"
                        " evaluating, yet shown as part of the expression; write notes as YAML comments",
                        starts[row - 1] + col + 1,
                    )
                )
    except (tokenize.TokenError, SyntaxError):
        pass  # only called on text the parser accepted; nothing more to say
    return problems


def name_refusal(
    name: str,
    scope: Mapping[str, ExprType],
    *,
    reserved: Collection[str] = (),
    rounded: Collection[str] = (),
) -> str | None:
    """Why a policy may not give a new value (a derived figure) the name `name`, or None when it may.

    Expressions read one table of names, which also holds the engine's own
    values: the names in `scope`, the values a product keeps beside them
    (`reserved`, such as the lines behind a total) and the raw value
    `<name>_raw` of each name in `rounded`, which traces show.  A policy
    value of the same name would overwrite one of them.
    """
    if name in scope:
        return f"`{name}` is already defined; pick another name"
    if name in reserved:
        return f"`{name}` is one of the engine's own values; pick another name"
    base = name.removesuffix("_raw")
    if base != name and base in rounded:
        return f"`{name}` is the engine's raw (unrounded) value of `{base}`, shown in traces; pick another name"
    if name in FUNCTION_NAMES or keyword.iskeyword(name):
        return f"`{name}` is a word of the expression language and could not be read as a value; pick another name"
    return None


class _Checker:
    """Walks a parsed tree: refuses what the sandbox does not allow, infers types."""

    def __init__(self, source: str, scope: Mapping[str, ExprType]) -> None:
        self.source = source
        self.scope = scope
        self.problems: list[ExpressionProblem] = []
        self.names: list[str] = []

    def fail(self, node: ast.AST, message: str, suggestion: str | None = None) -> None:
        self.problems.append(ExpressionProblem(message, self._column(node), suggestion))

    def _column(self, node: ast.AST) -> int:
        """1-based position of `node` in the text; the parser counts UTF-8 bytes within a line."""
        line, offset = getattr(node, "lineno", 0), getattr(node, "col_offset", -1)
        if line < 1 or offset < 0:
            return 0
        start = _line_starts(self.source)[line - 1]
        before = self.source[start:].encode("utf-8")[:offset].decode("utf-8", errors="ignore")
        return start + len(before) + 1

    def _plain_name(self, node: ast.Name) -> bool:
        """False (and a problem) when the name is written with other than ASCII characters.

        Python reads identifiers NFKC-normalised: `margin_level` or `True` in
        fullwidth letters (U+FF4D...) would run as the ASCII name, so the text
        would not say what runs.
        """
        written = ast.get_source_segment(self.source, node) or node.id
        if written.isascii():
            return True
        first = next(character for character in written if not character.isascii())
        known = (*self.scope, *FUNCTION_NAMES, "True", "False")
        suggestion = node.id if node.id in known else did_you_mean(node.id, self.scope)
        self.fail(
            node,
            f"names are written in ASCII letters, digits and `_`: `{written}` holds {describe_character(first)}",
            suggestion,
        )
        return False

    def check(self, node: ast.expr, depth: int = 0) -> ExprType | None:
        if depth > MAX_DEPTH:
            self.fail(node, f"the expression is nested more than {MAX_DEPTH} levels deep")
            return None
        if type(node) in _REFUSED:
            self.fail(node, _REFUSED[type(node)])
            return None
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.BinOp):
            return self._binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node, depth)
        if isinstance(node, ast.BoolOp):
            kinds = [self.check(value, depth + 1) for value in node.values]
            self._expect_all(node, kinds, ExprType.BOOL, "`and` / `or` take booleans")
            return ExprType.BOOL
        if isinstance(node, ast.Compare):
            return self._compare(node, depth)
        if isinstance(node, ast.IfExp):
            test = self.check(node.test, depth + 1)
            body = self.check(node.body, depth + 1)
            orelse = self.check(node.orelse, depth + 1)
            self._expect_all(node, [test], ExprType.BOOL, "the condition of `a if c else b`")
            if body is not None and orelse is not None and body != orelse:
                self.fail(
                    node, f"both branches of `a if c else b` must have one type, got {body.value} and {orelse.value}"
                )
                return None
            return body
        if isinstance(node, ast.Call):
            return self._call(node, depth)
        self.fail(node, f"`{type(node).__name__}` expressions are not allowed")
        return None

    def _expect_all(self, node: ast.AST, kinds: list[ExprType | None], wanted: ExprType, what: str) -> None:
        for kind in kinds:
            if kind is not None and kind is not wanted:
                self.fail(node, f"{what}: expected {wanted.value}, got {kind.value}")

    def _constant(self, node: ast.Constant) -> ExprType | None:
        value = node.value
        if isinstance(value, bool):
            return ExprType.BOOL
        if isinstance(value, int | float):
            text = ast.get_source_segment(self.source, node) or ""
            if not _DECIMAL_LITERAL.fullmatch(text):
                self.fail(node, f"number literals are written in decimal digits, got `{text}`")
                return None
            if not in_range(Decimal(text)):
                self.fail(node, f"number literal `{text}` is out of range (at most 1e{MAX_MAGNITUDE} in size)")
                return None
            return ExprType.DECIMAL
        if isinstance(value, str):
            if len(value) > MAX_STRING_LITERAL:
                self.fail(node, f"string literals are limited to {MAX_STRING_LITERAL} characters")
                return None
            return ExprType.STRING
        self.fail(node, f"literal `{ast.unparse(node)}` is not allowed; use decimals, strings, true or false")
        return None

    def _name(self, node: ast.Name) -> ExprType | None:
        name = node.id
        if not self._plain_name(node):
            return None
        if name.startswith("_"):
            self.fail(node, f"names starting with `_` are not allowed: `{name}`")
            return None
        if name in ("True", "False"):
            return ExprType.BOOL
        if name in FUNCTION_NAMES:
            self.fail(
                node, f"`{name}` is a function; call it, for example `{_EXAMPLE_CALLS.get(name, name + '(a, 2)')}`"
            )
            return None
        kind = self.scope.get(name)
        if kind is None:
            suggestion = did_you_mean(name, self.scope)
            self.fail(node, f"unknown name `{name}`", suggestion)
            return None
        if name not in self.names:
            self.names.append(name)
        return kind

    def _binop(self, node: ast.BinOp, depth: int) -> ExprType | None:
        symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
        if type(node.op) not in _ARITHMETIC:
            self.fail(node, f"operator `{symbol}` is not allowed; use + - * / or ** (rounding: round_down, ...)")
            return None
        left = self.check(node.left, depth + 1)
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and type(exponent.value) is int
                and 0 <= exponent.value <= MAX_EXPONENT
            ):
                self.fail(node, f"`**` needs a whole-number literal exponent from 0 to {MAX_EXPONENT}")
                return None
            if any(isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Pow) for inner in ast.walk(node.left)):
                # (a ** 64) ** 64 would reach 64 ** 2 and beyond: one power per base keeps results bounded
                self.fail(node, "powers cannot be nested: the base of `**` may not contain `**`")
                return None
            right: ExprType | None = ExprType.DECIMAL
        else:
            right = self.check(node.right, depth + 1)
        self._expect_all(node, [left, right], ExprType.DECIMAL, f"`{symbol}` takes decimals")
        return ExprType.DECIMAL

    def _unary(self, node: ast.UnaryOp, depth: int) -> ExprType | None:
        operand = self.check(node.operand, depth + 1)
        if isinstance(node.op, ast.Not):
            self._expect_all(node, [operand], ExprType.BOOL, "`not` takes a boolean")
            return ExprType.BOOL
        if type(node.op) not in _UNARY:
            self.fail(node, f"operator `{_OPERATOR_SYMBOLS.get(type(node.op), '?')}` is not allowed")
            return None
        self._expect_all(node, [operand], ExprType.DECIMAL, "unary `-` / `+` take a decimal")
        return ExprType.DECIMAL

    def _compare(self, node: ast.Compare, depth: int) -> ExprType | None:
        kinds = [self.check(node.left, depth + 1)] + [self.check(c, depth + 1) for c in node.comparators]
        for op in node.ops:
            if type(op) not in _COMPARISONS:
                symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
                self.fail(node, f"comparison `{symbol}` is not allowed; use == != < <= > >=")
                return None
        known = [kind for kind in kinds if kind is not None]
        if len(set(known)) > 1:
            self.fail(node, "comparisons need operands of one type, got " + " and ".join(k.value for k in known))
        elif (
            known
            and known[0] is not ExprType.DECIMAL
            and not all(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        ):
            self.fail(node, f"{known[0].value} values can only be compared with == and !=")
        return ExprType.BOOL

    def _call(self, node: ast.Call, depth: int) -> ExprType | None:
        if not isinstance(node.func, ast.Name):
            self.fail(node, "only the built-in functions can be called: " + ", ".join(sorted(FUNCTION_NAMES)))
            return None
        if not self._plain_name(node.func):
            return None
        name = node.func.id
        if name not in FUNCTION_NAMES:
            self.fail(node, f"unknown function `{name}`", did_you_mean(name, FUNCTION_NAMES))
            return None
        if node.keywords:
            self.fail(node, f"`{name}` takes no keyword arguments")
            return None
        if name in ROUNDING_FUNCTIONS:
            return self._rounding_call(node, name, depth)
        arity_ok = len(node.args) == 1 if name == "abs" else len(node.args) > 1
        if not arity_ok:
            self.fail(node, f"`{name}` takes " + ("one argument" if name == "abs" else "two or more arguments"))
            return None
        kinds = [self.check(arg, depth + 1) for arg in node.args]
        self._expect_all(node, kinds, ExprType.DECIMAL, f"`{name}` takes decimals")
        return ExprType.DECIMAL

    def _rounding_call(self, node: ast.Call, name: str, depth: int) -> ExprType | None:
        if len(node.args) != 2:  # noqa: PLR2004 - the value and the places
            self.fail(node, f"`{name}` takes two arguments: the value and a literal number of places")
            return None
        value, places = node.args
        if not (isinstance(places, ast.Constant) and type(places.value) is int and 0 <= places.value <= MAX_PLACES):
            self.fail(places, f"the places of `{name}` must be a whole-number literal from 0 to {MAX_PLACES}")
            return None
        kind = self.check(value, depth + 1)
        self._expect_all(node, [kind], ExprType.DECIMAL, f"`{name}` rounds a decimal")
        return ExprType.DECIMAL


def _decimal_literals(source: str) -> ast.expr:
    """The tree of `source` (checked already) with its numeric literals as Decimals read from their own text.

    Each call parses afresh: the C parser makes a new tree in a fraction of what `copy.deepcopy` takes.
    """
    tree = ast.parse(source, mode="eval").body
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            text = ast.get_source_segment(source, node) or repr(node.value)
            node.value = Decimal(text)  # type: ignore[assignment]  # simpleeval returns constants as they are
    return tree


class _Codegen(ast.NodeTransformer):
    """Replaces Decimal literals and rounding calls with references to bound globals."""

    def __init__(self) -> None:
        self.bound: dict[str, object] = {}

    def _bind(self, value: object, node: ast.AST) -> ast.Name:
        name = f"_k{len(self.bound)}"
        self.bound[name] = value
        return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in ("True", "False"):
            return ast.copy_location(ast.Constant(value=node.id == "True"), node)
        lookup = ast.Subscript(
            value=ast.Name(id="_env", ctx=ast.Load()), slice=ast.Constant(value=node.id), ctx=ast.Load()
        )
        return ast.copy_location(lookup, node)

    def visit_Constant(self, node: ast.Constant) -> ast.expr:
        if isinstance(node.value, Decimal):
            return self._bind(node.value, node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.expr:
        assert isinstance(node.func, ast.Name)  # noqa: S101 - guaranteed by _Checker
        name = node.func.id
        if name in ROUNDING_FUNCTIONS:
            value, places = node.args
            assert isinstance(places, ast.Constant)  # noqa: S101 - guaranteed by _Checker
            quantize = ast.Attribute(value=self.visit(value), attr="quantize", ctx=ast.Load())
            mode = self._bind(ROUNDING_FUNCTIONS[name], node)
            step = self._bind(quantum(int(cast(Decimal, places.value))), node)
            wide = self._bind(WIDE_CONTEXT, node)
            keywords = [ast.keyword(arg="rounding", value=mode), ast.keyword(arg="context", value=wide)]
            call = ast.Call(func=quantize, args=[step], keywords=keywords)
            return ast.copy_location(call, node)
        node.func = self._bind({"min": min, "max": max, "abs": abs}[name], node.func)
        node.args = [self.visit(arg) for arg in node.args]
        return node


def _compile(tree: ast.expr, label: str) -> Callable[[Mapping[str, Any]], Any]:
    """The function of `tree`, which it rewrites in place (pass a tree of its own)."""
    generator = _Codegen()
    body = generator.visit(tree)
    arguments = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg="_env")],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    lambda_tree = ast.Expression(body=ast.Lambda(args=arguments, body=body))
    ast.fix_missing_locations(lambda_tree)
    code = compile(lambda_tree, label, "eval")
    namespace: dict[str, object] = {"__builtins__": {}, **generator.bound}
    # The tree was built from a checked expression: only whitelisted nodes, reads
    # of declared names from the lambda's one argument, and the literals bound above.
    function: Callable[[Mapping[str, Any]], Any] = eval(code, namespace)  # noqa: S307 - see comment above
    return function


def _comparison_shape(tree: ast.expr) -> tuple[str, str, str] | None:
    if (
        isinstance(tree, ast.Compare)
        and len(tree.ops) == 1
        and isinstance(tree.left, ast.Name)
        and isinstance(tree.comparators[0], ast.Name)
    ):
        return tree.left.id, _OPERATOR_SYMBOLS[type(tree.ops[0])], tree.comparators[0].id
    return None


def compile_expression(
    source: str,
    scope: Mapping[str, ExprType],
    *,
    expected: ExprType,
    label: str = "<policy expression>",
) -> Expression | list[ExpressionProblem]:
    """Check `source` against `scope` and compile it, or return every problem found."""
    if len(source) > MAX_SOURCE_LENGTH:
        return [ExpressionProblem(f"expressions are limited to {MAX_SOURCE_LENGTH} characters")]
    stripped = source.strip()
    hidden = _hidden_character_problems(stripped)
    if hidden:
        return hidden
    try:
        parsed = ast.parse(stripped, mode="eval")
    except SyntaxError as error:
        return [ExpressionProblem(f"invalid expression: {error.msg}", error.offset or 0)]
    except (RecursionError, MemoryError):
        return [ExpressionProblem("the expression is nested too deeply to parse")]
    checker = _Checker(stripped, scope)
    result_type = checker.check(parsed.body)
    problems = _comment_problems(stripped) + checker.problems
    if not problems and result_type is not expected:
        got = result_type.value if result_type else "unknown"
        problems.append(ExpressionProblem(f"expected a {expected.value} expression, got {got}", 1))
    if problems:
        return problems
    names = tuple(checker.names)
    return Expression(
        source=stripped,
        names=names,
        result_type=expected,
        function=_compile(_decimal_literals(stripped), label),
        tree=_decimal_literals(stripped),
        comparison=_comparison_shape(parsed.body),
    )


def reference_evaluate(expression: Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate with simpleeval (slow, the definition the compiled code must match)."""
    from simpleeval import SimpleEval  # noqa: PLC0415 - the tests' reference; evaluating never needs it

    evaluator = SimpleEval(
        operators=dict(REFERENCE_OPERATORS),
        functions=dict(REFERENCE_FUNCTIONS),
        names={"True": True, "False": False, **values},
    )
    return evaluator.eval(expression.source, previously_parsed=expression.tree)
