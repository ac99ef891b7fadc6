"""Peak memory and speed of `policy-engine batch` at two sizes, JSON Lines and Parquet: is memory flat?

    .venv/bin/python benchmarks/batch_memory.py                       # 10,000 and 1,000,000 accounts
    .venv/bin/python benchmarks/batch_memory.py --counts 2000,20000   # a quick look
    .venv/bin/python benchmarks/batch_memory.py --throughput          # decisions/s: trace full, none, 2 workers
    .venv/bin/python benchmarks/batch_memory.py --instructions        # instructions per row (callgrind)

Populations are made once with `policy-engine population` (seed 1, both account
kinds) and kept in `--workdir`.  Each batch runs in a fresh process started
through a small Python parent that reads `resource.getrusage(RUSAGE_CHILDREN)`
after it: the peak resident set of the largest process of the run (the batch,
or one of its workers), the figure `/usr/bin/time -v` gives as "Maximum
resident set size".  The speed is the command's own `decisions_per_s`
(start-up excluded).  Heavy: 1,000,000 accounts take minutes per run, so this
is not part of the test suite.  Set PYTHONPATH to another tree's root to
measure that tree (for a before/after comparison).

`--instructions` counts, under valgrind's callgrind, the instructions per row
of one `ChunkDecider` call on a chunk of `--instruction-rows` accounts (parse,
evaluate, encode the output rows for JSON Lines or Parquet): a figure that,
unlike wall or CPU time, does not move with the machine's load.  Only the
call is counted (`--toggle-collect=starmap_next`, the call being made
through `itertools.starmap`), after a warm-up chunk.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

AS_OF = "2026-03-01T00:00:00Z"
ROOT = Path(__file__).resolve().parent.parent

_MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(done.stdout.strip() + "\\t" + str(usage.ru_maxrss) + "\\t" + repr(usage.ru_utime + usage.ru_stime))
"""


def population(workdir: Path, count: int, suffix: str) -> Path:
    path = workdir / f"accounts-{count}{suffix}"
    if not path.exists():
        subprocess.run(  # noqa: S603 - our command
            [sys.executable, "-m", "policy_engine", "population", "--count", str(count), "--seed", "1",
             "--as-of", AS_OF, "--out", str(path), "--policies", str(ROOT / "policies")],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return path


def measure(
    source: Path, out: Path, *, trace: str, workers: int, extra: tuple[str, ...] = ()
) -> tuple[int, int, float]:
    """(peak RSS in KiB, decisions per second, CPU seconds of all its processes) of one batch run in a fresh
    process.  The CPU time is less disturbed than the wall time by other jobs on a shared machine."""
    command = [
        sys.executable, "-m", "policy_engine", "batch", str(source), "--out", str(out), "--as-of", AS_OF,
        "--policies", str(ROOT / "policies"), "--trace", trace, "--workers", str(workers), "--summary", "json",
        *extra,
    ]  # fmt: skip
    done = subprocess.run(  # noqa: S603 - our command
        [sys.executable, "-c", _MEASURED, *command], capture_output=True, text=True, check=True
    )
    summary, peak_kib, cpu_seconds = done.stdout.strip().rsplit("\t", 2)
    out.unlink()
    counts = json.loads(summary)
    if counts["errors"]:  # an older tree reads Parquet as JSON Lines: every row an error
        raise subprocess.CalledProcessError(0, command, output=f"{counts['errors']} error rows")
    return int(peak_kib), int(counts["decisions_per_s"]), float(cpu_seconds)


def memory_table(workdir: Path, counts: list[int], formats: list[str], trace: str, workers: int) -> None:
    print(f"# policy-engine batch, peak RSS: --trace {trace}, --workers {workers}, seed 1, as of {AS_OF}")
    print("| input -> output | accounts | peak RSS | decisions/s |")
    print("|---|---|---|---|")
    for fmt in formats:
        suffix = ".parquet" if fmt == "parquet" else ".jsonl"
        for count in counts:
            source = population(workdir, count, suffix)
            peak_kib, rate, _cpu = measure(source, workdir / f"decisions{suffix}", trace=trace, workers=workers)
            print(f"| {fmt} -> {fmt} | {count:,} | {peak_kib / 1024:.1f} MB | {rate:,}/s |", flush=True)


def throughput_table(workdir: Path, count: int, runs: int) -> None:
    """decisions/s of JSON Lines -> JSON Lines (and Parquet -> Parquet): best of `runs`.

    "per CPU second" is `count` over the CPU time of the run less that of the same command on one account
    (start-up: imports, policy load, the pool), summed over its processes: what one core decides when it
    is not shared, whatever else the machine runs.
    """
    print(f"# policy-engine batch throughput, {count:,} accounts, best of {runs} runs")
    print("| run | decisions/s (wall, the summary's) | decisions per CPU second | peak RSS |")
    print("|---|---|---|---|")
    cases = [
        ("jsonl, trace full, 1 process", ".jsonl", "full", 1),
        ("jsonl, trace none, 1 process", ".jsonl", "none", 1),
        ("jsonl, trace full, 2 workers", ".jsonl", "full", 2),
        ("jsonl, trace none, 2 workers", ".jsonl", "none", 2),
        ("parquet, trace full, 1 process", ".parquet", "full", 1),
        ("parquet, trace none, 1 process", ".parquet", "none", 1),
    ]
    for name, suffix, trace, workers in cases:
        out = workdir / f"decisions{suffix}"
        try:
            source, one = population(workdir, count, suffix), population(workdir, 1, suffix)
            results = [measure(source, out, trace=trace, workers=workers) for _ in range(runs)]
            start_up = min(measure(one, out, trace=trace, workers=workers)[2] for _ in range(runs))
        except subprocess.CalledProcessError:  # a tree from before Parquet was supported
            print(f"| {name} | (not supported by this tree) | | |", flush=True)
            continue
        rate = max(result[1] for result in results)
        per_cpu_second = count / max(min(result[2] for result in results) - start_up, 1e-9)
        peak = max(result[0] for result in results)
        print(f"| {name} | {rate:,}/s | {per_cpu_second:,.0f}/s | {peak / 1024:.1f} MB |", flush=True)


_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions_child(output_format: str, trace: str, rows: int, source: Path) -> None:
    """Decide `rows` accounts of `source` in one chunk, the call made through starmap (what callgrind counts)."""
    import policy_engine  # noqa: PLC0415 - the tree PYTHONPATH names
    from policy_engine.batch import BatchOptions, Chunk, ChunkDecider  # noqa: PLC0415 - ditto

    engine = policy_engine.load(str(ROOT / "policies"))
    with source.open("rb") as stream:
        lines = [line for line, _ in zip(stream, range(rows), strict=False)]
    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    decider = ChunkDecider(engine, BatchOptions(as_of=as_of, trace=trace == "full", output_format=output_format))
    decider(Chunk(1, lines[-20:]))  # warm-up: lazy imports, caches
    results = list(itertools.starmap(decider, [(Chunk(1, lines),)]))
    print(len(results[0].output))


def instructions_table(workdir: Path, rows: int) -> None:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind on PATH")
    source = population(workdir, rows, ".jsonl")
    print(f"# policy-engine batch, instructions per row: one chunk of {rows:,} accounts (seed 1, both kinds)")
    print("| chunk -> output | trace | instructions per row |")
    print("|---|---|---|")
    for output_format, trace in (("jsonl", "full"), ("jsonl", "none"), ("parquet", "full"), ("parquet", "none")):
        command = [
            valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", "--collect-atstart=no",
            "--toggle-collect=starmap_next", sys.executable, __file__, "--instructions-child",
            output_format, trace, str(rows), str(source),
        ]  # fmt: skip
        done = subprocess.run(  # noqa: S603 - our command
            command, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"}
        )
        found = _COLLECTED.search(done.stderr)
        if done.returncode or found is None:
            print(f"| {output_format} | {trace} | (not supported by this tree) |", flush=True)
            continue
        print(f"| {output_format} | {trace} | {int(found.group(1)) // rows:,} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="10000,1000000", help="population sizes, comma-separated")
    parser.add_argument("--formats", default="jsonl,parquet", help="jsonl, parquet or both")
    parser.add_argument("--trace", choices=("full", "none"), default="none")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--throughput", action="store_true", help="decisions/s per case instead of the memory table")
    parser.add_argument("--instructions", action="store_true", help="instructions per row under callgrind")
    parser.add_argument("--instruction-rows", type=int, default=500)
    parser.add_argument("--instructions-child", nargs=4, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--throughput-count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "policy-engine-batch-memory", help="kept"
    )
    args = parser.parse_args()
    if args.instructions_child:
        output_format, trace, rows, source = args.instructions_child
        instructions_child(output_format, trace, int(rows), Path(source))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.instructions:
        instructions_table(args.workdir, args.instruction_rows)
    elif args.throughput:
        throughput_table(args.workdir, args.throughput_count, args.runs)
    else:
        counts = [int(count) for count in args.counts.split(",")]
        memory_table(args.workdir, counts, args.formats.split(","), args.trace, args.workers)


if __name__ == "__main__":
    main()
