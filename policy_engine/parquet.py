"""Parquet in and out for the batch command, streamed one record batch at a time (the optional extra `parquet`).

Input: a Parquet file, or a folder of part files (every `*.parquet` file
under it, hidden and `_`-prefixed names skipped, in natural order: `part.2`
before `part.10`) read as one table.  Each row is one account, as JSON text
in the column `account` (string or binary; other columns are ignored), so a
row is parsed exactly as a line of JSON Lines is and gives the same
decision, digest included.  Rows are numbered from 1 across the whole
input, in that order; error rows cite that number as their line.

Output (`OUTPUT_SCHEMA`): one row per input row, in order, in row groups of
about 16 MB; the columns a query filters on (`row`, `account_id`, `kind`,
`status`, `policy_*`, `as_of`, `input_sha256`) and the decision itself,
`decision`, the canonical JSON that JSON Lines output has on that line
(without its newline).  An error row has `problems` (a list of the
problems, as `Problem.to_dict()`) and nulls in `status`, `policy_*`,
`input_sha256` and `decision`.

Files are written under a temporary name and renamed at the end, as JSON
Lines are (`AtomicOutput`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._extras import MissingExtra

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ModuleNotFoundError as missing:  # pragma: no cover - exercised by a test that hides pyarrow
    raise MissingExtra(extra="parquet", feature="Parquet input and output", missing="pyarrow") from missing

from ._output import AtomicOutput
from .batch import BatchOptions, Chunk, ChunkResult, Row, RowError
from .decision import Decision
from .errors import AccountError, Problem, did_you_mean

ACCOUNT_COLUMN = "account"
"""The input column holding each account as JSON text."""
SUFFIXES = (".parquet", ".pq")
"""What a Parquet file's name ends with (for a folder's parts and for choosing the format by name)."""
READ_BUFFER_BYTES = 1 << 20
"""Column data is read through a buffer of this size, so a large row group is not read whole."""
COMPRESSION = "zstd"
ROW_GROUP_BYTES = 16 << 20
"""An output row group is written once the chunks gathered for it hold this much (Arrow's in-memory size)..."""
ROW_GROUP_ROWS = 100_000
"""...or this many rows: about 3,000 full decisions or 12,000 outcome-only ones a row group."""

PROBLEM_TYPE = pa.struct(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("col", pa.int64()),
        ("json_path", pa.string()),
        ("message", pa.string()),
        ("suggestion", pa.string()),
    ]
)
OUTPUT_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("account_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("status", pa.string()),
        pa.field("policy_id", pa.string()),
        pa.field("policy_version", pa.int64()),
        pa.field("policy_sha256", pa.string()),
        pa.field("as_of", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("input_sha256", pa.string()),
        pa.field("decision", pa.string()),
        pa.field("problems", pa.list_(PROBLEM_TYPE)),
    ]
)
"""One output row per input row.  `decision` is null exactly on error rows, `problems` null exactly on decisions."""
_INDEXED = ["row", "account_id", "kind", "status", "policy_id", "policy_version", "policy_sha256", "as_of"]
"""Columns with min/max statistics and dictionaries: the ones a query filters on (not the decision's JSON)."""


_FROM_FIELDS = (
    "from a table of account fields, DuckDB's `SELECT to_json(t) AS account FROM t`"
    " or Spark's `to_json(struct(*)) AS account` makes it"
)


def is_parquet_path(path: str | Path) -> bool:
    """A name ending in .parquet or .pq, or an existing folder (of part files)."""
    return Path(path).suffix.lower() in SUFFIXES or Path(path).is_dir()


def _natural_key(relative: str) -> tuple[str | int, ...]:
    # re.split with a group alternates text and digits, so positions compare text to text, number to number
    return tuple(int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", relative)))


def parquet_files(path: str | Path) -> list[Path]:
    """The file, or a folder's part files in natural order; an `AccountError` when there is none."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise AccountError([Problem(file=str(root), message="cannot read the accounts: no such file or folder")])
    parts = [
        file
        for file in root.rglob("*")
        if file.suffix.lower() in SUFFIXES
        and file.is_file()
        and not any(part.startswith((".", "_")) for part in file.relative_to(root).parts)
    ]
    if not parts:
        raise AccountError([Problem(file=str(root), message="no Parquet files (*.parquet, *.pq) in this folder")])
    return sorted(parts, key=lambda file: _natural_key(file.relative_to(root).as_posix()))


@dataclass(frozen=True, kw_only=True, slots=True)
class Partition:
    """Consecutive row groups of one file: the unit a Dask task decides, and writes as one part file."""

    path: str
    row_groups: tuple[int, ...]
    rows: int
    first_row: int
    """The 1-based number of its first row in the whole input."""


def _account_column_problem(file: Path, schema: pa.Schema) -> Problem | None:
    names = list(schema.names)
    if ACCOUNT_COLUMN not in names:
        listed = ", ".join(names) if names else "none"
        return Problem(
            file=str(file),
            message=f"no `{ACCOUNT_COLUMN}` column; expected each account as JSON text in a column"
            f" `{ACCOUNT_COLUMN}` (columns found: {listed}); {_FROM_FIELDS}",
            # a column named close to it (`accounts`) is most likely the one meant: suggest the name to give it
            suggestion=ACCOUNT_COLUMN if did_you_mean(ACCOUNT_COLUMN, names) else None,
        )
    kind = schema.field(ACCOUNT_COLUMN).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)
            or pa.types.is_large_binary(kind) or pa.types.is_string_view(kind)):  # fmt: skip
        return Problem(
            file=str(file),
            json_path=f"$.{ACCOUNT_COLUMN}",
            message=f"expected the column `{ACCOUNT_COLUMN}` to hold JSON text (string or binary), got {kind}",
        )
    return None


def plan_partitions(path: str | Path, *, partition_rows: int | None = None) -> list[Partition]:
    """The input's partitions, in order: each file's row groups, cut every `partition_rows` rows or more
    (None: one partition per file).  Every file's footer is read and checked first; all problems at once."""
    if partition_rows is not None and partition_rows < 1:
        raise ValueError(f"partition_rows must be at least 1, got {partition_rows}")
    files = parquet_files(path)
    problems: list[Problem] = []
    partitions: list[Partition] = []
    first_row = 1
    for file in files:
        try:
            metadata = pq.read_metadata(file)
        except (OSError, pa.ArrowException) as error:
            problems.append(Problem(file=str(file), message=f"cannot read the accounts as Parquet: {error}"))
            continue
        problem = _account_column_problem(file, metadata.schema.to_arrow_schema())
        if problem is not None:
            problems.append(problem)
            continue
        groups: list[int] = []
        rows = 0
        for index in range(metadata.num_row_groups):
            groups.append(index)
            rows += metadata.row_group(index).num_rows
            if partition_rows is not None and rows >= partition_rows:
                partitions.append(Partition(path=str(file), row_groups=tuple(groups), rows=rows, first_row=first_row))
                first_row += rows
                groups, rows = [], 0
        # the file's last row groups, if a cut did not just take them; a file without rows is a partition too
        if groups or not partitions or partitions[-1].path != str(file):
            partitions.append(Partition(path=str(file), row_groups=tuple(groups), rows=rows, first_row=first_row))
            first_row += rows
    if problems:
        raise AccountError(problems)
    return partitions


def read_partition(partition: Partition, *, chunk_size: int) -> Iterator[Chunk]:
    """The partition's accounts in chunks of `chunk_size` rows (the last may be smaller), numbered on from
    its first row; one record batch in memory at a time."""
    file = pq.ParquetFile(partition.path, buffer_size=READ_BUFFER_BYTES)
    first_row = partition.first_row
    pending: list[Row] = []
    pending_bytes = 0
    for group in partition.row_groups:
        # one reader per row group: a single reader over many row groups holds on to memory from each one it
        # has read (pyarrow 26: 57 MB more after 100 row groups of 10,000 rows), so memory would grow
        batches = file.iter_batches(
            batch_size=chunk_size, row_groups=[group], columns=[ACCOUNT_COLUMN], use_threads=False
        )
        for batch in batches:
            column = batch.column(0)
            pending += column.to_pylist()
            pending_bytes += column.nbytes
            while len(pending) >= chunk_size:
                rows, pending = pending[:chunk_size], pending[chunk_size:]
                size = pending_bytes * len(rows) // (len(rows) + len(pending))
                yield Chunk(first_row, rows, size)
                first_row += len(rows)
                pending_bytes -= size
    if pending:
        yield Chunk(first_row, pending, pending_bytes)


class ParquetReader:
    """Chunks of accounts from a Parquet file or a folder of part files, read in order as one table."""

    def __init__(self, path: str | Path, *, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.partitions = plan_partitions(path)
        self._chunk_size = chunk_size
        self.total_rows = sum(partition.rows for partition in self.partitions)
        self.total_bytes = None
        """Unknown in bytes: a progress bar counts rows (`total_rows`)."""

    def __iter__(self) -> Iterator[Chunk]:
        for partition in self.partitions:
            yield from read_partition(partition, chunk_size=self._chunk_size)


class ArrowRows:
    """A chunk as one record batch of `OUTPUT_SCHEMA`, in the Arrow IPC stream format (a `RowEncoder`).

    `decision` holds `decision.to_json_bytes(trace=...)` less its newline: the JSON Lines output's line.
    """

    def __init__(self, first_line: int, options: BatchOptions) -> None:
        self._first_line, self._trace, self._as_of = first_line, options.trace, options.as_of
        self._account_ids: list[str | None] = []
        self._kinds: list[str | None] = []
        self._statuses: list[str | None] = []
        self._policy_ids: list[str | None] = []
        self._versions: list[int | None] = []
        self._policy_digests: list[str | None] = []
        self._input_digests: list[str | None] = []
        self._decisions: list[bytes | None] = []
        self._problems: list[list[dict[str, object]] | None] = []

    def decision(self, decision: Decision) -> None:
        account, policy = decision.account, decision.policy
        self._account_ids.append(account.get("account_id"))
        self._kinds.append(account.get("kind"))
        self._statuses.append(decision.outcome["status"])
        self._policy_ids.append(policy.id)
        self._versions.append(policy.version)
        self._policy_digests.append(policy.sha256)
        self._input_digests.append(decision.input_sha256)
        self._decisions.append(decision.to_json_bytes(trace=self._trace)[:-1])
        self._problems.append(None)

    def error(self, error: RowError) -> None:
        self._account_ids.append(error.account_id)
        self._kinds.append(error.kind)
        for column in (self._statuses, self._policy_ids, self._versions, self._policy_digests):
            column.append(None)
        self._input_digests.append(None)
        self._decisions.append(None)
        self._problems.append([problem.to_dict() for problem in error.problems])

    def encoded(self) -> bytes:
        count = len(self._decisions)
        columns = [
            pa.array(range(self._first_line, self._first_line + count), pa.int64()),
            pa.array(self._account_ids, pa.string()),
            pa.array(self._kinds, pa.string()),
            pa.array(self._statuses, pa.string()),
            pa.array(self._policy_ids, pa.string()),
            pa.array(self._versions, pa.int64()),
            pa.array(self._policy_digests, pa.string()),
            pa.array([self._as_of] * count, pa.timestamp("us", tz="UTC")),
            pa.array(self._input_digests, pa.string()),
            pa.array(self._decisions, pa.string()),
            pa.array(self._problems, pa.list_(PROBLEM_TYPE)),
        ]
        batch = pa.RecordBatch.from_arrays(columns, schema=OUTPUT_SCHEMA)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, OUTPUT_SCHEMA) as stream:
            stream.write_batch(batch)
        encoded: bytes = sink.getvalue().to_pybytes()  # bytes: a worker's result is pickled when not in shared memory
        return encoded


class ParquetWriter:
    """Parquet of `OUTPUT_SCHEMA` to a temporary file beside `path`, renamed by `commit()`.

    Chunks are gathered into row groups of up to `row_group_bytes` (Arrow's in-memory size) or
    `row_group_rows`, whichever comes first.  The writer keeps every row group's metadata until it writes
    the footer (about 14 KB each with these columns), so row groups of one chunk each would make memory
    grow by 14 MB a million rows; larger ones make that small and suit query engines better.
    """

    def __init__(
        self, path: str | Path, *, row_group_bytes: int = ROW_GROUP_BYTES, row_group_rows: int = ROW_GROUP_ROWS
    ) -> None:
        self.name = str(path)
        self._row_group_bytes, self._row_group_rows = row_group_bytes, row_group_rows
        self._pending: list[pa.Table] = []
        self._pending_bytes = self._pending_rows = 0
        self._output = AtomicOutput(path)
        try:
            self._writer = pq.ParquetWriter(
                self._output.stream,
                OUTPUT_SCHEMA,
                compression=COMPRESSION,
                use_dictionary=_INDEXED,
                write_statistics=_INDEXED,
            )
        except BaseException:
            self._output.abort()
            raise

    def write(self, result: ChunkResult) -> None:
        # a view of shared memory is reused once this returns: a table kept for later must own its bytes
        encoded = result.output if isinstance(result.output, bytes) else bytes(result.output)
        with pa.ipc.open_stream(pa.py_buffer(encoded)) as stream:
            table = stream.read_all()
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        self._pending_rows += table.num_rows
        if self._pending_bytes >= self._row_group_bytes or self._pending_rows >= self._row_group_rows:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._pending, self._pending_bytes, self._pending_rows = [], 0, 0

    def commit(self) -> None:
        self._flush()
        self._writer.close()
        self._output.commit()

    def abort(self) -> None:
        self._pending = []
        try:
            self._writer.close()
        finally:
            self._output.abort()


def read_table(path: str | Path) -> pa.Table:
    """A Parquet file, or a folder's part files in natural order, as one table (for checks and small outputs)."""
    return pa.concat_tables([pq.read_table(file) for file in parquet_files(path)])


def write_accounts(path: str | Path, lines: Iterator[str], *, row_group_rows: int = 10_000) -> None:
    """Accounts (JSON text, one per line) as Parquet batch input: `account_id`, `kind` and `account` (the JSON
    text), row groups of `row_group_rows`; written under a temporary name and renamed at the end."""
    from itertools import islice  # noqa: PLC0415 - only this function needs it

    import orjson  # noqa: PLC0415 - a dependency of the package; only this function needs it here

    schema = pa.schema([("account_id", pa.string()), ("kind", pa.string()), (ACCOUNT_COLUMN, pa.string())])
    with AtomicOutput(path) as output:
        writer = pq.ParquetWriter(output.stream, schema, compression=COMPRESSION)
        try:
            while texts := [line.rstrip("\n") for line in islice(lines, row_group_rows)]:
                named = [orjson.loads(text) for text in texts]
                writer.write_table(
                    pa.table(
                        {
                            "account_id": [account.get("account_id") for account in named],
                            "kind": [account.get("kind") for account in named],
                            ACCOUNT_COLUMN: texts,
                        },
                        schema=schema,
                    )
                )
        finally:
            writer.close()


__all__ = [
    "ACCOUNT_COLUMN",
    "OUTPUT_SCHEMA",
    "ArrowRows",
    "ParquetReader",
    "ParquetWriter",
    "Partition",
    "is_parquet_path",
    "parquet_files",
    "plan_partitions",
    "read_partition",
    "read_table",
    "write_accounts",
]
