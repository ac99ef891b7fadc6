"""Batch decisions: one output row per input row, in input order, streamed in chunks.

The pipeline is reader -> decider -> writer, one `Chunk` at a time, so memory
stays flat in the size of the input:

- a reader yields `Chunk`s: raw rows (a line of JSON text, as bytes or str,
  or an account mapping) and the line number of the first one.
  `JsonlReader` reads JSON Lines; `policy_engine.parquet.ParquetReader`
  yields the same chunks from Parquet.
- `ChunkDecider` turns a chunk into a `ChunkResult`: the output rows (a
  decision's canonical JSON, or an error row) encoded for the output format
  (`BatchOptions.output_format`), counts by kind and status, and the
  chunk's decision log lines.  It is the unit of work a worker process
  runs, and the one a Dask task runs on a partition
  (`policy_engine.dask_batch`).
- a writer takes results in input order (`Writer`); `JsonlWriter` writes
  one `write` per chunk to a temporary file renamed over the target at the
  end, so an interrupted run never leaves a half file that looks complete;
  `policy_engine.parquet.ParquetWriter` does the same, gathering chunks
  into row groups of about 16 MB.
- `run_batch` drives them: in-process for one worker, a local process pool
  for more (each worker loads the engine once, in its initializer), with a
  bounded window of chunks in flight, taken back in submission order.
  Chunks go out as raw lines (cheap to pickle); outputs come back through
  a shared memory slot per chunk in flight when the workers are forked, so
  the main process only copies them once, into the output file.

An error row is `{"account": {"id": ..., "kind": ...}, "error": {"line": N,
"problems": [...]}}`: `account` is the same key a decision has (its values
null when the line does not give them), each problem is `Problem.to_dict()`
with `file` the input's name and `line` the input line.  A blank line is an
error row too: output line N always answers input line N.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any, Protocol

from ._numbers import iso
from ._output import AtomicOutput
from .accounts import parse_json_account
from .decision import Decision, canonical_json
from .decision_log import DecisionLog
from .engine import Engine, load
from .errors import AccountError, PolicyEngineError, PolicyError, Problem
from .model import PolicyRef
from .product import Product

CHUNK_SIZE = 1_000
"""Rows per chunk: large enough that sending a chunk to a worker costs well under 1% of deciding it,
small enough that a few chunks in flight per worker keep memory at a few MB."""
IN_FLIGHT_PER_WORKER = 3
"""Chunks submitted per worker and not yet written: one running, the next ones queued."""
SLOT_BYTES = 16 << 20
"""Room for one chunk's output in the memory shared with forked workers (a chunk of full decisions is
about 5 MB); a larger output comes back through the pipe instead.  Only the pages used are resident."""
ERROR_LINES_KEPT = 10
"""The summary names the first error lines, up to this many."""
MAX_LINE_BYTES = 1 << 24
"""The longest JSON Lines input line read (16 MiB, what `evaluate` reads of an account; `--max-input-bytes`):
a longer line is skipped in bounded reads, never held whole, and becomes an error row."""
_SKIP_BYTES = 1 << 20
"""An over-long line is read past this much at a time."""


@dataclass(frozen=True, slots=True)
class OverlongLine:
    """An input line longer than the reader's bound, skipped without being read whole: an error row."""

    limit: int
    unit: str
    """`bytes`, or `characters` for a text stream."""

    def problem(self, source: str) -> Problem:
        return Problem(
            file=source,
            message=f"the line is longer than {self.limit:,} {self.unit} (the input-size limit, --max-input-bytes);"
            " it was skipped without being read whole",
        )


Row = bytes | str | Mapping[str, Any] | OverlongLine | None
"""One input row: a line of JSON text (bytes are UTF-8) or an account already parsed (Decimals, not floats);
None is a null cell of a Parquet input (an error row), an `OverlongLine` a line past the bound (one too)."""


def _seconds(nanoseconds: int) -> str:
    """Seconds to two places, rounded half up: 500_000_000 -> "0.50"."""
    centiseconds = (nanoseconds + 5_000_000) // 10_000_000
    return f"{centiseconds // 100}.{centiseconds % 100:02d}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Consecutive input rows; `first_line` is the 1-based line (or row) number of the first."""

    first_line: int
    rows: Sequence[Row]
    size: int = 0
    """Bytes the rows took in the input, for progress; 0 when unknown."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchOptions:
    """What every row is decided with."""

    as_of: datetime
    """The instant of every decision: one instant for the whole batch, so that it is one consistent snapshot."""
    trace: bool = True
    """Full decisions (True) or the outcome only (`to_json(trace=False)`)."""
    source: str = "<input>"
    """The input's name, cited by error rows."""
    output_format: str = "jsonl"
    """How `ChunkResult.output` is encoded: "jsonl" (JSON Lines) or "parquet" (an Arrow IPC stream of the
    rows in `policy_engine.parquet.OUTPUT_SCHEMA`, which `ParquetWriter` writes)."""
    log_input: bool = False
    """With a decision log: each line also holds the account and the outcome (`DecisionLog(with_input=True)`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChunkResult:
    """What a chunk gave: one output row per input row, in order, and what the summary counts."""

    first_line: int
    rows: int
    output: bytes | memoryview
    """The output rows, one per input row, encoded for `BatchOptions.output_format` (UTF-8 JSON Lines by
    default).  From a worker process this may be a view of shared memory, valid only until `Writer.write`
    returns: a writer that keeps it must copy it."""
    counts: Mapping[tuple[str, str], int]
    """Decisions by (account kind, status)."""
    error_lines: Sequence[int]
    log: str = ""
    """The decision log lines of the chunk's decisions, when a log is kept."""
    size: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineSpec:
    """How a worker process loads the engine: policy paths and, optionally, the products (picklable)."""

    policies: tuple[str, ...] = ("policies",)
    products: tuple[Product, ...] | None = None

    def load(self, decision_log: IO[str] | DecisionLog | None = None) -> Engine:
        return load(*self.policies, decision_log=decision_log, products=self.products)


@dataclass(frozen=True, kw_only=True, slots=True)
class RowError:
    """An input row that gave no decision: its line (or row) number, what it names, and every problem."""

    line: int
    account_id: str | None
    kind: str | None
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        """The error row of JSON Lines output: `account` as a decision has it, and `error`."""
        return {
            "account": {"id": self.account_id, "kind": self.kind},
            "error": {"line": self.line, "problems": [problem.to_dict() for problem in self.problems]},
        }

    def to_json(self) -> str:
        return canonical_json(self.to_dict())


class RowEncoder(Protocol):
    """Takes a chunk's rows as they are decided, in order, and gives the chunk's output bytes.

    Each row is encoded when it is decided, so a chunk never holds its decisions' objects, only their
    encoded form (less memory, less work for the garbage collector).
    """

    def decision(self, decision: Decision) -> None: ...

    def error(self, error: RowError) -> None: ...

    def encoded(self) -> bytes: ...


class JsonlRows:
    """A chunk as JSON Lines: each decision's canonical bytes (`to_json_bytes`, not decoded and encoded
    again), or its error row."""

    def __init__(self, first_line: int, options: BatchOptions) -> None:
        del first_line  # a line's number is its place in the file
        self._trace = options.trace
        self._lines: list[bytes] = []

    def decision(self, decision: Decision) -> None:
        self._lines.append(decision.to_json_bytes(trace=self._trace))

    def error(self, error: RowError) -> None:
        self._lines.append(error.to_json().encode())

    def encoded(self) -> bytes:
        return b"".join(self._lines)


class _TextRows:
    """The rows as JSON text, one string each (for `decide` and `decide_lines`)."""

    def __init__(self, options: BatchOptions) -> None:
        self._trace = options.trace
        self.lines: list[str] = []

    def decision(self, decision: Decision) -> None:
        self.lines.append(decision.to_json(trace=self._trace))

    def error(self, error: RowError) -> None:
        self.lines.append(error.to_json())

    def encoded(self) -> bytes:
        return "".join(self.lines).encode()


def _encoder(output_format: str) -> Callable[[int, BatchOptions], RowEncoder]:
    """What makes a chunk's encoder (from its first line number and the options) for `output_format`."""
    if output_format == "jsonl":
        return JsonlRows
    if output_format == "parquet":
        from .parquet import ArrowRows  # noqa: PLC0415 - pyarrow is an optional extra, imported only for Parquet

        return ArrowRows
    raise ValueError(f"unknown output format {output_format!r}; expected jsonl or parquet")


class ChunkDecider:
    """Decides chunks with one engine; a worker process holds one for its lifetime."""

    def __init__(self, engine: Engine, options: BatchOptions, log_buffer: io.StringIO | None = None) -> None:
        """`log_buffer` is the stream the engine's decision log writes to, emptied after each chunk."""
        self.engine = engine
        self.options = options
        self._log_buffer = log_buffer
        self._new_encoder = _encoder(options.output_format)

    @classmethod
    def load(cls, spec: EngineSpec, options: BatchOptions, *, log: bool = False) -> ChunkDecider:
        buffer = io.StringIO() if log else None
        decision_log = DecisionLog(buffer, with_input=options.log_input) if buffer is not None else None
        return cls(spec.load(decision_log=decision_log), options, buffer)

    def __call__(self, chunk: Chunk) -> ChunkResult:
        encoder = self._new_encoder(chunk.first_line, self.options)
        counts, error_lines = self.decide_rows(chunk, encoder)
        log = ""
        if self._log_buffer is not None:
            log = self._log_buffer.getvalue()
            self._log_buffer.seek(0)
            self._log_buffer.truncate()
        return ChunkResult(
            first_line=chunk.first_line,
            rows=len(chunk.rows),
            output=encoder.encoded(),
            counts=counts,
            error_lines=error_lines,
            log=log,
            size=chunk.size,
        )

    def decide(self, chunk: Chunk) -> tuple[list[str], dict[tuple[str, str], int], list[int]]:
        """The output rows as JSON text (each ending in a newline), decisions by (kind, status), the error lines."""
        rows = _TextRows(self.options)
        counts, error_lines = self.decide_rows(chunk, rows)
        return rows.lines, counts, error_lines

    def decide_rows(self, chunk: Chunk, encoder: RowEncoder) -> tuple[dict[tuple[str, str], int], list[int]]:
        """Decide each row into `encoder`, in order; returns decisions by (kind, status) and the error lines."""
        evaluate = self.engine.evaluate
        as_of, source = self.options.as_of, self.options.source
        add_decision, add_error = encoder.decision, encoder.error
        counts: dict[tuple[str, str], int] = {}
        error_lines: list[int] = []
        number = chunk.first_line
        for row in chunk.rows:
            text: str | None = None
            account: Any = None
            try:
                if type(row) is bytes:
                    text = row.decode()
                elif type(row) is str:
                    text = row
                elif type(row) is OverlongLine:
                    raise AccountError([row.problem(source)])
                account = row if text is None else parse_json_account(text, source=source)
                decision = evaluate(account, as_of, source=source)
            except (PolicyEngineError, UnicodeDecodeError, RecursionError) as error:
                add_error(self._row_error(number, text, account, error))
                error_lines.append(number)
            else:
                add_decision(decision)
                key = (account["kind"], decision.outcome["status"])
                counts[key] = counts.get(key, 0) + 1
            number += 1
        return counts, error_lines

    def _row_error(self, number: int, text: str | None, account: Any, error: Exception) -> RowError:
        source = self.options.source
        if isinstance(error, UnicodeDecodeError):
            problems = [Problem(file=source, line=number, message="the line is not UTF-8 text")]
        elif isinstance(error, RecursionError):
            problems = [Problem(file=source, line=number, message="invalid JSON: nested too deeply")]
        elif text is not None and not text.strip():
            problems = [Problem(file=source, line=number, message="blank line; expected an account (a JSON object)")]
        else:
            # a row is one line: JSON that ends too early is reported on the text's next line, i.e. at its end
            end = len(text.rstrip("\r\n")) + 1 if text is not None else 0
            problems = [
                (replace(problem, line=number, col=end) if problem.line > 1 else replace(problem, line=number))
                if problem.file == source
                else problem
                for problem in error.problems  # type: ignore[attr-defined]  # a PolicyEngineError here
            ]
        named = account if isinstance(account, Mapping) else {}
        kind, account_id = named.get("kind"), named.get("account_id")
        return RowError(
            line=number,
            account_id=account_id if isinstance(account_id, str) else None,
            kind=kind if isinstance(kind, str) else None,
            problems=tuple(problems),
        )


class JsonlReader:
    """Chunks of lines from a JSON Lines stream, binary (fastest) or text; a leading byte-order mark is dropped."""

    def __init__(
        self, stream: IO[bytes] | IO[str], *, chunk_size: int = CHUNK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        """`max_line_bytes` bounds what is read of one line (characters for a text stream); a longer line is
        skipped in bounded reads and becomes an error row, and the run goes on."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        self._stream = stream
        self._chunk_size = chunk_size
        self._max_line = max_line_bytes
        self.total_bytes = _regular_file_size(stream)
        """The input's size when it is a regular file (for a progress bar with an end), else None."""

    def __iter__(self) -> Iterator[Chunk]:
        lines = self._lines()
        first_line = 1
        while True:
            taken = list(islice(lines, self._chunk_size))
            if not taken:
                return
            rows = [row for row, _size in taken]
            if first_line == 1 and not isinstance(rows[0], OverlongLine):
                rows[0] = _without_bom(rows[0])
            yield Chunk(first_line, rows, sum(size for _row, size in taken))
            first_line += len(rows)

    def _lines(self) -> Iterator[tuple[bytes | str | OverlongLine, int]]:
        """Each line with its size in the input; a line longer than the bound as an `OverlongLine`."""
        readline, limit = self._stream.readline, self._max_line
        line = readline(limit + 1)
        newline: bytes | str = b"\n" if isinstance(line, bytes) else "\n"
        while line:
            size = len(line)
            if size > limit and not (size == limit + 1 and line.endswith(newline)):  # type: ignore[arg-type]
                while not line.endswith(newline):  # type: ignore[arg-type]  # skip the rest, a bounded read at a time
                    line = readline(_SKIP_BYTES)
                    if not line:
                        break
                    size += len(line)
                yield OverlongLine(limit, "bytes" if newline == b"\n" else "characters"), size
            else:
                yield line, size
            line = readline(limit + 1)


def _without_bom(line: bytes | str) -> bytes | str:
    if isinstance(line, bytes):
        return line.removeprefix(b"\xef\xbb\xbf")
    return line.removeprefix("\ufeff")


def _regular_file_size(stream: IO[Any]) -> int | None:
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


class Writer(Protocol):
    """Where results go, in input order; `commit()` makes the output appear, `abort()` leaves no trace of it.

    `write` must be done with `result.output` when it returns (it may be a view of memory reused next).
    """

    @property
    def name(self) -> str: ...

    def write(self, result: ChunkResult) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class JsonlWriter:
    """JSON Lines to a temporary file beside `path`, one `write` per chunk, renamed to `path` by `commit()`."""

    def __init__(self, path: str | Path) -> None:
        self.name = str(path)
        self._output = AtomicOutput(path)

    def write(self, result: ChunkResult) -> None:
        self._output.write(result.output)

    def commit(self) -> None:
        self._output.commit()

    def abort(self) -> None:
        self._output.abort()


@dataclass(kw_only=True, slots=True)
class Summary:
    """Counts of a batch run, its speed and its settings."""

    input: str
    output: str
    as_of: datetime
    trace: bool
    workers: int
    rows: int = 0
    decided: int = 0
    errors: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    """Decisions by account kind, then status."""
    error_lines: list[int] = field(default_factory=list)
    """The first `ERROR_LINES_KEPT` lines that gave an error row."""
    elapsed_ns: int = 0
    """Wall time of the run in nanoseconds (an integer: no float in the package)."""

    def add(self, result: ChunkResult) -> None:
        self.rows += result.rows
        self.errors += len(result.error_lines)
        if len(self.error_lines) < ERROR_LINES_KEPT:
            self.error_lines += result.error_lines[: ERROR_LINES_KEPT - len(self.error_lines)]
        for (kind, status), count in result.counts.items():
            self.decided += count
            statuses = self.by_kind.setdefault(kind, {})
            statuses[status] = statuses.get(status, 0) + count

    @property
    def by_status(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for statuses in self.by_kind.values():
            for status, count in statuses.items():
                totals[status] = totals.get(status, 0) + count
        return dict(sorted(totals.items()))

    @property
    def decisions_per_s(self) -> int:
        if self.elapsed_ns <= 0:
            return 0
        # rounded to the nearest integer, in integer arithmetic
        return (2 * self.decided * 1_000_000_000 + self.elapsed_ns) // (2 * self.elapsed_ns)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (integers, strings); the elapsed time in whole milliseconds."""
        return {
            "input": self.input,
            "output": self.output,
            "as_of": iso(self.as_of),
            "trace": "full" if self.trace else "none",
            "workers": self.workers,
            "rows": self.rows,
            "decided": self.decided,
            "errors": self.errors,
            "first_error_lines": list(self.error_lines),
            "by_kind": {kind: dict(sorted(self.by_kind[kind].items())) for kind in sorted(self.by_kind)},
            "by_status": self.by_status,
            "elapsed_ms": (self.elapsed_ns + 500_000) // 1_000_000,
            "decisions_per_s": self.decisions_per_s,
        }

    def text(self) -> str:
        """A few lines for a person: what was read and written, counts by kind and status, errors, speed."""
        lines = [
            f"batch: {self.rows:,} rows from {self.input} to {self.output}, as of {iso(self.as_of)}",
            f"decided {self.decided:,}" + "".join(f", {status} {count:,}" for status, count in self.by_status.items()),
        ]
        for kind in sorted(self.by_kind):
            statuses = self.by_kind[kind]
            listed = ", ".join(f"{status} {count:,}" for status, count in sorted(statuses.items()))
            lines.append(f"  {kind}: {sum(statuses.values()):,} ({listed})")
        if self.errors:
            shown = ", ".join(str(line) for line in self.error_lines)
            more = ", ..." if self.errors > len(self.error_lines) else ""
            lines.append(f"errors {self.errors:,} (line{'s' if self.errors != 1 else ''} {shown}{more})")
        else:
            lines.append("errors 0")
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        lines.append(
            f"{_seconds(self.elapsed_ns)} s, {self.decisions_per_s:,} decisions/s,"
            f" {workers}, trace {'full' if self.trace else 'none'}"
        )
        return "\n".join(lines) + "\n"


def run_batch(
    chunks: Iterable[Chunk],
    writer: Writer,
    *,
    options: BatchOptions,
    spec: EngineSpec | None = None,
    workers: int = 1,
    decision_log: IO[str] | None = None,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> Summary:
    """Decide every row of `chunks` and write the results in input order; commit the writer at the end.

    The engine is loaded here first (a `PolicyError` then, before anything is
    written); with `workers` > 1 each worker process loads it again, once.
    `decision_log` gets the decision log lines, in input order.  On any
    exception, `KeyboardInterrupt` included, the writer is aborted (no
    output file appears) and the exception propagates.
    """
    spec = spec or EngineSpec()
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    summary = Summary(
        input=options.source, output=writer.name, as_of=options.as_of, trace=options.trace, workers=workers
    )
    started = time.perf_counter_ns()
    try:
        decider = ChunkDecider.load(spec, options, log=decision_log is not None)
        if workers == 1:
            results: Iterator[ChunkResult] = map(decider, chunks)
        else:
            results = _in_pool(
                chunks,
                workers=workers,
                spec=spec,
                options=options,
                log=decision_log is not None,
                expected=decider.engine.policies,
            )
        with contextlib.ExitStack() as pool_closed:  # on any error too, the pool is shut down right here
            if isinstance(results, Generator):
                pool_closed.callback(results.close)
            for result in results:
                writer.write(result)
                if decision_log is not None and result.log:
                    decision_log.write(result.log)
                summary.add(result)
                if on_chunk is not None:
                    on_chunk(result)
        if decision_log is not None:
            decision_log.flush()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    summary.elapsed_ns = time.perf_counter_ns() - started
    return summary


# One decider per worker process, set by the pool's initializer.
_WORKER: dict[str, ChunkDecider] = {}


_START_ERROR: dict[str, Exception] = {}


class _Relayed(Exception):
    """A package error raised in a worker, in a form that pickles (`PolicyEngineError`s do not)."""

    def __init__(self, kind: type[PolicyEngineError], problems: tuple[Problem, ...]) -> None:
        super().__init__(kind, problems)
        self.kind, self.problems = kind, problems


def _start_worker(spec: EngineSpec, options: BatchOptions, log: bool, expected: tuple[PolicyRef, ...]) -> None:
    """Load the engine once per worker.  A failure is kept and raised by the first chunk, so that it
    reaches the parent as the exception it is (an initializer's would only break the pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and shuts the pool down
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker must not inherit `sigterm_raises`
    try:
        decider = ChunkDecider.load(spec, options, log=log)
    except Exception as error:  # re-raised by _decide_in_worker, so that it reaches the parent
        _START_ERROR["error"] = error
        return
    if decider.engine.policies != expected:
        message = "the policy files changed while the batch was starting; run it again"
        _START_ERROR["error"] = PolicyError([Problem(file="policies", message=message)])
        return
    _WORKER["decider"] = decider


# Memory shared with forked workers: `slot` numbers a SLOT_BYTES region a chunk's output goes to.
_SHARED: dict[str, mmap.mmap] = {}


def _decide_in_worker(chunk: Chunk, slot: int | None) -> tuple[ChunkResult, int]:
    """The chunk's result, and the length of its output when it was put in the shared slot (else -1)."""
    error = _START_ERROR.get("error")
    if isinstance(error, PolicyEngineError):
        raise _Relayed(type(error), error.problems)
    if error is not None:
        raise error
    result = _WORKER["decider"](chunk)
    shared = _SHARED.get("buffer")
    length = len(result.output)
    if slot is None or shared is None or length > SLOT_BYTES:
        return result, -1
    # one copy here and one into the output file, instead of pickling and piping megabytes of JSON
    shared[slot * SLOT_BYTES : slot * SLOT_BYTES + length] = result.output
    return replace(result, output=b""), length


def _pool_context() -> multiprocessing.context.BaseContext:
    """How worker processes start.

    fork on Linux when this process runs no other thread: the fastest start,
    and nothing of the caller's script is imported again (a forked child
    gets copies of the locks other threads hold, hence the condition; the
    progress bar runs no monitor thread for this reason).  Otherwise
    forkserver (POSIX) or spawn: a script calling `run_batch` with workers
    then needs the `if __name__ == "__main__":` guard, as with any
    multiprocessing program.
    """
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["policy_engine.batch"])
        return context
    return multiprocessing.get_context("spawn")


def _in_pool(
    chunks: Iterable[Chunk],
    *,
    workers: int,
    spec: EngineSpec,
    options: BatchOptions,
    log: bool,
    expected: tuple[PolicyRef, ...],
) -> Iterator[ChunkResult]:
    """Results in submission order, with at most `IN_FLIGHT_PER_WORKER * workers` chunks in flight.

    With forked workers, outputs come back through a shared memory slot per chunk in flight (the
    slot is reused once its result is written); otherwise through the pool's pipes.
    """
    limit = IN_FLIGHT_PER_WORKER * workers
    context = _pool_context()
    shared = mmap.mmap(-1, limit * SLOT_BYTES) if context.get_start_method() == "fork" else None
    free_slots: list[int | None] = list(range(limit)) if shared is not None else [None] * limit
    window: deque[tuple[Future[tuple[ChunkResult, int]], int | None]] = deque()
    if shared is not None:
        _SHARED["buffer"] = shared  # set before the pool forks its workers, which inherit it
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            # absolute paths: a worker's current folder is the one the forkserver started in
            initargs=(
                replace(spec, policies=tuple(str(Path(path).resolve()) for path in spec.policies)),
                options,
                log,
                expected,
            ),
        ) as pool:
            try:
                for chunk in chunks:
                    slot = free_slots.pop()
                    window.append((pool.submit(_decide_in_worker, chunk, slot), slot))
                    if len(window) >= limit:
                        yield from _take(window, free_slots, shared)
                while window:
                    yield from _take(window, free_slots, shared)
            except _Relayed as relayed:
                pool.shutdown(cancel_futures=True)
                raise relayed.kind(relayed.problems) from None
            except BaseException:  # the chunks not started are dropped; at most one per worker is finished
                pool.shutdown(cancel_futures=True)
                raise
    finally:
        _SHARED.pop("buffer", None)
        if shared is not None:
            shared.close()


def _take(
    window: deque[tuple[Future[tuple[ChunkResult, int]], int | None]],
    free_slots: list[int | None],
    shared: mmap.mmap | None,
) -> Iterator[ChunkResult]:
    """The oldest result; its slot is free again once the consumer asks for the next one."""
    future, slot = window.popleft()
    result, length = future.result()
    if length < 0 or slot is None or shared is None:
        yield result
    else:
        with memoryview(shared) as whole, whole[slot * SLOT_BYTES : slot * SLOT_BYTES + length] as output:
            yield replace(result, output=output)
    free_slots.append(slot)


@contextlib.contextmanager
def progress_bar(
    stream: IO[str], *, total_bytes: int | None, total_rows: int | None = None
) -> Iterator[Callable[[ChunkResult], None] | None]:
    """A tqdm bar on `stream` when it is a terminal (bytes read, rows decided), else None: no bar when piped.

    With `total_rows` (an input whose size in rows is known, as Parquet's), the bar counts rows instead.
    """
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        yield None
        return
    from tqdm import tqdm  # noqa: PLC0415 - imported only when a bar is shown: the command starts faster

    class Bar(tqdm):  # type: ignore[type-arg]  # tqdm's type parameter is the iterable's item: none here
        monitor_interval = 0  # no monitor thread: worker processes can then be forked safely

    if total_rows is not None:
        with Bar(total=total_rows, unit=" rows", unit_scale=True, file=stream, desc="batch", leave=False) as bar:

            def count_rows(result: ChunkResult) -> None:
                bar.update(result.rows)

            yield count_rows
        return
    with Bar(
        total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, file=stream, desc="batch", leave=False
    ) as bar:
        rows = 0

        def advance(result: ChunkResult) -> None:
            nonlocal rows
            rows += result.rows
            bar.set_postfix_str(f"{rows:,} rows", refresh=False)
            bar.update(result.size)

        yield advance


class Terminated(BaseException):  # BaseException, as KeyboardInterrupt: `except Exception` must not catch it
    """SIGTERM arrived: raised in the main thread so that a run is abandoned as cleanly as on Ctrl-C."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (the output's temporary file is then removed).

    Only in the main thread, where Python runs signal handlers; elsewhere it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signal: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker_count(requested: int) -> int:
    """`requested` workers; 0 means one per CPU this process may run on."""
    if requested > 0:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def decide_lines(
    lines: Iterable[bytes | str],
    *,
    options: BatchOptions,
    engine: Engine,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[str]:
    """The output rows for `lines` (JSON text, one account each), in order, decided in this process.

    For a library caller holding an engine already: no files, no workers.
    """
    decider = ChunkDecider(engine, options)
    iterator = iter(lines)
    first_line = 1
    while rows := list(islice(iterator, chunk_size)):
        yield from decider.decide(Chunk(first_line, rows))[0]
        first_line += len(rows)


__all__ = [
    "CHUNK_SIZE",
    "BatchOptions",
    "Chunk",
    "ChunkDecider",
    "ChunkResult",
    "EngineSpec",
    "JsonlReader",
    "JsonlRows",
    "JsonlWriter",
    "Row",
    "RowEncoder",
    "RowError",
    "Summary",
    "Terminated",
    "Writer",
    "decide_lines",
    "progress_bar",
    "run_batch",
    "sigterm_raises",
    "worker_count",
]
