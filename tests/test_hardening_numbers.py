"""A JSON number no Decimal can hold (found by the account fuzzer): a located problem, never a raw exception."""

from __future__ import annotations

import decimal
import io
from pathlib import Path

import pytest

from policy_engine import AccountError
from policy_engine.accounts import parse_json_account
from policy_engine.cli import main

from .conftest import EXAMPLES, POLICIES

HUGE = "6666E6666666666666666670"
"""The fuzzer's input: an exponent beyond what Decimal holds (it raises, or gives NaN when that is not trapped)."""


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("trapped", [True, False], ids=["InvalidOperation trapped", "not trapped"])
def test_a_number_beyond_decimal_is_an_account_error_whatever_the_callers_context(trapped: bool) -> None:
    with decimal.localcontext() as context:
        context.traps[decimal.InvalidOperation] = trapped
        with pytest.raises(AccountError) as raised:
            parse_json_account(f'{{"kind": "spot-margin", "leverage": {HUGE}}}', source="a.json")
    (problem,) = raised.value.problems
    assert str(problem) == f"a.json: $: invalid JSON: the number {HUGE} is beyond the range of decimal numbers"


def test_the_fuzzers_input_exits_2_with_the_problem() -> None:
    assert run("evaluate", "-", "--policies", str(POLICIES), stdin=f"[{HUGE}") == (
        2,
        "",
        f"<stdin>: $: invalid JSON: the number {HUGE} is beyond the range of decimal numbers\n1 problem found\n",
    )


def test_a_price_row_with_such_a_number_is_a_located_problem(tmp_path: Path) -> None:
    prices = tmp_path / "prices.jsonl"
    prices.write_text(f'{{"timestamp": "2020-07-25T12:00:00Z", "asset": "BTC", "price": {HUGE}}}\n')
    code, out, err = run(
        "simulate", str(EXAMPLES / "loan-topup.json"), "--prices", str(prices), "--policies", str(POLICIES)
    )
    assert (code, out) == (2, "")
    assert err == (
        f"{prices}:1:1: $: invalid JSON: the number {HUGE} is beyond the range of decimal numbers\n1 problem found\n"
    )


def test_long_numbers_are_shown_cut() -> None:
    long = "1E" + "9" * 60
    with pytest.raises(AccountError) as raised:
        parse_json_account(f"[{long}]", source="a.json")
    assert f"the number {long[:40]}... is beyond" in raised.value.problems[0].message
