"""The collateral product from the command line: text explanations as golden files, JSON outcomes, validate.

Golden files change only on purpose: `UPDATE_GOLDEN=1 pytest tests/test_collateral_cli.py`, then review the
diff of `tests/golden/`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from policy_engine.cli import main

from .conftest import AS_OF, EXAMPLES, POLICIES

GOLDEN = Path(__file__).parent / "golden"

CASES = [
    ("margin-transfer-1-below-80", "margin-transfer-1-below-80.json"),
    ("margin-transfer-3-near-limit", "margin-transfer-3-near-limit.json"),
    ("collateral-margin-btc", "collateral-margin-btc.json"),
    ("collateral-loan-topup-capped", "collateral-loan-topup-capped.json"),
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--policies", str(POLICIES)], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("golden", "account"), CASES, ids=[name for name, _ in CASES])
def test_text_explanation_matches_golden_file(golden: str, account: str) -> None:
    """The explanation a person reads: the rule's steps with their YAML lines, then the product's section."""
    code, out, err = run("evaluate", str(EXAMPLES / account), "--format", "text", "--as-of", AS_OF)
    assert (code, err) == (0, "")
    path = GOLDEN / f"{golden}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(out)
    assert out == path.read_text()


def test_json_outcome_of_the_seed_example_3() -> None:
    """Every field the issue names, as canonical JSON: decimals as text, null where unlimited or not applying."""
    code, out, err = run("evaluate", str(EXAMPLES / "margin-transfer-3-near-limit.json"), "--as-of", AS_OF)
    assert (code, err) == (0, "")
    outcome = json.loads(out)["outcome"]
    band = outcome.pop("band")
    assert outcome == {
        "account_type": "cross_classic",
        "allowed": False,
        "allowed_quantity": "0",
        "applies": True,
        "asset": "ASSET3",
        "auto": False,
        "max_quantity": "10000.00000000",
        "message": "Asset 3 has reached platform max pledged collateral amount. The max transfer-in quantity is"
        " 10,000. Please reduce the quantity or try with other tokens",
        "platform_total": "2990000",
        "quantity": "50000",
        "rank": 10,
        "ratio": "0.9966666666666666666666666667",
        "reason": "ASSET3 is rank 10, limited to 3000000 on the platform",
        "rule": None,
        "status": "refused",
        "upper_limit": "3000000",
    }
    assert (band["number"], band["range"], band["path"]) == (3, "90% <= ratio < 100%", "$.max_collateral.bands[2]")


def test_an_isolated_transfer_has_no_maximum(tmp_path: Path) -> None:
    account = json.loads((EXAMPLES / "margin-transfer-3-near-limit.json").read_text())
    account["account_type"] = "isolated"
    path = tmp_path / "isolated.json"
    path.write_text(json.dumps(account))
    code, out, _ = run("evaluate", str(path), "--as-of", AS_OF)
    outcome = json.loads(out)["outcome"]
    assert (code, outcome["applies"], outcome["max_quantity"], outcome["ratio"], outcome["band"]) == (
        0,
        False,
        None,
        None,
        None,
    )
    assert (outcome["allowed"], outcome["allowed_quantity"], outcome["message"]) == (True, "50000", None)


def test_validate_lists_the_collateral_policy() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(POLICIES)], stdout=out, stderr=err) == 0
    assert "ok  policies/collateral.yaml  collateral margin-collateral v1 from 2025-03-27\n" in out.getvalue()
