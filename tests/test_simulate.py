"""Simulation along a price path: state fed forward, retries between price points, liquidation ends it."""

from __future__ import annotations

import decimal
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from policy_engine import AccountError, Engine, Problem
from policy_engine import simulate as simulation
from policy_engine.cli import main
from policy_engine.decision import canonical_json
from policy_engine.simulate import PricePath, PricePoint, read_price_path, simulate, walk, write_timeline

from .conftest import EXAMPLES, POLICIES, example, margin_account

GOLDEN = Path(__file__).parent / "golden"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def write_loan(tmp_path: Path, balance: str) -> Path:
    account = json.loads((EXAMPLES / "loan-topup.json").read_text())
    account["spot_balances"] = {"BTC": balance}
    path = tmp_path / "loan.json"
    path.write_text(json.dumps(account))
    return path


def simulate_empty_wallet(tmp_path: Path, prices: Path) -> tuple[int, Any]:
    """The JSON timeline of the example loan with nothing in its spot wallet."""
    code, out, _ = run(
        "simulate",
        str(write_loan(tmp_path, "0")),
        "--prices",
        str(prices),
        "--policies",
        str(POLICIES),
        "--format",
        "json",
    )
    return code, json.loads(out)


def test_loan_timeline_with_top_ups() -> None:
    """Each price point is evaluated; top-ups move collateral and the next point sees it."""
    code, out, err = run(
        "simulate",
        str(EXAMPLES / "loan-topup.json"),
        "--prices",
        str(EXAMPLES / "loan-prices.csv"),
        "--policies",
        str(POLICIES),
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "Simulation of loan-1 (crypto-loan): 5 evaluations, ended by end of path",
        "2020-07-25T12:00:00Z  price  LTV 65.03%        ok",
        "2020-07-25T17:18:38Z  price  LTV 80.00%        margin_call (was ok)  top up 0.00306710 BTC -> LTV 65.00%",
        "2020-07-26T00:00:00Z  price  LTV 67.93%        ok (was margin_call)",
        "2020-07-27T00:00:00Z  price  LTV 87.33%        margin_call (was ok)  top up 0.00562015 BTC -> LTV 65.00%",
        "2020-07-30T00:00:00Z  price  LTV 75.83%        ok (was margin_call)",
    ]


def test_retries_happen_between_price_points_until_disabled(tmp_path: Path) -> None:
    """With nothing in the spot wallet, retries are made every 12 hours, then auto top-up is disabled."""
    prices = tmp_path / "prices.jsonl"
    prices.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"timestamp": "2020-07-25T00:00:00Z", "asset": "BTC", "price": "9000"},
                {"timestamp": "2020-07-28T00:00:00Z", "asset": "BTC", "price": "9000"},
                {"timestamp": "2020-07-29T00:00:00Z", "asset": "BTC", "price": "12000"},
            ]
        )
        + "\n"
    )
    code, timeline = simulate_empty_wallet(tmp_path, prices)
    rows = [(e["at"], e["trigger"], e["top_up"], e["next_state"]["failed_attempts"]) for e in timeline["entries"]]
    assert code == 0
    assert rows == [
        ("2020-07-25T00:00:00Z", "price", "retry_scheduled", 1),
        ("2020-07-25T12:00:00Z", "retry", "retry_scheduled", 2),
        ("2020-07-26T00:00:00Z", "retry", "retry_scheduled", 3),
        ("2020-07-26T12:00:00Z", "retry", "retry_scheduled", 4),
        ("2020-07-27T00:00:00Z", "retry", "retry_scheduled", 5),
        ("2020-07-27T12:00:00Z", "retry", "disabled", 6),
        ("2020-07-28T00:00:00Z", "price", "disabled", 6),
        ("2020-07-29T00:00:00Z", "price", "none", 6),
    ]
    assert timeline["ended"] == "end_of_path"


def test_loan_liquidation_ends_the_walk(tmp_path: Path) -> None:
    """An LTV past liquidation that no top-up can repair ends the simulation."""
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "timestamp,asset,price\n2020-07-25T00:00:00Z,BTC,9000\n2020-07-26T00:00:00Z,BTC,5000\n"
        "2020-07-27T00:00:00Z,BTC,9000\n"
    )
    code, timeline = simulate_empty_wallet(tmp_path, prices)
    assert (code, timeline["ended"]) == (0, "liquidation")
    assert [(e["trigger"], e["status"]) for e in timeline["entries"]] == [
        ("price", "margin_call"),
        ("retry", "margin_call"),
        ("price", "liquidation"),
    ]


def test_margin_account_simulation(tmp_path: Path) -> None:
    """The same walk works for margin accounts: a margin call, then liquidation at 1.1."""
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "timestamp,asset,price\n2026-02-01,BTC,50000\n2026-02-02,BTC,46000\n2026-02-03,BTC,44000\n"
        "2026-02-04,BTC,50000\n"
    )
    code, out, _ = run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    assert code == 0
    assert out.splitlines() == [
        "Simulation of user-a (spot-margin): 3 evaluations, ended by liquidation",
        "2026-02-01T00:00:00Z  price  ML 1.25000000     ok",
        "2026-02-02T00:00:00Z  price  ML 1.15000000     margin_call (was ok)  notification: margin_call",
        "2026-02-03T00:00:00Z  price  ML 1.10000000     liquidation (was margin_call)  notification: liquidation_call;"
        " liquidation (regular): fee 8000.00, returned 0.72727273 BTC",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "timestamp,asset,price\n2026-02-01,BTC,abc\nyesterday,BTC,1\n",
            [
                "prices.csv:2:16: $.price: expected a decimal price > 0, got 'abc'",
                "prices.csv:3:1: $.timestamp: expected an ISO 8601 date or date-time with an offset, got 'yesterday'",
            ],
        ),
        (
            "time,asset,price\n",
            ["prices.csv:1:1: $: expected a CSV header with the columns timestamp, asset, price; missing timestamp"],
        ),
        ("timestamp,asset,price\n", ["prices.csv: $: the price path is empty"]),
    ],
    ids=["bad-rows", "bad-header", "empty"],
)
def test_bad_price_paths_exit_2(tmp_path: Path, content: str, expected: list[str]) -> None:
    """Every bad row of a price path is reported with its line; the exit code is 2."""
    prices = tmp_path / "prices.csv"
    prices.write_text(content)
    code, out, err = run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    shown = [line.replace(str(tmp_path) + "/", "") for line in err.splitlines()[:-1]]
    assert (code, out, shown) == (2, "", expected)


def test_events_from_the_command_line() -> None:
    """`--event reset` re-enables a disabled auto top-up for this evaluation."""
    account = json.loads((EXAMPLES / "loan-topup.json").read_text())
    account["auto_top_up"]["state"] = {
        "failed_attempts": 6,
        "last_attempt_at": "2020-07-25T00:00:00Z",
        "succeeded_before": False,
        "disabled": True,
    }
    stdin = io.StringIO(json.dumps(account))
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["evaluate", "-", "--policies", str(POLICIES), "--as-of", "2020-07-26", "--event", "reset"],
        stdin=stdin,
        stdout=out,
        stderr=err,
    )
    assert (code, err.getvalue()) == (0, "")
    assert json.loads(out.getvalue())["outcome"]["top_up"]["action"] == "top_up"
    code, _, err_text = run(
        "evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(POLICIES), "--event", "reset"
    )
    assert (code, err_text.splitlines()[0]) == (
        2,
        "operations: $[0]: unknown operation `reset` for spot-margin accounts; spot-margin accounts take none",
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "timestamp,asset,price\n2026-02-01T00:00:00Z,BTC,50000\n2026-02-01T02:00:00+02:00,BTC,51000\n",
            "prices.csv:3:31: $.price: BTC at 2026-02-01T00:00:00Z is priced 50000 on line 2 and 51000 here;"
            " one instant has one price",
        ),
        (
            "timestamp,asset,price\n2026-02-01,ETH,3000\n",
            "<account>: $: the price path prices ETH but none of the account's assets (BTC, USDC)",
        ),
    ],
    ids=["conflicting-duplicate", "prices-nothing-held"],
)
def test_price_paths_that_would_mislead(tmp_path: Path, content: str, expected: str) -> None:
    """Two prices for one instant, or a path that never prices the account, are refused."""
    prices = tmp_path / "prices.csv"
    prices.write_text(content)
    code, _, err = run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    first = (
        err.splitlines()[0]
        .replace(str(tmp_path) + "/", "")
        .replace(str(EXAMPLES / "margin-a-regular.json"), "<account>")
    )
    assert (code, first) == (2, expected)


def test_byte_order_mark_and_a_non_object_account(tmp_path: Path) -> None:
    """A UTF-8 BOM is dropped; an account that is not an object is an input error, not a crash."""
    prices = tmp_path / "prices.csv"
    prices.write_text("\ufefftimestamp,asset,price\n2026-02-01,BTC,50000\n", encoding="utf-8")
    assert (
        run("simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES))[
            0
        ]
        == 0
    )
    account = tmp_path / "list.json"
    account.write_text("[1, 2]")
    code, _, err = run("simulate", str(account), "--prices", str(prices), "--policies", str(POLICIES))
    assert (code, err.splitlines()[0]) == (2, f"{account}: $: expected an object (an account), got an array")


# --- streaming ------------------------------------------------------------------------------------

SMALL_PATH = "timestamp,asset,price\n2026-02-01,BTC,50000\n2026-02-02,BTC,46000\n"
SMALL_ENTRIES = [
    {
        "at": "2026-02-01T00:00:00Z",
        "figure": "ML 1.25000000",
        "margin_level": "1.25000000",
        "notes": [],
        "policy_version": 1,
        "status": "ok",
        "status_changed_from": None,
        "trigger": "price",
    },
    {
        "at": "2026-02-02T00:00:00Z",
        "figure": "ML 1.15000000",
        "margin_level": "1.15000000",
        "notes": ["notification: margin_call"],
        "policy_version": 1,
        "status": "margin_call",
        "status_changed_from": "ok",
        "trigger": "price",
    },
]
SMALL_FINAL_ACCOUNT = {
    "account_id": "user-a",
    "assets": [{"asset": "BTC", "price": "46000", "quantity": "10"}],
    "kind": "spot-margin",
    "leverage": 5,
    "liabilities": [{"asset": "USDC", "interest": "0", "price": "1", "principal": "400000"}],
    "mode": "cross_classic",
}


def simulate_small(tmp_path: Path, form: str) -> tuple[int, str, str]:
    prices = tmp_path / "prices.csv"
    prices.write_text(SMALL_PATH)
    return run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES),
        "--format", form,
    )  # fmt: skip


def test_json_lines_form_is_entries_then_one_summary_line(tmp_path: Path) -> None:
    """`--format jsonl`: one canonical JSON line per evaluation as it is made, then the summary (the only `ended`)."""
    code, out, err = simulate_small(tmp_path, "jsonl")
    assert (code, err) == (0, "")
    assert out == (
        '{"at":"2026-02-01T00:00:00Z","figure":"ML 1.25000000","margin_level":"1.25000000","notes":[],'
        '"policy_version":1,"status":"ok","status_changed_from":null,"trigger":"price"}\n'
        '{"at":"2026-02-02T00:00:00Z","figure":"ML 1.15000000","margin_level":"1.15000000",'
        '"notes":["notification: margin_call"],"policy_version":1,"status":"margin_call","status_changed_from":"ok",'
        '"trigger":"price"}\n'
        '{"account":{"id":"user-a","kind":"spot-margin"},"ended":"end_of_path","evaluations":2,"final_account":'
        '{"account_id":"user-a","assets":[{"asset":"BTC","price":"46000","quantity":"10"}],"kind":"spot-margin",'
        '"leverage":5,"liabilities":[{"asset":"USDC","interest":"0","price":"1","principal":"400000"}],'
        '"mode":"cross_classic"},"retries_cut_short_after":[]}\n'
    )


def test_json_form_is_one_indented_document(tmp_path: Path) -> None:
    """`--format json`: the whole timeline as one canonical document with sorted keys, indented by 2."""
    code, out, err = simulate_small(tmp_path, "json")
    assert (code, err) == (0, "")
    expected = {
        "account": {"id": "user-a", "kind": "spot-margin"},
        "ended": "end_of_path",
        "entries": SMALL_ENTRIES,
        "final_account": SMALL_FINAL_ACCOUNT,
        "retries_cut_short_after": [],
    }
    assert out == json.dumps(expected, sort_keys=True, indent=2, separators=(",", ": ")) + "\n"


def test_json_timeline_of_the_bundled_example_is_unchanged() -> None:
    """The streamed JSON timeline has the bytes the in-memory one had (written to the golden file before streaming)."""
    code, out, err = run(
        "simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(EXAMPLES / "loan-prices.csv"),
        "--policies", str(POLICIES), "--format", "json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == (GOLDEN / "loan-simulation.json").read_text()


def test_every_form_and_the_library_give_the_same_entries(tmp_path: Path, engine: Engine) -> None:
    """JSON Lines, JSON, the text lines and `simulate()` are one timeline, retries between points included."""
    prices = tmp_path / "prices.csv"
    prices.write_text("timestamp,asset,price\n2020-07-25,BTC,9000\n2020-07-28,BTC,9000\n2020-07-29,BTC,12000\n")
    loan = write_loan(tmp_path, "0")
    outputs = {
        form: run("simulate", str(loan), "--prices", str(prices), "--policies", str(POLICIES), "--format", form)[1]
        for form in ("json", "jsonl", "text")
    }
    document = json.loads(outputs["json"])
    *entries, summary = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert entries == document["entries"]
    assert summary == {**{k: v for k, v in document.items() if k != "entries"}, "evaluations": len(entries)}
    path = read_price_path(prices.read_text(), source="prices.csv")
    collected = simulate(engine, json.loads(loan.read_text()), path, source="loan.json")
    assert json.loads(canonical_json(collected)) == document
    assert outputs["text"] == simulation.timeline_text(collected)
    assert len(outputs["text"].splitlines()) == len(entries) + 1


def _points(*rows: tuple[str, str]) -> list[PricePoint]:
    """BTC price points from (instant, price) pairs."""
    return [PricePoint(datetime.fromisoformat(at).replace(tzinfo=UTC), {"BTC": Decimal(price)}) for at, price in rows]


def test_the_walk_reads_the_path_as_it_goes(engine: Engine) -> None:
    """The first entry comes before the second point is read; later, at most the next point is read ahead."""
    points = _points(("2026-02-01", "50000"), ("2026-02-02", "46000"), ("2026-02-03", "48000"))
    pulled: list[datetime] = []
    received: list[dict[str, Any]] = []

    def lazily() -> Iterator[PricePoint]:
        for point in points:
            if len(pulled) > len(received):
                raise AssertionError(f"read {point.at} before the entry of {pulled[-1]} was taken")
            pulled.append(point.at)
            yield point

    for entry in walk(engine, example("margin-a-regular.json"), lazily(), source="a.json"):
        assert pulled[-1] == entry["at"]
        received.append(entry)
    assert [entry["status"] for entry in received] == ["ok", "margin_call", "ok"]


def test_a_retry_reads_one_point_ahead(tmp_path: Path, engine: Engine) -> None:
    """A retry that falls due needs the next point's instant (is it before it?), and nothing further."""
    loan = json.loads(write_loan(tmp_path, "0").read_text(), parse_float=Decimal)
    points = _points(("2020-07-25", "9000"), ("2020-07-26", "9000"), ("2020-07-28", "12000"))
    pulled: list[datetime] = []

    def counted() -> Iterator[PricePoint]:
        for point in points:
            pulled.append(point.at)
            yield point

    seen = [(entry["at"], entry["trigger"], len(pulled)) for entry in walk(engine, loan, counted(), source="loan")]
    assert seen == [
        (datetime(2020, 7, 25, tzinfo=UTC), "price", 1),
        (datetime(2020, 7, 25, 12, tzinfo=UTC), "retry", 2),
        (datetime(2020, 7, 26, tzinfo=UTC), "price", 2),
        (datetime(2020, 7, 26, 12, tzinfo=UTC), "retry", 3),
        (datetime(2020, 7, 27, tzinfo=UTC), "retry", 3),
        (datetime(2020, 7, 27, 12, tzinfo=UTC), "retry", 3),
        (datetime(2020, 7, 28, tzinfo=UTC), "price", 3),
    ]


def test_hooks_run_in_the_engines_decimal_context_but_the_caller_keeps_theirs(engine: Engine) -> None:
    """Between entries the caller's decimal context is in force; the walk's arithmetic is unaffected by it."""
    points = _points(("2026-02-01", "50000"), ("2026-02-02", "46000"))
    expected = simulate(engine, example("margin-a-regular.json"), points, source="a.json")["entries"]
    with decimal.localcontext(prec=3) as callers:
        timeline = walk(engine, example("margin-a-regular.json"), iter(points), source="a.json")
        entries = []
        for entry in timeline:
            assert decimal.getcontext() is callers
            entries.append(entry)
    assert entries == expected


def test_a_failing_walk_leaves_no_summary_line(engine: Engine) -> None:
    """JSON Lines are written as the walk goes; a walk that fails midway ends without its summary line."""

    def failing() -> Iterator[PricePoint]:
        yield from _points(("2026-02-01", "50000"))
        raise AccountError([Problem(file="feed", message="the feed broke")])

    out = io.StringIO()
    with pytest.raises(AccountError, match="the feed broke"):
        write_timeline(walk(engine, example("margin-a-regular.json"), failing(), source="a.json"), out, "jsonl")
    assert [json.loads(line)["at"] for line in out.getvalue().splitlines()] == ["2026-02-01T00:00:00Z"]
    text = io.StringIO()
    with pytest.raises(AccountError):
        write_timeline(walk(engine, example("margin-a-regular.json"), failing(), source="a.json"), text, "text")
    assert text.getvalue() == ""


def test_a_streamed_path_that_never_prices_the_account_is_refused_when_it_ends(engine: Engine) -> None:
    """A path read as it goes is not checked up front: one that prices none of the account's assets fails at its end."""
    eth = [PricePoint(datetime(2026, 2, 1, tzinfo=UTC), {"ETH": Decimal(3000)})]
    account = margin_account(assets=[("BTC", "10", "50000")])
    timeline = walk(engine, account, iter(eth), source="a.json")
    assert next(timeline)["status"] == "ok"
    with pytest.raises(AccountError) as refused:
        next(timeline)
    assert str(refused.value) == "a.json: $: the price path prices ETH but none of the account's assets (BTC, USDC)"


def test_retries_cut_short_are_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More retries due between two points than are simulated: the rest of the interval is skipped, and said so."""
    monkeypatch.setattr(simulation, "MAX_WAKEUPS_PER_INTERVAL", 2)
    prices = tmp_path / "prices.csv"
    prices.write_text("timestamp,asset,price\n2020-07-25,BTC,9000\n2020-07-28,BTC,12000\n")
    loan = write_loan(tmp_path, "0")
    code, out, _ = run("simulate", str(loan), "--prices", str(prices), "--policies", str(POLICIES))
    assert (code, out.splitlines()[:2]) == (
        0,
        [
            "Simulation of loan-1 (crypto-loan): 3 evaluations, ended by end of path",
            "note: more than 2 retries fell due after 2020-07-25T00:00:00Z; the rest of those intervals was skipped",
        ],
    )
    code, out, _ = run("simulate", str(loan), "--prices", str(prices), "--policies", str(POLICIES), "--format", "jsonl")
    assert json.loads(out.splitlines()[-1])["retries_cut_short_after"] == ["2020-07-25T00:00:00Z"]


# --- reading price paths ----------------------------------------------------------------------------


def test_rows_out_of_time_order_are_located_with_every_other_problem(tmp_path: Path) -> None:
    """A price path is read in time order: an earlier row is a problem at its line, listed with all the others."""
    prices = tmp_path / "prices.csv"
    prices.write_text(
        "timestamp,asset,price\n2026-02-02,BTC,50000\n2026-02-02T00:00:00+00:00,ETH,3000\n2026-02-01,BTC,49000\n"
        "2026-02-03,BTC,-1\n2026-02-03,BTC,51000\n"
    )
    code, out, err = run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    assert (code, out) == (2, "")
    assert err.replace(str(tmp_path) + "/", "").splitlines() == [
        "prices.csv:4:1: $.timestamp: expected rows in time order, at or after 2026-02-02T00:00:00Z (line 2),"
        " got 2026-02-01T00:00:00Z",
        "prices.csv:5:16: $.price: expected a decimal price > 0, got '-1'",
        "2 problems found",
    ]


def test_prices_from_standard_input(tmp_path: Path) -> None:
    """`--prices -` reads the path from standard input (kept in a temporary file for the second read), BOM and all."""
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["simulate", str(EXAMPLES / "loan-topup.json"), "--prices", "-", "--policies", str(POLICIES)],
        stdin=io.StringIO("\ufeff" + (EXAMPLES / "loan-prices.csv").read_text()),
        stdout=out,
        stderr=err,
    )
    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue() == (GOLDEN / "loan-simulation.txt").read_text()


def test_a_price_path_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are a problem at the line where reading stopped, not a crash."""
    prices = tmp_path / "prices.csv"
    prices.write_bytes(b"timestamp,asset,price\n2026-02-01,BTC,50000\n2026-02-02,BTC,\xff\n")
    code, _, err = run(
        "simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    assert (code, err.replace(str(tmp_path) + "/", "").splitlines()[0]) == (
        2,
        "prices.csv:3:1: $: the price path is not UTF-8 text",
    )


def test_a_price_file_is_checked_whole_then_read_again_point_by_point(tmp_path: Path) -> None:
    """`PricePath` knows its start, assets and size after the check; each iteration reads the file again."""
    prices = tmp_path / "prices.jsonl"
    prices.write_text(
        '{"timestamp": "2026-02-01T00:00:00Z", "asset": "BTC", "price": 50000.5}\n\n'
        '{"timestamp": "2026-02-01T01:00:00+01:00", "asset": "ETH", "price": "3000"}\n'
        '{"timestamp": "2026-02-02", "asset": "BTC", "price": 46000}\n'
    )
    with PricePath.open(prices, source="prices.jsonl") as path:
        assert (path.start, path.assets, path.points) == (
            datetime(2026, 2, 1, tzinfo=UTC),
            frozenset({"BTC", "ETH"}),
            2,
        )
        expected = [
            PricePoint(datetime(2026, 2, 1, tzinfo=UTC), {"BTC": Decimal("50000.5"), "ETH": Decimal(3000)}),
            PricePoint(datetime(2026, 2, 2, tzinfo=UTC), {"BTC": Decimal(46000)}),
        ]
        assert list(path) == expected
        assert list(path) == expected
