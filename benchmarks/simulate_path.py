"""`policy-engine simulate` over long price paths: cost per point against one evaluation, and peak memory.

    .venv/bin/python benchmarks/simulate_path.py                          # 1,000 / 100,000 / 1,000,000 points
    .venv/bin/python benchmarks/simulate_path.py --points 1000,20000      # a quick look

The account is `examples/loan-topup.json` (a crypto loan with auto top-up
on). Its price path is a seeded random walk of BTC around the loan's
margin-call and liquidation levels, one point a minute, written once per size
as CSV into `--workdir`. Each size runs `policy-engine simulate --format
jsonl` (one line per evaluation, streamed) in a fresh process, its output
thrown away, through a small Python parent that reports the child's peak
resident set (`getrusage(RUSAGE_CHILDREN)`, what `/usr/bin/time -v` calls
"Maximum resident set size") and its wall time.

Cost per point is the difference between two sizes' wall times over the
difference of their points (start-up and the policy load cancel out). The
ratio the issue sets (at most 2x the cost of one evaluation per point, with
memory flat in the path's length) is measured in one process: the walk
written as JSON Lines, timed against the very evaluations it makes, replayed
alone. Wall time on a shared VM moves with its load: compare the ratio,
which is measured in one run.
"""

from __future__ import annotations

import argparse
import io
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import policy_engine

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = ROOT / "examples" / "loan-topup.json"
START = datetime(2020, 7, 25, 12, tzinfo=UTC)
REPLAY_POINTS_AT_MOST = 20_000
"""The in-process comparison runs on the longest path up to this length (it walks it twice)."""
_CHILD = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
wall = time.perf_counter() - start
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def write_path(path: Path, points: int, seed: int = 1) -> None:
    """A random walk of BTC between 6,000 and 13,000 (the loan's call and liquidation levels lie inside)."""
    rng = random.Random(seed)
    price = Decimal("9405.02")
    with path.open("w") as out:
        out.write("timestamp,asset,price\n")
        for index in range(points):
            step = Decimal(rng.randint(-4000, 4000)).scaleb(-2)
            price = min(max(price + step, Decimal(6000)), Decimal(13000))
            moment = START + timedelta(minutes=index)
            out.write(f"{moment.isoformat().replace('+00:00', 'Z')},BTC,{price}\n")


def run_simulate(prices: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one `policy-engine simulate` in a fresh process."""
    command = [
        sys.executable,
        "-m",
        "policy_engine",
        "simulate",
        str(ACCOUNT),
        "--prices",
        str(prices),
        "--policies",
        str(ROOT / "policies"),
        "--format",
        "jsonl",
    ]
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-c", _CHILD, *command], capture_output=True, text=True, check=True
    )
    wall, rss = result.stdout.split()
    return float(wall), int(rss)


def in_process(prices: Path) -> tuple[float, float, int]:
    """(seconds of the walk written as JSON Lines, seconds of the same evaluations alone, evaluations).

    The walk runs once with `engine.evaluate` wrapped to record each (state,
    as_of) it is asked for; the timed walk is the second run, and the
    baseline replays the recorded evaluations: the same states, the same
    instants, without the path reader, the product's hooks and the writer.
    """
    from policy_engine.accounts import parse_account  # noqa: PLC0415 - the CLI's reader, for the same input
    from policy_engine.simulate import PricePath, walk, write_timeline  # noqa: PLC0415

    engine = policy_engine.load(ROOT / "policies")
    account = parse_account(ACCOUNT.read_text(), source=str(ACCOUNT))
    recorded: list[tuple[Any, Any]] = []
    evaluate = engine.evaluate

    def recording(state: Any, as_of: Any = None, **options: Any) -> Any:
        recorded.append((state, as_of))
        return evaluate(state, as_of=as_of, **options)

    engine.evaluate = recording  # type: ignore[method-assign,assignment]
    with PricePath.open(prices) as path:
        write_timeline(walk(engine, account, path, source="account"), io.StringIO(), "jsonl")
    engine.evaluate = evaluate  # type: ignore[method-assign]
    sink = io.StringIO()
    clock = time.perf_counter
    start = clock()
    with PricePath.open(prices) as path:
        write_timeline(walk(engine, account, path, source="account"), sink, "jsonl")
    walked = clock() - start
    start = clock()
    for state, as_of in recorded:
        evaluate(state, as_of=as_of, source="account")
    replayed = clock() - start
    return walked, replayed, len(recorded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="1000,100000,1000000", help="comma-separated path lengths")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "policy-engine-simulate")
    args = parser.parse_args()
    sizes = sorted(int(text) for text in args.points.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"# policy-engine simulate, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; account {ACCOUNT.name}")
    print("| points | wall | peak RSS |")
    print("|---|---|---|")
    walls = {}
    for size in sizes:
        prices = args.workdir / f"prices-{size}.csv"
        if not prices.exists():
            write_path(prices, size)
        wall, rss = run_simulate(prices)
        walls[size] = wall
        print(f"| {size:,} | {wall:.2f} s | {rss / 1024:.1f} MB |")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        per_point = (walls[large] - walls[small]) / (large - small)
        print(f"\nper point, from the wall times ({small:,} -> {large:,} points): {per_point * 1e6:.1f} µs")
    replay = max([size for size in sizes if size <= REPLAY_POINTS_AT_MOST] or sizes[:1])
    walked, replayed, evaluations = in_process(args.workdir / f"prices-{replay}.csv")
    print(
        f"in one process, {replay:,} points ({evaluations:,} evaluations): the walk written as JSON Lines"
        f" {walked / evaluations * 1e6:.1f} µs per evaluation, the same evaluations alone"
        f" {replayed / evaluations * 1e6:.1f} µs: {walked / replayed:.2f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
