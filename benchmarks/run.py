"""The benchmark suite: one table, measured in one run, with the ratios that matter.

    python benchmarks/run.py            # full run, a few minutes
    python benchmarks/run.py --quick    # smoke run, well under a minute

Rows (see BENCHMARKS.md for how to read them):

- per-decision latency, p50 and p99, on one pinned CPU: a hand-written
  Decimal pipeline that parses the same strings and records a per-step trace
  (`bench_margin.hand_written`, the baseline of the latency ratios), the
  compiled margin policy alone, `engine.evaluate` for each bundled product
  (margin not liquidating, margin liquidating, crypto loans),
  `decision.to_json()` and `to_json(trace=False)`, and GoRules ZEN on the
  same margin decision table with its trace (`zen-engine`, optional: its row
  says so when it is not installed);
- policy load: the first `load()` of the bundled pack in a fresh process,
  after imports, and a repeated load in one process;
- batch JSONL in, JSONL out: `policy-engine batch` when the command exists,
  otherwise an in-process loop of parse + evaluate + `to_json` per line (the
  row says which), on one core and with 2 workers;
- CLI cold start: `policy-engine evaluate` against the import floor of its
  dependencies, with `python -X importtime`'s top modules beyond that floor.

Wall-clock figures on a shared VM move two- to threefold between runs: compare
ratios measured in one run, and use `benchmarks/instructions.py` (callgrind)
for an A/B of a change.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import itertools
import json
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import bench_margin

import policy_engine
from policy_engine import Engine

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
EXAMPLE = "examples/margin-a-regular.json"
AS_OF = bench_margin.AS_OF
AS_OF_TEXT = "2026-03-01T00:00:00Z"
CENT = Decimal("0.01")
SATOSHI = Decimal("0.00000001")
FLOOR_MODULES = ("yaml", "jsonschema", "simpleeval", "structlog", "orjson")
FLOOR_IMPORTS = "import " + ", ".join(FLOOR_MODULES)
LOAD_TARGET_MS = 20.0
WARMUP_CALLS = 2_000


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How much to measure: the full run or the quick one (smoke use)."""

    n: int
    runs: int
    loop_seconds: float
    """A timing loop covers the first k items so that it takes about this long."""
    cold_runs: int
    load_runs: int
    batch_n: int


FULL = Settings(n=20_000, runs=3, loop_seconds=1.5, cold_runs=15, load_runs=7, batch_n=20_000)
QUICK = Settings(n=2_000, runs=1, loop_seconds=0.3, cold_runs=3, load_runs=3, batch_n=2_000)


@dataclass(kw_only=True)
class Row:
    """One line of the table; figures are filled in as they are measured."""

    name: str
    median: str = "-"
    spread: str = "-"
    rate: str = "-"
    ratio: str = "-"
    against: str = ""
    value: float | None = None
    """The figure the ratios are taken of (µs, ms or decisions per second)."""
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    model, listed = "unknown", 0
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("processor"):
                listed += 1
    versions = {}
    for dist in ("jsonschema", "PyYAML", "orjson", "structlog", "simpleeval", "zen-engine"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "cpu": f"{model}, {listed} logical CPUs in /proc/cpuinfo, os.cpu_count() {os.cpu_count()}",
        "python": f"{platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
        "libraries": ", ".join(f"{name} {version}" for name, version in versions.items()),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _busy_ticks() -> dict[int, tuple[int, int]]:
    """(busy, total) jiffies per CPU from /proc/stat."""
    ticks: dict[int, tuple[int, int]] = {}
    with contextlib.suppress(OSError), open("/proc/stat", encoding="utf-8") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name != "cpu":
                numbers = [int(x) for x in fields]
                idle = numbers[3] + (numbers[4] if len(numbers) > 4 else 0)
                ticks[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return ticks


def pin_one_cpu() -> tuple[str, set[int]]:
    """Pin this process to the least busy CPU it may run on (over a 0.3 s sample), as the peers did."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return "not pinned (no sched_setaffinity here)", set()
    before = _busy_ticks()
    time.sleep(0.3)
    after = _busy_ticks()

    def busy(cpu: int) -> float:
        if cpu not in before or cpu not in after:
            return 0.0
        total = after[cpu][1] - before[cpu][1]
        return (after[cpu][0] - before[cpu][0]) / total if total else 0.0

    cpu = min(sorted(allowed), key=busy)
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} (busy {busy(cpu):.0%} just before; the others: " + ", ".join(
        f"CPU {other} {busy(other):.0%}" for other in sorted(allowed) if other != cpu
    ) + ")", allowed


@contextlib.contextmanager
def unpinned(allowed: set[int]) -> Iterator[None]:
    """Every CPU this process may use, for the multi-worker row; pinned again afterwards."""
    if not allowed:
        yield
        return
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, allowed)
    try:
        yield
    finally:
        os.sched_setaffinity(0, pinned)


# --------------------------------------------------------------------------- workloads


def margin_thresholds(engine: Engine) -> dict[tuple[str, int], tuple[Decimal, Decimal]]:
    policy: Any = engine.policy_for("spot-margin", AS_OF)
    return {
        (mode, int(leverage)): (tier.values["margin_call_level"], tier.values["liquidation_level"])
        for mode, spec in policy.modes.items()
        for leverage, tier in spec.tiers.items()
    }


def make_loans(n: int) -> list[dict[str, Any]]:
    """Crypto loans with LTVs from 40% to 95%, about 3% exactly on a call or liquidation level."""
    rng = random.Random(20240502)
    loans = []
    for index in range(n):
        asset = rng.choice(("BTC", "ETH"))
        principal = Decimal(rng.randint(10_000, 10_000_000)).scaleb(-2)
        interest = (principal * Decimal(rng.randint(0, 300)).scaleb(-4)).quantize(CENT)
        price = Decimal(rng.randint(100_000, 10_000_000)).scaleb(-2)
        if rng.random() < 0.03:
            ltv = Decimal(rng.choice(("0.75", "0.80", "0.83", "0.85", "0.90")))
        else:
            ltv = Decimal(rng.randint(4_000, 9_500)).scaleb(-4)
        quantity = ((principal + interest) / (ltv * price)).quantize(SATOSHI)
        loans.append(
            {
                "kind": "crypto-loan",
                "account_id": f"loan-{index}",
                "loan_type": rng.choice(("cross_collateral", "flexible")),
                "loan": {"asset": "USDT", "principal": str(principal), "interest": str(interest)},
                "collateral": {"asset": asset, "quantity": str(quantity)},
                "prices": {asset: str(price), "USDT": "1"},
                "spot_balances": {asset: str((quantity * Decimal(rng.randint(0, 50)).scaleb(-2)).quantize(SATOSHI))},
                "auto_top_up": {
                    "enabled": rng.random() < 0.8,
                    "state": {
                        "failed_attempts": 0,
                        "last_attempt_at": None,
                        "succeeded_before": False,
                        "disabled": False,
                    },
                },
            }
        )
    return loans


@dataclass(frozen=True, kw_only=True)
class Workload:
    engine: Engine
    calm: list[dict[str, Any]]
    liquidating: list[dict[str, Any]]
    loans: list[dict[str, Any]]
    thresholds: dict[tuple[str, int], tuple[Decimal, Decimal]]
    mismatches: int
    """Margin statuses where engine.evaluate and the hand-written pipeline disagree (must be 0)."""


def workload(n: int) -> Workload:
    engine = policy_engine.load(POLICIES)
    thresholds = margin_thresholds(engine)
    accounts = bench_margin.make_accounts(n, thresholds)
    reference = bench_margin.hand_written(thresholds)
    statuses = [reference(account)[0] for account in accounts]
    mismatches = sum(engine.evaluate(a, AS_OF).status != s for a, s in zip(accounts, statuses, strict=True))
    return Workload(
        engine=engine,
        calm=[a for a, s in zip(accounts, statuses, strict=True) if s != "liquidation"],
        liquidating=[a for a, s in zip(accounts, statuses, strict=True) if s == "liquidation"],
        loans=make_loans(n),
        thresholds=thresholds,
        mismatches=mismatches,
    )


# --------------------------------------------------------------------------- GoRules ZEN


def zen_graph(thresholds: dict[tuple[str, int], tuple[Decimal, Decimal]]) -> str:
    """The margin decision as a JDM graph: totals -> margin level (8 places) -> tier table (first hit) -> status.

    The account goes in as it is (money as strings, read with `number()`), as
    `engine.evaluate` gets it; like the hand-written pipeline it does not plan
    a liquidation.  Built the way ../shared/bench-peers/bench.py builds its graph.
    """
    rules = [
        {
            "_id": f"r{index}",
            "in_mode": json.dumps(mode),
            "in_leverage": str(leverage),
            "out_call": str(call),
            "out_liquidation": str(liquidation),
        }
        for index, ((mode, leverage), (call, liquidation)) in enumerate(sorted(thresholds.items()))
    ]
    position = {"x": 0, "y": 0}

    def expressions(node_id: str, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        return {
            "id": node_id,
            "type": "expressionNode",
            "name": node_id,
            "position": position,
            "content": {
                "passThrough": True,
                "expressions": [
                    {"id": f"{node_id}{index}", "key": key, "value": value} for index, (key, value) in enumerate(pairs)
                ],
            },
        }

    nodes = [
        {"id": "input", "type": "inputNode", "name": "account", "position": position},
        expressions(
            "totals",
            [
                ("total_asset_value", "sum(map(assets, number(#.quantity) * number(#.price)))"),
                (
                    "total_liability_value",
                    "sum(map(liabilities, (number(#.principal) + number(#.interest)) * number(#.price)))",
                ),
            ],
        ),
        expressions(
            "level",
            [
                ("margin_level", "total_asset_value / total_liability_value"),
                ("margin_level_compared", "round(total_asset_value / total_liability_value, 8)"),
            ],
        ),
        {
            "id": "tier",
            "type": "decisionTableNode",
            "name": "tier",
            "position": position,
            "content": {
                "hitPolicy": "first",
                "passThrough": True,
                "inputs": [
                    {"id": "in_mode", "name": "mode", "field": "mode"},
                    {"id": "in_leverage", "name": "leverage", "field": "leverage"},
                ],
                "outputs": [
                    {"id": "out_call", "name": "margin_call_level", "field": "margin_call_level"},
                    {"id": "out_liquidation", "name": "liquidation_level", "field": "liquidation_level"},
                ],
                "rules": rules,
            },
        },
        expressions(
            "status",
            [
                (
                    "status",
                    "margin_level_compared <= liquidation_level ? 'liquidation'"
                    " : (margin_level_compared <= margin_call_level ? 'margin_call' : 'ok')",
                )
            ],
        ),
        {"id": "output", "type": "outputNode", "name": "decision", "position": position},
    ]
    order = ["input", "totals", "level", "tier", "status", "output"]
    edges = [
        {"id": f"e{i}", "type": "edge", "sourceId": source, "targetId": target}
        for i, (source, target) in enumerate(itertools.pairwise(order))
    ]
    return json.dumps({"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges})


def zen_decide(thresholds: dict[tuple[str, int], tuple[Decimal, Decimal]]) -> Callable[[dict[str, Any]], Any] | str:
    """`engine.evaluate(key, account, {"trace": True})` through the loader, or why there is none."""
    try:
        zen: Any = importlib.import_module("zen")
    except ImportError:
        return "zen-engine is not installed (pip install -e '.[bench]')"
    content = zen_graph(thresholds)
    engine = zen.ZenEngine({"loader": lambda _key: content})
    engine.get_decision("margin")
    options = {"trace": True}

    def decide(account: dict[str, Any], _evaluate: Any = engine.evaluate) -> Any:
        return _evaluate("margin", account, options)

    return decide


# --------------------------------------------------------------------------- timing


ROUNDS = 25
"""Each timing run is cut into this many rounds, and every contender is timed a little in each round."""


def timed_together(
    contenders: Sequence[tuple[Callable[[Any], object], Sequence[Any]]], loop_seconds: float
) -> list[tuple[float, float, float]]:
    """(p50 µs, p99 µs, per second from the mean) for each contender, timed call by call.

    Contender i is timed on its first k_i items, k_i so that they take about
    `loop_seconds`; the calls are spread over ROUNDS rounds, each round timing
    a slice of every contender in turn, so that a slow spell of the VM (they
    last seconds here) falls on all contenders alike and the ratios hold.
    """
    counts = []
    for function, items in contenders:
        start = time.perf_counter()
        warm = items[: min(len(items), WARMUP_CALLS)]
        for item in warm:
            function(item)
        per_call = (time.perf_counter() - start) / max(1, len(warm))
        counts.append(max(min(len(items), 200), min(len(items), int(loop_seconds / max(per_call, 1e-9)))))
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in contenders]
    gc.collect()
    for round_index in range(ROUNDS):
        for (function, items), count, taken in zip(contenders, counts, samples, strict=True):
            for index in range(count * round_index // ROUNDS, count * (round_index + 1) // ROUNDS):
                item = items[index]
                began = clock()
                function(item)
                taken.append(clock() - began)
    results = []
    for taken in samples:
        taken.sort()
        count = len(taken)
        mean = sum(taken) / count
        results.append((taken[count // 2] / 1000, taken[min(count - 1, int(count * 0.99))] / 1000, 1e9 / mean))
    return results


def fmt_us(value: float) -> str:
    return f"{value:,.2f} µs" if value < 100 else f"{value:,.0f} µs"


def fmt_ms(value: float) -> str:
    return f"{value:,.1f} ms"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


# --------------------------------------------------------------------------- per decision


LATENCY_RATIOS = (  # (row, the row it is divided by, what that is) by index in latency_rows' table
    (1, 0, "hand-written (target <= 1.5x)"),
    (2, 0, "hand-written (target <= 3x; the collateral policy in force adds haircut bands)"),
    (3, 2, "evaluate, not liquidating"),
    (4, 2, "evaluate, margin not liquidating"),
    (5, 2, "evaluate of the same (target <= 1x)"),
    (6, 2, "evaluate of the same"),
    (7, 3, "evaluate of the same (target <= 1x)"),
    (8, 4, "evaluate of the same (target <= 1x)"),
    (9, 2, "engine.evaluate, margin not liquidating"),
    (10, 0, "hand-written (target <= 3x): the same decision"),
)


def _relate(rows: list[Row], p50s: dict[str, list[float]], ratios: Sequence[tuple[int, int, str]]) -> None:
    """Fill in each row's ratio to its base row, and the ratio in each run among its notes."""
    for index, base_index, label in ratios:
        row, base = rows[index], rows[base_index]
        if row.value is None or not base.value:
            continue
        row.ratio, row.against = f"{row.value / base.value:.2f}x", label
        if len(p50s[row.name]) > 1:
            each = [f"{mine / theirs:.2f}" for mine, theirs in zip(p50s[row.name], p50s[base.name], strict=True)]
            row.notes[-1] += f"; ratio in each run {', '.join(each)}"


def latency_rows(work: Workload, settings: Settings) -> list[Row]:
    engine = work.engine
    margin_policy: Any = engine.policy_for("spot-margin", AS_OF)
    reference = bench_margin.hand_written(work.thresholds)
    calm_decisions = [engine.evaluate(a, AS_OF) for a in work.calm]
    liquidating_decisions = [engine.evaluate(a, AS_OF) for a in work.liquidating]
    loan_decisions = [engine.evaluate(a, AS_OF) for a in work.loans]
    zen = zen_decide(work.thresholds)

    def evaluate(account: dict[str, Any]) -> object:
        return engine.evaluate(account, AS_OF)

    def core(account: dict[str, Any]) -> object:
        return margin_policy.evaluate(account, source="account", as_of=AS_OF, related={})

    margin_alone = policy_engine.load(POLICIES / "margin-trading.yaml")  # no collateral policy: no haircut bands

    def evaluate_alone(account: dict[str, Any]) -> object:
        return margin_alone.evaluate(account, AS_OF)

    def to_json(decision: policy_engine.Decision) -> object:
        return decision.to_json()

    def to_json_outcome(decision: policy_engine.Decision) -> object:
        return decision.to_json(trace=False)

    contenders: list[tuple[str, Callable[[Any], object] | str, Sequence[Any]]] = [
        ("hand-written Decimal + trace, margin not liquidating", reference, work.calm),
        ("engine core (compiled policy), margin not liquidating", core, work.calm),
        ("engine.evaluate, margin not liquidating", evaluate, work.calm),
        ("engine.evaluate, margin liquidating", evaluate, work.liquidating),
        ("engine.evaluate, crypto loans", evaluate, work.loans),
        ("decision.to_json(), margin not liquidating", to_json, calm_decisions),
        ("decision.to_json(trace=False), margin not liquidating", to_json_outcome, calm_decisions),
        ("decision.to_json(), margin liquidating", to_json, liquidating_decisions),
        ("decision.to_json(), crypto loans", to_json, loan_decisions),
        ("GoRules ZEN engine.evaluate(key), trace, margin not liquidating", zen, work.calm),
        ("engine.evaluate, margin policy alone, margin not liquidating", evaluate_alone, work.calm),
    ]
    p50s: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    p99s: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    rates: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    measured = [(name, function, items) for name, function, items in contenders if callable(function) and items]
    for _ in range(settings.runs):
        results = timed_together([(function, items) for _, function, items in measured], settings.loop_seconds)
        for (name, _, _), (p50, p99, rate) in zip(measured, results, strict=True):
            p50s[name].append(p50)
            p99s[name].append(p99)
            rates[name].append(rate)
    rows = []
    for name, function, _items in contenders:
        row = Row(name=name)
        if isinstance(function, str):
            row.notes.append(f"{name}: skipped, {function}")
            row.median = "skipped"
            row.against = function
        elif not p50s[name]:
            row.median = "no accounts"
        else:
            row.value = statistics.median(p50s[name])
            row.median = fmt_us(row.value)
            row.spread = fmt_us(statistics.median(p99s[name]))
            row.rate = fmt_rate(statistics.median(rates[name]))
            if len(p50s[name]) > 1:
                row.notes.append(f"{name}: p50 of each run " + ", ".join(f"{p:.2f}" for p in p50s[name]) + " µs")
        rows.append(row)
    hand = rows[0]
    hand.ratio, hand.against = ("1.00x", "baseline of the latency ratios") if hand.value else ("-", "")
    _relate(rows, p50s, LATENCY_RATIOS)
    zen_row = rows[9]
    if zen_row.value is not None and hand.value:
        zen_row.notes.append(f"ZEN with trace / hand-written: {zen_row.value / hand.value:.1f}x")
        zen_row.notes.append(zen_check(zen, work))
    if isinstance(zen, str):
        zen_row.notes = [f"ZEN row skipped: {zen}"]
    return rows


def zen_check(zen: Callable[[dict[str, Any]], Any] | str, work: Workload) -> str:
    """How many statuses ZEN gets wrong (the hand-written pipeline decides), a sanity check of the graph."""
    if isinstance(zen, str):
        return zen
    reference = bench_margin.hand_written(work.thresholds)
    accounts = work.calm[:2000] + work.liquidating[:1000]
    wrong = sum(zen(a)["result"]["status"] != reference(a)[0] for a in accounts)
    traced = len(zen(accounts[0]).get("trace") or {})
    return (
        f"ZEN check: {wrong} status mismatches against hand-written on {len(accounts):,} accounts;"
        f" {traced} nodes traced"
    )


# --------------------------------------------------------------------------- subprocesses


def child_env() -> dict[str, str]:
    """The environment for child processes: bytecode caching on, as on an installed machine."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def wall_ms(command: Sequence[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL)  # noqa: S603 - our commands
    return (time.perf_counter() - began) * 1000


_LOAD_CHILD = """
import sys, time
import policy_engine, policy_engine.cli, policy_engine.registry
from importlib.metadata import entry_points
[e.load() for e in entry_points(group=policy_engine.registry.GROUP)]
began = time.perf_counter()
policy_engine.load(sys.argv[1])
first = time.perf_counter() - began
began = time.perf_counter()
for _ in range(5):
    policy_engine.load(sys.argv[1])
print(first * 1000, (time.perf_counter() - began) * 1000 / 5)
"""


def load_rows(settings: Settings) -> list[Row]:
    """First load in a fresh process (imports done, products imported) and the mean of 5 more in that process."""
    command = [sys.executable, "-c", _LOAD_CHILD, str(POLICIES)]
    if settings.load_runs > 1:  # a single run is a smoke test: no warm-up
        subprocess.run(command, check=True, env=child_env(), capture_output=True)  # noqa: S603 - warm the caches
    firsts, repeats = [], []
    for _ in range(settings.load_runs):
        out = subprocess.run(command, check=True, env=child_env(), capture_output=True, text=True)  # noqa: S603
        first, repeated = (float(x) for x in out.stdout.split())
        firsts.append(first)
        repeats.append(repeated)
    first_row = Row(name="policy load, first in a fresh process (after imports)")
    repeat_row = Row(name="policy load, repeated in one process")
    for row, values in ((first_row, firsts), (repeat_row, repeats)):
        row.value = statistics.median(values)
        row.median = fmt_ms(row.value)
        row.spread = f"min {fmt_ms(min(values))}"
        row.ratio = f"{row.value / LOAD_TARGET_MS:.2f}x"
        row.against = f"target {LOAD_TARGET_MS:.0f} ms"
    first_row.notes.append(
        f"policy load: {settings.load_runs} fresh processes, each importing policy_engine, the CLI and the products"
        " before timing load(); repeated = mean of 5 more loads in each"
    )
    return [first_row, repeat_row]


# --------------------------------------------------------------------------- batch


def batch_lines(work: Workload, count: int) -> list[str]:
    """A mixed book: two margin accounts (calm or liquidating, as generated) for each loan, one JSON text per line."""
    margin = work.calm + work.liquidating
    margin.sort(key=lambda a: int(a["account_id"][1:]))
    lines = []
    for index in range(count):
        account = work.loans[index // 3 % len(work.loans)] if index % 3 == 2 else margin[index % len(margin)]
        lines.append(json.dumps(account, separators=(",", ":")))
    return lines


def _summary(text: str) -> dict[str, Any] | None:
    """The batch command's JSON summary (the last line of its standard output)."""
    try:
        found = json.loads(text.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def batch_command() -> list[str] | None:
    """`policy-engine batch` when this checkout has it (asked in-process: `batch --help` exits 0)."""
    from policy_engine.cli import main as cli_main  # noqa: PLC0415 - only this row needs the CLI

    if cli_main(["batch", "--help"], stdout=io.StringIO(), stderr=io.StringIO()) != 0:
        return None
    script = Path(sys.executable).with_name("policy-engine")
    return [str(script)] if script.exists() else [sys.executable, "-m", "policy_engine"]


_BATCH_ENGINE: Engine | None = None


def _batch_chunk(lines: list[str], trace: bool = True) -> int:
    """Parse, evaluate and write out each line, as a batch worker would; the count of decisions."""
    engine = _BATCH_ENGINE
    assert engine is not None  # noqa: S101 - set before the pool forks
    with open(os.devnull, "w", encoding="utf-8") as out:
        for line in lines:
            out.write(engine.evaluate(json.loads(line, parse_float=Decimal), AS_OF).to_json(trace=trace))
    return len(lines)


def _batch_chunk_outcome(lines: list[str]) -> int:
    return _batch_chunk(lines, trace=False)


def batch_rows(work: Workload, settings: Settings, allowed: set[int]) -> list[Row]:
    global _BATCH_ENGINE  # noqa: PLW0603 - workers forked from this process inherit the loaded engine
    lines = batch_lines(work, settings.batch_n)
    command = batch_command()
    rows = [
        Row(name="batch JSONL -> JSONL, full trace, 1 process"),
        Row(name="batch JSONL -> JSONL, outcome only, 1 process"),
        Row(name="batch JSONL -> JSONL, full trace, 2 workers"),
    ]
    rates: list[float] = []
    if command is not None:
        walls: list[float] = []
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / "accounts.jsonl"
            source.write_text("\n".join(lines) + "\n", encoding="utf-8")
            variants = [["--trace", "full"], ["--trace", "none"], ["--trace", "full", "--workers", "2"]]
            for index, extra in enumerate(variants):
                run = [*command, "batch", str(source), "--out", str(Path(folder) / "out.jsonl"), "--as-of", AS_OF_TEXT]
                context = unpinned(allowed) if index == 2 else contextlib.nullcontext()
                with context:
                    began = time.perf_counter()
                    out = subprocess.run(  # noqa: S603 - our command
                        [*run, *extra, "--summary", "json"],
                        cwd=ROOT,
                        env=child_env(),
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    walls.append(len(lines) / (time.perf_counter() - began))
                summary = _summary(out.stdout) if out.returncode == 0 else None
                if summary is None or summary.get("decided") != len(lines):
                    rows[index].notes.append(
                        f"{rows[index].name}: exit {out.returncode}, summary {out.stdout.strip()[:200]!r},"
                        f" stderr {out.stderr.strip()[-300:]!r}"
                    )
                reported = summary.get("decisions_per_s") if summary else None
                rates.append(float(reported) if isinstance(reported, int | float) else walls[-1])
        how = (
            f"`policy-engine batch` on {len(lines):,} lines (2 margin accounts for each loan); per second as the"
            " command's own summary reports it (after start-up); with start-up, wall time gives "
            + ", ".join(f"{wall:,.0f}/s" for wall in walls)
        )
    else:
        _BATCH_ENGINE = work.engine
        for function in (_batch_chunk, _batch_chunk_outcome):
            function(lines[:500])
            began = time.perf_counter()
            function(lines)
            rates.append(len(lines) / (time.perf_counter() - began))
        with unpinned(allowed), multiprocessing.get_context("fork").Pool(2) as pool:
            pool.map(_batch_chunk, [lines[:200], lines[200:400]])
            halves = [lines[: len(lines) // 2], lines[len(lines) // 2 :]]
            began = time.perf_counter()
            pool.map(_batch_chunk, halves)
            rates.append(len(lines) / (time.perf_counter() - began))
        how = (
            f"no `policy-engine batch` in this checkout: an in-process loop of json.loads + engine.evaluate + to_json"
            f" per line, on {len(lines):,} lines (2 margin accounts for each loan); 2 workers = 2 forked processes"
            " with half the lines each"
        )
    targets = (100_000.0, 50_000.0)
    for row, rate in zip(rows, rates, strict=True):
        row.value = rate
        row.rate = fmt_rate(rate)
    rows[0].ratio, rows[0].against = f"{rates[0] / targets[1]:.2f}x", "target 50,000/s"
    rows[1].ratio, rows[1].against = f"{rates[1] / targets[0]:.2f}x", "target 100,000/s"
    rows[2].ratio, rows[2].against = f"{rates[2] / rates[0]:.2f}x", "1 process, full trace (ideal 2x)"
    rows[0].notes.append(f"batch: {how}")
    return rows


# --------------------------------------------------------------------------- cold start


def _importtime(command: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(self µs, cumulative µs) per module imported by `command` under -X importtime."""
    out = subprocess.run(  # noqa: S603 - our commands
        [sys.executable, "-X", "importtime", *command],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, tuple[int, int]] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        modules[name.strip()] = (int(own), int(cumulative))
    return modules


def cold_rows(settings: Settings) -> list[Row]:
    script = Path(sys.executable).with_name("policy-engine")
    evaluate = [str(script)] if script.exists() else [sys.executable, "-m", "policy_engine"]
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        f'import floor: python -c "{FLOOR_IMPORTS}"': [sys.executable, "-c", FLOOR_IMPORTS],
        f"CLI cold start: policy-engine evaluate {EXAMPLE}": [*evaluate, "evaluate", EXAMPLE],
    }
    walls: dict[str, list[float]] = {name: [] for name in commands}
    if settings.cold_runs > 1:  # a single run is a smoke test: no warm-up
        for command in commands.values():
            wall_ms(command)  # write the bytecode caches, warm the page cache
    for _ in range(settings.cold_runs):  # interleaved, so that load on the VM hits all three alike
        for name, command in commands.items():
            walls[name].append(wall_ms(command))
    rows = []
    for name, values in walls.items():
        median = statistics.median(values)
        row = Row(name=name, value=median, median=fmt_ms(median), spread=f"min {fmt_ms(min(values))}")
        rows.append(row)
    empty, floor, cli = rows
    floor.ratio, floor.against = "1.00x", "baseline of the cold-start ratio"
    if floor.value and cli.value and empty.value is not None:
        cli.ratio, cli.against = f"{cli.value / floor.value:.2f}x", "import floor (target <= 1.5x)"
        empty.ratio, empty.against = f"{empty.value / floor.value:.2f}x", "import floor"
        cli.notes.append(
            f"cold start: median of {settings.cold_runs} runs each, interleaved; above `python -c pass`:"
            f" floor +{floor.value - empty.value:.0f} ms, evaluate +{cli.value - empty.value:.0f} ms"
        )
    floor_modules = _importtime(["-c", FLOOR_IMPORTS])
    cli_modules = _importtime([*(evaluate[-1:] if script.exists() else ["-m", "policy_engine"]), "evaluate", EXAMPLE])
    extra = {name: times for name, times in cli_modules.items() if name not in floor_modules}
    total_extra = sum(own for own, _ in extra.values()) / 1000
    top = sorted(extra.items(), key=lambda item: item[1][0], reverse=True)[:10]
    cli.notes.append(
        f"-X importtime, modules `policy-engine evaluate` imports beyond the floor: {len(extra)}, {total_extra:.1f} ms"
        " of own import time; the largest: " + ", ".join(f"{name} {own / 1000:.1f}" for name, (own, _) in top)
    )
    floor_top = sorted(
        ((name, floor_modules[name][1]) for name in FLOOR_MODULES if name in floor_modules),
        key=lambda item: item[1],
        reverse=True,
    )
    cli.notes.append(
        "-X importtime, the floor's own modules (cumulative ms): "
        + ", ".join(f"{name} {cumulative / 1000:.1f}" for name, cumulative in floor_top)
        + f"; not imported by the CLI: {', '.join(sorted(n for n, _ in floor_top if n not in cli_modules)) or 'none'}"
    )
    return rows


# --------------------------------------------------------------------------- output


SECTIONS = ("latency", "load", "batch", "cold")


def table(rows: Sequence[Row]) -> str:
    header = ("measurement", "p50 / median", "p99 / min", "per second", "ratio", "ratio to")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [f"| {r.name} | {r.median} | {r.spread} | {r.rate} | {r.ratio} | {r.against} |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small samples, one run: a smoke test (well under 1 min)")
    parser.add_argument("--n", type=int, help="accounts generated per product (default 20,000; 2,000 with --quick)")
    parser.add_argument("--runs", type=int, help="timing runs per latency row (default 3; 1 with --quick)")
    parser.add_argument("--cold-runs", type=int, help="runs of each cold-start command (default 15; 3 with --quick)")
    parser.add_argument("--load-runs", type=int, help="fresh processes for the first load (default 7; 3 with --quick)")
    parser.add_argument("--batch-n", type=int, help="lines in the batch file (default 20,000; 2,000 with --quick)")
    parser.add_argument("--loop-seconds", type=float, help="time one latency loop may take (default 1.5; 0.3)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    settings = Settings(
        n=args.n or base.n,
        runs=args.runs or base.runs,
        loop_seconds=args.loop_seconds or base.loop_seconds,
        cold_runs=args.cold_runs or base.cold_runs,
        load_runs=args.load_runs or base.load_runs,
        batch_n=args.batch_n or base.batch_n,
    )
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    began = time.perf_counter()
    info = machine()
    load_before = load_average()
    pin, allowed = pin_one_cpu()
    print(f"# policy-engine benchmarks, {info['date']}{' (--quick)' if args.quick else ''}")
    print(f"# machine: {info['cpu']}")
    print(f"# python: {info['python']}")
    print(f"# libraries: {info['libraries']}")
    print(f"# {pin}; load average before: {load_before}")
    print(f"# settings: {settings}")
    sys.stdout.flush()

    rows: list[Row] = []
    work = workload(settings.n) if sections & {"latency", "batch"} else None
    if work is not None:
        print(
            f"# workload: {len(work.calm):,} margin accounts not liquidating, {len(work.liquidating):,} liquidating,"
            f" {len(work.loans):,} crypto loans; engine/hand-written status mismatches: {work.mismatches}",
            flush=True,
        )
    if work is not None and "latency" in sections:
        rows += latency_rows(work, settings)
    if "load" in sections:
        rows += load_rows(settings)
    if work is not None and "batch" in sections:
        rows += batch_rows(work, settings, allowed)
    if "cold" in sections:
        rows += cold_rows(settings)

    print()
    print(table(rows))
    print()
    for row in rows:
        for note in row.notes:
            print(f"- {note}")
    print(f"- load average after: {load_average()}; the suite took {time.perf_counter() - began:.0f} s")
    if shutil.which("valgrind") is None:
        print("- valgrind is not on PATH: benchmarks/instructions.py (callgrind instruction counts) needs it")


if __name__ == "__main__":
    main()
