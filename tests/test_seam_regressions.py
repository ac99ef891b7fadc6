"""Regressions found at the product seam: one test per finding, each quoting it."""

from __future__ import annotations

import dataclasses
import decimal
import io
import json
import types
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import pytest

import policy_engine
import policy_engine.products
from policy_engine import AccountError, Engine, registry
from policy_engine.cli import main
from policy_engine.product import Product
from policy_engine.products import collateral_product, futures, loans, margin
from policy_engine.simulate import read_price_path, simulate

from .conftest import AS_OF, EXAMPLES, POLICIES, example, margin_account

SEED_TIME = "2020-07-25T17:18:38Z"
LOAN_EXAMPLE = str(EXAMPLES / "loan-topup.json")


def run(*argv: str) -> tuple[int, str, str]:
    """The CLI in-process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def account_error(engine: Engine, account: Any, **kwargs: Any) -> str:
    """The text of the `AccountError` that evaluating `account` raises."""
    with pytest.raises(AccountError) as raised:
        engine.evaluate(account, **kwargs)
    return str(raised.value)


# --- events through the CLI -----------------------------------------------------------------------

RESET_HEAD = [
    f"As of {SEED_TIME}",
    "Operations applied first: reset",
    "Decided by rule `margin_call`",
    "",
    "Why:",
    "  events = 1",
    "      reset",
]
TOP_UP_HEAD = [
    f"As of {SEED_TIME}",
    "Operations applied first: manual_top_up=0.001",
    "",
    "Why:",
    "  events = 1",
    "      manual top-up of 0.001",
]


@pytest.mark.parametrize(
    ("option", "head", "status"),
    [
        (["--event", "reset"], RESET_HEAD, "MARGIN_CALL"),
        (["--event", "manual_top_up:0.001"], TOP_UP_HEAD, "OK"),
        (["--op", "reset"], RESET_HEAD, "MARGIN_CALL"),
        (["--op", "manual_top_up=0.001"], TOP_UP_HEAD, "OK"),
    ],
)
def test_cli_events_are_explained(option: list[str], head: list[str], status: str) -> None:
    """Finding: "`policy-engine evaluate examples/loan-topup.json --as-of 2020-07-25T17:18:38Z --event reset
    --format text` used to exit 3 with `KeyError: 'asset'`; likewise `--event manual_top_up:0.001`, `--op reset`".

    Now each exits 0 and the explanation lists the operations and the events applied.
    """
    code, out, err = run(
        "evaluate", LOAN_EXAMPLE, "--policies", str(POLICIES), "--as-of", SEED_TIME, "--format", "text", *option
    )
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[0] == f"Account loan-1 (crypto-loan): {status}"
    assert lines[2 : 2 + len(head)] == head
    assert lines[2 + len(head)].startswith("  thresholds for collateral_asset BTC")


def test_cli_events_in_the_account_file_are_explained(tmp_path: Path) -> None:
    """Finding: "... and events given in the account file (`auto_top_up.events`)" used to exit 3 with
    `KeyError: 'asset'`.

    Now the evaluation exits 0 and the explanation lists both events, in order, without an operations line.
    """
    account = example("loan-topup.json")
    account["auto_top_up"]["events"] = [{"type": "reset"}, {"type": "manual_top_up", "quantity": "0.001"}]
    path = tmp_path / "loan-events.json"
    path.write_text(json.dumps(account))
    code, out, err = run("evaluate", str(path), "--policies", str(POLICIES), "--as-of", SEED_TIME, "--format", "text")
    lines = out.splitlines()
    assert (code, err) == (0, "")
    assert lines[0] == "Account loan-1 (crypto-loan): OK"
    assert lines[2:9] == [
        f"As of {SEED_TIME}",
        "",
        "Why:",
        "  events = 2",
        "      reset",
        "      manual top-up of 0.001",
        "  thresholds for collateral_asset BTC, loan_type cross_collateral",
    ]


# --- as_of ----------------------------------------------------------------------------------------


def test_a_date_means_its_midnight_utc(engine: Engine) -> None:
    """Finding: "`engine.evaluate(account, as_of=datetime.date(2026, 3, 1))` used to raise TypeError".

    Now a date means its midnight in UTC, the same decision as the ISO date string.
    """
    account = example("loan-topup.json")
    decision = engine.evaluate(account, as_of=date(2026, 3, 1))
    assert decision.as_of == datetime(2026, 3, 1, tzinfo=UTC)
    assert decision.to_dict()["as_of"] == "2026-03-01T00:00:00Z"
    assert decision.to_json() == engine.evaluate(account, as_of="2026-03-01").to_json()
    assert engine.policy_for("crypto-loan", date(2026, 3, 1)).ref.id == "crypto-loans"


AS_OF_REFUSALS = [
    (
        datetime(2026, 3, 1),  # noqa: DTZ001 - the naive datetime is the point
        "as_of: $: expected a datetime with a timezone, got the naive 2026-03-01T00:00:00"
        " (for example datetime(2026, 3, 1, tzinfo=UTC))",
    ),
    (5, "as_of: $: expected a datetime with a timezone, a date or an ISO 8601 string, got number 5"),
    (
        1.5,
        "as_of: $: expected a datetime with a timezone, a date or an ISO 8601 string, got binary float 1.5"
        " (floats are inexact; use a string or Decimal)",
    ),
    (
        "2026-13-01",
        "as_of: $: expected an ISO 8601 date (2026-03-01) or date-time with an offset (2026-03-01T00:00:00Z),"
        " got string '2026-13-01'",
    ),
    (
        "2026-03-01T00:00:00",
        "as_of: $: expected an ISO 8601 date (2026-03-01) or date-time with an offset (2026-03-01T00:00:00Z),"
        " got string '2026-03-01T00:00:00'",
    ),
]


@pytest.mark.parametrize(("as_of", "message"), AS_OF_REFUSALS)
def test_a_bad_as_of_is_an_account_error(engine: Engine, as_of: Any, message: str) -> None:
    """Finding: "a naive datetime, an int, a float, and a malformed string each raise `AccountError` with a clear
    message".

    `evaluate` and `policy_for` refuse each with the same message.
    """
    assert account_error(engine, example("loan-topup.json"), as_of=as_of) == message
    with pytest.raises(AccountError) as raised:
        engine.policy_for("crypto-loan", as_of)
    assert str(raised.value) == message


def test_a_bad_as_of_on_the_command_line_exits_2() -> None:
    """Finding: "through the CLI a bad `--as-of` exits 2": the problem and the count on stderr, nothing on stdout."""
    assert run("evaluate", LOAN_EXAMPLE, "--policies", str(POLICIES), "--as-of", "yesterday") == (
        2,
        "",
        "as_of: $: expected an ISO 8601 date (2026-03-01) or date-time with an offset (2026-03-01T00:00:00Z),"
        " got string 'yesterday'\n1 problem found\n",
    )


def fixed_clock() -> datetime:
    return datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_a_decision_without_as_of_records_the_clock_time(engine: Engine) -> None:
    """Finding: "without `as_of`, a loan decision used to have `"as_of": null` while `outcome.as_of` held the clock
    time".

    Now the decision's `as_of` is the outcome's, with the default clock and with a given one; with a fixed clock
    two evaluations are byte-identical.
    """
    account = example("loan-topup.json")
    plain = engine.evaluate(account).to_dict()
    assert plain["as_of"] is not None
    assert plain["as_of"] == plain["outcome"]["as_of"]
    fixed = policy_engine.load(POLICIES, clock=fixed_clock)
    first, second = fixed.evaluate(account), fixed.evaluate(account)
    assert first.as_of == fixed_clock()
    assert first.to_dict()["as_of"] == first.to_dict()["outcome"]["as_of"] == "2026-03-01T12:30:00Z"
    assert first.to_json() == second.to_json()


# --- duplicate asset entries ----------------------------------------------------------------------


def test_an_asset_listed_twice_is_refused(engine: Engine) -> None:
    """Finding: "an account listing the same asset twice at different prices (`BTC 5 @ 43000` and `BTC 5 @ 44000`)
    was accepted and liquidated wrongly".

    Now an `AccountError` names both entries.
    """
    account = margin_account(assets=[("BTC", "5", "43000"), ("BTC", "5", "44000")])
    assert account_error(engine, account, as_of=AS_OF) == (
        "account: $.assets[1].asset: `BTC` is listed twice in `assets`: at $.assets[0] (quantity 5, price 43000)"
        " and here (quantity 5, price 44000); give each asset one entry"
    )


def test_a_liability_listed_twice_is_refused(engine: Engine) -> None:
    """Finding: "... same for liabilities": two USDC liabilities are refused, naming both entries."""
    account = margin_account(assets=[("BTC", "5", "43000")])
    account["liabilities"].append({"asset": "USDC", "principal": "100", "interest": "1", "price": "1"})
    assert account_error(engine, account, as_of=AS_OF) == (
        "account: $.liabilities[1].asset: `USDC` is listed twice in `liabilities`: at $.liabilities[0]"
        " (principal 400000, interest 0, price 1) and here (principal 100, interest 1, price 1);"
        " give each asset one entry"
    )


def test_duplicates_in_both_lists_are_reported_at_once(engine: Engine) -> None:
    """Finding: "both problems at once when both lists have duplicates"; an entry between them changes nothing."""
    account = margin_account(assets=[("BTC", "5", "43000"), ("ETH", "5", "3000"), ("BTC", "5", "44000")])
    account["liabilities"].append({"asset": "USDC", "principal": "100", "interest": "1", "price": "1"})
    assert account_error(engine, account, as_of=AS_OF).splitlines() == [
        "account: $.assets[2].asset: `BTC` is listed twice in `assets`: at $.assets[0] (quantity 5, price 43000)"
        " and here (quantity 5, price 44000); give each asset one entry",
        "account: $.liabilities[1].asset: `USDC` is listed twice in `liabilities`: at $.liabilities[0]"
        " (principal 400000, interest 0, price 1) and here (principal 100, interest 1, price 1);"
        " give each asset one entry",
    ]


# --- operations -----------------------------------------------------------------------------------

BAD_OPERATIONS = [
    "operations: $[0]: unknown operation `manul_top_up` for crypto-loan accounts; expected one of: reset,"
    " manual_top_up; did you mean `manual_top_up`?",
    "operations: $[1]: `reset` takes no value, got string '1'",
    "operations: $[2]: `manual_top_up` needs a value: manual_top_up=QUANTITY",
    "operations: $[3]: `manual_top_up`: expected a decimal quantity > 0 (such as 0.001), got '-1'",
    "operations: $[4]: `manual_top_up`: expected a decimal quantity > 0 (such as 0.001), got 'abc'",
]


def test_bad_operations_are_all_reported_by_the_library(engine: Engine) -> None:
    """Finding: operations: "unknown operation (did-you-mean), a value for an operation that takes none, a missing
    value, a bad value (`manual_top_up=-1`, `manual_top_up=abc`), all problems at once, via the library".
    """
    operations = ["manul_top_up=1", "reset=1", "manual_top_up", "manual_top_up=-1", "manual_top_up=abc"]
    account = example("loan-topup.json")
    assert account_error(engine, account, as_of=AS_OF, operations=operations).splitlines() == BAD_OPERATIONS


def test_bad_operations_as_pairs_are_reported_the_same(engine: Engine) -> None:
    """Finding: "`(name, value)` tuples work the same as `name=value` strings": the same problems, word for word."""
    operations = [
        ("manul_top_up", "1"),
        ("reset", "1"),
        ("manual_top_up", None),
        ("manual_top_up", "-1"),
        ("manual_top_up", "abc"),
    ]
    account = example("loan-topup.json")
    assert account_error(engine, account, as_of=AS_OF, operations=operations).splitlines() == BAD_OPERATIONS


def test_bad_operations_on_the_command_line_exit_2() -> None:
    """Finding: the same problems "via the CLI (`--op`), exit 2"; `--event NAME:VALUE` is the same operation."""
    code, out, err = run(
        "evaluate",
        LOAN_EXAMPLE,
        "--policies",
        str(POLICIES),
        "--as-of",
        AS_OF,
        "--op",
        "manul_top_up=1",
        "--event",
        "reset:1",
        "--op",
        "manual_top_up",
        "--op",
        "manual_top_up=-1",
        "--event",
        "manual_top_up:abc",
    )
    assert (code, out) == (2, "")
    assert err.splitlines() == [*BAD_OPERATIONS, "5 problems found"]


def test_an_account_kind_without_operations_takes_none(engine: Engine) -> None:
    """An operation for a product that offers none is refused, saying so."""
    account = margin_account(assets=[("BTC", "5", "43000")])
    assert account_error(engine, account, as_of=AS_OF, operations=["reset"]) == (
        "operations: $[0]: unknown operation `reset` for spot-margin accounts; spot-margin accounts take none"
    )


def test_pairs_and_strings_give_the_same_decision(engine: Engine) -> None:
    """Finding: "`(name, value)` tuples work the same as `name=value` strings; the decision records the operations".

    A Decimal value in a pair records the same as its text.
    """
    account = example("loan-topup.json")
    strings = engine.evaluate(account, as_of=AS_OF, operations=["manual_top_up=0.001", "reset"])
    pairs = engine.evaluate(account, as_of=AS_OF, operations=[("manual_top_up", "0.001"), ("reset", None)])
    decimals = engine.evaluate(account, as_of=AS_OF, operations=[("manual_top_up", Decimal("0.001")), ("reset", None)])
    assert strings.operations == (("manual_top_up", "0.001"), ("reset", None))
    assert strings.to_dict()["operations"] == [
        {"name": "manual_top_up", "value": "0.001"},
        {"name": "reset", "value": None},
    ]
    assert strings.to_json() == pairs.to_json() == decimals.to_json()
    assert strings.account["auto_top_up"]["events"] == (
        {"type": "manual_top_up", "quantity": Decimal("0.001")},
        {"type": "reset"},
    )
    assert "events" not in account["auto_top_up"]


def test_a_different_operation_list_gives_a_different_input_digest(engine: Engine) -> None:
    """Finding: "a different operation list gives a different `input_sha256`": the digest is of the account after
    its operations.
    """
    account = example("loan-topup.json")
    digests = [
        engine.evaluate(account, as_of=AS_OF, operations=operations).input_sha256
        for operations in ([], ["reset"], ["manual_top_up=0.001"], ["manual_top_up=0.001", "reset"])
    ]
    assert len(set(digests)) == len(digests)
    assert digests[1] == engine.evaluate(account, as_of=AS_OF, operations=["reset"]).input_sha256


# --- registry -------------------------------------------------------------------------------------

COPY = dataclasses.replace(margin.PRODUCT, policy_kind="margin-copy", account_kind="spot-margin-copy")
"""A product a separate package could declare, for the discovery test."""


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    """Discovery runs anew in the test and again after it, so no other test sees what it patched."""
    registry.discovered.cache_clear()
    yield
    registry.discovered.cache_clear()


def test_bundled_products_are_declared_entry_points(fresh_discovery: None) -> None:
    """Finding: "the registry is no hard-coded tuple": the bundled products are found through the entry points
    declared in pyproject.toml, and `policy_engine.products` holds no list of products.
    """
    declared = {entry.name: entry.value for entry in entry_points(group="policy_engine.products")}
    assert declared == {
        "collateral": "policy_engine.products.collateral_product:PRODUCT",
        "crypto-loan": "policy_engine.products.loans:PRODUCT",
        "futures-margin": "policy_engine.products.futures:PRODUCT",
        "margin-trading": "policy_engine.products.margin:PRODUCT",
    }
    found = registry.discovered()
    assert found.problems == ()
    assert dict(found.by_policy_kind) == {
        "collateral": collateral_product.PRODUCT,
        "crypto-loan": loans.PRODUCT,
        "futures-margin": futures.PRODUCT,
        "margin-trading": margin.PRODUCT,
    }
    assert dict(found.by_account_kind) == {
        "crypto-loan": loans.PRODUCT,
        "futures-position": futures.PRODUCT,
        "margin-transfer": collateral_product.PRODUCT,
        "spot-margin": margin.PRODUCT,
    }
    held = {
        name: value
        for name, value in vars(policy_engine.products).items()
        if not name.startswith("__") and not isinstance(value, types.ModuleType)
    }
    assert held == {}


def test_discovery_reads_the_entry_points(fresh_discovery: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding: "the registry is no hard-coded tuple": a product declared by another entry point is found with no
    edit to the package, a bad one is reported, and with no entry points there are no products.
    """
    bundled = list(entry_points(group=registry.GROUP))
    extra = [
        EntryPoint(name="margin-copy", value=f"{__name__}:COPY", group=registry.GROUP),
        EntryPoint(name="broken", value="policy_engine.products.margin:compile_margin", group=registry.GROUP),
    ]
    monkeypatch.setattr(
        registry, "entry_points", lambda *, group: [*bundled, *extra] if group == registry.GROUP else []
    )
    found = registry.discovered()
    assert sorted(found.by_account_kind) == [
        "crypto-loan",
        "futures-position",
        "margin-transfer",
        "spot-margin",
        "spot-margin-copy",
    ]
    assert found.by_policy_kind["margin-copy"] is COPY
    assert [str(problem) for problem in found.problems] == [
        "entry point `broken = policy_engine.products.margin:compile_margin` (policy_engine.products): $:"
        " expected a policy_engine.product.Product, got function"
    ]
    registry.discovered.cache_clear()
    monkeypatch.setattr(registry, "entry_points", lambda *, group: [])
    empty = registry.discovered()
    assert dict(empty.by_account_kind) == {}
    assert [str(problem) for problem in empty.problems] == [
        "policy_engine.products: $: no products are registered; install the package (pip install -e .) so that"
        " its entry points are declared"
    ]


# --- simulation -----------------------------------------------------------------------------------


def test_simulate_refuses_a_product_without_simulation_hooks() -> None:
    """Finding: "`simulate` refuses a product without simulation hooks"."""
    product: Product = dataclasses.replace(margin.PRODUCT, simulation=None)
    engine = policy_engine.load(POLICIES / "margin-trading.yaml", products=[product])
    path = read_price_path("timestamp,asset,price\n2026-03-01T00:00:00Z,BTC,40000\n", source="prices.csv")
    with pytest.raises(AccountError) as raised:
        simulate(engine, margin_account(assets=[("BTC", "5", "43000")]), path, source="account.json")
    assert str(raised.value) == (
        "account.json: $.kind: spot-margin accounts cannot be simulated: the `margin-trading` product has no"
        " simulation hooks"
    )


# --- fixes found while proving the seam --------------------------------------------------------------


def test_operation_values_are_recorded_as_text(engine: Engine) -> None:
    """`("manual_top_up", 1)`, `Decimal(1)` and `"manual_top_up=1"` are one operation: the same decision bytes."""
    loan = example("loan-topup.json")
    decisions = [
        engine.evaluate(loan, SEED_TIME, operations=[operation]).to_json()
        for operation in (("manual_top_up", 1), ("manual_top_up", Decimal(1)), "manual_top_up=1")
    ]
    assert decisions[0] == decisions[1] == decisions[2]
    assert json.loads(decisions[0])["operations"] == [{"name": "manual_top_up", "value": "1"}]


def test_operations_run_in_the_engine_decimal_context(engine: Engine) -> None:
    """A caller's 3-digit decimal context changes neither what an operation adds nor the decision."""
    loan = example("loan-topup.json")
    expected = engine.evaluate(loan, SEED_TIME, operations=["manual_top_up=0.00123456"]).to_json()
    with decimal.localcontext() as context:
        context.prec = 3
        decision = engine.evaluate(loan, SEED_TIME, operations=["manual_top_up=0.00123456"])
    assert decision.to_json() == expected
    assert decision.account["auto_top_up"]["events"][-1]["quantity"] == Decimal("0.00123456")


def test_problems_sort_indices_as_numbers(engine: Engine) -> None:
    """Problems at `$[2]` come before `$[10]`: paths sort by index value, not as text."""
    loan = example("loan-topup.json")
    operations = ["reset", "reset", "bogus", *["reset"] * 7, "nonsense"]
    with pytest.raises(AccountError) as raised:
        engine.evaluate(loan, SEED_TIME, operations=operations)
    assert [problem.json_path for problem in raised.value.problems] == ["$[2]", "$[10]"]


def test_help_with_a_percent_sign_and_help_on_the_given_stream(capsys: pytest.CaptureFixture[str]) -> None:
    """An operation's help may say "5%"; `--help` prints to `main`'s stdout, never to the real one."""
    operation = dataclasses.replace(loans.PRODUCT.operations[1], help="top up QUANTITY (5% of the loan, say)")
    product = dataclasses.replace(loans.PRODUCT, operations=(loans.PRODUCT.operations[0], operation))
    registry.discovered.cache_clear()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(registry, "discovered", lambda: registry.Registry.of([margin.PRODUCT, product]))
            patch.setattr("policy_engine.cli.discovered", registry.discovered)
            code, out, err = run("evaluate", "--help")
    finally:
        registry.discovered.cache_clear()
    assert (code, err, capsys.readouterr().out) == (0, "", "")
    assert "(5% of the loan, say)" in " ".join(out.split())


# --- review findings ---------------------------------------------------------------------------------


def test_a_product_with_a_missing_schema_is_a_located_load_problem(tmp_path: Path) -> None:
    """A plug-in whose schema file is missing makes loading fail with a problem naming it, not a FileNotFoundError."""
    broken = dataclasses.replace(loans.PRODUCT, account_schema=tmp_path / "missing.schema.json")
    with pytest.raises(policy_engine.PolicyError) as refused:
        policy_engine.load(POLICIES, products=[margin.PRODUCT, broken])
    assert (
        str(refused.value)
        == f"product `crypto-loan`: $: `account_schema`: no schema file {tmp_path}/missing.schema.json"
    )


def test_a_product_naming_an_unknown_bundled_schema_is_told_to_use_a_path() -> None:
    """A bare file name is looked up among the bundled schemas; one that is not there says to pass a Path."""
    broken = dataclasses.replace(loans.PRODUCT, policy_schema="credit-line.schema.json")
    with pytest.raises(policy_engine.PolicyError) as refused:
        policy_engine.load(POLICIES, products=[margin.PRODUCT, broken])
    assert str(refused.value) == (
        "product `crypto-loan`: $: `policy_schema`: no bundled schema `credit-line.schema.json`;"
        " a product in another package names its schema files by `Path`"
    )


def test_the_registry_cannot_be_changed_through_an_engine(engine: Engine) -> None:
    """`Engine.products` is read-only: no caller can remove a product for every later engine in the process."""
    with pytest.raises(TypeError):
        del engine.products["crypto-loan"]  # type: ignore[attr-defined]  # a read-only mapping refuses it
    assert sorted(policy_engine.load(POLICIES).products) == [
        "crypto-loan",
        "futures-position",
        "margin-transfer",
        "spot-margin",
    ]


def test_a_decision_beyond_the_range_of_dates_is_an_as_of_problem(engine: Engine) -> None:
    """A failed top-up on 9999-12-31 would schedule a retry after year 9999: an AccountError about as_of, not exit 1."""
    loan = example("loan-topup.json")
    loan["spot_balances"] = {"BTC": "0"}
    with pytest.raises(AccountError) as refused:
        engine.evaluate(loan, "9999-12-31T23:59:59Z")
    assert str(refused.value) == (
        "as_of: $: the decision at 9999-12-31T23:59:59Z needs an instant beyond the range of dates (years 1 to 9999)"
    )


def test_a_string_is_not_a_list_of_operations(engine: Engine) -> None:
    """`operations="reset"` is one clear problem, not five unknown operations `r`, `e`, `s`, `e`, `t`."""
    with pytest.raises(AccountError) as refused:
        engine.evaluate(example("loan-topup.json"), SEED_TIME, operations="reset")
    assert str(refused.value) == "operations: $: expected a list of operations, got string 'reset'; write ['reset']"


def test_an_unexpected_value_error_is_an_internal_error_not_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI no longer turns every ValueError into exit 2: a bug is exit 3 with a message asking for a report."""

    def broken(*_args: object, **_kwargs: object) -> str:
        raise ValueError("a bug")

    monkeypatch.setattr("policy_engine.explain.explain", broken)
    code, out, err = run("evaluate", str(EXAMPLES / "margin-a-regular.json"), "--format", "text", "--as-of", AS_OF)
    assert (code, out, err) == (3, "", "policy-engine: internal error: ValueError: a bug; please report it\n")


def test_errors_survive_pickling_with_their_problems() -> None:
    """A PolicyError, AccountError or EvaluationError crosses a process boundary whole (batch workers)."""
    import pickle  # noqa: PLC0415 - only this test needs it

    for error_type in (policy_engine.PolicyError, AccountError, policy_engine.EvaluationError):
        error = error_type([policy_engine.Problem(file="f", line=2, col=3, json_path="$.x", message="m")])
        copied = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert (type(copied), copied.problems, str(copied)) == (error_type, error.problems, str(error))
