"""The batch command: one output row per input line, in order, atomically written, on small data."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import batch
from policy_engine.accounts import parse_json_account
from policy_engine.batch import BatchOptions, ChunkResult, Summary, decide_lines
from policy_engine.cli import main
from policy_engine.population import population_lines

from .conftest import AS_OF, POLICIES

BAD_LINES = {
    # line number in the input -> (text, the error row's account, its problems as (json_path, message, col))
    3: ("", {"id": None, "kind": None}, [("$", "blank line; expected an account (a JSON object)", 0)]),
    5: ('{"kind": "spot-margin", "account_id": "x",', {"id": None, "kind": None}, []),  # problems checked apart
    8: (
        '{"kind": "spot-margn", "account_id": "typo"}',
        {"id": "typo", "kind": "spot-margn"},
        [
            (
                "$.kind",
                "expected an account kind (crypto-loan, futures-position, margin-transfer,"
                " spot-margin), got string 'spot-margn'",
                0,
            )
        ],
    ),
    13: (
        '{"kind": "spot-margin", "account_id": "no-lev", "mode": "cross_classic", "leverage": 7,'
        ' "assets": [], "liabilities": []}',
        {"id": "no-lev", "kind": "spot-margin"},
        [("$.leverage", "leverage 7 is not offered in mode `cross_classic`; expected one of 3, 5", 0)],
    ),
    14: ("[1, 2]", {"id": None, "kind": None}, [("$", "expected an object (an account), got an array", 0)]),
}


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def good_lines() -> list[str]:
    """A small mixed population, made for the instant the tests decide at."""
    engine = policy_engine.load(POLICIES)
    return list(population_lines(engine, 40, seed=11, as_of=AS_OF))


@pytest.fixture
def mixed_input(tmp_path: Path, good_lines: list[str]) -> Path:
    """Good accounts with bad lines at the line numbers of `BAD_LINES`, and one line that is not UTF-8."""
    lines = [line.encode() for line in good_lines]
    for number in sorted(BAD_LINES):
        lines.insert(number - 1, BAD_LINES[number][0].encode() + b"\n")
    lines.insert(19, b'{"kind": "\xff"}\n')  # line 20
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"".join(lines))
    return path


def library_rows(path: Path, *, trace: bool) -> dict[int, str]:
    """What the library says for each line that decides: line number -> `decision.to_json(trace=...)`."""
    engine = policy_engine.load(POLICIES)
    rows = {}
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        try:
            decision = engine.evaluate(parse_json_account(raw.decode(), source="x"), AS_OF)
        except (policy_engine.PolicyEngineError, UnicodeDecodeError):
            continue
        rows[number] = decision.to_json(trace=trace)
    return rows


@pytest.mark.parametrize("trace", ["full", "none"])
def test_every_line_gives_one_row_in_order(tmp_path: Path, mixed_input: Path, trace: str) -> None:
    """Decided lines are the library's canonical JSON (outcome only for --trace none); the others are
    error rows naming their line; the summary goes to stderr."""
    out = tmp_path / "decisions.jsonl"
    code, stdout, stderr = run(
        "batch", str(mixed_input), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES), "--trace", trace
    )
    assert (code, stdout) == (0, "")
    rows = out.read_text().splitlines(keepends=True)
    assert len(rows) == len(mixed_input.read_bytes().splitlines()) == 46
    expected = library_rows(mixed_input, trace=trace == "full")
    assert sorted(expected) == sorted(set(range(1, 47)) - {*BAD_LINES, 20})
    for number, row in enumerate(rows, 1):
        if number in expected:
            assert row == expected[number]
            continue
        error = json.loads(row)
        assert error["error"]["line"] == number
        if number in BAD_LINES and number != 5:
            _text, account, problems = BAD_LINES[number]
            assert error["account"] == account
            assert [(p["json_path"], p["message"], p["col"]) for p in error["error"]["problems"]] == problems
            assert {(p["file"], p["line"]) for p in error["error"]["problems"]} == {(str(mixed_input), number)}
    assert json.loads(rows[4]) == {
        "account": {"id": None, "kind": None},
        "error": {
            "line": 5,
            "problems": [
                {
                    "col": 43,
                    "file": str(mixed_input),
                    "json_path": "$",
                    "line": 5,
                    "message": "invalid JSON: Expecting property name enclosed in double quotes",
                    "suggestion": None,
                }
            ],
        },
    }
    assert json.loads(rows[19])["error"]["problems"][0]["message"] == "the line is not UTF-8 text"
    assert "errors 6 (lines 3, 5, 8, 13, 14, 20)" in stderr.splitlines()


@pytest.mark.parametrize("transport", ["shared memory", "pipe"])
def test_two_workers_keep_the_order_and_give_the_same_bytes(
    tmp_path: Path, mixed_input: Path, good_lines: list[str], monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    """Chunks of 4 over 2 processes come back in input order: the file is byte-identical to one
    worker's, and the decision log has one line per decision, in input order, for both.  Outputs
    too large for a shared slot come back through the pipe."""
    if transport == "pipe":
        monkeypatch.setattr(batch, "SLOT_BYTES", 64)  # forked workers inherit it
    common = ["--as-of", AS_OF, "--policies", str(POLICIES), "--chunk-size", "4"]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    log_one, log_two = tmp_path / "one.log", tmp_path / "two.log"
    assert run("batch", str(mixed_input), "--out", str(one), "--log-file", str(log_one), *common)[0] == 0
    code, _, stderr = run(
        "batch", str(mixed_input), "--out", str(two), "--log-file", str(log_two), "--workers", "2", *common
    )
    assert code == 0, stderr
    assert two.read_bytes() == one.read_bytes()
    decided = [json.loads(row)["account"]["id"] for row in two.read_text().splitlines() if '"error":' not in row]
    assert decided == [json.loads(line)["account_id"] for line in good_lines]
    for log in (log_one, log_two):
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        assert [entry["account_id"] for entry in entries] == decided
        assert {entry["event"] for entry in entries} == {"decision"}
        assert {entry["as_of"] for entry in entries} == {AS_OF}


def test_invalid_policies_exit_1_and_write_nothing(tmp_path: Path) -> None:
    """The policies load before anything runs: exit 1 with the problems, no output file."""
    out = tmp_path / "out.jsonl"
    code, _, stderr = run("batch", "-", "--out", str(out), "--workers", "2", "--policies", str(tmp_path / "none"))
    assert (code, stderr) == (1, f"{tmp_path / 'none'}: $: no such file or folder\n1 problem found\n")
    assert _only(tmp_path) == []


def test_stdin_summary_json_and_byte_order_mark(tmp_path: Path, good_lines: list[str]) -> None:
    """`-` reads stdin (a leading BOM is dropped); --summary json writes the counts to stdout."""
    out = tmp_path / "out.jsonl"
    code, stdout, stderr = run(
        "batch", "-", "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES), "--trace", "none",
        "--summary", "json",
        stdin="\ufeff" + "".join(good_lines[:6]),
    )  # fmt: skip
    assert (code, stderr) == (0, "")
    summary = json.loads(stdout)
    assert summary.pop("elapsed_ms") >= 0
    assert summary.pop("decisions_per_s") >= 0
    statuses = [json.loads(row)["outcome"]["status"] for row in out.read_text().splitlines()]
    kinds = [json.loads(line)["kind"] for line in good_lines[:6]]
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status in zip(kinds, statuses, strict=True):
        by_kind.setdefault(kind, {}).setdefault(status, 0)
        by_kind[kind][status] += 1
    assert summary == {
        "as_of": AS_OF,
        "by_kind": by_kind,
        "by_status": {status: statuses.count(status) for status in sorted(set(statuses))},
        "decided": 6,
        "errors": 0,
        "first_error_lines": [],
        "input": "<stdin>",
        "output": str(out),
        "rows": 6,
        "trace": "none",
        "workers": 1,
    }


def test_summary_text() -> None:
    """Counts by status, by kind and status, the first error lines, the speed and the settings."""
    summary = Summary(
        input="in.jsonl",
        output="out.jsonl",
        as_of=datetime(2026, 3, 1, tzinfo=UTC),
        trace=False,
        workers=2,
        elapsed_ns=500_000_000,
    )
    summary.add(
        ChunkResult(
            first_line=1,
            rows=1204,
            output=b"",
            counts={("spot-margin", "ok"): 700, ("spot-margin", "liquidation"): 100, ("crypto-loan", "ok"): 392},
            error_lines=[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37],
        )
    )
    assert summary.text() == (
        "batch: 1,204 rows from in.jsonl to out.jsonl, as of 2026-03-01T00:00:00Z\n"
        "decided 1,192, liquidation 100, ok 1,092\n"
        "  crypto-loan: 392 (ok 392)\n"
        "  spot-margin: 800 (liquidation 100, ok 700)\n"
        "errors 12 (lines 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, ...)\n"
        "0.50 s, 2,384 decisions/s, 2 workers, trace none\n"
    )


def test_cli_summary_on_stderr(tmp_path: Path, good_lines: list[str]) -> None:
    out = tmp_path / "out.jsonl"
    code, stdout, stderr = run(
        "batch", "-", "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES), stdin="".join(good_lines[:2])
    )
    assert (code, stdout) == (0, "")
    first, decided, *kinds, errors, speed = stderr.splitlines()
    assert first == f"batch: 2 rows from <stdin> to {out}, as of {AS_OF}"
    assert decided.startswith("decided 2, ")
    assert [line.split(":")[0] for line in kinds] == ["  crypto-loan", "  spot-margin"]
    assert errors == "errors 0"
    assert re.fullmatch(r"\d+\.\d\d s, [\d,]+ decisions/s, 1 worker, trace full", speed)


def test_fail_on_error_exits_2_and_still_writes(tmp_path: Path, mixed_input: Path) -> None:
    out = tmp_path / "out.jsonl"
    argv = ["batch", str(mixed_input), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES)]
    code, _, _ = run(*argv, "--fail-on-error")
    assert code == 2
    assert len(out.read_text().splitlines()) == 46


def _only(path: Path) -> list[str]:
    return sorted(item.name for item in path.iterdir())


@pytest.mark.parametrize(
    ("failure", "code"), [(RuntimeError("boom"), 3), (KeyboardInterrupt(), 130), (batch.Terminated(), 143)]
)
def test_an_interrupted_run_leaves_no_output(
    tmp_path: Path, mixed_input: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, code: int
) -> None:
    """A failure after some chunks were written removes the temporary file; an older output stays as it was."""
    out = tmp_path / "out.jsonl"
    out.write_text("an older run\n")
    decide = batch.ChunkDecider.__call__
    calls = []

    def failing(self: batch.ChunkDecider, chunk: batch.Chunk) -> ChunkResult:
        calls.append(chunk.first_line)
        if len(calls) == 3:
            raise failure
        return decide(self, chunk)

    monkeypatch.setattr(batch.ChunkDecider, "__call__", failing)
    argv = ["batch", str(mixed_input), "--out", str(out), "--as-of", AS_OF, "--policies", str(POLICIES)]
    exit_code, stdout, stderr = run(*argv, "--chunk-size", "5")
    assert (exit_code, stdout) == (code, "")
    assert calls == [1, 6, 11]
    assert _only(tmp_path) == ["accounts.jsonl", "out.jsonl"]
    assert out.read_text() == "an older run\n"
    assert stderr.startswith("policy-engine: ")


def test_unreadable_input_and_unwritable_output(tmp_path: Path) -> None:
    code, _, stderr = run("batch", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "out.jsonl"))
    assert code == 2
    assert f"{tmp_path / 'missing.jsonl'}: $: cannot read the accounts: No such file or directory" in stderr
    code, _, stderr = run("batch", "-", "--out", str(tmp_path / "no" / "out.jsonl"), "--policies", str(POLICIES))
    assert (code, stderr) == (2, f"policy-engine: --out {tmp_path / 'no' / 'out.jsonl'}: No such file or directory\n")
    assert run("batch", "-", "--out", "x", "--workers", "-1")[0] == 2


def test_progress_bar_only_on_a_terminal(tmp_path: Path, good_lines: list[str]) -> None:
    """tqdm draws on a terminal's stderr; when stderr is piped only the summary is written."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    argv = ["batch", "-", "--out", str(tmp_path / "out.jsonl"), "--as-of", AS_OF, "--policies", str(POLICIES)]
    assert main(argv, stdin=io.StringIO("".join(good_lines[:3])), stdout=io.StringIO(), stderr=terminal) == 0
    assert "3 rows" in terminal.getvalue()
    assert "\r" in terminal.getvalue()
    _, _, piped = run(*argv, stdin="".join(good_lines[:3]))
    assert "\r" not in piped


def test_decide_lines_for_library_callers(good_lines: list[str]) -> None:
    """`decide_lines` gives the same rows as the command, for an engine the caller holds."""
    engine = policy_engine.load(POLICIES)
    options = BatchOptions(as_of=datetime(2026, 3, 1, tzinfo=UTC), trace=False, source="mine")
    rows: list[Any] = list(decide_lines([*good_lines[:3], "oops\n"], options=options, engine=engine, chunk_size=2))
    assert rows[:3] == [
        engine.evaluate(parse_json_account(line, source="x"), AS_OF).to_json(trace=False) for line in good_lines[:3]
    ]
    assert json.loads(rows[3])["error"]["problems"][0]["file"] == "mine"


def test_a_worker_start_problem_reaches_the_parent() -> None:
    """A worker that loads other policies than the parent did decides nothing: the parent raises a PolicyError."""
    options = BatchOptions(as_of=datetime(2026, 3, 1, tzinfo=UTC))
    spec = batch.EngineSpec(policies=(str(POLICIES),))
    results = batch._in_pool([batch.Chunk(1, [b"{}"])], workers=1, spec=spec, options=options, log=False, expected=())
    with pytest.raises(policy_engine.PolicyError, match="the policy files changed while the batch was starting"):
        list(results)


@pytest.mark.skipif(sys.platform != "linux", reason="fork is chosen on Linux only")
def test_workers_are_forked_only_when_no_other_thread_runs() -> None:
    """fork while this process runs one thread; forkserver once another thread runs (its locks would be copied)."""
    # a thread left running by an earlier test in this process (a timer, a pool's helper) also means forkserver
    alone = threading.active_count() == 1
    assert batch._pool_context().get_start_method() == ("fork" if alone else "forkserver")
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert batch._pool_context().get_start_method() == "forkserver"
    finally:
        release.set()
        thread.join()


def test_sigterm_raises_while_running_only() -> None:
    """SIGTERM becomes `Terminated` inside the block (so the run aborts cleanly); the old handler is back after."""
    before = signal.getsignal(signal.SIGTERM)

    def terminated_while_running() -> None:
        with batch.sigterm_raises():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode boundary, well before this ends

    with pytest.raises(batch.Terminated):
        terminated_while_running()
    assert signal.getsignal(signal.SIGTERM) == before
