"""From files on disk to compiled policies, collecting every problem on the way.

Each file is read, hashed, parsed, checked against its kind's schema and
compiled by its product; then the set is checked as a whole (unique
versions, one policy id per kind).  Nothing is returned unless everything
is valid: a bad edit never replaces a good policy.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

from ._fastcheck import check_for
from ._numbers import parse_instant
from .arithmetic import engine_decimal_context
from .errors import Problem, did_you_mean
from .loader import DEFAULT_MAX_DEPTH, parse_yaml
from .model import PolicyDocument, PolicyRef, YamlDocument
from .product import CompiledPolicy, Product, SchemaRef
from .registry import Registry
from .schema import load_schema, schema_problems, validator_for

DEFAULT_MAX_FILE_BYTES = 1_000_000
ENVELOPE_SCHEMA = "policy-envelope.schema.json"
POLICY_SUFFIXES = (".yaml", ".yml")
TEST_SUFFIXES = (".test.yaml", ".test.yml")
"""Policy test files (`policy-engine test`) sit beside the policies; they are not policies."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadLimits:
    """Resource limits for reading policy files (engine settings, not policy values)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_alias_nodes: int = 100
    max_depth: int = DEFAULT_MAX_DEPTH
    """The deepest nesting of mappings and sequences in a policy file, checked while composing (no recursion
    limit is the guard); a deeper file is a problem at its first node too deep."""


@dataclass(frozen=True, slots=True)
class _Source:
    path: Path
    shown: str
    """The path as the user named it (error messages)."""
    cited: str
    """The folder's name and the file's path inside it (trace sources)."""


def discover(paths: Iterable[str | Path]) -> tuple[list[_Source], list[Problem]]:
    """The policy files named by `paths`: files as given, folders searched recursively.

    Nothing under a folder is skipped without a word: a sub-folder that cannot
    be read, a symbolic link that leads back into the search (a loop) and a
    file whose suffix is `.yaml` or `.yml` in another case (`.YAML`) are
    problems.  Symbolic links to folders outside the search are followed.
    """
    sources: list[_Source] = []
    problems: list[Problem] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            before = len(problems)
            found = _policy_files(root, problems)
            if not found and len(problems) == before:
                problems.append(Problem(file=str(root), message="no policy files (*.yaml, *.yml) in this folder"))
            for path in found:
                relative = path.relative_to(root).as_posix()
                sources.append(_Source(path, str(path), f"{root.resolve().name}/{relative}"))
        elif root.is_file() and root.name.endswith(TEST_SUFFIXES):
            problems.append(
                Problem(file=str(root), message="a policy test file, not a policy; run it with `policy-engine test`")
            )
        elif root.is_file():
            sources.append(_Source(root, str(root), f"{root.resolve().parent.name}/{root.name}"))
        else:
            problems.append(Problem(file=str(root), message="no such file or folder"))
    return sources, problems


def _policy_files(root: Path, problems: list[Problem]) -> list[Path]:
    """Every policy file under `root`, sorted, found without recursion; what cannot be searched goes to `problems`."""
    found: list[Path] = []
    visited = {root.resolve()}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(folder.iterdir())
        except OSError as error:
            problems.append(Problem(file=str(folder), message=f"cannot read this folder: {error.strerror}"))
            continue
        for entry in entries:
            if entry.is_dir():
                real = entry.resolve()
                if real in visited:
                    message = f"leads to {real}, which is already searched (a link loop, or a second link to it)"
                    problems.append(Problem(file=str(entry), message=message))
                    continue
                visited.add(real)
                pending.append(entry)
            elif entry.name.endswith(TEST_SUFFIXES):
                continue
            elif not entry.is_file():
                if entry.suffix.lower() in POLICY_SUFFIXES:
                    problems.append(Problem(file=str(entry), message="not a readable file (a broken link?)"))
            elif entry.suffix in POLICY_SUFFIXES:
                found.append(entry)
            elif entry.suffix.lower() in POLICY_SUFFIXES:
                problems.append(
                    Problem(
                        file=str(entry),
                        message=f"policy files end in {' or '.join(POLICY_SUFFIXES)} in lower case; this one is"
                        " not loaded",
                        suggestion=entry.with_suffix(entry.suffix.lower()).name,
                    )
                )
    return sorted(found)


def _read_bounded(path: Path, limit: int) -> bytes | str:
    """The file's bytes, or what is wrong: it cannot be read, or it has more than `limit` bytes (never read whole)."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            raw = b"" if size > limit else file.read(limit + 1)  # a file may grow, or report no size
    except OSError as error:
        return f"cannot read the file: {error.strerror}"
    if size > limit or len(raw) > limit:
        return (
            f"the file has {max(size, len(raw)):,}{'' if size > limit else '+'} bytes; the limit is {limit:,}"
            " (LoadLimits.max_file_bytes)"
        )
    return raw


def _read(
    source: _Source, limits: LoadLimits, products: Mapping[str, Product]
) -> tuple[PolicyDocument | None, list[Problem], str | None]:
    """The document, its problems, and its `kind` when the file names a known one."""
    shown = source.shown
    raw = _read_bounded(source.path, limits.max_file_bytes)
    if isinstance(raw, str):
        return None, [Problem(file=shown, message=raw)], None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(file=shown, message=f"not UTF-8 text: byte {error.start} cannot be decoded")], None
    yaml_document, problems = parse_yaml(
        text, file=shown, max_alias_nodes=limits.max_alias_nodes, max_depth=limits.max_depth
    )
    if yaml_document is None:
        return None, problems, None
    data = yaml_document.data
    if not isinstance(data, dict):
        problem = Problem(file=shown, line=1, col=1, message="expected a mapping at the top of a policy document")
        return None, [problem], None

    def locate(path: tuple[str | int, ...], key: bool) -> tuple[int, int]:
        mark = yaml_document.mark_of(path, key=key)
        return mark.line, mark.col

    kind = data.get("kind")
    product = products.get(kind) if isinstance(kind, str) else None
    if product is None:
        line, col = locate(("kind",), False)
        kinds = ", ".join(sorted(products))
        suggestion = did_you_mean(kind, products) if isinstance(kind, str) else None
        return (
            None,
            [
                Problem(
                    file=shown,
                    line=line,
                    col=col,
                    json_path="$.kind",
                    message=f"missing required key `kind`; expected a policy kind ({kinds})"
                    if kind is None
                    else f"expected a policy kind ({kinds}), got {kind!r}",
                    suggestion=suggestion,
                )
            ],
            None,
        )
    if _valid(ENVELOPE_SCHEMA, data) and _valid(product.policy_schema, data):
        return _document(source, raw, yaml_document, product.policy_kind), [], product.policy_kind  # no problem
    # The envelope first (a plug-in's schema may forget `id` or `version`), then the kind's own schema;
    # a problem both report is listed once.
    problems = schema_problems(ENVELOPE_SCHEMA, data, file=shown, locate=locate)
    seen = {str(problem) for problem in problems}
    problems += [
        p for p in schema_problems(product.policy_schema, data, file=shown, locate=locate) if str(p) not in seen
    ]
    if problems:
        return None, problems, product.policy_kind
    return _document(source, raw, yaml_document, product.policy_kind), [], product.policy_kind


_COMPILE_AT_USE = 3
"""A policy schema's check is compiled the third time it is used in a process (a reload, say): compiling costs
two jsonschema validations, after which each costs a thirtieth of one."""


def _valid(schema: SchemaRef, data: object) -> bool:
    """Whether `data` is valid: by the compiled check once it exists, otherwise by jsonschema.

    jsonschema words the problems either way (`schema_problems`), so a False
    here only sends the document to it.
    """
    validator = validator_for(schema)  # a plug-in's schema file is checked against its meta-schema first
    check = check_for(load_schema(schema), uses=_COMPILE_AT_USE)
    return check(data) if check is not None else bool(validator.is_valid(cast(Any, data)))


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


def _overlapping(own: Sequence[PolicyDocument], others: Sequence[CompiledPolicy]) -> dict[str, list[CompiledPolicy]]:
    """For each version in `own` (by file), the versions in `others` in force at some instant while it is."""
    ordered = sorted(own, key=lambda d: d.ref.effective_from)
    theirs = sorted(others, key=lambda p: p.ref.effective_from)
    result: dict[str, list[CompiledPolicy]] = {}
    for index, document in enumerate(ordered):
        start = document.ref.effective_from
        end = ordered[index + 1].ref.effective_from if index + 1 < len(ordered) else None
        found = []
        for position, other in enumerate(theirs):
            other_end = theirs[position + 1].ref.effective_from if position + 1 < len(theirs) else None
            if (end is None or other.ref.effective_from < end) and (other_end is None or other_end > start):
                found.append(other)
        result[document.file] = found
    return result


def _check_across(
    documents: Sequence[PolicyDocument],
    compiled: Sequence[CompiledPolicy],
    registry: Registry,
    *,
    skip: set[str],
    named: set[str],
) -> list[Problem]:
    """Kinds a product requires are loaded; each product's lint across the policies it reads.

    The lint of a kind is skipped when a version of it, or of a kind it reads,
    failed to compile: its problems are reported already, and a half set
    would give false ones.
    """
    problems: list[Problem] = []
    by_kind: dict[str, list[PolicyDocument]] = {}
    for document in documents:
        by_kind.setdefault(document.ref.kind, []).append(document)
    compiled_by_kind: dict[str, list[CompiledPolicy]] = {}
    for policy in compiled:
        compiled_by_kind.setdefault(policy.ref.kind, []).append(policy)
    for kind, own in sorted(by_kind.items()):
        product = registry.by_policy_kind[kind]
        for required in product.requires:
            if required not in named:  # a file of that kind with problems of its own is reported already
                first = min(own, key=lambda d: d.file)
                problems.append(
                    first.problem(
                        ("kind",),
                        f"`{kind}` policies read `{required}` policies, and none is loaded;"
                        f" load a `{required}` policy with this one",
                    )
                )
        if product.check_across is None or skip.intersection((kind, *product.reads)):
            continue
        overlaps = {other: _overlapping(own, compiled_by_kind.get(other, [])) for other in product.reads}
        for document in own:
            problems += product.check_across(
                document, {other: found[document.file] for other, found in overlaps.items()}
            )
    return problems


def compile_paths(
    paths: Iterable[str | Path], limits: LoadLimits, registry: Registry
) -> tuple[list[CompiledPolicy], list[Problem]]:
    """Compile every policy under `paths`; the list is empty unless there are no problems.

    Loading runs in the engine's decimal context, as evaluating does: the
    caller's precision and traps change nothing, and its flags are left as
    they were.
    """
    with engine_decimal_context():
        return _compile_paths(paths, limits, registry)


def _compile_paths(
    paths: Iterable[str | Path], limits: LoadLimits, registry: Registry
) -> tuple[list[CompiledPolicy], list[Problem]]:
    if registry.problems:  # a broken plug-in first: every file of its kind would only echo it
        return [], list(registry.problems)
    sources, problems = discover(paths)
    documents: list[PolicyDocument] = []
    kinds: dict[str, str | None] = {}
    for source in sources:
        document, found, kinds[source.shown] = _read(source, limits, registry.by_policy_kind)
        problems += found
        if document is not None:
            documents.append(document)
    problems += _check_set(documents)
    compiled: list[CompiledPolicy] = []
    # A kind with any problem (a file that failed its schema, a clash of versions) is incomplete:
    # linting across it would judge a partial set of versions.
    troubled = {problem.file for problem in problems}
    failed: set[str] = {document.ref.kind for document in documents if document.file in troubled}
    for shown, kind in kinds.items():
        if shown in troubled:
            # a file whose kind is unknown (unparsable, say) may belong to any kind
            failed.update([kind] if kind is not None else registry.by_policy_kind)
    for document in documents:
        policy, found = registry.by_policy_kind[document.ref.kind].compile(document)
        problems += found
        if policy is None:
            failed.add(document.ref.kind)
        else:
            compiled.append(policy)
    named = {kind for kind in kinds.values() if kind is not None}
    problems += _check_across(documents, compiled, registry, skip=failed, named=named)
    return ([] if problems else compiled), problems
