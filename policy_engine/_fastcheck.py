"""A fast yes/no validator generated from the account JSON Schemas.

jsonschema takes tens of µs to validate a small account, more than the whole
decision.  The account schemas use a small set of keywords, so each schema is
turned once into the source of one flat Python function that answers only
"valid or not" (the approach of fastjsonschema, which has no 2020-12 or
Decimal support).  On the happy path that is all the engine runs; when it
answers "not valid", the engine runs jsonschema on the same schema for the
full, located messages.

Compiled inline: `type`, `const`, `enum`, `format`, `minimum`, `maximum`,
`exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`, `pattern`,
`minItems`, `maxItems`, `minProperties`, `maxProperties`, `required`,
`properties`, `additionalProperties`, `propertyNames`, `items`, `allOf`, and `$ref` to a
fragment of the same document (expanded in place).  `anyOf`, `oneOf`, `not`
and `if`/`then`/`else` call one generated function per subschema.  Keywords
jsonschema does not validate with (annotations, unknown words, `$defs`) are
ignored, as jsonschema ignores them.

Any other subschema (one using `uniqueItems`, `patternProperties`,
`unevaluatedProperties`, `prefixItems`, a recursive or non-fragment `$ref`, a
malformed keyword value, a nested `$schema`, ...) is not refused: that
subschema alone is judged by a full jsonschema validator (`DecimalValidator`
with the package's format checker), built once at compile time on the root
schema and evolved to the subschema with the reference resolver jsonschema
itself would use there, so `$ref` inside it resolves as it would in a full
validation.  The rest of the schema stays compiled.  Compiling therefore
never fails on a schema jsonschema accepts; the test suite compares both
validators' verdicts on generated values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from referencing.jsonschema import DRAFT202012

from ._numbers import MAX_MAGNITUDE, is_integer, is_number
from .accounts import Refused, freeze_value, unicode_text
from .frozen import FrozenDict
from .schema import _FORMAT_CHECKER, DecimalValidator

if TYPE_CHECKING:
    from referencing._core import Resolved, Resolver  # the types jsonschema's own resolution uses

Check = Callable[[Any], bool]


class CompiledCheck(Protocol):
    """What `compile_check` returns: a `Check` that also carries its generated source."""

    source: str
    """The generated Python source, for debugging and tests."""
    fallbacks: int
    """How many subschemas it leaves to a full jsonschema validator (0 for the bundled schemas)."""

    def __call__(self, value: Any, /) -> bool: ...


_JSONSCHEMA_KEYWORDS = frozenset(DecimalValidator.VALIDATORS)
"""Keywords jsonschema validates with; any other key (then, else, $defs, title, ...) it ignores."""


def _is_schema(value: object) -> bool:
    return isinstance(value, bool | Mapping)


def _is_schema_list(value: object) -> bool:
    return isinstance(value, list) and all(_is_schema(item) for item in value)


def _is_bound(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_pattern(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


_TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "number": "(type({v}) is int or _is_number({v}))",
    "integer": "(type({v}) is int or _is_integer({v}))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}


def _is_type(value: object) -> bool:
    if isinstance(value, str):
        return value in _TYPE_TESTS
    return isinstance(value, list) and bool(value) and all(isinstance(n, str) and n in _TYPE_TESTS for n in value)


_COMPILED: Mapping[str, Callable[[Any], bool]] = {
    # keyword: the shape of value the generator handles; any other value falls back to jsonschema
    "$ref": lambda value: isinstance(value, str),
    "type": _is_type,
    "const": lambda _value: True,
    "enum": lambda value: isinstance(value, list),
    "format": lambda value: isinstance(value, str),
    "minimum": _is_bound,
    "maximum": _is_bound,
    "exclusiveMinimum": _is_bound,
    "exclusiveMaximum": _is_bound,
    "minLength": _is_bound,
    "maxLength": _is_bound,
    "pattern": _is_pattern,
    "minItems": _is_bound,
    "maxItems": _is_bound,
    "minProperties": _is_bound,
    "maxProperties": _is_bound,
    "required": lambda value: isinstance(value, list) and all(isinstance(name, str) for name in value),
    "properties": lambda value: (
        isinstance(value, Mapping) and all(isinstance(name, str) and _is_schema(sub) for name, sub in value.items())
    ),
    "additionalProperties": _is_schema,
    "items": _is_schema,
    "propertyNames": _is_schema,
    "allOf": _is_schema_list,
    "anyOf": _is_schema_list,
    "oneOf": _is_schema_list,
    "not": _is_schema,
    "if": _is_schema,
}

_MAX_EXPANSIONS = 1000
"""`$ref`s are expanded in place; past this many in one schema, the rest go to jsonschema (no exponential code)."""

PLAIN_DECIMAL_LENGTH = MAX_MAGNITUDE + 1
"""A plain decimal text (ASCII digits and at most one point, no exponent) of at most this many characters is
within 1e±60: it has at most 61 integer digits (below 1e61, so an exponent of at most 60), and at most 59
zeros between the point and its first significant digit (an exponent of at least -60)."""
_DIGITS_AND_ONE_POINT = "{v}.isascii() and {v}.replace('.', '', 1).isdigit()"
PLAIN_DECIMAL_TESTS: Mapping[str, str] = {
    # a str `{v}` of at most PLAIN_DECIMAL_LENGTH characters that passes the test is valid for the format;
    # any other value is judged by the format itself.  Three string methods cost a third of a regex match.
    "non-negative-decimal": _DIGITS_AND_ONE_POINT,
    "positive-decimal": _DIGITS_AND_ONE_POINT + " and {v}.strip('0.') != ''",
    "decimal": "{v}.isascii() and ({v}[1:] if {v}[:1] in '+-' else {v}).replace('.', '', 1).isdigit()",
}

_MAX_PLAIN_REFS = 8
"""`$ref`s followed to find a money schema's `{type, format}`; a longer chain is compiled the general way."""

_BOUNDS = (("minimum", "<"), ("maximum", ">"), ("exclusiveMinimum", "<="), ("exclusiveMaximum", ">="))
_SIZES = {
    # keyword: (operator that fails, the type it applies to)
    "minLength": ("<", "string"),
    "maxLength": (">", "string"),
    "minItems": ("<", "array"),
    "maxItems": (">", "array"),
    "minProperties": ("<", "object"),
    "maxProperties": (">", "object"),
}


def _same(one: object, two: object) -> bool:
    """jsonschema's `equal`: JSON equality, where 1 equals 1.0 but true is not 1, also inside arrays and objects."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return one == two
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_same(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and _same(value, two[key]) for key, value in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # not the same object, so not both true or both false
    return one == two


def _in_enum(value: object, options: Sequence[object]) -> bool:
    return any(_same(option, value) for option in options)


def _format_test(name: str) -> Callable[[object], bool] | None:
    """The check the package's format checker runs for `name`, or None for a format it does not know."""
    if name not in _FORMAT_CHECKER.checkers:
        return None  # jsonschema accepts any value for an unknown format
    func, raises = _FORMAT_CHECKER.checkers[name]
    if not raises:
        return func

    def test(instance: object) -> bool:
        try:
            return bool(func(instance))
        except raises:
            return False

    return test


def _enter(resolver: Resolver[Any], schema: object) -> Resolver[Any]:
    """The resolver jsonschema's `descend` uses for a subschema: moved into it when it has an `$id`."""
    if not isinstance(schema, Mapping) or "$id" not in schema:
        return resolver  # what `in_subresource` returns for a resource without an id, without building one
    return resolver.in_subresource(DRAFT202012.create_resource(schema))


class _Generator:
    """Emits the body of `check(value)`: statements that `return False` on the first failure.

    Each subschema is generated with the resolver jsonschema would have there, so a `$ref` is
    looked up (and a fallback validator built) exactly as a full validation would.
    """

    def __init__(self, root: Mapping[str, Any] | bool, validator: Any) -> None:
        self.root = root
        self.validator = validator
        self.lines: list[str] = []
        self.functions: list[str] = []
        self.constants: dict[str, object] = {}
        self.expanding: set[int] = {id(root)}
        self.depth = 0
        self.fallbacks = 0
        self.expansions = 0
        self.plain_tested: set[str] = set()

    def constant(self, value: object, prefix: str = "_c") -> str:
        name = f"{prefix}{len(self.constants)}"
        self.constants[name] = value
        return name

    def literal(self, value: object) -> str:
        """An int as source text; anything else as a bound constant."""
        return repr(value) if type(value) is int else self.constant(value)

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def variable(self) -> str:
        self.depth += 1
        return f"v{self.depth}"

    def compilable(self, schema: object) -> TypeGuard[Mapping[str, Any]]:
        if not isinstance(schema, Mapping):
            return False
        if "$schema" in schema and schema is not self.root:
            return False  # jsonschema switches validator class there
        for keyword, value in schema.items():
            if keyword in _JSONSCHEMA_KEYWORDS and not (keyword in _COMPILED and _COMPILED[keyword](value)):
                return False
        if "if" in schema and not all(_is_schema(schema[key]) for key in ("then", "else") if key in schema):
            return False
        # jsonschema descends into the first valid branch but evolves into the others, which differ
        # only for a branch with its own `$id`: leave those to jsonschema.
        return not ("oneOf" in schema and any(isinstance(sub, Mapping) and "$id" in sub for sub in schema["oneOf"]))

    def resolve(self, ref: str, resolver: Resolver[Any]) -> Resolved[Any] | None:
        """What a same-document `$ref` points to, or None to leave it to jsonschema."""
        if not ref.startswith("#"):
            return None  # other documents may need retrieving, which stays with jsonschema at validation time
        try:
            resolved = resolver.lookup(ref)
        except Exception:  # jsonschema raises it when validating; so will the fallback
            return None
        if id(resolved.contents) in self.expanding:
            return None  # recursive: references are expanded inline
        self.expansions += 1
        return resolved if self.expansions <= _MAX_EXPANSIONS else None

    def fallback(self, schema: object, v: str, indent: int, resolver: Resolver[Any]) -> None:
        # jsonschema validates the root with the validator itself and descends into subschemas with evolve()
        validator = self.validator if schema is self.root else self.validator.evolve(schema=schema, _resolver=resolver)
        self.fallbacks += 1
        self.emit(indent, f"if not {self.constant(validator.is_valid, '_jsonschema')}({v}): return False")

    def predicate(self, schema: object, resolver: Resolver[Any]) -> str:
        """An expression template (with `{v}`) that is whether the value is valid against `schema`."""
        if schema is True or schema is False:
            return str(schema)
        saved, self.lines = self.lines, []
        value = self.variable()
        self.schema(schema, value, 1, resolver)
        body, self.lines = self.lines, saved
        name = f"_s{len(self.functions)}"
        self.functions.append("\n".join([f"def {name}({value}):", *body, "    return True", ""]))
        return name + "({v})"

    def plain_decimal(self, schema: object, resolver: Resolver[Any]) -> str | None:
        """The decimal format of a `{type, format}` money schema (behind `$ref`s alone), or None.

        A plain decimal string of that format is valid for it: the generated code
        tests such strings with one regular expression and judges every other
        value by the full `type` and `format` checks.
        """
        for _ in range(_MAX_PLAIN_REFS):
            if not isinstance(schema, Mapping) or ("$schema" in schema and schema is not self.root):
                return None
            keywords = {key for key in schema if key in _JSONSCHEMA_KEYWORDS}
            if keywords != {"$ref"}:
                break
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                return None
            try:
                resolved = resolver.lookup(ref)
            except Exception:  # left to the full path, which reports it as jsonschema does
                return None
            schema, resolver = resolved.contents, resolved.resolver
        else:
            return None
        if keywords != {"type", "format"} or schema["format"] not in PLAIN_DECIMAL_TESTS:
            return None
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not (isinstance(types, list) and "string" in types and _is_type(types)):
            return None
        return str(schema["format"])

    def schema(self, schema: object, v: str, indent: int, resolver: Resolver[Any]) -> None:
        if schema is True:
            return
        if schema is False:
            self.emit(indent, "return False")
            return
        plain = self.plain_decimal(schema, resolver) if v not in self.plain_tested else None
        if plain is not None:
            test = PLAIN_DECIMAL_TESTS[plain].format(v=v)
            self.emit(indent, f"if not (type({v}) is str and len({v}) <= {PLAIN_DECIMAL_LENGTH} and {test}):")
            self.emit(indent + 1, "pass")
            self.plain_tested.add(v)  # the schema behind the `$ref` is the same money schema
            try:
                self.checks(schema, v, indent + 1, resolver)
            finally:
                self.plain_tested.discard(v)
            return
        self.checks(schema, v, indent, resolver)

    def checks(self, schema: object, v: str, indent: int, resolver: Resolver[Any]) -> None:
        """The statements of `schema` for a mapping or a boolean schema (True and False are handled above)."""
        if not self.compilable(schema):
            self.fallback(schema, v, indent, resolver)
            return
        resolved = self.resolve(schema["$ref"], resolver) if "$ref" in schema else None
        if "$ref" in schema and resolved is None:
            self.fallback(schema, v, indent, resolver)
            return
        known = self.type_check(schema, v, indent)
        if resolved is not None:
            self.expanding.add(id(resolved.contents))
            self.schema(resolved.contents, v, indent, resolved.resolver)
            self.expanding.discard(id(resolved.contents))
        self.values(schema, v, indent, known)
        self.sizes(schema, v, indent, known)
        if any(key in schema for key in ("required", "properties", "additionalProperties")):
            self.object_keywords(schema, v, indent, resolver, known)
        if "propertyNames" in schema:
            self.property_names(schema["propertyNames"], v, indent, resolver, known)
        if "items" in schema:
            self.array_items(schema["items"], v, indent, resolver, known)
        self.combinations(schema, v, indent, resolver)

    def type_check(self, schema: Mapping[str, Any], v: str, indent: int) -> str | None:
        """Emit the `type` check; the one type the value then has, if there is exactly one."""
        if "type" not in schema:
            return None
        names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        test = " or ".join(_TYPE_TESTS[name].format(v=v) for name in names)
        self.emit(indent, f"if not ({test}): return False")
        return names[0] if len(set(names)) == 1 else None

    def values(self, schema: Mapping[str, Any], v: str, indent: int, known: str | None) -> None:
        """const, enum, format, the numeric bounds and pattern."""
        if "const" in schema:
            const = schema["const"]
            if type(const) is str:
                self.emit(indent, f"if not {v} == {const!r}: return False")
            else:
                self.emit(indent, f"if not _same({v}, {self.constant(const)}): return False")
        if "enum" in schema:
            options = schema["enum"]
            if options and all(type(option) is str for option in options):
                allowed = self.constant(frozenset(options))
                test = f"{v} in {allowed}" if known == "string" else f"(isinstance({v}, str) and {v} in {allowed})"
            else:
                test = f"_in_enum({v}, {self.constant(tuple(options))})"
            self.emit(indent, f"if not {test}: return False")
        if "format" in schema:
            format_test = _format_test(schema["format"])
            if format_test is not None:
                self.emit(indent, f"if not {self.constant(format_test)}({v}): return False")
        number = "" if known in ("number", "integer") else f"_is_number({v}) and "
        for keyword, operator in _BOUNDS:
            if keyword in schema:
                self.emit(indent, f"if {number}{v} {operator} {self.literal(schema[keyword])}: return False")
        if "pattern" in schema:
            string = "" if known == "string" else f"isinstance({v}, str) and "
            pattern = self.constant(re.compile(schema["pattern"]))
            self.emit(indent, f"if {string}not {pattern}.search({v}): return False")

    def sizes(self, schema: Mapping[str, Any], v: str, indent: int, known: str | None) -> None:
        for keyword, (operator, applies_to) in _SIZES.items():
            if keyword in schema:
                guard = "" if known == applies_to else _TYPE_TESTS[applies_to].format(v=v) + " and "
                self.emit(indent, f"if {guard}len({v}) {operator} {self.literal(schema[keyword])}: return False")

    def object_keywords(
        self, schema: Mapping[str, Any], v: str, indent: int, resolver: Resolver[Any], known: str | None
    ) -> None:
        if known != "object":
            self.emit(indent, f"if isinstance({v}, dict):")
            indent += 1
            self.emit(indent, "pass")
        required = set(schema.get("required", ()))
        for name in schema.get("required", ()):
            self.emit(indent, f"if {name!r} not in {v}: return False")
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name, sub in properties.items():
            item = self.variable()
            if name in required:
                self.emit(indent, f"{item} = {v}[{name!r}]")
                self.schema(sub, item, indent, _enter(resolver, sub))
                continue
            self.emit(indent, f"{item} = {v}.get({name!r}, _MISSING)")
            self.emit(indent, f"if {item} is not _MISSING:")
            self.emit(indent + 1, "pass")
            self.schema(sub, item, indent + 1, _enter(resolver, sub))
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            key, item = self.variable(), self.variable()
            names = self.constant(frozenset(properties))
            self.emit(indent, f"for {key}, {item} in {v}.items():")
            self.emit(indent + 1, f"if {key} not in {names}:")
            self.emit(indent + 2, "pass")
            self.schema(extra, item, indent + 2, _enter(resolver, extra))

    def property_names(self, sub: object, v: str, indent: int, resolver: Resolver[Any], known: str | None) -> None:
        """Each key of an object, against `propertyNames` (jsonschema descends into it with no path)."""
        self.each(sub, v, indent, resolver, known, over="object")

    def array_items(self, sub: object, v: str, indent: int, resolver: Resolver[Any], known: str | None) -> None:
        self.each(sub, v, indent, resolver, known, over="array")

    def each(self, sub: object, v: str, indent: int, resolver: Resolver[Any], known: str | None, *, over: str) -> None:
        """`sub` against each item of an array or each key of an object (`for x in v`), when `v` is one."""
        if known != over:
            self.emit(indent, f"if {_TYPE_TESTS[over].format(v=v)}:")
            indent += 1
        item = self.variable()
        self.emit(indent, f"for {item} in {v}:")
        self.emit(indent + 1, "pass")
        self.schema(sub, item, indent + 1, _enter(resolver, sub))

    def combinations(self, schema: Mapping[str, Any], v: str, indent: int, resolver: Resolver[Any]) -> None:
        """allOf inline; anyOf, oneOf, not and if through one generated function per subschema.

        jsonschema's `descend` (allOf, anyOf, oneOf, then, else) moves the resolver into a subschema
        with an `$id`; its `evolve` (if, not) keeps the current one.
        """
        for sub in schema.get("allOf", ()):
            self.schema(sub, v, indent, _enter(resolver, sub))
        if "anyOf" in schema:
            calls = [self.predicate(sub, _enter(resolver, sub)).format(v=v) for sub in schema["anyOf"]]
            self.emit(indent, f"if not ({' or '.join(calls) or 'False'}): return False")
        if "oneOf" in schema:
            calls = [self.predicate(sub, _enter(resolver, sub)).format(v=v) for sub in schema["oneOf"]]
            self.emit(indent, f"if ({' + '.join(calls) or '0'}) != 1: return False")  # every branch, as jsonschema
        if "not" in schema:
            self.emit(indent, f"if {self.predicate(schema['not'], resolver).format(v=v)}: return False")
        if "if" in schema and ("then" in schema or "else" in schema):
            condition = self.predicate(schema["if"], resolver).format(v=v)
            if "then" in schema:
                self.emit(indent, f"if {condition}:")
                self.emit(indent + 1, "pass")
                self.schema(schema["then"], v, indent + 1, _enter(resolver, schema["then"]))
                if "else" in schema:
                    self.emit(indent, "else:")
            else:
                self.emit(indent, f"if not {condition}:")
            if "else" in schema:
                self.emit(indent + 1, "pass")
                self.schema(schema["else"], v, indent + 1, _enter(resolver, schema["else"]))


def compile_check(schema: Mapping[str, Any] | bool) -> CompiledCheck:
    """A function that says whether a value is valid against `schema`, as jsonschema's `is_valid` would."""
    validator = DecimalValidator(schema, format_checker=_FORMAT_CHECKER)
    generator = _Generator(schema, validator)
    generator.schema(schema, "v0", 1, validator._resolver)  # the resolver jsonschema starts from
    source = "\n".join([*generator.functions, "def check(v0):", *generator.lines, "    return True", ""])
    namespace: dict[str, Any] = {
        "__builtins__": {
            "isinstance": isinstance,
            "len": len,
            "str": str,
            "list": list,
            "dict": dict,
            "bool": bool,
            "int": int,
            "type": type,
        },
        "_MISSING": object(),
        "_is_number": is_number,
        "_is_integer": is_integer,
        "_same": _same,
        "_in_enum": _in_enum,
        **generator.constants,
    }
    # The source is generated from our own bundled schemas: property names and
    # string constants are written with repr(), integers as their digits, every
    # other value is passed in as a bound constant.
    exec(compile(source, "<account schema check>", "exec"), namespace)  # noqa: S102 - see comment above
    check: CompiledCheck = namespace["check"]
    check.source = source
    check.fallbacks = generator.fallbacks
    return check


# --- the reader: the check and the read-only copy in one generated function ---------------------------

Reader = Callable[[Any], "Mapping[str, Any] | None"]

_MAX_FREEZER_INDENT = 14
"""Deeper values (a recursive schema, say) are copied by `freeze_value`: Python allows 20 nested blocks."""
_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})
_SCALAR_VALUES = (str, int, Decimal, bool, type(None))
_JSON_TYPE_OF = {str: "string", bool: "boolean", type(None): "null"}
_KEPT_AS_IS = {
    "string": "(type({v}) is str and {v}.isascii())",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
    "integer": "(type({v}) is int and -_BEYOND < {v} < _BEYOND)",
    "number": "(type({v}) is int and -_BEYOND < {v} < _BEYOND)",
}
"""Values `freeze_value` keeps as they are, by exact type; any other (a Decimal, a str subclass, text that is not
ASCII and may hold a lone surrogate) goes to it."""


class CompiledReader(Protocol):
    """What `compile_reader` returns: a `Reader` that also carries its generated source."""

    source: str
    check: CompiledCheck
    """The check alone: whether the value is valid, without copying it."""

    def __call__(self, value: Any, /) -> Mapping[str, Any] | None: ...


class _Freezer:
    """Emits the statements that copy a value the check found valid, read-only, as `freeze_value` would.

    The schema says the shape of a valid value: which keys hold objects, arrays
    or scalars.  Objects are copied once into a `FrozenDict`, arrays into tuples,
    and each scalar is only tested: an exact `str` as it is, any other value by
    `freeze_value` (which refuses floats, numbers beyond 1e60 and anything that
    is not a JSON value).  Where the schema does not fix the shape (no `type`,
    several types, extra keys, `prefixItems`, `patternProperties`, ...) the
    value is copied by `freeze_value` itself, so the copy is always the one
    `freeze_value` makes, or a refusal where it refuses.
    """

    def __init__(self, root: object) -> None:
        self.root = root
        self.lines: list[str] = []
        self.depth = 0
        self.constants: dict[str, object] = {}

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def variable(self) -> str:
        self.depth += 1
        return f"f{self.depth}"

    def shape(self, schema: object, resolver: Resolver[Any]) -> tuple[str, Mapping[str, Any], Resolver[Any]]:
        """`scalar`, `object`, `array` or `any` for the values valid against `schema`, with the node that says so."""
        for _ in range(_MAX_PLAIN_REFS):
            if not isinstance(schema, Mapping) or ("$schema" in schema and schema is not self.root):
                return "any", {}, resolver  # jsonschema switches validator class there
            if "type" in schema:
                types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
                if not _is_type(types):
                    return "any", {}, resolver
                if _SCALAR_TYPES.issuperset(types):
                    return "scalar", {"type": types}, resolver
                if set(types) == {"object"} and "patternProperties" not in schema:
                    return "object", schema, resolver
                if set(types) == {"array"} and "prefixItems" not in schema:
                    return "array", schema, resolver
                return "any", {}, resolver
            options = [schema["const"]] if "const" in schema else schema.get("enum")
            if isinstance(options, list) and options and all(isinstance(o, _SCALAR_VALUES) for o in options):
                return "scalar", {"type": sorted({_JSON_TYPE_OF.get(type(o), "number") for o in options})}, resolver
            ref = schema.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#"):
                return "any", {}, resolver
            try:
                resolved = resolver.lookup(ref)
            except Exception:  # the check validated it, so this is unreachable; copy it the general way
                return "any", {}, resolver
            schema, resolver = resolved.contents, resolved.resolver
        return "any", {}, resolver

    def value(self, schema: object, v: str, indent: int, resolver: Resolver[Any]) -> str | None:
        """Emit the copy of `v`; the expression of the copy, or None when `v` is a scalar kept as it is."""
        kind, node, resolver = self.shape(schema, resolver) if indent < _MAX_FREEZER_INDENT else ("any", {}, resolver)
        if kind == "scalar":
            # strings, booleans and null are kept as they are; numbers are range-checked by `freeze_value`
            kept = [_KEPT_AS_IS[name].format(v=v) for name in dict.fromkeys(node["type"]) if name in _KEPT_AS_IS]
            self.emit(indent, f"if not ({' or '.join(kept)}): _freeze({v})" if kept else f"_freeze({v})")
            return None
        if kind == "object":
            return self.mapping(node, v, indent, resolver)
        if kind == "array":
            return self.array(node, v, indent, resolver)
        copy = self.variable()
        self.emit(indent, f"{copy} = _freeze({v})")
        return copy

    def mapping(self, node: Mapping[str, Any], v: str, indent: int, resolver: Resolver[Any]) -> str:
        properties: Mapping[str, Any] = node.get("properties", {})
        required = set(node.get("required", ())) & set(properties)
        extra = node.get("additionalProperties", True)
        copy = self.variable()
        if extra is True or extra is False:
            # keys beyond `properties` have no known shape: such a mapping is copied the general way
            present = [str(len(required))] + [f"({name!r} in {v})" for name in properties if name not in required]
            self.emit(indent, f"if len({v}) != {' + '.join(present)}:")
            self.emit(indent + 1, f"{copy} = _freeze({v})")
            self.emit(indent, "else:")
            indent += 1
        replaced: list[str] = []
        for name, sub in properties.items():
            sub_resolver = _enter(resolver, sub)
            line = self.member(name, sub, v, copy, indent=indent, resolver=sub_resolver, required=name in required)
            if line is not None:
                replaced.append(line)
        if extra is not True and extra is not False:
            loop, replacing = self.extra_members(extra, frozenset(properties), v, copy, _enter(resolver, extra))
            if replacing:
                replaced += loop
            else:  # only tests: run them before the copy
                for line in loop:
                    self.emit(indent, line)
        if not replaced:
            self.emit(indent, f"{copy} = _FrozenDict({v})")
            return copy
        self.emit(indent, f"{copy} = dict({v})")
        for line in replaced:
            self.emit(indent, line)
        self.emit(indent, f"{copy} = _FrozenDict({copy})")
        return copy

    def member(
        self, name: str, sub: object, v: str, copy: str, *, indent: int, resolver: Resolver[Any], required: bool
    ) -> str | None:
        """Emit the test or copy of `v[name]`; the line that puts its copy into `copy`, if it is not kept as it is."""
        item = self.variable()
        if required:
            self.emit(indent, f"{item} = {v}[{name!r}]")
            frozen = self.value(sub, item, indent, resolver)
            return None if frozen is None else f"{copy}[{name!r}] = {frozen}"
        self.emit(indent, f"{item} = {v}.get({name!r}, _MISSING)")
        mark = len(self.lines)
        self.emit(indent, f"if {item} is not _MISSING:")
        frozen = self.value(sub, item, indent + 1, resolver)
        if frozen is None:
            if len(self.lines) == mark + 1:
                self.lines.pop()  # nothing to test: no empty `if`
            return None
        self.emit(indent + 1, f"{item} = {frozen}")
        return f"if {item} is not _MISSING: {copy}[{name!r}] = {item}"

    def extra_members(
        self, extra: object, known: frozenset[str], v: str, copy: str, resolver: Resolver[Any]
    ) -> tuple[list[str], bool]:
        """The loop over keys beyond `known`, shaped by `additionalProperties`, and whether it puts copies into `copy`
        (then it runs after `copy = dict(v)`)."""
        key, item = self.variable(), self.variable()
        depth = 2 if known else 1
        saved, self.lines = self.lines, []
        frozen = self.value(extra, item, depth, resolver)
        body, self.lines = self.lines, saved
        if frozen is not None:
            body.append("    " * depth + f"{copy}[{key}] = {frozen}")
        if not body:
            return [], False
        loop = [f"for {key}, {item} in {v}.items():"]
        # a key beyond the known names is tested as `freeze_value` tests keys: exact, valid Unicode text
        loop.append(f"    if not (type({key}) is str and {key}.isascii()): _text({key})")
        if known:
            self.constants[f"_known{self.depth}"] = known
            loop.append(f"    if {key} not in _known{self.depth}:")
        return [*loop, *body], frozen is not None

    def array(self, node: Mapping[str, Any], v: str, indent: int, resolver: Resolver[Any]) -> str:
        items = node.get("items", True)
        copy, item = self.variable(), self.variable()
        self.emit(indent, f"if type({v}) is not list: raise _Refused")  # `freeze_value` refuses list subclasses
        saved, self.lines = self.lines, []
        frozen = self.value(items, item, indent + 1, _enter(resolver, items))
        body, self.lines = self.lines, saved
        if frozen is None:
            if body:
                self.emit(indent, f"for {item} in {v}:")
                self.lines.extend(body)
            self.emit(indent, f"{copy} = tuple({v})")
            return copy
        self.emit(indent, f"{copy} = []")
        self.emit(indent, f"for {item} in {v}:")
        self.lines.extend(body)
        self.emit(indent + 1, f"{copy}.append({frozen})")
        self.emit(indent, f"{copy} = tuple({copy})")
        return copy


def compile_reader(schema: Mapping[str, Any] | bool) -> CompiledReader:
    """A function giving the read-only copy of a value valid against `schema`, or None.

    None when the value is invalid (`compile_check` says no) or when
    `freeze_value` refuses it (a float or a number beyond 1e60 where the
    schema does not look, say): the caller then finds every problem the slow
    way.  Otherwise the copy equals `freeze_value(value)`, built in one pass
    shaped by the schema.
    """
    check = compile_check(schema)
    validator = DecimalValidator(schema, format_checker=_FORMAT_CHECKER)
    freezer = _Freezer(schema)
    frozen = freezer.value(schema, "v0", 2, validator._resolver)
    source = "\n".join(
        [
            "def read(v0):",
            "    if not _check(v0): return None",
            "    try:",
            *freezer.lines,
            f"        return {frozen or 'v0'}",
            "    except _Refused:",
            "        return None",
            "",
        ]
    )
    namespace: dict[str, Any] = {
        "__builtins__": {
            "type": type,
            "len": len,
            "dict": dict,
            "tuple": tuple,
            "str": str,
            "bool": bool,
            "int": int,
            "list": list,
        },
        "_MISSING": object(),
        "_check": check,
        "_freeze": freeze_value,
        "_text": unicode_text,
        "_Refused": Refused,
        "_FrozenDict": FrozenDict,
        "_BEYOND": 10 ** (MAX_MAGNITUDE + 1),
        **freezer.constants,
    }
    # generated from the schema as `compile_check` is: names written with repr(), nothing else from the schema
    exec(compile(source, "<account schema reader>", "exec"), namespace)  # noqa: S102 - see comment above
    reader: CompiledReader = namespace["read"]
    reader.source = source
    reader.check = check
    return reader


_MADE: dict[tuple[str, int], tuple[object, Any]] = {}
"""(what, id(schema)) -> (schema, its compiled check or reader); the entry keeps the schema alive, so its id is
not reused while the entry exists."""
_USES: dict[tuple[str, int], tuple[object, int]] = {}


def _compiled(what: str, schema: object, compile_: Callable[[Any], Any], uses: int) -> Any:
    """`compile_(schema)`, made once per schema object, and only at its `uses`-th request (None before)."""
    key = (what, id(schema))
    cached = _MADE.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    seen = _USES.get(key)
    count = seen[1] + 1 if seen is not None and seen[0] is schema else 1
    if count < uses:
        _USES[key] = (schema, count)
        return None
    _USES.pop(key, None)
    function = compile_(schema)
    _MADE[key] = (schema, function)
    return function


def check_for(schema: Mapping[str, Any] | bool, *, uses: int = 1) -> CompiledCheck | None:
    """The compiled check of `schema`, made on its `uses`-th request (None before) and kept.

    Compiling costs as much as two jsonschema validations of a policy, or a
    dozen of an account: a schema used once is better judged by jsonschema.
    """
    check: CompiledCheck | None = _compiled("check", schema, compile_check, uses)
    return check


def reader_for(schema: Mapping[str, Any] | bool, *, uses: int = 1) -> CompiledReader | None:
    """The compiled reader of `schema`, made on its `uses`-th request (None before) and kept, as `check_for`."""
    reader: CompiledReader | None = _compiled("reader", schema, compile_reader, uses)
    return reader
