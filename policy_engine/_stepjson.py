"""Trace steps as canonical JSON text, by a function generated once per step.

`StepSpec.render()` builds a dict per step and the JSON writer then sorts its
keys and calls back into Python for every Decimal: most of the cost of
writing a decision.  What a step writes is mostly fixed when the policy is
loaded (its name, kind, description, expression, source, which inputs it
shows, which are compared after a rounding, which parameters it cites), so
each step gets a generated function that joins its text from static pieces
in canonical key order, and only the values are converted per call: a
Decimal inline, any other value by `json_text`.  (A `%`-template would read
the whole static text on every call: `str.join` only copies it.)

The function is generated on a step's first rendering, not at load, and its
output is held byte for byte to `render()` written by the reference writer
(tests/test_trace_json.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring  # the C escaper of json.dumps: orjson's escapes, as text
from typing import TYPE_CHECKING, Any

from ._plain import json_text

if TYPE_CHECKING:
    from .model import Parameter
    from .trace import StepSpec

Renderer = Callable[[Any, Mapping[str, Any], Mapping[str, "Parameter"]], str]


DETAIL_JSON_TEXT = "json_text"
"""The attribute of a step's `detail` function holding its JSON-text twin (set by `trace.with_json_text`)."""

_CITED_PROVENANCES = 256
"""Per step, the `parameters` text of this many provenance mappings is kept (a policy has one per tier or
table row); past it the cache starts again, so a product making a new mapping per decision grows nothing."""


def _text(value: Any) -> str:
    return encode_basestring(value)


def _cite(provenance: Mapping[str, Parameter], names: tuple[str, ...]) -> str:
    """The `parameters` list's items: each cited parameter's JSON, in `cites` order."""
    return ",".join([provenance[name].texts()[0] for name in names if name in provenance])


class _Writer:
    """The statements of one step's renderer, its template and the constants they use."""

    def __init__(self, spec: StepSpec) -> None:
        self.spec = spec
        self.lines: list[str] = []
        self.pieces: list[tuple[bool, str]] = []
        """The step's text: (False, static text) or (True, the variable holding a value's text)."""
        self.constants: dict[str, object] = {}
        self.count = 0
        self.value_text: str | None = None

    def variable(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, value: object) -> str:
        name = f"_k{len(self.constants)}"
        self.constants[name] = value
        return name

    def emit(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)

    def static(self, text: str) -> None:
        self.pieces.append((False, text))

    def slot(self, variable: str) -> None:
        self.pieces.append((True, variable))

    def joined(self, pieces: list[tuple[bool, str]]) -> str:
        """The expression joining `pieces`: adjacent static texts merged into one constant each."""
        merged: list[tuple[bool, str]] = []
        for is_variable, text in pieces:
            if merged and not is_variable and not merged[-1][0]:
                merged[-1] = (False, merged[-1][1] + text)
            else:
                merged.append((is_variable, text))
        names = [text if is_variable else self.constant(text) for is_variable, text in merged]
        return names[0] if len(names) == 1 else f"''.join(({', '.join(names)},))"

    def convert(self, source: str, indent: int = 1) -> str:
        """Emit the JSON text of the value in `source`; return the variable holding it."""
        out = self.variable()
        self.emit(f"if type({source}) is _Decimal:", indent)
        self.emit(f"    {out} = str({source})", indent)
        self.emit(f"    {out} = f'\"{{{out}}}\"' if 'E' not in {out} else f'\"{{{source}:f}}\"'", indent)
        self.emit(f"elif {source} is True: {out} = 'true'", indent)
        self.emit(f"elif {source} is False: {out} = 'false'", indent)
        self.emit(f"elif {source} is None: {out} = 'null'", indent)
        self.emit(f"elif type({source}) is str: {out} = _escape({source})", indent)
        self.emit(f"else: {out} = _json({source})", indent)
        return out

    def value(self) -> str:
        """The JSON text of the step's recorded value, converted once."""
        if self.value_text is None:
            self.value_text = self.convert("value")
        return self.value_text

    def entry(self, name: str, *, named: bool) -> str:
        """Emit `StepSpec._input(name, ..., named=named)` as text; return its variable."""
        spec = self.spec
        rounding = spec.roundings.get(name) if spec.roundings else None
        value = self.variable("v")
        self.emit(f"{value} = env.get({self.constant(name)})")
        text = self.convert(value)
        raw = None
        if rounding is not None:
            raw_value = self.variable("v")
            self.emit(f"{raw_value} = env.get({self.constant(name + '_raw')})")
            raw = self.convert(raw_value)
        parameter, entry, texts = self.variable("p"), self.variable("e"), self.variable("x")
        self.emit(f"{parameter} = provenance.get({self.constant(name)})")

        def shape(cited: bool) -> str:
            """The expression of the entry's text, with or without the cited parameter's keys."""
            parts: list[tuple[str, str | None]] = []  # (key, the variable of its value, or None for a static one)
            if rounding is not None:
                parts.append(("compared", text))
            if named:
                parts.append(("name", None))
            if cited:
                parts.append(("path", f"{texts}[1]"))
            if rounding is not None:
                parts += [("raw", raw), ("rounding", None)]
            if cited:
                parts.append(("source", f"{texts}[2]"))
            if rounding is None:
                parts.append(("value", text))
            statics = {"name": _text(name), "rounding": _text(rounding.describe()) if rounding else ""}
            pieces: list[tuple[bool, str]] = []
            for index, (key, argument) in enumerate(parts):
                pieces.append((False, ("{" if index == 0 else ",") + f'"{key}":'))
                pieces.append((False, statics[key]) if argument is None else (True, argument))
            return self.joined([*pieces, (False, "}")])

        uncited = text if rounding is None and not named else shape(cited=False)
        self.emit(f"if {parameter} is None: {entry} = {uncited}")
        self.emit("else:")
        self.emit(f"    {texts} = {parameter}.written or {parameter}.texts()")
        self.emit(f"    {entry} = {shape(cited=True)}")
        return entry


def compile_renderer(spec: StepSpec) -> Renderer:
    """The function writing `spec.render(value, env, provenance)` as canonical JSON text."""
    w = _Writer(spec)
    w.static("{")
    if spec.comparison is not None:
        _comparison(w, spec.comparison)
    w.static(f'"description":{_text(spec.description)},')
    if spec.detail is not None:
        detail = w.variable("v")
        text_of = getattr(spec.detail, DETAIL_JSON_TEXT, None)  # `trace.with_json_text`: the detail written as text
        w.emit(f"{detail} = {w.constant(text_of or spec.detail)}(value, env)")
        w.static('"detail":')
        w.slot(detail if text_of is not None else w.convert(detail))
        w.static(",")
    if spec.expression is not None:
        w.static(f'"expression":{_text(spec.expression)},')
    _inputs(w, spec)
    w.static(f'"kind":{_text(spec.kind)},')
    if spec.cites:
        _parameters(w, spec.cites)
    if spec.source is not None:
        w.static(f'"path":{json_text(spec.path)},"source":{_text(spec.source)},')
    w.static(f'"step":{_text(spec.name)},"value":')
    if spec.value_of is not None:
        shown = w.variable("v")
        w.emit(f"{shown} = {w.constant(spec.value_of)}(value)")
        w.slot(w.convert(shown))
    else:
        w.slot(w.value())
    w.static("}")
    source = "\n".join(["def render(value, env, provenance):", *w.lines, f"    return {w.joined(w.pieces)}", ""])
    namespace: dict[str, Any] = {
        "__builtins__": {"type": type, "format": format, "dict": dict, "id": id, "str": str, "len": len},
        "_cite": _cite,
        "_Decimal": Decimal,
        "_json": json_text,
        "_escape": encode_basestring,
        **w.constants,
    }
    # generated from the step's own strings, each passed in as a bound constant: no policy text becomes code
    exec(compile(source, f"<trace step {spec.name}>", "exec"), namespace)  # noqa: S102 - see comment above
    renderer: Renderer = namespace["render"]
    return renderer


def _comparison(w: _Writer, comparison: tuple[str, str, str]) -> None:
    left, operator, right = comparison
    w.static('"comparison":{"left":')
    w.slot(w.entry(left, named=True))
    w.static(f',"operator":{_text(operator)},"result":')
    w.slot(w.value())
    w.static(',"right":')
    w.slot(w.entry(right, named=True))
    w.static("},")


def _inputs(w: _Writer, spec: StepSpec) -> None:
    if spec.inputs_of is not None:
        inputs = w.variable()
        w.emit(f"{inputs} = _json(dict({w.constant(spec.inputs_of)}(value)))")
        w.static('"inputs":')
        w.slot(inputs)
        w.static(",")
    elif spec.inputs:
        w.static('"inputs":{')
        for index, name in enumerate(sorted(set(spec.inputs))):
            w.static(("," if index else "") + encode_basestring(name) + ":")
            w.slot(w.entry(name, named=False))
        w.static("},")


def _parameters(w: _Writer, cites: tuple[str, ...]) -> None:
    """The cited parameters' text: the same for every decision made with one provenance, so kept by it."""
    cited, cache = w.variable(), w.constant({})
    w.emit(f"{cited} = {cache}.get(id(provenance))")
    w.emit(f"if {cited} is None or {cited}[0] is not provenance:")
    w.emit(f"    if len({cache}) >= {_CITED_PROVENANCES}: {cache}.clear()")
    w.emit(f"    {cited} = {cache}[id(provenance)] = (provenance, _cite(provenance, {w.constant(cites)}))")
    w.emit(f"{cited} = {cited}[1]")
    w.static('"parameters":[')
    w.slot(cited)
    w.static("],")
