"""Records shared by every policy kind: where a value came from, how to round, which policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from types import MappingProxyType
from typing import Any

from ._numbers import WIDE_CONTEXT
from ._plain import json_text, to_plain
from .errors import JsonPath, Problem, format_json_path
from .frozen import slot_setters


@dataclass(frozen=True, slots=True)
class Mark:
    """A 1-based line and column."""

    line: int
    col: int

    def __init__(self, line: int, col: int) -> None:
        _set_line(self, line)  # see `slot_setters`: a policy load makes one per YAML value and key
        _set_col(self, col)


_set_line, _set_col = slot_setters(Mark, "line", "col")


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed document: its plain data and where each value and key sits."""

    data: Any
    marks: dict[JsonPath, Mark] = field(default_factory=dict)
    key_marks: dict[JsonPath, Mark] = field(default_factory=dict)

    def mark_of(self, path: JsonPath, *, key: bool = False) -> Mark:
        """The mark of `path`, or of its nearest ancestor that has one."""
        table = self.key_marks if key else self.marks
        for end in range(len(path), -1, -1):
            found = table.get(path[:end]) or self.marks.get(path[:end])
            if found is not None:
                return found
        return Mark(1, 1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Parameter:
    """A policy value together with its JSON path and `file:line` source."""

    name: str
    value: Any
    json_path: str
    source: str
    rendered: Mapping[str, Any] = field(init=False, repr=False, compare=False)
    """`to_dict()` in plain JSON values, built once at load: every decision citing it shares it."""
    written: list[str] = field(default_factory=list, init=False, repr=False, compare=False)
    """`texts()` once written (a parameter is immutable, so they never change)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "rendered", MappingProxyType(to_plain(self.to_dict())))

    def texts(self) -> list[str]:
        """`rendered`, `json_path` and `source` as canonical JSON text, for traces written from pieces
        (`StepSpec.render_json`): written on first use, so a load writes none (and text JSON cannot hold,
        a lone surrogate, say, is refused where decisions are written, as before)."""
        if not self.written:
            self.written.extend([json_text(self.rendered), json_text(self.json_path), json_text(self.source)])
        return self.written

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "path": self.json_path, "source": self.source}


@dataclass(frozen=True, kw_only=True, slots=True)
class Rounding:
    """How a value is rounded before it is compared or moved: places and a `decimal` mode."""

    places: int
    mode: str
    quantum: Decimal
    context: Context = field(init=False, repr=False, compare=False)
    """`WIDE_CONTEXT` with this rounding mode: `context.quantize(value, quantum)` is the rounding, a third of the
    cost of `value.quantize(quantum, rounding=mode, context=WIDE_CONTEXT)`, whose keywords are parsed per call."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "context", WIDE_CONTEXT.copy())
        self.context.rounding = self.mode

    def apply(self, value: Decimal) -> Decimal:
        return self.context.quantize(value, self.quantum)

    def describe(self) -> str:
        return f"{self.places} places, {self.mode}"


_REF_DICTS: dict[PolicyRef, Mapping[str, Any]] = {}


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyRef:
    """Which policy a decision used: enough to find the exact file again."""

    id: str
    kind: str
    version: int
    effective_from: datetime
    sha256: str
    file: str
    written: list[str] = field(default_factory=list, init=False, repr=False, compare=False)
    """`json()` once written (a list, as the record crosses to worker processes: it pickles)."""

    @property
    def as_dict(self) -> Mapping[str, Any]:
        """`to_dict()`, built once per policy version and shared read-only by every decision that cites it."""
        cached = _REF_DICTS.get(self)
        if cached is None:
            cached = _REF_DICTS[self] = MappingProxyType(self.to_dict())
        return cached

    def json(self) -> str:
        """`to_dict()` as canonical JSON text, written on first use: decisions embed it as it is."""
        if not self.written:
            self.written.append(json_text(self.to_dict()))
        return self.written[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "version": self.version,
            "effective_from": self.effective_from.isoformat().replace("+00:00", "Z"),
            "sha256": self.sha256,
            "file": self.file,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyDocument:
    """A schema-valid policy document, with the positions of all its values."""

    file: str
    """The path as the user named it, for error messages."""
    source_name: str
    """The path cited in traces: the policy folder's name and the file inside it."""
    yaml: YamlDocument
    ref: PolicyRef

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.yaml.data
        return data

    def data_at(self, path: JsonPath) -> Any:
        """The value at `path`, or None where the path is absent."""
        value: Any = self.yaml.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def source(self, path: JsonPath) -> str:
        """`file:line` of `path`: the line of its key, where it has one."""
        return f"{self.source_name}:{self.yaml.mark_of(path, key=True).line}"

    def parameter(self, name: str, path: JsonPath) -> Parameter:
        """The value at `path`, recorded with its path and source line."""
        return Parameter(
            name=name, value=self.data_at(path), json_path=format_json_path(path), source=self.source(path)
        )

    def problem(self, path: JsonPath, message: str, *, suggestion: str | None = None, key: bool = False) -> Problem:
        mark = self.yaml.mark_of(path, key=key)
        return Problem(
            file=self.file,
            line=mark.line,
            col=mark.col,
            json_path=format_json_path(path),
            message=message,
            suggestion=suggestion,
        )
