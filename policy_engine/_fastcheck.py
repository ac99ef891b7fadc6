"""A fast yes/no validator generated from the account JSON Schemas.

jsonschema takes tens of µs to validate a small account, more than the whole
decision.  The account schemas use a small set of keywords, so each schema is
turned once into the source of one flat Python function that answers only
"valid or not" (the approach of fastjsonschema, which has no 2020-12 or
Decimal support).  On the happy path that is all the engine runs; when it
answers "not valid", the engine runs jsonschema on the same schema for the
full, located messages.

A schema that uses a keyword this module does not implement is refused when
it is compiled, so the fast path can never silently skip a check; the test
suite also compares both validators' verdicts on generated accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ._numbers import is_integer, is_number
from .schema import FORMATS

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default"})
_SUPPORTED = frozenset(
    {
        "$ref",
        "type",
        "const",
        "enum",
        "format",
        "minimum",
        "exclusiveMinimum",
        "minLength",
        "required",
        "properties",
        "additionalProperties",
        "items",
    }
)

_TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "number": "_is_number({v})",
    "integer": "_is_integer({v})",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}


def _same(a: object, b: object) -> bool:
    """JSON equality: 1 equals 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if is_number(a) and is_number(b):
        return Decimal(a) == Decimal(b)  # type: ignore[arg-type]  # both int | Decimal here
    return a == b


class _Generator:
    """Emits the body of `check(value)`: statements that `return False` on the first failure."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.lines: list[str] = []
        self.constants: dict[str, object] = {}
        self.expanding: set[str] = set()
        self.depth = 0

    def constant(self, value: object) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def variable(self) -> str:
        self.depth += 1
        return f"v{self.depth}"

    def schema(self, schema: Mapping[str, Any] | bool, v: str, indent: int) -> None:  # noqa: PLR0912 - one branch per keyword
        if schema is True:
            return
        if schema is False:
            self.emit(indent, "return False")
            return
        unknown = set(schema) - _ANNOTATIONS - _SUPPORTED
        if unknown:
            raise ValueError(f"the fast validator does not implement {sorted(unknown)}")
        if "$ref" in schema:
            target = schema["$ref"]
            if not target.startswith("#/$defs/"):
                raise ValueError(f"only local $defs references are supported, got {target}")
            if target in self.expanding:
                raise ValueError(f"recursive $ref {target} is not supported: references are expanded inline")
            self.expanding.add(target)
            self.schema(self.root["$defs"][target.removeprefix("#/$defs/")], v, indent)
            self.expanding.discard(target)
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
            test = " or ".join(_TYPE_TESTS[name].format(v=v) for name in names)
            self.emit(indent, f"if not ({test}): return False")
        if "const" in schema:
            self.emit(indent, f"if not _same({v}, {self.constant(schema['const'])}): return False")
        if "enum" in schema:
            options = self.constant(tuple(schema["enum"]))
            self.emit(indent, f"if not any(_same({v}, option) for option in {options}): return False")
        if "format" in schema:
            self.emit(indent, f"if not {self.constant(FORMATS[schema['format']])}({v}): return False")
        for keyword, operator in (("minimum", "<"), ("exclusiveMinimum", "<=")):
            if keyword in schema:
                bound = self.constant(schema[keyword])
                self.emit(indent, f"if _is_number({v}) and {v} {operator} {bound}: return False")
        if "minLength" in schema:
            self.emit(indent, f"if isinstance({v}, str) and len({v}) < {int(schema['minLength'])}: return False")
        if any(key in schema for key in ("required", "properties", "additionalProperties")):
            self.object(schema, v, indent)
        if "items" in schema:
            item = self.variable()
            self.emit(indent, f"if isinstance({v}, list):")
            self.emit(indent + 1, f"for {item} in {v}:")
            self.emit(indent + 2, "pass")
            self.schema(schema["items"], item, indent + 2)

    def object(self, schema: Mapping[str, Any], v: str, indent: int) -> None:
        self.emit(indent, f"if isinstance({v}, dict):")
        indent += 1
        self.emit(indent, "pass")
        for name in schema.get("required", ()):
            self.emit(indent, f"if {name!r} not in {v}: return False")
        properties: Mapping[str, Any] = schema.get("properties", {})
        for name, sub in properties.items():
            item = self.variable()
            self.emit(indent, f"{item} = {v}.get({name!r}, _MISSING)")
            self.emit(indent, f"if {item} is not _MISSING:")
            self.emit(indent + 1, "pass")
            self.schema(sub, item, indent + 1)
        extra = schema.get("additionalProperties", True)
        if extra is not True:
            key, item = self.variable(), self.variable()
            known = self.constant(frozenset(properties))
            self.emit(indent, f"for {key}, {item} in {v}.items():")
            self.emit(indent + 1, f"if {key} not in {known}:")
            self.emit(indent + 2, "pass")
            self.schema(extra, item, indent + 2)


def compile_check(schema: Mapping[str, Any]) -> Check:
    """A function that says whether a value is valid against `schema`."""
    generator = _Generator(schema)
    generator.schema(schema, "v0", 1)
    source = "\n".join(["def check(v0):", *generator.lines, "    return True", ""])
    namespace: dict[str, Any] = {
        "__builtins__": {
            "isinstance": isinstance,
            "len": len,
            "any": any,
            "str": str,
            "bool": bool,
            "list": list,
            "tuple": tuple,
            "type": type,
            "dict": dict,
        },
        "_MISSING": object(),
        "_is_number": is_number,
        "_is_integer": is_integer,
        "_same": _same,
        **generator.constants,
    }
    # The source is generated from our own bundled schemas: property names are
    # written with repr(), every other value is passed in as a bound constant.
    exec(compile(source, "<account schema check>", "exec"), namespace)  # noqa: S102 - see comment above
    check: Check = namespace["check"]
    check.source = source  # type: ignore[attr-defined]  # kept for debugging and tests
    return check
