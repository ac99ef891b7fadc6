"""Computed figures (issue 15): bounded in size, never silently zero, and a figure the engine cannot compute
from a valid account is an account problem naming the account's values, not the policy's fault."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal, Subnormal, Underflow, getcontext
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, EvaluationError
from policy_engine._numbers import MAX_COMPUTED_MAGNITUDE
from policy_engine.arithmetic import engine_decimal_context
from policy_engine.cli import main

from .conftest import AS_OF, EXAMPLES, POLICIES, example

NET_EQUITY = "  - name: net_equity_value\n    expression: total_asset_value - total_liability_value\n"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def margin_policy_with(tmp_path: Path, figures: list[tuple[str, str]]) -> tuple[Path, int]:
    """The bundled margin policy with `figures` as its derived figures; the folder and the last figure's line."""
    text = (POLICIES / "margin-trading.yaml").read_text()
    assert NET_EQUITY in text
    written = "".join(f"  - name: {name}\n    expression: {expression}\n" for name, expression in figures)
    text = text.replace(NET_EQUITY, written)
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "margin-trading.yaml").write_text(text)
    last_line = text[: text.index(f"- name: {figures[-1][0]}\n")].count("\n") + 1
    return folder, last_line


@pytest.mark.parametrize(
    ("figures", "size"),
    [
        ([("f0", "total_asset_value ** 64")], 361),
        (
            [("f0", "total_asset_value * total_asset_value")]
            + [(f"f{i}", f"f{i - 1} * f{i - 1}") for i in (1, 2, 3, 4)],
            180,
        ),
    ],
    ids=["power", "chain of squares"],
)
def test_a_derived_figure_beyond_the_bound_is_an_evaluation_problem(
    tmp_path: Path, figures: list[tuple[str, str]], size: int
) -> None:
    """Each figure squaring the last got round the per-expression power bound: an 11 KB policy made one
    evaluation write 486 MB.  Now the first figure beyond 1e120 in size stops the evaluation (exit 4)."""
    folder, line = margin_policy_with(tmp_path, figures)
    name, expression = figures[-1]
    code, out, err = run(
        "evaluate", str(EXAMPLES / "margin-a-regular.json"), "--policies", str(folder), "--as-of", AS_OF
    )
    assert (code, out) == (4, "")
    first = err.splitlines()[0]
    assert first.startswith(f"policies/margin-trading.yaml:{line}:1: $.derived[{len(figures) - 1}]: `{expression}`")
    assert (
        f"makes derived figure `{name}` too large: about 1e{size} (computed numbers are zero or within"
        f" 1e-{MAX_COMPUTED_MAGNITUDE} to 1e{MAX_COMPUTED_MAGNITUDE} in size, MAX_COMPUTED_MAGNITUDE)"
    ) in first


def test_a_derived_figure_too_small_is_an_evaluation_problem(tmp_path: Path) -> None:
    folder, _line = margin_policy_with(
        tmp_path, [("tiny", "(1e-60 * 1e-60 * total_liability_value) / total_asset_value")]
    )
    engine = policy_engine.load(folder)
    with pytest.raises(EvaluationError) as caught:
        engine.evaluate(example("margin-a-regular.json"), AS_OF)
    (problem,) = caught.value.problems
    assert "makes derived figure `tiny` too small: about 1e-121" in problem.message


def test_figures_within_the_bound_are_decided(tmp_path: Path) -> None:
    folder, _line = margin_policy_with(
        tmp_path, [("big", "total_asset_value ** 9"), ("small", "1e-60 / total_asset_value")]
    )
    derived = policy_engine.load(folder).evaluate(example("margin-a-regular.json"), AS_OF).outcome["derived"]
    assert derived["big"] == Decimal(440000) ** 9
    assert derived["small"] == Decimal("1e-60") / 440000


UNDERFLOWING = "*".join(["(t*t*t*t*t*t*t*t)**64"] * 33)
"""33 factors of (1e-60 ** 8) ** 64 = 1e-30720: 1e-1013760, below the smallest exponent (-999999)."""


def test_a_figure_that_underflows_is_an_evaluation_problem_not_zero(tmp_path: Path) -> None:
    """Underflow was not trapped: the figure became 0 and `tiny > 0` was false, silently."""
    folder, line = margin_policy_with(tmp_path, [("t", "1e-60 + 0"), ("tiny", UNDERFLOWING)])
    engine = policy_engine.load(folder)
    with pytest.raises(EvaluationError) as caught:
        engine.evaluate(example("margin-a-regular.json"), AS_OF)
    (problem,) = caught.value.problems
    assert (problem.file.endswith("margin-trading.yaml"), problem.line, problem.json_path) == (
        True,
        line,
        "$.derived[1]",
    )
    assert problem.message.startswith(f"`{UNDERFLOWING}` failed with ")
    assert problem.message.split(" failed with ")[1].split(" ")[0] in ("Underflow", "Subnormal")


def test_the_engine_context_traps_underflow_and_subnormal_for_loading_and_evaluating() -> None:
    """Loading and evaluating both run in `engine_decimal_context`."""
    with engine_decimal_context():
        assert getcontext().traps[Underflow]
        assert getcontext().traps[Subnormal]
        with pytest.raises(Subnormal):
            Decimal("1e-999999") / Decimal(10)  # exact, but below the exponent range
        getcontext().traps[Subnormal] = False  # the engine's copy for this thread: restored below
        try:
            with pytest.raises(Underflow):
                Decimal("1e-999999") / Decimal(3) ** 200  # inexact and below: rounds to 0
        finally:
            getcontext().traps[Subnormal] = True


def check_blames_the_account(account: dict[str, Any], tmp_path: Path, paths: list[str], policy: str) -> None:
    """Exit 2, each problem at one of the account's extreme values; the policy is not named as the culprit."""
    file = tmp_path / "account.json"
    file.write_text(json.dumps(account, default=str))
    code, out, err = run("evaluate", str(file), "--policies", str(POLICIES), "--as-of", AS_OF)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[-1] == f"{len(paths)} problem{'s' if len(paths) > 1 else ''} found"
    # located in the account's text (issue 16): sorted by line, each `file:line:col: $.path: ...`
    assert sorted(line.split(": ")[1] for line in lines[:-1]) == sorted(paths)
    for line in lines[:-1]:
        assert re.match(rf"{re.escape(str(file))}:\d+:\d+: \$\.", line)
        assert "is among the account's values farthest from 1 in size" in line
        assert f"while deciding under the policy `{policy}`" in line
        assert ".yaml" not in line


def test_margin_figures_beyond_28_digits_are_blamed_on_the_account(tmp_path: Path) -> None:
    """Assets of 1e60 at 1e60 against a debt of 1e-60: a margin level of 1e180 no rounding holds; it used
    to be an error citing `policies/margin-trading.yaml` with no account path."""
    account = example("margin-a-regular.json")
    account["assets"][0].update(quantity="1e60", price="1e60")
    account["liabilities"][0]["principal"] = "1e-60"
    paths = ["$.assets[0].price", "$.assets[0].quantity", "$.liabilities[0].principal"]
    check_blames_the_account(account, tmp_path, paths, "spot-margin")


def test_loan_figures_beyond_28_digits_are_blamed_on_the_account(tmp_path: Path) -> None:
    account = example("loan-topup.json")
    account["loan"]["principal"] = "1e60"
    account["collateral"]["quantity"] = "1e-60"
    check_blames_the_account(account, tmp_path, ["$.collateral.quantity", "$.loan.principal"], "crypto-loans")


def test_collateral_figures_beyond_28_digits_are_blamed_on_the_account(tmp_path: Path) -> None:
    account = example("margin-transfer-1-below-80.json")
    account.update(quantity="1e60", price="1e-60")
    check_blames_the_account(account, tmp_path, ["$.price", "$.quantity"], "margin-collateral")


def test_futures_values_at_the_ends_of_the_range_are_decided_or_refused_by_path() -> None:
    """The futures product bounds a position by its brackets: extreme values are an account problem at the
    quantity, or a decision; no arithmetic error reaches the engine."""
    engine = policy_engine.load(POLICIES)
    base = example("futures-isolated-long.json")
    huge = {**base, "quantity": "1e60", "mark_price": "1e60", "entry_price": "1e-60"}
    with pytest.raises(AccountError) as caught:
        engine.evaluate(huge, AS_OF)
    assert [p.json_path for p in caught.value.problems] == ["$.quantity"]
    tiny = {**base, "quantity": "1e-60", "wallet_balance": "1e60", "position_margin": "1e-60"}
    assert engine.evaluate(tiny, AS_OF).to_json()


def test_a_failing_retry_beyond_the_calendar_is_an_account_problem(tmp_path: Path) -> None:
    """Already fixed on main (the instant is the input at fault): kept here as a regression test."""
    account = example("loan-topup.json")
    account["spot_balances"] = {"BTC": "0"}
    account["auto_top_up"]["state"].update(failed_attempts=1, last_attempt_at="9999-12-31T22:00:00Z")
    file = tmp_path / "loan.json"
    file.write_text(json.dumps(account, default=str))
    code, out, err = run("evaluate", str(file), "--policies", str(POLICIES), "--as-of", "9999-12-31T23:00:00Z")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        "as_of: $: the decision at 9999-12-31T23:00:00Z needs an instant beyond the range of dates (years 1 to 9999)"
    )
