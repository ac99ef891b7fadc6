"""Trace steps: cheap records while evaluating, rendered to dicts only when asked.

During evaluation a product appends `(spec, value)` pairs to a list and keeps
one `env` mapping of every named quantity.  A `StepSpec` is built once, at
load time, and knows how to render its step: which names it read, which
policy parameters it cites, and its expression or comparison.  Nothing is
formatted until `Trace.to_list()` runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._stepjson import DETAIL_JSON_TEXT, Renderer, compile_renderer
from .frozen import slot_setters
from .model import Parameter, Rounding

Env = Mapping[str, Any]
Provenance = Mapping[str, Parameter]
"""Policy parameter name -> where it came from, for the tier or table row in use."""

DetailRenderer = Callable[[Any, Env], Any]


def with_json_text(detail: DetailRenderer, text: Callable[[Any, Env], str]) -> DetailRenderer:
    """`detail`, carrying `text`: a function writing the same detail as canonical JSON text directly.

    The trace writer (`StepSpec.render_json`) then calls `text` instead of
    building the detail's dicts and serialising them; `render()` still calls
    `detail`.  The two must agree byte for byte (tests/test_trace_json.py
    holds every bundled step to it).  The text rides on the function, so a
    step copied with another `detail` (`dataclasses.replace`) drops it.
    """
    setattr(detail, DETAIL_JSON_TEXT, text)
    return detail


@dataclass(frozen=True, kw_only=True, slots=True)
class StepSpec:
    """What one step computes, fixed at load time."""

    name: str
    kind: str
    """`input`, `lookup`, `bands`, `derive`, `rule`, `collect`, `status` or `plan`."""
    description: str
    inputs: tuple[str, ...] = ()
    """Names in `env` that the step read."""
    expression: str | None = None
    source: str | None = None
    """`file:line` of the YAML that defines this step, if a policy line does."""
    path: str | None = None
    comparison: tuple[str, str, str] | None = None
    roundings: Mapping[str, Rounding] | None = None
    """Names whose compared value is a rounding of a raw value `<name>_raw` in `env`."""
    cites: tuple[str, ...] = ()
    """Policy parameter names the step used, looked up in the provenance at render time."""
    detail: Callable[[Any, Env], Any] | None = None
    """Renders extra, step-specific detail from the step's value and `env`."""
    value_of: Callable[[Any], Any] | None = None
    """Renders the step's recorded value, when what is recorded is a record (a band, a list of rules)."""
    inputs_of: Callable[[Any], Mapping[str, Any]] | None = None
    """Renders the step's inputs from its recorded value, for a step that records what it read
    (a table used several times in one evaluation) instead of naming values in `env`."""

    static: Mapping[str, Any] = field(init=False, repr=False, compare=False)
    """The keys every rendering of this step shares (name, kind, description, expression, source), built once."""
    renderer: list[Renderer] = field(default_factory=list, init=False, repr=False, compare=False)
    """`render_json`'s generated function, once made (a step is immutable, so it never changes)."""

    def __post_init__(self) -> None:
        static: dict[str, Any] = {"step": self.name, "kind": self.kind, "description": self.description}
        if self.expression is not None:
            static["expression"] = self.expression
        if self.source is not None:
            static["source"] = self.source
            static["path"] = self.path
        object.__setattr__(self, "static", static)

    def render(self, value: Any, env: Env, provenance: Provenance) -> dict[str, Any]:
        step = dict(self.static)
        if self.inputs_of is not None:
            step["inputs"] = dict(self.inputs_of(value))
        elif self.inputs:
            step["inputs"] = {name: self._input(name, env, provenance) for name in self.inputs}
        if self.comparison is not None:
            left, operator, right = self.comparison
            step["comparison"] = {
                "left": self._input(left, env, provenance, named=True),
                "operator": operator,
                "right": self._input(right, env, provenance, named=True),
                "result": value,
            }
        if self.cites:
            step["parameters"] = [provenance[name].rendered for name in self.cites if name in provenance]
        step["value"] = value if self.value_of is None else self.value_of(value)
        if self.detail is not None:
            step["detail"] = self.detail(value, env)
        return step

    def _input(self, name: str, env: Env, provenance: Provenance, *, named: bool = False) -> Any:
        value = env.get(name)
        rounding = self.roundings.get(name) if self.roundings else None
        parameter = provenance.get(name)
        if rounding is None and parameter is None and not named:
            return value
        entry: dict[str, Any] = {"name": name} if named else {}
        if rounding is not None:
            entry["raw"] = env.get(name + "_raw")
            entry["compared"] = value
            entry["rounding"] = rounding.describe()
        else:
            entry["value"] = value
        if parameter is not None:
            entry["path"] = parameter.json_path
            entry["source"] = parameter.source
        return entry

    def render_json(self, value: Any, env: Env, provenance: Provenance) -> str:
        """`render(value, env, provenance)` as canonical JSON text, by a function generated for this step.

        The function is made on the first call (see `_stepjson`) and kept: the
        step's static keys are written once, only its values per call.
        """
        renderers = self.renderer
        if not renderers:
            renderers.append(compile_renderer(self))
        return renderers[0](value, env, provenance)


@dataclass(frozen=True, slots=True)
class Trace:
    """The ordered steps of one evaluation, and the values they read."""

    steps: tuple[tuple[StepSpec, Any], ...]
    env: Env
    provenance: Provenance

    def __init__(self, steps: tuple[tuple[StepSpec, Any], ...], env: Env, provenance: Provenance) -> None:
        _set_steps(self, steps)  # see `slot_setters`: one trace per decision
        _set_env(self, env)
        _set_provenance(self, provenance)

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec, _ in self.steps)

    def to_list(self) -> list[dict[str, Any]]:
        return [spec.render(value, self.env, self.provenance) for spec, value in self.steps]

    def json_text(self) -> str:
        """`to_list()` as canonical JSON text, each step by its generated function (`StepSpec.render_json`)."""
        env, provenance = self.env, self.provenance
        if type(env) is MappingProxyType:
            env = env.copy()  # a read-only view's `get` goes through a method call: two dozen of them cost more
        parts = []
        for spec, value in self.steps:
            renderer = spec.renderer  # called here, not through `render_json`: a frame per step less
            parts.append(renderer[0](value, env, provenance) if renderer else spec.render_json(value, env, provenance))
        return "[" + ",".join(parts) + "]"


_set_steps, _set_env, _set_provenance = slot_setters(Trace, "steps", "env", "provenance")
