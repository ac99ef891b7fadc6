"""The batch on a Dask cluster: partitioned Parquet in, one part file out per partition (the optional extra `dask`).

The client plans the partitions from the input's footers (consecutive row
groups of a file, at least `partition_rows` rows each, numbered from the
input's first row), then maps one task per partition.  A task reads its
rows, decides them with the same `ChunkDecider` as the local run, and writes
`part-NNNNN.parquet` (the partition's number) into a temporary folder beside
the output; the client renames that folder to the output when every task is
done (`AtomicFolder`).  Reading the parts in name order gives the local
run's rows, row for row: same numbering, same decisions, same columns.

The policies travel with the tasks as bytes (`PolicyBundle`): a worker needs
the package, not the policy files.  It writes them to a private folder under
the names they were loaded from (decisions cite those names), loads them
once per worker process, checks that it got the versions and digests the
client loaded, and keeps the engine for every later task (`_cached_decider`;
up to `ENGINES_KEPT` policy sets, for a long-lived cluster).  Input and
output paths must be visible to every worker and to the client (one
machine, or a shared file system).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ._extras import MissingExtra

try:
    import distributed
except ModuleNotFoundError as missing:  # pragma: no cover - exercised by a test that hides distributed
    raise MissingExtra(extra="dask", feature="--engine dask", missing=missing.name or "distributed") from missing

from ._output import AtomicFolder
from .batch import BatchOptions, ChunkDecider, ChunkResult, EngineSpec, Summary, _Relayed
from .documents import discover
from .engine import Engine
from .errors import PolicyEngineError, PolicyError, Problem
from .model import PolicyRef
from .parquet import ParquetWriter, Partition, plan_partitions, read_partition

PART_NAME = "part-{index:05d}.parquet"
"""Output part names: the partition's number, zero-padded so that name order is partition order."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyBundle:
    """The policy files the client loaded, as bytes, under the names the engine cites them by."""

    roots: tuple[tuple[str, bool, tuple[tuple[str, bytes], ...]], ...]
    """Per path given to `load`: the name it is cited by (a folder's name, or a file's folder), whether it
    is a folder, and its files (path inside it, content)."""
    digest: str
    """sha256 over every name and content: which engine a worker has cached."""

    @classmethod
    def of(cls, paths: tuple[str, ...]) -> PolicyBundle:
        """The files `load(*paths)` reads, found by the same search (`documents.discover`)."""
        roots = []
        hasher = hashlib.sha256()
        for given in paths:
            root = Path(given)
            sources, _problems = discover([root])  # the client loaded these paths: no problem is left to report
            if root.is_dir():
                files = tuple((found.path.relative_to(root).as_posix(), found.path.read_bytes()) for found in sources)
                roots.append((root.resolve().name, True, files))
            else:
                roots.append((root.resolve().parent.name, False, ((root.name, root.read_bytes()),)))
        for name, is_folder, files in roots:
            hasher.update(f"{name}\0{is_folder}\0".encode())
            for relative, content in files:
                hasher.update(f"{relative}\0{len(content)}\0".encode())
                hasher.update(content)
        return cls(roots=tuple(roots), digest=hasher.hexdigest())

    def write(self, folder: Path) -> tuple[str, ...]:
        """The files under `folder`, named as they were; the paths to load, in the order given."""
        paths = []
        for index, (name, is_folder, files) in enumerate(self.roots):
            root = folder / str(index) / name
            for relative, content in files:
                target = root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            paths.append(str(root if is_folder else root / files[0][0]))
        return tuple(paths)


@dataclass(frozen=True, kw_only=True, slots=True)
class PartitionJob:
    """One task: decide `partition` and write it to `out_path`."""

    bundle: PolicyBundle
    spec: EngineSpec
    expected: tuple[PolicyRef, ...]
    options: BatchOptions
    partition: Partition
    chunk_size: int
    out_path: str


ENGINES_KEPT = 4
"""Engines a worker keeps, the most recently used: a long-lived cluster serves runs of other policy sets."""
# The engines a worker process holds, by policy bundle digest, oldest first; threads of one worker share them.
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _cached_decider(job: PartitionJob) -> ChunkDecider:
    """A decider for the job's options with the worker's engine for its policies, loaded on the first task."""
    with _ENGINES_LOCK:
        engine = _ENGINES.pop(job.bundle.digest, None)
        if engine is None:
            folder = Path(tempfile.mkdtemp(prefix="policy-engine-policies-"))
            try:
                engine = replace(job.spec, policies=job.bundle.write(folder)).load()
            finally:
                shutil.rmtree(folder, ignore_errors=True)  # the engine holds all it needs: the files are not read again
        _ENGINES[job.bundle.digest] = engine  # now the most recently used
        while len(_ENGINES) > ENGINES_KEPT:
            del _ENGINES[next(iter(_ENGINES))]
    if engine.policies != job.expected:
        message = "a worker loaded other policies than the client; check the workers' policy-engine version"
        raise PolicyError([Problem(file="policies", message=message)])
    return ChunkDecider(engine, job.options)


def decide_partition(job: PartitionJob) -> ChunkResult:
    """The task: decide one partition into its part file; returns its counts (no output bytes)."""
    try:
        decider = _cached_decider(job)
        writer = ParquetWriter(job.out_path)
    except PolicyEngineError as error:  # relayed: package errors do not pickle
        raise _Relayed(type(error), error.problems) from None
    rows = 0
    counts: dict[tuple[str, str], int] = {}
    error_lines: list[int] = []
    try:
        for chunk in read_partition(job.partition, chunk_size=job.chunk_size):
            result = decider(chunk)
            writer.write(result)
            rows += result.rows
            error_lines += result.error_lines
            for key, count in result.counts.items():
                counts[key] = counts.get(key, 0) + count
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return ChunkResult(
        first_line=job.partition.first_row, rows=rows, output=b"", counts=counts, error_lines=error_lines
    )


@contextlib.contextmanager
def dask_client(scheduler: str | None, *, workers: int, processes: bool = True) -> Iterator[distributed.Client]:
    """A client of the scheduler at `scheduler`, or of a local cluster of `workers` single-threaded workers."""
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    with (
        distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def run_on_dask(
    input_path: str | Path,
    output_path: str | Path,
    *,
    options: BatchOptions,
    spec: EngineSpec | None = None,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    partition_rows: int = 100_000,
    chunk_size: int = 1_000,
    on_part: Callable[[ChunkResult], None] | None = None,
) -> Summary:
    """Decide every row of the Parquet input on a Dask cluster into a folder of part files at `output_path`.

    The policies load here first, and the input's footers are checked (a
    `PolicyError` or `AccountError` then, before any task runs).  The
    output folder appears whole when every part is written; on any
    exception no folder appears and an earlier one is left as it was.
    `on_part` gets each partition's counts, in order.
    """
    spec = spec or EngineSpec()
    options = replace(options, output_format="parquet")
    engine = spec.load()
    partitions = plan_partitions(input_path, partition_rows=partition_rows)
    bundle = PolicyBundle.of(spec.policies)
    summary = Summary(
        input=options.source, output=str(output_path), as_of=options.as_of, trace=options.trace, workers=workers
    )
    started = time.perf_counter_ns()
    folder = AtomicFolder(output_path)
    try:
        if not partitions:  # an empty input still gives a readable dataset: one part with the schema, no rows
            ParquetWriter(folder.temp_path / PART_NAME.format(index=0)).commit()
        jobs = [
            PartitionJob(
                bundle=bundle,
                spec=replace(spec, policies=()),
                expected=engine.policies,
                options=options,
                partition=replace(partition, path=str(Path(partition.path).resolve())),
                chunk_size=chunk_size,
                out_path=str((folder.temp_path / PART_NAME.format(index=index)).resolve()),
            )
            for index, partition in enumerate(partitions)
        ]
        if jobs:
            with dask_client(scheduler, workers=workers, processes=processes) as client:
                summary.workers = len(client.scheduler_info()["workers"])
                futures = client.map(decide_partition, jobs, pure=False)
                try:
                    for future in futures:
                        result = future.result()
                        summary.add(result)
                        if on_part is not None:
                            on_part(result)
                except _Relayed as relayed:
                    raise relayed.kind(relayed.problems) from None
                finally:
                    client.cancel(futures)
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    summary.elapsed_ns = time.perf_counter_ns() - started
    return summary


__all__ = ["PART_NAME", "PartitionJob", "PolicyBundle", "dask_client", "decide_partition", "run_on_dask"]
