"""The benchmark suite runs and prints every row (tiny samples: a smoke test, not a measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

ROWS = (
    "| hand-written Decimal + trace, margin not liquidating |",
    "| engine core (compiled policy), margin not liquidating |",
    "| engine.evaluate, margin not liquidating |",
    "| engine.evaluate, margin liquidating |",
    "| engine.evaluate, crypto loans |",
    "| decision.to_json(), margin not liquidating |",
    "| decision.to_json(trace=False), margin not liquidating |",
    "| decision.to_json(), margin liquidating |",
    "| decision.to_json(), crypto loans |",
    "| GoRules ZEN engine.evaluate(key), trace, margin not liquidating |",
    "| engine.evaluate, margin policy alone, margin not liquidating |",
    "| policy load, first in a fresh process (after imports) |",
    "| policy load, repeated in one process |",
    "| batch JSONL -> JSONL, full trace, 1 process |",
    "| batch JSONL -> JSONL, outcome only, 1 process |",
    "| batch JSONL -> JSONL, full trace, 2 workers |",
    "| python -c pass |",
    '| import floor: python -c "import yaml, jsonschema, simpleeval, structlog, orjson" |',
    "| CLI cold start: policy-engine evaluate examples/margin-a-regular.json |",
)


def test_the_suite_prints_every_row() -> None:
    """`benchmarks/run.py --quick` on tiny samples prints the machine, each row of the table and its notes."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            *("--n", "150", "--batch-n", "60", "--cold-runs", "1", "--load-runs", "1", "--loop-seconds", "0.01"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# policy-engine benchmarks, ")
    assert lines[1].startswith("# machine: ")
    printed = [line.split(" | ")[0] + " |" for line in lines if line.startswith("| ") and "measurement" not in line]
    assert printed == list(ROWS)
    assert "engine/hand-written status mismatches: 0" in result.stdout
    assert "- -X importtime, modules `policy-engine evaluate` imports beyond the floor: " in result.stdout


def test_the_simulate_benchmark_prints_its_table_and_ratio(tmp_path: Path) -> None:
    """`benchmarks/simulate_path.py` on two short paths prints a row per size and the in-process ratio."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "simulate_path.py"),
            *("--points", "20,60", "--workdir", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and "points" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 20", "| 60"]
    assert all(row.endswith(" MB |") for row in rows)
    assert "in one process, 60 points (" in result.stdout
    assert "(target <= 2x)" in result.stdout
