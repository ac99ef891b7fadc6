"""Hostile and malformed price paths (issue 15): each is a located problem and exit 2, never a crash or a guess."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from policy_engine import AccountError
from policy_engine.cli import main
from policy_engine.price_path import PathLimits, PricePath, read_price_path

from .conftest import EXAMPLES, POLICIES

HEADER = "timestamp,asset,price\n"


def simulate_err(prices: str | bytes, tmp_path: Path, name: str = "prices.csv") -> tuple[int, list[str]]:
    """Exit code and stderr lines (file paths relative) of `simulate` on a margin account along `prices`."""
    path = tmp_path / name
    if isinstance(prices, bytes):
        path.write_bytes(prices)
    else:
        path.write_text(prices)
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["simulate", str(EXAMPLES / "margin-a-regular.json"), "--prices", str(path), "--policies", str(POLICIES)],
        stdin=io.StringIO(""),
        stdout=out,
        stderr=err,
    )
    assert out.getvalue() == ""
    return code, err.getvalue().replace(str(tmp_path) + "/", "").splitlines()


def test_a_csv_row_with_an_extra_column_is_refused_not_read_as_another_price(tmp_path: Path) -> None:
    """`…,BTC,11,569.82` (a thousands separator) used to be read as price 11: now it is a problem naming the cause."""
    code, err = simulate_err(HEADER + "2026-02-01,BTC,50000\n2026-02-02,BTC,11,569.82478777\n", tmp_path)
    assert (code, err[0]) == (
        2,
        "prices.csv:3:1: $: expected 3 columns as in the header, got 4; a number with a thousands separator"
        " (`11,569.82`) must be quoted or written without it",
    )


def test_a_csv_row_with_a_missing_column_says_how_many(tmp_path: Path) -> None:
    code, err = simulate_err(HEADER + "2026-02-01,BTC\n", tmp_path)
    assert (code, err[0]) == (2, "prices.csv:2:1: $: expected 3 columns as in the header, got 2")


def test_a_quoted_price_with_a_thousands_separator_is_still_refused_as_a_price(tmp_path: Path) -> None:
    code, err = simulate_err(HEADER + '2026-02-01,BTC,"11,569.82"\n', tmp_path)
    assert (code, err[0]) == (2, "prices.csv:2:1: $.price: expected a decimal price > 0, got '11,569.82'")


def test_a_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    code, err = simulate_err("timestamp,asset,price,price\n2026-02-01,BTC,1,2\n", tmp_path)
    assert (code, err[0]) == (2, "prices.csv:1:1: $: the header names price more than once; each column once")


def test_a_field_longer_than_the_csv_module_allows_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """A quoted field spanning many lines passes the line bound but not the csv module's: a located problem."""
    many_lines = "x\n" * 70_000
    code, err = simulate_err(HEADER + f'2026-02-01,"{many_lines}",1\n', tmp_path)
    assert code == 2
    assert err[0].startswith("prices.csv:")
    assert "unreadable CSV: field larger than field limit" in err[0]


def test_an_over_long_line_stops_the_read_at_its_line(tmp_path: Path) -> None:
    code, err = simulate_err(HEADER + "2026-02-01,BTC,1" + "0" * 70_000 + "\n", tmp_path)
    assert (code, err[0]) == (
        2,
        "prices.csv:2:1: $: the line is longer than 65,536 bytes (PathLimits.max_line_bytes); stopped reading here",
    )


def test_an_endless_line_on_standard_input_is_refused_without_reading_it_all() -> None:
    """`--prices -` fed a stream with no newline (think /dev/zero) stops at the bound, not at memory's end."""

    class Endless(io.RawIOBase):
        served = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            if self.served > 1 << 24:
                raise AssertionError("read 16 MiB of a stream that was refused at 64 KiB")
            buffer[:] = b"\0" * len(buffer)
            self.served += len(buffer)
            return len(buffer)

    stream = io.TextIOWrapper(io.BufferedReader(Endless()), encoding="utf-8")
    with pytest.raises(AccountError) as raised:
        PricePath.from_stream(stream, source="-")
    assert [str(problem) for problem in raised.value.problems] == [
        "-:1:1: $: the line is longer than 65,536 bytes (PathLimits.max_line_bytes); stopped reading here"
    ]


def test_a_deeply_nested_json_row_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    deep = "[" * 500 + "]" * 500
    row = '{"timestamp": "2026-02-01", "asset": "BTC", "price": "1", "extra": ' + deep + "}\n"
    code, err = simulate_err(row, tmp_path, "prices.jsonl")
    assert (code, err[0]) == (
        2,
        "prices.jsonl:1:1: $: expected a flat JSON object; this row nests deeper than 16 levels (PathLimits.max_depth)",
    )


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    row = '{"timestamp": "2026-02-01", "asset": "BTC", "price": "1", "note": "' + "[{" * 50 + '"}\n'
    assert [point.prices for point in read_price_path(row, source="p.jsonl")] == [{"BTC": 1}]


def test_a_json_row_naming_a_field_twice_is_refused_not_resolved_by_the_last_value(tmp_path: Path) -> None:
    row = '{"timestamp": "2026-02-01", "asset": "BTC", "price": "50000", "price": "5"}\n'
    code, err = simulate_err(row, tmp_path, "prices.jsonl")
    assert (code, err[0]) == (
        2,
        "prices.jsonl:1:45: $.price: the key 'price' appears more than once; a row names each field once",
    )


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        (
            "0001-01-01T00:00:00+01:00",
            "expected an instant from year 1 to 9999 in UTC, got '0001-01-01T00:00:00+01:00'",
        ),
        (
            "9999-12-31T23:00:00-02:00",
            "expected an instant from year 1 to 9999 in UTC, got '9999-12-31T23:00:00-02:00'",
        ),
    ],
)
def test_an_instant_outside_the_utc_calendar_is_a_problem_not_an_overflow(
    tmp_path: Path, timestamp: str, message: str
) -> None:
    code, err = simulate_err(HEADER + f"{timestamp},BTC,1\n", tmp_path)
    assert (code, err[0]) == (2, f"prices.csv:2:1: $.timestamp: {message}")


def test_a_missing_price_says_nothing_was_given_not_none(tmp_path: Path) -> None:
    code, err = simulate_err('{"timestamp": "2026-02-01", "asset": "BTC"}\n', tmp_path, "prices.jsonl")
    assert (code, err[0]) == (2, "prices.jsonl:1:1: $.price: expected a decimal price > 0, got nothing")


def test_a_price_beyond_the_magnitude_bound_names_the_bound(tmp_path: Path) -> None:
    code, err = simulate_err(HEADER + "2026-02-01,BTC,1e400\n", tmp_path)
    assert (code, err[0]) == (2, "prices.csv:2:16: $.price: expected a price between 1e-60 and 1e60, got '1e400'")


def test_the_row_count_is_bounded() -> None:
    rows = HEADER + "".join(f"2026-02-{day:02},BTC,{day}\n" for day in range(1, 6))
    with pytest.raises(AccountError) as raised:
        read_price_path(rows, source="p.csv", limits=PathLimits(max_rows=3))
    assert [str(problem) for problem in raised.value.problems] == [
        "p.csv:5:1: $: the price path has more than 3 rows (PathLimits.max_rows)"
    ]
    assert len(read_price_path(rows, source="p.csv", limits=PathLimits(max_rows=5))) == 5
