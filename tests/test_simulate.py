"""Simulation along a price path: state fed forward, retries between price points, liquidation ends it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli import main

from .conftest import EXAMPLES, POLICIES


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
                "prices.csv:2:0: $.price: expected a decimal price > 0, got 'abc'",
                "prices.csv:3:0: $.timestamp: expected an ISO 8601 date or date-time with an offset, got 'yesterday'",
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
            "prices.csv:3:0: $.price: BTC at 2026-02-01T00:00:00Z is priced 50000 on line 2 and 51000 here;"
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
