"""Instructions per call, counted by valgrind's callgrind: a speed figure that does not move with machine load.

Wall-clock timings on a shared 2-vCPU VM vary two- to threefold between runs;
instruction counts are repeatable, so they are what to compare before and
after a change.  For each path the script runs itself under callgrind twice,
with N calls and with none, and prints (difference) / N.

    python benchmarks/instructions.py [--calls 1000] [--policies policies]

`load` (a repeated load of the policies) runs 1/100 of `--calls`.

To compare with another revision, run the same script with PYTHONPATH set to
that revision's checkout.  Needs `valgrind` on PATH.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import policy_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_margin  # a sibling script, found once its folder is on the path

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
PATHS = (
    "hand-written",
    "core",
    "evaluate-calm-margin-only",
    "evaluate-calm",
    "to_json-calm",
    "evaluate-liquidating",
    "to_json",
    "evaluate+to_json",
    "evaluate-loan",
    "load",
)
RATIOS = (
    ("core", "hand-written", "issue 14 target <= 1.5x"),
    ("evaluate-calm-margin-only", "hand-written", "issue 14 target <= 3x: the same decision"),
    ("evaluate-calm", "hand-written", "with the collateral policy in force: haircut bands as well"),
    ("to_json-calm", "evaluate-calm", "target <= 1x"),
    ("to_json", "evaluate-liquidating", "target <= 1x"),
    ("evaluate+to_json", "evaluate-liquidating", "a new decision made and written: 2x when writing costs making"),
)
"""(path, baseline, what the ratio is read against): the issue's ratios, in instructions."""
CALLS_DIVISOR = {"load": 100}
"""A load costs about as much as 1,000 evaluations: it is counted over fewer calls."""
_COLLECTED = re.compile(r"Collected : (\d+)")


def _account(name: str, **changes: Any) -> dict[str, Any]:
    account: dict[str, Any] = json.loads((ROOT / "examples" / name).read_text(), parse_float=Decimal)
    account.update(changes)
    return account


def _workload(policies: Path) -> dict[str, Callable[[], object]]:
    engine = policy_engine.load(policies)
    margin_only = policy_engine.load(policies / "margin-trading.yaml")
    margin_policy: Any = margin_only.policy_for("spot-margin", AS_OF)
    calm = _account("margin-a-regular.json")
    calm["assets"] = [{**calm["assets"][0], "price": "50000"}]
    liquidating = _account("margin-c-regular-then-takeover.json")
    loan = _account("loan-topup.json")
    decision = engine.evaluate(liquidating, AS_OF)
    calm_decision = engine.evaluate(calm, AS_OF)
    hand_written = bench_margin.hand_written(
        {
            (mode, int(leverage)): (tier.values["margin_call_level"], tier.values["liquidation_level"])
            for mode, spec in margin_policy.modes.items()
            for leverage, tier in spec.tiers.items()
        }
    )
    return {
        "hand-written": lambda: hand_written(calm),
        "core": lambda: margin_policy.evaluate(calm, source="account", as_of=AS_OF, related={}),
        "evaluate-calm-margin-only": lambda: margin_only.evaluate(calm, AS_OF),
        "evaluate-calm": lambda: engine.evaluate(calm, AS_OF),
        "to_json-calm": calm_decision.to_json,
        "evaluate-liquidating": lambda: engine.evaluate(liquidating, AS_OF),
        "to_json": decision.to_json,
        "evaluate+to_json": lambda: engine.evaluate(liquidating, AS_OF).to_json(),  # a new decision's first write
        "evaluate-loan": lambda: engine.evaluate(loan, "2020-07-25T17:18:38Z"),
        "load": lambda: policy_engine.load(policies),  # a repeated load: the first one warms the caches
    }


WARM_UP_CALLS = 20
"""Calls before counting, in both runs alike: caches, lazy imports, and the account readers and policy checks
the engine compiles at a schema's twelfth (readers) or third (checks) use."""


def _run_inside(path: str, calls: int, policies: Path) -> None:
    work = _workload(policies)[path]
    for _ in range(WARM_UP_CALLS if path != "load" else 3):
        work()
    for _ in range(calls):
        work()


def _count(path: str, calls: int, policies: Path) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--inside",
        path,
        "--calls",
        str(calls),
        "--policies",
        str(policies),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603 - our own script
    found = _COLLECTED.search(result.stderr)
    if found is None:
        raise SystemExit(f"no callgrind total in the output of {' '.join(command)}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    parser.add_argument("--only", nargs="+", choices=PATHS, help="count these paths only")
    parser.add_argument("--inside", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        _run_inside(args.inside, args.calls, args.policies)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on PATH (apt-get install valgrind)")
    print(f"policy_engine from {Path(policy_engine.__file__).parent}; {args.calls} calls per path")
    print(f"{'path':26} {'instructions per call':>22}")
    counts: dict[str, int] = {}
    for path in args.only or PATHS:
        calls = max(1, args.calls // CALLS_DIVISOR.get(path, 1))
        counts[path] = (_count(path, calls, args.policies) - _count(path, 0, args.policies)) // calls
        print(f"{path:26} {counts[path]:22,}")
    for path, base, target in RATIOS:
        if path in counts and base in counts:
            print(f"{path} / {base}: {counts[path] / counts[base]:.2f}x ({target})")


if __name__ == "__main__":
    main()
