"""From files on disk to compiled policies, collecting every problem on the way.

Each file is read, hashed, parsed, checked against its kind's schema and
compiled by its product; then the set is checked as a whole (unique
versions, one policy id per kind).  Nothing is returned unless everything
is valid: a bad edit never replaces a good policy.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

from ._fastcheck import check_for
from ._numbers import parse_instant
from .arithmetic import engine_decimal_context
from .errors import JsonPath, Problem, did_you_mean, format_json_path
from .loader import DEFAULT_MAX_DEPTH, parse_yaml
from .model import PolicyDocument, PolicyRef, YamlDocument
from .product import CompiledPolicy, Product, SchemaRef
from .registry import Registry
from .schema import load_schema, schema_check, validator_for

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
    """The path decisions and traces cite (`_cited`)."""


def _cited(given: Path, inside: str | None = None) -> str:
    """The path a decision cites for a file given as `given` (a file, or a folder with the file at `inside`).

    A relative path is cited as the user gave it, tidied (`./policies/` is
    `policies`), so that two folders of the same name are told apart
    (`../proj/policies/margin-trading.yaml`).  An absolute one is cited by the
    folder's name and the file's path inside it (`policies/margin-trading.yaml`):
    the whole path would make the same decision's bytes differ from one
    machine, or one checkout, to the next.
    """
    if given.is_absolute():
        if inside is None:
            return f"{given.resolve().parent.name}/{given.name}"
        return f"{given.resolve().name}/{inside}"
    written = given.as_posix() if inside is None else f"{given.as_posix()}/{inside}"
    return posixpath.normpath(written)


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
                sources.append(_Source(path, str(path), _cited(root, relative)))
        elif root.is_file() and root.name.endswith(TEST_SUFFIXES):
            problems.append(
                Problem(file=str(root), message="a policy test file, not a policy; run it with `policy-engine test`")
            )
        elif root.is_file():
            sources.append(_Source(root, str(root), _cited(root)))
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


@dataclass(frozen=True, slots=True)
class _Partial:
    """A document that failed its schema, kept to check the parts that passed it (`_partial_problems`)."""

    document: PolicyDocument
    invalid: tuple[JsonPath, ...]
    """The paths the schema problems are about."""
    envelope_valid: bool
    """Whether id, version and effective_from passed: the document then takes part in the set's checks."""


def _read(
    source: _Source, limits: LoadLimits, products: Mapping[str, Product]
) -> tuple[PolicyDocument | _Partial | None, list[Problem], str | None]:
    """The document (or a `_Partial` one when it fails its schema), its problems, and its `kind` when the file
    names a known one."""
    shown = source.shown
    raw = _read_bounded(source.path, limits.max_file_bytes)
    if isinstance(raw, str):
        return None, [Problem(file=shown, message=raw)], None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(file=shown, message=f"not UTF-8 text: byte {error.start} cannot be decoded")], None
    yaml_document, problems = parse_yaml(
        text,
        file=shown,
        max_alias_nodes=limits.max_alias_nodes,
        max_depth=limits.max_depth,
        keep_on_duplicates=True,
    )
    if yaml_document is None:
        return None, problems, _kind_named(text, products)
    if problems:  # duplicate keys only: the rest of the file is still checked against its schema
        return None, [*problems, *_schema_problems_beside(yaml_document, shown, products)], _kind_named(text, products)
    data = yaml_document.data
    if not isinstance(data, dict):
        problem = Problem(file=shown, line=1, col=1, message="expected a mapping at the top of a policy document")
        return None, [problem], None

    locate = _locator(yaml_document)
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
    problems, invalid, envelope_valid = _schema_problems(data, product, shown, locate)
    document = _document(source, raw, yaml_document, product.policy_kind, placeholder=not envelope_valid)
    if problems:
        return _Partial(document, invalid, envelope_valid), problems, product.policy_kind
    return document, [], product.policy_kind


def _schema_problems(
    data: object, product: Product, shown: str, locate: Callable[[tuple[str | int, ...], bool], tuple[int, int]]
) -> tuple[list[Problem], tuple[JsonPath, ...], bool]:
    """The schema problems of a policy document, the paths of the parts they are about, and whether the
    envelope is valid.

    The envelope first (a plug-in's schema may forget `id` or `version`), then the kind's own schema; a
    problem both report is listed once.
    """
    problems, invalid = schema_check(ENVELOPE_SCHEMA, data, file=shown, locate=locate)
    envelope_valid = not problems
    seen = {str(problem) for problem in problems}
    own, own_invalid = schema_check(product.policy_schema, data, file=shown, locate=locate)
    problems += [p for p in own if str(p) not in seen]
    return problems, (*invalid, *own_invalid), envelope_valid


def _locator(yaml_document: YamlDocument) -> Callable[[tuple[str | int, ...], bool], tuple[int, int]]:
    """Where a JSON path (its key, or its value) is in the document's text: (line, column)."""

    def locate(path: tuple[str | int, ...], key: bool) -> tuple[int, int]:
        mark = yaml_document.mark_of(path, key=key)
        return mark.line, mark.col

    return locate


def _schema_problems_beside(yaml_document: YamlDocument, shown: str, products: Mapping[str, Product]) -> list[Problem]:
    """The schema problems of a document that has a YAML problem too (duplicate keys): one run reports both.

    Nothing is compiled from it (a key given twice leaves its meaning in doubt), so only the schemas judge it.
    """
    data = yaml_document.data
    kind = data.get("kind") if isinstance(data, dict) else None
    product = products.get(kind) if isinstance(kind, str) else None
    if product is None:
        return []
    problems, _, _ = _schema_problems(data, product, shown, _locator(yaml_document))
    return problems


_KIND_LINE = re.compile(r"^kind:[ \t]*([\"']?)([A-Za-z0-9_.-]+)\1[ \t]*(?:#.*)?$", re.MULTILINE)


def _kind_named(text: str, products: Mapping[str, Product]) -> str | None:
    """The known kind a file that is not valid YAML names on a top-level `kind:` line, if exactly one.

    Only that kind's lint across files is then skipped, not every kind's: the
    file is still reported, and can only be of the kind it names.
    """
    named = {found.group(2) for found in _KIND_LINE.finditer(text)}
    kind = named.pop() if len(named) == 1 else None
    return kind if kind in products else None


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


_PLACEHOLDER_INSTANT = datetime(1970, 1, 1, tzinfo=UTC)


def _document(
    source: _Source, raw: bytes, yaml_document: YamlDocument, kind: str, *, placeholder: bool = False
) -> PolicyDocument:
    """The document of a schema-valid envelope; with `placeholder`, of an invalid one, whose id, version and
    instant are stand-ins (the document is only compiled to find problems, never used)."""
    data = yaml_document.data
    if placeholder:
        ref = PolicyRef(
            id=str(data.get("id")), kind=kind, version=0, effective_from=_PLACEHOLDER_INSTANT, sha256="", file=""
        )
        return PolicyDocument(file=source.shown, source_name=source.cited, yaml=yaml_document, ref=ref)
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


def _partial_problems(product: Product, partial: _Partial) -> list[Problem]:
    """The product's own problems (expressions, lint) in the parts of `partial` that passed the schema.

    The product compiles the document as it is; a problem about a part the
    schema refused, or about a part containing one, is left out: the schema's
    problem says it already.  A product meeting a refused part may fail in any
    way (it is written for schema-valid documents): the schema's problems then
    stand alone, as they did before this pass.
    """
    try:
        _policy, found = product.compile(partial.document)
    except Exception:
        return []
    refused = [format_json_path(path) for path in partial.invalid]
    return [problem for problem in found if not any(_related(problem.json_path, path) for path in refused)]


def _related(path: str, other: str) -> bool:
    """Whether one JSON path is the other or contains it (`$.rules` contains `$.rules[1].when`)."""
    shorter, longer = sorted((path, other), key=len)
    return longer == shorter or (longer.startswith(shorter) and longer[len(shorter)] in ".[")


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
    paths: Iterable[str | Path], limits: LoadLimits, registry: Registry, *, schema_lines: bool = False
) -> tuple[list[CompiledPolicy], list[Problem]]:
    """Compile every policy under `paths`; the list is empty unless there are no problems.

    Loading runs in the engine's decimal context, as evaluating does: the
    caller's precision and traps change nothing, and its flags are left as
    they were.  `schema_lines` adds the editor lint of `schema_line_problem`
    (`policy-engine validate`; loading for decisions does not read comments).
    """
    with engine_decimal_context():
        return _compile_paths(paths, limits, registry, schema_lines=schema_lines)


SCHEMA_LINE_PREFIX = "# yaml-language-server: $schema="
_SCHEMA_LINE = re.compile(r"^#[ \t]*yaml-language-server:[ \t]*\$schema=(\S*)", re.MULTILINE)
_SCHEMA_SEARCH_DEPTH = 4
"""How many folders up from a policy file a `schemas` folder is looked for, to write the line to paste."""


def schema_line_problem(path: Path, shown: str, schema: SchemaRef) -> Problem | None:
    """A problem when the file's `# yaml-language-server: $schema=` line is missing or names another schema.

    Editors (the YAML language server) check a policy as it is typed only
    through that line.  Only the schema's file name is compared: the folder
    it is in differs between a checkout, an installed package and a starter
    pack.  The suggestion is the line to paste, pointing at the nearest
    `schemas` folder holding the schema (`policy-engine schema --out DIR`
    writes one).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # reported by the load itself
        return None
    name = Path(schema).name
    found = _SCHEMA_LINE.search(text)
    if found is not None and found.group(1).rsplit("/", 1)[-1] == name:
        return None
    line_to_paste = SCHEMA_LINE_PREFIX + _schema_reference(path, name, found.group(1) if found else None)
    if found is None:
        return Problem(
            file=shown,
            line=1,
            col=1,
            message=f"expected a `{SCHEMA_LINE_PREFIX}` line naming {name}, so that editors check this file"
            " as it is typed; got none",
            suggestion=line_to_paste,
        )
    line = text.count("\n", 0, found.start()) + 1
    return Problem(
        file=shown,
        line=line,
        col=found.start(1) - found.start() + 1,
        message=f"expected the `$schema=` line to name {name}, the schema of this file's kind,"
        f" got {found.group(1) or 'nothing'}",
        suggestion=line_to_paste,
    )


def _schema_reference(path: Path, name: str, written: str | None) -> str:
    """The `$schema=` value to paste: the nearest `schemas/<name>` above the file, relative to it; otherwise the
    folder the line names now (or `../schemas`) with the right file name."""
    folder = path.resolve().parent
    for above in [folder, *folder.parents][:_SCHEMA_SEARCH_DEPTH]:
        candidate = above / "schemas" / name
        if candidate.is_file():
            return Path(os.path.relpath(candidate, folder)).as_posix()
    base = written.rsplit("/", 1)[0] if written and "/" in written else "../schemas"
    return f"{base}/{name}"


def _compile_paths(
    paths: Iterable[str | Path], limits: LoadLimits, registry: Registry, *, schema_lines: bool = False
) -> tuple[list[CompiledPolicy], list[Problem]]:
    if registry.problems:  # a broken plug-in first: every file of its kind would only echo it
        return [], list(registry.problems)
    sources, problems = discover(paths)
    documents: list[PolicyDocument] = []
    partials: list[_Partial] = []
    in_set: list[PolicyDocument] = []
    """The documents the set's checks read: the valid ones, and those failing their schema past the envelope."""
    kinds: dict[str, str | None] = {}
    for source in sources:
        document, found, kinds[source.shown] = _read(source, limits, registry.by_policy_kind)
        problems += found
        kind = kinds[source.shown]
        if schema_lines and kind is not None and (document is not None or not found):
            problem = schema_line_problem(source.path, source.shown, registry.by_policy_kind[kind].policy_schema)
            problems += [problem] if problem is not None else []
        if isinstance(document, _Partial):
            partials.append(document)
            if document.envelope_valid:
                in_set.append(document.document)
        elif document is not None:
            documents.append(document)
            in_set.append(document)
    problems += _check_set(in_set)
    for partial in partials:
        problems += _partial_problems(registry.by_policy_kind[partial.document.ref.kind], partial)
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
