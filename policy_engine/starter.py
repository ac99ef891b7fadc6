"""What the installed package can write out: the JSON Schemas, and a starter pack for `policy-engine init`.

The starter pack is the bundled policy pack (policies and their policy
tests) under `policies/`, every JSON Schema under `schemas/` and the example
accounts under `examples/`: the layout of this repository, so that the
README's commands work in it unchanged.  Each YAML file's
`# yaml-language-server: $schema=` line is rewritten to the schema's path
relative to that file, so editors find it wherever the pack is written.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .bundled import BUNDLED, BUNDLED_EXAMPLES
from .documents import ENVELOPE_SCHEMA
from .errors import Problem
from .registry import Registry
from .schema import SCHEMA_DIR

TEST_SCHEMA = "policy-test.schema.json"
"""The schema of policy test files (`*.test.yaml`)."""

_SCHEMA_SUFFIX = ".schema.json"
_SCHEMA_LINE = re.compile(r"^(# yaml-language-server: \$schema=)(\S+)", re.MULTILINE)


@dataclass(frozen=True, kw_only=True, slots=True)
class SchemaFile:
    """One JSON Schema the package knows: its short name, its file and what it checks."""

    name: str
    """The file name without `.schema.json`: `margin-trading`, `spot-margin.account`."""
    path: Path
    checks: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PackFile:
    """A file of the starter pack: its path inside the pack (POSIX) and its bytes."""

    relative: str
    content: bytes


def _schema_path(reference: str | Path) -> Path:
    """A product names a bundled schema by file name, a plug-in's schema by `Path`."""
    return reference if isinstance(reference, Path) else SCHEMA_DIR / reference


def schema_files(registry: Registry) -> dict[str, SchemaFile]:
    """Every schema there is, by name: the envelope, policy tests, and each registered product's two."""
    found = [
        SchemaFile(
            name=ENVELOPE_SCHEMA.removesuffix(_SCHEMA_SUFFIX),
            path=SCHEMA_DIR / ENVELOPE_SCHEMA,
            checks="every policy document: kind, id, version, effective_from",
        ),
        SchemaFile(
            name=TEST_SCHEMA.removesuffix(_SCHEMA_SUFFIX),
            path=SCHEMA_DIR / TEST_SCHEMA,
            checks="policy test files (*.test.yaml)",
        ),
    ]
    for kind, product in registry.by_policy_kind.items():
        for reference, checks in (
            (product.policy_schema, f"policies of kind {kind}"),
            (product.account_schema, f"accounts of kind {product.account_kind}"),
        ):
            path = _schema_path(reference)
            found.append(SchemaFile(name=path.name.removesuffix(_SCHEMA_SUFFIX), path=path, checks=checks))
    return {schema.name: schema for schema in sorted(found, key=lambda schema: schema.name)}


def _point_at_schemas(text: str, relative: str, schemas: set[str]) -> str:
    """`text` with its `$schema=` line naming `schemas/<file>` relative to the file at `relative`."""

    def repoint(match: re.Match[str]) -> str:
        file_name = posixpath.basename(match.group(2))
        if file_name not in schemas:
            return match.group(0)
        return match.group(1) + posixpath.relpath(f"schemas/{file_name}", posixpath.dirname(relative))

    return _SCHEMA_LINE.sub(repoint, text, count=1)


def starter_pack(registry: Registry) -> list[PackFile]:
    """The files `policy-engine init` writes, in the order it writes them."""
    schemas = schema_files(registry).values()
    schema_names = {schema.path.name for schema in schemas}
    files: list[PackFile] = []
    for path in sorted(BUNDLED.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            relative = f"policies/{path.relative_to(BUNDLED).as_posix()}"
            text = _point_at_schemas(path.read_text(encoding="utf-8"), relative, schema_names)
            files.append(PackFile(relative=relative, content=text.encode()))
    files += [
        PackFile(relative=f"schemas/{schema.path.name}", content=schema.path.read_bytes())
        for schema in sorted(schemas, key=lambda schema: schema.path.name)
    ]
    files += [
        PackFile(relative=f"examples/{path.name}", content=path.read_bytes())
        for path in sorted(BUNDLED_EXAMPLES.iterdir())
        if path.is_file()
    ]
    return files


def existing(folder: Path, files: Sequence[PackFile]) -> list[Problem]:
    """A problem for each file of the pack that is already there: `init` overwrites nothing unless told to."""
    return [
        Problem(
            file=str(folder / file.relative),
            message="the file exists; init writes nothing over an existing file (--force overwrites)",
        )
        for file in files
        if (folder / file.relative).exists()
    ]


def write_pack(folder: Path, files: Sequence[PackFile]) -> list[Path]:
    """Write `files` under `folder`, each under a temporary name renamed into place.

    On a failure the files this call created are removed again (a file it
    overwrote, with --force, keeps its new content) and the `OSError` is raised.
    """
    written: list[Path] = []
    created: list[Path] = []
    temporary: Path | None = None
    try:
        for file in files:
            target = folder / file.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
            temporary.write_bytes(file.content)
            if not target.exists():
                created.append(target)
            temporary.replace(target)
            temporary = None
            written.append(target)
    except OSError:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return written


__all__ = ["TEST_SCHEMA", "PackFile", "SchemaFile", "existing", "schema_files", "starter_pack", "write_pack"]
