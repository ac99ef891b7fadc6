"""The product seam, proven with a stub product that lives in tests/ and registers through an entry point.

The stub (`tests/stub_product/price_alerts.py`, policy kind `price-alert`,
account kind `price-watch`) is declared the way a separate package would
declare it: a `*.dist-info` folder with an `entry_points.txt` in the
`policy_engine.products` group, put on `sys.path` for one test.  Nothing
outside `tests/` names it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine import AccountError, PolicyError
from policy_engine.cli import main
from policy_engine.products.loans import PRODUCT as LOANS
from policy_engine.registry import discovered
from policy_engine.simulate import read_price_path, simulate

from .conftest import POLICIES, ROOT
from .stub_product.price_alerts import PRODUCT

STUB = ROOT / "tests" / "stub_product"
ACCOUNT = STUB / "watch.json"
PRICES = STUB / "prices.csv"
STUB_ENTRY = "price-alert = tests.stub_product.price_alerts:PRODUCT"
GROUP = "(policy_engine.products)"

Declare = Callable[..., None]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def watch_account() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ACCOUNT.read_text(), parse_float=Decimal)
    return data


@pytest.fixture
def declare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Declare]:
    """`declare(*entries)` installs a distribution whose entry points are `entries`; the cache is cleared around it."""
    discovered.cache_clear()

    def install(*entries: str) -> None:
        dist = tmp_path / "stub_price_alerts-0.1.0.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: stub-price-alerts\nVersion: 0.1.0\n")
        (dist / "entry_points.txt").write_text("[policy_engine.products]\n" + "".join(f"{e}\n" for e in entries))
        monkeypatch.syspath_prepend(tmp_path)
        discovered.cache_clear()

    yield install
    discovered.cache_clear()


@pytest.fixture
def registered(declare: Declare) -> None:
    declare(STUB_ENTRY)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A policy folder holding both stub versions and a copy of the bundled crypto-loan policy."""
    target = tmp_path / "policies"
    target.mkdir()
    for path in [*sorted((STUB / "policies").glob("*.yaml")), POLICIES / "crypto-loans.yaml"]:
        shutil.copy(path, target / path.name)
    return target


def loans_v2(folder: Path, effective_from: str) -> Path:
    """A second crypto-loan version from `effective_from`, without the asset USDC."""
    text = (folder / "crypto-loans.yaml").read_text()
    changed = (
        text.replace("\nversion: 1\n", "\nversion: 2\n")
        .replace("effective_from: 2020-01-01", f"effective_from: {effective_from}")
        .replace("  USDC:\n    precision: 8\n", "")
    )
    assert changed.count("USDC") == text.count("USDC") - 1  # the asset entry, and only it, is gone
    path = folder / "crypto-loans-v2.yaml"
    path.write_text(changed)
    return path


# --- registration -------------------------------------------------------------------------------


def test_an_entry_point_adds_the_stub_beside_the_bundled_products(declare: Declare) -> None:
    """Without its entry point the stub is unknown; declared, it joins the bundled products with no problem."""
    assert sorted(discovered().by_policy_kind) == ["collateral", "crypto-loan", "futures-margin", "margin-trading"]
    declare(STUB_ENTRY)
    registry = discovered()
    assert sorted(registry.by_policy_kind) == [
        "collateral",
        "crypto-loan",
        "futures-margin",
        "margin-trading",
        "price-alert",
    ]
    assert sorted(registry.by_account_kind) == [
        "crypto-loan",
        "futures-position",
        "margin-transfer",
        "price-watch",
        "spot-margin",
    ]
    assert registry.by_policy_kind["price-alert"] is PRODUCT
    assert registry.by_account_kind["price-watch"] is PRODUCT
    assert registry.problems == ()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [STUB_ENTRY, "broken = tests.stub_product.missing:PRODUCT"],
            [
                f"entry point `broken = tests.stub_product.missing:PRODUCT` {GROUP}: $: cannot load the product:"
                " ModuleNotFoundError: No module named 'tests.stub_product.missing'",
            ],
        ),
        (
            [STUB_ENTRY, "not-a-product = tests.stub_product.price_alerts:compile_alerts"],
            [
                f"entry point `not-a-product = tests.stub_product.price_alerts:compile_alerts` {GROUP}: $:"
                " expected a policy_engine.product.Product, got function",
            ],
        ),
        (
            # The problem names the entry point that was refused, not the one registered first.
            [STUB_ENTRY, "price-alert-again = tests.stub_product.price_alerts:PRODUCT"],
            [
                f"entry point `price-alert-again = tests.stub_product.price_alerts:PRODUCT` {GROUP}: $:"
                f" policy kind `price-alert` is already registered by entry point `{STUB_ENTRY}` {GROUP}",
            ],
        ),
    ],
    ids=["fails-to-import", "not-a-product", "same-policy-kind"],
)
def test_registry_problems_make_validate_fail_naming_the_entry_point(
    declare: Declare, folder: Path, entries: list[str], expected: list[str]
) -> None:
    """A plug-in that cannot be imported, is not a Product, or claims a taken kind: exit 1, never skipped."""
    declare(*entries)
    assert run("validate", str(folder)) == (1, "", "\n".join([*expected, "1 problem found"]) + "\n")


def test_op_help_lists_the_stub_operation(
    registered: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evaluate --help` lists every registered product's operations, the stub's included, on `stdout=`."""
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at hyphens too: no wrapping, whatever precedes the stub
    code, out, err = run("evaluate", "--help")
    assert (code, err, capsys.readouterr().out) == (0, "", "")  # nothing escapes to the real sys.stdout
    help_text = " ".join(out.split())
    assert (
        "reset (crypto-loan: reset auto top-up: end a failure streak and enable it again);"
        " manual_top_up=QUANTITY (crypto-loan: a successful manual top-up adding QUANTITY to the collateral);"
    ) in help_text
    assert "; shift=PERCENT (price-watch: move every price by PERCENT percent, -40 takes 40 percent off)" in help_text


# --- validate -----------------------------------------------------------------------------------


def test_validate_lists_the_stub_policies(registered: None, folder: Path) -> None:
    """A folder with the stub's versions and the bundled crypto-loan policy is valid, every version listed."""
    assert run("validate", str(folder)) == (
        0,
        "ok  policies/crypto-loans.yaml  crypto-loan crypto-loans v1 from 2020-01-01\n"
        "ok  policies/price-alerts.yaml  price-alert price-alerts v1 from 2026-01-01\n"
        "ok  policies/price-alerts-v2.yaml  price-alert price-alerts v2 from 2026-07-01\n",
        "",
    )


def test_validate_reports_every_kit_problem_of_a_broken_stub_policy(registered: None, folder: Path) -> None:
    """A gap and an overlap between zones and a threshold finer than the drawdown: each located, all at once.

    While the stub does not compile its lint across kinds is skipped (documents.py), so the asset
    missing from the loan policy (`UDSC`) is not reported in the same run.
    """
    path = folder / "price-alerts.yaml"
    path.write_text(
        path.read_text()
        .replace("{from: 30000, to: 50000, label: amber}", "{from: 31000, to: 50000, label: amber}")
        .replace("{from: 1500, to: 2500, label: amber}", "{from: 1400, to: 2500, label: amber}")
        .replace("drawdown_warning: 0.10", "drawdown_warning: 0.10005")
        .replace("  USDC:", "  UDSC:")
    )
    assert run("validate", str(folder)) == (
        1,
        "",
        f"{path}:18:21: $.thresholds.drawdown_warning: expected at most 4 decimal places"
        " (drawdowns are compared at that precision), got 0.10005\n"
        f"{path}:26:16: $.assets.BTC.zones[1].from: expected 30000 (where the previous band ends), got 31000:"
        " a gap between bands\n"
        f"{path}:31:16: $.assets.ETH.zones[1].from: expected 1500 (where the previous band ends), got 1400:"
        " an overlap between bands\n"
        "3 problems found\n",
    )


def test_validate_reports_an_asset_the_loan_policy_does_not_define(registered: None, folder: Path) -> None:
    """The cross-kind lint cites the stub's YAML line of the asset, names the loan version and suggests a fix."""
    path = folder / "price-alerts.yaml"
    path.write_text(path.read_text().replace("  USDC:", "  UDSC:"))
    assert run("validate", str(folder)) == (
        1,
        "",
        f"{path}:33:3: $.assets.UDSC: `UDSC` is not defined in the `assets` of `crypto-loans` version 1"
        " (policies/crypto-loans.yaml), which is in force while this version is; did you mean `USDC`?\n"
        "1 problem found\n",
    )


# --- evaluate -----------------------------------------------------------------------------------


def test_evaluate_json_has_the_stub_outcome_and_the_loan_policy_read(registered: None, folder: Path) -> None:
    """The decision carries the stub's outcome, `as_of`, and the crypto-loan version it read."""
    code, out, err = run("evaluate", str(ACCOUNT), "--policies", str(folder), "--as-of", "2026-03-01")
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert decision["as_of"] == "2026-03-01T00:00:00Z"
    assert decision["operations"] == []
    assert decision["policy"]["version"] == 1
    assert decision["related_policies"] == [
        {
            "effective_from": "2020-01-01T00:00:00Z",
            "file": "policies/crypto-loans.yaml",
            "id": "crypto-loans",
            "kind": "crypto-loan",
            "sha256": sha(folder / "crypto-loans.yaml"),
            "version": 1,
        }
    ]
    assert decision["outcome"] == {
        "alerts": [{"id": "drawdown_warning", "severity": "warning"}],
        "as_of": "2026-03-01T00:00:00Z",
        "cost_value": "42000.0",
        "drawdown": "0.2357142857142857142857142857",
        "drawdown_compared": "0.2357",
        "loan_collateral": ["BTC", "ETH"],
        "loan_policy": "crypto-loans v1",
        "market_value": "32100.0",
        "status": "warning",
        "worst_zone": "amber",
        "zones": {"BTC": "amber", "ETH": "amber"},
    }


def test_evaluate_text_explains_with_band_lines_and_the_stub_sections(registered: None, folder: Path) -> None:
    """The text has the generic parts, each zone's band with its YAML line, the stub's detail and sections."""
    code, out, err = run(
        "evaluate", str(ACCOUNT), "--policies", str(folder), "--as-of", "2026-03-01", "--format", "text"
    )
    assert (code, err) == (0, "")
    raw = "0.2357142857142857142857142857"
    assert out == (
        "Account watch-1 (price-watch): WARNING\n"
        f"Policy price-alerts version 1 (policies/price-alerts.yaml, sha256 {sha(folder / 'price-alerts.yaml')[:12]})\n"
        "Also read: crypto-loan crypto-loans version 1"
        f" (policies/crypto-loans.yaml, sha256 {sha(folder / 'crypto-loans.yaml')[:12]})\n"
        "As of 2026-03-01T00:00:00Z\n"
        "\n"
        "Why:\n"
        "  positions = 2\n"
        "      BTC: 0.5 bought at 60000, now 45000\n"
        "      ETH: 4 bought at 3000, now 2400\n"
        "  zone:BTC for BTC_price 45000: amber\n"
        "      band 2 (amber): from 30000 to 50000  [policies/price-alerts.yaml:26 $.assets.BTC.zones[1]]\n"
        "  zone:ETH for ETH_price 2400: amber\n"
        "      band 2 (amber): from 1500 to 2500  [policies/price-alerts.yaml:31 $.assets.ETH.zones[1]]\n"
        "  market_value = 32100.0\n"
        "  cost_value = 42000.0\n"
        "  loss = 9900.0  (cost_value - market_value)\n"
        f"  drawdown = {raw}  (loss / cost_value)  [policies/price-alerts.yaml:12]\n"
        "      compared as 0.2357 (4 places, ROUND_HALF_UP)\n"
        "  worst_zone = amber\n"
        "  rule drawdown_warning: drawdown >= drawdown_warning holds  [policies/price-alerts.yaml:41]\n"
        f"      drawdown = 0.2357 (raw {raw}, rounded 4 places, ROUND_HALF_UP)\n"
        "      drawdown_warning = 0.10  [policies/price-alerts.yaml:18 $.thresholds.drawdown_warning]\n"
        "  rule drawdown_critical: drawdown >= drawdown_critical does not hold  [policies/price-alerts.yaml:44]\n"
        f"      drawdown = 0.2357 (raw {raw}, rounded 4 places, ROUND_HALF_UP)\n"
        "      drawdown_critical = 0.30  [policies/price-alerts.yaml:19 $.thresholds.drawdown_critical]\n"
        '  rule red_zone: worst_zone == "red" does not hold  [policies/price-alerts.yaml:47]\n'
        "      worst_zone = amber\n"
        "  alerts: rules that held: drawdown_warning  [policies/price-alerts.yaml:40]\n"
        "  status = warning\n"
        "  loan_policy = crypto-loans v1\n"
        "\n"
        "Alerts fired: drawdown_warning (warning)\n"
        "Zones: BTC amber, ETH amber\n"
        "Loan collateral under crypto-loans v1: BTC, ETH\n"
    )


def test_op_shift_moves_prices_and_is_recorded(registered: None, folder: Path) -> None:
    """`--op shift=-40` takes 40% off every price: both positions turn red, every alert fires, critical."""
    code, out, err = run(
        "evaluate", str(ACCOUNT), "--policies", str(folder), "--as-of", "2026-03-01", "--op", "shift=-40"
    )
    assert (code, err) == (0, "")
    decision = json.loads(out)
    assert decision["operations"] == [{"name": "shift", "value": "-40"}]
    assert decision["outcome"] == {
        "alerts": [
            {"id": "drawdown_warning", "severity": "warning"},
            {"id": "drawdown_critical", "severity": "critical"},
            {"id": "red_zone", "severity": "critical"},
        ],
        "as_of": "2026-03-01T00:00:00Z",
        "cost_value": "42000.0",
        "drawdown": "0.5414285714285714285714285714",
        "drawdown_compared": "0.5414",
        "loan_collateral": ["BTC", "ETH"],
        "loan_policy": "crypto-loans v1",
        "market_value": "19260.00",
        "status": "critical",
        "worst_zone": "red",
        "zones": {"BTC": "red", "ETH": "red"},
    }


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        (
            ["--op", "shfit=-40"],
            "operations: $[0]: unknown operation `shfit` for price-watch accounts; expected one of: shift;"
            " did you mean `shift`?\n1 problem found\n",
        ),
        (
            ["--op", "shift=-100", "--event", "shift:ten"],
            "operations: $[0]: `shift`: expected a percentage above -100 and at most 10000 (such as -40 or 12.5),"
            " got '-100'\n"
            "operations: $[1]: `shift`: expected a percentage above -100 and at most 10000 (such as -40 or 12.5),"
            " got 'ten'\n"
            "2 problems found\n",
        ),
        (["--op", "shift"], "operations: $[0]: `shift` needs a value: shift=PERCENT\n1 problem found\n"),
    ],
    ids=["unknown", "bad-values", "no-value"],
)
def test_bad_operations_exit_2(registered: None, folder: Path, operations: list[str], expected: str) -> None:
    """An unknown operation (with a did-you-mean) or a bad value is bad input: exit 2, every problem listed."""
    assert run("evaluate", str(ACCOUNT), "--policies", str(folder), "--as-of", "2026-03-01", *operations) == (
        2,
        "",
        expected,
    )


# --- simulate -----------------------------------------------------------------------------------


def test_simulate_walks_the_price_path(registered: None, folder: Path) -> None:
    """Each price point reprices the positions; the timeline shows the drawdown, status changes and alerts."""
    assert run("simulate", str(ACCOUNT), "--prices", str(PRICES), "--policies", str(folder)) == (
        0,
        "Simulation of watch-1 (price-watch): 5 evaluations, ended by end of path\n"
        "2026-03-01T00:00:00Z  price  drawdown -3.33%   quiet  BTC green, ETH green\n"
        "2026-03-02T00:00:00Z  price  drawdown 23.57%   warning (was quiet)  BTC amber, ETH amber;"
        " alerts: drawdown_warning\n"
        "2026-03-03T00:00:00Z  price  drawdown 45.00%   critical (was warning)  BTC red, ETH amber;"
        " alerts: drawdown_warning, drawdown_critical, red_zone\n"
        "2026-03-04T00:00:00Z  price  drawdown 54.52%   critical  BTC red, ETH red;"
        " alerts: drawdown_warning, drawdown_critical, red_zone\n"
        "2026-03-05T00:00:00Z  price  drawdown 2.38%    quiet (was critical)  BTC green, ETH green\n",
        "",
    )


def test_a_product_without_simulation_hooks_is_refused(folder: Path) -> None:
    """A product record with `simulation=None`, loaded explicitly, cannot be simulated: a clear AccountError."""
    engine = policy_engine.load(folder, products=[dataclasses.replace(PRODUCT, simulation=None), LOANS])
    path = read_price_path(PRICES.read_text(), source="prices.csv")
    with pytest.raises(AccountError) as refused:
        simulate(engine, watch_account(), path, source="watch.json")
    assert str(refused.value) == (
        "watch.json: $.kind: price-watch accounts cannot be simulated: the `price-alert` product has no"
        " simulation hooks"
    )


# --- kinds read and required --------------------------------------------------------------------


def test_a_required_kind_that_is_not_loaded_is_a_load_problem(folder: Path) -> None:
    """`requires=("crypto-loan",)` with no crypto-loan policy loaded: PolicyError at each stub file's `kind`."""
    (folder / "crypto-loans.yaml").unlink()
    requiring = dataclasses.replace(PRODUCT, requires=("crypto-loan",))
    with pytest.raises(PolicyError) as refused:
        policy_engine.load(folder, products=[requiring, LOANS])
    assert str(refused.value) == (
        f"{folder / 'price-alerts-v2.yaml'}:4:7: $.kind: `price-alert` policies read `crypto-loan` policies,"
        " and none is loaded; load a `crypto-loan` policy with this one"
    )


def test_a_kind_read_but_not_required_may_be_absent(folder: Path) -> None:
    """Without `requires`, the stub loads alone and decides with no related policy."""
    (folder / "crypto-loans.yaml").unlink()
    engine = policy_engine.load(folder, products=[PRODUCT])
    decision = engine.evaluate(watch_account(), "2026-03-01")
    assert (decision.related, decision.outcome["loan_policy"], decision.outcome["loan_collateral"]) == ((), None, None)


def test_requires_outside_reads_is_a_registry_problem(folder: Path) -> None:
    """A product that requires a kind it does not read is refused when the registry is built."""
    wrong = dataclasses.replace(PRODUCT, reads=(), requires=("crypto-loan",))
    with pytest.raises(PolicyError) as refused:
        policy_engine.load(folder, products=[wrong, LOANS])
    assert str(refused.value) == "product `price-alert`: $: `requires` names kinds not in `reads`: ['crypto-loan']"


@pytest.mark.parametrize(
    ("effective_from", "flagged"),
    [
        ("2026-03-01", True),  # inside stub v1 [2026-01-01, 2026-07-01), which watches USDC
        ("2026-06-30T23:59:59Z", True),
        ("2026-07-01", False),  # starts as stub v2 (no USDC) takes over: no instant in common with v1
        ("2026-09-01", False),
    ],
)
def test_the_cross_lint_checks_only_loan_versions_that_overlap(
    registered: None, folder: Path, effective_from: str, flagged: bool
) -> None:
    """A loan version without USDC flags stub v1 (which watches USDC) only if the two are ever in force together."""
    loans_v2(folder, effective_from)
    code, out, err = run("validate", str(folder))
    if flagged:
        assert (code, out, err) == (
            1,
            "",
            f"{folder / 'price-alerts.yaml'}:33:3: $.assets.USDC: `USDC` is not defined in the `assets` of"
            " `crypto-loans` version 2 (policies/crypto-loans-v2.yaml), which is in force while this version is;"
            " did you mean `USDT`?\n"
            "1 problem found\n",
        )
    else:
        assert (code, err) == (0, "")
        assert out.splitlines()[1] == (
            f"ok  policies/crypto-loans-v2.yaml  crypto-loan crypto-loans v2 from {effective_from}"
        )


@pytest.mark.parametrize(
    ("as_of", "stub_version", "loans_version", "status"),
    [
        ("2026-03-01", 1, 1, "warning"),
        ("2026-08-01", 2, 1, "critical"),  # stub v2's critical drawdown is 0.20
        ("2026-10-01", 2, 2, "critical"),
    ],
)
def test_the_decision_names_the_loan_version_in_force_at_as_of(
    registered: None, folder: Path, as_of: str, stub_version: int, loans_version: int, status: str
) -> None:
    """`related_policies` holds the crypto-loan version in force at the decision's instant."""
    loans_v2(folder, "2026-09-01")
    code, out, err = run("evaluate", str(ACCOUNT), "--policies", str(folder), "--as-of", as_of)
    assert (code, err) == (0, "")
    decision = json.loads(out)
    loans_file = "crypto-loans.yaml" if loans_version == 1 else "crypto-loans-v2.yaml"
    assert (decision["policy"]["version"], decision["outcome"]["status"], decision["outcome"]["loan_policy"]) == (
        stub_version,
        status,
        f"crypto-loans v{loans_version}",
    )
    assert [(ref["id"], ref["version"], ref["file"], ref["sha256"]) for ref in decision["related_policies"]] == [
        ("crypto-loans", loans_version, f"policies/{loans_file}", sha(folder / loans_file))
    ]


def test_no_cross_lint_over_an_incomplete_set_of_versions(registered: None, folder: Path) -> None:
    """A stub version that fails its schema hides nothing, and no false cross-policy problem is invented.

    With loans v2 (no USDC) from 2026-09-01, stub v1 watching USDC is fine while v2 takes over at 2026-07-01.
    If v2 fails its schema, linting v1 alone would see v1 in force for ever and flag USDC against loans v2.
    """
    loans_v2(folder, "2026-09-01")
    stub_v2 = folder / "price-alerts-v2.yaml"
    stub_v2.write_text(stub_v2.read_text().replace("drawdown_critical: 0.20", "drawdown_critical: 2"))
    code, out, err = run("validate", str(folder))
    assert (code, out) == (1, "")
    assert "USDC" not in err
    assert err.endswith("1 problem found\n")
    assert err.startswith(f"{stub_v2}:")


def test_an_invalid_required_policy_is_not_reported_as_missing(folder: Path) -> None:
    """A crypto-loan file that fails its schema is reported once, not also as "none is loaded"."""
    loans_file = folder / "crypto-loans.yaml"
    loans_file.write_text(loans_file.read_text().replace("max_attempts: 6", "max_attempts: -6"))
    requiring = dataclasses.replace(PRODUCT, requires=("crypto-loan",))
    with pytest.raises(PolicyError) as refused:
        policy_engine.load(folder, products=[requiring, LOANS])
    messages = [problem.message for problem in refused.value.problems]
    assert len(messages) == 1
    assert messages[0].startswith("expected a number >= 1, got number -6")
