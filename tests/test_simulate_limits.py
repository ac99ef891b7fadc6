"""A simulation is bounded: `--max-evaluations` and `--time-limit` (`WalkLimits`) stop a walk and say so."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from policy_engine import load
from policy_engine.cli import main
from policy_engine.simulate import PricePath, simulate
from policy_engine.walk_limits import DEFAULT_WALK_LIMITS, WalkLimits

from .conftest import EXAMPLES, POLICIES

ACCOUNT = EXAMPLES / "margin-a-regular.json"


def write_path(tmp_path: Path, points: int) -> Path:
    """`points` BTC prices a day apart, all keeping the example account out of liquidation."""
    path = tmp_path / "prices.csv"
    rows = [f"2026-02-{day:02d}T00:00:00Z,BTC,{46000 + day}" for day in range(1, points + 1)]
    path.write_text("timestamp,asset,price\n" + "\n".join(rows) + "\n")
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def simulate_lines(prices: Path, *options: str) -> tuple[int, list[dict[str, object]], str]:
    code, out, err = run(
        "simulate", str(ACCOUNT), "--prices", str(prices), "--policies", str(POLICIES), "--format", "jsonl", *options
    )
    return code, [json.loads(line) for line in out.splitlines()], err


def test_a_walk_stops_after_max_evaluations_says_so_and_exits_2(tmp_path: Path) -> None:
    code, lines, err = simulate_lines(write_path(tmp_path, 5), "--max-evaluations", "3")
    entries, summary = lines[:-1], lines[-1]
    assert code == 2
    assert [entry["at"] for entry in entries] == [f"2026-02-0{day}T00:00:00Z" for day in (1, 2, 3)]
    assert (summary["ended"], summary["evaluations"]) == ("evaluation_limit", 3)
    assert err == (
        "policy-engine simulate: stopped after 3 evaluations by --max-evaluations; the timeline written ends there"
        " (its summary says `ended: evaluation_limit`)\n"
    )


def test_a_walk_that_ends_exactly_at_the_limit_is_not_cut_short(tmp_path: Path) -> None:
    code, lines, err = simulate_lines(write_path(tmp_path, 3), "--max-evaluations", "3")
    assert (code, err) == (0, "")
    assert (lines[-1]["ended"], lines[-1]["evaluations"]) == ("end_of_path", 3)


def test_a_time_limit_stops_the_walk_before_its_next_evaluation(tmp_path: Path) -> None:
    """A bound already passed when the walk starts: the walk makes no evaluation and says which bound stopped it."""
    engine = load(POLICIES)
    account = json.loads(ACCOUNT.read_text())
    with PricePath.open(write_path(tmp_path, 4)) as path:
        timeline = simulate(engine, account, path, source="account", limits=WalkLimits(time_limit=timedelta(0)))
    assert (timeline["ended"], timeline["entries"]) == ("time_limit", [])


def test_the_command_line_reads_a_time_limit_in_decimal_seconds(tmp_path: Path) -> None:
    code, lines, err = simulate_lines(write_path(tmp_path, 2), "--time-limit", "3600.5")
    assert (code, err, lines[-1]["ended"]) == (0, "", "end_of_path")


@pytest.mark.parametrize("given", ["0", "-1", "soon", "NaN", "1e10"])
def test_a_time_limit_that_is_not_a_positive_number_of_seconds_is_refused(tmp_path: Path, given: str) -> None:
    code, out, err = simulate_lines(write_path(tmp_path, 2), "--time-limit", given)
    assert (code, out) == (2, [])
    assert "--time-limit: expected a number of seconds above 0 and at most 1000000000" in err


def test_the_default_bound_is_documented_in_help() -> None:
    code, out, _ = run("simulate", "--help")
    assert code == 0
    assert f"(default: {DEFAULT_WALK_LIMITS.max_evaluations})" in " ".join(out.split())
