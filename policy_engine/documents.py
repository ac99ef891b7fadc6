"""From files on disk to compiled policies, collecting every problem on the way.

Each file is read, hashed, parsed, checked against its kind's schema and
compiled by its product; then the set is checked as a whole (unique
versions, one policy id per kind).  Nothing is returned unless everything
is valid: a bad edit never replaces a good policy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from ._numbers import parse_instant
from .errors import Problem, did_you_mean
from .loader import parse_yaml
from .model import PolicyDocument, PolicyRef, YamlDocument
from .products import PRODUCTS, CompiledPolicy
from .schema import schema_problems

DEFAULT_MAX_FILE_BYTES = 1_000_000
POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadLimits:
    """Resource limits for reading policy files (engine settings, not policy values)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_alias_nodes: int = 100


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    shown: str
    """The path as the user named it (error messages)."""
    cited: str
    """The folder's name and the file's path inside it (trace sources)."""


def discover(paths: Iterable[str | Path]) -> tuple[list[_Source], list[Problem]]:
    """The policy files named by `paths`: files as given, folders searched recursively."""
    sources: list[_Source] = []
    problems: list[Problem] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.suffix in POLICY_SUFFIXES and p.is_file())
            if not found:
                problems.append(Problem(file=str(root), message="no policy files (*.yaml, *.yml) in this folder"))
            for path in found:
                relative = path.relative_to(root).as_posix()
                sources.append(_Source(path, str(path), f"{root.resolve().name}/{relative}"))
        elif root.is_file():
            sources.append(_Source(root, str(root), f"{root.resolve().parent.name}/{root.name}"))
        else:
            problems.append(Problem(file=str(root), message="no such file or folder"))
    return sources, problems


def _read(source: _Source, limits: LoadLimits) -> tuple[PolicyDocument | None, list[Problem]]:
    shown = source.shown
    raw = source.path.read_bytes()
    if len(raw) > limits.max_file_bytes:
        message = f"the file has {len(raw)} bytes; the limit is {limits.max_file_bytes}"
        return None, [Problem(file=shown, message=message)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(file=shown, message=f"not UTF-8 text: byte {error.start} cannot be decoded")]
    yaml_document, problems = parse_yaml(text, file=shown, max_alias_nodes=limits.max_alias_nodes)
    if yaml_document is None:
        return None, problems
    data = yaml_document.data
    if not isinstance(data, dict):
        return None, [Problem(file=shown, line=1, col=1, message="expected a mapping at the top of a policy document")]

    def locate(path: tuple[str | int, ...], key: bool) -> tuple[int, int]:
        mark = yaml_document.mark_of(path, key=key)
        return mark.line, mark.col

    kind = data.get("kind")
    product = PRODUCTS.get(kind) if isinstance(kind, str) else None
    if product is None:
        line, col = locate(("kind",), False)
        kinds = ", ".join(sorted(PRODUCTS))
        suggestion = did_you_mean(kind, PRODUCTS) if isinstance(kind, str) else None
        return None, [
            Problem(
                file=shown,
                line=line,
                col=col,
                json_path="$.kind",
                message=f"expected a policy kind ({kinds}), got {kind!r}",
                suggestion=suggestion,
            )
        ]
    problems = schema_problems(product.policy_schema, data, file=shown, locate=locate)
    if problems:
        return None, problems
    return _document(source, raw, yaml_document, product.policy_kind), []


def _document(source: _Source, raw: bytes, yaml_document: YamlDocument, kind: str) -> PolicyDocument:
    data = yaml_document.data
    effective_from = parse_instant(data["effective_from"])
    assert effective_from is not None  # noqa: S101 - the schema's `instant` format checked it
    ref = PolicyRef(
        id=data["id"],
        kind=kind,
        version=int(data["version"]),
        effective_from=effective_from,
        sha256=hashlib.sha256(raw).hexdigest(),
        file=source.cited,
    )
    return PolicyDocument(file=source.shown, source_name=source.cited, yaml=yaml_document, ref=ref)


def _check_set(documents: Sequence[PolicyDocument]) -> list[Problem]:
    """Versions are unique and ordered in time; each kind has one policy id."""
    problems: list[Problem] = []
    first_id: dict[str, PolicyDocument] = {}
    seen: dict[tuple[str, int], PolicyDocument] = {}
    starts: dict[tuple[str, object], PolicyDocument] = {}
    for document in documents:
        ref = document.ref
        owner = first_id.setdefault(ref.kind, document)
        if owner.ref.id != ref.id:
            problems.append(
                document.problem(
                    ("id",),
                    f"a second `{ref.kind}` policy id `{ref.id}`; accounts are"
                    f" matched to policies by kind, and {owner.file} already defines"
                    f" `{owner.ref.id}`",
                )
            )
        if (ref.id, ref.version) in seen:
            problems.append(
                document.problem(
                    ("version",),
                    f"version {ref.version} of `{ref.id}` is also defined in {seen[(ref.id, ref.version)].file}",
                )
            )
        seen.setdefault((ref.id, ref.version), document)
        if (ref.id, ref.effective_from) in starts:
            problems.append(
                document.problem(
                    ("effective_from",),
                    "another version of"
                    f" `{ref.id}` takes effect at the same instant, in"
                    f" {starts[(ref.id, ref.effective_from)].file}",
                )
            )
        starts.setdefault((ref.id, ref.effective_from), document)
    by_id: dict[str, list[PolicyDocument]] = {}
    for document in documents:
        by_id.setdefault(document.ref.id, []).append(document)
    for versions in by_id.values():
        ordered = sorted(versions, key=lambda d: d.ref.effective_from)
        for earlier, later in pairwise(ordered):
            later_in_time = later.ref.effective_from > earlier.ref.effective_from
            if later_in_time and later.ref.version <= earlier.ref.version:
                problems.append(
                    later.problem(
                        ("version",),
                        f"expected a version above {earlier.ref.version}"
                        f" ({earlier.file}), which takes effect earlier, got {later.ref.version}",
                    )
                )
    return problems


def compile_paths(paths: Iterable[str | Path], limits: LoadLimits) -> tuple[list[CompiledPolicy], list[Problem]]:
    """Compile every policy under `paths`; the list is empty unless there are no problems."""
    sources, problems = discover(paths)
    documents: list[PolicyDocument] = []
    for source in sources:
        document, found = _read(source, limits)
        problems += found
        if document is not None:
            documents.append(document)
    problems += _check_set(documents)
    compiled: list[CompiledPolicy] = []
    for document in documents:
        policy, found = PRODUCTS[document.ref.kind].compile(document)
        problems += found
        if policy is not None:
            compiled.append(policy)
    return ([] if problems else compiled), problems
