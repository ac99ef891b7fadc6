"""Safe YAML reading that keeps every node's position and reads numbers as Decimal.

PyYAML's safe loader is composed into nodes only; the nodes are then turned
into plain values here, so that nothing but strings, `Decimal`, booleans,
`None`, lists and dicts can come out, and so that each value's line and column
are kept in a side table keyed by JSON path.

Choices beyond YAML 1.1 (each reported as a problem, never guessed):
- numbers are `Decimal`, including `1e-3` and `.5`; `.nan` and `.inf` are refused;
- only `true` and `false` are booleans; the YAML 1.1 words `yes`, `no`, `on`
  and `off` are refused unless quoted, so that `country: no` is never `False`;
- octal, hexadecimal, sexagesimal and underscored numbers are not numbers; dates
  and times stay strings;
- duplicate keys, non-string keys, merge keys (`<<`) and explicit non-core tags
  are refused; aliases may expand to at most `max_alias_nodes` nodes in all.

Composing is the slow part of reading YAML in pure Python (two thirds of a
policy load), so a document is first composed by libyaml (PyYAML's `CParser`),
with the same resolver table and therefore the same tags, values and line and
column marks.  Only a document that comes through that path with no problem
at all is taken from it: when libyaml is missing, or reports anything, or the
built document has a problem, the pure-Python path reads the text again, so
every message is exactly the one it gives (the tests compare both paths).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from ._numbers import MAX_MAGNITUDE, in_range
from .errors import JsonPath, Problem, format_json_path
from .model import Mark, YamlDocument

DEFAULT_MAX_ALIAS_NODES = 100
DEFAULT_MAX_DEPTH = 64
"""The deepest nesting of mappings and sequences a policy may have (the bundled ones nest 7 deep)."""

_CORE = "tag:yaml.org,2002:"
_AMBIGUOUS_BOOL = "tag:policy-engine,2026:yaml11-bool"
_NOT_FINITE = "tag:policy-engine,2026:not-finite"


class _TooDeep(Exception):
    """Raised by `_Loader.compose_node` at the first node nested deeper than the limit."""

    def __init__(self, mark: yaml.Mark, path: JsonPath) -> None:
        super().__init__(mark)
        self.mark = mark
        self.path = path


class _Loader(yaml.SafeLoader):
    """A safe loader with our own scalar resolution table (see module docstring).

    PyYAML's composer recurses once per level of nesting; this one counts the
    levels and stops at `max_depth`, so that the stack, not the limit, is never
    what ends a deep document.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}  # noqa: RUF012 - PyYAML's own class-level table

    def __init__(self, stream: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        super().__init__(stream)
        self._levels_left = max_depth + 1  # the document's root is a node too
        self._path: list[str | int | None] = []

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # `index` is a sequence index, a mapping value's key node, or None for a key (PyYAML types it `int`)
        found: object = index
        self._path.append(found.value if isinstance(found, yaml.ScalarNode) else found if type(found) is int else None)
        self._levels_left -= 1
        try:
            if self._levels_left < 0:
                path = tuple(step for step in self._path[1:] if isinstance(step, str | int))
                raise _TooDeep(self.peek_event().start_mark, path)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._levels_left += 1
            self._path.pop()


_WITH_LIBYAML: bool = getattr(yaml, "__with_libyaml__", False)
"""Whether PyYAML was built with libyaml; without it the pure-Python path reads everything."""
_LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def _libyaml_reads_differently(text: str) -> bool:
    """Whether `text` has what libyaml reads differently: a tab (after `key:`, say), a BOM inside a line, a
    directive (`%YAML 1.2#`).  Such texts skip libyaml.  (Substring tests: a regular expression with `^`
    costs more than composing a short policy.)"""
    return (
        "\t" in text
        or "\ufeff" in text
        or text.startswith("%")
        or any(f"{line_break}%" in text for line_break in _LINE_BREAKS)
    )


def _resolver(tag: str, pattern: str, first: list[str]) -> None:
    _Loader.add_implicit_resolver(tag, re.compile(pattern, re.X), first)


_resolver(_CORE + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF"))
_resolver(
    _AMBIGUOUS_BOOL,
    r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$",
    list("yYnNoO"),
)
_NUMBER = re.compile(r"^[-+]?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")
_resolver(_CORE + "int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789"))
_resolver(_CORE + "float", _NUMBER.pattern, list("-+0123456789."))
_resolver(_NOT_FINITE, r"^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+."))
_resolver(_CORE + "merge", r"^<<$", ["<"])
_resolver(_CORE + "null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""])


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain values, collecting problems."""

    def __init__(
        self, file: str, max_alias_nodes: int, max_depth: int, depth_setting: str, *, libyaml: bool = False
    ) -> None:
        self.file = file
        self.max_alias_nodes = max_alias_nodes
        self.max_depth = max_depth
        self.depth_setting = depth_setting
        self.libyaml = libyaml
        """The nodes come from libyaml: note any node where its reading differs from the pure path's."""
        self.differs = False
        self._flow = 0
        self.marks: dict[JsonPath, Mark] = {}
        self.key_marks: dict[JsonPath, Mark] = {}
        self.problems: list[Problem] = []
        self.duplicates = 0
        """How many of `problems` are duplicate keys (the built value keeps each key's first value)."""
        self._seen: set[int] = set()
        self._alias_nodes = 0
        self._alias_reported = False
        self._active: set[int] = set()

    def problem(self, node: yaml.Node, path: JsonPath, message: str) -> None:
        mark = _mark(node)
        self.problems.append(
            Problem(
                file=self.file,
                line=mark.line,
                col=mark.col,
                json_path=format_json_path(path),
                message=message,
            )
        )

    def build(self, node: yaml.Node, path: JsonPath, *, via_alias: bool = False) -> Any:
        if len(path) > self.max_depth:  # aliases can nest a document deeper than its text does
            self.problem(node, path, too_deep_message(self.max_depth, self.depth_setting))
            return None
        if id(node) in self._active:
            self.problem(node, path, "recursive alias: a node contains itself")
            return None
        if id(node) in self._seen:
            via_alias = True
        self._seen.add(id(node))
        if via_alias:
            self._alias_nodes += 1
            if self._alias_nodes > self.max_alias_nodes:
                if not self._alias_reported:
                    self._alias_reported = True
                    self.problem(
                        node,
                        path,
                        f"aliases expand to more than {self.max_alias_nodes} nodes;"
                        " write the values out instead of reusing anchors",
                    )
                return None
        start = node.start_mark
        if path not in self.marks:
            self.marks[path] = Mark(start.line + 1, start.column + 1)
        self._active.add(id(node))
        flow = self.libyaml and getattr(node, "flow_style", False)
        self._flow += flow
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path, via_alias)
            if isinstance(node, yaml.SequenceNode):
                self._check_tag(node, path, _CORE + "seq")
                return [self.build(item, (*path, index), via_alias=via_alias) for index, item in enumerate(node.value)]
            if self.libyaml and isinstance(node, yaml.ScalarNode):
                self._note(node)
            return self._scalar(node, path)
        finally:
            self._flow -= flow
            self._active.discard(id(node))

    def _note(self, node: yaml.ScalarNode) -> None:
        """Note a scalar where libyaml's grammar or marks differ from the pure path's (then the pure path reads it).

        Found by comparing both on mutated policy texts (tests/test_loader_libyaml.py):
        an empty plain scalar (a missing value) is marked at the next token by
        libyaml; block scalar headers and plain scalars inside flow collections
        are read more leniently (`|#`, `[a?b]`).
        """
        style = node.style  # libyaml's style for a plain scalar is "" (the pure path's is None)
        if style in ("|", ">") or (not style and (not node.value or (self._flow and "?" in node.value))):
            self.differs = True

    def _check_tag(self, node: yaml.Node, path: JsonPath, expected: str) -> bool:
        if node.tag != expected:
            self.problem(node, path, f"the tag `{node.tag}` is not allowed; policies use plain YAML values")
            return False
        return True

    def _mapping(self, node: yaml.MappingNode, path: JsonPath, via_alias: bool) -> dict[str, Any]:
        self._check_tag(node, path, _CORE + "map")
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _CORE + "merge":
                self.problem(key_node, path, "merge keys (`<<`) are not allowed; write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _CORE + "str":
                self.problem(key_node, path, f"mapping keys must be strings, got `{_describe(key_node)}`")
                continue
            key = key_node.value
            child = (*path, key)
            if key in result:
                self.duplicates += 1
                self.problem(
                    key_node,
                    child,
                    f"duplicate key `{key}` (first defined on line {first_line[key]})",
                )
                continue
            if self.libyaml:
                self._note(key_node)  # a string key: a scalar
            first_line[key] = key_node.start_mark.line + 1
            self.key_marks[child] = _mark(key_node)
            result[key] = self.build(value_node, child, via_alias=via_alias)
        return result

    def _scalar(self, node: yaml.Node, path: JsonPath) -> Any:
        text = node.value
        tag = node.tag
        if tag == _CORE + "str":
            return text
        if tag == _CORE + "null":
            if text not in ("", "~", "null", "Null", "NULL"):
                self.problem(node, path, f"`{text}` is not null; write null or ~")
            return None
        if tag == _CORE + "bool":
            if text.lower() not in ("true", "false"):
                self.problem(node, path, f"`{text}` is not a boolean; write true or false")
                return None
            return text.lower() == "true"
        if tag in (_CORE + "int", _CORE + "float"):
            return self._number(node, path, text)
        if tag == _AMBIGUOUS_BOOL:
            self.problem(
                node,
                path,
                f"`{text}` is a boolean in YAML 1.1 and a string in YAML 1.2;"
                f' write "{text}" (quoted) for a string, or true/false',
            )
            return None
        if tag == _NOT_FINITE:
            self.problem(node, path, f"`{text}` is not a finite number; policies need finite decimals")
            return None
        self._check_tag(node, path, _CORE + "str")
        return None

    def _number(self, node: yaml.Node, path: JsonPath, text: str) -> Decimal | None:
        if not _NUMBER.match(text):  # an explicit !!int or !!float tag skips the resolvers above
            self.problem(node, path, f"`{text}` is not a decimal number (no leading zeros, no 0x, 0o or _)")
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            self.problem(node, path, f"`{text}` is not a decimal number")
            return None
        if not in_range(value):
            self.problem(node, path, f"`{text}` is out of range (at most 1e{MAX_MAGNITUDE} in size)")
            return None
        return value


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "a mapping" if isinstance(node, yaml.MappingNode) else "a sequence"


def too_deep_message(max_depth: int, setting: str) -> str:
    """The problem of a document nesting deeper than `max_depth`; `setting` names what changes the limit."""
    return f"mappings and sequences nest more than {max_depth} levels deep (the limit, {setting})"


def parse_yaml(
    text: str,
    *,
    file: str,
    max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    depth_setting: str = "LoadLimits.max_depth",
    keep_on_duplicates: bool = False,
) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse one YAML document; return it with no problems, or None with all problems found.

    A document nesting deeper than `max_depth` is a problem at the first node
    too deep (`depth_setting` names the setting in its message).  With
    `keep_on_duplicates`, a document whose only problems are duplicate keys
    is returned with them (each key holding its first value), so that a
    caller can go on checking the rest of it.
    """
    if _WITH_LIBYAML and not _libyaml_reads_differently(text):
        document = _parse_with_libyaml(
            text, file=file, max_alias_nodes=max_alias_nodes, max_depth=max_depth, depth_setting=depth_setting
        )
        if document is not None:
            return document, []
    return parse_yaml_in_python(
        text,
        file=file,
        max_alias_nodes=max_alias_nodes,
        max_depth=max_depth,
        depth_setting=depth_setting,
        keep_on_duplicates=keep_on_duplicates,
    )


def parse_yaml_in_python(
    text: str,
    *,
    file: str,
    max_alias_nodes: int = DEFAULT_MAX_ALIAS_NODES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    depth_setting: str = "LoadLimits.max_depth",
    keep_on_duplicates: bool = False,
) -> tuple[YamlDocument | None, list[Problem]]:
    """`parse_yaml` with PyYAML's pure-Python composer: the path that words every problem."""
    loader = None
    try:
        loader = _Loader(text, max_depth)
        node = loader.get_single_node()
    except _TooDeep as error:
        problem = Problem(
            file=file,
            line=error.mark.line + 1,
            col=error.mark.column + 1,
            json_path=format_json_path(error.path),
            message=too_deep_message(max_depth, depth_setting),
        )
        return None, [problem]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        from ._yaml_messages import yaml_error_message  # noqa: PLC0415 - the error path only

        message, suggestion = yaml_error_message(error, text)
        return None, [Problem(file=file, line=line, col=col, message=message, suggestion=suggestion)]
    except yaml.reader.ReaderError as error:  # a character YAML does not allow
        before = text[: error.position]
        line, col = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        message = f"invalid YAML: the character #x{error.character:04x} is not allowed in YAML text"
        return None, [Problem(file=file, line=line, col=col, message=message)]
    except yaml.YAMLError as error:
        return None, [Problem(file=file, message=f"invalid YAML: {error}")]
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None, [Problem(file=file, line=1, col=1, message="the document is empty")]
    builder = _Builder(file, max_alias_nodes, max_depth, depth_setting)
    data = builder.build(node, ())
    if builder.problems:
        kept = keep_on_duplicates and builder.duplicates == len(builder.problems)
        return (YamlDocument(data, builder.marks, builder.key_marks) if kept else None), builder.problems
    return YamlDocument(data, builder.marks, builder.key_marks), []


def _parse_with_libyaml(
    text: str,
    *,
    file: str,
    max_alias_nodes: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    depth_setting: str = "LoadLimits.max_depth",
) -> YamlDocument | None:
    """The document composed by libyaml, or None when that path meets any problem (the pure path then reports it)."""
    loader = None
    try:
        loader = yaml.CBaseLoader(text)
        loader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers  # the same tags for the same scalars
        node = loader.get_single_node()
    except Exception:  # whatever libyaml refuses, the pure path refuses with today's message
        return None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        return None
    builder = _Builder(file, max_alias_nodes, max_depth, depth_setting, libyaml=True)
    data = builder.build(node, ())
    if builder.problems or builder.differs:
        return None
    return YamlDocument(data, builder.marks, builder.key_marks)
